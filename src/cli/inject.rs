//! `meshctl inject`: add the proxy and its init step to the pod templates of manifests.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use meshctl::inject::{InjectOptions, Key, Operation, Overrides};

use super::{UsageError, inputs};

#[derive(Debug, Args)]
#[command(
    after_help = "Annotations `meshctl.io/<flag name>` on a workload or its pod template \
                        override these flags. The result goes to stdout in the input's format; \
                        a line per object goes to stderr."
)]
pub struct InjectArgs {
    /// Files or directories (recursive: .yaml, .yml, .json) to read, or - for stdin
    #[arg(required = true, value_name = "FILE|DIR|-")]
    pub inputs: Vec<PathBuf>,
    /// Proxy and init image [default: ghcr.io/meshctl/meshctl:<this version>]
    #[arg(long, value_name = "IMAGE")]
    pub proxy_image: Option<String>,
    /// Proxy log filter, e.g. info or warn,meshctl=debug [default: info]
    #[arg(long, value_name = "FILTER")]
    pub proxy_log_level: Option<String>,
    /// Proxy log format [default: text]
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub proxy_log_format: Option<String>,
    /// Proxy CPU request [default: 100m]
    #[arg(long, value_name = "QUANTITY")]
    pub proxy_cpu_request: Option<String>,
    /// Proxy CPU limit [default: none]
    #[arg(long, value_name = "QUANTITY")]
    pub proxy_cpu_limit: Option<String>,
    /// Proxy memory request [default: 64Mi]
    #[arg(long, value_name = "QUANTITY")]
    pub proxy_memory_request: Option<String>,
    /// Proxy memory limit [default: 256Mi]
    #[arg(long, value_name = "QUANTITY")]
    pub proxy_memory_limit: Option<String>,
    /// Inbound ports that bypass the proxy, e.g. 22,8000-8100
    #[arg(long, value_name = "PORTS")]
    pub skip_inbound_ports: Option<String>,
    /// Outbound ports that bypass the proxy, e.g. 3306,6379,8000-8100
    #[arg(long, value_name = "PORTS")]
    pub skip_outbound_ports: Option<String>,
    /// Outbound CIDRs that bypass the proxy, e.g. 10.0.0.0/8
    #[arg(long, value_name = "CIDRS")]
    pub skip_outbound_cidrs: Option<String>,
    /// Inbound ports proxied as opaque TCP (no protocol detection), e.g. 3306
    #[arg(long, value_name = "PORTS")]
    pub opaque_ports: Option<String>,
    /// Ports the app listens on at localhost only that peers may still reach, e.g. 9000
    /// (other localhost-only ports stay private to the pod)
    #[arg(long, value_name = "PORTS")]
    pub localhost_ports: Option<String>,
    /// Run the proxy as a native sidecar (Kubernetes 1.29+); =false puts it first in
    /// `containers` and holds the app back until it is ready
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = ["true", "false"])]
    pub native_sidecar: Option<String>,
    /// iptables backend for the init step [default: auto]
    #[arg(long, value_name = "MODE", value_parser = ["auto", "nft", "legacy"])]
    pub iptables_mode: Option<String>,
    /// Who besides loopback may read the proxies' /config, /identity and /stats: `all`, or
    /// networks such as the nodes the API server's pod proxy comes from (`meshctl stat`,
    /// `check --proxy`) [default: loopback only]
    #[arg(long, value_name = "NETWORKS")]
    pub admin_operator_from: Option<String>,
    /// Namespace of the control plane the proxies use (`install -n`) [default: meshctl-system]
    #[arg(long, value_name = "NAMESPACE")]
    pub mesh_namespace: Option<String>,
    /// Trust domain of the mesh's identities (`install --set identity.trustDomain`)
    /// [default: cluster.local]
    #[arg(long, value_name = "DOMAIN")]
    pub trust_domain: Option<String>,
    /// The OTLP/gRPC collector the proxies export spans to (`install --set
    /// tracing.endpoint`) [default: none, tracing off]
    #[arg(long, value_name = "HOST:PORT")]
    pub tracing_endpoint: Option<String>,
    /// The share of requests the proxies start a trace for, 0.0 to 1.0 (`install --set
    /// tracing.sampling`) [default: 0: only requests that come sampled]
    #[arg(long, value_name = "RATE")]
    pub tracing_sampling: Option<String>,
    /// Only add the annotation `meshctl.io/inject: enabled` (the admission webhook injects)
    #[arg(long)]
    pub annotate_only: bool,
    /// Pass objects that cannot be injected (hostNetwork, another mesh's sidecar) through
    /// unchanged with a warning instead of failing
    #[arg(long)]
    pub skip_uninjectable: bool,
    /// Print what injection would change instead of the manifests: per object, the JSON patch
    /// (RFC 6902) the admission webhook would answer, as a JSON list
    #[arg(long, visible_alias = "diff")]
    pub preview: bool,
}

impl InjectArgs {
    fn overrides(&self) -> Result<Overrides, UsageError> {
        let mut overrides = Overrides::default();
        for (key, value) in [
            (Key::ProxyImage, &self.proxy_image),
            (Key::ProxyLogLevel, &self.proxy_log_level),
            (Key::ProxyLogFormat, &self.proxy_log_format),
            (Key::ProxyCpuRequest, &self.proxy_cpu_request),
            (Key::ProxyCpuLimit, &self.proxy_cpu_limit),
            (Key::ProxyMemoryRequest, &self.proxy_memory_request),
            (Key::ProxyMemoryLimit, &self.proxy_memory_limit),
            (Key::SkipInboundPorts, &self.skip_inbound_ports),
            (Key::SkipOutboundPorts, &self.skip_outbound_ports),
            (Key::SkipOutboundCidrs, &self.skip_outbound_cidrs),
            (Key::OpaquePorts, &self.opaque_ports),
            (Key::LocalhostPorts, &self.localhost_ports),
            (Key::NativeSidecar, &self.native_sidecar),
            (Key::IptablesMode, &self.iptables_mode),
            (Key::MeshNamespace, &self.mesh_namespace),
            (Key::TrustDomain, &self.trust_domain),
            (Key::AdminOperatorFrom, &self.admin_operator_from),
            (Key::TracingEndpoint, &self.tracing_endpoint),
            (Key::TracingSampling, &self.tracing_sampling),
        ] {
            if let Some(value) = value {
                overrides.set(key, value).map_err(|reason| {
                    UsageError(format!("--{} {value:?}: {reason}", key.name()))
                })?;
            }
        }
        Ok(overrides)
    }
}

pub fn run(args: InjectArgs) -> anyhow::Result<ExitCode> {
    let options = InjectOptions {
        overrides: args.overrides()?,
        annotate_only: args.annotate_only,
        skip_uninjectable: args.skip_uninjectable,
        namespace_annotations: None,
    };
    let sources = inputs::read_all(&args.inputs)?;
    if args.preview {
        return preview(&sources, &options);
    }
    inputs::process(&sources, &Operation::Inject(options))?;
    Ok(ExitCode::SUCCESS)
}

fn preview(sources: &[inputs::Source], options: &InjectOptions) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let inputs = inputs::as_inputs(sources);
    let previews = meshctl::inject::preview::preview(&inputs, options)?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &previews)?;
    writeln!(stdout)?;
    Ok(ExitCode::SUCCESS)
}
