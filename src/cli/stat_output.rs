//! What `meshctl stat` prints: tables (NAME, MESHED, SUCCESS, RPS, latency percentiles,
//! TCP_CONN; wide adds bytes/s in and out, retries, timeouts, ejections) and JSON documents,
//! in cluster and local mode; and `meshctl routes`' per-route table.

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};
use meshctl::stats::routes::RouteRow;
use meshctl::stats::{ClusterStats, Merged, RowKey, Signals};
use serde_json::json;

/// The columns every table starts with after its name columns.
const SIGNAL_COLUMNS: [&str; 7] = [
    "MESHED",
    "SUCCESS",
    "RPS",
    "LATENCY_P50",
    "LATENCY_P95",
    "LATENCY_P99",
    "TCP_CONN",
];

/// The columns `-o wide` adds.
const WIDE_COLUMNS: [&str; 5] = ["BYTES_IN", "BYTES_OUT", "RETRIES", "TIMEOUTS", "EJECTED"];

fn header<'a>(names: &[&'a str], wide: bool) -> Vec<&'a str> {
    let mut header = names.to_vec();
    header.extend(SIGNAL_COLUMNS);
    if wide {
        header.extend(WIDE_COLUMNS);
    }
    header
}

pub fn cluster_table(stats: &ClusterStats, all_namespaces: bool, wide: bool) -> String {
    let mut table = super::stdout_table();
    let names: &[&str] = if all_namespaces {
        &["NAMESPACE", "NAME"]
    } else {
        &["NAME"]
    };
    table.set_header(header(names, wide));
    for row in &stats.rows {
        let mut cells = Vec::new();
        if all_namespaces {
            cells.push(row.selected.namespace.clone());
        }
        cells.push(row.selected.name.clone());
        cells.push(format!("{}/{}", row.answered, row.selected.pods.len()));
        cells.extend(signal_cells(row.signals.as_ref(), wide));
        table.add_row(cells);
    }
    fitted(table, names.len())
}

pub fn cluster_json(stats: &ClusterStats) -> serde_json::Value {
    let rows: Vec<_> = stats
        .rows
        .iter()
        .map(|row| {
            let s = &row.selected;
            let mut value = json!({
                "kind": s.kind.short(),
                "namespace": s.namespace,
                "name": s.name,
                "pods": s.pods.len(),
                "meshedPods": s.pods.iter().filter(|p| p.meshed).count(),
                "answered": row.answered,
            });
            if let Some(signals) = &row.signals {
                merge_json(&mut value, signals_json(signals));
            }
            value
        })
        .collect();
    let unreachable: Vec<_> = stats
        .unreachable
        .iter()
        .map(|u| {
            let pod = format!("{}/{}", u.namespace, u.pod);
            json!({"pod": pod, "error": u.error.to_string()})
        })
        .collect();
    json!({
        "windowSeconds": stats.window_seconds,
        "rows": rows,
        "unreachable": unreachable,
    })
}

fn merge_json(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

fn name(key: &RowKey) -> String {
    let mut name = format!("{} {}", key.direction, key.authority);
    for part in [&key.route, &key.backend].into_iter().flatten() {
        name.push_str(" / ");
        name.push_str(part);
    }
    name
}

fn millis(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}ms"))
}

/// The cells after MESHED: `-` where nothing was seen.
fn signal_cells(s: Option<&Signals>, wide: bool) -> Vec<String> {
    let extra = if wide { WIDE_COLUMNS.len() } else { 0 };
    let Some(s) = s else {
        return vec!["-".to_owned(); SIGNAL_COLUMNS.len() - 1 + extra];
    };
    let mut cells = vec![
        s.success_rate
            .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0)),
        format!("{:.1}", s.rps),
        millis(s.latency_p50_ms),
        millis(s.latency_p95_ms),
        millis(s.latency_p99_ms),
        s.tcp_connections_opened.to_string(),
    ];
    if wide {
        cells.extend([s.received_bytes_per_second, s.sent_bytes_per_second].map(rate));
        cells.extend([s.retries, s.timeouts, s.ejections].map(|n| n.to_string()));
    }
    cells
}

/// Bytes per second in decimal units, as `kubectl top` and load generators print them.
fn rate(bytes_per_second: f64) -> String {
    const UNITS: [&str; 4] = ["B/s", "kB/s", "MB/s", "GB/s"];
    let mut value = bytes_per_second;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0}{}", UNITS[0])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

pub fn table(merged: &Merged, meshed: &str, wide: bool) -> String {
    fitted(local_table(merged, meshed, wide), 1)
}

fn local_table(merged: &Merged, meshed: &str, wide: bool) -> Table {
    let mut table = super::stdout_table();
    table.set_header(header(&["NAME"], wide));
    for (key, s) in merged.signals() {
        let mut cells = vec![name(key), meshed.to_owned()];
        cells.extend(signal_cells(Some(&s), wide));
        table.add_row(cells);
    }
    table
}

/// The narrowest a name column is squeezed to before the table is printed plain instead.
const NAME_MIN: u16 = 16;

