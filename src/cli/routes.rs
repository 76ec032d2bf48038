//! `meshctl routes`: a service's success, RPS and latency per route of its config, from the
//! windows its clients' proxies keep per route, read through the API server like `stat`.

use std::process::ExitCode;

use clap::Args;
use meshctl::stats::routes::routes;
use meshctl::stats::select::authority_matches;
use meshctl::stats::{Kind, Merged, ResourceRef, Scope};
use serde_json::json;

use super::stat::cluster::{silent_pods, waiting};
use super::stat::{ReadArgs, pretty, usage};
use super::stat_output::{route_json, routes_table};
use super::{GlobalArgs, TableOrJson, control_plane};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshctl routes svc/web -n shop               web's routes as shop's pods call them
  meshctl routes deploy/web -n shop --all-clients -o json

Routes are the service's HTTPRoute rules, VirtualService http entries or ServiceProfile \
routes, by the names the mesh gives them; the figures are what the clients' proxies sent \
on each (a route nobody called shows no success rate). Each client pod's proxy is read \
through the API server (get on pods/proxy).")]
pub struct RoutesArgs {
    /// The service (svc/NAME) or a workload it serves (deploy/NAME, sts/NAME, ds/NAME)
    #[arg(value_name = "RES")]
    target: String,
    /// Count clients in every namespace, not only the target's
    #[arg(long)]
    all_clients: bool,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(args: RoutesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let what: ResourceRef = args.target.parse()?;
    if what.name.is_none() || matches!(what.kind, Kind::Namespace | Kind::Pod) {
        return Err(usage(format!(
            "routes {}: name one service or workload, e.g. svc/web or deploy/web",
            args.target
        )));
    }
    let options = args.read.options()?;
    let runtime = control_plane::runtime()?;
    let conn = runtime.block_on(control_plane::connect(global))?;
    let ns = global.namespace.clone().unwrap_or(conn.namespace.clone());
    let scope = Scope::Namespace(ns.clone());
    let (rows, warnings, asked) = runtime.block_on(async {
        let target = meshctl::stats::select(&conn, &what, &scope).await?;
        let clients = ResourceRef {
            kind: Kind::Namespace,
            name: (!args.all_clients).then(|| ns.clone()),
        };
        let clients = meshctl::stats::select(&conn, &clients, &scope).await?;
        let waiting = waiting(&clients);
        let asked = meshctl::stats::ask_pods(&conn.once, &clients, options).await;
        let warnings = silent_pods(waiting, &asked.unreachable, asked.answers.len(), "routes")?;
        let merged = Merged::from_answers(asked.answers.values())?;
        let to = |authority: &str| (target.iter()).any(|t| authority_matches(authority, &t.hosts));
        let rows = merged.map(|m| routes(&m, to)).unwrap_or_default();
        anyhow::Ok((rows, warnings, asked.answers.len()))
    })?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    match args.read.output {
        TableOrJson::Json => print!(
            "{}",
            pretty(&json!({
                "windowSeconds": options.window.as_secs(),
                "target": what.to_string(),
                "namespace": ns,
                "clientsAsked": asked,
                "routes": rows.iter().map(route_json).collect::<Vec<_>>(),
            }))?
        ),
        TableOrJson::Table if rows.is_empty() => eprintln!(
            "No routes of {what} in namespace {ns} among the {asked} client proxies asked: \
             none of them has it in its config (is it meshed, and are its callers?)"
        ),
        TableOrJson::Table => println!("{}", routes_table(&rows)),
    }
    Ok(ExitCode::SUCCESS)
}
