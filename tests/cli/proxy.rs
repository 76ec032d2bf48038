//! `meshctl proxy` as a process: config errors and exit codes, serving, SIGHUP reload and
//! SIGTERM drain to exit 0, and running without a config file (injected pods).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// One HTTP/1.0 exchange over a plain socket: (status, whole answer).
fn http_get(addr: SocketAddr, host: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    Some((status, text))
}

/// A backend answering `body` (enough times for every test here).
fn backend(body: &'static str) -> SocketAddr {
    http_server(body, 10_000)
}

fn config(backend: SocketAddr) -> String {
    format!(
        "accessLog: true\nservices:\n  - name: web\n    authorities: [web.test]\n    \
         backends: [{{ name: v1, endpoints: [{{ addr: '{backend}' }}] }}]\n"
    )
}

struct Running {
    child: Child,
    outbound: SocketAddr,
    inbound: SocketAddr,
    admin: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `meshctl proxy` (with `--config` when given) on free loopback ports with `extra`
/// flags; waits for /ready.
fn start(config_path: Option<&std::path::Path>, extra: &[&str]) -> Running {
    let (outbound, inbound, admin) = (free_addr(), free_addr(), free_addr());
    let mut cmd = meshctl();
    cmd.arg("proxy");
    if let Some(path) = config_path {
        cmd.arg("--config").arg(path);
    }
    let child = cmd
        .env_remove("MESHCTL_PROXY_CONFIG")
        .args(extra)
        .args(["--outbound-addr", &outbound.to_string()])
        .args(["--inbound-addr", &inbound.to_string()])
        .args(["--admin-addr", &admin.to_string()])
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn meshctl proxy");
    let running = Running {
        child,
        outbound,
        inbound,
        admin,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if http_get(admin, "admin", "/ready").is_some_and(|(s, _)| s == 200) {
            return running;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("meshctl proxy never became ready");
}

fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, signal).unwrap();
}

#[test]
fn serves_reloads_on_sighup_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.yaml");
    let (one, two) = (backend("one"), backend("two"));
    std::fs::write(&path, config(one)).unwrap();
    let mut p = start(Some(&path), &[]);
    let (status, text) = http_get(p.outbound, "web.test", "/").unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("one"), "{text}");

    // Same size and modification time: only SIGHUP can make the proxy see the change.
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let new = config(two);
    assert_eq!(new.len(), config(one).len());
    std::fs::write(&path, &new).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    signal(&p.child, nix::sys::signal::Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, text) = http_get(p.outbound, "web.test", "/").unwrap();
        if text.ends_with("two") {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // No service has this name: a 503, logged (and counted) like any request.
    let (status, text) = http_get(p.outbound, "nope.test", "/").unwrap();
    assert_eq!(status, 503, "{text}");
    let (_, metrics) = http_get(p.admin, "admin", "/metrics").unwrap();
    assert!(metrics.contains("request_total{"), "{metrics}");

    signal(&p.child, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    // The access log: one JSON line per proxied request on stdout.
    let mut log = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() >= 2, "{log}");
    let first = &lines[0];
    assert_eq!(first["direction"], "outbound", "{first}");
    assert_eq!(first["authority"], "web.test", "{first}");
    assert_eq!(first["method"], "GET", "{first}");
    assert_eq!(first["path"], "/", "{first}");
    assert_eq!(first["status"], 200, "{first}");
    assert_eq!(first["route"], "default", "{first}");
    assert_eq!(first["backend"], "web/v1", "{first}");
    assert!(first["duration"].as_f64().is_some() && first["ts"].as_u64().is_some());
    let unknown = lines.iter().find(|l| l["authority"] == "nope.test");
    let unknown = unknown.unwrap_or_else(|| panic!("no line of the unknown service in {log}"));
    assert_eq!(unknown["status"], 503, "{unknown}");
    assert_eq!(unknown["direction"], "outbound", "{unknown}");
}

#[test]
fn several_workers_serve_concurrent_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.yaml");
    std::fs::write(&path, config(backend("many"))).unwrap();
    let p = start(Some(&path), &["--workers", "2"]);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let to = p.outbound;
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| http_get(to, "web.test", "/").unwrap())
                    .filter(|(status, text)| *status == 200 && text.ends_with("many"))
                    .count()
            })
        })
        .collect();
    let ok: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(ok, 200);
}

