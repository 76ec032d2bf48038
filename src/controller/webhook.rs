//! The proxy injector the API server calls (`POST /inject`, HTTPS on 8443): the serving
//! certificate of Secret `meshctl-webhook-tls` (reloaded when it changes, the last good one kept),
//! and the answer from [`crate::inject::review`], the pod's namespace read from the reflector
//! store (from the API when the store has not seen it, or not its opt-in, yet).

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::{Metrics, ReviewLabels};
use super::source::Source;
use crate::identity::pem::{PemError, PemFile};
use crate::identity::tls;
use crate::inject::review::{self, NamespaceMeta, ReviewOptions, Verdict};

pub const WEBHOOK_SECRET: &str = "meshctl-webhook-tls";
/// The API server caps a request at 3 MiB; a review carries the object once for a CREATE.
const MAX_BODY: usize = 8 << 20;
/// Answer this long before the API server's `timeout` so the answer still counts.
const MARGIN: Duration = Duration::from_millis(500);
/// The API server's default when the URL names no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A live namespace read must leave time to answer.
const NAMESPACE_READ_TIMEOUT: Duration = Duration::from_secs(2);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the webhook Secret cannot serve (the last good certificate stays in use).
#[derive(Debug, thiserror::Error)]
pub enum WebhookCertError {
    #[error(
        "Secret {secret} has no `{key}`; `meshctl install` writes it, `meshctl upgrade --apply` \
         restores it"
    )]
    Missing { secret: String, key: &'static str },
    #[error(transparent)]
    Pem(#[from] PemError),
    #[error("Secret {secret}: holds {count} private keys in tls.key; expected exactly one")]
    Keys { secret: String, count: usize },
    #[error("Secret {secret}: tls.crt and tls.key cannot serve TLS: {reason}")]
    Tls { secret: String, reason: String },
}

/// A TLS 1.2 + 1.3 server config (the API server is the client; no client certificate) from the
/// Secret's `tls.crt` (leaf first, then any intermediates) and `tls.key`.
pub fn server_config(
    namespace: &str,
    secret: &Secret,
) -> Result<Arc<ServerConfig>, WebhookCertError> {
    let name = format!("{namespace}/{WEBHOOK_SECRET}");
    let field = |key: &'static str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone())
            .ok_or_else(|| WebhookCertError::Missing {
                secret: name.clone(),
                key,
            })
    };
    let (cert_pem, key_pem) = (field("tls.crt")?, field("tls.key")?);
    let label = |key: &str| format!("Secret {name} {key}");
    let certs = PemFile::parse(Path::new(&label("tls.crt")), &cert_pem)?.into_certs()?;
    let mut keys = PemFile::parse(Path::new(&label("tls.key")), &key_pem)?.keys;
    if keys.len() != 1 {
        return Err(WebhookCertError::Keys {
            secret: name,
            count: keys.len(),
        });
    }
    let tls_error = |e: rustls::Error| WebhookCertError::Tls {
        secret: name.clone(),
        reason: e.to_string(),
    };
    let mut config = ServerConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(certs, keys.remove(0))
        .map_err(tls_error)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Watches the webhook Secret in `namespace` and publishes each good server config on `tx`.
pub async fn watch_cert(
    client: kube::Client,
    namespace: String,
    tx: watch::Sender<Option<Arc<ServerConfig>>>,
    reloads: prometheus_client::metrics::counter::Counter,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={WEBHOOK_SECRET}"));
    let events =
        watcher::watcher(Api::<Secret>::namespaced(client, &namespace), config).default_backoff();
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(secret) | Event::InitApply(secret)) => {
                match server_config(&namespace, &secret) {
                    Ok(config) => {
                        tracing::info!(namespace, "webhook serving certificate loaded");
                        reloads.inc();
                        tx.send_replace(Some(config));
                    }
                    Err(error) => tracing::error!(
                        %error,
                        "webhook serving certificate refused; keeping the last good one"
                    ),
                }
            }
            Ok(Event::Delete(_)) => tracing::error!(
                "the webhook Secret {namespace}/{WEBHOOK_SECRET} was deleted; serving with the \
                 last one loaded (`meshctl upgrade --apply` restores it)"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "watching the webhook Secret"),
        }
    }
}

/// What the injector's handlers share.
pub struct Injector {
    pub source: Arc<dyn Source>,
    /// For namespaces the store has not seen yet (created a moment before their first pod).
    pub client: kube::Client,
    pub options: ReviewOptions,
    pub metrics: Arc<Metrics>,
}

