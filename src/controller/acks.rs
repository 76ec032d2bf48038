//! Which client proxies run a config that carries a route object as written: a canary's
//! weight shift counts as done only once every proxy that receives the Service does. Counts
//! the proxies subscribed to this replica (the leader's own discovery streams).

use super::proxies::Proxies;
use super::publish::{Published, expected};
use super::source::Source;
use crate::canary::resource::AckCount;

/// A route object as the driver wrote it, for the Service it routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteWrite {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub service: String,
}

/// Of the proxies that receive `write.service`, how many acked a config carrying `write`.
pub fn count(
    proxies: &Proxies,
    published: Option<&Published>,
    stores: &dyn Source,
    write: &RouteWrite,
) -> AckCount {
    let records = proxies.list();
    let Some(published) = published else {
        return AckCount {
            acked: 0,
            total: records.len(),
        };
    };
    let key = (
        write.kind.clone(),
        write.namespace.clone(),
        write.name.clone(),
    );
    let carried = published
        .objects
        .get(&key)
        .is_some_and(|rv| at_least(rv, &write.resource_version));
    let prefix = format!("{}.{}:", write.service, write.namespace);
    let mut out = AckCount::default();
    for record in records {
        // A pod being deleted is no longer a client.
        let Some(pod) = stores.pod(&record.namespace, &record.pod) else {
            continue;
        };
        let wanted = expected(published, &record.namespace, &pod);
        if !wanted.view.services.keys().any(|k| k.starts_with(&prefix)) {
            continue;
        }
        out.total += 1;
        if carried && record.acked_version.as_deref() == Some(wanted.version.as_str()) {
            out.acked += 1;
        }
    }
    out
}

/// Whether resourceVersion `seen` is `written` or later. They are opaque to clients in
/// general; etcd's are increasing integers, and anything else must be equal.
fn at_least(seen: &str, written: &str) -> bool {
    match (seen.parse::<u64>(), written.parse::<u64>()) {
        (Ok(s), Ok(w)) => s >= w,
        _ => seen == written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_resource_versions_carry_an_earlier_write() {
        assert!(at_least("12", "12"));
        assert!(at_least("13", "12"));
        assert!(!at_least("9", "12"));
        assert!(!at_least("abc", "12"));
        assert!(at_least("abc", "abc"));
    }
}
