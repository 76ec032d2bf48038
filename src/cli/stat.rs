//! `meshctl stat --proxy ADDR…`: golden signals read straight from proxies' admin ports,
//! merged exactly (local mode, for static-mode proxies).

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use comfy_table::Table;
use meshctl::model::duration::Duration;
use meshctl::stats::{FetchOptions, Merged, RowKey, Signals, fetch_all};
use serde_json::json;

#[derive(Debug, Args)]
pub struct StatArgs {
    /// A proxy's admin address (HOST:PORT, e.g. 127.0.0.1:4191); repeat for several proxies
    #[arg(long = "proxy", value_name = "ADDR", required = true)]
    proxies: Vec<String>,
    /// How far back to look (10s to 10m)
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    window: Duration,
    /// Give up on a proxy that has not answered after this long
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    timeout: Duration,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: super::TableOrJson,
}

/// Proxies asked at once.
const CONCURRENCY: usize = 16;

pub fn run(args: StatArgs) -> anyhow::Result<ExitCode> {
    let window = args.window.get();
    if !(10..=600).contains(&window.as_secs()) {
        return Err(super::UsageError(format!(
            "--window {:?} is out of range: allowed 10s to 10m",
            window
        ))
        .into());
    }
    let options = FetchOptions {
        window,
        concurrency: CONCURRENCY,
        timeout: args.timeout.get(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(fetch_all(&args.proxies, options));
    let mut answers = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for (proxy, result) in args.proxies.iter().zip(results) {
        match result {
            Ok(answer) => answers.push(answer),
            Err(e) => failed.push((proxy, e.to_string())),
        }
    }
    for (proxy, error) in &failed {
        eprintln!("warning: proxy {proxy}: {error}; its figures are left out");
    }
    let Some(merged) = Merged::from_answers(&answers)? else {
        bail!(
            "no proxy answered ({} asked); check the addresses are admin ports (4191) of \
             running proxies",
            args.proxies.len()
        );
    };
    let meshed = format!("{}/{}", answers.len(), args.proxies.len());
    let mut out = std::io::stdout().lock();
    match args.output {
        super::TableOrJson::Table => writeln!(out, "{}", table(&merged, &meshed))?,
        super::TableOrJson::Json => {
            let rows: Vec<_> = merged.signals().map(|(k, s)| row_json(k, &s)).collect();
            let failed: Vec<_> = failed
                .iter()
                .map(|(proxy, error)| json!({"proxy": proxy, "error": error}))
                .collect();
            let value = json!({
                "windowSeconds": window.as_secs(),
                "proxies": {"asked": args.proxies.len(), "answered": answers.len(), "failed": failed},
                "rows": rows,
            });
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
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

fn table(merged: &Merged, meshed: &str) -> Table {
    let mut table = super::stdout_table();
    table.set_header([
        "NAME",
        "MESHED",
        "SUCCESS",
        "RPS",
        "LATENCY_P50",
        "LATENCY_P95",
        "LATENCY_P99",
        "TCP_CONN",
    ]);
    for (key, s) in merged.signals() {
        table.add_row([
            name(key),
            meshed.to_owned(),
            s.success_rate
                .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0)),
            format!("{:.1}", s.rps),
            millis(s.latency_p50_ms),
            millis(s.latency_p95_ms),
            millis(s.latency_p99_ms),
            s.tcp_connections_opened.to_string(),
        ]);
    }
    table
}

fn row_json(key: &RowKey, s: &Signals) -> serde_json::Value {
    json!({
        "direction": key.direction,
        "authority": key.authority,
        "route": key.route,
        "backend": key.backend,
        "requests": s.requests,
        "failures": s.failures,
        "successRate": s.success_rate,
        "rps": s.rps,
        "latencyP50Ms": s.latency_p50_ms,
        "latencyP95Ms": s.latency_p95_ms,
        "latencyP99Ms": s.latency_p99_ms,
        "tcpConnectionsOpened": s.tcp_connections_opened,
    })
}
