//! The committed completions and man page match the CLI; `version` and usage errors behave.

use std::path::Path;

use crate::support::{failed, run, stderr, stdout};

const FILES: [(&str, &str); 5] = [
    ("bash", "meshctl.bash"),
    ("zsh", "_meshctl"),
    ("fish", "meshctl.fish"),
    ("powershell", "_meshctl.ps1"),
    ("man", "meshctl.1"),
];

/// Regenerate with `cargo run -- completions --write-all completions`.
#[test]
fn committed_completions_are_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file) in FILES {
        let out = run(&["completions", shell], b"");
        assert!(out.status.success(), "{}", stderr(&out));
        let committed = std::fs::read(dir.join(file)).unwrap_or_default();
        assert!(
            committed == out.stdout,
            "completions/{file} is stale: run `cargo run -- completions --write-all completions`"
        );
    }
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["version", "--short"], b"");
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), env!("CARGO_PKG_VERSION"));
    let out = run(&["version", "-o", "json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["client"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn usage_errors_exit_2_and_unknown_subcommands_are_refused() {
    failed(&run(&["no-such-command"], b""), 2, &["no-such-command"]);
    let out = run(&["version", "-o", "xml"], b"");
    assert_eq!(out.status.code(), Some(2));
}
