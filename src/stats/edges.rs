//! `meshctl edges`: who calls whom among cluster resources, from their proxies' `/stats`
//! (merged as `stat` merges them): each resource's outbound rows matched to the resource
//! whose names they were sent to, with the identities both sides proved; callers seen only
//! on a resource's inbound side (unmeshed, or from outside the selection) as their own edges.
//! Opaque TCP connections make edges like requests (their rows count connections).

use std::collections::BTreeSet;

use super::cluster::{edge, outbound, whole};
use super::report::{AnswerError, Merged, RowKey, StatsAnswer};
use super::select::{Selected, authority_matches};
use crate::proxy::peers::Peer;

/// One side of an edge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    /// One of the selected resources.
    Resource { namespace: String, name: String },
    /// A mesh identity no selected resource's proxy runs as (`sa/NAME` in its namespace).
    Identity { namespace: String, account: String },
    /// An authority no selected resource is reached by (or several are: a service over
    /// several pods).
    Authority(String),
    /// A caller that proved no identity.
    Unknown,
}

impl End {
    /// The name column.
    pub fn name(&self) -> String {
        match self {
            End::Resource { name, .. } => name.clone(),
            End::Identity { account, .. } => format!("sa/{account}"),
            End::Authority(authority) => authority.clone(),
            End::Unknown => "-".to_owned(),
        }
    }

    /// The namespace column (`None`: not known).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            End::Resource { namespace, .. } | End::Identity { namespace, .. } => Some(namespace),
            End::Authority(_) | End::Unknown => None,
        }
    }
}

/// Whether mesh TLS carried an edge's requests, or why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secured {
    /// Every request of the window over mutual TLS.
    Mtls,
    /// The source's proxy has no mesh identity (plaintext config).
    SourceWithoutIdentity,
    /// The destination answered in plaintext: its endpoints carry no identity (not meshed).
    DestinationNotMeshed,
    /// The caller came in plaintext (not meshed).
    CallerNotMeshed,
    /// The caller spoke TLS but presented no client certificate.
    NoClientCertificate,
    /// Only the source's proxy answered (no endpoint reached): nothing to tell.
    NoAnswer,
}

impl Secured {
    pub fn is_mtls(self) -> bool {
        self == Secured::Mtls
    }

    /// Why not, in a few words (`None` for mTLS).
    pub fn reason(self) -> Option<&'static str> {
        Some(match self {
            Secured::Mtls => return None,
            Secured::SourceWithoutIdentity => "the source proxy has no identity",
            Secured::DestinationNotMeshed => "the destination is not meshed",
            Secured::CallerNotMeshed => "the caller is not meshed",
            Secured::NoClientCertificate => "the caller sent no client certificate",
            Secured::NoAnswer => "no destination answered",
        })
    }
}

/// One edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub src: End,
    pub dst: End,
    pub client_ids: BTreeSet<String>,
    pub server_ids: BTreeSet<String>,
    pub secured: Secured,
    /// Requests of the window, counted by the source's proxies (`None`: seen only inbound).
    pub requests: Option<u64>,
}

/// `spiffe://td/ns/NS/sa/SA` as `(NS, SA)`.
pub fn identity_parts(identity: &str) -> Option<(&str, &str)> {
    let (_, rest) = identity.split_once("/ns/")?;
    rest.split_once("/sa/")
}

/// An identity in a few characters: `NS/SA` (the identity itself when it is not meshctl's).
pub fn short_identity(identity: &str) -> String {
    identity_parts(identity).map_or_else(|| identity.to_owned(), |(ns, sa)| format!("{ns}/{sa}"))
}

fn resource(s: &Selected) -> End {
    End::Resource {
        namespace: s.namespace.clone(),
        name: s.name.clone(),
    }
}

fn ids(peers: &BTreeSet<Peer>) -> BTreeSet<String> {
    peers.iter().filter_map(|p| p.id.clone()).collect()
}

