//! `meshctl edges`: who calls whom among cluster resources, with the identities both sides
//! proved and whether mesh TLS carried the requests, read from the proxies' `/stats` through
//! the API server like `stat`.

use std::process::ExitCode;

use clap::Args;
use meshctl::stats::edges::{Edge, edges, short_identity};
use meshctl::stats::{Kind, ResourceRef, Scope};
use serde_json::json;

use super::stat::cluster::{meshed_pods, silent_pods, waiting};
use super::stat::{ReadArgs, pretty, scope, usage};
use super::{GlobalArgs, TableOrJson, control_plane};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshctl edges deploy -n shop          who calls whom among shop's deployments
  meshctl edges ns -A -o json           between namespaces, as JSON

SRC and DST are resources of the kind given; a caller outside them shows as its service \
account (sa/NAME) or `-` when it proved no identity, a destination outside them as the \
authority called. CLIENT_ID and SERVER_ID are the mesh identities (namespace/account) each \
side proved; SECURED says whether mutual TLS carried every request of the window, or why \
not. Each meshed pod's proxy is read through the API server (get on pods/proxy).")]
pub struct EdgesArgs {
    /// Between resources of this kind: deploy, sts, ds, pod or ns
    #[arg(value_name = "KIND")]
    kind: String,
    /// Every namespace instead of -n's (or the context's)
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(args: EdgesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let what: ResourceRef = args.kind.parse()?;
    if what.name.is_some() || what.kind == Kind::Service {
        return Err(usage(format!(
            "edges {}: give a kind of workload (deploy, sts, ds, pod or ns) without a name",
            args.kind
        )));
    }
    let options = args.read.options()?;
    let scope = scope(args.all_namespaces, global)?;
    let runtime = control_plane::runtime()?;
    let conn = runtime.block_on(control_plane::connect(global))?;
    let scope = scope.unwrap_or_else(|| Scope::Namespace(conn.namespace.clone()));
    let (edges, warnings, unreachable) = runtime.block_on(async {
        let selected = meshctl::stats::select(&conn, &what, &scope).await?;
        meshed_pods(&what, &scope, &selected)?;
        let waiting = waiting(&selected);
        let asked = meshctl::stats::ask_pods(&conn.once, &selected, options).await;
        let warnings = silent_pods(waiting, &asked.unreachable, asked.answers.len(), "edges")?;
        let edges = edges(&selected, |s| asked.of(s))?;
        let unreachable: Vec<_> = (asked.unreachable.iter())
            .map(|u| {
                let pod = format!("{}/{}", u.namespace, u.pod);
                json!({"pod": pod, "error": u.error.to_string()})
            })
            .collect();
        anyhow::Ok((edges, warnings, unreachable))
    })?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    match args.read.output {
        TableOrJson::Json => {
            let rows: Vec<_> = edges.iter().map(edge_json).collect();
            print!(
                "{}",
                pretty(&json!({
                    "windowSeconds": options.window.as_secs(),
                    "edges": rows,
                    "unreachable": unreachable,
                }))?
            );
        }
        TableOrJson::Table if edges.is_empty() => {
            let what = match &scope {
                Scope::Namespace(ns) if what.kind != Kind::Namespace => {
                    format!(" in namespace {ns}")
                }
                _ => String::new(),
            };
            eprintln!("No edges{what} in the last {}.", args.read.window);
        }
        TableOrJson::Table => println!("{}", table(&edges)),
    }
    Ok(ExitCode::SUCCESS)
}

fn edge_json(e: &Edge) -> serde_json::Value {
    json!({
        "src": e.src.name(),
        "srcNamespace": e.src.namespace(),
        "dst": e.dst.name(),
        "dstNamespace": e.dst.namespace(),
        "clientIds": e.client_ids,
        "serverIds": e.server_ids,
        "secured": e.secured.is_mtls(),
        "reason": e.secured.reason(),
        "requests": e.requests,
    })
}

fn table(edges: &[Edge]) -> comfy_table::Table {
    let mut table = super::stdout_table();
    table.set_header([
        "SRC",
        "DST",
        "SRC_NS",
        "DST_NS",
        "CLIENT_ID",
        "SERVER_ID",
        "SECURED",
    ]);
    let ids = |ids: &std::collections::BTreeSet<String>| {
        if ids.is_empty() {
            return "-".to_owned();
        }
        let short: Vec<String> = ids.iter().map(|id| short_identity(id)).collect();
        short.join(",")
    };
    for e in edges {
        let secured = match e.secured.reason() {
            None => "yes (mTLS)".to_owned(),
            Some(why) => format!("no: {why}"),
        };
        table.add_row([
            e.src.name(),
            e.dst.name(),
            e.src.namespace().unwrap_or("-").to_owned(),
            e.dst.namespace().unwrap_or("-").to_owned(),
            ids(&e.client_ids),
            ids(&e.server_ids),
            secured,
        ]);
    }
    table
}
