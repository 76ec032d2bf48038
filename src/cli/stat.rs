//! `meshctl stat`: golden signals read straight from proxies' admin ports and merged exactly;
//! in a cluster per resource (`stat deploy -n shop`, through the API server's pod proxy), or
//! from proxies named by address (`stat --proxy ADDR…`, for static-mode proxies).

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use meshctl::model::duration::Duration;
use meshctl::stats::{
    FetchError, FetchOptions, Kind, Merged, ResourceRef, Scope, Selected, StatsAnswer, Traffic,
    fetch_all,
};
use serde_json::json;

use super::GlobalArgs;
use super::control_plane;
use super::stat_output::{row_json, table};

pub(super) mod cluster;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshctl stat deploy -n shop                every deployment in namespace shop
  meshctl stat deploy/web -n shop -o wide    one, with bytes/s, retries, timeouts, ejections
  meshctl stat deploy -n shop --to svc/db    only what they sent to service db
  meshctl stat ns --window 5m --watch        every namespace over 5 minutes, redrawn
  meshctl stat --proxy 127.0.0.1:4191        a proxy by its admin port, no cluster

Each meshed pod's proxy is read through the API server (get on pods/proxy). MESHED counts \
the pods whose proxy answered, of the resource's pods; a proxy that does not answer is named \
on stderr and left out.")]
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
    /// The namespace of --to's resource (default: the resources' own)
    #[arg(long, value_name = "NS", requires = "to")]
    to_namespace: Option<String>,
    /// The namespace of --from's resource (default: the resources' own)
    #[arg(long, value_name = "NS", requires = "from")]
    from_namespace: Option<String>,
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
    /// Output format (wide adds bytes/s in and out, retries, timeouts and ejected endpoints)
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

/// Which way an edge runs from the resources in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// What they sent to the peer (`--to`).
    To,
    /// What they received from the peer (`--from`).
    From,
}

impl Direction {
    fn flag(self) -> &'static str {
        match self {
            Direction::To => "--to",
            Direction::From => "--from",
        }
    }
}

/// `--to RES` or `--from RES`: the traffic between the resources and one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Edge {
    direction: Direction,
    peer: ResourceRef,
    /// `--to-namespace` or `--from-namespace`.
    namespace: Option<String>,
}

/// Cluster resources to report on: `KIND [NAME]`, `-A` or `-n`, and an edge.
#[derive(Debug)]
struct Query {
    what: ResourceRef,
    /// `None`: the context's namespace.
    scope: Option<Scope>,
    edge: Option<Edge>,
}

impl Query {
    /// Where the edge's peer is looked up: its own namespace flag's, else `-n`'s, else the
    /// one `stat ns NAME` names, else `scope` (the context's).
    fn peer_scope(&self, scope: &Scope) -> Scope {
        let own = self.edge.as_ref().and_then(|e| e.namespace.clone());
        match (own, &self.scope, self.what.kind, &self.what.name) {
            (Some(ns), ..) => Scope::Namespace(ns),
            (None, None, Kind::Namespace, Some(ns)) => Scope::Namespace(ns.clone()),
            _ => scope.clone(),
        }
    }

    /// Which traffic rows count, given the edge's peer resources (empty without an edge).
    fn traffic<'a>(&self, peers: &'a [Selected]) -> Traffic<'a> {
        match self.edge.as_ref().map(|e| e.direction) {
            Some(Direction::To) => Traffic::To(peers),
            Some(Direction::From) => Traffic::From(peers),
            None => Traffic::Inbound,
        }
    }
}

/// Where the figures come from.
#[derive(Debug)]
enum Source {
    /// Cluster resources' pods, through the API server.
    Cluster(Query),
    /// Proxies by admin address (`--proxy`).
    Local(Vec<String>),
}

/// One `stat` run, typed and checked from the arguments before anything is asked.
#[derive(Debug)]
struct Plan {
    source: Source,
    options: FetchOptions,
    output: Format,
    watch: bool,
}

pub(super) fn usage(text: impl Into<String>) -> anyhow::Error {
    super::UsageError(text.into()).into()
}

