//! Inbound: tell a TLS ClientHello from plaintext by peeking (nothing is consumed), then
//! terminate mesh TLS or pass plaintext on, as the port's mode allows.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::stream::Io;
use super::{HANDSHAKE_TIMEOUT, MeshTls};
use crate::identity::SpiffeId;
use crate::identity::tls::{ALPN_OPAQUE, peer_id};
use crate::model::identity::TlsMode;
use crate::proxy::metrics::PeerLabels;

/// An inbound connection ready for protocol handling.
#[derive(Debug)]
pub struct Accepted {
    pub io: Io,
    pub labels: PeerLabels,
    /// The client's mesh identity (None: plaintext, or TLS without a certificate).
    pub client: Option<SpiffeId>,
    /// The client asked for opaque TCP inside TLS (no protocol detection).
    pub opaque: bool,
}

/// Why a connection was refused (the metric's `reason` and a log detail).
#[derive(Debug)]
pub struct Refused {
    pub reason: &'static str,
    pub detail: String,
}

/// Whether the first bytes look like a TLS handshake record (content type 22, version 3.x).
/// A client that says nothing within `timeout` is plaintext (server-speaks-first).
async fn client_hello_first(stream: &TcpStream, timeout: Duration) -> std::io::Result<bool> {
    let mut buf = [0u8; 2];
    match tokio::time::timeout(timeout, stream.peek(&mut buf)).await {
        Err(_) | Ok(Ok(0)) => Ok(false),
        Ok(Ok(n)) => Ok(buf[0] == 0x16 && (n < 2 || buf[1] == 0x03)),
        Ok(Err(e)) => Err(e),
    }
}

fn plain(stream: TcpStream) -> Accepted {
    Accepted {
        io: Io::Plain(stream),
        labels: PeerLabels::PLAIN,
        client: None,
        opaque: false,
    }
}

/// Applies `mode` to a new inbound connection (`tls` None: the proxy has no identity, so
/// everything is plaintext).
pub async fn negotiate(
    tls: Option<&MeshTls>,
    mode: TlsMode,
    stream: TcpStream,
    timeout: Duration,
) -> Result<Accepted, Refused> {
    if tls.is_none() && mode == TlsMode::Strict {
        // Config checks refuse this; a config applied without them still fails closed.
        return Err(Refused {
            reason: "no_identity",
            detail: "STRICT port on a proxy without a mesh identity".into(),
        });
    }
    let Some(tls) = tls.filter(|_| mode != TlsMode::Disable) else {
        return Ok(plain(stream));
    };
    let hello = client_hello_first(&stream, timeout)
        .await
        .map_err(|e| Refused {
            reason: "handshake",
            detail: e.to_string(),
        })?;
    if !hello {
        return match mode {
            TlsMode::Strict => Err(Refused {
                reason: "plaintext",
                detail: "plaintext connection to a STRICT port".into(),
            }),
            _ => Ok(plain(stream)),
        };
    }
    let acceptor = if mode == TlsMode::Strict {
        &tls.strict
    } else {
        &tls.permissive
    };
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(Refused {
                reason: "handshake",
                detail: e.to_string(),
            });
        }
        Err(_) => {
            return Err(Refused {
                reason: "handshake",
                detail: "handshake timed out".into(),
            });
        }
    };
    let (_, conn) = stream.get_ref();
    let client = peer_id(conn);
    let opaque = conn.alpn_protocol() == Some(ALPN_OPAQUE);
    let labels = PeerLabels::client(client.as_ref().map(|id| Arc::from(id.to_string())));
    Ok(Accepted {
        io: Io::Server(Box::new(stream)),
        labels,
        client,
        opaque,
    })
}
