//! Data-plane checks (`check --proxy`): every meshed pod (in one namespace or all), its proxy
//! reached through the API server's pod proxy on the admin port: container ready, version,
//! identity and trust roots, config version. Finished and evicted pods are skipped by name.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, ListParams};

use super::Outcome;
use crate::inject::sidecar::{ANNOTATION_VERSION, PROXY_CONTAINER};
use crate::k8s::Connection;
use crate::stats::ask_all;
use crate::stats::cluster::admin_get;

/// Pods asked at once, and how long one may take.
const CONCURRENCY: usize = 16;
const POD_TIMEOUT: Duration = Duration::from_secs(5);

/// The version the proxy's `/metrics` reports (`proxy_build_info{version="…"} 1`).
pub const BUILD_INFO: &str = "proxy_build_info";

/// Meshed pods to check, and the ones skipped with why (`ns/name (finished)`).
struct Meshed {
    pods: Vec<Pod>,
    skipped: Vec<String>,
    place: String,
}

fn name_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

async fn meshed(conn: &Connection, namespace: Option<&str>) -> Result<Meshed, Outcome> {
    let (api, place): (Api<Pod>, String) = match namespace {
        Some(ns) => (
            Api::namespaced(conn.client.clone(), ns),
            format!("namespace {ns}"),
        ),
        None => (Api::all(conn.client.clone()), "any namespace".to_owned()),
    };
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        Outcome::error(
            conn.request_error("listing", &format!("pods in {place}"), &e)
                .to_string(),
        )
    })?;
    let mut meshed = Meshed {
        pods: Vec::new(),
        skipped: Vec::new(),
        place,
    };
    for pod in list.items {
        let annotated = pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION_VERSION));
        if !annotated && proxy_status(&pod).is_none() && !declares_proxy(&pod) {
            continue;
        }
        let status = pod.status.as_ref();
        match status.and_then(|s| s.phase.as_deref()) {
            Some("Succeeded") => meshed.skipped.push(format!("{} (finished)", name_of(&pod))),
            Some("Failed") if status.and_then(|s| s.reason.as_deref()) == Some("Evicted") => {
                meshed.skipped.push(format!("{} (evicted)", name_of(&pod)));
            }
            Some("Failed") => meshed.skipped.push(format!("{} (failed)", name_of(&pod))),
            _ => meshed.pods.push(pod),
        }
    }
    Ok(meshed)
}

fn declares_proxy(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|spec| {
        spec.init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .any(|c| c.name == PROXY_CONTAINER)
    })
}

/// The proxy's container status: an init container (native sidecar) or a container.
fn proxy_status(pod: &Pod) -> Option<&ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find(|c| c.name == PROXY_CONTAINER)
}

fn is_ready(pod: &Pod) -> bool {
    proxy_status(pod).is_some_and(|s| s.ready)
}

/// Runs `f` on the meshed pods, or says there are none (or why they cannot be listed).
async fn with_pods(
    conn: &Connection,
    namespace: Option<&str>,
    f: impl AsyncFnOnce(Meshed) -> Outcome,
) -> Outcome {
    match meshed(conn, namespace).await {
        Err(outcome) => outcome,
        Ok(m) if m.pods.is_empty() => Outcome::skipped(format!("no meshed pods in {}", m.place)),
        Ok(m) => f(m).await,
    }
}

/// `data-plane-pods`: which pods are checked and which are skipped.
pub async fn pods(conn: &Connection, namespace: Option<&str>) -> Outcome {
    let m = match meshed(conn, namespace).await {
        Ok(m) => m,
        Err(outcome) => return outcome,
    };
    let skipped = if m.skipped.is_empty() {
        String::new()
    } else {
        format!("; skipped {}", m.skipped.join(", "))
    };
    if m.pods.is_empty() {
        return Outcome::warning(format!("no meshed pods in {}{skipped}", m.place));
    }
    Outcome::ok(format!(
        "{} meshed pods in {}{skipped}",
        m.pods.len(),
        m.place
    ))
}

/// `proxy-ready`: every meshed pod's proxy container is ready.
pub async fn ready(conn: &Connection, namespace: Option<&str>) -> Outcome {
    with_pods(conn, namespace, async |m: Meshed| {
        let not_ready: Vec<String> = m
            .pods
            .iter()
            .filter(|p| !is_ready(p))
            .map(|p| format!("{} ({})", name_of(p), why_not_ready(p)))
            .collect();
        if not_ready.is_empty() {
            Outcome::ok(format!("{} proxies ready", m.pods.len()))
        } else {
            Outcome::error(format!("proxy not ready in {}", not_ready.join(", ")))
        }
    })
    .await
}