impl Plan {
    fn new(args: StatArgs, global: &GlobalArgs) -> anyhow::Result<Plan> {
        let options = fetch_options(args.window, args.timeout)?;
        let edge = match (args.to, args.from) {
            (Some(to), _) => Some((Direction::To, to, args.to_namespace)),
            (None, Some(from)) => Some((Direction::From, from, args.from_namespace)),
            (None, None) => None,
        };
        let source = if args.proxies.is_empty() {
            let kind = args.kind.unwrap_or_default();
            let what = resource(&kind, args.name)?;
            let scope = scope(args.all_namespaces, global)?;
            // Under -A a named resource has no namespace to be looked up in.
            let one = |r: &ResourceRef| r.name.is_some() && r.kind != Kind::Namespace;
            let all = scope == Some(Scope::All);
            if all && one(&what) {
                return Err(usage(format!(
                    "{what} names one resource: give its namespace with -n instead of -A"
                )));
            }
            let edge = match edge {
                Some((direction, text, namespace)) => Some(Edge {
                    direction,
                    peer: (text.parse())
                        .map_err(|e| anyhow::anyhow!("{}: {e}", direction.flag()))?,
                    namespace,
                }),
                None => None,
            };
            if let Some(Edge {
                direction,
                peer,
                namespace: None,
            }) = &edge
                && all
                && one(peer)
            {
                let flag = direction.flag();
                return Err(usage(format!(
                    "{flag} {peer} names one resource: give its namespace with {flag}-namespace \
                     (or -n instead of -A)"
                )));
            }
            Source::Cluster(Query { what, scope, edge })
        } else if args.all_namespaces || edge.is_some() {
            return Err(usage(
                "-A, --to and --from need a cluster resource, not --proxy",
            ));
        } else {
            for (i, address) in args.proxies.iter().enumerate() {
                admin_address(address)?;
                if args.proxies[..i].contains(address) {
                    return Err(usage(format!(
                        "--proxy {address} is given twice: its figures would count twice"
                    )));
                }
            }
            Source::Local(args.proxies)
        };
        Ok(Plan {
            source,
            options,
            output: args.output,
            watch: args.watch,
        })
    }
}

/// How `edges` and `routes` read the proxies' windows, and print them.
#[derive(Debug, Args)]
pub(super) struct ReadArgs {
    /// How far back to look (10s to 10m)
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub window: Duration,
    /// Give up on a proxy that has not answered after this long
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    timeout: Duration,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: super::TableOrJson,
}

impl ReadArgs {
    pub fn options(&self) -> anyhow::Result<FetchOptions> {
        fetch_options(self.window, self.timeout)
    }
}

/// `--window` and `--timeout`, checked.
fn fetch_options(window: Duration, timeout: Duration) -> anyhow::Result<FetchOptions> {
    if !(10..=600).contains(&window.get().as_secs()) {
        return Err(usage(format!(
            "--window {window} is out of range: allowed 10s to 10m"
        )));
    }
    if timeout.get().is_zero() {
        return Err(usage(
            "--timeout 0s would give up on every proxy: give 1s or more",
        ));
    }
    Ok(FetchOptions {
        window: window.get(),
        concurrency: CONCURRENCY,
        timeout: timeout.get(),
    })
}

/// Checks a `--proxy` address is `HOST:PORT`: a URL or a bare host would be asked at a
/// surprising place (`http` as a host name, port 80) and fail as if the proxy were down.
fn admin_address(address: &str) -> anyhow::Result<()> {
    let authority: Option<http::uri::Authority> = address.parse().ok();
    match authority {
        Some(a) if a.port_u16().is_some() && !a.as_str().contains('@') => Ok(()),
        _ => Err(usage(format!(
            "--proxy {address}: expected a proxy's admin address as HOST:PORT, e.g. \
             127.0.0.1:4191 (no http://, no path)"
        ))),
    }
}