/// The table as text. On a terminal the figures and headers keep their width and only the
/// first `names` columns wrap; a table that still does not fit the terminal is printed plain
/// (no borders, nothing wrapped: the terminal folds the lines, as with kubectl -o wide) rather
/// than with every header and figure split over several lines.
fn fitted(mut table: Table, names: usize) -> String {
    let widths = table.column_max_content_widths();
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_constraint(if i < names {
            ColumnConstraint::LowerBoundary(Width::Fixed(widths[i].min(NAME_MIN)))
        } else {
            ColumnConstraint::ContentWidth
        });
    }
    let text = table.to_string();
    let Some(width) = table.width() else {
        return text;
    };
    if text
        .lines()
        .all(|l| l.chars().count() <= usize::from(width))
    {
        return text;
    }
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    table.to_string()
}

fn signals_json(s: &Signals) -> serde_json::Value {
    json!({
        "requests": s.requests,
        "failures": s.failures,
        "successRate": s.success_rate,
        "rps": s.rps,
        "latencyP50Ms": s.latency_p50_ms,
        "latencyP95Ms": s.latency_p95_ms,
        "latencyP99Ms": s.latency_p99_ms,
        "tcpConnectionsOpened": s.tcp_connections_opened,
        "retries": s.retries,
        "timeouts": s.timeouts,
        "ejections": s.ejections,
        "receivedBytes": s.received_bytes,
        "sentBytes": s.sent_bytes,
        "receivedBytesPerSecond": s.received_bytes_per_second,
        "sentBytesPerSecond": s.sent_bytes_per_second,
    })
}

/// `meshctl routes`: ROUTE, AUTHORITY and the request figures (no connection count: a
/// route's rows count requests).
pub fn routes_table(rows: &[RouteRow]) -> String {
    let mut table = super::stdout_table();
    let mut header = vec!["ROUTE", "AUTHORITY"];
    header.extend(&SIGNAL_COLUMNS[1..SIGNAL_COLUMNS.len() - 1]);
    table.set_header(header);
    for row in rows {
        let mut cells = vec![row.route.clone(), row.authorities.join(",")];
        let mut figures = signal_cells(Some(&row.signals), false);
        figures.pop();
        cells.extend(figures);
        table.add_row(cells);
    }
    fitted(table, 2)
}

pub fn route_json(row: &RouteRow) -> serde_json::Value {
    let mut value = json!({"route": row.route, "authorities": row.authorities});
    merge_json(&mut value, signals_json(&row.signals));
    value
}

pub fn row_json(key: &RowKey, s: &Signals) -> serde_json::Value {
    let mut value = json!({
        "direction": key.direction,
        "authority": key.authority,
        "route": key.route,
        "backend": key.backend,
    });
    merge_json(&mut value, signals_json(s));
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshctl::stats::StatsAnswer;

    /// A local table of two rows (one with a long name) on a terminal `width` columns wide.
    fn on_terminal(width: u16, wide: bool) -> String {
        let answer: StatsAnswer = serde_json::from_value(json!({
            "windowSeconds": 60, "latencyBucketsMs": [10.0, 100.0],
            "rows": [
                {"direction": "inbound", "authority": "app", "requests": 60, "failures": 0,
                 "latencyBuckets": [60, 0, 0]},
                {"direction": "outbound", "authority": "web.shop.svc.cluster.local:8080",
                 "route": "default", "backend": "web-v2/web-v2", "requests": 120,
                 "failures": 3, "latencyBuckets": [100, 20, 0]},
            ],
        }))
        .unwrap();
        let merged = Merged::from_answers([&answer]).unwrap().unwrap();
        let mut table = local_table(&merged, "1/1", wide);
        table.load_style(presets::UTF8_FULL).set_width(width);
        fitted(table, 1)
    }

    /// The header's cells, whatever the borders.
    fn header_of(text: &str) -> Vec<String> {
        let first = text.lines().find(|l| l.contains("NAME")).expect("a header");
        first
            .split(|c: char| c.is_whitespace() || "│┆".contains(c))
            .filter(|cell| !cell.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_narrow_terminal_wraps_names_but_never_figures_or_headers() {
        // Room for the figures: borders kept, only the long name wraps.
        let text = on_terminal(120, false);
        assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
        assert!(text.contains('│'), "{text}");
        assert_eq!(header_of(&text)[1..], SIGNAL_COLUMNS, "{text}");
        for figure in ["97.50%", "2.0", "LATENCY_P99"] {
            assert!(text.contains(figure), "{figure}: {text}");
        }
        // -o wide in 80 columns cannot fit: one plain line per row, every cell whole.
        let text = on_terminal(80, true);
        assert!(!text.contains('│'), "{text}");
        let mut expected = vec!["NAME"];
        expected.extend(SIGNAL_COLUMNS.into_iter().chain(WIDE_COLUMNS));
        assert_eq!(header_of(&text), expected, "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
        let long = "outbound web.shop.svc.cluster.local:8080 / default / web-v2/web-v2";
        assert!(text.contains(long), "{text}");
        // A terminal wide enough for everything: the bordered table, nothing wrapped.
        let text = on_terminal(250, true);
        assert!(text.contains('│') && text.contains(long), "{text}");
    }

    #[test]
    fn rates_read_in_decimal_units() {
        assert_eq!(rate(0.0), "0B/s");
        assert_eq!(rate(999.4), "999B/s");
        assert_eq!(rate(1_500.0), "1.5kB/s");
        assert_eq!(rate(2_340_000.0), "2.3MB/s");
        assert_eq!(rate(7e12), "7000.0GB/s");
    }
}
