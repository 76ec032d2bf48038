//! The one reader of `/metrics` texts in meshctl (either format: their sample lines agree):
//! name, labels with their escapes undone, value; comments, timestamps and exemplars skipped.

use std::borrow::Cow;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: f64,
}

impl Sample<'_> {
    /// The value of label `key`, if the sample has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| &**v)
    }
}

/// The sample lines of a `/metrics` text (malformed lines are skipped).
pub fn samples(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines().filter_map(sample)
}

/// Label `key` of the first `name` sample of a `/metrics` text (an info metric's, say).
pub fn label_of(text: &str, name: &str, key: &str) -> Option<String> {
    samples(text)
        .find(|s| s.name == name)?
        .label(key)
        .map(str::to_owned)
}

/// Where the series (name and labels) of a sample line ends.
pub(super) fn series_end(line: &str) -> Option<usize> {
    let name_end = line.find(['{', ' '])?;
    if line.as_bytes()[name_end] == b' ' {
        return Some(name_end);
    }
    let mut rest = &line[name_end + 1..];
    let mut at = name_end + 1;
    loop {
        let skip = rest.len() - rest.trim_start_matches([',', ' ']).len();
        (rest, at) = (&rest[skip..], at + skip);
        if rest.starts_with('}') {
            return Some(at + 1);
        }
        let (_, len) = label(rest)?;
        (rest, at) = (&rest[len..], at + len);
    }
}

/// The label at the start of `text` (`key="value"`) and the bytes it takes.
fn label(text: &str) -> Option<((&str, Cow<'_, str>), usize)> {
    let (key, rest) = text.split_once("=\"")?;
    let mut escaped = false;
    let mut has_escapes = false;
    for (i, b) in rest.bytes().enumerate() {
        match (escaped, b) {
            (true, _) => escaped = false,
            (false, b'\\') => (escaped, has_escapes) = (true, true),
            (false, b'"') => {
                let raw = &rest[..i];
                let value = if has_escapes {
                    Cow::Owned(unescape(raw))
                } else {
                    Cow::Borrowed(raw)
                };
                return Some(((key.trim(), value), key.len() + 2 + i + 1));
            }
            _ => {}
        }
    }
    None
}

/// A label value with `\\`, `\"` and `\n` undone.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(escaped) => out.push(escaped),
            None => {}
        }
    }
    out
}

fn sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = series_end(line)?;
    let name_end = line.find(['{', ' '])?;
    let mut labels = Vec::new();
    if line.as_bytes()[name_end] == b'{' {
        let mut rest = &line[name_end + 1..end - 1];
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if rest.is_empty() {
                break;
            }
            let (pair, len) = label(rest)?;
            labels.push(pair);
            rest = &rest[len..];
        }
    }
    // The value, then an optional timestamp and (OpenMetrics) exemplar.
    let value = line[end..].split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: &line[..name_end],
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_escapes_exemplars_and_comments() {
        let text = "# HELP x_total X.\n# TYPE x_total counter\n\
                    x_total{authority=\"a,b=\\\"c\\\"\",tls=\"true\"} 3\n\
                    plain 1.5 1700000000\n\
                    h_bucket{le=\"+Inf\"} 7 # {trace=\"1\"} 1.0\n\
                    broken{a=\"1} 2\n\
                    \n# EOF\n";
        let all: Vec<Sample<'_>> = samples(text).collect();
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[0].name, "x_total");
        assert_eq!(all[0].label("authority"), Some("a,b=\"c\""));
        assert_eq!(all[0].label("tls"), Some("true"));
        assert_eq!(all[0].value, 3.0);
        assert_eq!((all[1].name, all[1].value), ("plain", 1.5));
        assert_eq!(all[1].label("tls"), None);
        assert_eq!(all[2].label("le"), Some("+Inf"));
        assert_eq!(all[2].value, 7.0);
    }
}
