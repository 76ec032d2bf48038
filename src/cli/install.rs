//! `meshctl install`: render the control plane and print it, or apply it to the cluster.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use meshctl::install::{self, Summary};
use meshctl::k8s::Connection;
use meshctl::manifests::{self, InstallCerts, Manifest, Values, certs};

use super::GlobalArgs;
use super::control_plane::{self, ApplyArgs, Progress, RenderArgs};

pub type InstallArgs = RenderArgs;

pub fn run(args: InstallArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let values = control_plane::values(&args.values, global, &Values::default())?;
    let identity = args.identity.load()?;
    if !args.apply.to_cluster() {
        // Printing works offline: fresh certificates unless the operator gave files.
        let certs = fresh_certs(&values, identity)?;
        let manifests =
            manifests::render(&values, &certs, args.apply.options().crds.rendered(true))?;
        return print(&manifests);
    }
    control_plane::runtime()?.block_on(async {
        let conn = control_plane::connect(global).await?;
        // A repeated install keeps the identity and webhook certificates already there.
        let state = install::read_state(&conn, &values.namespace).await?;
        let certs = match (identity, state.certs()) {
            (Some(identity), Some(existing)) => InstallCerts {
                identity,
                webhook: existing.webhook,
            },
            (None, Some(existing)) => existing,
            (identity, None) => fresh_certs(&values, identity)?,
        };
        let manifests =
            manifests::render(&values, &certs, args.apply.options().crds.rendered(false))?;
        let summary = apply(&conn, &manifests, &args.apply).await?;
        report("installed", &conn, &values, &summary, &args.apply)?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Generated certificates, with the operator's identity files when given.
pub fn fresh_certs(
    values: &Values,
    identity: Option<manifests::IdentityCerts>,
) -> anyhow::Result<InstallCerts> {
    let now = SystemTime::now();
    let identity = match identity {
        Some(identity) => identity,
        None => certs::generate_identity(&values.identity.trust_domain, now)?,
    };
    Ok(InstallCerts {
        identity,
        webhook: certs::generate_webhook(&values.namespace, now)?,
    })
}

pub fn print(manifests: &[Manifest]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    out.write_all(manifests::to_yaml_stream(manifests).as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub async fn apply(
    conn: &Connection,
    manifests: &[Manifest],
    args: &ApplyArgs,
) -> anyhow::Result<Summary> {
    let options = args.options();
    let progress = Progress::new();
    let summary = install::apply(conn, manifests, &options, &mut |e| {
        progress.event(e, options.dry_run)
    })
    .await?;
    progress.finish();
    Ok(summary)
}

/// The one stdout line of a successful apply.
pub fn report(
    done: &str,
    conn: &Connection,
    values: &Values,
    summary: &Summary,
    args: &ApplyArgs,
) -> anyhow::Result<()> {
    let mut line = if args.dry_run.is_some() {
        format!(
            "server-side dry run on {} (context `{}`): {} objects accepted",
            conn.server, conn.context, summary.applied
        )
    } else {
        format!(
            "meshctl {} {done} in namespace {} on {} (context `{}`): {} objects applied",
            env!("CARGO_PKG_VERSION"),
            values.namespace,
            conn.server,
            conn.context,
            summary.applied
        )
    };
    if summary.not_checked > 0 {
        line.push_str(&format!(
            ", {} not checked (namespace {} does not exist yet)",
            summary.not_checked, values.namespace
        ));
    }
    if !summary.kept_crds.is_empty() {
        line.push_str(&format!(
            ", CRDs kept as another product installed them: {}",
            summary.kept_crds.join(", ")
        ));
    }
    if args.wait && args.dry_run.is_none() {
        line.push_str(", controller ready");
    }
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(())
}
