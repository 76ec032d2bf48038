//! The checks, in the order they run: ids, what they check, what to do when they fail.
//! `meshctl check --list` prints this, so the documentation cannot drift from the code.

use std::time::Duration;

use serde::Serialize;

/// Which checks a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Before installing (`--pre`).
    Pre,
    /// After installing (the default).
    Post,
    /// The data plane: meshed pods' proxies (`--proxy`).
    Proxy,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub category: &'static str,
    pub id: &'static str,
    pub description: &'static str,
    pub hint: &'static str,
    /// A failure skips every check after it.
    pub fatal: bool,
    #[serde(skip)]
    pub timeout: Duration,
    #[serde(skip)]
    pub runs: Runs,
}

/// Which modes a check runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    Both,
    PreOnly,
    PostOnly,
    ProxyOnly,
}

const T: Duration = Duration::from_secs(10);
/// The `mesh-config` check reads the whole cluster.
pub const CONFIG_TIMEOUT: Duration = Duration::from_secs(30);

const fn spec(
    category: &'static str,
    id: &'static str,
    description: &'static str,
    hint: &'static str,
    fatal: bool,
    runs: Runs,
) -> Spec {
    Spec {
        category,
        id,
        description,
        hint,
        fatal,
        timeout: T,
        runs,
    }
}

const K8S: &str = "kubernetes-api";
const PRE: &str = "pre-install";
const CONTROL: &str = "control-plane";
const IDENTITY: &str = "identity";
const DATA: &str = "data-plane";
const INJECTION: &str = "injection";

