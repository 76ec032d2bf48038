//! Waiting until a local proxy answers `GET /ready` with 200 on its admin port: the postStart
//! hook of the classic (non-native) sidecar, which holds the app containers back until then.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Pause between attempts.
const RETRY_EVERY: Duration = Duration::from_millis(200);
/// Longest a single attempt may take (connect, request, status line).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// The proxy did not become ready in time.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the proxy at {addr} was not ready after {waited:?} (last answer: {last}); see the \
     meshctl-proxy container's log"
)]
pub struct NotReady {
    pub addr: SocketAddr,
    pub waited: Duration,
    pub last: String,
}

/// Polls `http://<addr>/ready` until it answers 200, or fails after `timeout`.
pub async fn wait_ready(addr: SocketAddr, timeout: Duration) -> Result<(), NotReady> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match tokio::time::timeout(ATTEMPT_TIMEOUT, status(addr)).await {
            Ok(Ok(200)) => return Ok(()),
            Ok(Ok(code)) => format!("HTTP {code}"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        if tokio::time::Instant::now() + RETRY_EVERY > deadline {
            return Err(NotReady {
                addr,
                waited: timeout,
                last,
            });
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// One `GET /ready`: the status code of the answer.
async fn status(addr: SocketAddr) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    // The status line fits in the first bytes: `HTTP/1.1 200 OK`.
    let mut head = [0u8; 32];
    let mut filled = 0;
    while filled < 12 {
        let read = stream.read(&mut head[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    let line = std::str::from_utf8(&head[..filled]).unwrap_or("");
    line.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Answers each connection with the next status in `codes` (the last one repeats).
    async fn admin(codes: Vec<u16>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for i in 0.. {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let code = codes[i.min(codes.len() - 1)];
                let mut buf = [0u8; 256];
                let _ = conn.read(&mut buf).await;
                let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test(start_paused = true)]
    async fn waits_until_ready() {
        let addr = admin(vec![503, 503, 200]).await;
        wait_ready(addr, Duration::from_secs(5)).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_with_the_last_answer() {
        let addr = admin(vec![503]).await;
        let err = wait_ready(addr, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(err.last, "HTTP 503");
        assert!(
            err.to_string().contains("meshctl-proxy container's log"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_listening_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = wait_ready(addr, Duration::from_secs(1)).await.unwrap_err();
        assert!(err.last.contains("refused"), "{}", err.last);
    }
}
