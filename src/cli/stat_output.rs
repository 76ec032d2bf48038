//! What `meshctl stat` prints: tables (NAME, MESHED, SUCCESS, RPS, latency percentiles,
//! TCP_CONN; wide adds bytes/s in and out, retries, timeouts, ejections) and JSON documents,
//! in cluster and local mode.

use comfy_table::Table;
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

pub fn cluster_table(stats: &ClusterStats, all_namespaces: bool, wide: bool) -> Table {
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
    table
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

pub fn table(merged: &Merged, meshed: &str, wide: bool) -> Table {
    let mut table = super::stdout_table();
    table.set_header(header(&["NAME"], wide));
    for (key, s) in merged.signals() {
        let mut cells = vec![name(key), meshed.to_owned()];
        cells.extend(signal_cells(Some(&s), wide));
        table.add_row(cells);
    }
    table
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
    use super::rate;

    #[test]
    fn rates_read_in_decimal_units() {
        assert_eq!(rate(0.0), "0B/s");
        assert_eq!(rate(999.4), "999B/s");
        assert_eq!(rate(1_500.0), "1.5kB/s");
        assert_eq!(rate(2_340_000.0), "2.3MB/s");
        assert_eq!(rate(7e12), "7000.0GB/s");
    }
}
