//! Which iptables backend to drive (nf_tables or legacy) and the program names for each
//! family; `auto` asks `iptables --version`, as the node's own tools would use.

use std::fmt;
use std::process::Command;

use super::error::NetinitError;
use super::rules::Family;

/// What the user asked for with `--iptables-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    #[default]
    Auto,
    Nft,
    Legacy,
}

/// A concrete backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nft,
    Legacy,
}

impl Backend {
    fn suffix(self) -> &'static str {
        match self {
            Backend::Nft => "nft",
            Backend::Legacy => "legacy",
        }
    }

    /// `iptables-nft`, `ip6tables-legacy`, …
    pub fn iptables(self, family: Family) -> String {
        format!("{}-{}", base(family), self.suffix())
    }

    /// `iptables-nft-restore`, `ip6tables-legacy-restore`, …
    pub fn restore(self, family: Family) -> String {
        format!("{}-{}-restore", base(family), self.suffix())
    }

    /// `iptables-nft-save`, `ip6tables-legacy-save`, …
    pub fn save(self, family: Family) -> String {
        format!("{}-{}-save", base(family), self.suffix())
    }
}

fn base(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables",
        Family::V6 => "ip6tables",
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

/// Reads the backend from `iptables --version` output: `iptables v1.8.9 (nf_tables)` or
/// `(legacy)`; versions before 1.8 print no suffix and only have legacy.
pub fn parse_version(output: &str) -> Result<Backend, NetinitError> {
    let line = output.lines().next().unwrap_or("").trim();
    if line.contains("(nf_tables)") {
        Ok(Backend::Nft)
    } else if line.contains("(legacy)") || (line.starts_with("iptables v") && !line.contains('(')) {
        Ok(Backend::Legacy)
    } else {
        Err(NetinitError::UnknownBackend {
            output: line.to_owned(),
        })
    }
}

/// Resolves `mode` to a backend, running `iptables --version` for `auto`.
pub fn resolve(mode: Mode) -> Result<Backend, NetinitError> {
    match mode {
        Mode::Nft => Ok(Backend::Nft),
        Mode::Legacy => Ok(Backend::Legacy),
        Mode::Auto => {
            let out = Command::new("iptables")
                .arg("--version")
                .output()
                .map_err(|e| super::run::spawn_error("iptables", e))?;
            parse_version(&String::from_utf8_lossy(&out.stdout))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_output_names_the_backend() {
        assert_eq!(
            parse_version("iptables v1.8.9 (nf_tables)\n").unwrap(),
            Backend::Nft
        );
        assert_eq!(
            parse_version("iptables v1.8.7 (legacy)").unwrap(),
            Backend::Legacy
        );
        assert_eq!(parse_version("iptables v1.6.1").unwrap(), Backend::Legacy);
        let err = parse_version("something else").unwrap_err().to_string();
        assert!(err.contains("something else") && err.contains("--iptables-mode"));
    }

    #[test]
    fn program_names_follow_the_iptables_package() {
        assert_eq!(Backend::Nft.iptables(Family::V4), "iptables-nft");
        assert_eq!(
            Backend::Legacy.restore(Family::V6),
            "ip6tables-legacy-restore"
        );
        assert_eq!(Backend::Nft.save(Family::V6), "ip6tables-nft-save");
    }
}
