//! `meshctl proxy`: runs the sidecar proxy until SIGTERM, from a static config file, from the
//! controller (cluster mode: a controller address and no file, as injected pods run it), or on
//! an empty config (inbound to the app, outbound passed through).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use meshctl::identity::SpiffeId;
use meshctl::model::identity::{CaSource, Identity};
use meshctl::proxy::admin_access::OperatorAccess;
use meshctl::proxy::discovery::DiscoveryOptions;
use meshctl::proxy::{Options, Proxy, reload_file};

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// The static config file (listeners, services, routes, policies); reloaded on change and
    /// SIGHUP. Without it the config is empty: inbound traffic goes to the app on loopback,
    /// intercepted outbound traffic passes through as plain TCP
    #[arg(long, env = "MESHCTL_PROXY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Outbound listener (the app's outgoing traffic) [default: from the file, else 127.0.0.1:4140]
    #[arg(long, env = "MESHCTL_PROXY_OUTBOUND_ADDR", value_name = "ADDR")]
    outbound_addr: Option<SocketAddr>,
    /// Inbound listener (traffic for the app) [default: from the file, else 0.0.0.0:4143]
    #[arg(long, env = "MESHCTL_PROXY_INBOUND_ADDR", value_name = "ADDR")]
    inbound_addr: Option<SocketAddr>,
    /// Admin listener (/metrics, /ready, /live, /stats, /config) [default: from the file, else 0.0.0.0:4191]
    #[arg(long, env = "MESHCTL_PROXY_ADMIN_ADDR", value_name = "ADDR")]
    admin_addr: Option<SocketAddr>,
    /// The app's port on 127.0.0.1 for inbound connections that were not intercepted
    /// [default: from the file, else none: such connections are closed]
    #[arg(long, env = "MESHCTL_PROXY_INBOUND_APP_PORT", value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    inbound_app_port: Option<u16>,
    /// The address the app listens on for inbound connections (another loopback address
    /// when several apps share a host, as `meshctl demo` runs them)
    #[arg(
        long,
        env = "MESHCTL_PROXY_INBOUND_APP_IP",
        value_name = "IP",
        default_value = "127.0.0.1"
    )]
    inbound_app_ip: std::net::IpAddr,
    /// Inbound ports forwarded as TCP without protocol detection (comma list)
    #[arg(
        long,
        env = "MESHCTL_PROXY_INBOUND_PORTS_OPAQUE",
        value_name = "PORTS",
        value_parser = port_list,
        default_value = "",
        hide_default_value = true
    )]
    inbound_ports_opaque: PortList,
    /// Ports the app listens on at localhost only that peers may still reach (comma list);
    /// intercepted connections for other such ports are closed, as they would be without a
    /// proxy
    #[arg(
        long,
        env = "MESHCTL_PROXY_INBOUND_PORTS_LOCALHOST",
        value_name = "PORTS",
        value_parser = port_list,
        default_value = "",
        hide_default_value = true
    )]
    inbound_ports_localhost: PortList,
    /// Who besides loopback may read /config, /identity and /stats on the admin port: `all`,
    /// or networks such as 10.0.0.0/16 (the nodes the API server's pod proxy comes from, for
    /// `meshctl stat` and `check --proxy`); /ready, /live and /metrics stay open to all
    #[arg(
        long,
        env = "MESHCTL_PROXY_ADMIN_OPERATOR_FROM",
        value_name = "NETWORKS",
        default_value = "",
        hide_default_value = true,
        value_parser = clap::value_parser!(OperatorAccess)
    )]
    admin_operator_from: OperatorAccess,
    /// Log filter: error, warn, info, debug, trace, or a tracing filter like "meshctl=debug"
    #[arg(
        long,
        env = "MESHCTL_PROXY_LOG_LEVEL",
        default_value = "info",
        value_name = "LEVEL"
    )]
    log_level: String,
    /// Log line format
    #[arg(
        long,
        env = "MESHCTL_PROXY_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    /// Worker threads; 1 runs everything on one thread (smallest memory, best per-core speed)
    #[arg(long, env = "MESHCTL_PROXY_WORKERS", default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    #[command(flatten)]
    tracing: TracingArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// How long in-flight requests may finish after SIGTERM, in seconds
    #[arg(
        long,
        env = "MESHCTL_PROXY_DRAIN_SECONDS",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    drain_seconds: u64,
}

