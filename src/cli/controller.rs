//! `meshctl controller`: the control plane (what the install's Deployment runs): discovery and
//! identity on the gRPC port, the proxy injector on the webhook port, health and metrics on the
//! admin port. `--from-dir` runs it without a cluster: objects from a directory, the CA from
//! files, a bootstrap token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use meshctl::controller::{Backend, Controller, FilesBackend, Options};
use meshctl::k8s::{Connection, Target};
use meshctl::model::duration::Duration;

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    meshctl controller                                  # in the cluster (in-cluster config)\n  \
    meshctl controller --kubeconfig ~/.kube/config \\\n      \
      --mesh-namespace meshctl-system --grpc-addr 127.0.0.1:8086   # as a local process\n  \
    meshctl certs create --trust-domain cluster.local --out ca/ && echo s3cret > token\n  \
    meshctl controller --from-dir k8s/ --identity-dir ca/ --identity-token-file token \\\n      \
      --grpc-addr 127.0.0.1:8086 --admin-addr 127.0.0.1:9990        # no cluster: YAML files")]
pub struct ControllerArgs {
    /// The mesh's namespace: the issuer Secret and trust roots are read there
    #[arg(
        long,
        env = "MESHCTL_NAMESPACE",
        default_value = "meshctl-system",
        value_name = "NS"
    )]
    mesh_namespace: String,
    /// The mesh's trust domain (the SPIFFE ids it issues)
    #[arg(
        long,
        env = "MESHCTL_TRUST_DOMAIN",
        default_value = meshctl::identity::DEFAULT_TRUST_DOMAIN,
        value_name = "DOMAIN"
    )]
    trust_domain: String,
    /// The cluster's DNS domain (service authorities svc.ns.svc.<domain>)
    #[arg(
        long,
        env = "MESHCTL_CLUSTER_DOMAIN",
        default_value = "cluster.local",
        value_name = "DOMAIN"
    )]
    cluster_domain: String,
    /// Identity and discovery (gRPC over mesh TLS)
    #[arg(
        long,
        env = "MESHCTL_CONTROLLER_GRPC_ADDR",
        default_value = "0.0.0.0:8086",
        value_name = "ADDR"
    )]
    grpc_addr: SocketAddr,
    /// /ready, /live, /metrics, /proxies
    #[arg(
        long,
        env = "MESHCTL_CONTROLLER_ADMIN_ADDR",
        default_value = "0.0.0.0:9990",
        value_name = "ADDR"
    )]
    admin_addr: SocketAddr,
    /// The proxy injector the API server calls (HTTPS, POST /inject)
    #[arg(
        long,
        env = "MESHCTL_CONTROLLER_WEBHOOK_ADDR",
        default_value = "0.0.0.0:8443",
        value_name = "ADDR"
    )]
    webhook_addr: SocketAddr,
    /// Namespaces labelled istio-injection=enabled or annotated linkerd.io/inject: enabled
    /// opt in too (migration from Istio or Linkerd)
    #[arg(long, env = "MESHCTL_ACCEPT_FOREIGN_LABELS")]
    accept_foreign_labels: bool,
    /// The OTLP/gRPC collector the injected proxies export spans to (install's
    /// tracing.endpoint) [default: none, tracing off]
    #[arg(long, env = "MESHCTL_TRACING_ENDPOINT", value_name = "HOST:PORT",
          value_parser = meshctl::model::tracing::parse_endpoint)]
    tracing_endpoint: Option<String>,
    /// The share of requests the injected proxies start a trace for (install's
    /// tracing.sampling)
    #[arg(long, env = "MESHCTL_TRACING_SAMPLING", value_name = "RATE", default_value_t = 0.0,
          value_parser = meshctl::model::tracing::parse_sampling)]
    tracing_sampling: f64,
    /// How long the proxies' leaf certificates live (renewed at 70 %)
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    leaf_lifetime: Duration,
    /// Read the objects from this directory of Kubernetes YAML (watched for changes) instead
    /// of the API server; Pods with status.podIP give the endpoints of Services without
    /// EndpointSlices
    #[arg(long, value_name = "DIR", requires_all = ["identity_dir", "identity_token_file"])]
    from_dir: Option<PathBuf>,
    /// With --from-dir: the CA's files, as `meshctl certs create --out DIR` wrote them
    /// (issuer.crt, issuer.key, ca.crt; reloaded when they change)
    #[arg(long, value_name = "DIR", requires = "from_dir")]
    identity_dir: Option<PathBuf>,
    /// With --from-dir: a file holding the token proxies send for their first certificate
    /// (their --identity-token-file)
    #[arg(long, value_name = "FILE", requires = "from_dir")]
    identity_token_file: Option<PathBuf>,
    /// How long the leader Lease holds without renewal: another replica takes over canaries
    /// after the leader stops renewing for this long
    #[arg(long, default_value = "15s", value_name = "DURATION")]
    lease_duration: Duration,
    /// How often the keys at every RequestAuthentication jwksUri are fetched again (a new
    /// jwksUri is fetched at once)
    #[arg(long, default_value = "20m", value_name = "DURATION")]
    jwks_refresh: Duration,
    /// Log filter: error, warn, info, debug, trace, or a tracing filter
    #[arg(
        long,
        env = "MESHCTL_CONTROLLER_LOG_LEVEL",
        default_value = "info",
        value_name = "LEVEL"
    )]
    log_level: String,
}

