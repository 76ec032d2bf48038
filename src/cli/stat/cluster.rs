//! Cluster mode of `meshctl stat`: one round selects the resources (and the edge's peer),
//! checks there is a meshed pod to ask, asks their proxies through the API server and turns
//! what failed into warnings or one error that says what to do.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::bail;
use meshctl::k8s::{Connection, pod_proxy};
use meshctl::stats::{
    ClusterStats, FetchError, FetchOptions, Kind, ResourceRef, Scope, Selected, Unreachable,
};

use super::super::GlobalArgs;
use super::super::control_plane;
use super::super::stat_output::{cluster_json, cluster_table};
use super::{Direction, Edge, Format, Plan, Query, Round, failing, pretty, show};

pub(super) fn run_cluster(plan: &Plan, q: &Query, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let runtime = control_plane::runtime()?;
    let conn = runtime.block_on(control_plane::connect(global))?;
    let scope = q.scope.clone();
    let scope = scope.unwrap_or_else(|| Scope::Namespace(conn.namespace.clone()));
    show(plan.watch, || {
        let (stats, warnings) = runtime.block_on(cluster_once(&conn, q, &scope, plan.options))?;
        let text = match plan.output {
            Format::Json => pretty(&cluster_json(&stats))?,
            table_or_wide => {
                let wide = table_or_wide == Format::Wide;
                let all = scope == Scope::All;
                format!("{}\n", cluster_table(&stats, all, wide))
            }
        };
        Ok(Round { warnings, text })
    })
}

/// One round: select the resources, ask their proxies; with warnings about the silent ones.
async fn cluster_once(
    conn: &Connection,
    q: &Query,
    scope: &Scope,
    options: FetchOptions,
) -> anyhow::Result<(ClusterStats, Vec<String>)> {
    let what = &q.what;
    let selected = meshctl::stats::select(conn, what, scope).await?;
    let peer_scope = q.peer_scope(scope);
    let peers = match &q.edge {
        Some(e) => meshctl::stats::select(conn, &e.peer, &peer_scope).await?,
        None => Vec::new(),
    };
    let traffic = q.traffic(&peers);
    meshed_pods(what, scope, &selected)?;
    if let Some(Edge {
        direction, peer, ..
    }) = &q.edge
    {
        let checked = match direction {
            // --from counts what the peer's own proxies sent.
            Direction::From => meshed_pods(peer, &peer_scope, &peers),
            Direction::To if peers.is_empty() => {
                Err(anyhow::anyhow!("no {peer}{}", where_(peer, &peer_scope)))
            }
            Direction::To => Ok(()),
        };
        checked.map_err(|e| anyhow::anyhow!("{} {peer}: {e}", direction.flag()))?;
    }
    let waiting = waiting(&selected);
    let stats = meshctl::stats::collect(&conn.once, selected, traffic, options).await?;
    let answered: usize = stats.rows.iter().map(|r| r.answered).sum();
    let warnings = silent_pods(waiting, &stats.unreachable, answered, "stat")?;
    Ok((stats, warnings))
}

/// The meshed pods of `selected` not running yet (or without an address): no proxy to ask.
pub(in crate::cli) fn waiting(selected: &[Selected]) -> BTreeSet<String> {
    (selected.iter().flat_map(|s| &s.pods))
        .filter(|p| p.meshed && !p.running)
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect()
}

