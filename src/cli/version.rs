//! `meshctl version`: the client's version (the control plane's joins once it exists).

use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Print only the version number
    #[arg(long)]
    short: bool,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: VersionArgs) -> anyhow::Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = std::io::stdout().lock();
    match (args.output, args.short) {
        (Format::Json, _) => writeln!(
            out,
            "{}",
            serde_json::json!({ "client": { "version": version } })
        )?,
        (Format::Text, true) => writeln!(out, "{version}")?,
        (Format::Text, false) => writeln!(out, "Client version: {version}")?,
    }
    Ok(ExitCode::SUCCESS)
}
