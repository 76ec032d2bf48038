//! `meshctl stat`: golden signals read straight from proxies' admin ports and merged exactly;
//! in a cluster per resource (`stat deploy -n shop`, through the API server's pod proxy), or
//! from proxies named by address (`stat --proxy ADDR…`, for static-mode proxies).

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use comfy_table::Table;
use meshctl::model::duration::Duration;
use meshctl::stats::{
    ClusterStats, FetchOptions, Kind, Merged, ResourceRef, RowKey, Scope, Signals, Traffic,
    fetch_all,
};
use serde_json::json;

use super::GlobalArgs;
use super::control_plane;

#[derive(Debug, Args)]
pub struct StatArgs {
    /// What to report on: deploy, sts, ds, pod, ns or svc (also as KIND/NAME)
    #[arg(
        value_name = "KIND",
        required_unless_present = "proxies",
        conflicts_with = "proxies"
    )]
    kind: Option<String>,
    /// One resource of that kind (default: every one in the namespace)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// Every namespace instead of -n's (or the context's)
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only traffic the resources sent to this one (KIND/NAME, e.g. deploy/web)
    #[arg(long, value_name = "RES", conflicts_with = "from")]
    to: Option<String>,
    /// Only traffic the resources received from this one (KIND/NAME)
    #[arg(long, value_name = "RES")]
    from: Option<String>,
    /// A proxy's admin address (HOST:PORT, e.g. 127.0.0.1:4191) to ask instead of a
    /// cluster; repeat for several proxies
    #[arg(long = "proxy", value_name = "ADDR")]
    proxies: Vec<String>,
    /// How far back to look (10s to 10m)
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    window: Duration,
    /// Give up on a proxy that has not answered after this long
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    timeout: Duration,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: super::TableOrJson,
}

/// Proxies asked at once.
const CONCURRENCY: usize = 16;

/// The columns every table starts with after its name columns.
const SIGNAL_COLUMNS: [&str; 7] = [
    "MESHED",
    "SUCCESS",
    "RPS",
    "LATENCY_P50",
    "LATENCY_P95",
    "LATENCY_P99",
    "TCP_CONN",
];

pub fn run(args: StatArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let window = args.window.get();
    if !(10..=600).contains(&window.as_secs()) {
        return Err(super::UsageError(format!(
            "--window {:?} is out of range: allowed 10s to 10m",
            window
        ))
        .into());
    }
    let options = FetchOptions {
        window,
        concurrency: CONCURRENCY,
        timeout: args.timeout.get(),
    };
    if args.proxies.is_empty() {
        run_cluster(&args, global, options)
    } else {
        run_local(&args, options)
    }
}

/// What `KIND [NAME]`, `--to` and `--from` ask for (checked before connecting).
struct Query {
    what: ResourceRef,
    to: Option<ResourceRef>,
    from: Option<ResourceRef>,
}

fn usage(text: String) -> anyhow::Error {
    super::UsageError(text).into()
}

fn query(args: &StatArgs, global: &GlobalArgs) -> anyhow::Result<Query> {
    let kind = args.kind.as_deref().unwrap_or_default();
    let mut what: ResourceRef = kind.parse().map_err(|e| usage(format!("{e}")))?;
    if let Some(name) = &args.name {
        if what.name.is_some() {
            return Err(usage(format!("`{kind}` already names one; drop `{name}`")));
        }
        what.name = Some(name.clone());
    }
    if args.all_namespaces && global.namespace.is_some() {
        return Err(usage("-A and -n exclude each other".to_owned()));
    }
    if args.all_namespaces && what.name.is_some() && what.kind != Kind::Namespace {
        return Err(usage(format!(
            "{what} names one resource: give its namespace with -n instead of -A"
        )));
    }
    let edge = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<ResourceRef>> {
        text.as_deref()
            .map(|t| t.parse().map_err(|e| usage(format!("--{flag}: {e}"))))
            .transpose()
    };
    Ok(Query {
        to: edge("to", &args.to)?,
        from: edge("from", &args.from)?,
        what,
    })
}

