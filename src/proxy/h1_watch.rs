//! The HTTP/1 server connection's header timeout, kept by the proxy instead of hyper:
//! hyper's arms a new boxed timer for every request head (an allocation and two timer-wheel
//! updates per request, and a read forced after each head). This watch wakes once a period
//! and closes a connection that had no request in flight, and none begin or end, for a whole
//! period, so an idle kept-alive connection or a head sent byte by byte is closed after one
//! to two periods, and a client always has at least one period after a response to send its
//! next head.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::watch;

use super::{Body, BoxError};

/// What one connection's requests have done: how many began or ended, how many are open.
#[derive(Debug, Default)]
pub(super) struct Activity {
    moves: AtomicU32,
    open: AtomicU32,
}

impl Activity {
    /// A request head has arrived; it is in flight until the returned guard drops (with
    /// the response body, once written or abandoned).
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.moves.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// One request in flight on a connection.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    /// `body`, keeping the request in flight until it is done or dropped.
    pub(super) fn hold(self, body: Body) -> Held<Self> {
        Held::new(body, self)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // An end counts as a move: a response finished just before a tick leaves the
        // client a whole period for its next head.
        self.0.moves.fetch_add(1, Relaxed);
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// A response body with a guard that drops with it: what keeps its request (or HTTP/2
/// stream) counted until the body is done or abandoned.
pub(super) struct Held<G> {
    body: Body,
    _guard: G,
}

impl<G> Held<G> {
    pub(super) fn new(body: Body, guard: G) -> Self {
        Self {
            body,
            _guard: guard,
        }
    }
}

impl<G: Unpin> http_body::Body for Held<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Runs `conn` to its end. When the drain signal comes it is asked to finish gracefully;
/// when a whole `period` passed with no request in flight and none begun or ended, it is
/// closed.
pub(super) async fn drive<C, E>(
    conn: C,
    mut drain: watch::Receiver<bool>,
    activity: &Activity,
    period: Duration,
    graceful: fn(Pin<&mut C>),
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    let tick = tokio::time::sleep(period);
    let mut tick = std::pin::pin!(tick);
    let mut seen = activity.moves.load(Relaxed);
    let res = loop {
        tokio::select! {
            // The connection first: it is what wakes this task on nearly every poll.
            biased;
            res = conn.as_mut() => break res,
            _ = drain.changed() => {
                graceful(conn.as_mut());
                break conn.await;
            }
            () = tick.as_mut() => {
                let moves = activity.moves.load(Relaxed);
                if moves == seen && activity.open.load(Relaxed) == 0 {
                    tracing::debug!(?period, "no request head within the header timeout: closed");
                    return;
                }
                seen = moves;
                tick.as_mut().reset(tokio::time::Instant::now() + period);
            }
        }
    };
    if let Err(e) = res {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection future that never ends.
    fn never() -> impl Future<Output = Result<(), String>> {
        std::future::pending()
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_one_to_two_periods() {
        let activity = Arc::new(Activity::default());
        let (_tx, rx) = watch::channel(false);
        let start = tokio::time::Instant::now();
        drive(never(), rx, &activity, Duration::from_secs(60), |_| {}).await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_it_open_and_its_end_leaves_a_whole_period() {
        let activity = Arc::new(Activity::default());
        let (_tx, rx) = watch::channel(false);
        let in_flight = activity.begin();
        let start = tokio::time::Instant::now();
        let end = tokio::spawn(async move {
            // A response body streamed for almost ten periods.
            tokio::time::sleep(Duration::from_secs(590)).await;
            drop(in_flight);
        });
        drive(never(), rx, &activity, Duration::from_secs(60), |_| {}).await;
        end.await.unwrap();
        // Begun before the first tick and done at 590 s, just before the tick at 600 s:
        // closed at the next tick, 660 s, not at 600 s.
        assert_eq!(start.elapsed(), Duration::from_secs(660));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_begun_in_each_period_keep_it_open() {
        let activity = Arc::new(Activity::default());
        let (_tx, rx) = watch::channel(false);
        let busy = Arc::clone(&activity);
        tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_secs(50)).await;
                drop(busy.begin());
            }
        });
        let start = tokio::time::Instant::now();
        drive(never(), rx, &activity, Duration::from_secs(60), |_| {}).await;
        // The last request began at 250 s; the ticks at 300 and 360 s saw nothing new.
        assert_eq!(start.elapsed(), Duration::from_secs(360));
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_signal_asks_for_a_graceful_end() {
        let activity = Arc::new(Activity::default());
        let (tx, rx) = watch::channel(false);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let conn = async move { done_rx.await.map_err(|e| e.to_string()) };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send(true).unwrap();
            // The connection finishes what it has, a while after the signal.
            tokio::time::sleep(Duration::from_secs(1)).await;
            done_tx.send(()).unwrap();
            tx
        });
        let start = tokio::time::Instant::now();
        drive(conn, rx, &activity, Duration::from_secs(60), |_| {}).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
