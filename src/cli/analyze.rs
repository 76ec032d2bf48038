//! `meshctl analyze`: translates manifests offline and prints every finding (what the mesh
//! cannot apply as written); exits 1 when any is an error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use meshctl::translate::{Finding, Inputs, Options, Severity, translate};

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Manifests: files, directories (recursively: .yaml, .yml, .json) or - for stdin
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    files: Vec<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: super::TableOrJson,
    /// DNS suffix of Services
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// SPIFFE trust domain of the mesh
    #[arg(long, value_name = "DOMAIN", default_value = meshctl::identity::DEFAULT_TRUST_DOMAIN)]
    trust_domain: String,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let sources = super::inputs::read_all(&args.files)?;
    let inputs: Vec<meshctl::inject::Input<'_>> = sources
        .iter()
        .map(|s| meshctl::inject::Input {
            name: &s.name,
            bytes: &s.bytes,
        })
        .collect();
    let (read, mut findings) = Inputs::from_documents(&inputs);
    let options = Options {
        cluster_domain: args.cluster_domain,
        trust_domain: args.trust_domain,
        ..Options::default()
    };
    findings.extend(translate(&read, &options).findings);
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