#[test]
fn bad_config_files_exit_1_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.yaml");
    std::fs::write(
        &path,
        "services:\n  - name: web\n    backends: [{ name: v1 }]\n    routes:\n      \
         - name: r\n        backends: [{ name: v9 }]\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let out = run(&["proxy", "--config", file], b"");
    let says = format!("{file}:6: services[0].routes[0].backends[0].name: no backend \"v9\"");
    failed(&out, 1, &[&says]);

    // An empty opaque-ports variable is no ports (not a usage error); the cause is said once.
    let out = meshctl()
        .args(["proxy", "--config", "/nonexistent/mesh.yaml"])
        .env("MESHCTL_PROXY_INBOUND_PORTS_OPAQUE", "")
        .output()
        .unwrap();
    let err = failed(&out, 1, &["/nonexistent/mesh.yaml"]);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");

    let out = run(
        &["proxy", "--config", file, "--inbound-ports-opaque", "25,x"],
        b"",
    );
    failed(&out, 2, &["\"x\" is not a port"]);

    // A busy listener address is named, with the flag that moves it.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    std::fs::write(&path, "services: []\n").unwrap();
    let any = "127.0.0.1:0";
    let args = [
        "proxy",
        "--config",
        file,
        "--outbound-addr",
        any,
        "--inbound-addr",
        any,
    ];
    let out = run(&[&args[..], &["--admin-addr", &addr]].concat(), b"");
    let err = failed(&out, 1, &[&addr, "--admin-addr"]);
    assert_eq!(err.matches("in use").count(), 1, "{err}");

    let out = run(&["proxy", "--config", file, "--log-level", "loud=["], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&["proxy", "--config", file, "--inbound-app-port", "0"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Tracing: flags and the file's section name the bad value.
    let out = run(&["proxy", "--config", file, "--tracing-sampling", "7"], b"");
    failed(&out, 2, &["7 is not a sampling rate"]);
    let out = run(
        &["proxy", "--config", file, "--tracing-endpoint", "c:x"],
        b"",
    );
    failed(&out, 2, &["\"c:x\" has no port"]);
    std::fs::write(
        &path,
        "tracing: { endpoint: \"collector\", sampling: 0.5 }\n",
    )
    .unwrap();
    let out = run(&["proxy", "--config", file], b"");
    failed(&out, 1, &["tracing.endpoint", "\"collector\" has no port"]);
}

#[test]
fn without_a_config_file_it_serves_an_empty_config_and_forwards_inbound_to_the_app() {
    let app = backend("app");
    let port = app.port().to_string();
    let p = start(None, &["--inbound-app-port", &port]);
    let (status, config) = http_get(p.admin, "admin", "/config").unwrap();
    assert_eq!(status, 200, "{config}");
    let body = &config[config.find("\r\n\r\n").unwrap() + 4..];
    let config: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(config.get("services"), None, "{config}");

    // Inbound goes to the app on loopback; outbound for an unknown service is answered at once.
    let (status, text) = http_get(p.inbound, "web.test", "/").unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("app"), "{text}");
    let (status, text) = http_get(p.outbound, "nobody.test", "/").unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("unknown service"), "{text}");

    // SIGHUP with no file is harmless.
    signal(&p.child, nix::sys::signal::Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(100));
    let (status, _) = http_get(p.admin, "admin", "/ready").unwrap();
    assert_eq!(status, 200);
    let (_, metrics) = http_get(p.admin, "admin", "/metrics").unwrap();
    assert!(metrics.contains("direction=\"inbound\""), "{metrics}");
}

