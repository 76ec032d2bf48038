//! `meshctl canary start|status|promote|abort|pause|resume|list`: progressive rollouts,
//! recorded as Canary objects that the controller's leader drives. Thin: parse, call
//! `canary::record`, print.

use std::process::ExitCode;
use std::time::Duration as StdDuration;

use clap::Args;
use meshctl::canary::record::{self, Command};
use meshctl::canary::resource::{Analysis, Canary, CanarySpec, Load, VersionFigures};
use meshctl::model::duration::Duration;

use super::{GlobalArgs, TableOrJson, UsageError, control_plane};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshctl canary start web --canary web-v2 -n shop                  10 % steps to 50 %, 30 s each
  meshctl canary start web --canary web-v2 --steps 1,5,25,50 --interval 1m --p99 300ms
  meshctl canary status web -n shop -w                              follow it; exit 1 if it fails

Each step shifts the weight (on the one HTTPRoute, TrafficSplit or VirtualService routing the \
Service), waits until every client proxy acked the config carrying it, then judges the canary \
pods' inbound success rate and p99 over the interval. After the last step it promotes (100 %); \
--threshold failed checks roll it back to 0. Too few requests is no verdict: it waits for traffic.")]
pub struct StartArgs {
    /// The Service whose traffic is split
    #[arg(value_name = "SERVICE")]
    service: String,
    /// The canary: a Service (its pods are analysed), or a VirtualService subset
    #[arg(long, value_name = "SVC_OR_SUBSET")]
    canary: String,
    /// Steps of this many percent up to --max-weight
    #[arg(long, value_name = "PERCENT", conflicts_with = "steps")]
    step: Option<u32>,
    /// The canary weights in order, e.g. 1,5,25,50
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    steps: Option<Vec<u32>>,
    /// How long each step is analysed (and the time between checks)
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    interval: Duration,
    /// The last step's weight with --step (default 50)
    #[arg(long, value_name = "PERCENT")]
    max_weight: Option<u32>,
    /// Lowest success rate that passes, in percent
    #[arg(long, default_value_t = 99.0, value_name = "PERCENT")]
    success_rate: f64,
    /// Highest p99 latency that passes
    #[arg(long, value_name = "DURATION")]
    p99: Option<Duration>,
    /// Failed checks that roll the canary back
    #[arg(long, default_value_t = 3, value_name = "N")]
    threshold: u32,
    /// Fewer requests in a window is no verdict (the check waits for traffic)
    #[arg(long, default_value_t = 50, value_name = "N")]
    min_requests: u64,
    /// Send synthetic GETs to this http:// URL (reaching the canary) while the rollout runs
    #[arg(long, value_name = "URL")]
    load: Option<String>,
    /// Requests per second with --load
    #[arg(long, default_value_t = 10, value_name = "N", requires = "load")]
    load_rps: u32,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: TableOrJson,
}

/// `status`: one rollout, or every one of the namespace.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The Service of the rollout (all of the namespace when left out)
    #[arg(value_name = "SERVICE")]
    service: Option<String>,
    /// Follow it until it ends, printing each change
    #[arg(short = 'w', long)]
    watch: bool,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: TableOrJson,
}

/// `promote`, `abort`, `pause`, `resume`.
#[derive(Debug, Args)]
pub struct CommandArgs {
    /// The Service of the rollout
    #[arg(value_name = "SERVICE")]
    service: String,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: TableOrJson,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    common: CommandArgs,
    /// Straight to 100 % instead of skipping the current step's analysis
    #[arg(long)]
    full: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Every namespace
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: TableOrJson,
}

