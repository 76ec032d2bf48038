//! What can go wrong in proxy-init, each error naming the value, program or rule involved.

/// A flag or annotation value that is not a port list or CIDR list.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("`{value}` is not a port or port range: {why}")]
    Port { value: String, why: String },
    #[error("`{value}` is not a CIDR: {why}")]
    Cidr { value: String, why: String },
}

/// Detecting the backend or applying the rules failed.
#[derive(Debug, thiserror::Error)]
pub enum NetinitError {
    #[error(
        "`{program}` was not found: install the iptables package (it ships both the nft and \
         the legacy binaries) or pick the other backend with --iptables-mode"
    )]
    NotFound { program: String },
    #[error("could not run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot tell the iptables backend from `iptables --version` (it said `{output}`): \
         pass --iptables-mode nft or --iptables-mode legacy"
    )]
    UnknownBackend { output: String },
    #[error(
        "`{program}` refused the rule `{rule}`: {stderr} (is this running as root with \
         NET_ADMIN, and does the kernel have the nat table?)"
    )]
    RuleFailed {
        program: String,
        rule: String,
        stderr: String,
    },
    #[error("`{command}` failed: {stderr}")]
    CommandFailed { command: String, stderr: String },
}
