//! Helpers to run the built binary and look at what it did.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub fn meshctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    cmd.env_remove("MESHCTL_LOG").env("NO_COLOR", "1");
    cmd
}

/// Runs meshctl with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = meshctl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meshctl");
    // A command may exit before reading all its input; that is its business.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait for meshctl")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that meshctl exited with `code`, wrote nothing on stdout (no partial output) and
/// said every one of `says` on stderr; returns stderr for further checks.
pub fn failed(out: &Output, code: i32, says: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(out.stdout.is_empty(), "partial stdout: {}", stdout(out));
    for text in says {
        assert!(err.contains(text), "{text:?} not in: {err}");
    }
    err
}
