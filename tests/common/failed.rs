//! The one assertion on a failed meshctl run that every test binary makes: its exit code,
//! nothing partial on stdout, and what stderr says.

use std::process::Output;

/// Asserts that meshctl exited with `code`, wrote nothing on stdout (no partial output) and
/// said every one of `says` on stderr; returns stderr for further checks.
pub fn failed(out: &Output, code: i32, says: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(
        out.stdout.is_empty(),
        "partial stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for text in says {
        assert!(err.contains(text), "{text:?} not in: {err}");
    }
    err
}
