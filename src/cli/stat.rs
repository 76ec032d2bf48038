//! `meshctl stat`: golden signals read straight from proxies' admin ports and merged exactly;
//! in a cluster per resource (`stat deploy -n shop`, through the API server's pod proxy), or
//! from proxies named by address (`stat --proxy ADDR…`, for static-mode proxies).

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use meshctl::k8s::Connection;
use meshctl::model::duration::Duration;
use meshctl::stats::{
    ClusterStats, FetchError, FetchOptions, Kind, Merged, ResourceRef, Scope, StatsAnswer, Traffic,
    fetch_all,
};
use serde_json::json;

use super::GlobalArgs;
use super::control_plane;
use super::stat_output::{cluster_json, cluster_table, row_json, table};

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
    /// Output format (wide adds retries, timeouts and ejected endpoints in the window)
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    /// Ask again and redraw every 2 seconds until interrupted
    #[arg(short = 'w', long)]
    watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Wide,
    Json,
}

/// Proxies asked at once.
const CONCURRENCY: usize = 16;

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
    // An unknown kind is a failed lookup (exit 1, like an unknown name), not bad usage.
    let mut what: ResourceRef = kind.parse()?;
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
            .map(|t| t.parse().map_err(|e| anyhow::anyhow!("--{flag}: {e}")))
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
    let runtime = control_plane::runtime()?;
    let conn = runtime.block_on(control_plane::connect(global))?;
    let scope = match &global.namespace {
        _ if args.all_namespaces => Scope::All,
        Some(ns) => Scope::Namespace(ns.clone()),
        None => Scope::Namespace(conn.namespace.clone()),
    };
    show(args.watch, || {
        let stats = runtime.block_on(cluster_once(&conn, &q, &scope, options))?;
        Ok(match args.output {
            Format::Json => pretty(&cluster_json(&stats))?,
            table_or_wide => {
                let wide = table_or_wide == Format::Wide;
                format!("{}\n", cluster_table(&stats, args.all_namespaces, wide))
            }
        })
    })
}

/// One round: select the resources, ask their proxies, warn about the silent ones.
async fn cluster_once(
    conn: &Connection,
    q: &Query,
    scope: &Scope,
    options: FetchOptions,
) -> anyhow::Result<ClusterStats> {
    let selected = meshctl::stats::select(conn, &q.what, scope).await?;
    let edge = match (&q.to, &q.from) {
        (Some(r), _) | (None, Some(r)) => meshctl::stats::select(conn, r, scope).await?,
        (None, None) => Vec::new(),
    };
    let traffic = match (&q.to, &q.from) {
        (Some(_), _) => Traffic::To(&edge),
        (None, Some(_)) => Traffic::From(&edge),
        (None, None) => Traffic::Inbound,
    };
    if selected.is_empty() {
        bail!("no {}{}", q.what, where_(&q.what, scope));
    }
    let pods = selected.iter().flat_map(|s| &s.pods);
    let (total, meshed) = pods.fold((0, 0), |(t, m), p| (t + 1, m + usize::from(p.meshed)));
    if meshed == 0 {
        // What to inject: the workloads themselves, or those of the namespaces.
        let (kind, flag) = match (q.what.kind, &q.what.name, scope) {
            (Kind::Namespace, Some(ns), _) => ("deploy".to_owned(), format!("-n {ns}")),
            (Kind::Namespace, None, _) => ("deploy".to_owned(), "-A".to_owned()),
            (_, _, Scope::All) => (q.what.to_string(), "-A".to_owned()),
            (_, _, Scope::Namespace(ns)) => (q.what.to_string(), format!("-n {ns}")),
        };
        bail!(
            "no meshed pods among the {total} pods of {}{}: add the proxy with \
             `kubectl get {kind} {flag} -o yaml | meshctl inject - | kubectl apply -f -`",
            q.what,
            where_(&q.what, scope),
        );
    }
    let stats = meshctl::stats::collect(&conn.once, selected, traffic, options).await?;
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
    Ok(stats)
}

/// How often `--watch` redraws.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Prints what `once` renders; with `watch`, again every [`WATCH_EVERY`] until interrupted
/// (on a terminal the screen is cleared first, elsewhere the tables follow each other).
/// Nothing is printed for a round that fails: its error ends the command.
fn show(watch: bool, mut once: impl FnMut() -> anyhow::Result<String>) -> anyhow::Result<ExitCode> {
    let clear = watch && std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let text = once()?;
        let mut out = std::io::stdout().lock();
        if clear {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        if !watch {
            return Ok(ExitCode::SUCCESS);
        }
        drop(out);
        std::thread::sleep(WATCH_EVERY);
        if !clear {
            println!();
        }
    }
}

fn pretty(value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// Where `what` was looked for, for messages (` in namespace shop`).
fn where_(what: &ResourceRef, scope: &Scope) -> String {
    match scope {
        _ if what.kind == Kind::Namespace => String::new(),
        Scope::Namespace(ns) => format!(" in namespace {ns}"),
        Scope::All => " in any namespace".to_owned(),
    }
}

fn run_local(args: &StatArgs, options: FetchOptions) -> anyhow::Result<ExitCode> {
    if args.all_namespaces || args.to.is_some() || args.from.is_some() {
        return Err(super::UsageError(
            "-A, --to and --from need a cluster resource, not --proxy".to_owned(),
        )
        .into());
    }
    let runtime = control_plane::runtime()?;
    show(args.watch, || {
        let results = runtime.block_on(fetch_all(&args.proxies, options));
        local_once(args, options, results)
    })
}

/// One round of local mode, rendered.
fn local_once(
    args: &StatArgs,
    options: FetchOptions,
    results: Vec<Result<StatsAnswer, FetchError>>,
) -> anyhow::Result<String> {
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
    Ok(match args.output {
        Format::Table => format!("{}\n", table(&merged, &meshed, false)),
        Format::Wide => format!("{}\n", table(&merged, &meshed, true)),
        Format::Json => {
            let rows: Vec<_> = merged.signals().map(|(k, s)| row_json(k, &s)).collect();
            let failed: Vec<_> = failed
                .iter()
                .map(|(proxy, error)| json!({"proxy": proxy, "error": error}))
                .collect();
            pretty(&json!({
                "windowSeconds": options.window.as_secs(),
                "proxies": {"asked": args.proxies.len(), "answered": answers.len(), "failed": failed},
                "rows": rows,
            }))?
        }
    })
}