pub const SPECS: &[Spec] = &[
    spec(
        K8S,
        "kubernetes-api",
        "can reach the Kubernetes API server",
        "check --kubeconfig/--context and that the cluster runs (`kubectl cluster-info`)",
        true,
        Runs::Both,
    ),
    spec(
        K8S,
        "kubernetes-version",
        "the server is Kubernetes 1.29 or newer",
        "native sidecars need 1.29; on older clusters inject with --native-sidecar=false",
        false,
        Runs::Both,
    ),
    spec(
        PRE,
        "install-permissions",
        "you can create every kind the install creates",
        "ask a cluster admin for these rights, or have them run `meshctl install`",
        false,
        Runs::PreOnly,
    ),
    spec(
        PRE,
        "no-install-yet",
        "meshctl is not installed yet",
        "use `meshctl upgrade` to change an existing install",
        false,
        Runs::PreOnly,
    ),
    spec(
        PRE,
        "clock-skew",
        "this machine's clock agrees with the API server's (within 5s)",
        "sync the clocks (NTP): certificate validity depends on them",
        false,
        Runs::PreOnly,
    ),
    spec(
        PRE,
        "config-crds",
        "the config-API CRDs already there, and whose they are",
        "CRDs another product owns are kept; meshctl uses them as they are",
        false,
        Runs::PreOnly,
    ),
    spec(
        PRE,
        "pod-security",
        "no namespace's Pod Security level rejects the init step",
        "the proxy-init container needs NET_ADMIN/NET_RAW: label those namespaces \
          pod-security.kubernetes.io/enforce=privileged, or do not mesh them",
        false,
        Runs::PreOnly,
    ),
    spec(
        CONTROL,
        "namespace",
        "the mesh's namespace exists",
        "install with `meshctl install --apply` (or pass -n NAMESPACE)",
        true,
        Runs::PostOnly,
    ),
    spec(
        CONTROL,
        "crds-established",
        "meshctl's CRDs exist and are Established",
        "re-apply with `meshctl upgrade --apply`",
        false,
        Runs::PostOnly,
    ),
    spec(
        CONTROL,
        "values-config",
        "the install's values ConfigMap is readable",
        "re-apply with `meshctl upgrade --apply`",
        false,
        Runs::PostOnly,
    ),
    spec(
        CONTROL,
        "controller-ready",
        "the controller Deployment is available",
        "look at `kubectl -n meshctl-system describe deploy meshctl-controller` and its pods",
        false,
        Runs::PostOnly,
    ),
    spec(
        CONTROL,
        "controller-version",
        "the controller pods run this CLI's version (their /metrics, through the API server)",
        "upgrade the control plane with `meshctl upgrade --apply`, or use the matching CLI",
        false,
        Runs::PostOnly,
    ),
    spec(
        CONTROL,
        "controller-proxies",
        "the controller replicas answer and no proxy refused the config it was sent",
        "read the refusal in the controller's log and the proxy's (`kubectl logs POD -c meshctl-proxy`)",
        false,
        Runs::PostOnly,
    ),
    Spec {
        // Lists every Service, EndpointSlice, Pod, Namespace and config object.
        timeout: CONFIG_TIMEOUT,
        ..spec(
            CONTROL,
            "mesh-config",
            "the cluster's config translates as written (what the controller reads), e.g. no \
              STRICT mTLS over pods that receive traffic without a proxy",
            "`meshctl analyze` names every finding with its object and field",
            false,
            Runs::PostOnly,
        )
    },
    spec(
        CONTROL,
        "webhook-ca-bundle",
        "the injector webhook exists and its caBundle verifies the serving certificate",
        "re-apply with `meshctl upgrade --apply` to restore the webhook and its certificates",
        false,
        Runs::PostOnly,
    ),
    spec(
        INJECTION,
        "webhook-admission",
        "the API server can call the injector: a dry-run pod in an injection-enabled namespace \
          gets the proxy",
        "while the injector is down, pods in injection-enabled namespaces are refused \
          (failurePolicy Fail): look at `kubectl -n meshctl-system logs deploy/meshctl-controller` \
          and `kubectl get endpoints -n meshctl-system meshctl-controller`",
        false,
        Runs::PostOnly,
    ),
    spec(
        INJECTION,
        "injection-unmeshed-pods",
        "every pod in an injection-enabled namespace runs with the proxy",
        "the injector sees pods only when they are created: `kubectl rollout restart <owner>`",
        false,
        Runs::PostOnly,
    ),
    spec(
        INJECTION,
        "injection-foreign-labels",
        "namespaces opting in with Istio's or Linkerd's key, or by annotation only",
        "label them meshctl.io/inject=enabled, or accept the foreign keys with \
          `meshctl upgrade --apply --set injection.acceptForeignLabels=true`",
        false,
        Runs::PostOnly,
    ),
    spec(
        IDENTITY,
        "identity-certs",
        "trust anchor and issuer parse, are ECDSA P-256, chain, and are valid for 60+ days",
        "rotate with `meshctl certs create` and `meshctl upgrade --apply --identity-*-file ...`",
        false,
        Runs::PostOnly,
    ),
    spec(
        DATA,
        "data-plane-pods",
        "there are meshed pods to check (finished and evicted ones are skipped)",
        "mesh a workload: `kubectl get deploy -n NS -o yaml | meshctl inject - | kubectl apply -f -`",
        false,
        Runs::ProxyOnly,
    ),
    spec(
        DATA,
        "proxy-ready",
        "every meshed pod's proxy container is ready",
        "look at the proxy's log: `kubectl logs POD -c meshctl-proxy -n NS`",
        false,
        Runs::ProxyOnly,
    ),
    spec(
        DATA,
        "proxy-version",
        "every proxy answers on its admin port (through the API server) and runs this CLI's version",
        "restart old pods after an upgrade (`kubectl rollout restart`); an unreachable admin \
          port needs `pods/proxy` rights and a proxy listening on 4191",
        false,
        Runs::ProxyOnly,
    ),
    spec(
        DATA,
        "proxy-identity",
        "every proxy's certificate is valid and chains to the current trust anchor, and its \
          trust roots are the cluster's",
        "restart the pod to get a new certificate (`kubectl rollout restart`)",
        false,
        Runs::ProxyOnly,
    ),
    spec(
        DATA,
        "proxy-config-version",
        "every proxy runs the config version the controller last sent it",
        "look at the controller's and the proxy's logs; a proxy not subscribed lacks MESHCTL_CONTROLLER_ADDR or cannot reach the controller",
        false,
        Runs::ProxyOnly,
    ),
];

/// The checks of `mode`, in order.
pub fn catalogue(mode: Mode) -> impl Iterator<Item = &'static Spec> {
    SPECS.iter().filter(move |s| match s.runs {
        Runs::Both => true,
        Runs::PreOnly => mode == Mode::Pre,
        Runs::PostOnly => mode == Mode::Post,
        Runs::ProxyOnly => mode == Mode::Proxy,
    })
}
