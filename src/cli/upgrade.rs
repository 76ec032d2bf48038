//! `meshctl upgrade`: re-render with the values the install recorded plus new overrides,
//! keep its certificates (or take new identity files; rotate the webhook's without a window in
//! which the API server cannot call it), apply, and prune what is gone.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::anyhow;
use meshctl::install::{self, InstallError};
use meshctl::manifests::certs::plan_webhook;
use meshctl::manifests::{self, InstallCerts};

use super::GlobalArgs;
use super::control_plane::{self, Progress, RenderArgs};
use super::install::{apply, print, report};

#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub render: RenderArgs,
    /// Replace the webhook's CA and serving certificate (done anyway within 30 days of its
    /// end); the caBundle trusts the old CA too until the next upgrade
    #[arg(long)]
    pub rotate_webhook_cert: bool,
}

pub fn run(upgrade: UpgradeArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let args = upgrade.render;
    let identity = args.identity.load()?;
    let namespace = super::uninstall::mesh_namespace(global);
    control_plane::runtime()?.block_on(async {
        let conn = control_plane::connect(global).await?;
        let state = install::read_state(&conn, &namespace).await?;
        let not_installed = || InstallError::NotInstalled {
            server: conn.server.clone(),
            context: conn.context.clone(),
            namespace: namespace.clone(),
        };
        let recorded = state.values.clone().ok_or_else(not_installed)?;
        let values = control_plane::values(&args.values, global, &recorded)?;
        if values.namespace != recorded.namespace {
            return Err(anyhow!(
                "upgrade cannot move the mesh from namespace {} to {}; uninstall and install \
                 again instead",
                recorded.namespace,
                values.namespace
            ));
        }
        let existing = state.certs().ok_or_else(|| InstallError::BadState {
            object: "identity issuer or webhook Secret".to_owned(),
            namespace: namespace.clone(),
            server: conn.server.clone(),
            reason: "it is missing".to_owned(),
        })?;
        let webhook = plan_webhook(
            &existing.webhook,
            &values.namespace,
            upgrade.rotate_webhook_cert,
            SystemTime::now(),
        )?;
        let certs = InstallCerts {
            identity: identity.unwrap_or(existing.identity),
            webhook: webhook.certs,
        };
        let crds = args.apply.options().crds.rendered(!args.apply.to_cluster());
        let manifests = manifests::render(&values, &certs, crds)?;
        if !args.apply.to_cluster() {
            return print(&manifests);
        }
        if webhook.bundle_first {
            // The API server trusts the new CA before any controller can load the new leaf.
            let hooks: Vec<_> = manifests
                .iter()
                .filter(|m| m.kind() == "MutatingWebhookConfiguration")
                .cloned()
                .collect();
            apply(&conn, &hooks, &args.apply).await?;
            if args.apply.dry_run.is_none() {
                tokio::time::sleep(meshctl::manifests::certs::WEBHOOK_BUNDLE_SETTLE).await;
            }
        }
        let summary = apply(&conn, &manifests, &args.apply).await?;
        let stale = install::prune(&conn, &namespace, &manifests).await?;
        let progress = Progress::new();
        let dry_run = args.apply.dry_run.is_some();
        let pruned = install::remove(&conn, &stale, dry_run, &mut |what| {
            progress.line(&format!("pruned {what}"), true)
        })
        .await?;
        progress.finish();
        report("upgraded", &conn, &values, &summary, &args.apply)?;
        if pruned > 0 {
            writeln!(
                std::io::stdout().lock(),
                "pruned {pruned} objects the new version no longer has"
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
}
