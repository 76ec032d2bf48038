//! Test harness: an in-process proxy on 127.0.0.1:0 ports, test servers and clients.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use meshctl::proxy::{Options, Proxy};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub type TestBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How many times [`poll_until`] asks, 20 ms apart: a minute of sleeps at least, so only
/// what never happens fails it, however loaded the machine.
const POLLS: usize = 3_000;

/// Asks `done` until it holds (at most [`POLLS`] times, 20 ms apart); panics naming `what`.
pub async fn poll_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..POLLS {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not after {POLLS} polls 20 ms apart");
}

pub fn full(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A proxy running in this process; stops when dropped.
pub struct TestProxy {
    pub outbound: SocketAddr,
    pub inbound: SocketAddr,
    pub admin: SocketAddr,
    pub config_path: PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl TestProxy {
    /// Starts a proxy with `yaml` as its config file (listeners forced to 127.0.0.1:0).
    pub async fn start(yaml: &str) -> TestProxy {
        Self::start_with(yaml, |_| {}).await
    }

    pub async fn start_with(yaml: &str, tweak: impl FnOnce(&mut Options)) -> TestProxy {
        let p = Self::spawn(yaml, tweak).await;
        // Wait for /ready (bounded; generous: a CA-mode proxy first needs its leaf).
        for _ in 0..1_000 {
            if p.admin_get("/ready").await.0 == 200 {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("proxy never became ready");
    }

    /// Starts a proxy without waiting for `/ready`.
    pub async fn spawn(yaml: &str, tweak: impl FnOnce(&mut Options)) -> TestProxy {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("mesh.yaml");
        std::fs::write(&config_path, yaml).unwrap();
        let config = meshctl::model::load::load_file(&config_path).unwrap();
        let mut options = Options::new(config);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        options.outbound_addr = any;
        options.inbound_addr = any;
        options.admin_addr = any;
        options.config_path = Some(config_path.clone());
        options.detect_timeout = Duration::from_millis(300);
        options.drain_timeout = Duration::from_secs(5);
        options.watch_interval = Duration::from_millis(50);
        tweak(&mut options);
        let proxy = Proxy::bind(options).await.unwrap();
        let (tx, rx) = oneshot::channel();
        let (outbound, inbound, admin) = (
            proxy.outbound_addr(),
            proxy.inbound_addr(),
            proxy.admin_addr(),
        );
        let task = tokio::spawn(proxy.run(async move {
            let _ = rx.await;
        }));
        TestProxy {
            outbound,
            inbound,
            admin,
            config_path,
            _dir: dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Starts draining; the returned task ends when the proxy has stopped.
    pub fn shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("already shut down")
    }

    /// GET on the admin port: (status, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let client = http1_client();
        let uri = format!("http://{}{}", self.admin, path);
        match client.get(uri.parse().unwrap()).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
            Err(_) => (0, String::new()),
        }
    }

    /// The value of the metric line that starts with `prefix` (0 if absent).
    pub async fn metric(&self, prefix: &str) -> f64 {
        let (_, text) = self.admin_get("/metrics").await;
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Rewrites the config file (the proxy notices within its watch interval).
    pub fn write_config(&self, yaml: &str) {
        // Write then rename so the watcher never reads half a file.
        let tmp = self.config_path.with_extension("tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn http1_client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn http2_client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

/// An h2c (prior knowledge) connection to `addr`: requests keep their own URI, so its
/// authority (`:authority`) can name a service while the bytes go to the proxy.
pub async fn h2_connect(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<TestBody> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

/// A test HTTP server (HTTP/1 and h2c) answering with `handler`; runs until the test ends.
pub async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    serve_counting(handler).await.0
}

/// [`serve`], also counting the connections it accepted.
pub async fn serve_counting<F, Fut>(handler: F) -> (SocketAddr, Hits)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Hits::default();
    let counted = conns.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, conns)
}

/// A server that answers every request with `name` as the body and the request's
/// `host` in `x-seen-host` (plus any `x-*` request header echoed as `echo-x-*`).
pub async fn named(name: &'static str) -> SocketAddr {
    serve(move |req: Request<Incoming>| async move {
        let mut resp = Response::builder().header("x-served-by", name);
        if let Some(h) = req.headers().get("host") {
            resp = resp.header("x-seen-host", h.clone());
        }
        for (k, v) in req.headers() {
            if k.as_str().starts_with("x-") || k.as_str() == "traceparent" {
                resp = resp.header(format!("echo-{k}"), v.clone());
            }
        }
        resp.body(full(name)).unwrap()
    })
    .await
}

/// Sends a GET with `headers` to the proxy's outbound port: (status, headers, body).
pub async fn send(
    client: &Client<HttpConnector, TestBody>,
    proxy: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let mut b = Request::builder()
        .uri(format!("http://{proxy}{path}"))
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    request(client, b.body(full("")).unwrap()).await
}

/// Sends an empty-bodied `method` request to the proxy's outbound port.
pub async fn send_method(
    client: &Client<HttpConnector, TestBody>,
    proxy: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
) -> (u16, http::HeaderMap, String) {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{proxy}{path}"))
        .header("host", host)
        .body(full(""))
        .unwrap();
    request(client, req).await
}

/// Sends `req` and reads the whole answer: (status, headers, body as text).
pub async fn request(
    client: &Client<HttpConnector, TestBody>,
    req: Request<TestBody>,
) -> (u16, http::HeaderMap, String) {
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A config with one service `web` (authority `web.test`), `backends` (name, address) and
/// `routes` (YAML list items indented by 6 spaces, or empty for the default route).
pub fn web_service(backends: &[(&str, SocketAddr)], routes: &str) -> String {
    let mut yaml =
        String::from("services:\n  - name: web\n    authorities: [web.test]\n    backends:\n");
    for (name, addr) in backends {
        yaml.push_str(&format!(
            "      - {{ name: {name}, endpoints: [{{ addr: \"{addr}\" }}] }}\n"
        ));
    }
    if !routes.is_empty() {
        yaml.push_str("    routes:\n");
        yaml.push_str(routes);
    }
    yaml
}

/// `web.test` with one backend `v1` at `addr` and `policy` (a YAML flow map) on the service.
pub fn with_policy(addr: SocketAddr, policy: &str) -> String {
    format!(
        "services:\n  - name: web\n    authorities: [web.test]\n    policy: {policy}\n    \
         backends: [{{ name: v1, endpoints: [{{ addr: \"{addr}\" }}] }}]\n"
    )
}

/// A free 127.0.0.1 port, for a listener whose address the config must name up front.
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Shared counter for servers that count their requests.
pub type Hits = Arc<std::sync::atomic::AtomicUsize>;

/// `meshctl args…` (with NO_COLOR), run off the test's runtime.
pub fn run_meshctl(args: Vec<String>) -> tokio::task::JoinHandle<std::process::Output> {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run meshctl")
    })
}

/// One request sent byte for byte as `head` (no client library tidies it): (status, body).
pub async fn raw_request(addr: SocketAddr, head: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.read_to_string(&mut text),
    )
    .await
    .expect("an answer")
    .unwrap();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}
