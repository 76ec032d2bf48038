//! The admission webhook's answer: an AdmissionReview v1 for a Pod CREATE in, its response out
//! (an RFC 6902 patch from the same [`inject_object`] as `meshctl inject`, or why the pod is
//! left alone). Pure: the controller looks the namespace up and serves the bytes.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::config::{self, INJECT_ANNOTATION, InjectMode};
use super::report::Action;
use super::{InjectOptions, Overrides, inject_object, uninject, workload};

/// Istio's namespace opt-in label, accepted with `injection.acceptForeignLabels`.
pub const ISTIO_NAMESPACE_LABEL: &str = "istio-injection";
/// Istio's pod opt-out (label or annotation, `"false"`).
pub const ISTIO_POD_KEY: &str = "sidecar.istio.io/inject";
/// Linkerd's opt-in/out annotation (namespace or pod), accepted with `acceptForeignLabels`.
pub const LINKERD_ANNOTATION: &str = "linkerd.io/inject";

/// The API version of the reviews the webhook answers.
pub const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";

/// What the webhook knows of a pod's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceMeta {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// How the webhook injects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewOptions {
    /// Pods here are never injected (the controller's own).
    pub mesh_namespace: String,
    /// `istio-injection=enabled` and `linkerd.io/inject: enabled` opt a namespace in too.
    pub accept_foreign_labels: bool,
    /// Settings the controller was started with (annotations override them), as CLI flags are.
    pub overrides: Overrides,
}

/// A body that is not an answerable AdmissionReview.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("the request body is not JSON ({0}); the API server sends an AdmissionReview")]
    NotJson(String),
    #[error(
        "the body is not an {REVIEW_API_VERSION} AdmissionReview (apiVersion {api_version:?}, \
         kind {kind:?}); set `admissionReviewVersions: [v1]` in the webhook configuration"
    )]
    NotReview { api_version: String, kind: String },
    #[error("the AdmissionReview has no `request`")]
    NoRequest,
    #[error("the AdmissionReview's `request.{field}` {problem}")]
    Field {
        field: &'static str,
        problem: &'static str,
    },
}

/// A malformed review, with its uid when it could be read (the response must echo it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub uid: String,
    pub error: ReviewError,
}

/// The parts of an AdmissionReview request the webhook uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub uid: String,
    /// `request.kind`: group (empty for core), version, kind.
    pub group: String,
    pub kind: String,
    pub operation: String,
    /// `request.namespace`, else the object's `metadata.namespace`.
    pub namespace: String,
    pub object: Option<Value>,
}

/// What the webhook answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Admit with this patch (the pod gets the proxy).
    Patch(json_patch::Patch),
    /// Admit unchanged; the warning says why it was not injected.
    Allow(Option<String>),
    /// Refuse the pod: HTTP-style code and a message for the user.
    Refuse(u16, String),
}

/// Reads an AdmissionReview body.
pub fn parse(body: &[u8]) -> Result<Request, Malformed> {
    let fail = |uid: &str, error| Malformed {
        uid: uid.to_owned(),
        error,
    };
    let review: Value =
        serde_json::from_slice(body).map_err(|e| fail("", ReviewError::NotJson(e.to_string())))?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let (api_version, kind) = (text(&review, "apiVersion"), text(&review, "kind"));
    if api_version.as_deref() != Some(REVIEW_API_VERSION)
        || kind.as_deref() != Some("AdmissionReview")
    {
        return Err(fail(
            "",
            ReviewError::NotReview {
                api_version: api_version.unwrap_or_default(),
                kind: kind.unwrap_or_default(),
            },
        ));
    }
    let Some(request) = review.get("request").filter(|r| r.is_object()) else {
        return Err(fail("", ReviewError::NoRequest));
    };
    let uid = match text(request, "uid") {
        Some(uid) if !uid.is_empty() => uid,
        _ => {
            return Err(fail(
                "",
                ReviewError::Field {
                    field: "uid",
                    problem: "is missing or empty",
                },
            ));
        }
    };
    let Some(gvk) = request.get("kind").filter(|k| k.is_object()) else {
        return Err(fail(
            &uid,
            ReviewError::Field {
                field: "kind",
                problem: "is missing or not a map",
            },
        ));
    };
    let Some(operation) = text(request, "operation") else {
        return Err(fail(
            &uid,
            ReviewError::Field {
                field: "operation",
                problem: "is missing or not a string",
            },
        ));
    };
    let object = request.get("object").filter(|o| !o.is_null()).cloned();
    let namespace = text(request, "namespace")
        .filter(|n| !n.is_empty())
        .or_else(|| text(object.as_ref()?.get("metadata")?, "namespace"))
        .unwrap_or_default();
    Ok(Request {
        uid,
        group: text(gvk, "group").unwrap_or_default(),
        kind: text(gvk, "kind").unwrap_or_default(),
        operation,
        namespace,
        object,
    })
}