pub fn run(args: ControllerArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level).map_err(|e| {
        super::UsageError(format!(
            "--log-level {:?} is not a valid filter ({e}); use error, warn, info, debug or trace",
            args.log_level
        ))
    })?;
    // try_init: tests may run more than one command in a process.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let mut options = Options::new(&args.mesh_namespace, &args.trust_domain);
    options.cluster_domain = args.cluster_domain;
    options.grpc_addr = args.grpc_addr;
    options.admin_addr = args.admin_addr;
    options.webhook_addr = args.webhook_addr;
    options.accept_foreign_labels = args.accept_foreign_labels;
    options.leaf_lifetime = args.leaf_lifetime.get();
    options.lease_duration = args.lease_duration.get();
    options.jwks_refresh = args.jwks_refresh.get();
    options.tracing.endpoint = args.tracing_endpoint;
    options.tracing.sampling = args.tracing_sampling;
    meshctl::controller::memory::limit_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let files = match (
        &args.from_dir,
        &args.identity_dir,
        &args.identity_token_file,
    ) {
        (Some(objects), Some(identity), Some(token_file)) => {
            let token = std::fs::read_to_string(token_file).with_context(|| {
                format!("cannot read --identity-token-file {}", token_file.display())
            })?;
            if token.trim().is_empty() {
                return Err(super::UsageError(format!(
                    "--identity-token-file {} is empty: write the proxies' bootstrap token in it",
                    token_file.display()
                ))
                .into());
            }
            Some(FilesBackend {
                objects: objects.clone(),
                identity: identity.clone(),
                token,
                poll: std::time::Duration::from_millis(250),
            })
        }
        _ => None,
    };
    runtime.block_on(async move {
        let backend = match files {
            Some(files) => Backend::Files(files),
            None => Backend::Cluster(client(global).await?),
        };
        let controller = Controller::bind(options).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install a signal handler")?;
        controller
            .run(backend, async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The kubeconfig when one is named (a local process), else the in-cluster config.
async fn client(global: &GlobalArgs) -> anyhow::Result<kube::Client> {
    if global.kubeconfig.is_some() || global.context.is_some() {
        let conn = Connection::new(&Target {
            kubeconfig: global.kubeconfig.clone(),
            context: global.context.clone(),
        })
        .await?;
        return Ok(conn.client);
    }
    let config = kube::Config::infer()
        .await
        .context("no cluster to talk to: run in a pod (in-cluster config) or pass --kubeconfig")?;
    kube::Client::try_from(config).context("cannot build the Kubernetes client")
}