fn why_not_ready(pod: &Pod) -> String {
    let Some(status) = proxy_status(pod) else {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        return format!(
            "no {PROXY_CONTAINER} status, pod {}",
            phase.unwrap_or("new")
        );
    };
    let state = status.state.as_ref();
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        return format!(
            "waiting: {}",
            waiting.reason.as_deref().unwrap_or("unknown")
        );
    }
    if let Some(done) = state.and_then(|s| s.terminated.as_ref()) {
        return format!("terminated with exit code {}", done.exit_code);
    }
    format!("running, not ready after {} restarts", status.restart_count)
}

/// `proxy-version`: every ready proxy reports this CLI's version on `/metrics`.
pub async fn version(conn: &Connection, namespace: Option<&str>) -> Outcome {
    with_pods(conn, namespace, async |m: Meshed| {
        let ready: Vec<&Pod> = m.pods.iter().filter(|p| is_ready(p)).collect();
        if ready.is_empty() {
            return Outcome::skipped("no proxy is ready (see proxy-ready)");
        }
        let client = &conn.client;
        let answers = ask_all(&ready, CONCURRENCY, POD_TIMEOUT, |pod| async move {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("");
            let name = pod.metadata.name.as_deref().unwrap_or("");
            admin_get(client, ns, name, "/metrics").await
        })
        .await;
        let mine = env!("CARGO_PKG_VERSION");
        let (mut unreachable, mut skewed) = (Vec::new(), Vec::new());
        for (pod, answer) in ready.iter().zip(answers) {
            match answer.map(|text| build_version(&text)) {
                Err(e) => unreachable.push(format!("{}: {e}", name_of(pod))),
                Ok(Some(v)) if v == mine => {}
                Ok(Some(v)) => skewed.push(format!("{} runs {v}", name_of(pod))),
                Ok(None) => skewed.push(format!("{} does not report a version", name_of(pod))),
            }
        }
        let mut problems = Vec::new();
        if !unreachable.is_empty() {
            problems.push(format!(
                "cannot read the admin port of {}",
                unreachable.join("; ")
            ));
        }
        if !skewed.is_empty() {
            problems.push(format!("this CLI is {mine}; {}", skewed.join(", ")));
        }
        let fine = ready.len() - unreachable.len() - skewed.len();
        match (unreachable.is_empty(), skewed.is_empty()) {
            (true, true) => Outcome::ok(format!("{fine} proxies run {mine}")),
            (true, false) => Outcome::warning(problems.join("; ")),
            (false, _) => Outcome::error(format!(
                "{}; {fine} other proxies run {mine}",
                problems.join("; ")
            )),
        }
    })
    .await
}

/// The version label of the build-info line of a `/metrics` text.
pub fn build_version(metrics: &str) -> Option<String> {
    let line = metrics.lines().find(|l| {
        l.strip_prefix(BUILD_INFO)
            .is_some_and(|r| r.starts_with('{'))
    })?;
    let rest = &line[line.find("version=\"")? + "version=\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// `proxy-identity`: the admin port does not show the proxy's certificate or roots yet.
pub async fn identity(conn: &Connection, namespace: Option<&str>) -> Outcome {
    with_pods(conn, namespace, async |_| {
        Outcome::skipped(
            "the proxies' admin port does not expose their certificate and trust roots yet: \
             nothing to compare with the trust anchor",
        )
    })
    .await
}

/// `proxy-config-version`: no controller hands out config yet.
pub async fn config_version(conn: &Connection, namespace: Option<&str>) -> Outcome {
    with_pods(conn, namespace, async |_| {
        Outcome::skipped(
            "no controller serves proxy config yet: the proxies run the static config they \
             were given",
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_read_from_the_build_info_line() {
        let text = "# HELP proxy_build_info The proxy's version.\n# TYPE proxy_build_info info\n\
                    proxy_build_info{version=\"1.2.3\"} 1\nrequest_total{direction=\"inbound\"} 4\n";
        assert_eq!(build_version(text).as_deref(), Some("1.2.3"));
        assert_eq!(build_version("request_total 1\n"), None);
    }
}