#[test]
fn inbound_goes_to_the_app_ip_given() {
    // Two "pods" on one host: each app on its own loopback address, on the same port.
    let app = http_server_on("127.0.0.3", "pod three", 10);
    let port = app.port().to_string();
    let p = start(
        None,
        &["--inbound-app-port", &port, "--inbound-app-ip", "127.0.0.3"],
    );
    let (status, text) = http_get(p.inbound, "web.test", "/").unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("pod three"), "{text}");
    // The inbound listener on the app's port at the pod's own address (as `meshctl demo`
    // runs it): the app is another socket, not the proxy's own listener.
    let pod_addr = format!("127.0.0.4:{port}");
    let mut cmd = meshctl();
    let mut child = cmd
        .env_remove("MESHCTL_PROXY_CONFIG")
        .args([
            "proxy",
            "--inbound-addr",
            &pod_addr,
            "--inbound-app-port",
            &port,
        ])
        .args(["--inbound-app-ip", "127.0.0.3"])
        .args(["--outbound-addr", &free_addr().to_string()])
        .args(["--admin-addr", &free_addr().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        if let Some(answer) = http_get(pod_addr.parse().unwrap(), "web.test", "/") {
            break answer;
        }
        assert!(Instant::now() < deadline, "no answer on {pod_addr}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert!(answer.1.ends_with("pod three"), "{}", answer.1);
    // Without the flag the app is looked for on 127.0.0.1, where nothing listens on that port.
    let q = start(None, &["--inbound-app-port", &port]);
    let refused = http_get(q.inbound, "web.test", "/");
    assert!(
        refused.as_ref().is_none_or(|(status, _)| *status != 200),
        "{refused:?}"
    );
}

#[test]
fn unusable_identity_files_exit_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf) = (dir.path().join("ca"), dir.path().join("leaf"));
    let (ca_s, leaf_s) = (ca.to_str().unwrap(), leaf.to_str().unwrap());
    assert!(
        run(
            &["certs", "create", "--trust-domain", "td", "--out", ca_s],
            b""
        )
        .status
        .success()
    );
    let id = "spiffe://td/ns/shop/sa/web";
    let issued = run(
        &[
            "certs",
            "issue",
            "--identity",
            id,
            "--ca-dir",
            ca_s,
            "--out",
            leaf_s,
        ],
        b"",
    );
    assert!(issued.status.success(), "{}", stderr(&issued));
    let path = dir.path().join("mesh.yaml");
    let file = path.to_str().unwrap();
    let addr = free_addr().to_string();
    let with = |cert: &str, roots: &str| {
        let yaml = format!(
            "identity: {{ roots: {leaf_s}/{roots}, cert: {leaf_s}/{cert}, key: {leaf_s}/key.pem }}\n"
        );
        std::fs::write(&path, yaml).unwrap();
        // Every listener on a free port: the defaults may be taken by other tests' proxies.
        let any = [
            "--outbound-addr",
            "127.0.0.1:0",
            "--inbound-addr",
            "127.0.0.1:0",
        ];
        run(
            &[
                &["proxy", "--config", file, "--admin-addr", &addr],
                &any[..],
            ]
            .concat(),
            b"",
        )
    };
    // Roots that are not certificates, then a leaf file that does not exist.
    let out = with("cert.pem", "key.pem");
    failed(&out, 1, &[&format!("{leaf_s}/key.pem")]);
    let out = with("missing.pem", "roots.pem");
    failed(&out, 1, &[&format!("{leaf_s}/missing.pem")]);
}

#[test]
fn the_ca_token_never_shows_on_config_or_in_the_logs_and_config_has_the_real_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.yaml");
    let log_path = dir.path().join("proxy.log");
    let marker = "tok-MARKER-5f3a9c";
    // A CA nobody answers on: the proxy keeps asking (and logging why it failed).
    let ca = free_addr();
    let roots = fixture("install/certs/ca.crt");
    std::fs::write(
        &path,
        format!(
            "identity: {{ roots: \"{roots}\", ca: {{ addr: \"{ca}\", \
             identity: \"spiffe://example.org/ns/shop/sa/web\", token: \"{marker}\" }} }}\n\
             listeners: {{ admin: \"127.0.0.1:1\" }}\n"
        ),
    )
    .unwrap();
    let admin = free_addr();
    let log = std::fs::File::create(&log_path).unwrap();
    let child = meshctl()
        .env_remove("MESHCTL_PROXY_CONFIG")
        .args(["proxy", "--config", path.to_str().unwrap()])
        .args([
            "--outbound-addr",
            "127.0.0.1:0",
            "--inbound-addr",
            "127.0.0.1:0",
        ])
        .args(["--admin-addr", &admin.to_string(), "--log-level", "trace"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut p = Running {
        child,
        outbound: admin,
        inbound: admin,
        admin,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let config = loop {
        if let Some((200, text)) = http_get(p.admin, "admin", "/config") {
            break text;
        }
        assert!(Instant::now() < deadline, "no /config");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!config.contains(marker), "{config}");
    assert!(config.contains("<redacted>"), "{config}");
    let body: serde_json::Value =
        serde_json::from_str(&config[config.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    let listeners = &body["listeners"];
    assert_eq!(listeners["admin"], admin.to_string(), "{body}");
    for side in ["outbound", "inbound"] {
        let addr: SocketAddr = listeners[side].as_str().unwrap().parse().unwrap();
        assert!(addr.port() != 0, "{side} listener is bound: {body}");
    }
    // Give the CA client time to fail and log a few times.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = p.child.kill();
    let _ = p.child.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains(&ca.to_string()),
        "the CA failures are logged: {logs}"
    );
    assert!(!logs.contains(marker), "{logs}");
}
