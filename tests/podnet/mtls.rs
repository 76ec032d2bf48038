//! Mutual TLS between meshed pods: A's app calls `b-service:80`; on B's veth there is a
//! TLS 1.3 handshake for B's identity and no plaintext HTTP, B's inbound proxy labels the
//! request with A's identity, and a plaintext call past A's proxy is refused by STRICT.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::capture::Capture;
use crate::mesh_pki::{DAY, Files, Pki};
use crate::meshed::{Mesh, identity_of, metric, service};
use crate::net::{Greeter, Says, http_get_as};
use crate::node_or_skip;

fn identity(files: &Files) -> Value {
    json!({
        "roots": files.roots,
        "cert": files.cert,
        "key": files.key,
    })
}

#[test]
fn a_calls_b_service_over_mutual_tls_seen_on_b_s_wire() {
    let Some(node) = node_or_skip("mesh_mtls", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let _app = Greeter::start(b, SocketAddr::from(([0; 16], 8080)), Says::Http("b"));
    let pki = Pki::new(DAY);
    // Each pod's identity comes from its injected spec (namespace, service account).
    let (a_id, b_id) = (identity_of(a, "a.yaml"), identity_of(b, "b.yaml"));
    let mut b_service = service(
        "b",
        "b-service",
        SocketAddr::from((b.service_ip, 80)),
        &[("b", &[SocketAddr::from((b.ip, 8080))])],
    );
    b_service["backends"][0]["endpoints"][0]["identity"] = json!(b_id.to_string());
    let mut mesh = Mesh::new();
    let b_config = json!({
        "identity": identity(&pki.files(&b_id)),
        "inbound": { "tls": { "mode": "STRICT" } },
    });
    mesh.start(b, "b.yaml", &b_config.to_string());
    let a_config = json!({
        "identity": identity(&pki.files(&a_id)),
        "services": [b_service],
    });
    mesh.start(a, "a.yaml", &a_config.to_string());

    let capture = Capture::start(b, "tcp port 8080");
    let (status, body) = http_get_as(a, 0, "b-service:80", "/");
    assert_eq!(
        (status, body.trim()),
        (200, "b saw 127.0.0.1"),
        "{}",
        mesh.logs()
    );
    let seen = capture.stop_and_query(
        &["tcp.port==8080,tls"],
        &[
            (
                "tls.handshake.type == 1",
                "tls.handshake.extensions_server_name",
            ),
            (
                "tls.handshake.type == 2",
                "tls.handshake.extensions.supported_version",
            ),
            ("http.request", "http.request.uri"),
        ],
    );
    assert_eq!(seen[0], [b_id.sni_name()], "ClientHellos for B's identity");
    assert_eq!(seen[1], ["0x0304"], "the ServerHello selects TLS 1.3");
    assert!(
        seen[2].is_empty(),
        "plaintext HTTP on B's veth: {:?}",
        seen[2]
    );
    let labels = [
        "direction=\"inbound\"",
        "tls=\"true\"",
        "client_id=\"spiffe://cluster.local/ns/shop/sa/a\"",
    ];
    assert_eq!(metric(b, "request_total", &labels), 1, "{}", mesh.logs());
    let server = [
        "direction=\"outbound\"",
        "tls=\"true\"",
        "server_id=\"spiffe://cluster.local/ns/shop/sa/b\"",
        "status_code=\"200\"",
    ];
    assert_eq!(metric(a, "response_total", &server), 1, "A's outbound side");

    // To B's pod IP no service claims: A's proxy passes it through as plain TCP, and B's
    // STRICT inbound side refuses it.
    let (status, _) = http_get_as(a, 0, &format!("{}:8080", b.ip), "/");
    assert_eq!(status, 0, "plaintext reached B's app");
    let refused = ["reason=\"plaintext\""];
    assert_eq!(metric(b, "inbound_tls_refused_total", &refused), 1);
}
