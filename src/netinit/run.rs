//! Runs plan steps against the real iptables programs, turning a refusal into an error
//! that names the rule.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::error::NetinitError;
use super::plan::{Step, jump_args, quote_all};

/// No built-in chain should hold more copies of our jump than this; stops a runaway loop.
const MAX_JUMP_COPIES: usize = 64;

/// Runs `steps` in order, stopping at the first failure.
pub fn apply(steps: &[Step]) -> Result<(), NetinitError> {
    for step in steps {
        match step {
            Step::Restore { program, lines, .. } => restore(program, lines)?,
            Step::EnsureJump { iptables, jump } => {
                if !check(iptables, &jump_args("-C", jump))? {
                    change(iptables, &jump_args("-A", jump))?;
                }
            }
            Step::RemoveJump { iptables, jump } => {
                // No chain, no jump to it (and `-C` would fail on the unknown target).
                if !chain_exists(iptables, jump.target())? {
                    continue;
                }
                for _ in 0..MAX_JUMP_COPIES {
                    if !check(iptables, &jump_args("-C", jump))? {
                        break;
                    }
                    change(iptables, &jump_args("-D", jump))?;
                }
            }
        }
    }
    Ok(())
}

/// Whether IPv6 is on in this network namespace (if not, ip6tables has nothing to do).
pub fn ipv6_available() -> bool {
    std::path::Path::new("/proc/net/if_inet6").exists()
}

pub(crate) fn spawn_error(program: &str, source: std::io::Error) -> NetinitError {
    if source.kind() == std::io::ErrorKind::NotFound {
        NetinitError::NotFound {
            program: program.to_owned(),
        }
    } else {
        NetinitError::Spawn {
            program: program.to_owned(),
            source,
        }
    }
}

fn restore(program: &str, lines: &[String]) -> Result<(), NetinitError> {
    let mut child = Command::new(program)
        .arg("--noflush")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(program, e))?;
    let mut input = lines.join("\n");
    input.push('\n');
    // If the program dies early the write fails; its exit status and stderr say why.
    let _ = child
        .stdin
        .take()
        .map(|mut s| s.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| spawn_error(program, e))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = stderr_of(&out);
    match failed_line(&stderr).and_then(|n| lines.get(n.checked_sub(1)?)) {
        Some(rule) => Err(NetinitError::RuleFailed {
            program: program.to_owned(),
            rule: rule.clone(),
            stderr,
        }),
        None => Err(NetinitError::CommandFailed {
            command: format!("{program} --noflush"),
            stderr,
        }),
    }
}

/// `-C`: exit 0 means the rule exists, 1 that it does not; anything else is an error.
fn check(program: &str, args: &[&str]) -> Result<bool, NetinitError> {
    let out = output(program, args)?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(rule_failed(program, args, &out)),
    }
}

fn chain_exists(program: &str, chain: &str) -> Result<bool, NetinitError> {
    Ok(output(program, &["-t", "nat", "-S", chain])?
        .status
        .success())
}

fn change(program: &str, args: &[&str]) -> Result<(), NetinitError> {
    let out = output(program, args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(rule_failed(program, args, &out))
    }
}

fn output(program: &str, args: &[&str]) -> Result<Output, NetinitError> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(program, e))
}

fn rule_failed(program: &str, args: &[&str], out: &Output) -> NetinitError {
    NetinitError::RuleFailed {
        program: program.to_owned(),
        rule: quote_all(args),
        stderr: stderr_of(out),
    }
}

fn stderr_of(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr)
        .trim()
        .replace('\n', "; ");
    if text.is_empty() {
        format!("exited with {}", out.status)
    } else {
        text
    }
}

/// The input line iptables-restore blames: `iptables-restore: line 7 failed`.
fn failed_line(stderr: &str) -> Option<usize> {
    let rest = &stderr[stderr.find("line ")? + "line ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failed_line_is_read_from_both_backends_messages() {
        assert_eq!(failed_line("iptables-restore: line 7 failed"), Some(7));
        assert_eq!(
            failed_line("iptables-nft-restore v1.8.9 (nf_tables): line 12 failed: No chain"),
            Some(12)
        );
        assert_eq!(failed_line("Permission denied (you must be root)"), None);
    }

    #[test]
    fn a_missing_program_says_to_install_iptables() {
        let err = apply(&[Step::Restore {
            family: super::super::rules::Family::V4,
            program: "meshctl-no-such-iptables-restore".to_owned(),
            lines: vec!["*nat".to_owned(), "COMMIT".to_owned()],
        }])
        .unwrap_err()
        .to_string();
        assert!(err.contains("meshctl-no-such-iptables-restore") && err.contains("install"));
    }
}
