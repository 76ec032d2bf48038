//! Which client proxies run a config that carries a route object as written: a canary's
//! weight shift counts as done only once every proxy that receives the Service does. The
//! records come from every controller replica; a proxy seen twice (it reconnected) counts
//! once, acked if any of its streams acked.

use std::collections::BTreeMap;

use super::proxies::ProxyRecord;
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
    records: &[ProxyRecord],
    published: Option<&Published>,
    stores: &dyn Source,
    write: &RouteWrite,
) -> AckCount {
    let mut by_pod: BTreeMap<(&str, &str), Vec<&ProxyRecord>> = BTreeMap::new();
    for r in records {
        by_pod.entry((&r.namespace, &r.pod)).or_default().push(r);
    }
    let Some(published) = published else {
        return AckCount {
            acked: 0,
            total: by_pod.len(),
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
    for ((namespace, name), streams) in by_pod {
        // A pod being deleted is no longer a client.
        let Some(pod) = stores.pod(namespace, name) else {
            continue;
        };
        let wanted = expected(published, namespace, &pod);
        if !wanted.view.services.keys().any(|k| k.starts_with(&prefix)) {
            continue;
        }
        out.total += 1;
        let runs = |r: &&ProxyRecord| r.acked_version.as_deref() == Some(wanted.version.as_str());
        if carried && streams.iter().any(runs) {
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
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Instant;

    use k8s_openapi::api::core::v1::{Namespace, Pod};

    use super::*;
    use crate::controller::publish::{Encoded, View, hash_bytes};
    use crate::translate::{Inputs, Mesh};

    /// Pods `shop/a` and `shop/b`.
    struct Pods;

    impl Source for Pods {
        fn inputs(&self) -> Inputs {
            Inputs::default()
        }
        fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
            (namespace == "shop" && ["a", "b"].contains(&name)).then(|| Arc::new(Pod::default()))
        }
        fn namespace(&self, _: &str) -> Option<Arc<Namespace>> {
            None
        }
        fn synced(&self) -> bool {
            true
        }
    }

    /// A publication of `web.shop:80` translated from HTTPRoute shop/web at `rv`.
    fn published(rv: &str) -> Published {
        let json = bytes::Bytes::from_static(br#"{"name":"web.shop:80","backends":[]}"#);
        let encoded = Encoded {
            service: Arc::default(),
            hash: hash_bytes(&json),
            json,
        };
        let view = View::new([("web.shop:80".to_owned(), encoded)].into());
        let views = HashMap::from([("shop".to_owned(), Arc::new(view))]);
        let mut p = Published::with_views(Mesh::default(), Instant::now(), views);
        let key = ("HTTPRoute".to_owned(), "shop".to_owned(), "web".to_owned());
        p.objects.insert(key, rv.to_owned());
        p
    }

    fn record(pod: &str, acked: Option<&str>) -> ProxyRecord {
        ProxyRecord {
            namespace: "shop".into(),
            pod: pod.into(),
            identity: String::new(),
            proxy_version: String::new(),
            connected_at: String::new(),
            sent_version: None,
            acked_version: acked.map(str::to_owned),
            nacked: None,
        }
    }

    #[test]
    fn a_shift_is_acked_by_proxies_running_a_publication_that_carries_it() {
        let write = RouteWrite {
            kind: "HTTPRoute".into(),
            namespace: "shop".into(),
            name: "web".into(),
            resource_version: "12".into(),
            service: "web".into(),
        };
        let current = published("12");
        let version = expected(&current, "shop", &Pod::default()).version;
        let count = |records: &[ProxyRecord], p: Option<&Published>| {
            let c = super::count(records, p, &Pods, &write);
            (c.acked, c.total)
        };
        let both = [record("a", Some(&version)), record("b", Some("old"))];
        assert_eq!(count(&both, Some(&current)), (1, 2));
        // The publication is from before the write: nobody runs the shift yet.
        assert_eq!(count(&both, Some(&published("11"))), (0, 2));
        assert_eq!(count(&both, None), (0, 2));
        // A proxy on two streams (it reconnected) is one client, acked by either.
        let twice = [
            record("a", Some("old")),
            record("a", Some(&version)),
            record("b", Some(&version)),
        ];
        assert_eq!(count(&twice, Some(&current)), (2, 2));
        // A pod that is gone is no client.
        let gone = [record("a", Some(&version)), record("zz", None)];
        assert_eq!(count(&gone, Some(&current)), (1, 1));
    }

    #[test]
    fn later_resource_versions_carry_an_earlier_write() {
        assert!(at_least("12", "12"));
        assert!(at_least("13", "12"));
        assert!(!at_least("9", "12"));
        assert!(!at_least("abc", "12"));
        assert!(at_least("abc", "abc"));
    }
}
