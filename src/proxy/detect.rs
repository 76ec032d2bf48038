//! Protocol detection: read the first bytes of a connection (with a short deadline) and
//! decide HTTP/1, HTTP/2 with prior knowledge, or opaque TCP.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Longest HTTP/1 method we recognize, plus the space after it.
const MAX_METHOD: usize = 24;

/// What the first bytes said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    /// Anything else, including a client that sent nothing before the deadline
    /// (server-speaks-first protocols).
    Opaque,
}

/// Judges a prefix: `None` while more bytes are needed to decide.
fn judge(buf: &[u8]) -> Option<Protocol> {
    let n = buf.len().min(H2_PREFACE.len());
    if buf[..n] == H2_PREFACE[..n] {
        return (n == H2_PREFACE.len()).then_some(Protocol::Http2);
    }
    // HTTP/1 request line: an upper-case token, then a space.
    for (i, b) in buf.iter().enumerate().take(MAX_METHOD) {
        match b {
            b'A'..=b'Z' | b'-' | b'_' => {}
            b' ' if i > 0 => return Some(Protocol::Http1),
            _ => return Some(Protocol::Opaque),
        }
    }
    if buf.len() >= MAX_METHOD {
        Some(Protocol::Opaque)
    } else {
        None
    }
}

/// Reads from `io` until the protocol is known, EOF, or `timeout`; returns the bytes read
/// (to replay) and the verdict.
pub async fn detect<T: AsyncRead + Unpin>(
    io: &mut T,
    timeout: Duration,
) -> std::io::Result<(Bytes, Protocol)> {
    let mut buf = BytesMut::with_capacity(64);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, io.read_buf(&mut buf)).await {
            Err(_elapsed) => return Ok((buf.freeze(), Protocol::Opaque)),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(0)) => return Ok((buf.freeze(), Protocol::Opaque)),
            Ok(Ok(_)) => {
                if let Some(p) = judge(&buf) {
                    return Ok((buf.freeze(), p));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn judges_prefixes() {
        assert_eq!(judge(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http1));
        assert_eq!(judge(b"M-SEARCH * HTTP/1.1"), Some(Protocol::Http1));
        assert_eq!(judge(b"GE"), None);
        assert_eq!(judge(b"PRI * HT"), None);
        assert_eq!(judge(H2_PREFACE), Some(Protocol::Http2));
        assert_eq!(judge(b"\x16\x03\x01"), Some(Protocol::Opaque));
        assert_eq!(judge(b"SSH-2.0-OpenSSH"), Some(Protocol::Opaque));
        assert_eq!(judge(b" GET"), Some(Protocol::Opaque));
        assert_eq!(judge(&[b'A'; 30]), Some(Protocol::Opaque));
    }

    #[tokio::test]
    async fn a_silent_client_is_opaque_after_the_deadline() {
        let (mut a, _b) = tokio::io::duplex(64);
        let (bytes, p) = detect(&mut a, Duration::from_millis(20)).await.unwrap();
        assert_eq!((bytes.len(), p), (0, Protocol::Opaque));
    }

    #[tokio::test]
    async fn bytes_split_across_reads_are_joined() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            b.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            b.write_all(b"\r\nSM\r\n\r\n").await.unwrap();
            b
        });
        let (bytes, p) = detect(&mut a, Duration::from_secs(5)).await.unwrap();
        assert_eq!((&bytes[..], p), (H2_PREFACE, Protocol::Http2));
        drop(writer.await);
    }
}
