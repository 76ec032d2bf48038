//! `meshctl canary`: set the split of the object that routes a Service, or run a progressive
//! rollout (`canary_rollout`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use meshctl::canary::apply::Outcome;
use meshctl::canary::{RouteKind, SetWeight, Want, set_weight};

use super::canary_rollout::{
    self as rollout, CommandArgs, ListArgs, PromoteArgs, StartArgs, StatusArgs,
};
use super::{GlobalArgs, TableOrJson, UsageError, control_plane};
use meshctl::canary::record::Command;

#[derive(Debug, Args)]
pub struct CanaryArgs {
    #[command(subcommand)]
    command: CanaryCommand,
}

#[derive(Debug, Subcommand)]
enum CanaryCommand {
    /// Set the canary's weight on the HTTPRoute, TrafficSplit or VirtualService routing a Service
    SetWeight(SetWeightArgs),
    /// Start a progressive rollout, driven by the controller (recorded as a Canary object)
    Start(StartArgs),
    /// Show a rollout's step, weights set and acked, last analysis and events
    Status(StatusArgs),
    /// Skip the current step's analysis, or go to 100 % (--full)
    Promote(PromoteArgs),
    /// Send all traffic back to the stable backends at once and stop the rollout
    Abort(CommandArgs),
    /// Hold the rollout at its current weight
    Pause(CommandArgs),
    /// Continue a paused rollout (its analysis window starts again)
    Resume(CommandArgs),
    /// List the rollouts of the namespace (-A: of every namespace)
    List(ListArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshctl canary set-weight web web-canary=20 -n shop      20 % to web-canary, 80 % to the rest
  meshctl canary set-weight reviews v2=50 -n shop          a VirtualService subset
  meshctl canary set-weight web web-v2=10 --create httproute   write a route if none exists

The object is the one HTTPRoute (parentRef the Service), TrafficSplit (apex the Service) or \
VirtualService (host the Service) of the namespace; two are refused as ambiguous. Only the \
weights change (server-side apply, field manager meshctl); the other backends of each route \
share the rest in the ratio they had.")]
struct SetWeightArgs {
    /// The Service whose traffic is split
    #[arg(value_name = "SERVICE")]
    service: String,
    /// A canary backend (Service, or VirtualService subset) and its percentage, e.g. web-v2=20
    #[arg(value_name = "CANARY=W", required = true)]
    weights: Vec<String>,
    /// When no object routes the Service, write one of this kind (to the Service and the canary)
    #[arg(long, value_enum, value_name = "KIND")]
    create: Option<CreateKind>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: TableOrJson,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CreateKind {
    Httproute,
    Trafficsplit,
    Virtualservice,
}

impl From<CreateKind> for RouteKind {
    fn from(k: CreateKind) -> Self {
        match k {
            CreateKind::Httproute => RouteKind::HttpRoute,
            CreateKind::Trafficsplit => RouteKind::TrafficSplit,
            CreateKind::Virtualservice => RouteKind::VirtualService,
        }
    }
}

pub fn run(args: CanaryArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CanaryCommand::SetWeight(a) => run_set_weight(a, global),
        CanaryCommand::Start(a) => rollout::start(a, global),
        CanaryCommand::Status(a) => rollout::status(a, global),
        CanaryCommand::Promote(a) => rollout::promote(a, global),
        CanaryCommand::Abort(a) => rollout::command(a, Command::Abort, global),
        CanaryCommand::Pause(a) => rollout::command(a, Command::Pause, global),
        CanaryCommand::Resume(a) => rollout::command(a, Command::Resume, global),
        CanaryCommand::List(a) => rollout::list(a, global),
    }
}

/// `CANARY=W` pairs, each W a whole percentage.
fn want(pairs: &[String]) -> Result<Want, UsageError> {
    let mut canaries: Vec<(String, u32)> = Vec::new();
    for pair in pairs {
        let bad = || {
            UsageError(format!(
                "{pair:?}: give CANARY=W, W a percentage 0 to 100 (e.g. web-v2=20)"
            ))
        };
        let (name, w) = pair.split_once('=').ok_or_else(bad)?;
        let w: u32 = w.trim_end_matches('%').parse().map_err(|_| bad())?;
        if name.is_empty() || w > 100 {
            return Err(bad());
        }
        if canaries.iter().any(|c| c.0 == name) {
            return Err(UsageError(format!("{name} is given twice")));
        }
        canaries.push((name.to_owned(), w));
    }
    let sum: u32 = canaries.iter().map(|c| c.1).sum();
    if sum > 100 {
        return Err(UsageError(format!(
            "the canary weights add up to {sum}%, more than 100%"
        )));
    }
    Ok(Want { canaries })
}

fn run_set_weight(args: SetWeightArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let want = want(&args.weights)?;
    let runtime = control_plane::runtime()?;
    let conn = runtime.block_on(control_plane::connect(global))?;
    let plan = SetWeight {
        namespace: global
            .namespace
            .clone()
            .unwrap_or_else(|| conn.namespace.clone()),
        service: args.service,
        want,
        create: args.create.map(RouteKind::from),
    };
    let outcome = runtime.block_on(set_weight(&conn, &plan))?;
    match args.output {
        TableOrJson::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
        TableOrJson::Table => print!("{}", summary(&outcome)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `HTTPRoute shop/web: web-canary 10 → 20 (spec.rules[1].backendRefs[1])`, one line each.
fn summary(o: &Outcome) -> String {
    let what = format!("{} {}/{}", o.kind.kind(), o.namespace, o.name);
    if o.changes.is_empty() {
        return format!("{what}: the weights already are as asked\n");
    }
    let verb = if o.created { "created" } else { "updated" };
    let mut out = format!("{what} {verb}\n");
    for c in &o.changes {
        let from = match &c.from {
            serde_json::Value::Null => "-".to_owned(),
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let to = match &c.to {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        out.push_str(&format!("  {}: {from} -> {to}  ({})\n", c.backend, c.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_name_equals_percent() {
        assert_eq!(
            want(&["web-v2=20".into()]).unwrap(),
            Want::one("web-v2", 20)
        );
        assert_eq!(
            want(&["a=10%".into(), "b=5".into()])
                .unwrap()
                .canaries
                .len(),
            2
        );
        for bad in ["web", "=5", "a=101", "a=x", "a=-1"] {
            assert!(want(&[bad.to_owned()]).is_err(), "{bad}");
        }
        assert!(want(&["a=60".into(), "b=50".into()]).is_err());
        assert!(want(&["a=6".into(), "a=5".into()]).is_err());
    }
}