pub fn start(args: StartArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let spec = CanarySpec {
        service: args.service,
        canary: args.canary,
        steps: args.steps,
        step_weight: args.step,
        max_weight: args.max_weight,
        interval_seconds: args.interval.get().as_secs(),
        analysis: Analysis {
            success_rate: args.success_rate,
            p99_ms: args.p99.map(|d| d.get().as_secs_f64() * 1000.0),
            threshold: args.threshold,
            min_requests: args.min_requests,
        },
        load: args.load.map(|url| Load {
            url,
            rps: args.load_rps,
        }),
        ..CanarySpec::default()
    };
    let plan = spec.plan().map_err(|e| UsageError(e.to_string()))?;
    if let Some(load) = &spec.load {
        let http = load
            .url
            .parse::<http::Uri>()
            .is_ok_and(|u| u.scheme_str() == Some("http") && u.host().is_some());
        if !http || load.rps == 0 {
            return Err(UsageError(format!(
                "--load {} --load-rps {}: give an http:// URL that reaches the canary (e.g. http://web-v2.shop:8080/) and at least 1 request per second",
                load.url, load.rps
            ))
            .into());
        }
    }
    let (runtime, conn, ns) = connect(global)?;
    let canary = runtime.block_on(record::start(&conn, &ns, spec))?;
    match args.output {
        TableOrJson::Json => println!("{}", serde_json::to_string_pretty(&canary)?),
        TableOrJson::Table => println!(
            "Canary {ns}/{} started: steps {:?} then 100%, {}s each; follow it with `meshctl canary status {} -n {ns} -w`",
            canary.spec.service, plan.steps, plan.interval_seconds, canary.spec.service
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn command(
    args: CommandArgs,
    command: Command,
    global: &GlobalArgs,
) -> anyhow::Result<ExitCode> {
    let (runtime, conn, ns) = connect(global)?;
    let canary = runtime.block_on(record::command(&conn, &ns, &args.service, command))?;
    let asked = match command {
        Command::Pause => "pause",
        Command::Resume => "resume",
        Command::Abort => "abort (all traffic back to the stable backends)",
        Command::Promote { full: true } => "full promotion (100% to the canary)",
        Command::Promote { full: false } => "promotion to the next step",
    };
    match args.output {
        TableOrJson::Json => println!("{}", serde_json::to_string_pretty(&canary)?),
        TableOrJson::Table => println!(
            "Canary {ns}/{}: {asked} requested; the controller acts on it within a second",
            args.service
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn promote(args: PromoteArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    command(args.common, Command::Promote { full: args.full }, global)
}

pub fn status(args: StatusArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (runtime, conn, ns) = connect(global)?;
    let read = || -> anyhow::Result<Vec<Canary>> {
        Ok(match &args.service {
            Some(service) => vec![runtime.block_on(record::get(&conn, &ns, service))?],
            None => runtime.block_on(record::list(&conn, Some(&ns)))?,
        })
    };
    let mut last: Option<String> = None;
    loop {
        let canaries = read()?;
        let text = match args.output {
            TableOrJson::Json if args.service.is_some() => {
                serde_json::to_string_pretty(&canaries[0])?
            }
            TableOrJson::Json => serde_json::to_string_pretty(&canaries)?,
            TableOrJson::Table => canaries.iter().map(details).collect::<Vec<_>>().join("\n"),
        };
        if last.as_deref() != Some(text.as_str()) {
            println!("{text}");
            last = Some(text);
        }
        let done = canaries.iter().all(record::finished);
        if !args.watch || done {
            let failed = canaries.iter().any(failed);
            return Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        std::thread::sleep(StdDuration::from_millis(500));
    }
}

pub fn list(args: ListArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (runtime, conn, ns) = connect(global)?;
    let scope = (!args.all_namespaces).then_some(ns.as_str());
    let canaries = runtime.block_on(record::list(&conn, scope))?;
    match args.output {
        TableOrJson::Json => println!("{}", serde_json::to_string_pretty(&canaries)?),
        TableOrJson::Table if canaries.is_empty() => println!("No rollouts."),
        TableOrJson::Table => {
            let mut table = super::stdout_table();
            table.set_header([
                "NAMESPACE",
                "SERVICE",
                "CANARY",
                "PHASE",
                "WEIGHT",
                "ACKED",
                "MESSAGE",
            ]);
            for c in &canaries {
                let s = c.status.clone().unwrap_or_default();
                let percent = |w: Option<u32>| w.map_or("-".to_owned(), |w| format!("{w}%"));
                table.add_row([
                    c.metadata.namespace.clone().unwrap_or_default(),
                    c.spec.service.clone(),
                    c.spec.canary.clone(),
                    s.phase.unwrap_or_else(|| "Pending".to_owned()),
                    percent(s.weight),
                    percent(s.weight_acked),
                    s.message.unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn connect(
    global: &GlobalArgs,
) -> anyhow::Result<(tokio::runtime::Runtime, meshctl::k8s::Connection, String)> {
    let runtime = control_plane::runtime()?;
    let conn = runtime.block_on(control_plane::connect(global))?;
    let ns = global
        .namespace
        .clone()
        .unwrap_or_else(|| conn.namespace.clone());
    Ok((runtime, conn, ns))
}

/// Ended without promoting the canary, or cannot run.
fn failed(canary: &Canary) -> bool {
    let status = canary.status.as_ref();
    status
        .and_then(|s| s.state.as_ref())
        .is_some_and(|s| s.phase.is_failure())
        || status.and_then(|s| s.phase.as_deref()) == Some(record::INVALID)
}

/// One rollout, for `status`.
fn details(c: &Canary) -> String {
    let s = c.status.clone().unwrap_or_default();
    let ns = c.metadata.namespace.as_deref().unwrap_or("");
    let phase = s.phase.clone().unwrap_or_else(|| "Pending".to_owned());
    let mut out = format!("Canary {ns}/{}: {phase}", c.spec.service);
    if let Some(w) = s.weight {
        out.push_str(&format!(", weight {w}% to {}", c.spec.canary));
    }
    match (s.weight_acked, s.acks) {
        (Some(w), _) => out.push_str(&format!(" (acked {w}%)")),
        (None, Some(a)) => out.push_str(&format!(" ({}/{} proxies acked)", a.acked, a.total)),
        (None, None) => {}
    }
    out.push('\n');
    let mut line = |label: &str, value: &str| out.push_str(&format!("  {label:<10}{value}\n"));
    if let Some(route) = &s.route {
        line("route:", route);
    }
    line(
        "message:",
        s.message.as_deref().unwrap_or("waiting for the controller"),
    );
    if let Some(d) = &s.last_decision {
        line("decision:", d);
    }
    if let Some(a) = &s.analysis {
        line("canary:", &figures(&a.canary, a.window_seconds));
        if let Some(stable) = &a.stable {
            line("stable:", &figures(stable, a.window_seconds));
        }
    }
    if !s.events.is_empty() {
        line("events:", "");
        for e in &s.events {
            out.push_str(&format!("    {}  {}\n", clock(e.at_ms), e.message));
        }
    }
    out
}

fn figures(f: &VersionFigures, window: u64) -> String {
    format!(
        "{} in {window}s ({}/{} pods answered)",
        f.summary(),
        f.pods_answered,
        f.pods
    )
}

/// `HH:MM:SS` (UTC) of milliseconds since the epoch.
fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}
