//! The upstream pool's connector: TCP to the endpoint in the URI, then, for `https` URIs
//! (meshed endpoints), mesh TLS to the identity that endpoint must present.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use http::uri::Scheme;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;

use super::MeshTls;
use super::stream::Io;
use crate::proxy::BoxError;

/// Connects for one HTTP version of the pool (`alpn` is what its TLS connections offer).
#[derive(Clone, Debug)]
pub struct Connector {
    tls: Option<Arc<MeshTls>>,
    alpn: &'static [u8],
}

impl Connector {
    pub fn new(tls: Option<Arc<MeshTls>>, alpn: &'static [u8]) -> Self {
        Self { tls, alpn }
    }
}

/// A connection the pool holds.
#[derive(Debug)]
pub struct UpstreamConn(TokioIo<Io>);

impl tower::Service<Uri> for Connector {
    type Response = UpstreamConn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamConn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            // The pool always targets an endpoint address (see `upstream::retarget`).
            let addr: SocketAddr = uri
                .authority()
                .ok_or("no endpoint address in the request URI")?
                .as_str()
                .parse()?;
            let mut mesh = None;
            if uri.scheme() == Some(&Scheme::HTTPS) {
                let tls = this
                    .tls
                    .ok_or("mesh TLS asked for, but this proxy has no identity")?;
                let peer = tls
                    .peer(&addr)
                    .ok_or_else(|| format!("{addr} is not a meshed endpoint any more"))?;
                mesh = Some((tls, peer));
            }
            let mesh = mesh.as_ref().map(|(tls, peer)| (&**tls, &**peer));
            let io = super::connect(addr, mesh, this.alpn).await?;
            Ok(UpstreamConn(TokioIo::new(io)))
        })
    }
}

impl Connection for UpstreamConn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for UpstreamConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.0)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
