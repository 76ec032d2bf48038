//! Reading a config file: YAML into [`Config`], then its checks; every error names the
//! file, the line and the field, and says what is allowed.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::config::Config;

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config file {file}: {cause}; check the path given to --config")]
    Read { file: String, cause: std::io::Error },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}:{line}: {field}: {message}")]
    Invalid {
        file: String,
        line: u32,
        field: String,
        message: String,
    },
}

/// Reads and checks the config file at `path`.
pub fn load_file(path: &Path) -> Result<Config, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|cause| LoadError::Read {
        file: file.clone(),
        cause,
    })?;
    parse(&file, &text)
}

/// Parses and checks config `text`; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Config, LoadError> {
    let config: Config = serde_saphyr::from_str(text).map_err(|e| LoadError::Syntax {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    config.validate().map_err(|e| LoadError::Invalid {
        file: file.to_owned(),
        line: line_of(text, &e.path),
        field: e.path,
        message: e.message,
    })?;
    Ok(config)
}

/// The line of the field at `path` (`a[0].b.c`), or of its closest parent that exists; 0 if none.
fn line_of(text: &str, path: &str) -> u32 {
    let Ok(root) = serde_saphyr::from_str::<Spanned<Node>>(text) else {
        return 0;
    };
    let mut node = &root;
    for segment in path.split('.') {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        let Some(next) = node.value.get_key(key) else {
            break;
        };
        node = next;
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            match index.parse().ok().and_then(|i| node.value.get_index(i)) {
                Some(next) => node = next,
                None => return node.referenced.line() as u32,
            }
        }
    }
    node.referenced.line() as u32
}

/// A YAML tree that remembers where each node was (only built on the error path).
enum Node {
    Map(Vec<(String, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl Node {
    fn get_key(&self, key: &str) -> Option<&Spanned<Node>> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get_index(&self, i: usize) -> Option<&Spanned<Node>> {
        match self {
            Node::Seq(items) => items.get(i),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

/// Any scalar becomes `Node::Scalar`; map keys are read as strings.
macro_rules! scalars {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<Node, E> { Ok(Node::Scalar) })*
    };
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    scalars!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            entries.push((key.0, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }
}

/// A map key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
services:
  - name: web
    authorities: [web.shop.svc.cluster.local, "web:80"]
    addresses: ["10.96.0.10:80"]
    policy:
      timeouts: { request: 2s }
    backends:
      - name: v1
        endpoints: [{ addr: "127.0.0.1:8080", labels: { version: v1 } }]
      - name: v2
        endpoints: [{ addr: "127.0.0.1:8081" }]
    routes:
      - name: canary
        matches:
          - path: { prefix: /api }
            headers: [{ name: x-canary, exact: "1" }]
            queryParams: [{ name: debug, present: true }]
            method: GET
        backends: [{ name: v1, weight: 90 }, { name: v2, weight: 10 }]
        requestHeaders: { set: [{ name: x-route, value: canary }], remove: [x-debug] }
        fault: { abort: { status: 503, percent: 5 }, delay: { fixed: 100ms, percent: 10 } }
        mirror: { backend: v2, percent: 50 }
"#;

    #[test]
    fn parses_a_full_file_and_round_trips_through_json() {
        let c = parse("mesh.yaml", GOOD).unwrap();
        assert_eq!(c.services[0].routes[0].backends[1].weight, 10);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), c);
        assert_eq!(c.listeners.outbound.port(), 4140);
    }

    #[test]
    fn unknown_fields_name_the_file_and_line() {
        let e = parse("mesh.yaml", "services:\n  - name: web\n    backend: []\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("mesh.yaml: "), "{msg}");
        assert!(msg.contains("backend") && msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn check_errors_name_file_line_field_and_what_is_allowed() {
        let bad = GOOD.replace("{ name: v2, weight: 10 }", "{ name: v3, weight: 10 }");
        let e = parse("mesh.yaml", &bad).unwrap_err().to_string();
        assert_eq!(
            e,
            "mesh.yaml:20: services[0].routes[0].backends[1].name: no backend \"v3\" in this \
             service; known: v1, v2"
        );
        let bad = GOOD.replace("percent: 5 }", "percent: 500 }");
        let e = parse("mesh.yaml", &bad).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "mesh.yaml:22: services[0].routes[0].fault.abort.percent: allowed: 0 to 100"
            ),
            "{e}"
        );
        let bad = GOOD.replace("request: 2s", "request: 2s, perTry: 3s");
        let e = parse("mesh.yaml", &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("mesh.yaml:7: services[0].policy.timeouts.perTry"),
            "{e}"
        );
        let bad = GOOD.replace("prefix: /api", "regex: '('");
        let e = parse("mesh.yaml", &bad).unwrap_err().to_string();
        assert!(
            e.contains(":16: services[0].routes[0].matches[0].path.regex: not a valid"),
            "{e}"
        );
    }

    #[test]
    fn port_zero_is_refused_where_the_app_must_listen() {
        let e = parse("f", "inbound:\n  appPort: 8080\n  opaquePorts: [3306, 0]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f:3: inbound.opaquePorts[1]: port 0 is not a port the app can listen on: give one \
             from 1 to 65535"
        );
        let e = parse("f", "inbound: { appPort: 0 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f:1: inbound.appPort: port 0"), "{e}");
    }

    #[test]
    fn duplicate_authorities_are_refused() {
        let two = "services:\n- name: a\n  authorities: [web]\n  backends: [{name: x}]\n\
                   - name: b\n  authorities: [WEB]\n  backends: [{name: x}]\n";
        let e = parse("f", two).unwrap_err().to_string();
        assert_eq!(
            e,
            "f:6: services[1].authorities[0]: already used by another service"
        );
    }

    #[test]
    fn the_readme_example_is_valid() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## The proxy").unwrap()..];
        let start = section.find("```yaml\n").unwrap() + 8;
        let text = &section[start..start + section[start..].find("```").unwrap()];
        let c = parse("README.md", text).unwrap();
        assert_eq!(c.services.len(), 2);
        assert_eq!(c.inbound.opaque_ports, [3306]);
    }

    #[test]
    fn the_readme_mtls_example_is_valid() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## Mutual TLS").unwrap()..];
        let start = section.find("```yaml\n").unwrap() + 8;
        let text = &section[start..start + section[start..].find("```").unwrap()];
        let c = parse("README.md", text).unwrap();
        assert!(c.identity.unwrap().cert.is_some());
        assert_eq!(c.inbound.authorization.rules.len(), 3);
        let ep = &c.services[0].backends[0].endpoints[0];
        assert_eq!(ep.identity.as_ref().unwrap().service_account(), "web");
    }

