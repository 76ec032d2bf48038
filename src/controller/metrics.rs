//! The controller's own metrics (`/metrics` on its admin port).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::token_review::FailureLabels;

/// How the webhook answered one review.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// `injected`, `skipped`, `refused` or `malformed`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub subscribed: Gauge,
    pub pushes: Counter,
    pub acks: Counter,
    pub nacks: Counter,
    /// From the change seen to the proxy's ack of the config carrying it.
    pub push_latency: Histogram,
    pub issued: Counter,
    pub token_review_failures: Family<FailureLabels, Counter>,
    pub trust_reloads: Counter,
    pub translations: Counter,
    pub translation_seconds: Histogram,
    pub findings: Gauge,
    pub webhook_reviews: Family<ReviewLabels, Counter>,
    /// From the review's body read to its answer written.
    pub webhook_seconds: Histogram,
    pub webhook_cert_reloads: Counter,
    /// 1 while this replica holds the leader Lease (drives canaries).
    pub leader: Gauge,
    pub route_status_writes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        // `process_*` unprefixed, as every exporter names them; the rest `meshctl_controller_`.
        let mut root = Registry::default();
        root.register_collector(Box::new(crate::exposition::Process));
        let registry = root.sub_registry_with_prefix("meshctl_controller");
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("build_info", "The controller's version", build);
        let seconds = || {
            Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        };
        let m = Self {
            subscribed: Gauge::default(),
            pushes: Counter::default(),
            acks: Counter::default(),
            nacks: Counter::default(),
            push_latency: seconds(),
            issued: Counter::default(),
            token_review_failures: Family::default(),
            trust_reloads: Counter::default(),
            translations: Counter::default(),
            translation_seconds: seconds(),
            findings: Gauge::default(),
            webhook_reviews: Family::default(),
            webhook_seconds: seconds(),
            webhook_cert_reloads: Counter::default(),
            leader: Gauge::default(),
            route_status_writes: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "discovery_proxies_subscribed",
            "Proxies with an open discovery stream",
            m.subscribed.clone(),
        );
        registry.register(
            "discovery_pushes",
            "Config versions sent to proxies",
            m.pushes.clone(),
        );
        registry.register(
            "discovery_acks",
            "Config versions proxies applied",
            m.acks.clone(),
        );
        registry.register(
            "discovery_nacks",
            "Config versions proxies refused (they keep the last good one)",
            m.nacks.clone(),
        );
        registry.register(
            "discovery_push_latency_seconds",
            "From a change seen to the proxy's ack of the config carrying it",
            m.push_latency.clone(),
        );
        registry.register(
            "identity_certificates_issued",
            "Leaf certificates signed",
            m.issued.clone(),
        );
        registry.register(
            "identity_token_review_failures",
            "Certificate requests refused after a TokenReview",
            m.token_review_failures.clone(),
        );
        registry.register(
            "identity_trust_reloads",
            "Issuer and trust roots (re)loaded",
            m.trust_reloads.clone(),
        );
        registry.register(
            "translations",
            "Translations of the cluster's objects into proxy config",
            m.translations.clone(),
        );
        registry.register(
            "translation_seconds",
            "Time one translation took",
            m.translation_seconds.clone(),
        );
        registry.register(
            "translation_findings",
            "Findings of the last translation (unsupported fields, conflicts, dangling references)",
            m.findings.clone(),
        );
        registry.register(
            "webhook_reviews",
            "AdmissionReviews the injector answered, by result",
            m.webhook_reviews.clone(),
        );
        registry.register(
            "webhook_review_seconds",
            "Time the injector took to answer one AdmissionReview",
            m.webhook_seconds.clone(),
        );
        registry.register(
            "webhook_certificate_reloads",
            "Serving certificates (re)loaded from the webhook Secret",
            m.webhook_cert_reloads.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and drives canaries",
            m.leader.clone(),
        );
        registry.register(
            "route_status_writes",
            "Status patches of HTTPRoutes and GRPCRoutes (the leader writes one when a route's \
             status changes)",
            m.route_status_writes.clone(),
        );
        Self {
            registry: root,
            ..m
        }
    }
}

impl Metrics {
    pub fn observe_translation(&self, took: Duration, findings: usize) {
        self.translations.inc();
        self.translation_seconds.observe(took.as_secs_f64());
        self.findings
            .set(i64::try_from(findings).unwrap_or(i64::MAX));
    }

    /// The exposition in `format`.
    pub fn encode(&self, format: crate::exposition::Format) -> String {
        // Writing to a String cannot fail.
        crate::exposition::encode(&self.registry, format).unwrap_or_default()
    }
}
