//! `meshctl proxy-init` against real iptables in a pod namespace, on both backends.

use crate::node::Pod;
use crate::{meshctl, node_or_skip};

const FLAGS: [&str; 6] = [
    "--skip-inbound-ports",
    "22,8080",
    "--skip-outbound-ports",
    "3306",
    "--skip-outbound-cidrs",
    "10.0.0.0/8,fd00:99::/32",
];

/// The nat table as both families' `*-save` print it, without the comment lines
/// (timestamps) and packet counters.
fn nat_rules(pod: &Pod, backend: &str) -> String {
    let mut all = String::new();
    for save in [
        format!("iptables-{backend}-save"),
        format!("ip6tables-{backend}-save"),
    ] {
        let out = pod.run(&save, &["-t", "nat"]);
        assert!(
            out.status.success(),
            "{save}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if !line.starts_with('#') {
                let line = match line.find(" [") {
                    Some(at) if line.starts_with(':') => &line[..at],
                    _ => line,
                };
                all.push_str(line);
                all.push('\n');
            }
        }
    }
    all
}

/// Asserts that a command succeeded, showing its stderr when it did not.
fn assert_ok(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
}

fn proxy_init(pod: &Pod, backend: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["proxy-init", "--iptables-mode", backend];
    args.extend(extra);
    pod.run(meshctl(), &args)
}

fn install_twice_then_clean_up(backend: &str) {
    let test = format!("proxy_init_{backend}");
    let Some(node) = node_or_skip(&test, &["a"]) else {
        return;
    };
    let pod = node.pod("a");
    let before = nat_rules(pod, backend);

    let first = proxy_init(pod, backend, &FLAGS);
    assert_ok(&first);
    let installed = nat_rules(pod, backend);
    for expected in [
        "-A PREROUTING -p tcp -m comment --comment \"meshctl: inbound interception\" -j MESHCTL_INBOUND",
        "-A OUTPUT -p tcp -m comment --comment \"meshctl: outbound interception\" -j MESHCTL_OUTPUT",
        "--dports 4191,22,8080",
        "--uid-owner 2102",
        "-d 10.0.0.0/8",
        "-d fd00:99::/32",
        "-j REDIRECT --to-ports 4143",
        "-j REDIRECT --to-ports 4140",
    ] {
        assert!(
            installed.contains(expected),
            "{backend}: no `{expected}` in\n{installed}"
        );
    }

    let second = proxy_init(pod, backend, &FLAGS);
    assert_ok(&second);
    assert_eq!(
        nat_rules(pod, backend),
        installed,
        "{backend}: a second run changed the rules"
    );

    // Copies of the jump and jumps another version wrote (other comment) are replaced by
    // exactly one jump.
    let iptables = format!("iptables-{backend}");
    for comment in ["meshctl: inbound interception", "meshctl v0"] {
        let rule =
            format!("-A PREROUTING -p tcp -m comment --comment {comment:?} -j MESHCTL_INBOUND");
        let stale = pod.run("sh", &["-c", &format!("{iptables} -t nat {rule}")]);
        assert_ok(&stale);
    }
    assert_ok(&proxy_init(pod, backend, &FLAGS));
    assert_eq!(
        nat_rules(pod, backend),
        installed,
        "{backend}: stale jumps stayed"
    );

    // A changed configuration replaces the rules instead of adding to them.
    let changed = proxy_init(pod, backend, &["--skip-outbound-ports", "5432"]);
    assert_ok(&changed);
    let rules = nat_rules(pod, backend);
    assert!(
        rules.contains("--dports 5432") && !rules.contains("3306"),
        "{rules}"
    );
    assert_eq!(
        rules.matches("-j MESHCTL_OUTPUT").count(),
        2,
        "one jump per family:\n{rules}"
    );

    let cleanup = proxy_init(pod, backend, &["--cleanup"]);
    assert_ok(&cleanup);
    let after = nat_rules(pod, backend);
    assert!(
        !after.contains("MESHCTL"),
        "{backend}: cleanup left\n{after}"
    );
    let rule_lines = |text: &str| text.lines().filter(|l| l.starts_with("-A")).count();
    assert_eq!(rule_lines(&after), rule_lines(&before), "{after}");
    // Cleaning up what is not there is fine too.
    assert_ok(&proxy_init(pod, backend, &["--cleanup"]));
}

#[test]
fn proxy_init_nft_is_idempotent_and_cleans_up() {
    install_twice_then_clean_up("nft");
}

#[test]
fn proxy_init_legacy_is_idempotent_and_cleans_up() {
    install_twice_then_clean_up("legacy");
}

#[test]
fn proxy_init_dry_run_changes_nothing_and_auto_detects_the_backend() {
    let Some(node) = node_or_skip("proxy_init_dry_run", &["a"]) else {
        return;
    };
    let pod = node.pod("a");
    let version = pod.run("iptables", &["--version"]);
    let backend = if String::from_utf8_lossy(&version.stdout).contains("nf_tables") {
        "nft"
    } else {
        "legacy"
    };
    let before = nat_rules(pod, backend);
    let out = pod.run(meshctl(), &["proxy-init", "--dry-run"]);
    assert_ok(&out);
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains(&format!("iptables-{backend}-restore --noflush")),
        "{script}"
    );
    assert_eq!(
        nat_rules(pod, backend),
        before,
        "--dry-run must not touch the rules"
    );

    // The printed script is runnable and does what proxy-init does.
    let ran = pod.run("sh", &["-c", &script]);
    assert_ok(&ran);
    let by_script = nat_rules(pod, backend);
    let applied = pod.run(meshctl(), &["proxy-init"]);
    assert_ok(&applied);
    assert_eq!(nat_rules(pod, backend), by_script);

    // So is the cleanup script.
    let out = pod.run(meshctl(), &["proxy-init", "--cleanup", "--dry-run"]);
    let ran = pod.run("sh", &["-c", &String::from_utf8_lossy(&out.stdout)]);
    assert_ok(&ran);
    assert_eq!(
        nat_rules(pod, backend),
        before,
        "the cleanup script left rules"
    );
}

#[test]
fn proxy_init_without_privileges_fails_naming_the_program() {
    let Some(node) = node_or_skip("proxy_init_without_privileges", &["a"]) else {
        return;
    };
    let pod = node.pod("a");
    let out = pod.run(
        "setpriv",
        &[
            "--reuid",
            "2102",
            "--regid",
            "2102",
            "--clear-groups",
            meshctl(),
            "proxy-init",
            "--iptables-mode",
            "nft",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing partial on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("proxy-init failed") && err.contains("iptables-nft-restore"),
        "{err}"
    );
}