/// Decides what to do with the request's pod, given its namespace (`None`: unknown).
pub fn answer(
    request: &Request,
    namespace: Option<&NamespaceMeta>,
    options: &ReviewOptions,
) -> Verdict {
    if !(request.group.is_empty() && request.kind == "Pod" && request.operation == "CREATE") {
        // The configuration sends only Pod CREATEs; anything else passes untouched.
        return Verdict::Allow(None);
    }
    let Some(pod) = request.object.as_ref().filter(|o| o.is_object()) else {
        return Verdict::Refuse(
            400,
            "the AdmissionReview's `request.object` is missing or not a map: the injector \
             needs the pod being created"
                .to_owned(),
        );
    };
    let pod_map = pod.as_object().expect("filtered to a map");
    let name = workload::display_name(pod_map);
    let ns = request.namespace.as_str();
    if ns.is_empty() {
        return Verdict::Refuse(
            400,
            format!("{name}: the AdmissionReview names no namespace"),
        );
    }
    if ns == options.mesh_namespace || ns == "kube-system" {
        return skip(&name, &format!("pods in namespace {ns} are never injected"));
    }
    match opt_in(pod_map, ns, namespace, options.accept_foreign_labels) {
        Err(message) => return Verdict::Refuse(400, format!("{name} {message}")),
        Ok(Opt::Out(reason)) => return skip(&name, &reason),
        Ok(Opt::In) => {}
    }
    if uninject::is_injected(pod_map) {
        return skip(
            &name,
            "it already carries the proxy (its template was injected by `meshctl inject`)",
        );
    }
    let inject = InjectOptions {
        overrides: options.overrides.clone(),
        annotate_only: false,
        // hostNetwork pods and other meshes' sidecars are admitted as they are, with a warning.
        skip_uninjectable: true,
        namespace_annotations: namespace.map(settings_annotations),
    };
    match inject_object(pod, &inject) {
        Err(error) => Verdict::Refuse(400, error.to_string()),
        Ok((Some(after), _)) => Verdict::Patch(json_patch::diff(pod, &after)),
        Ok((None, entry)) => match entry.action {
            Action::Skipped(reason) => skip(&name, &reason),
            other => skip(&name, &format!("{other:?}")),
        },
    }
}

fn skip(name: &str, reason: &str) -> Verdict {
    Verdict::Allow(Some(format!("meshctl: {name} not injected: {reason}")))
}

enum Opt {
    In,
    Out(String),
}

