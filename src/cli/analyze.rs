//! `meshctl analyze`: translates manifests offline (`-f`), or the live cluster's objects as
//! the controller reads them, and prints every finding (what the mesh cannot apply as
//! written); exits 1 when any is an error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use meshctl::translate::{Finding, Inputs, ObjectRef, Options, Severity, translate};

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin
    /// [default: the cluster's objects, every namespace's or -n's]
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    files: Vec<PathBuf>,
    /// Every namespace's findings (the default without -n)
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: super::TableOrJson,
    #[command(flatten)]
    translate: super::translate_flags::TranslateFlags,
}

pub fn run(args: AnalyzeArgs, global: &super::GlobalArgs) -> anyhow::Result<ExitCode> {
    let options = args.translate.options();
    let findings = if args.files.is_empty() {
        let runtime = super::control_plane::runtime()?;
        let namespace = global.namespace.as_deref().filter(|_| !args.all_namespaces);
        runtime.block_on(cluster_findings(global, namespace, &options))?
    } else {
        file_findings(&args.files, &options)?
    };
    let mut out = std::io::stdout().lock();
    match args.output {
        super::TableOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "findings": findings }))?;
            writeln!(out)?;
        }
        super::TableOrJson::Table if findings.is_empty() => {
            writeln!(out, "no findings: everything translates as written")?;
        }
        super::TableOrJson::Table => writeln!(out, "{}", table(&findings))?,
    }
    out.flush()?;
    let failed = findings.iter().any(|f| f.severity == Severity::Error);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn file_findings(files: &[PathBuf], options: &Options) -> anyhow::Result<Vec<Finding>> {
    let (read, mut findings) = super::inputs::read_objects(files)?;
    findings.extend(translate(&read, options).findings);
    Ok(findings)
}

/// The findings of the objects the controller would read, those of `-n`'s namespace only
/// when it is given.
async fn cluster_findings(
    global: &super::GlobalArgs,
    namespace: Option<&str>,
    options: &Options,
) -> anyhow::Result<Vec<Finding>> {
    let conn = super::control_plane::connect(global).await?;
    let inputs =
        meshctl::controller::source::read_once(&conn.client, super::inputs::LIST_WITHIN).await?;
    let mut findings = translate(&inputs, options).findings;
    findings.extend(istio_mesh_config(&conn.client).await);
    if let Some(ns) = namespace {
        findings.retain(|f| f.object.namespace == ns);
    }
    Ok(findings)
}

/// The findings of Istio's mesh config (ConfigMaps named `istio`, in its root namespace):
/// not an input of the controller, read here for its tracing settings. A caller who may not
/// list ConfigMaps gets none.
async fn istio_mesh_config(client: &kube::Client) -> Vec<Finding> {
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::all(client.clone());
    let params = kube::api::ListParams::default().fields("metadata.name=istio");
    let list = match tokio::time::timeout(super::inputs::LIST_WITHIN, api.list(&params)).await {
        Ok(Ok(list)) => list,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "Istio's mesh config not read");
            return Vec::new();
        }
        Err(_) => return Vec::new(),
    };
    let mut findings = Vec::new();
    // Only the findings are wanted; the objects are not translated.
    let mut read = Inputs::default();
    for cm in list.items {
        if let Ok(value) = serde_json::to_value(&cm) {
            read.add_value(value, &ObjectRef::default(), &mut findings);
        }
    }
    findings
}

fn table(findings: &[Finding]) -> comfy_table::Table {
    let mut table = super::stdout_table();
    table.set_header(["FILE", "DOC", "OBJECT", "SEVERITY", "FIELD", "MESSAGE"]);
    for f in findings {
        let o = &f.object;
        let object = if o.kind.is_empty() {
            "-".to_owned()
        } else if o.namespace.is_empty() {
            format!("{}/{}", o.kind.to_ascii_lowercase(), o.name)
        } else {
            format!(
                "{}/{} -n {}",
                o.kind.to_ascii_lowercase(),
                o.name,
                o.namespace
            )
        };
        let doc = match (o.document, o.line) {
            (Some(d), Some(l)) => format!("{d} (line {l})"),
            (Some(d), None) => d.to_string(),
            (None, Some(l)) => format!("line {l}"),
            (None, None) => "-".to_owned(),
        };
        table.add_row([
            o.file.clone().unwrap_or_else(|| "-".to_owned()),
            doc,
            object,
            f.severity.to_string(),
            if f.field.is_empty() {
                "-".to_owned()
            } else {
                f.field.clone()
            },
            f.message.clone(),
        ]);
    }
    table
}
