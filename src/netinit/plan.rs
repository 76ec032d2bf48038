//! The steps that install or remove the rule set, rendered as iptables-restore input and
//! as the shell script `--dry-run` prints. Applying runs exactly these steps (`run`).

use std::fmt::Write as _;

use super::backend::Backend;
use super::config::InitConfig;
use super::rules::{CHAINS, Family, Rule, rule_set};

/// One thing to do to one family's nat table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Feed `lines` to `<program> --noflush`: one atomic transaction that flushes and
    /// refills (or deletes) only our chains.
    Restore {
        family: Family,
        program: String,
        lines: Vec<String>,
    },
    /// Make `jump` the one rule of its built-in chain that jumps to its target: nothing
    /// to do when it already is; else every jump there (copies, other versions' jumps)
    /// is replaced by one `jump`.
    EnsureJump { iptables: String, jump: Rule },
    /// Delete every rule of `jump`'s built-in chain that jumps to its target.
    RemoveJump { iptables: String, jump: Rule },
}

/// Install: chains first (complete before anything jumps to them), then the jumps.
pub fn install(config: &InitConfig, backend: Backend, families: &[Family]) -> Vec<Step> {
    let mut steps = Vec::new();
    for &family in families {
        let set = rule_set(config, family);
        let mut lines = declare_chains();
        lines.extend(set.rules.iter().map(append_line));
        lines.push("COMMIT".to_owned());
        steps.push(Step::Restore {
            family,
            program: backend.restore(family),
            lines,
        });
        steps.extend(set.jumps.into_iter().map(|jump| Step::EnsureJump {
            iptables: backend.iptables(family),
            jump,
        }));
    }
    steps
}

/// Cleanup: the jumps first (a referenced chain cannot be deleted), then the chains.
pub fn cleanup(config: &InitConfig, backend: Backend, families: &[Family]) -> Vec<Step> {
    let mut steps = Vec::new();
    for &family in families {
        let set = rule_set(config, family);
        steps.extend(set.jumps.into_iter().map(|jump| Step::RemoveJump {
            iptables: backend.iptables(family),
            jump,
        }));
        // Declaring creates a missing chain and flushes an existing one, so the deletes
        // below succeed whatever state a previous run left.
        let mut lines = declare_chains();
        lines.extend(CHAINS.iter().map(|chain| format!("-X {chain}")));
        lines.push("COMMIT".to_owned());
        steps.push(Step::Restore {
            family,
            program: backend.restore(family),
            lines,
        });
    }
    steps
}

fn declare_chains() -> Vec<String> {
    let mut lines = vec!["*nat".to_owned()];
    lines.extend(CHAINS.iter().map(|chain| format!(":{chain} - [0:0]")));
    lines
}

fn append_line(rule: &Rule) -> String {
    format!("-A {} {}", rule.chain, quote_all(&rule.spec()))
}

/// `iptables -t nat <op> CHAIN spec…` as arguments, for running without a shell.
pub fn jump_args<'a>(op: &'a str, jump: &'a Rule) -> Vec<&'a str> {
    let mut args = vec!["-t", "nat", op, jump.chain];
    args.extend(jump.spec());
    args
}

/// Renders steps as a POSIX shell script that does what applying them does.
pub fn script(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        // Writing to a String cannot fail.
        let _ = match step {
            Step::Restore {
                family,
                program,
                lines,
            } => writeln!(
                out,
                "# {family}\n{program} --noflush <<'EOF'\n{}\nEOF",
                lines.join("\n")
            ),
            Step::EnsureJump { iptables, jump } => writeln!(
                out,
                "if [ \"$({list} | grep -c -- ' -j {target}$')\" != 1 ] || \
                 ! {iptables} {check} 2>/dev/null; then\n  {delete}\n  {iptables} {append}\nfi",
                list = list_jumps(iptables, jump),
                target = jump.target(),
                check = quote_all(&jump_args("-C", jump)),
                delete = delete_jumps(iptables, jump),
                append = quote_all(&jump_args("-A", jump)),
            ),
            Step::RemoveJump { iptables, jump } => {
                writeln!(out, "{}", delete_jumps(iptables, jump))
            }
        };
    }
    out
}

