//! `meshctl completions`: shell completion scripts and the man page, from the clap tree.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate for (or `man` for a roff man page)
    #[arg(value_enum, required_unless_present = "write_all")]
    target: Option<Target>,
    /// Write every completion file and the man page into DIR instead of printing one
    #[arg(long, value_name = "DIR", conflicts_with = "target")]
    write_all: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Target {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Man,
}

/// File names under `completions/`, kept in sync by a test.
const FILES: [(Target, &str); 5] = [
    (Target::Bash, "meshctl.bash"),
    (Target::Zsh, "_meshctl"),
    (Target::Fish, "meshctl.fish"),
    (Target::Powershell, "_meshctl.ps1"),
    (Target::Man, "meshctl.1"),
];

pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.write_all {
        for (target, name) in FILES {
            let path = dir.join(name);
            std::fs::write(&path, render(target)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let target = args
        .target
        .expect("clap requires a target without --write-all");
    std::io::stdout().lock().write_all(&render(target)?)?;
    Ok(ExitCode::SUCCESS)
}

fn render(target: Target) -> anyhow::Result<Vec<u8>> {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    let shell = match target {
        Target::Man => {
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            return Ok(buf);
        }
        Target::Bash => Shell::Bash,
        Target::Zsh => Shell::Zsh,
        Target::Fish => Shell::Fish,
        Target::Powershell => Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut cmd, "meshctl", &mut buf);
    Ok(buf)
}
