//! Istio security config through the controller on the real API server, enforced by the
//! proxies of pod network namespaces: PeerAuthentication STRICT / PERMISSIVE / port-level
//! DISABLE against a plaintext client and a meshed one, AuthorizationPolicy by namespace
//! (403 for HTTP, closed for TCP) and by principal, method and path, and
//! RequestAuthentication with a JWKS the controller fetches from a server on this
//! machine's loopback (its key rotation picked up without a restart); then Linkerd's Server
//! and ServerAuthorization through the same engine.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::controller::{cluster_env, request};
use crate::controller_process::{ControllerProcess, install, trust_anchors};
use crate::harness::cluster;
use crate::jwt_keys::{ISS, an_hour_ago, forged, jwks, token};
use crate::meshed::Mesh;
use crate::net::{Greeter, Says, dial};
use crate::node::Pod;
use crate::node_or_skip;
use crate::registry::{Registry, cluster_available};

/// The Istio security kinds, and Linkerd's Server and ServerAuthorization.
fn resource(kind: &str) -> ApiResource {
    let (group, version) = match kind {
        "Server" => ("policy.linkerd.io", "v1beta3"),
        "ServerAuthorization" => ("policy.linkerd.io", "v1beta1"),
        _ => ("security.istio.io", "v1"),
    };
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// Applies (server-side) one policy object.
async fn apply(ns: &str, kind: &str, name: &str, spec: Value) {
    let resource = resource(kind);
    let api: Api<DynamicObject> = Api::namespaced_with(cluster().admin().await, ns, &resource);
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": resource.api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .expect("object");
    api.patch(
        name,
        &PatchParams::apply("test").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {kind} {ns}/{name}: {e}"));
}

async fn delete(ns: &str, kind: &str, name: &str) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster().admin().await, ns, &resource(kind));
    api.delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("delete {kind} {ns}/{name}: {e}"));
}

