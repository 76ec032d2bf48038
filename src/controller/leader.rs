//! Leader election on a `coordination.k8s.io/v1` Lease in the mesh namespace: one replica
//! drives canaries and writes their status; every replica keeps serving discovery. A holder
//! is judged expired by when this replica last saw its record change (its own clock), not by
//! the renew time written in the Lease, so clock skew between nodes does not matter.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

/// The Lease's name (the install's Role lets the controller get and update this one only).
pub const LEASE_NAME: &str = "meshctl-controller";

#[derive(Clone, Debug)]
pub struct Election {
    pub namespace: String,
    /// Who this replica is in the Lease's `holderIdentity`.
    pub identity: String,
    /// How long a holder that stops renewing keeps the lease.
    pub lease_duration: Duration,
}

impl Election {
    pub fn new(namespace: &str, lease_duration: Duration) -> Self {
        let host = std::env::var("MESHCTL_POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "meshctl-controller".to_owned());
        Self {
            namespace: namespace.to_owned(),
            // Two processes on one host (tests, a restart) are two candidates.
            identity: format!("{host}_{:08x}", fastrand::u32(..)),
            lease_duration,
        }
    }

    /// How often the lease is tried or renewed.
    fn retry_every(&self) -> Duration {
        (self.lease_duration / 5).max(Duration::from_millis(100))
    }

    /// A leader that could not renew for this long stops leading, before anyone else may
    /// take over (at `lease_duration` after its last renewal).
    fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }
}

/// The last holder record seen, and when it was first seen so.
struct Observed {
    record: (Option<String>, Option<MicroTime>),
    at: Instant,
}

/// Tries for the lease and keeps it for the controller's life; `leading` says whether this
/// replica leads now.
pub async fn run(client: kube::Client, election: Election, leading: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &election.namespace);
    let mut observed: Option<Observed> = None;
    let mut renewed: Option<Instant> = None;
    loop {
        match attempt(&api, &election, &mut observed).await {
            Ok(true) => {
                renewed = Some(Instant::now());
                if !*leading.borrow() {
                    tracing::info!(identity = %election.identity, "leading: this replica drives canaries");
                }
                leading.send_replace(true);
            }
            Ok(false) => {
                renewed = None;
                if leading.send_replace(false) {
                    tracing::warn!(identity = %election.identity, "lost the lease to another replica");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, lease = LEASE_NAME, "cannot read or renew the leader lease");
                if renewed.is_none_or(|at| at.elapsed() > election.renew_deadline())
                    && leading.send_replace(false)
                {
                    tracing::warn!("stopped leading: the lease could not be renewed in time");
                }
            }
        }
        tokio::time::sleep(election.retry_every()).await;
    }
}

/// One round: whether this replica holds the lease after it.
async fn attempt(
    api: &Api<Lease>,
    election: &Election,
    observed: &mut Option<Observed>,
) -> Result<bool, kube::Error> {
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let seconds = i32::try_from(election.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(LEASE_NAME).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(LEASE_NAME.to_owned()),
                namespace: Some(election.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(election.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return lost_race(api.create(&PostParams::default(), &lease).await);
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    if holder.as_deref() != Some(election.identity.as_str()) {
        let record = (holder.clone(), spec.renew_time.clone());
        let seen = match observed.take() {
            Some(o) if o.record == record => o,
            _ => Observed {
                record,
                at: Instant::now(),
            },
        };
        let written = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(election.lease_duration, Duration::from_secs);
        let live = holder.is_some() && seen.at.elapsed() < written;
        *observed = Some(seen);
        if live {
            return Ok(false);
        }
        tracing::info!(previous = ?holder, identity = %election.identity,
            "taking over the leader lease (its holder stopped renewing)");
        spec.holder_identity = Some(election.identity.clone());
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(seconds);
    // The resourceVersion read above makes this a compare-and-swap.
    lost_race(
        api.replace(LEASE_NAME, &PostParams::default(), &lease)
            .await,
    )
}

/// Gives the lease up if this replica holds it (on a graceful shutdown: another replica
/// takes over at its next try instead of after the lease duration).
pub async fn release(client: kube::Client, election: &Election) {
    let api: Api<Lease> = Api::namespaced(client, &election.namespace);
    let Ok(Some(mut lease)) = api.get_opt(LEASE_NAME).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    match api
        .replace(LEASE_NAME, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => tracing::info!(identity = %election.identity, "released the leader lease"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot release the leader lease; another replica takes over when it expires")
        }
    }
}

/// A conflict means another replica wrote first: not leading, not an error.
fn lost_race(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
