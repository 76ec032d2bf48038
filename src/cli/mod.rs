//! Command-line front end: clap arguments turned once into a call into the library.
//! One file per subcommand; no business logic here.

mod analyze;
mod canary;
mod canary_rollout;
mod certs;
mod check;
mod completions;
mod control_plane;
mod controller;
mod dashboard;
mod demo;
mod edges;
mod inject;
mod inputs;
mod install;
mod proxy;
mod proxy_await;
mod proxy_config;
mod proxy_init;
mod routes;
mod stat;
mod stat_output;
mod tap;
mod top;
mod translate_flags;
mod uninject;
mod uninstall;
mod upgrade;
mod version;
mod workload_pods;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// A usage mistake found after parsing (clap reports its own): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Debug, Parser)]
#[command(
    name = "meshctl",
    version,
    about = "A Kubernetes service mesh in one binary",
    long_about = "meshctl is the operator CLI, the sidecar proxy, its iptables init step and the \
                  controller of a Kubernetes service mesh, all in one binary.",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts, with kubectl's names.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace to work in
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); MESHCTL_LOG overrides
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the client version
    Version(version::VersionArgs),
    /// Generate shell completions or the man page
    Completions(completions::CompletionsArgs),
    /// Create the mesh's trust anchor and issuer; inspect certificates
    Certs(certs::CertsArgs),
    /// Print the control plane's manifests, or apply them to the cluster (--apply)
    Install(Box<install::InstallArgs>),
    /// Check the cluster before installing (--pre) or the health of an install
    Check(check::CheckArgs),
    /// Upgrade an install: its recorded values plus new overrides, pruning what is gone
    Upgrade(Box<upgrade::UpgradeArgs>),
    /// Remove the control plane from the cluster (--apply; refused while pods are meshed)
    Uninstall(uninstall::UninstallArgs),
    /// Add the meshctl proxy to the pod templates of Kubernetes manifests
    Inject(Box<inject::InjectArgs>),
    /// Remove what `meshctl inject` added to manifests
    Uninject(uninject::UninjectArgs),
    /// Wait until the local proxy is ready (the classic sidecar's postStart hook)
    ProxyAwait(proxy_await::ProxyAwaitArgs),
    /// Install the pod's iptables rules that send its TCP through the proxy (init container)
    ProxyInit(proxy_init::ProxyInitArgs),
    /// Run the sidecar proxy: from a static config file, or from the controller (the data plane)
    Proxy(proxy::ProxyArgs),
    /// Golden signals (success, RPS, latency percentiles) read from proxies' admin ports
    Stat(stat::StatArgs),
    /// Who calls whom among cluster resources, with both sides' identities and mTLS
    Edges(edges::EdgesArgs),
    /// Live requests of a resource's pods, one line each, from their proxies
    Tap(tap::TapArgs),
    /// The busiest paths of a resource's pods, live, from their proxies
    Top(top::TopArgs),
    /// A service's success, RPS and latency per route of its config, from its clients' proxies
    Routes(routes::RoutesArgs),
    /// Canary releases: set the weights of the object that routes a Service
    Canary(canary::CanaryArgs),
    /// Run the control plane: discovery and identity for the proxies (what the install runs)
    Controller(controller::ControllerArgs),
    /// Translate manifests (or the cluster's objects) and report what the mesh cannot apply as written
    Analyze(analyze::AnalyzeArgs),
    /// The config a workload's proxies receive, as the controller computes it (or from manifests)
    ProxyConfig(proxy_config::ProxyConfigArgs),
    /// A whole mesh on this machine (loopback, no root, no cluster) and its dashboard
    Demo(demo::DemoArgs),
    /// A web page of proxies' topology and golden signals, live
    Dashboard(dashboard::DashboardArgs),
}

/// Parses the command line, sets up logging and runs the subcommand.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // The proxy sets up its own logging (--log-level, --log-format).
    if !matches!(cli.command, Command::Proxy(_) | Command::Controller(_)) {
        init_logging(cli.global.verbose);
    }
    match cli.command {
        Command::Version(args) => version::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Certs(args) => certs::run(args),
        Command::Install(args) => install::run(*args, &cli.global),
        Command::Check(args) => check::run(args, &cli.global),
        Command::Upgrade(args) => upgrade::run(*args, &cli.global),
        Command::Uninstall(args) => uninstall::run(args, &cli.global),
        Command::Inject(args) => inject::run(*args),
        Command::Uninject(args) => uninject::run(args),
        Command::ProxyAwait(args) => proxy_await::run(args),
        Command::ProxyInit(args) => proxy_init::run(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Stat(args) => stat::run(args, &cli.global),
        Command::Edges(args) => edges::run(args, &cli.global),
        Command::Tap(args) => tap::run(args, &cli.global),
        Command::Top(args) => top::run(args, &cli.global),
        Command::Routes(args) => routes::run(args, &cli.global),
        Command::Canary(args) => canary::run(args, &cli.global),
        Command::Controller(args) => controller::run(args, &cli.global),
        Command::Demo(args) => demo::run(args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Analyze(args) => analyze::run(args, &cli.global),
        Command::ProxyConfig(args) => proxy_config::run(args, &cli.global),
    }
}

/// `-o table|json` of the commands that print a table.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TableOrJson {
    Table,
    Json,
}

/// A table for stdout: box-drawn on a terminal (unless NO_COLOR), plain columns otherwise.
fn stdout_table() -> comfy_table::Table {
    use comfy_table::{ContentArrangement, Table, presets};
    let mut table = Table::new();
    let fancy = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    table.load_style(if fancy {
        presets::UTF8_FULL
    } else {
        presets::NOTHING
    });
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table
}

/// The clap command tree, for completions and the man page.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("MESHCTL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // try_init: tests may call run() more than once in one process.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .try_init();
}
