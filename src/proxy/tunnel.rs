//! Byte tunnels: upgraded HTTP connections (WebSocket) and opaque TCP, both ways until
//! either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::Body;

/// When the upstream answered `101 Switching Protocols`, joins the client's and the
/// upstream's upgraded connections in a background task.
pub fn splice_upgrades(client: OnUpgrade, resp: &mut http::Response<Body>) {
    if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    let upstream = hyper::upgrade::on(resp);
    tokio::spawn(async move {
        let (Ok(client), Ok(upstream)) = (client.await, upstream.await) else {
            tracing::debug!("upgrade failed on one side");
            return;
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "upgraded connection ended");
        }
    });
}