/// `iptables -t nat -S CHAIN`: the chain's rules as `-A CHAIN …` lines.
fn list_jumps(iptables: &str, jump: &Rule) -> String {
    format!("{iptables} -t nat -S {}", jump.chain)
}

/// Shell that deletes every rule of `jump`'s chain that jumps to its target (the listed
/// rules are shell-quoted by iptables, hence `eval`).
fn delete_jumps(iptables: &str, jump: &Rule) -> String {
    format!(
        "{} | grep -- ' -j {}$' | sed 's/^-A /-D /' | \
         while read -r rule; do eval \"{iptables} -t nat $rule\"; done",
        list_jumps(iptables, jump),
        jump.target()
    )
}

/// Joins arguments, double-quoting those with spaces or other special characters; the
/// result reads the same to a POSIX shell and to iptables-restore.
pub(crate) fn quote_all(args: &[&str]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:,!=@+".contains(c));
        if plain {
            out.push_str(arg);
        } else {
            out.push('"');
            for c in arg.chars() {
                if matches!(c, '"' | '\\' | '$' | '`') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_restores_our_chains_then_adds_the_jumps_per_family() {
        let steps = install(&InitConfig::default(), Backend::Nft, &Family::ALL);
        assert_eq!(steps.len(), 6);
        let Step::Restore { program, lines, .. } = &steps[0] else {
            panic!("first step restores: {steps:?}");
        };
        assert_eq!(program, "iptables-nft-restore");
        assert_eq!(lines[0], "*nat");
        assert_eq!(lines[1], ":MESHCTL_INBOUND - [0:0]");
        assert_eq!(lines.last().unwrap(), "COMMIT");
        assert!(
            lines.contains(
                &"-A MESHCTL_OUTBOUND_REDIRECT -p tcp -j REDIRECT --to-ports 4140 -m comment \
              --comment \"meshctl: to the outbound port 4140 of the proxy\""
                    .to_owned()
            )
        );
        assert!(
            lines.iter().all(|l| !l.starts_with("-A PREROUTING")),
            "jumps are never in the restore input, so reruns cannot duplicate them"
        );
        assert!(
            matches!(&steps[3], Step::Restore { program, .. } if program == "ip6tables-nft-restore")
        );
    }

    #[test]
    fn the_script_is_what_a_shell_would_run() {
        let steps = install(&InitConfig::default(), Backend::Legacy, &[Family::V4]);
        let text = script(&steps);
        assert!(text.starts_with("# IPv4\niptables-legacy-restore --noflush <<'EOF'\n*nat\n"));
        assert!(text.contains("COMMIT\nEOF\n"));
        assert!(text.contains(
            "if [ \"$(iptables-legacy -t nat -S PREROUTING | grep -c -- ' -j MESHCTL_INBOUND$')\" \
             != 1 ] || ! iptables-legacy -t nat -C PREROUTING -p tcp -j MESHCTL_INBOUND -m comment \
             --comment \"meshctl: inbound interception\" 2>/dev/null; then\n"
        ));
        assert!(text.contains(
            "\n  iptables-legacy -t nat -A PREROUTING -p tcp -j MESHCTL_INBOUND -m comment \
             --comment \"meshctl: inbound interception\"\nfi\n"
        ));
    }

    #[test]
    fn cleanup_removes_jumps_before_deleting_chains() {
        let steps = cleanup(&InitConfig::default(), Backend::Nft, &[Family::V6]);
        assert!(
            matches!(&steps[0], Step::RemoveJump { iptables, .. } if iptables == "ip6tables-nft")
        );
        let Step::Restore { lines, .. } = &steps[2] else {
            panic!("{steps:?}");
        };
        assert!(lines.contains(&"-X MESHCTL_OUTPUT".to_owned()));
        assert!(script(&steps).contains(
            "ip6tables-nft -t nat -S OUTPUT | grep -- ' -j MESHCTL_OUTPUT$' | sed 's/^-A /-D /' | \
             while read -r rule; do eval \"ip6tables-nft -t nat $rule\"; done\n"
        ));
    }

    #[test]
    fn quoting_protects_spaces_and_shell_characters() {
        assert_eq!(
            quote_all(&["-d", "10.0.0.0/8", "a b"]),
            "-d 10.0.0.0/8 \"a b\""
        );
        assert_eq!(quote_all(&["$x\"", ""]), "\"\\$x\\\"\" \"\"");
    }
}
