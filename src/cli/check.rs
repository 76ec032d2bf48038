//! `meshctl check`: run the health checks and print them as text, short text or JSON.

use std::io::Write;
use std::process::ExitCode;

use meshctl::check::{self, Mode, Target, catalogue, output};
use meshctl::k8s::{self, Connection};

use super::GlobalArgs;
use super::control_plane;
use super::uninstall::mesh_namespace;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Run the pre-install checks instead of checking an install
    #[arg(long, conflicts_with = "proxy")]
    pre: bool,
    /// Check the data plane (every meshed pod's proxy) instead of the control plane; -n
    /// limits it to one namespace (default: every namespace)
    #[arg(long)]
    proxy: bool,
    /// With --proxy: the mesh's namespace, whose trust anchors the proxies must use
    #[arg(long, value_name = "NS", requires = "proxy")]
    mesh_namespace: Option<String>,
    /// Print the catalogue of checks (ids, descriptions, hints) and exit
    #[arg(long)]
    list: bool,
    /// Retry until every check passes or this much time has passed, e.g. --wait 2m
    #[arg(long, value_name = "DURATION")]
    wait: Option<meshctl::model::duration::Duration>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Short,
    Json,
}

pub fn run(args: CheckArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mode = match (args.pre, args.proxy) {
        (true, _) => Mode::Pre,
        (_, true) => Mode::Proxy,
        _ => Mode::Post,
    };
    let mut out = std::io::stdout().lock();
    if args.list {
        output::list(catalogue(mode), &mut out)?;
        return Ok(ExitCode::SUCCESS);
    }
    // With --proxy, -n names the pods' namespace.
    let namespace = match (&args.mesh_namespace, args.proxy) {
        (Some(ns), _) => ns.clone(),
        (None, true) => meshctl::manifests::Values::default().namespace,
        (None, false) => mesh_namespace(global),
    };
    let report = control_plane::runtime()?.block_on(async {
        let conn: Result<Connection, String> = Connection::new(&k8s::Target {
            kubeconfig: global.kubeconfig.clone(),
            context: global.context.clone(),
        })
        .await
        .map_err(|e| e.to_string());
        let target = Target {
            conn: conn.as_ref().map_err(Clone::clone),
            namespace: &namespace,
            pods_namespace: global.namespace.as_deref().filter(|_| args.proxy),
        };
        let wait = args.wait.map_or(std::time::Duration::ZERO, |w| w.get());
        // Progress on stderr: stdout carries only the final report.
        let mut attempt = |report: &check::Report| {
            let failing: Vec<&str> = report
                .results
                .iter()
                .filter(|r| r.status == check::Status::Error)
                .map(|r| r.id)
                .collect();
            eprintln!("waiting: {} failing, retrying", failing.join(", "));
        };
        check::run_until(&target, mode, wait, &mut attempt).await
    });
    let glyphs = output::Glyphs::from_locale(|k| std::env::var(k).ok());
    match args.output {
        Format::Json => output::json(&report, &mut out)?,
        Format::Text => output::text(&report, glyphs, false, &mut out)?,
        Format::Short => output::text(&report, glyphs, true, &mut out)?,
    }
    out.flush()?;
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
