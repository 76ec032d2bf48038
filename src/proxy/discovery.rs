//! Cluster mode: the proxy's config comes from the controller's discovery stream. A full
//! snapshot, then deltas (services changed or removed, the inbound section); each version is
//! checked as a whole `Config` and acked, or nacked with the reason while the last good config
//! stays in force. The stream is reopened with jittered backoff whenever it breaks.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::server::State;
use crate::api::discovery::discovery_client::DiscoveryClient;
use crate::api::discovery::proxy_message::Message;
use crate::api::discovery::{Ack, Nack, ProxyMessage, Snapshot, Subscribe};
use crate::identity::SpiffeId;
use crate::model::Config;
use crate::model::config::Inbound;
use crate::model::service::Service;

/// Where the controller is and who this proxy is.
#[derive(Clone, Debug)]
pub struct DiscoveryOptions {
    /// `host:port` of the controller's gRPC port.
    pub addr: String,
    /// The identity the controller must present.
    pub controller: SpiffeId,
    pub pod_name: String,
    pub pod_namespace: String,
}

/// What `/ready` and `/config` know about the stream.
#[derive(Debug, Default)]
pub struct Status {
    /// The version in force (None until the first snapshot applied).
    version: RwLock<Option<String>>,
}

impl Status {
    pub fn version(&self) -> Option<String> {
        self.version
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_version(&self, version: &str) {
        *self.version.write().unwrap_or_else(|e| e.into_inner()) = Some(version.to_owned());
    }
}

/// Why a snapshot was not applied (sent back as the nack's reason).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("service {name}: {source}")]
    Service {
        name: String,
        source: serde_json::Error,
    },
    #[error("inbound: {0}")]
    Inbound(serde_json::Error),
    #[error("a delta before any full snapshot")]
    NoBase,
    #[error("the config does not validate: {0}")]
    Invalid(#[from] crate::model::config::Invalid),
}

/// The services and inbound section last received, and the config they make.
#[derive(Debug, Default, Clone)]
pub struct Received {
    services: BTreeMap<String, Service>,
    inbound: Inbound,
    has_base: bool,
}

impl Received {
    /// The state after `snapshot`, and the config it makes on top of `base` (listeners and
    /// identity, which only the proxy's own options set); `self` is left untouched.
    pub fn apply(
        &self,
        snapshot: &Snapshot,
        base: &Config,
    ) -> Result<(Self, Config), SnapshotError> {
        let mut next = if snapshot.full {
            Self {
                has_base: true,
                ..Self::default()
            }
        } else if self.has_base {
            self.clone()
        } else {
            return Err(SnapshotError::NoBase);
        };
        for name in &snapshot.removed_services {
            next.services.remove(name);
        }
        for resource in &snapshot.services {
            let service: Service = serde_json::from_slice(&resource.json).map_err(|source| {
                SnapshotError::Service {
                    name: resource.name.clone(),
                    source,
                }
            })?;
            next.services.insert(resource.name.clone(), service);
        }
        if snapshot.full || !snapshot.inbound_json.is_empty() {
            next.inbound = if snapshot.inbound_json.is_empty() {
                Inbound::default()
            } else {
                serde_json::from_slice(&snapshot.inbound_json).map_err(SnapshotError::Inbound)?
            };
        }
        let config = Config {
            inbound: next.inbound.clone(),
            services: next.services.values().cloned().collect(),
            ..base.clone()
        };
        config.validate()?;
        Ok((next, config))
    }
}

/// First and longest waits between reconnects (jittered: a restarted controller is not hit
/// by every proxy in the same instant).
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Keeps the proxy subscribed for its whole life: waits for the leaf, opens the stream,
/// applies snapshots, and reconnects when it breaks. Never returns.
pub async fn run(state: Arc<State>, options: DiscoveryOptions, base: Config) {
    let Some(tls) = state.tls().cloned() else {
        tracing::error!("cluster mode needs a mesh identity; no config will be received");
        return std::future::pending().await;
    };
    let mut received = Received::default();
    let mut wait = BACKOFF_FIRST;
    loop {
        while !tls.is_ready() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let outcome = match tls.channel(&options.addr, &options.controller) {
            Ok(channel) => {
                subscribe(
                    DiscoveryClient::new(channel),
                    &state,
                    &options,
                    &base,
                    &mut received,
                    &mut wait,
                )
                .await
            }
            Err(e) => Err(e.to_string()),
        };
        let why = outcome
            .err()
            .unwrap_or_else(|| "the controller closed the stream".into());
        let delay = wait.mul_f64(0.5 + fastrand::f64() / 2.0);
        tracing::warn!(controller = %options.addr, error = %why, retry_in = ?delay,
            "discovery stream down; serving the last good config");
        tokio::time::sleep(delay).await;
        wait = (wait * 2).min(BACKOFF_MAX);
    }
}

/// One stream: until it ends or fails.
async fn subscribe(
    mut client: DiscoveryClient<tonic::transport::Channel>,
    state: &State,
    options: &DiscoveryOptions,
    base: &Config,
    received: &mut Received,
    wait: &mut Duration,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel(4);
    let hello = Message::Subscribe(Subscribe {
        pod_name: options.pod_name.clone(),
        pod_namespace: options.pod_namespace.clone(),
        proxy_version: env!("CARGO_PKG_VERSION").to_owned(),
    });
    tx.send(ProxyMessage {
        message: Some(hello),
    })
    .await
    .map_err(|_| "stream closed")?;
    let mut snapshots = client
        .stream(ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("{}: {}", s.code(), s.message()))?
        .into_inner();
    let mut parts: Option<Snapshot> = None;
    while let Some(part) = snapshots.next().await {
        let part = part.map_err(|s| format!("{}: {}", s.code(), s.message()))?;
        let snapshot = match parts.take() {
            Some(mut first) if first.version == part.version => {
                first.services.extend(part.services);
                first.removed_services.extend(part.removed_services);
                first.more = part.more;
                first
            }
            // A new version cuts an unfinished one short: only whole versions are applied.
            _ => part,
        };
        if snapshot.more {
            parts = Some(snapshot);
            continue;
        }
        let answer = match received.apply(&snapshot, base) {
            Ok((next, config)) => {
                *received = next;
                state.apply(config);
                if let Some(status) = state.discovery() {
                    status.set_version(&snapshot.version);
                }
                tracing::info!(version = %snapshot.version, full = snapshot.full,
                    services = received.services.len(), "config from the controller applied");
                Message::Ack(Ack {
                    version: snapshot.version,
                })
            }
            Err(e) => {
                tracing::error!(version = %snapshot.version, error = %e,
                    "config from the controller refused; keeping the last good one");
                Message::Nack(Nack {
                    version: snapshot.version,
                    reason: e.to_string(),
                })
            }
        };
        // A working stream resets the backoff.
        *wait = BACKOFF_FIRST;
        if tx
            .send(ProxyMessage {
                message: Some(answer),
            })
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::discovery::Resource;

    fn resource(name: &str, addr: &str) -> Resource {
        let svc = serde_json::json!({
            "name": name,
            "authorities": [format!("{name}.shop:80")],
            "backends": [{"name": name, "endpoints": [{"addr": addr}]}],
        });
        Resource {
            name: name.to_owned(),
            json: serde_json::to_vec(&svc).unwrap().into(),
        }
    }

    fn names(config: &Config) -> Vec<&str> {
        config.services.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn a_full_snapshot_then_deltas() {
        let base = Config::default();
        let full = Snapshot {
            version: "v1".into(),
            full: true,
            services: vec![
                resource("web", "10.0.0.1:80"),
                resource("db", "10.0.0.2:80"),
            ],
            ..Snapshot::default()
        };
        let (r1, c1) = Received::default().apply(&full, &base).unwrap();
        assert_eq!(names(&c1), ["db", "web"]);
        let delta = Snapshot {
            version: "v2".into(),
            services: vec![resource("api", "10.0.0.3:80")],
            removed_services: vec!["db".into()],
            inbound_json: br#"{"opaquePorts":[3306]}"#.to_vec().into(),
            ..Snapshot::default()
        };
        let (r2, c2) = r1.apply(&delta, &base).unwrap();
        assert_eq!(names(&c2), ["api", "web"]);
        assert_eq!(c2.inbound.opaque_ports, [3306]);
        // A delta without inbound keeps it.
        let (_, c3) = r2
            .apply(
                &Snapshot {
                    version: "v3".into(),
                    ..Snapshot::default()
                },
                &base,
            )
            .unwrap();
        assert_eq!(c3.inbound.opaque_ports, [3306]);
        // A new full snapshot replaces everything.
        let (_, c4) = r2
            .apply(
                &Snapshot {
                    version: "v4".into(),
                    full: true,
                    ..Snapshot::default()
                },
                &base,
            )
            .unwrap();
        assert!(c4.services.is_empty());
        assert!(c4.inbound.opaque_ports.is_empty());
    }

    #[test]
    fn a_bad_snapshot_is_refused_and_changes_nothing() {
        let base = Config::default();
        let full = Snapshot {
            version: "v1".into(),
            full: true,
            services: vec![resource("web", "10.0.0.1:80")],
            ..Snapshot::default()
        };
        let (r1, _) = Received::default().apply(&full, &base).unwrap();
        // Two services claiming one authority: the model's checks refuse it.
        let mut clash = resource("web2", "10.0.0.9:80");
        clash.json = serde_json::to_vec(&serde_json::json!({
            "name": "web2", "authorities": ["web.shop:80"],
            "backends": [{"name": "b", "endpoints": []}],
        }))
        .unwrap()
        .into();
        let bad = Snapshot {
            version: "v2".into(),
            services: vec![clash],
            ..Snapshot::default()
        };
        let err = r1.apply(&bad, &base).unwrap_err();
        assert!(
            err.to_string().contains("already used by another service"),
            "{err}"
        );
        let garbage = Snapshot {
            version: "v3".into(),
            services: vec![Resource {
                name: "x".into(),
                json: b"{".to_vec().into(),
            }],
            ..Snapshot::default()
        };
        assert!(
            r1.apply(&garbage, &base)
                .unwrap_err()
                .to_string()
                .starts_with("service x:")
        );
        assert_eq!(r1.services.len(), 1);
        assert!(matches!(
            Received::default().apply(&bad, &base),
            Err(SnapshotError::NoBase)
        ));
    }
}