/// Distributed tracing; each flag overrides the config file's `tracing` section.
#[derive(Debug, clap::Args)]
struct TracingArgs {
    /// The OTLP/gRPC collector spans are exported to (turns tracing on)
    #[arg(long, env = "MESHCTL_PROXY_TRACING_ENDPOINT", value_name = "HOST:PORT",
          value_parser = meshctl::model::tracing::parse_endpoint)]
    tracing_endpoint: Option<String>,
    /// The share of requests without a caller's sampling decision that start a trace
    /// (0.0 to 1.0) [default: from the file, else 0]
    #[arg(long, env = "MESHCTL_PROXY_TRACING_SAMPLING", value_name = "RATE",
          value_parser = meshctl::model::tracing::parse_sampling)]
    tracing_sampling: Option<f64>,
    /// The spans' service.name [default: from the file, else the pod's service account in
    /// cluster mode, else meshctl-proxy]
    #[arg(long, env = "MESHCTL_PROXY_TRACING_SERVICE_NAME", value_name = "NAME")]
    tracing_service_name: Option<String>,
}

impl TracingArgs {
    /// `config` with the flags applied.
    fn apply(&self, config: &mut meshctl::model::tracing::Tracing) {
        if let Some(endpoint) = &self.tracing_endpoint {
            config.endpoint = Some(endpoint.clone());
        }
        if let Some(rate) = self.tracing_sampling {
            config.sampling = rate;
        }
        // Empty is unset (an env var set to nothing).
        if let Some(name) = self.tracing_service_name.as_ref().filter(|n| !n.is_empty()) {
            config.service_name = Some(name.clone());
        }
    }
}

/// Cluster mode (how injected pods run it): without --config and with a controller address,
/// the leaf comes from the controller's CA and the config from its discovery stream.
#[derive(Debug, clap::Args)]
struct ClusterArgs {
    /// The controller's gRPC address (identity and discovery); turns on cluster mode
    #[arg(long, env = "MESHCTL_CONTROLLER_ADDR", value_name = "HOST:PORT")]
    controller_addr: Option<String>,
    /// The mesh's namespace: the controller's identity is its service account there
    /// [default: the namespace in --controller-addr (meshctl-controller.<ns>.svc:8086), else
    /// meshctl-system]
    #[arg(long, env = "MESHCTL_CONTROLLER_NAMESPACE", value_name = "NS")]
    controller_namespace: Option<String>,
    /// The mesh's trust domain
    #[arg(
        long,
        env = "MESHCTL_TRUST_DOMAIN",
        default_value = meshctl::identity::DEFAULT_TRUST_DOMAIN,
        value_name = "DOMAIN"
    )]
    trust_domain: String,
    /// PEM trust anchors (the mesh's trust-roots ConfigMap, mounted)
    #[arg(
        long,
        env = "MESHCTL_IDENTITY_TRUST_ROOTS",
        default_value = "/var/run/meshctl/trust-roots/ca-bundle.crt",
        value_name = "FILE"
    )]
    identity_trust_roots: PathBuf,
    /// The projected service-account token sent to the CA
    #[arg(long, env = "MESHCTL_IDENTITY_TOKEN_FILE", value_name = "FILE")]
    identity_token_file: Option<PathBuf>,
    /// This pod's name (the downward API)
    #[arg(long, env = "MESHCTL_POD_NAME", value_name = "NAME")]
    pod_name: Option<String>,
    /// This pod's namespace
    #[arg(long, env = "MESHCTL_POD_NAMESPACE", value_name = "NS")]
    pod_namespace: Option<String>,
    /// This pod's service account: the proxy's identity is
    /// spiffe://<trust-domain>/ns/<pod-namespace>/sa/<service-account>
    #[arg(
        long,
        env = "MESHCTL_SERVICE_ACCOUNT",
        default_value = "default",
        value_name = "NAME"
    )]
    service_account: String,
}

impl ClusterArgs {
    /// Who this proxy's spans come from, as far as the flags say.
    fn workload(&self) -> meshctl::proxy::Workload {
        meshctl::proxy::Workload {
            service_name: self
                .controller_addr
                .as_ref()
                .map(|_| self.service_account.clone()),
            namespace: self.pod_namespace.clone(),
            pod: self.pod_name.clone(),
            // The proxy fills it in from its certificate.
            identity: None,
        }
    }

