//! `meshctl analyze`: translates manifests offline (`-f`), or the live cluster's objects as
//! the controller reads them, and prints every finding (what the mesh cannot apply as
//! written); exits 1 when any is an error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use meshctl::translate::{Finding, Options, Severity, translate};

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
    let (inputs, _) = super::inputs::read_cluster(global).await?;
    let mut findings = translate(&inputs, options).findings;
    if let Some(ns) = namespace {
        findings.retain(|f| f.object.namespace == ns);
    }
    Ok(findings)
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
