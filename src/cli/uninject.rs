//! `meshctl uninject`: remove what `meshctl inject` added, exactly.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::inputs;

#[derive(Debug, Args)]
pub struct UninjectArgs {
    /// Files or directories (recursive: .yaml, .yml, .json) to read, or - for stdin
    #[arg(required = true, value_name = "FILE|DIR|-")]
    pub inputs: Vec<PathBuf>,
}

pub fn run(args: UninjectArgs) -> anyhow::Result<ExitCode> {
    let sources = inputs::read_all(&args.inputs)?;
    inputs::process(&sources, &meshctl::inject::Operation::Uninject)?;
    Ok(ExitCode::SUCCESS)
}