impl Injector {
    /// The namespace as the store has it; read from the API server when the store has not
    /// seen it or its opt-in yet (a label set just before the first pod: the API server
    /// matched it already, so the store may only be behind).
    async fn namespace(&self, name: &str) -> Option<NamespaceMeta> {
        let stored = self.source.namespace(name).map(|ns| meta(&ns));
        if stored.as_ref().is_some_and(opted_in) {
            return stored;
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        match tokio::time::timeout(NAMESPACE_READ_TIMEOUT, api.get_opt(name)).await {
            Ok(Ok(Some(ns))) => Some(meta(&ns)),
            Ok(Ok(None)) => stored,
            Ok(Err(error)) => {
                tracing::warn!(namespace = name, %error, "reading the pod's namespace");
                stored
            }
            Err(_) => stored,
        }
    }

    /// Answers one review body: HTTP status and the AdmissionReview response.
    pub async fn review(&self, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let request = match review::parse(body) {
            Ok(request) => request,
            Err(malformed) => {
                self.count("malformed");
                tracing::warn!(error = %malformed.error, "malformed AdmissionReview");
                return (
                    StatusCode::BAD_REQUEST,
                    review::malformed_response(&malformed),
                );
            }
        };
        let namespace = self.namespace(&request.namespace).await;
        let verdict = review::answer(&request, namespace.as_ref(), &self.options);
        self.count(match &verdict {
            Verdict::Patch(_) => "injected",
            Verdict::Allow(_) => "skipped",
            Verdict::Refuse(..) => "refused",
        });
        if let Verdict::Refuse(_, message) = &verdict {
            tracing::info!(namespace = request.namespace, message, "pod refused");
        }
        (StatusCode::OK, review::response(&request.uid, &verdict))
    }

    fn count(&self, result: &'static str) {
        self.metrics
            .webhook_reviews
            .get_or_create(&ReviewLabels { result })
            .inc();
    }
}

fn meta(ns: &Namespace) -> NamespaceMeta {
    NamespaceMeta {
        name: ns.metadata.name.clone().unwrap_or_default(),
        labels: ns.metadata.labels.clone().unwrap_or_default(),
        annotations: ns.metadata.annotations.clone().unwrap_or_default(),
    }
}

/// Whether the namespace carries any opt-in or opt-out the injector reads.
fn opted_in(ns: &NamespaceMeta) -> bool {
    let keys = [
        crate::inject::config::INJECT_ANNOTATION,
        review::ISTIO_NAMESPACE_LABEL,
        review::LINKERD_ANNOTATION,
    ];
    keys.iter()
        .any(|k| ns.labels.contains_key(*k) || ns.annotations.contains_key(*k))
}

/// The API server's `?timeout=10s` on the webhook URL, less a margin.
fn deadline(req: &Request<Incoming>) -> Duration {
    let asked = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("timeout="))
        .and_then(|t| t.parse::<crate::model::duration::Duration>().ok())
        .map_or(DEFAULT_TIMEOUT, |d| d.get());
    asked.saturating_sub(MARGIN).max(Duration::from_millis(200))
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

async fn handle(injector: Arc<Injector>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    const JSON: &str = "application/json";
    if req.uri().path() != "/inject" {
        return respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"not found: the injector answers AdmissionReviews on POST /inject\n".to_vec(),
        );
    }
    if req.method() != Method::POST {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            b"POST an AdmissionReview to /inject\n".to_vec(),
        );
    }
    let started = Instant::now();
    let deadline = deadline(&req);
    let answered = tokio::time::timeout(deadline, async {
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => {
                let message = format!(
                    "meshctl injector: the AdmissionReview could not be read whole (at most \
                     {MAX_BODY} bytes): {error}"
                );
                return (
                    StatusCode::BAD_REQUEST,
                    review::response("", &Verdict::Refuse(400, message)),
                );
            }
        };
        injector.review(&body).await
    })
    .await;
    let (status, body) = answered.unwrap_or_else(|_| {
        injector.count("timeout");
        tracing::warn!(?deadline, "an AdmissionReview was not answered in time");
        let message = format!("meshctl injector: no answer within {deadline:?}");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            review::response("", &Verdict::Refuse(503, message)),
        )
    });
    injector
        .metrics
        .webhook_seconds
        .observe(started.elapsed().as_secs_f64());
    respond(status, JSON, body)
}

/// Serves HTTPS on `listener` once a certificate is loaded, each connection with the one in
/// force when it was accepted. Runs until the task is aborted.
pub async fn serve(
    listener: TcpListener,
    mut config: watch::Receiver<Option<Arc<ServerConfig>>>,
    injector: Arc<Injector>,
) {
    while config.borrow_and_update().is_none() {
        if config.changed().await.is_err() {
            return;
        }
    }
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "webhook accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(current) = config.borrow().clone() else {
            continue;
        };
        let injector = injector.clone();
        tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(current);
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::info!(%remote, %error, "webhook TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let svc = service_fn(move |req| {
                let injector = injector.clone();
                async move { Ok::<_, Infallible>(handle(injector, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
