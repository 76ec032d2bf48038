//! Distributed tracing: every HTTP request, inbound (`SERVER`) and outbound (`CLIENT`),
//! continues the caller's trace (W3C `traceparent`, B3) or starts one, passes this hop's
//! span on as the parent, and, when sampled, becomes an OTLP span sent to the collector.
//!
//! Without an endpoint nothing is recorded: a `traceparent` or B3 context that came in
//! still gets this hop's span id, as before tracing existed, and nothing is added.

mod context;
mod export;
mod sampler;
mod span;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use http::Request;

use crate::api::opentelemetry::proto::resource::v1::Resource;
use crate::model::tracing::Tracing;

use context::{Formats, Hop, Incoming};
pub use export::Counters;
use export::{Otlp, Queue};
use sampler::Sampler;
use span::Pending;
pub use span::{End, Kind};

/// Who the spans come from (their resource), where known.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    /// `service.name`, when the config names none.
    pub service_name: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// The proxy's mesh identity, for its side of mTLS requests.
    pub identity: Option<String>,
}

/// The exporter: its task, run beside the listeners, and what tells it to send what it
/// holds and stop (at shutdown, once requests have drained).
pub struct Exporter {
    pub task: Pin<Box<dyn Future<Output = ()> + Send>>,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

/// The endpoint could not be made into a gRPC channel.
#[derive(Debug, thiserror::Error)]
#[error("tracing.endpoint {endpoint:?}: {cause}; give host:port of an OTLP/gRPC collector")]
pub struct TraceError {
    endpoint: String,
    cause: tonic::transport::Error,
}

/// The proxy's tracer; one per process.
#[derive(Debug)]
pub struct Tracer {
    sampler: Sampler,
    /// None: no endpoint, tracing off.
    queue: Option<Queue>,
    identity: Option<String>,
}

/// A sampled request's span in the making; `None` for every other request.
pub type Started = Option<Pending>;

impl Tracer {
    /// Tracing off: contexts that come in get this hop's span id, nothing is recorded.
    pub fn off() -> Self {
        Self {
            sampler: Sampler::new(0.0),
            queue: None,
            identity: None,
        }
    }

    /// The tracer `config` asks for, and its export task (None when tracing is off).
    pub fn new(
        config: &Tracing,
        workload: &Workload,
        counters: Counters,
    ) -> Result<(Self, Option<Exporter>), TraceError> {
        let Some(endpoint) = &config.endpoint else {
            return Ok((Self::off(), None));
        };
        let otlp = Otlp::new(endpoint).map_err(|cause| TraceError {
            endpoint: endpoint.clone(),
            cause,
        })?;
        let (queue, rx) = Queue::new(export::QUEUE, counters.clone());
        let resource = resource(config, workload);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = Box::pin(export::run(rx, resource, otlp, counters, stopped));
        let tracer = Self {
            sampler: Sampler::new(config.sampling),
            queue: Some(queue),
            identity: workload.identity.clone(),
        };
        Ok((tracer, Some(Exporter { task, stop })))
    }

    /// Takes this hop's place in the request's trace (rewriting its context headers) and
    /// returns its span in the making if it is sampled. `authority` is the request's.
    pub fn start<B>(&self, req: &mut Request<B>, kind: Kind, authority: &str) -> Started {
        let incoming = Incoming::read(req.headers());
        let on = self.queue.is_some();
        if !on && incoming.parent.is_none() {
            return None;
        }
        let (trace, parent) = match incoming.parent {
            Some((trace, span)) => (trace, Some(span)),
            None => (fastrand::u128(1..), None),
        };
        let hop = Hop {
            trace,
            span: fastrand::u64(1..),
            parent,
            sampled: self.sampler.sampled(incoming.sampled, trace),
        };
        // On, the decision always travels as `traceparent`, so the next proxy keeps it.
        let formats = Formats {
            w3c: on || incoming.formats.w3c,
            ..incoming.formats
        };
        hop.write(req.headers_mut(), formats);
        (on && hop.sampled).then(|| Pending {
            hop,
            kind,
            start: SystemTime::now(),
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            authority: authority.to_owned(),
            version: req.version(),
        })
    }

