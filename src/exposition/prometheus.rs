//! OpenMetrics text (what prometheus-client writes) rewritten as the Prometheus text format
//! 0.0.4: counters' `HELP`/`TYPE` name their `_total` samples, `info` becomes a `gauge` of
//! `_info`, `unknown` is `untyped`, `UNIT`, `EOF` and exemplars go, and integral bucket
//! bounds print as integers (`le="100"`, what Linkerd's dashboards query).

use std::fmt::Write;

/// The 0.0.4 name and type of an OpenMetrics family.
fn family(name: &str, kind: &str) -> (String, &'static str) {
    match kind {
        "counter" => (format!("{name}_total"), "counter"),
        "info" => (format!("{name}_info"), "gauge"),
        "gauge" => (name.to_owned(), "gauge"),
        "histogram" => (name.to_owned(), "histogram"),
        "summary" => (name.to_owned(), "summary"),
        _ => (name.to_owned(), "untyped"),
    }
}

/// A bucket bound as 0.0.4 readers expect it: `100` for `100.0`, others unchanged.
fn bound(le: &str) -> std::borrow::Cow<'_, str> {
    match le.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => {
            std::borrow::Cow::Owned(format!("{}", v as i64))
        }
        _ => std::borrow::Cow::Borrowed(le),
    }
}

/// One sample line without its exemplar, with its `le` label (written first by
/// prometheus-client) as an integer when integral.
fn sample(out: &mut String, line: &str) {
    let line = match super::parse::series_end(line) {
        // An exemplar follows the value after ` # `.
        Some(end) => match line[end..].find(" # ") {
            Some(at) => &line[..end + at],
            None => line,
        },
        None => line,
    };
    if let Some(at) = line.find("_bucket{le=\"") {
        let start = at + "_bucket{le=\"".len();
        if let Some(len) = line[start..].find('"') {
            let le = &line[start..start + len];
            out.push_str(&line[..start]);
            out.push_str(&bound(le));
            out.push_str(&line[start + len..]);
            out.push('\n');
            return;
        }
    }
    out.push_str(line);
    out.push('\n');
}

/// `text` (OpenMetrics, as prometheus-client writes it) in the Prometheus text format 0.0.4.
pub fn from_openmetrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // prometheus-client writes `HELP` right before `TYPE`; it is printed with the type's name.
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ').or(Some((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name_004, kind_004) = family(name, kind);
            if let Some((_, text)) = help.take().filter(|(n, _)| *n == name) {
                // 0.0.4 escapes only `\\` and `\n` in help text.
                let _ = writeln!(out, "# HELP {name_004} {}", text.replace("\\\"", "\""));
            }
            let _ = writeln!(out, "# TYPE {name_004} {kind_004}");
        } else if line.starts_with('#') || line.is_empty() {
            // `# UNIT`, `# EOF`: OpenMetrics only.
        } else {
            sample(&mut out, line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::exemplar::CounterWithExemplar;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::metrics::info::Info;
    use prometheus_client::registry::{Registry, Unit};

    #[test]
    fn openmetrics_families_become_prometheus_0_0_4() {
        let mut r = Registry::default();
        let c = Counter::<u64>::default();
        c.inc();
        r.register("request", "Requests \"received\"", c);
        r.register("build", "The version", Info::new(vec![("version", "1.2")]));
        let h = Histogram::new([0.5, 1.0, 100.0]);
        h.observe(3.0);
        r.register_with_unit("latency", "Latency", Unit::Seconds, h);
        let e = CounterWithExemplar::<Vec<(String, String)>>::default();
        e.inc_by(2, Some(vec![("trace".to_owned(), "abc".to_owned())]), None);
        r.register("traced", "With an exemplar", e);
        let mut open = String::new();
        prometheus_client::encoding::text::encode(&mut open, &r).unwrap();
        let text = from_openmetrics(&open);
        let want = "# HELP request_total Requests \"received\".\n\
                    # TYPE request_total counter\n\
                    request_total 1\n\
                    # HELP build_info The version.\n\
                    # TYPE build_info gauge\n\
                    build_info{version=\"1.2\"} 1\n\
                    # HELP latency_seconds Latency.\n\
                    # TYPE latency_seconds histogram\n\
                    latency_seconds_sum 3.0\n\
                    latency_seconds_count 1\n\
                    latency_seconds_bucket{le=\"0.5\"} 0\n\
                    latency_seconds_bucket{le=\"1\"} 0\n\
                    latency_seconds_bucket{le=\"100\"} 1\n\
                    latency_seconds_bucket{le=\"+Inf\"} 1\n\
                    # HELP traced_total With an exemplar.\n\
                    # TYPE traced_total counter\n\
                    traced_total 2\n";
        assert_eq!(text, want, "from\n{open}");
    }
}