/// `KIND [NAME]` or `KIND/NAME`.
pub(super) fn resource(kind: &str, name: Option<String>) -> anyhow::Result<ResourceRef> {
    // An unknown kind is a failed lookup (exit 1, like an unknown name), not bad usage.
    let mut what: ResourceRef = kind.parse()?;
    if let Some(name) = name {
        if what.name.is_some() {
            return Err(usage(format!("`{kind}` already names one; drop `{name}`")));
        }
        what.name = Some(name);
    }
    Ok(what)
}

/// `-A`, `-n NS`, or neither (`None`: the context's namespace).
pub(super) fn scope(all_namespaces: bool, global: &GlobalArgs) -> anyhow::Result<Option<Scope>> {
    match (all_namespaces, &global.namespace) {
        (true, Some(_)) => Err(usage("-A and -n exclude each other")),
        (true, None) => Ok(Some(Scope::All)),
        (false, ns) => Ok(ns.clone().map(Scope::Namespace)),
    }
}

pub fn run(args: StatArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let plan = Plan::new(args, global)?;
    match &plan.source {
        Source::Cluster(query) => cluster::run_cluster(&plan, query, global),
        Source::Local(proxies) => run_local(&plan, proxies),
    }
}

/// How often `--watch` redraws.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What one round prints: warnings on stderr, then the table or document on stdout.
struct Round {
    warnings: Vec<String>,
    text: String,
}

/// `error`, ending the command, after the round's `warnings` it refers to.
pub(super) fn failing(warnings: &[String], error: anyhow::Error) -> anyhow::Error {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    error
}

/// Prints what `once` renders; with `watch`, again every [`WATCH_EVERY`] until interrupted
/// (on a terminal the screen is cleared first, so the round's warnings are printed after
/// it; elsewhere the tables follow each other). Nothing is printed on stdout for a round
/// that fails: its error ends the command.
fn show(watch: bool, mut once: impl FnMut() -> anyhow::Result<Round>) -> anyhow::Result<ExitCode> {
    let clear = watch && std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let Round { warnings, text } = once()?;
        let mut out = std::io::stdout().lock();
        if clear {
            write!(out, "\x1b[2J\x1b[H")?;
            out.flush()?;
        }
        for warning in &warnings {
            eprintln!("warning: {warning}");
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

pub(super) fn pretty(value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

fn run_local(plan: &Plan, proxies: &[String]) -> anyhow::Result<ExitCode> {
    let runtime = control_plane::runtime()?;
    show(plan.watch, || {
        let results = runtime.block_on(fetch_all(proxies, plan.options));
        local_once(plan, proxies, results)
    })
}

/// One round of local mode, rendered.
fn local_once(
    plan: &Plan,
    proxies: &[String],
    results: Vec<Result<StatsAnswer, FetchError>>,
) -> anyhow::Result<Round> {
    let mut answers = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for (proxy, result) in proxies.iter().zip(results) {
        match result {
            Ok(answer) => answers.push(answer),
            Err(e) => failed.push((proxy, e.to_string())),
        }
    }
    let warnings: Vec<String> = (failed.iter())
        .map(|(proxy, error)| format!("proxy {proxy}: {error}; its figures are left out"))
        .collect();
    let merged = Merged::from_answers(&answers).map_err(|e| failing(&warnings, e.into()))?;
    let Some(merged) = merged else {
        let error = anyhow::anyhow!(
            "no proxy answered ({} asked); check the addresses are admin ports (4191) of \
             running proxies",
            proxies.len()
        );
        return Err(failing(&warnings, error));
    };
    let meshed = format!("{}/{}", answers.len(), proxies.len());
    let text = match plan.output {
        Format::Table => format!("{}\n", table(&merged, &meshed, false)),
        Format::Wide => format!("{}\n", table(&merged, &meshed, true)),
        Format::Json => {
            let rows: Vec<_> = merged.signals().map(|(k, s)| row_json(k, &s)).collect();
            let failed: Vec<_> = failed
                .iter()
                .map(|(proxy, error)| json!({"proxy": proxy, "error": error}))
                .collect();
            pretty(&json!({
                "windowSeconds": plan.options.window.as_secs(),
                "proxies": {"asked": proxies.len(), "answered": answers.len(), "failed": failed},
                "rows": rows,
            }))?
        }
    };
    Ok(Round { warnings, text })
}
