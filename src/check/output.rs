//! Printing a check run: text (a heading per category, one line per check, the message and
//! hint indented under warnings and errors), `short` (only warnings and errors), or one JSON
//! document; and the catalogue for `--list`.

use std::io::{self, Write};

use serde_json::json;

use super::{Report, Spec, Status};

/// The marks of the text output.
#[derive(Debug, Clone, Copy)]
pub struct Glyphs {
    ok: &'static str,
    warning: &'static str,
    error: &'static str,
    skipped: &'static str,
}

pub const UNICODE: Glyphs = Glyphs {
    ok: "√",
    warning: "‼",
    error: "×",
    skipped: "-",
};
pub const ASCII: Glyphs = Glyphs {
    ok: "[ok]",
    warning: "[warn]",
    error: "[FAIL]",
    skipped: "[skip]",
};

impl Glyphs {
    /// Unicode when the locale says UTF-8, ASCII otherwise.
    pub fn from_locale(var: impl Fn(&str) -> Option<String>) -> Self {
        let utf8 = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|v| var(v).filter(|s| !s.is_empty()))
            .is_some_and(|s| {
                let s = s.to_ascii_lowercase();
                s.contains("utf-8") || s.contains("utf8")
            });
        if utf8 { UNICODE } else { ASCII }
    }

    fn of(&self, status: Status) -> &'static str {
        match status {
            Status::Ok => self.ok,
            Status::Warning => self.warning,
            Status::Error => self.error,
            Status::Skipped => self.skipped,
        }
    }
}

/// Text output; with `short`, only warnings and errors (and the status line).
pub fn text(report: &Report, glyphs: Glyphs, short: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut category = "";
    for result in &report.results {
        if short && !matches!(result.status, Status::Warning | Status::Error) {
            continue;
        }
        if result.category != category {
            if !category.is_empty() {
                writeln!(out)?;
            }
            category = result.category;
            writeln!(out, "{category}\n{}", "-".repeat(category.len()))?;
        }
        writeln!(out, "{} {}", glyphs.of(result.status), result.description)?;
        if result.status != Status::Ok {
            writeln!(out, "    {}", result.message)?;
        }
        if let Some(hint) = result.hint {
            writeln!(out, "    hint: {hint}")?;
        }
    }
    if !category.is_empty() {
        writeln!(out)?;
    }
    let (status, glyph) = if report.passed() {
        ("passed", glyphs.ok)
    } else {
        ("FAILED", glyphs.error)
    };
    writeln!(
        out,
        "Status check results are {glyph} ({status} in {} ms)",
        report.duration.as_millis()
    )
}

/// The whole run as one JSON document.
pub fn json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut categories: Vec<serde_json::Value> = Vec::new();
    for result in &report.results {
        if categories.last().and_then(|c| c["name"].as_str()) != Some(result.category) {
            categories.push(json!({"name": result.category, "checks": []}));
        }
        let last = categories.last_mut().expect("just pushed");
        last["checks"]
            .as_array_mut()
            .expect("an array")
            .push(serde_json::to_value(result).expect("serializable"));
    }
    let doc = json!({
        "status": if report.passed() { "passed" } else { "failed" },
        "durationMs": u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        "categories": categories,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// The catalogue for `--list`: category, id, description and hint of every check.
pub fn list<'a>(specs: impl Iterator<Item = &'a Spec>, out: &mut dyn Write) -> io::Result<()> {
    for spec in specs {
        writeln!(out, "{} / {}: {}", spec.category, spec.id, spec.description)?;
        writeln!(out, "    hint: {}", spec.hint)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckResult;
    use std::time::Duration;

    fn report() -> Report {
        let result = |id, category, status, hint| CheckResult {
            id,
            description: "does a thing",
            status,
            message: format!("{id} said so"),
            hint,
            duration_ms: 1,
            category,
        };
        Report {
            results: vec![
                result("a", "one", Status::Ok, None),
                result("b", "one", Status::Warning, Some("do b")),
                result("c", "two", Status::Error, Some("do c")),
                result("d", "two", Status::Skipped, None),
            ],
            duration: Duration::from_millis(12),
        }
    }

    #[test]
    fn text_marks_each_check_and_indents_messages_and_hints() {
        let mut out = Vec::new();
        text(&report(), ASCII, false, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "one\n---\n[ok] does a thing\n[warn] does a thing\n    b said so\n    hint: do b\n\n\
             two\n---\n[FAIL] does a thing\n    c said so\n    hint: do c\n[skip] does a thing\n    \
             d said so\n\nStatus check results are [FAIL] (FAILED in 12 ms)\n"
        );
        let mut short = Vec::new();
        text(&report(), UNICODE, true, &mut short).unwrap();
        let short = String::from_utf8(short).unwrap();
        assert!(
            !short.contains("[ok]") && !short.contains("√ does"),
            "{short}"
        );
        assert!(short.contains("‼ does a thing") && short.contains("× does a thing"));
    }

    #[test]
    fn json_groups_checks_by_category() {
        let mut out = Vec::new();
        json(&report(), &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["status"], "failed");
        assert_eq!(doc["categories"][1]["name"], "two");
        assert_eq!(doc["categories"][1]["checks"][0]["status"], "error");
        assert_eq!(doc["categories"][1]["checks"][0]["hint"], "do c");
        assert!(doc["categories"][0]["checks"][0].get("hint").is_none());
    }

    #[test]
    fn the_locale_picks_the_glyphs() {
        let env = |value: &'static str| move |k: &str| (k == "LANG").then(|| value.to_owned());
        assert_eq!(Glyphs::from_locale(env("en_US.UTF-8")).ok, "√");
        assert_eq!(Glyphs::from_locale(env("C")).ok, "[ok]");
        assert_eq!(Glyphs::from_locale(|_| None).ok, "[ok]");
    }
}
