//! What `install`, `upgrade` and `uninstall` share: the value and certificate flags, the
//! cluster connection, and the progress display (indicatif on a TTY, plain lines otherwise).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use meshctl::install::{ApplyOptions, CrdMode, Event};
use meshctl::k8s::{Connection, Target};
use meshctl::manifests::{IdentityFiles, Overrides, Values};
use meshctl::model::duration::Duration;

use super::{GlobalArgs, UsageError};

/// The flags of `install` and `upgrade`: values, identity files, how to apply.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

/// Value overrides, applied in this order: --ha, -f, --set-file, --set.
#[derive(Debug, clap::Args)]
pub struct ValuesArgs {
    /// High availability: 3 controller replicas, a PodDisruptionBudget, anti-affinity
    #[arg(long)]
    ha: bool,
    /// A YAML file of values (repeatable; later files win)
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Set a value from a file's contents, e.g. --set-file key=path (repeatable)
    #[arg(long, value_name = "KEY=FILE")]
    set_file: Vec<String>,
    /// Set a value, e.g. --set controller.replicas=2 (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl ValuesArgs {
    /// The overrides, with the global `-n` setting the mesh's namespace first.
    pub fn overrides(&self, global: &GlobalArgs) -> Overrides {
        let mut sets: Vec<String> = global
            .namespace
            .iter()
            .map(|ns| format!("namespace={ns}"))
            .collect();
        sets.extend(self.set.iter().cloned());
        Overrides {
            ha: self.ha,
            files: self.files.clone(),
            set_files: self.set_file.clone(),
            sets,
        }
    }
}

/// `base` with the overrides applied; a bad key or value is a usage error (exit 2), an
/// unreadable values file too (it was named on the command line).
pub fn values(args: &ValuesArgs, global: &GlobalArgs, base: &Values) -> anyhow::Result<Values> {
    args.overrides(global)
        .apply(base)
        .map_err(|e| UsageError(e.to_string()).into())
}

/// The operator's own identity certificates (all three, or none to generate or keep them).
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// PEM trust anchor(s) every proxy verifies peers with
    #[arg(long, value_name = "FILE")]
    identity_trust_anchors_file: Option<PathBuf>,
    /// PEM issuer certificate (signed by a trust anchor)
    #[arg(long, value_name = "FILE")]
    identity_issuer_certificate_file: Option<PathBuf>,
    /// PEM private key of the issuer
    #[arg(long, value_name = "FILE")]
    identity_issuer_key_file: Option<PathBuf>,
}

impl IdentityArgs {
    pub fn load(&self) -> anyhow::Result<Option<meshctl::manifests::IdentityCerts>> {
        let files = IdentityFiles {
            trust_anchors: self.identity_trust_anchors_file.clone(),
            issuer_cert: self.identity_issuer_certificate_file.clone(),
            issuer_key: self.identity_issuer_key_file.clone(),
        };
        Ok(files.load(SystemTime::now())?)
    }
}

/// How to apply: shared by install and upgrade.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Apply to the cluster with server-side apply instead of printing the manifests
    #[arg(long)]
    pub apply: bool,
    /// Have the API server check every object without storing anything (implies talking to
    /// the cluster)
    #[arg(long, value_enum, value_name = "MODE")]
    pub dry_run: Option<DryRun>,
    /// Which CRDs to install: auto = meshctl's own, and other products' config-API CRDs
    /// (Gateway API, Istio, SMI) the cluster lacks (printing: meshctl's own only: a printed
    /// copy would overwrite theirs), all = all (when applying, an error if another product
    /// owns one), none
    #[arg(long, value_enum, default_value = "auto")]
    pub crds: Crds,
    /// Wait for CRDs to be Established and the controller to be ready (--wait=false skips)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub wait: bool,
    /// How long each wait may take
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DryRun {
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Crds {
    Auto,
    All,
    None,
}

impl ApplyArgs {
    /// Whether the command talks to the cluster rather than printing.
    pub fn to_cluster(&self) -> bool {
        self.apply || self.dry_run.is_some()
    }

    pub fn options(&self) -> ApplyOptions {
        ApplyOptions {
            crds: match self.crds {
                Crds::Auto => CrdMode::Auto,
                Crds::All => CrdMode::All,
                Crds::None => CrdMode::None,
            },
            dry_run: self.dry_run.is_some(),
            wait: self.wait,
            timeout: self.timeout.get(),
        }
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Connects and proves the server answers, so later errors are about objects, not reach.
pub async fn connect(global: &GlobalArgs) -> anyhow::Result<Connection> {
    let conn = Connection::new(&Target {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
    })
    .await?;
    conn.check_reachable().await?;
    Ok(conn)
}

/// Progress on stderr: a spinner on a terminal, one line per step otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] {pos} done · {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    /// One step; `done` counts it as finished work.
    pub fn line(&self, text: &str, done: bool) {
        match &self.bar {
            Some(bar) => {
                if done {
                    bar.inc(1);
                }
                bar.set_message(text.to_owned());
            }
            None => eprintln!("{text}"),
        }
    }

    pub fn event(&self, event: Event<'_>, dry_run: bool) {
        match event {
            Event::Applied { what } if dry_run => self.line(&format!("checked {what}"), true),
            Event::Applied { what } => self.line(&format!("applied {what}"), true),
            Event::KeptCrd { name, owner } => self.line(
                &format!("kept CustomResourceDefinition {name}: it belongs to {owner}"),
                false,
            ),
            Event::NotChecked { what, reason } => {
                self.line(&format!("not checked {what}: {reason}"), false);
            }
            Event::Waiting { what, condition } => {
                self.line(&format!("waiting for {what} to be {condition}"), false);
            }
            Event::Ready { what } => self.line(&format!("{what} is ready"), false),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
