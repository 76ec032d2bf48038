//! `meshctl uninstall`: list what an install owns (found by its labels) and, with `--apply`,
//! delete it; refused while meshed pods still run, unless `--force`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use meshctl::install;
use meshctl::k8s::apply::describe;

use super::GlobalArgs;
use super::control_plane::{self, Progress};

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Delete the objects instead of printing what would be deleted
    #[arg(long)]
    apply: bool,
    /// Delete even while meshed pods still run (their proxies lose the controller)
    #[arg(long)]
    force: bool,
    /// Keep meshctl's CRDs (and every custom resource of them)
    #[arg(long)]
    keep_crds: bool,
}

/// The namespace of the mesh: `-n`, or the default install namespace.
pub fn mesh_namespace(global: &GlobalArgs) -> String {
    global
        .namespace
        .clone()
        .unwrap_or_else(|| meshctl::manifests::Values::default().namespace)
}

pub fn run(args: UninstallArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let namespace = mesh_namespace(global);
    control_plane::runtime()?.block_on(async {
        let conn = control_plane::connect(global).await?;
        let objects = install::owned_objects(&conn, &namespace, !args.keep_crds).await?;
        let meshed = install::meshed_pods(&conn).await?;
        if args.apply && !meshed.is_empty() && !args.force {
            bail!(
                "{} meshed pods still run ({}); remove their proxies first (`meshctl uninject` \
                 and re-apply the workloads), or pass --force",
                meshed.len(),
                meshed.join(", ")
            );
        }
        let mut out = std::io::stdout().lock();
        if !args.apply {
            for object in &objects {
                writeln!(out, "would delete {}", describe(object))?;
            }
            if !meshed.is_empty() {
                eprintln!(
                    "note: meshed pods still run ({}); --apply refuses without --force",
                    meshed.join(", ")
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let progress = Progress::new();
        let deleted = install::remove(&conn, &objects, false, &mut |what| {
            progress.line(&format!("deleted {what}"), true)
        })
        .await?;
        progress.finish();
        writeln!(
            out,
            "meshctl uninstalled from namespace {namespace} on {} (context `{}`): {deleted} \
             objects deleted",
            conn.server, conn.context
        )?;
        Ok(ExitCode::SUCCESS)
    })
}