/// The edges among `selected`, given each one's proxies' answers (`answers_of`).
pub fn edges<'a>(
    selected: &[Selected],
    answers_of: impl Fn(&Selected) -> Vec<&'a StatsAnswer>,
) -> Result<Vec<Edge>, AnswerError> {
    let mut edges = Vec::new();
    // Per resource: the client identities (`None`: plaintext) its known callers use.
    let mut callers: Vec<BTreeSet<Option<String>>> = vec![BTreeSet::new(); selected.len()];
    for src in selected {
        let answers = answers_of(src);
        let Some(merged) = Merged::from_answers(answers.iter().copied())? else {
            continue;
        };
        let own: BTreeSet<String> = answers.iter().filter_map(|a| a.identity.clone()).collect();
        for (dst, to) in destinations(&merged, selected) {
            let to = |authority: &str| to.iter().any(|a| a == authority);
            let Some(signals) = edge(&merged, to) else {
                continue;
            };
            let peers = merged.peers(|k| outbound(k) && to(&k.authority));
            let secured = if peers.is_empty() {
                Secured::NoAnswer
            } else if peers.iter().all(|p| p.tls) {
                Secured::Mtls
            } else if own.is_empty() {
                Secured::SourceWithoutIdentity
            } else {
                Secured::DestinationNotMeshed
            };
            let client_ids = if secured.is_mtls() {
                own.clone()
            } else {
                BTreeSet::new()
            };
            if let End::Resource { .. } = &dst
                && let Some(i) = selected.iter().position(|d| resource(d) == dst)
            {
                callers[i].extend(client_ids.iter().cloned().map(Some));
                if !secured.is_mtls() {
                    callers[i].insert(None);
                }
            }
            edges.push(Edge {
                src: resource(src),
                dst,
                client_ids,
                server_ids: ids(&peers),
                secured,
                requests: Some(signals.requests),
            });
        }
    }
    for (dst, known) in selected.iter().zip(&callers) {
        let answers = answers_of(dst);
        let Some(merged) = Merged::from_answers(answers.iter().copied())? else {
            continue;
        };
        let own: BTreeSet<String> = answers.iter().filter_map(|a| a.identity.clone()).collect();
        let inbound = merged.peers(|k| whole(k) && k.direction == "inbound");
        for peer in inbound {
            if known.contains(&peer.id) || (!peer.tls && known.contains(&None)) {
                continue;
            }
            let (src, secured) = match (&peer.id, peer.tls) {
                (Some(id), _) => (caller(id, selected, &answers_of), Secured::Mtls),
                (None, true) => (End::Unknown, Secured::NoClientCertificate),
                (None, false) => (End::Unknown, Secured::CallerNotMeshed),
            };
            edges.push(Edge {
                src,
                dst: resource(dst),
                client_ids: peer.id.iter().cloned().collect(),
                server_ids: if secured.is_mtls() {
                    own.clone()
                } else {
                    BTreeSet::new()
                },
                secured,
                requests: None,
            });
        }
    }
    edges.sort_by(|a, b| (&a.src, &a.dst).cmp(&(&b.src, &b.dst)));
    Ok(edges)
}

/// The destinations of `merged`'s outbound rows with traffic, each with its authorities:
/// the one selected resource an authority reaches, else the authority itself.
fn destinations(merged: &Merged, selected: &[Selected]) -> Vec<(End, Vec<String>)> {
    let mut by_dst: Vec<(End, Vec<String>)> = Vec::new();
    // Requests, or opaque connections (which count no requests).
    let busy = (merged.signals())
        .filter(|(k, s)| outbound(k) && (s.requests > 0 || s.tcp_connections_opened > 0));
    for (key, _) in busy {
        let dst = destination(key, selected);
        match by_dst.iter_mut().find(|(d, _)| *d == dst) {
            Some((_, authorities)) => authorities.push(key.authority.clone()),
            None => by_dst.push((dst, vec![key.authority.clone()])),
        }
    }
    by_dst
}

fn destination(key: &RowKey, selected: &[Selected]) -> End {
    let mut reached = selected
        .iter()
        .filter(|d| authority_matches(&key.authority, &d.hosts));
    match (reached.next(), reached.next()) {
        (Some(one), None) => resource(one),
        _ => End::Authority(key.authority.clone()),
    }
}

