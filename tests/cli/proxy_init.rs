//! `meshctl proxy-init` without touching the machine: `--dry-run` and flag errors.

use crate::support::{failed, meshctl, run, stderr, stdout};

#[test]
fn dry_run_prints_the_restore_input_and_jumps_for_the_chosen_backend() {
    let out = run(
        &[
            "proxy-init",
            "--dry-run",
            "--iptables-mode",
            "legacy",
            "--skip-inbound-ports",
            "22,8080",
            "--skip-outbound-ports",
            "3306",
            "--skip-outbound-cidrs",
            "10.0.0.0/8",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("# IPv4\niptables-legacy-restore --noflush <<'EOF'\n*nat\n"),
        "{text}"
    );
    for line in [
        ":MESHCTL_OUTPUT - [0:0]",
        "-A MESHCTL_INBOUND -p tcp -m multiport --dports 4191,22,8080 -j RETURN",
        "-A MESHCTL_OUTPUT -m owner --uid-owner 2102 -j RETURN",
        "-A MESHCTL_OUTPUT -p tcp -m multiport --dports 3306 -j RETURN",
        "-A MESHCTL_OUTPUT -d 10.0.0.0/8 -j RETURN",
        "-A MESHCTL_OUTBOUND_REDIRECT -p tcp -j REDIRECT --to-ports 4140",
        "iptables-legacy -t nat -C OUTPUT -p tcp -j MESHCTL_OUTPUT",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    let cleanup = run(
        &[
            "proxy-init",
            "--dry-run",
            "--cleanup",
            "--iptables-mode",
            "nft",
        ],
        b"",
    );
    assert!(cleanup.status.success(), "{}", stderr(&cleanup));
    let text = stdout(&cleanup);
    assert!(
        text.starts_with(
            "iptables-nft -t nat -S PREROUTING | grep -- ' -j MESHCTL_INBOUND$' | sed "
        ),
        "{text}"
    );
    assert!(text.contains("-X MESHCTL_INBOUND\n"), "{text}");
}

#[test]
fn bad_port_and_cidr_lists_are_usage_errors_that_name_the_value() {
    for (flag, value) in [
        ("--skip-inbound-ports", "22,ssh"),
        ("--skip-outbound-ports", "0"),
        ("--skip-outbound-cidrs", "10.0.0.0/40"),
        ("--inbound-port", "0"),
        ("--admin-port", "4191-4192"),
    ] {
        let out = run(&["proxy-init", "--dry-run", flag, value], b"");
        failed(&out, 2, &[flag, value.rsplit(',').next().unwrap()]);
    }
}

/// A refused rule is named in the error; a stand-in iptables-nft-restore refuses line 9.
#[test]
fn a_refused_rule_is_named_and_exits_1() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("iptables-nft-restore");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncat >/dev/null\necho 'iptables-nft-restore v1.8.9 (nf_tables): line 9 failed' >&2\nexit 1\n",
    )
    .expect("write fake");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = meshctl()
        .args(["proxy-init", "--iptables-mode", "nft"])
        .env("PATH", path)
        .output()
        .expect("run meshctl");
    let rule = "-A MESHCTL_OUTPUT -o lo ! -d 127.0.0.0/8 -m owner --uid-owner 2102";
    failed(&out, 1, &["iptables-nft-restore", rule, "line 9 failed"]);
}
