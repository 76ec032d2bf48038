//! A paced HTTP load generator running as an app inside a pod: requests start on a fixed
//! schedule (open loop, so a slow answer never lowers the rate) and every one is counted.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::node::Pod;

/// Concurrent clients: at 200 RPS, enough for every request of 1.5 s stuck in a timed-out
/// try and its retry without delaying the schedule.
const WORKERS: usize = 300;
const TIMEOUT: Duration = Duration::from_secs(10);

/// What came back: answers by the name of the app that gave them, and every failure.
#[derive(Debug, Default)]
pub struct Tally {
    pub answered_by: BTreeMap<String, u64>,
    pub failures: Vec<String>,
    /// Requests that started more than 100 ms late (the generator could not keep up).
    pub late: usize,
    /// How long each request took, answered or not (for delays and timeouts).
    pub latencies: Vec<Duration>,
}

impl Tally {
    pub fn answered(&self) -> u64 {
        self.answered_by.values().sum()
    }

    /// Every one of `sent` requests was answered 200; `context` (proxy logs) on failure.
    /// Failures answered with `status` (the status line's code).
    pub fn failed_with(&self, status: u16) -> usize {
        let line = format!("HTTP/1.1 {status} ");
        self.failures.iter().filter(|f| f.contains(&line)).count()
    }

    /// Requests that took at least `at_least`.
    pub fn slower_than(&self, at_least: Duration) -> usize {
        self.latencies.iter().filter(|l| **l >= at_least).count()
    }

    pub fn assert_all_answered(&self, sent: u64, context: &str) {
        assert!(self.failures.is_empty(), "{:?}\n{context}", self.failures);
        assert_eq!(self.answered(), sent, "{self:?}");
    }
}

/// Sends `rps` requests per second for `duration` from `pod` to `addr` with `host` as
/// the authority, one connection per request like a simple app; each answer's first
/// word names the app that answered it.
pub fn paced_gets(pod: &Pod, addr: SocketAddr, host: &str, rps: u32, duration: Duration) -> Tally {
    paced_gets_with(pod, addr, host, "", rps, duration)
}

/// [`paced_gets`] with extra header lines (`headers`, each ending in `\r\n`).
pub fn paced_gets_with(
    pod: &Pod,
    addr: SocketAddr,
    host: &str,
    headers: &str,
    rps: u32,
    duration: Duration,
) -> Tally {
    let total = (u128::from(rps) * duration.as_millis() / 1000) as usize;
    let period = Duration::from_secs(1) / rps;
    let next = AtomicUsize::new(0);
    let tally = Mutex::new(Tally::default());
    let start = Instant::now() + Duration::from_millis(50);
    pod.enter(|| {
        // Threads spawned here are in the pod's network namespace too.
        std::thread::scope(|scope| {
            for _ in 0..WORKERS {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        let due = start + period * u32::try_from(i).expect("few requests");
                        let now = Instant::now();
                        let late = now > due + Duration::from_millis(100);
                        std::thread::sleep(due.saturating_duration_since(now));
                        let sent = Instant::now();
                        let outcome = get(addr, host, headers, i);
                        let mut tally = tally.lock().expect("tally");
                        tally.latencies.push(sent.elapsed());
                        tally.late += usize::from(late);
                        match outcome {
                            Ok(name) => *tally.answered_by.entry(name).or_default() += 1,
                            Err(why) => tally.failures.push(format!(
                                "request {i} at {:?}: {why}",
                                due.saturating_duration_since(start)
                            )),
                        }
                    }
                });
            }
        });
    });
    tally.into_inner().expect("tally")
}

/// One `GET /n` with `connection: close`: the first word of a 200's body, or why not.
fn get(addr: SocketAddr, host: &str, headers: &str, n: usize) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request =
        format!("GET /{n} HTTP/1.1\r\nhost: {host}\r\n{headers}connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| format!("reading: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200 ") {
        // With the reason of an answer the proxy made itself (timeout, overflow, ...).
        let reason = head
            .lines()
            .find_map(|l| l.strip_prefix("meshctl-proxy-error: "))
            .unwrap_or_default();
        let status = text.lines().next().unwrap_or("(nothing)");
        return Err(format!("{status:?} {reason}"));
    }
    let name = body.split_whitespace().next();
    name.map(str::to_owned)
        .ok_or_else(|| "an empty body".to_owned())
}