    #[test]
    fn identity_and_authorization_errors_name_line_and_field() {
        let bad = "identity:\n  roots: r.pem\n  cert: c.pem\n";
        let e = parse("m.yaml", bad).unwrap_err().to_string();
        assert!(
            e.starts_with("m.yaml:") && e.contains(": identity.key: cert and key"),
            "{e}"
        );
        let bad = "inbound:\n  authorization:\n    rules:\n      - action: ALLOW\n        \
                   from: [{ identities: [\"a*b\"] }]\n";
        let e = parse("m.yaml", bad).unwrap_err().to_string();
        assert!(
            e.starts_with("m.yaml:5: inbound.authorization.rules[0].from[0].identities[0]: "),
            "{e}"
        );
        let bad = "services:\n- name: a\n  backends: [{name: x, endpoints: \
                   [{addr: \"1.2.3.4:80\", identity: \"spiffe://td/ns/a\"}]}]\n";
        let e = parse("m.yaml", bad).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("spiffe://<trust-domain>"),
            "{e}"
        );
    }

    #[test]
    fn strict_mtls_without_an_identity_is_refused() {
        // Without an identity the proxy cannot terminate mesh TLS: STRICT would be plaintext.
        let e = parse("m.yaml", "inbound:\n  tls:\n    mode: STRICT\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "m.yaml:3: inbound.tls.mode: STRICT needs the proxy's own mesh identity: add an \
             identity section (cert + key, or ca), or use PERMISSIVE or DISABLE"
        );
        let e = parse(
            "m.yaml",
            "inbound:\n  tls:\n    ports:\n      5432: STRICT\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("m.yaml:4: inbound.tls.ports.5432: STRICT needs"),
            "{e}"
        );
        parse(
            "m.yaml",
            "inbound:\n  tls: { mode: DISABLE, ports: { 80: PERMISSIVE } }\n",
        )
        .unwrap();
    }

    #[test]
    fn a_missing_file_says_so() {
        let e = load_file(Path::new("/nonexistent/mesh.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/mesh.yaml") && e.contains("--config"),
            "{e}"
        );
    }
}