    /// The identity section and discovery options of cluster mode, or None without a
    /// controller address.
    fn plan(&self) -> anyhow::Result<Option<(Identity, DiscoveryOptions)>> {
        let Some(addr) = &self.controller_addr else {
            return Ok(None);
        };
        let missing = |flag: &str, env: &str| {
            super::UsageError(format!(
                "cluster mode (--controller-addr {addr}) needs {flag} (or {env}): injected pods \
                 set it from the downward API"
            ))
        };
        let pod_name = self
            .pod_name
            .clone()
            .ok_or_else(|| missing("--pod-name", "MESHCTL_POD_NAME"))?;
        let pod_namespace = self
            .pod_namespace
            .clone()
            .ok_or_else(|| missing("--pod-namespace", "MESHCTL_POD_NAMESPACE"))?;
        let usage = |e: meshctl::identity::spiffe::SpiffeError| super::UsageError(e.to_string());
        let me = SpiffeId::new(&self.trust_domain, &pod_namespace, &self.service_account)
            .map_err(usage)?;
        // One source for the mesh namespace: what inject put in the address, unless told.
        let namespace = self.controller_namespace.as_deref().unwrap_or_else(|| {
            meshctl::mesh_namespace::of_controller_addr(addr)
                .unwrap_or(meshctl::mesh_namespace::DEFAULT)
        });
        let controller = meshctl::identity::service::ca_identity(&self.trust_domain, namespace)
            .map_err(usage)?;
        let identity = Identity {
            roots: self.identity_trust_roots.clone(),
            cert: None,
            key: None,
            ca: Some(CaSource {
                addr: addr.clone(),
                identity: me,
                token: None,
                token_file: self.identity_token_file.clone(),
                server: Some(controller.clone()),
            }),
        };
        let discovery = DiscoveryOptions {
            addr: addr.clone(),
            controller,
            pod_name,
            pod_namespace,
        };
        Ok(Some((identity, discovery)))
    }
}

/// Comma-separated ports; empty entries (and an empty list) are allowed.
#[derive(Debug, Clone)]
struct PortList(Vec<u16>);

fn port_list(s: &str) -> Result<PortList, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(format!(
                "{p:?} is not a port; give ports 1-65535, e.g. 25,3306"
            )),
        })
        .collect::<Result<_, _>>()
        .map(PortList)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|e| {
        super::UsageError(format!(
            "--log-level {level:?} is not a valid filter ({e}); use error, warn, info, debug or trace"
        ))
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // try_init: the process may already have a subscriber (tests).
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}

pub fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    init_logging(&args.log_level, args.log_format)?;
    let cluster = match &args.config {
        Some(_) => None,
        None => args.cluster.plan()?,
    };
    let config = match (&args.config, &cluster) {
        (Some(path), _) => meshctl::model::load::load_file(path)?,
        (None, Some((identity, _))) => meshctl::model::Config {
            identity: Some(identity.clone()),
            ..meshctl::model::Config::default()
        },
        (None, None) => meshctl::model::Config::default(),
    };
    let mut config = config;
    args.tracing.apply(&mut config.tracing);
    let mut options = Options::new(config);
    options.workload = args.cluster.workload();
    options.discovery = cluster.map(|(_, discovery)| discovery);
    options.outbound_addr = args.outbound_addr.unwrap_or(options.outbound_addr);
    options.inbound_addr = args.inbound_addr.unwrap_or(options.inbound_addr);
    options.admin_addr = args.admin_addr.unwrap_or(options.admin_addr);
    options.opaque_ports = args.inbound_ports_opaque.0;
    options.localhost_ports = args.inbound_ports_localhost.0;
    options.admin_operator = args.admin_operator_from;
    options.app_port = args.inbound_app_port;
    options.app_ip = args.inbound_app_ip;
    options.drain_timeout = std::time::Duration::from_secs(args.drain_seconds);
    options.config_path.clone_from(&args.config);
    let runtime = if args.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers.into())
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let proxy = Proxy::bind(options).await?;
        let state = proxy.state();
        let path = args.config;
        let mut hup = signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(path) = &path else {
                    tracing::info!("SIGHUP: no --config file, nothing to reload");
                    continue;
                };
                if let Err(e) = reload_file(path, &state) {
                    tracing::error!("SIGHUP: config refused, keeping the last good config: {e}");
                }
            }
        });
        let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
        proxy
            .run(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await;
        anyhow::Ok(())
    })?;
    // The access log's thread may hold lines yet: out before the process ends.
    meshctl::proxy::access_log::flush(std::time::Duration::from_secs(2));
    Ok(ExitCode::SUCCESS)
}

fn signal(kind: tokio::signal::unix::SignalKind) -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).context("cannot install a signal handler")
}