/// Whether the pod opts in: its own `meshctl.io/inject` (annotation, then label) wins, then
/// its namespace's (annotation, then label), then the foreign keys when accepted. The error
/// names a bad `meshctl.io/inject` annotation.
fn opt_in(
    pod: &Map<String, Value>,
    ns: &str,
    namespace: Option<&NamespaceMeta>,
    foreign: bool,
) -> Result<Opt, String> {
    let annotations = workload::annotations(pod);
    let labels = pod
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object);
    let pod_label = |key: &str| labels?.get(key)?.as_str();
    let pod_annotation = |key: &str| annotations?.get(key)?.as_str();
    let mode = config::inject_mode(&[annotations]).map_err(|e| format!("has a {e}"))?;
    match (mode, pod_label(INJECT_ANNOTATION)) {
        (InjectMode::Enabled, _) | (InjectMode::Unset, Some("enabled")) => return Ok(Opt::In),
        (InjectMode::Disabled, _) => {
            return Ok(Opt::Out(format!(
                "the pod's annotation {INJECT_ANNOTATION} is disabled"
            )));
        }
        (InjectMode::Unset, Some("disabled")) => {
            return Ok(Opt::Out(format!(
                "the pod's label {INJECT_ANNOTATION} is disabled"
            )));
        }
        _ => {}
    }
    if foreign {
        let istio = pod_label(ISTIO_POD_KEY).or_else(|| pod_annotation(ISTIO_POD_KEY));
        if istio == Some("false") {
            return Ok(Opt::Out(format!("the pod says {ISTIO_POD_KEY}: \"false\"")));
        }
        match pod_annotation(LINKERD_ANNOTATION) {
            Some("disabled") => {
                return Ok(Opt::Out(format!(
                    "the pod's annotation {LINKERD_ANNOTATION} is disabled"
                )));
            }
            Some("enabled") => return Ok(Opt::In),
            _ => {}
        }
    }
    let Some(namespace) = namespace else {
        return Ok(Opt::Out(format!(
            "namespace {ns} is unknown to the injector and the pod does not opt in"
        )));
    };
    let ns_annotation = namespace.annotations.get(INJECT_ANNOTATION);
    let ns_label = namespace.labels.get(INJECT_ANNOTATION);
    match ns_annotation.or(ns_label).map(String::as_str) {
        Some("enabled") => return Ok(Opt::In),
        Some("disabled") => {
            return Ok(Opt::Out(format!(
                "namespace {ns} says {INJECT_ANNOTATION}: disabled"
            )));
        }
        _ => {}
    }
    if foreign {
        let istio = namespace.labels.get(ISTIO_NAMESPACE_LABEL);
        let linkerd = namespace
            .annotations
            .get(LINKERD_ANNOTATION)
            .or_else(|| namespace.labels.get(LINKERD_ANNOTATION));
        if istio.is_some_and(|v| v == "enabled") || linkerd.is_some_and(|v| v == "enabled") {
            return Ok(Opt::In);
        }
    }
    Ok(Opt::Out(format!(
        "namespace {ns} does not opt in (label it {INJECT_ANNOTATION}=enabled)"
    )))
}

/// The webhook entry (templates/webhook.yaml) through which the API server calls the injector
/// for every pod of `ns` not opted out, if one does: the selectors there and this agree.
pub fn namespace_entry(
    ns: &NamespaceMeta,
    mesh_namespace: &str,
    accept_foreign_labels: bool,
) -> Option<&'static str> {
    if ns.name == mesh_namespace || ns.name == "kube-system" {
        return None;
    }
    let label = |key: &str| ns.labels.get(key).map(String::as_str);
    match label(INJECT_ANNOTATION) {
        Some("enabled") => return Some("namespace.inject.meshctl.io"),
        Some(_) => return None,
        None => {}
    }
    if !accept_foreign_labels {
        return None;
    }
    if label(ISTIO_NAMESPACE_LABEL) == Some("enabled") {
        Some("istio.inject.meshctl.io")
    } else if label(LINKERD_ANNOTATION) == Some("enabled") {
        Some("linkerd.inject.meshctl.io")
    } else {
        None
    }
}