    /// Ends a sampled request's span, `took` after it started, and queues it for export.
    pub fn end(&self, started: Started, took: Duration, end: &End<'_>) {
        let (Some(pending), Some(queue)) = (started, &self.queue) else {
            return;
        };
        // Over mTLS the proxy's own identity is the other side's (the peer's is in `end`).
        let own = self.identity.as_deref();
        let end = match pending.kind {
            Kind::Client if end.server_id.is_some() => End {
                client_id: end.client_id.or(own),
                ..*end
            },
            Kind::Server if end.client_id.is_some() => End {
                server_id: end.server_id.or(own),
                ..*end
            },
            _ => *end,
        };
        queue.push(pending.finish(took, &end));
    }
}

fn resource(config: &Tracing, workload: &Workload) -> Resource {
    let service = config
        .service_name
        .as_deref()
        .or(workload.service_name.as_deref())
        .unwrap_or("meshctl-proxy");
    let attributes = [
        ("service.name", Some(service)),
        ("k8s.namespace.name", workload.namespace.as_deref()),
        ("k8s.pod.name", workload.pod.as_deref()),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some(span::string(key, value?)))
    .collect();
    Resource {
        attributes,
        ..Resource::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sampling: f64) -> Tracing {
        Tracing {
            // Never dialled: the channel connects lazily and these tests send nothing.
            endpoint: Some("127.0.0.1:9".into()),
            sampling,
            service_name: None,
        }
    }

    fn request(headers: &[(&'static str, &'static str)]) -> Request<()> {
        let mut req = Request::get("/x").body(()).unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(*k, v.parse().unwrap());
        }
        req
    }

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[tokio::test]
    async fn off_a_context_gets_a_new_span_id_and_none_is_added() {
        let tracer = Tracer::off();
        let mut req = request(&[]);
        assert!(tracer.start(&mut req, Kind::Client, "web").is_none());
        assert!(req.headers().is_empty());
        let mut req = request(&[("traceparent", PARENT)]);
        assert!(tracer.start(&mut req, Kind::Client, "web").is_none());
        let seen = req.headers()["traceparent"].to_str().unwrap();
        assert_eq!((&seen[..36], &seen[52..]), (&PARENT[..36], "-01"));
        assert_ne!(seen, PARENT);
    }

    #[tokio::test]
    async fn on_the_callers_decision_is_kept_and_a_new_trace_carries_the_rates() {
        let (all, _task) =
            Tracer::new(&config(1.0), &Workload::default(), Counters::default()).expect("tracer");
        // A new trace, sampled: the span's ids are the ones sent on.
        let mut req = request(&[]);
        let started = all.start(&mut req, Kind::Client, "web").expect("sampled");
        let sent = Incoming::read(req.headers());
        assert_eq!(sent.parent, Some((started.hop.trace, started.hop.span)));
        assert_eq!((sent.sampled, started.hop.parent), (Some(true), None));
        // The caller said no: nothing recorded, and "no" is passed on.
        let mut req = request(&[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        )]);
        assert!(all.start(&mut req, Kind::Server, "web").is_none());
        assert_eq!(Incoming::read(req.headers()).sampled, Some(false));
        // A rate of 0 records nothing, but the caller's yes still wins, with its parent.
        let (none, _task) =
            Tracer::new(&config(0.0), &Workload::default(), Counters::default()).expect("tracer");
        let mut req = request(&[]);
        assert!(none.start(&mut req, Kind::Client, "web").is_none());
        assert_eq!(Incoming::read(req.headers()).sampled, Some(false));
        let mut req = request(&[("traceparent", PARENT)]);
        let started = none
            .start(&mut req, Kind::Server, "web")
            .expect("parent sampled");
        assert_eq!(started.hop.parent, Some(0xb7ad6b7169203331));
        assert_eq!(started.hop.trace, 0x0af7651916cd43dd8448eb211c80319c);
        // B3 in, B3 and traceparent out.
        let mut req = request(&[("b3", "463ac35c9f6413ad-0020000000000001-1")]);
        let started = none.start(&mut req, Kind::Client, "web").expect("sampled");
        let b3 = req.headers()["b3"].to_str().unwrap();
        assert!(b3.starts_with("463ac35c9f6413ad-"), "{b3}");
        assert!(b3.ends_with("-1-0020000000000001"), "{b3}");
        assert_eq!(
            Incoming::read(req.headers()).parent,
            Some((0x463ac35c9f6413ad, started.hop.span))
        );
    }

    use crate::api::opentelemetry::proto::common::v1::any_value;

    #[test]
    fn the_resource_names_the_workload() {
        let workload = Workload {
            service_name: Some("web".into()),
            namespace: Some("shop".into()),
            pod: Some("web-1".into()),
            identity: None,
        };
        let r = resource(&Tracing::default(), &workload);
        let keys: Vec<_> = r.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["service.name", "k8s.namespace.name", "k8s.pod.name"]);
        let named = Tracing {
            service_name: Some("checkout".into()),
            ..Tracing::default()
        };
        let r = resource(&named, &Workload::default());
        assert_eq!(r.attributes.len(), 1);
        let v = r.attributes[0].value.as_ref().and_then(|v| v.value.clone());
        assert_eq!(v, Some(any_value::Value::StringValue("checkout".into())));
    }
}
