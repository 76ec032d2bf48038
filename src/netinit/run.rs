//! Runs plan steps against the real iptables programs, turning a refusal into an error
//! that names the rule.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::error::NetinitError;
use super::plan::{Step, jump_args, quote_all};
use super::rules::Rule;

/// Runs `steps` in order, stopping at the first failure.
pub fn apply(steps: &[Step]) -> Result<(), NetinitError> {
    for step in steps {
        match step {
            Step::Restore { program, lines, .. } => restore(program, lines)?,
            Step::EnsureJump { iptables, jump } => {
                // Already the one jump to our chain: nothing to do (reruns change nothing).
                let jumps = jumps_to(iptables, jump)?;
                if jumps.len() != 1 || !check(iptables, &jump_args("-C", jump))? {
                    // Copies, or jumps another version wrote: replace them all by ours.
                    delete_all(iptables, jump, &jumps)?;
                    change(iptables, &jump_args("-A", jump))?;
                }
            }
            Step::RemoveJump { iptables, jump } => {
                let jumps = jumps_to(iptables, jump)?;
                delete_all(iptables, jump, &jumps)?;
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

/// Every rule of `jump`'s built-in chain that jumps to `jump`'s target, whatever else it
/// matches or says, as the arguments after `-A CHAIN` (from `iptables -S`).
fn jumps_to(program: &str, jump: &Rule) -> Result<Vec<Vec<String>>, NetinitError> {
    let args = ["-t", "nat", "-S", jump.chain];
    let out = output(program, &args)?;
    if !out.status.success() {
        return Err(rule_failed(program, &args, &out));
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    Ok(jumps_in(&listing, jump.chain, jump.target()))
}

fn delete_all(program: &str, jump: &Rule, rules: &[Vec<String>]) -> Result<(), NetinitError> {
    for rule in rules {
        let mut args = vec!["-t", "nat", "-D", jump.chain];
        args.extend(rule.iter().map(String::as_str));
        change(program, &args)?;
    }
    Ok(())
}

/// The rules of `chain` in an `iptables -S` listing whose target is `target`.
fn jumps_in(listing: &str, chain: &str, target: &str) -> Vec<Vec<String>> {
    listing
        .lines()
        .filter_map(|line| {
            let words = split_words(line);
            let is_jump = words.len() > 2
                && words[0] == "-A"
                && words[1] == chain
                && words.windows(2).any(|w| w[0] == "-j" && w[1] == target);
            is_jump.then(|| words[2..].to_vec())
        })
        .collect()
}

/// Splits an `iptables -S` line into words: double quotes group (`"a b"`), a backslash
/// inside them escapes the next character, as iptables prints comments.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            '\\' if quoted => word.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
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
    fn jumps_to_our_chain_are_found_whatever_their_comment() {
        let listing = "-P PREROUTING ACCEPT\n\
            -A PREROUTING -p tcp -m comment --comment \"meshctl: inbound interception\" -j MESHCTL_INBOUND\n\
            -A PREROUTING -p udp -j OTHER\n\
            -A PREROUTING -p tcp -m comment --comment \"old \\\"v0\\\" jump\" -j MESHCTL_INBOUND\n\
            -A OUTPUT -p tcp -j MESHCTL_INBOUND\n";
        let jumps = jumps_in(listing, "PREROUTING", "MESHCTL_INBOUND");
        assert_eq!(
            jumps,
            [
                [
                    "-p",
                    "tcp",
                    "-m",
                    "comment",
                    "--comment",
                    "meshctl: inbound interception"
                ]
                .iter()
                .chain(&["-j", "MESHCTL_INBOUND"])
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
                ["-p", "tcp", "-m", "comment", "--comment", "old \"v0\" jump"]
                    .iter()
                    .chain(&["-j", "MESHCTL_INBOUND"])
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            ]
        );
        assert!(jumps_in(listing, "PREROUTING", "MESHCTL_OUTPUT").is_empty());
    }

    #[test]
    fn words_split_like_iptables_quotes_them() {
        assert_eq!(
            split_words(r#"-A X  --comment "a b" -j Y"#),
            ["-A", "X", "--comment", "a b", "-j", "Y"]
        );
        assert_eq!(split_words(r#"--comment "" x"#), ["--comment", "", "x"]);
        assert_eq!(split_words(r#""say \"hi\\""#), [r#"say "hi\"#]);
        assert!(split_words("  ").is_empty());
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