fn run_cluster(
    args: &StatArgs,
    global: &GlobalArgs,
    options: FetchOptions,
) -> anyhow::Result<ExitCode> {
    let q = query(args, global)?;
    let stats = control_plane::runtime()?.block_on(async {
        let conn = control_plane::connect(global).await?;
        let scope = match &global.namespace {
            _ if args.all_namespaces => Scope::All,
            Some(ns) => Scope::Namespace(ns.clone()),
            None => Scope::Namespace(conn.namespace.clone()),
        };
        let selected = meshctl::stats::select(&conn, &q.what, &scope).await?;
        let edge = match (&q.to, &q.from) {
            (Some(r), _) | (None, Some(r)) => meshctl::stats::select(&conn, r, &scope).await?,
            (None, None) => Vec::new(),
        };
        let traffic = match (&q.to, &q.from) {
            (Some(_), _) => Traffic::To(&edge),
            (None, Some(_)) => Traffic::From(&edge),
            (None, None) => Traffic::Inbound,
        };
        if selected.is_empty() {
            bail!("no {} {}", q.what, where_(&scope));
        }
        let pods = selected.iter().flat_map(|s| &s.pods);
        let (total, meshed) = pods.fold((0, 0), |(t, m), p| (t + 1, m + usize::from(p.meshed)));
        if meshed == 0 {
            let flag = match &scope {
                Scope::Namespace(ns) => format!("-n {ns}"),
                Scope::All => "-A".to_owned(),
            };
            bail!(
                "no meshed pods among the {total} pods of {} {}: add the proxy with \
                 `kubectl get {} {flag} -o yaml | meshctl inject - | kubectl apply -f -`",
                q.what,
                where_(&scope),
                q.what,
            );
        }
        anyhow::Ok(meshctl::stats::collect(&conn.client, selected, traffic, options).await?)
    })?;
    for (pod, error) in &stats.unreachable {
        eprintln!("warning: pod {pod}: its proxy gave no figures: {error}");
    }
    let answered: usize = stats.rows.iter().map(|r| r.answered).sum();
    if answered == 0 && !stats.unreachable.is_empty() {
        bail!(
            "no proxy answered ({} asked); see the warnings above",
            stats.unreachable.len()
        );
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        super::TableOrJson::Table => {
            writeln!(out, "{}", cluster_table(&stats, args.all_namespaces))?;
        }
        super::TableOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &cluster_json(&stats))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn where_(scope: &Scope) -> String {
    match scope {
        Scope::Namespace(ns) => format!("in namespace {ns}"),
        Scope::All => "in any namespace".to_owned(),
    }
}

fn cluster_table(stats: &ClusterStats, all_namespaces: bool) -> Table {
    let mut table = super::stdout_table();
    let mut header = Vec::new();
    if all_namespaces {
        header.push("NAMESPACE");
    }
    header.push("NAME");
    header.extend(SIGNAL_COLUMNS);
    table.set_header(header);
    for row in &stats.rows {
        let mut cells = Vec::new();
        if all_namespaces {
            cells.push(row.selected.namespace.clone());
        }
        cells.push(row.selected.name.clone());
        cells.push(format!("{}/{}", row.answered, row.selected.pods.len()));
        cells.extend(signal_cells(row.signals.as_ref()));
        table.add_row(cells);
    }
    table
}

fn cluster_json(stats: &ClusterStats) -> serde_json::Value {
    let rows: Vec<_> = stats
        .rows
        .iter()
        .map(|row| {
            let s = &row.selected;
            let mut value = json!({
                "kind": s.kind.short(),
                "namespace": s.namespace,
                "name": s.name,
                "pods": s.pods.len(),
                "meshedPods": s.pods.iter().filter(|p| p.meshed).count(),
                "answered": row.answered,
            });
            if let Some(signals) = &row.signals {
                merge_json(&mut value, signals_json(signals));
            }
            value
        })
        .collect();
    let unreachable: Vec<_> = stats
        .unreachable
        .iter()
        .map(|(pod, error)| json!({"pod": pod, "error": error}))
        .collect();
    json!({
        "windowSeconds": stats.window_seconds,
        "rows": rows,
        "unreachable": unreachable,
    })
}

fn merge_json(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

fn run_local(args: &StatArgs, options: FetchOptions) -> anyhow::Result<ExitCode> {
    if args.all_namespaces || args.to.is_some() || args.from.is_some() {
        return Err(super::UsageError(
            "-A, --to and --from need a cluster resource, not --proxy".to_owned(),
        )
        .into());
    }
    let window = options.window;
    let runtime = control_plane::runtime()?;
    let results = runtime.block_on(fetch_all(&args.proxies, options));
    let mut answers = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for (proxy, result) in args.proxies.iter().zip(results) {
        match result {
            Ok(answer) => answers.push(answer),
            Err(e) => failed.push((proxy, e.to_string())),
        }
    }
    for (proxy, error) in &failed {
        eprintln!("warning: proxy {proxy}: {error}; its figures are left out");
    }
    let Some(merged) = Merged::from_answers(&answers)? else {
        bail!(
            "no proxy answered ({} asked); check the addresses are admin ports (4191) of \
             running proxies",
            args.proxies.len()
        );
    };
    let meshed = format!("{}/{}", answers.len(), args.proxies.len());
    let mut out = std::io::stdout().lock();
    match args.output {
        super::TableOrJson::Table => writeln!(out, "{}", table(&merged, &meshed))?,
        super::TableOrJson::Json => {
            let rows: Vec<_> = merged.signals().map(|(k, s)| row_json(k, &s)).collect();
            let failed: Vec<_> = failed
                .iter()
                .map(|(proxy, error)| json!({"proxy": proxy, "error": error}))
                .collect();
            let value = json!({
                "windowSeconds": window.as_secs(),
                "proxies": {"asked": args.proxies.len(), "answered": answers.len(), "failed": failed},
                "rows": rows,
            });
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn name(key: &RowKey) -> String {
    let mut name = format!("{} {}", key.direction, key.authority);
    for part in [&key.route, &key.backend].into_iter().flatten() {
        name.push_str(" / ");
        name.push_str(part);
    }
    name
}

fn millis(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}ms"))
}

fn signal_cells(s: Option<&Signals>) -> Vec<String> {
    let Some(s) = s else {
        return vec!["-".to_owned(); SIGNAL_COLUMNS.len() - 1];
    };
    vec![
        s.success_rate
            .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0)),
        format!("{:.1}", s.rps),
        millis(s.latency_p50_ms),
        millis(s.latency_p95_ms),
        millis(s.latency_p99_ms),
        s.tcp_connections_opened.to_string(),
    ]
}

fn table(merged: &Merged, meshed: &str) -> Table {
    let mut table = super::stdout_table();
    let mut header = vec!["NAME"];
    header.extend(SIGNAL_COLUMNS);
    table.set_header(header);
    for (key, s) in merged.signals() {
        let mut cells = vec![name(key), meshed.to_owned()];
        cells.extend(signal_cells(Some(&s)));
        table.add_row(cells);
    }
    table
}

fn signals_json(s: &Signals) -> serde_json::Value {
    json!({
        "requests": s.requests,
        "failures": s.failures,
        "successRate": s.success_rate,
        "rps": s.rps,
        "latencyP50Ms": s.latency_p50_ms,
        "latencyP95Ms": s.latency_p95_ms,
        "latencyP99Ms": s.latency_p99_ms,
        "tcpConnectionsOpened": s.tcp_connections_opened,
    })
}

fn row_json(key: &RowKey, s: &Signals) -> serde_json::Value {
    let mut value = json!({
        "direction": key.direction,
        "authority": key.authority,
        "route": key.route,
        "backend": key.backend,
    });
    merge_json(&mut value, signals_json(s));
    value
}