/// Waits (10 s at most) until `probe` gives `want`, and says how long that took; panics
/// with the last value and `context`.
fn eventually<T: PartialEq + std::fmt::Debug>(
    what: &str,
    want: T,
    mut probe: impl FnMut() -> T,
    context: &dyn Fn() -> String,
) -> Duration {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    loop {
        let got = probe();
        if got == want {
            return start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {got:?}, want {want:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An issuer's JWKS endpoint on this machine's loopback (where the controller runs),
/// serving whatever document it is given; stops when dropped.
struct Issuer {
    addr: SocketAddr,
    doc: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl Issuer {
    fn start(doc: String) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (doc, stop) = (Arc::new(Mutex::new(doc)), Arc::new(AtomicBool::new(false)));
        let (served, stopped) = (doc.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                let mut reader = BufReader::new(&stream);
                // The head, up to its blank line (bounded).
                for _ in 0..100 {
                    line.clear();
                    if !matches!(reader.read_line(&mut line), Ok(n) if n > 0 && line != "\r\n") {
                        break;
                    }
                }
                let body = served.lock().expect("doc").clone();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = (&stream).write_all(answer.as_bytes());
            }
        });
        Issuer { addr, doc, stop }
    }

    fn serve(&self, doc: String) {
        *self.doc.lock().expect("doc") = doc;
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the plaintext client and the meshed ones get from b.
struct Clients<'a> {
    plain: &'a Pod,
    /// b's pod address on its app port (past every proxy but b's).
    direct: SocketAddr,
    http: SocketAddr,
    tcp: SocketAddr,
    host: String,
}

impl Clients<'_> {
    fn plain(&self) -> u16 {
        request(self.plain, self.direct, "b", "GET /", "x-test: plain")
    }

    fn http(&self, pod: &Pod, line: &str) -> u16 {
        request(pod, self.http, &self.host, line, "x-test: meshed")
    }

    /// `GET /info/x` with `token` as a bearer token.
    fn with_token(&self, pod: &Pod, token: &str) -> u16 {
        let header = format!("authorization: Bearer {token}");
        request(pod, self.http, &self.host, "GET /info/x", &header)
    }

    /// Whether b's TCP greeter answered.
    fn tcp(&self, pod: &Pod) -> bool {
        dial(pod, self.tcp).trim() == "b"
    }
}

#[test]
fn peer_authentication_and_authorization_policy_through_the_controller() {
    if !cluster_available("security") {
        return;
    }
    let Some(mut node) = node_or_skip("security", &["a", "b", "c", "p"]) else {
        return;
    };
    node.link_host();
    let (a, b, c, p) = (node.pod("a"), node.pod("b"), node.pod("c"), node.pod("p"));
    let _apps = [
        Greeter::start(b, "[::]:8080".parse().expect("addr"), Says::Http("b")),
        Greeter::start(b, "[::]:9000".parse().expect("addr"), Says::Name("b")),
    ];
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mesh_ns = format!("meshctl-sec-{}", std::process::id());
    install(&cluster().kubeconfig, &mesh_ns);
    let (ns, other_ns, pods, ips, tokens, roots, kubeconfig) = runtime.block_on(async {
        let here = Registry::new(cluster(), "sec").await;
        let there = Registry::new(cluster(), "sec-other").await;
        let a_pods = here.deployment("a.yaml", &[a]).await;
        let b_pods = here.deployment("b.yaml", &[b]).await;
        let c_pods = there.deployment("a.yaml", &[c]).await;
        here.service("b", "b").await;
        here.service_port("b-tcp", "b", ("tcp", 9000, 9000)).await;
        here.endpoint_slice("b", &[(&b_pods[0], b)]).await;
        here.endpoint_slice_port("b-tcp", ("tcp", 9000), &[(&b_pods[0], b)])
            .await;
        let ips = (here.cluster_ip("b").await, here.cluster_ip("b-tcp").await);
        let tokens = [
            here.token("a", "identity.meshctl.io").await,
            here.token("b", "identity.meshctl.io").await,
            there.token("a", "identity.meshctl.io").await,
        ];
        let roots = trust_anchors(cluster().admin().await, &mesh_ns).await;
        let kubeconfig = cluster()
            .kubeconfig_for_service_account(&mesh_ns, "meshctl-controller")
            .await;
        let pods = [a_pods[0].clone(), b_pods[0].clone(), c_pods[0].clone()];
        (
            here.namespace.clone(),
            there.namespace.clone(),
            pods,
            ips,
            tokens,
            roots,
            kubeconfig,
        )
    });
    let mut mesh = Mesh::new();
    let issuer = Issuer::start(jwks(1));
    let mut controller = ControllerProcess::start_with(
        kubeconfig,
        &mesh_ns,
        // The pods' host address (see `Node::link_host`), where they reach the controller.
        "10.213.0.1",
        None,
        mesh.write_path("controller.log"),
        &["--jwks-refresh", "1s"],
    );
    let roots_file = mesh.write_file("roots.pem", &roots);
    for (i, (pod, fixture, pod_ns)) in [
        (a, "a.yaml", &ns),
        (b, "b.yaml", &ns),
        (c, "a.yaml", &other_ns),
    ]
    .into_iter()
    .enumerate()
    {
        let token = mesh.write_file(&format!("{}.token", pod.name), &tokens[i]);
        let env = cluster_env(&controller, pod_ns, &pods[i], &token, &roots_file);
        mesh.start_with_env(pod, fixture, &env);
    }
    for pod in [a, c] {
        pod.run("ip", &["route", "add", "10.96.0.0/20", "dev", "eth0"]);
    }
    let clients = Clients {
        plain: p,
        direct: SocketAddr::new(b.ip.into(), 8080),
        http: SocketAddr::new(ips.0.into(), 80),
        tcp: SocketAddr::new(ips.1.into(), 9000),
        host: format!("b.{ns}.svc.cluster.local"),
    };
    let context = || format!("{}\n{}", mesh.logs(), controller.logs());
    let get = "GET /info/x";

    // PERMISSIVE, the default: plaintext and mTLS clients alike.
    eventually("plaintext, no policy", 200, || clients.plain(), &context);
    eventually("meshed, no policy", 200, || clients.http(a, get), &context);

    // STRICT for b's namespace: the plaintext client is refused, the meshed one served.
    runtime.block_on(apply(
        &ns,
        "PeerAuthentication",
        "default",
        json!({"mtls": {"mode": "STRICT"}}),
    ));
    eventually("plaintext under STRICT", 0, || clients.plain(), &context);
    assert_eq!(clients.http(a, get), 200, "{}", context());

    // b's port 8080 DISABLEd by a workload policy: plaintext both ways (a's proxy too).
    let port_level = json!({
        "selector": {"matchLabels": {"app": "b"}},
        "mtls": {"mode": "STRICT"},
        "portLevelMtls": {"8080": {"mode": "DISABLE"}},
    });
    runtime.block_on(apply(&ns, "PeerAuthentication", "b", port_level));
    eventually(
        "plaintext on a DISABLEd port",
        200,
        || clients.plain(),
        &context,
    );
    eventually(
        "meshed on a DISABLEd port",
        200,
        || clients.http(a, get),
        &context,
    );

    // PERMISSIVE for the namespace: both served.
    runtime.block_on(async {
        delete(&ns, "PeerAuthentication", "b").await;
        apply(
            &ns,
            "PeerAuthentication",
            "default",
            json!({"mtls": {"mode": "PERMISSIVE"}}),
        )
        .await;
    });
    eventually(
        "plaintext under PERMISSIVE",
        200,
        || clients.plain(),
        &context,
    );
    eventually(
        "meshed under PERMISSIVE",
        200,
        || clients.http(a, get),
        &context,
    );

    // Only b's own namespace may call it: c (another namespace) gets 403, and its TCP
    // connection is closed; a is served both.
    let same_ns = json!({
        "selector": {"matchLabels": {"app": "b"}},
        "action": "ALLOW",
        "rules": [{"from": [{"source": {"namespaces": [ns]}}]}],
    });
    runtime.block_on(apply(&ns, "AuthorizationPolicy", "same-namespace", same_ns));
    let applied = eventually("another namespace", 403, || clients.http(c, get), &context);
    // A figure for the log (--nocapture).
    eprintln!("an AuthorizationPolicy applied {applied:?} after it was written");
    assert_eq!(clients.http(a, get), 200, "{}", context());
    assert!(
        !clients.tcp(c),
        "c's TCP connection was served\n{}",
        context()
    );
    assert!(
        clients.tcp(a),
        "a's TCP connection was refused\n{}",
        context()
    );

    // One principal, GET, paths under /info: a's GET /info/x only.
    let principal = json!({
        "selector": {"matchLabels": {"app": "b"}},
        "rules": [{
            "from": [{"source": {"principals": [format!("cluster.local/ns/{ns}/sa/a")]}}],
            "to": [{"operation": {"methods": ["GET"], "paths": ["/info*"]}}],
        }],
    });
    runtime.block_on(async {
        delete(&ns, "AuthorizationPolicy", "same-namespace").await;
        apply(&ns, "AuthorizationPolicy", "sleep", principal).await;
    });
    eventually(
        "POST from a",
        403,
        || clients.http(a, "POST /info/x"),
        &context,
    );
    assert_eq!(clients.http(a, get), 200, "{}", context());
    assert_eq!(clients.http(a, "GET /other"), 403, "{}", context());
    assert_eq!(clients.http(c, get), 403, "{}", context());

    // End-user JWTs: b verifies tokens of ISS with the keys at the issuer's jwksUri (which
    // the controller fetches), and only lets in a principal of ISS in group1.
    runtime.block_on(async {
        delete(&ns, "AuthorizationPolicy", "sleep").await;
        let jwks_uri = format!("http://{}/jwks", issuer.addr);
        let rule = json!({"issuer": ISS, "audiences": ["web"], "jwksUri": jwks_uri});
        let selector = json!({"matchLabels": {"app": "b"}});
        let authn = json!({"selector": selector, "jwtRules": [rule]});
        apply(&ns, "RequestAuthentication", "jwt", authn).await;
        let groups = json!({
            "selector": selector,
            "rules": [{
                "from": [{"source": {"requestPrincipals": [format!("{ISS}/*")]}}],
                "when": [{"key": "request.auth.claims[groups]", "values": ["group1"]}],
            }],
        });
        apply(&ns, "AuthorizationPolicy", "jwt", groups).await;
    });
    let group1 = json!({"groups": ["group1"]});
    let valid = token(1, group1.clone());
    eventually("no token", 403, || clients.http(a, get), &context);
    eventually(
        "a valid token",
        200,
        || clients.with_token(a, &valid),
        &context,
    );
    for (what, token, want) in [
        (
            "expired",
            token(1, json!({"exp": an_hour_ago(), "groups": ["group1"]})),
            401,
        ),
        (
            "wrong issuer",
            token(1, json!({"iss": "https://evil.test"})),
            401,
        ),
        (
            "wrong audience",
            token(1, json!({"aud": "other", "groups": ["group1"]})),
            401,
        ),
        ("bad signature", forged(), 401),
        (
            "another group",
            token(1, json!({"groups": ["group2"]})),
            403,
        ),
    ] {
        assert_eq!(clients.with_token(a, &token), want, "{what}\n{}", context());
    }
    // The issuer rotates its key: the controller's next fetch brings the new one to b.
    let rotated_at = Instant::now();
    issuer.serve(jwks(2));
    let rotated = token(2, group1);
    eventually(
        "the rotated key",
        200,
        || clients.with_token(a, &rotated),
        &context,
    );
    eprintln!(
        "a rotated JWKS key was accepted {:?} after the issuer served it",
        rotated_at.elapsed()
    );
    assert_eq!(
        clients.with_token(a, &valid),
        401,
        "the old key\n{}",
        context()
    );

    // The issuer goes away and the controller restarts: the keys it kept (its JWKS cache
    // ConfigMap) still verify tokens once the proxies run the new process's config.
    drop(issuer);
    controller.kill();
    controller.restart();
    controller.wait_acked(&[(&ns, &pods[1])], Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(1));
    let context = || format!("{}\n{}", mesh.logs(), controller.logs());
    assert_eq!(
        clients.with_token(a, &rotated),
        200,
        "after a restart\n{}",
        context()
    );

    // Linkerd policy instead: a Server on b's HTTP port that only a's service account (in
    // b's namespace) is authorized for; b's TCP port has no Server and stays open. The
    // install made the CRDs just before the controller started: it may see the last ones
    // at its next look (every 30 s).
    let watching = |kind: &str| {
        controller
            .logs()
            .contains(&format!("watching config kind kind={kind} "))
    };
    let deadline = Instant::now() + Duration::from_secs(45);
    while !(watching("Server") && watching("ServerAuthorization")) {
        assert!(
            Instant::now() < deadline,
            "Linkerd kinds never watched\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    runtime.block_on(async {
        delete(&ns, "RequestAuthentication", "jwt").await;
        delete(&ns, "AuthorizationPolicy", "jwt").await;
        // The authorization first: the Server never stands alone (it would deny all).
        let authz = json!({
            "server": {"name": "b-http"},
            "client": {"meshTLS": {"serviceAccounts": [{"name": "a"}]}},
        });
        apply(&ns, "ServerAuthorization", "b-from-a", authz).await;
        let server = json!({"podSelector": {"matchLabels": {"app": "b"}}, "port": 8080});
        apply(&ns, "Server", "b-http", server).await;
    });
    // The Istio policies gone (a served), then the Server in force (c refused).
    eventually(
        "a without Istio policies",
        200,
        || clients.http(a, get),
        &context,
    );
    eventually(
        "c under the Linkerd Server",
        403,
        || clients.http(c, get),
        &context,
    );
    assert_eq!(clients.http(a, get), 200, "{}", context());
    assert!(
        clients.tcp(c),
        "c's TCP connection (no Server) was refused\n{}",
        context()
    );
}