/// The namespace's `meshctl.io/` settings annotations, as a layer under the pod's.
fn settings_annotations(namespace: &NamespaceMeta) -> Map<String, Value> {
    namespace
        .annotations
        .iter()
        .filter(|(k, _)| k.starts_with("meshctl.io/") && *k != INJECT_ANNOTATION)
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// The AdmissionReview response for `verdict`, as the API server reads it: the patch is
/// base64 text (kube-core 5 would send a JSON array of numbers, CRATES.md gotcha 8).
pub fn response(uid: &str, verdict: &Verdict) -> Vec<u8> {
    let mut response = json!({"uid": uid, "allowed": true});
    let fields = response.as_object_mut().expect("a map");
    match verdict {
        Verdict::Patch(patch) => {
            let bytes = serde_json::to_vec(patch).expect("a patch serializes");
            fields.insert("patchType".to_owned(), json!("JSONPatch"));
            fields.insert(
                "patch".to_owned(),
                json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
        }
        Verdict::Allow(None) => {}
        Verdict::Allow(Some(warning)) => {
            fields.insert("warnings".to_owned(), json!([warning]));
        }
        Verdict::Refuse(code, message) => {
            fields.insert("allowed".to_owned(), json!(false));
            fields.insert(
                "status".to_owned(),
                json!({"metadata": {}, "status": "Failure", "code": code, "message": message}),
            );
        }
    }
    serde_json::to_vec(&json!({
        "apiVersion": REVIEW_API_VERSION,
        "kind": "AdmissionReview",
        "response": response,
    }))
    .expect("a response serializes")
}

/// The response to a malformed review: a refusal that says what is wrong with it.
pub fn malformed_response(malformed: &Malformed) -> Vec<u8> {
    response(
        &malformed.uid,
        &Verdict::Refuse(400, format!("meshctl injector: {}", malformed.error)),
    )
}

/// The whole webhook on one body, for a namespace looked up by name: the response bytes and
/// whether the review was well-formed (else the HTTP status should be 400).
pub fn review(
    body: &[u8],
    namespace: impl FnOnce(&str) -> Option<NamespaceMeta>,
    options: &ReviewOptions,
) -> (Vec<u8>, bool) {
    match parse(body) {
        Err(malformed) => (malformed_response(&malformed), false),
        Ok(request) => {
            let ns = namespace(&request.namespace);
            let verdict = answer(&request, ns.as_ref(), options);
            (response(&request.uid, &verdict), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ReviewOptions {
        ReviewOptions {
            mesh_namespace: "meshctl-system".to_owned(),
            ..ReviewOptions::default()
        }
    }

    fn pod(annotations: Value, labels: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "web-", "annotations": annotations, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]}]},
        })
    }

    fn body(namespace: &str, object: &Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": namespace, "operation": "CREATE", "object": object,
            },
        }))
        .unwrap()
    }

    fn ns(name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> NamespaceMeta {
        let map = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        NamespaceMeta {
            name: name.to_owned(),
            labels: map(labels),
            annotations: map(annotations),
        }
    }

    fn enabled(name: &str) -> NamespaceMeta {
        ns(name, &[("meshctl.io/inject", "enabled")], &[])
    }

    /// The response's `response` map, from the exact bytes sent.
    fn run(
        namespace: Option<NamespaceMeta>,
        object: &Value,
        options: &ReviewOptions,
    ) -> (Value, bool) {
        let name = namespace
            .as_ref()
            .map_or("shop".to_owned(), |n| n.name.clone());
        let (bytes, ok) = review(&body(&name, object), |_| namespace, options);
        let review: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review["kind"], "AdmissionReview");
        (review["response"].clone(), ok)
    }

    /// Applies the base64 patch the response carries.
    fn patched(before: &Value, response: &Value) -> Value {
        assert_eq!(response["patchType"], "JSONPatch", "{response}");
        let text = response["patch"].as_str().expect("patch is base64 text");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        let mut after = before.clone();
        json_patch::patch(&mut after, &patch).unwrap();
        after
    }

    #[test]
    fn an_enabled_namespace_gets_the_same_pod_as_meshctl_inject() {
        let before = pod(json!({}), json!({"app": "web"}));
        let (response, ok) = run(Some(enabled("shop")), &before, &options());
        assert!(ok);
        assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(response["allowed"], true);
        assert!(response.get("warnings").is_none(), "{response}");
        let after = patched(&before, &response);
        let (cli, _) = inject_object(&before, &InjectOptions::default()).unwrap();
        assert_eq!(after, cli.unwrap());
        assert!(uninject::is_injected(after.as_object().unwrap()));
    }

    #[test]
    fn namespace_annotations_configure_and_the_pod_overrides_them() {
        let namespace = ns(
            "shop",
            &[("meshctl.io/inject", "enabled")],
            &[
                ("meshctl.io/proxy-cpu-request", "300m"),
                ("meshctl.io/proxy-log-level", "debug"),
            ],
        );
        let before = pod(json!({"meshctl.io/proxy-cpu-request": "50m"}), json!({}));
        let (response, _) = run(Some(namespace), &before, &options());
        let after = patched(&before, &response);
        let annotations = &after["metadata"]["annotations"];
        assert_eq!(annotations["meshctl.io/injected-proxy-cpu-request"], "50m");
        assert_eq!(annotations["meshctl.io/injected-proxy-log-level"], "debug");
    }

    #[test]
    fn opt_in_and_opt_out_by_pod_and_namespace() {
        let o = options();
        let skipped = |namespace: Option<NamespaceMeta>, object: Value, why: &str| {
            let (response, ok) = run(namespace, &object, &o);
            assert!(ok);
            assert_eq!(response["allowed"], true, "{response}");
            assert!(response.get("patch").is_none(), "{response}");
            let warning = response["warnings"][0].as_str().unwrap();
            assert!(warning.contains(why), "{warning} lacks {why}");
        };
        let injected = |namespace: Option<NamespaceMeta>, object: Value| {
            let (response, _) = run(namespace, &object, &o);
            assert_eq!(response["patchType"], "JSONPatch", "{response}");
        };
        skipped(
            Some(ns("shop", &[], &[])),
            pod(json!({}), json!({})),
            "namespace shop does not opt in (label it meshctl.io/inject=enabled)",
        );
        skipped(None, pod(json!({}), json!({})), "unknown to the injector");
        skipped(
            Some(enabled("shop")),
            pod(json!({"meshctl.io/inject": "disabled"}), json!({})),
            "annotation meshctl.io/inject is disabled",
        );
        skipped(
            Some(enabled("shop")),
            pod(json!({}), json!({"meshctl.io/inject": "disabled"})),
            "label meshctl.io/inject is disabled",
        );
        skipped(
            Some(ns(
                "shop",
                &[("meshctl.io/inject", "enabled")],
                &[("meshctl.io/inject", "disabled")],
            )),
            pod(json!({}), json!({})),
            "namespace shop says meshctl.io/inject: disabled",
        );
        skipped(
            Some(enabled("meshctl-system")),
            pod(json!({}), json!({})),
            "pods in namespace meshctl-system are never injected",
        );
        // The pod's own opt-in wins over a namespace that does not opt in.
        injected(
            Some(ns("shop", &[], &[])),
            pod(json!({"meshctl.io/inject": "enabled"}), json!({})),
        );
        injected(
            Some(ns("shop", &[], &[])),
            pod(json!({}), json!({"meshctl.io/inject": "enabled"})),
        );
        injected(
            Some(ns("shop", &[], &[("meshctl.io/inject", "enabled")])),
            pod(json!({}), json!({})),
        );
    }

    #[test]
    fn injected_host_network_and_foreign_pods_are_admitted_unchanged_with_a_warning() {
        let o = options();
        let before = pod(json!({}), json!({}));
        let (once, _) = inject_object(&before, &InjectOptions::default()).unwrap();
        let (response, _) = run(Some(enabled("shop")), &once.unwrap(), &o);
        assert!(response.get("patch").is_none());
        assert!(
            response["warnings"][0]
                .as_str()
                .unwrap()
                .contains("already carries the proxy"),
            "{response}"
        );
        let mut host = before.clone();
        host["spec"]["hostNetwork"] = json!(true);
        let (response, _) = run(Some(enabled("shop")), &host, &o);
        assert_eq!(response["allowed"], true);
        assert!(
            response["warnings"][0]
                .as_str()
                .unwrap()
                .contains("spec.hostNetwork is true"),
            "{response}"
        );
        let mut istio = before;
        istio["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "istio-proxy", "image": "istio/proxyv2"}));
        let (response, _) = run(Some(enabled("shop")), &istio, &o);
        assert!(
            response["warnings"][0]
                .as_str()
                .unwrap()
                .contains("another mesh's sidecar"),
            "{response}"
        );
    }

    #[test]
    fn foreign_labels_count_only_when_accepted() {
        let istio = ns("shop", &[("istio-injection", "enabled")], &[]);
        let linkerd = ns("shop", &[], &[("linkerd.io/inject", "enabled")]);
        let before = pod(json!({}), json!({}));
        for namespace in [&istio, &linkerd] {
            let (response, _) = run(Some(namespace.clone()), &before, &options());
            assert!(response.get("patch").is_none(), "{response}");
            let accepting = ReviewOptions {
                accept_foreign_labels: true,
                ..options()
            };
            let (response, _) = run(Some(namespace.clone()), &before, &accepting);
            assert_eq!(response["patchType"], "JSONPatch", "{response}");
            // Their pod-level opt-outs are honoured as well.
            let out = pod(
                json!({"linkerd.io/inject": "disabled"}),
                json!({"sidecar.istio.io/inject": "false"}),
            );
            let (response, _) = run(Some(namespace.clone()), &out, &accepting);
            assert!(response.get("patch").is_none(), "{response}");
        }
    }

    #[test]
    fn bad_annotations_refuse_the_pod_and_say_which() {
        for annotations in [
            json!({"meshctl.io/inject": "yes"}),
            json!({"meshctl.io/opaque-ports": "http"}),
        ] {
            let before = pod(annotations.clone(), json!({}));
            let (response, ok) = run(Some(enabled("shop")), &before, &options());
            assert!(ok);
            assert_eq!(response["allowed"], false, "{response}");
            assert_eq!(response["status"]["code"], 400);
            let message = response["status"]["message"].as_str().unwrap();
            let key = annotations.as_object().unwrap().keys().next().unwrap();
            assert!(message.contains(key.as_str()), "{message}");
            assert!(message.starts_with("pod/web-*"), "{message}");
        }
        let mut before = pod(json!({}), json!({}));
        before["spec"]["containers"] = json!({"name": "app"});
        let (response, _) = run(Some(enabled("shop")), &before, &options());
        assert_eq!(response["allowed"], false);
        let message = response["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("spec.containers must be a list"),
            "{message}"
        );
    }

    #[test]
    fn malformed_reviews_get_a_refusal_that_says_what_is_wrong() {
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "the request body is not JSON"),
            (
                br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
                "admissionReviewVersions: [v1]",
            ),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
                "has no `request`",
            ),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{}}}"#,
                "`request.uid` is missing or empty",
            ),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE"}}"#,
                "`request.kind` is missing",
            ),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE","namespace":"shop","kind":{"group":"","version":"v1","kind":"Pod"}}}"#,
                "`request.object` is missing",
            ),
        ];
        for (body, why) in cases {
            let (bytes, _) = review(body, |_| Some(enabled("shop")), &options());
            let review: Value = serde_json::from_slice(&bytes).unwrap();
            let response = &review["response"];
            assert_eq!(response["allowed"], false, "{review}");
            let message = response["status"]["message"].as_str().unwrap();
            assert!(message.contains(why), "{message} lacks {why}");
        }
        // The uid is echoed once it could be read.
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1"}}"#;
        let (bytes, ok) = review(body, |_| None, &options());
        assert!(!ok);
        let review: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(review["response"]["uid"], "u1");
    }

    #[test]
    fn other_kinds_and_operations_pass_untouched() {
        let mut request = parse(&body("shop", &pod(json!({}), json!({})))).unwrap();
        request.operation = "UPDATE".to_owned();
        assert_eq!(
            answer(&request, Some(&enabled("shop")), &options()),
            Verdict::Allow(None)
        );
        request.operation = "CREATE".to_owned();
        request.kind = "Service".to_owned();
        assert_eq!(
            answer(&request, Some(&enabled("shop")), &options()),
            Verdict::Allow(None)
        );
    }
}