/// The selected resource whose proxies run as `identity`, else the identity's account.
fn caller<'a>(
    identity: &str,
    selected: &[Selected],
    answers_of: &impl Fn(&Selected) -> Vec<&'a StatsAnswer>,
) -> End {
    let runs_as =
        |s: &&Selected| (answers_of(s).iter()).any(|a| a.identity.as_deref() == Some(identity));
    if let Some(s) = selected.iter().find(runs_as) {
        return resource(s);
    }
    match identity_parts(identity) {
        Some((namespace, account)) => End::Identity {
            namespace: namespace.to_owned(),
            account: account.to_owned(),
        },
        None => End::Authority(identity.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::select::Kind;

    fn selected(name: &str, hosts: &[&str]) -> Selected {
        Selected {
            kind: Kind::Deployment,
            namespace: "shop".to_owned(),
            name: name.to_owned(),
            pods: Vec::new(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    /// An answer of a proxy running as `identity` with `rows` (JSON objects' insides).
    fn answer(identity: Option<&str>, rows: &[&str]) -> StatsAnswer {
        let rows: Vec<String> = rows
            .iter()
            .map(|r| format!(r#"{{{r}, "failures": 0, "latencyBuckets": [1, 0]}}"#))
            .collect();
        let mut a: StatsAnswer = serde_json::from_str(&format!(
            r#"{{"windowSeconds": 60, "latencyBucketsMs": [10.0], "rows": [{}]}}"#,
            rows.join(",")
        ))
        .unwrap();
        a.identity = identity.map(str::to_owned);
        a
    }

    const WEB: &str = "spiffe://td/ns/shop/sa/web";
    const API: &str = "spiffe://td/ns/shop/sa/api";
    const DB: &str = "spiffe://td/ns/shop/sa/db";

    #[test]
    fn outbound_rows_meet_their_destinations_with_both_identities() {
        let all = [
            selected("web", &["web"]),
            selected("api", &["api", "api.shop"]),
            selected("db", &["db"]),
        ];
        let web = answer(
            Some(WEB),
            &[
                r#""direction": "outbound", "authority": "api:80", "requests": 5,
                   "peers": [{"tls": true, "id": "spiffe://td/ns/shop/sa/api"}]"#,
                r#""direction": "outbound", "authority": "api.shop:80", "requests": 2,
                   "peers": [{"tls": true, "id": "spiffe://td/ns/shop/sa/api"}]"#,
                // A route's row does not count twice; a service nobody called is no edge.
                r#""direction": "outbound", "authority": "api:80", "route": "r", "requests": 5"#,
                r#""direction": "outbound", "authority": "idle:80", "requests": 0"#,
                r#""direction": "outbound", "authority": "example.com:80", "requests": 1,
                   "peers": [{"tls": false}]"#,
                // Opaque TCP: connections, no requests.
                r#""direction": "outbound", "authority": "db:5432", "requests": 0,
                   "tcpConnectionsOpened": 2,
                   "peers": [{"tls": true, "id": "spiffe://td/ns/shop/sa/db"}]"#,
            ],
        );
        let api = answer(
            Some(API),
            &[
                r#""direction": "inbound", "authority": "app", "requests": 9,
                   "peers": [{"tls": true, "id": "spiffe://td/ns/shop/sa/web"},
                             {"tls": false},
                             {"tls": true, "id": "spiffe://td/ns/other/sa/cron"}]"#,
                r#""direction": "outbound", "authority": "db:5432", "requests": 3,
                   "peers": [{"tls": false}]"#,
            ],
        );
        let db = answer(Some(DB), &[]);
        let answers_of = |s: &Selected| match s.name.as_str() {
            "web" => vec![&web],
            "api" => vec![&api],
            _ => vec![&db],
        };
        let edges = edges(&all, answers_of).unwrap();
        let show: Vec<(String, String, Option<u64>, Option<&str>)> = edges
            .iter()
            .map(|e| (e.src.name(), e.dst.name(), e.requests, e.secured.reason()))
            .collect();
        assert_eq!(
            show,
            [
                (
                    "api".into(),
                    "db".into(),
                    Some(3),
                    Some("the destination is not meshed")
                ),
                ("web".into(), "api".into(), Some(7), None),
                ("web".into(), "db".into(), Some(0), None),
                (
                    "web".into(),
                    "example.com:80".into(),
                    Some(1),
                    Some("the destination is not meshed")
                ),
                ("sa/cron".into(), "api".into(), None, None),
                (
                    "-".into(),
                    "api".into(),
                    None,
                    Some("the caller is not meshed")
                ),
            ],
            "{edges:#?}"
        );
        let web_api = &edges[1];
        assert_eq!(web_api.client_ids, [WEB.to_owned()].into());
        assert_eq!(web_api.server_ids, [API.to_owned()].into());
        assert_eq!(edges[2].server_ids, [DB.to_owned()].into());
        assert_eq!(edges[4].src.namespace(), Some("other"));
        assert_eq!(edges[4].server_ids, [API.to_owned()].into());
        assert_eq!(short_identity(WEB), "shop/web");
        assert_eq!(short_identity("x"), "x");
    }

    #[test]
    fn a_source_without_identity_and_answers_only_the_proxy_gave() {
        let all = [selected("web", &["web"]), selected("api", &["api"])];
        let web = answer(
            None,
            &[
                r#""direction": "outbound", "authority": "api:80", "requests": 4,
                   "peers": [{"tls": false}]"#,
                r#""direction": "outbound", "authority": "gone:80", "requests": 2"#,
            ],
        );
        let api = answer(
            Some(API),
            &[
                r#""direction": "inbound", "authority": "app", "requests": 4,
                 "peers": [{"tls": false}]"#,
            ],
        );
        let answers_of = |s: &Selected| {
            if s.name == "web" {
                vec![&web]
            } else {
                vec![&api]
            }
        };
        let edges = edges(&all, answers_of).unwrap();
        assert_eq!(
            edges.len(),
            2,
            "the plaintext caller is web itself: {edges:#?}"
        );
        assert_eq!(edges[0].secured, Secured::SourceWithoutIdentity);
        assert!(edges[0].client_ids.is_empty() && edges[0].server_ids.is_empty());
        assert_eq!(edges[1].dst, End::Authority("gone:80".to_owned()));
        assert_eq!(edges[1].secured, Secured::NoAnswer);
    }
}