/// Warnings about the pods that gave no figures: `waiting` ones, `unreachable` ones and
/// those the caller may not proxy to (one line per namespace, not one 403 per pod). An
/// error when no proxy of the `answered` count answered and some were asked; `command`
/// names what needs the right.
pub(in crate::cli) fn silent_pods(
    waiting: BTreeSet<String>,
    unreachable: &[Unreachable],
    answered: usize,
    command: &str,
) -> anyhow::Result<Vec<String>> {
    let mut warnings: Vec<String> = (waiting.iter())
        .map(|pod| format!("pod {pod}: not running yet, so its proxy was not asked"))
        .collect();
    warnings.extend((unreachable.iter()).filter(|u| !u.forbidden()).map(|u| {
        let (ns, pod, error) = (&u.namespace, &u.pod, &u.error);
        format!("pod {ns}/{pod}: its proxy gave no figures: {error}")
    }));
    let denied: Vec<String> = (meshctl::stats::forbidden_by_namespace(unreachable).iter())
        .map(|(ns, pods)| proxy_denied(ns, pods, command))
        .collect();
    if answered == 0 && !denied.is_empty() && unreachable.iter().all(|u| u.forbidden()) {
        return Err(failing(&warnings, anyhow::anyhow!("{}", denied.join("\n"))));
    }
    warnings.extend(
        denied
            .iter()
            .map(|d| format!("{d}; their figures are left out")),
    );
    if answered == 0 && !unreachable.is_empty() {
        let asked = unreachable.len();
        let error = anyhow::anyhow!("no proxy answered ({asked} asked); see the warnings above");
        return Err(failing(&warnings, error));
    }
    Ok(warnings)
}

/// Fails unless some of `selected` (the resources `what` names in `scope`) runs a meshed
/// pod to ask, saying what to inject when none does.
pub(in crate::cli) fn meshed_pods(
    what: &ResourceRef,
    scope: &Scope,
    selected: &[Selected],
) -> anyhow::Result<()> {
    if selected.is_empty() {
        bail!("no {what}{}", where_(what, scope));
    }
    let pods = selected.iter().flat_map(|s| &s.pods);
    let (total, meshed) = pods.fold((0, 0), |(t, m), p| (t + 1, m + usize::from(p.meshed)));
    if total == 0 {
        bail!(
            "{what}{} has no pods to ask (finished ones are left out)",
            where_(what, scope)
        );
    }
    if meshed == 0 {
        // What to inject: the workloads themselves; for pods, services and namespaces the
        // deployments that run the pods (a running pod cannot take a new container).
        let (kind, flag) = match (what.kind, &what.name, scope) {
            (Kind::Namespace, Some(ns), _) => ("deploy".to_owned(), format!("-n {ns}")),
            (Kind::Namespace, None, _) | (Kind::Pod | Kind::Service, _, Scope::All) => {
                ("deploy".to_owned(), "-A".to_owned())
            }
            (Kind::Pod | Kind::Service, _, Scope::Namespace(ns)) => {
                ("deploy".to_owned(), format!("-n {ns}"))
            }
            (_, _, Scope::All) => (what.to_string(), "-A".to_owned()),
            (_, _, Scope::Namespace(ns)) => (what.to_string(), format!("-n {ns}")),
        };
        let pods = match total {
            1 => "1 pod".to_owned(),
            n => format!("{n} pods"),
        };
        bail!(
            "no meshed pod among {pods} ({what}{}): add the proxy to the workloads that run \
             them, e.g. `kubectl get {kind} {flag} -o yaml | meshctl inject - | kubectl apply \
             -f -`",
            where_(what, scope),
        );
    }
    Ok(())
}

/// Why the proxies of `pods` (all in namespace `ns`) could not be read: the caller lacks
/// `get` on `pods/proxy` there, with the API server's own words (they name the user).
fn proxy_denied(ns: &str, pods: &[&Unreachable], command: &str) -> String {
    let words = match pods.first().map(|u| &u.error) {
        Some(FetchError::Status { body, .. }) => body.as_str(),
        _ => "",
    };
    pod_proxy::denied_message(ns, pods.len(), words, command)
}

/// Where `what` was looked for, for messages (` in namespace shop`).
pub(in crate::cli) fn where_(what: &ResourceRef, scope: &Scope) -> String {
    match scope {
        _ if what.kind == Kind::Namespace => String::new(),
        Scope::Namespace(ns) => format!(" in namespace {ns}"),
        Scope::All => " in any namespace".to_owned(),
    }
}
