//! `meshctl proxy-config`: the `model` config a workload's proxies receive, computed by the
//! controller's own path (its read of the cluster, or manifests from `-f`, then the same
//! translation and the same per-pod config as discovery), with the version the controller
//! pushes, to compare with a proxy's `/config`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use meshctl::controller::{ProxyConfig, proxy_configs};
use meshctl::translate::translate;
use serde::Serialize;

use super::workload_pods;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    meshctl proxy-config deploy/web -n shop            # from the cluster\n  \
    meshctl proxy-config pod/web-7d9f-x2x -n shop -o json\n  \
    meshctl proxy-config svc/web -n shop -f manifests/  # offline, from files")]
pub struct ProxyConfigArgs {
    /// The workload: pod/NAME, deploy/NAME, sts/NAME, ds/NAME or svc/NAME
    #[arg(value_name = "KIND/NAME")]
    workload: String,
    /// Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin
    /// [default: the cluster's objects]
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    files: Vec<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    output: Format,
    #[command(flatten)]
    translate: super::translate_flags::TranslateFlags,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Yaml,
    Json,
}

/// The pods that receive one config, and that config.
#[derive(Serialize)]
struct Entry {
    pods: Vec<String>,
    #[serde(flatten)]
    config: ProxyConfig,
}

pub fn run(args: ProxyConfigArgs, global: &super::GlobalArgs) -> anyhow::Result<ExitCode> {
    let workload = workload_pods::Workload::parse(&args.workload)?;
    let (inputs, context_namespace) = if args.files.is_empty() {
        let runtime = super::control_plane::runtime()?;
        runtime.block_on(super::inputs::read_cluster(global))?
    } else {
        // Unreadable documents are `analyze`'s to list; the rest still translates.
        (
            super::inputs::read_objects(&args.files)?.0,
            "default".to_owned(),
        )
    };
    let namespace = global.namespace.clone().unwrap_or(context_namespace);
    let pods = workload.pods(&inputs, &namespace)?;
    let mesh = translate(&inputs, &args.translate.options());
    let configs = proxy_configs(mesh, &pods);
    // Pods of one workload mostly get the same config: one entry per distinct version.
    let mut entries: Vec<Entry> = Vec::new();
    for (pod, config) in pods.iter().zip(configs) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        match entries
            .iter_mut()
            .find(|e| e.config.version == config.version)
        {
            Some(entry) => entry.pods.push(name),
            None => entries.push(Entry {
                pods: vec![name],
                config,
            }),
        }
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &entries)?;
            writeln!(out)?;
        }
        Format::Yaml => out.write_all(serde_saphyr::to_string(&entries)?.as_bytes())?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
