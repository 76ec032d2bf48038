//! `meshctl tap`: live requests of a resource's pods, one line each, from their proxies'
//! `/tap` streams (filters and the rate limit applied in the proxies).

use std::process::ExitCode;

use clap::Args;
use meshctl::k8s::pod_proxy;
use meshctl::stats::{FetchError, Scope};
use meshctl::tap::{FromProxy, TapEvent, TapLine, Target, tap_all};
use serde::Serialize;
use tokio::sync::mpsc;

use super::stat::cluster::{meshed_pods, waiting};
use super::stat::{resource, usage};
use super::{GlobalArgs, TableOrJson, control_plane};

/// What to tap and which requests: shared by `tap` and `top`.
#[derive(Debug, Args)]
pub struct TapTarget {
    /// What to tap: deploy, sts, ds, pod, ns or svc (also as KIND/NAME)
    #[arg(value_name = "KIND", required_unless_present = "proxies")]
    kind: Option<String>,
    /// One resource of that kind (default: every one in the namespace)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// A proxy's admin address (HOST:PORT) to tap instead of a cluster; repeat for several
    #[arg(long = "proxy", value_name = "ADDR", conflicts_with = "kind")]
    proxies: Vec<String>,
    /// Only requests whose path starts with this
    #[arg(long, value_name = "PREFIX")]
    path: Option<String>,
    /// Only requests with this method
    #[arg(long, value_name = "METHOD")]
    method: Option<String>,
    /// Only requests whose authority starts with this
    #[arg(long, value_name = "HOST")]
    authority: Option<String>,
    /// Only inbound or outbound requests
    #[arg(long, value_name = "DIR", value_parser = ["inbound", "outbound"])]
    direction: Option<String>,
    /// Most events per second from each proxy (the proxy skips the rest)
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_rps: u32,
    /// Stop after this many events
    #[arg(long, default_value_t = 1000, value_name = "N")]
    limit: u64,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshctl tap deploy/web -n shop                      every request web's pods serve or send
  meshctl tap deploy/web --path /api --method GET     only GET /api…
  meshctl tap deploy/web --headers user-agent -o json one JSON object a line
  meshctl tap --proxy 127.0.0.1:4191                  a proxy by its admin port, no cluster

Lines show the request's method, authority and path (never the query or body), status, \
latency, the peer's mesh identity, route and backend. Each pod's proxy is read through the \
API server, which needs `get` on `pods/proxy`; the proxy serves /tap only to loopback and its \
operator networks (meshctl.io/admin-operator-from).")]
pub struct TapArgs {
    #[command(flatten)]
    target: TapTarget,
    /// Request headers to show (allowed: user-agent, content-type, content-length, accept,
    /// x-request-id, traceparent)
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    headers: Vec<String>,
    /// Output format: a line of text, or a JSON object, per request
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: TableOrJson,
}

/// The open streams of a tap, merged.
pub(super) struct Opened {
    pub lines: mpsc::Receiver<FromProxy>,
    pub proxies: usize,
    pub limit: u64,
}

impl TapTarget {
    /// The `/tap` query of these filters.
    fn query(&self, headers: &[String]) -> anyhow::Result<String> {
        if !(1..=1000).contains(&self.max_rps) {
            return Err(usage("--max-rps: give 1 to 1000 events a second"));
        }
        if !(1..=100_000).contains(&self.limit) {
            return Err(usage("--limit: give 1 to 100000 events"));
        }
        if let Some(path) = self.path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(usage(format!("--path {path}: a path prefix starts with /")));
        }
        let mut q = form_urlencoded::Serializer::new(String::new());
        let pairs = [
            ("path", self.path.as_deref()),
            ("method", self.method.as_deref()),
            ("authority", self.authority.as_deref()),
            ("direction", self.direction.as_deref()),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                q.append_pair(key, value);
            }
        }
        if !headers.is_empty() {
            q.append_pair("headers", &headers.join(","));
        }
        q.append_pair("max_rps", &self.max_rps.to_string());
        q.append_pair("limit", &self.limit.to_string());
        Ok(format!("/tap?{}", q.finish()))
    }

    /// Opens the taps: on the resource's meshed, running pods, or on `--proxy` addresses.
    pub(super) fn open(
        &self,
        headers: &[String],
        global: &GlobalArgs,
        runtime: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Opened> {
        let query = self.query(headers)?;
        if !self.proxies.is_empty() {
            let targets = (self.proxies.iter())
                .map(|a| Target::Address(a.clone()))
                .collect();
            let lines = runtime.block_on(async { tap_all(None, targets, query) });
            let proxies = self.proxies.len();
            return Ok(Opened {
                lines,
                proxies,
                limit: self.limit,
            });
        }
        let what = resource(self.kind.as_deref().unwrap_or_default(), self.name.clone())?;
        runtime.block_on(async {
            let conn = control_plane::connect(global).await?;
            let scope =
                Scope::Namespace(global.namespace.clone().unwrap_or(conn.namespace.clone()));
            let selected = meshctl::stats::select(&conn, &what, &scope).await?;
            meshed_pods(&what, &scope, &selected)?;
            for pod in waiting(&selected) {
                eprintln!("warning: pod {pod}: not running yet, so it is not tapped");
            }
            let mut targets: Vec<Target> = (selected.iter().flat_map(|s| &s.pods))
                .filter(|p| p.meshed && p.running)
                .map(|p| Target::Pod {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                })
                .collect();
            targets.dedup_by_key(|t| t.label());
            let proxies = targets.len();
            let lines = tap_all(Some(conn.client.clone()), targets, query);
            Ok(Opened {
                lines,
                proxies,
                limit: self.limit,
            })
        })
    }
}

/// How the taps went, said on stderr when they end.
#[derive(Debug, Default)]
pub(super) struct Ending {
    pub events: u64,
    pub skipped: u64,
    pub failed: Vec<(String, FetchError)>,
}

/// How long the streams' last lines are waited for once the limit is reached.
const LAST_LINES: std::time::Duration = std::time::Duration::from_secs(1);

impl Ending {
    /// The next event of `lines`, noting ends and failures on the way; `None` when every
    /// stream has ended, or once the limit was reached and the streams' last lines (what
    /// the proxies skipped) had a moment to come.
    pub async fn next(
        &mut self,
        lines: &mut mpsc::Receiver<FromProxy>,
        limit: u64,
    ) -> Option<(String, Box<TapEvent>)> {
        loop {
            let full = self.events >= limit;
            let (from, line) = if full {
                tokio::time::timeout(LAST_LINES, lines.recv())
                    .await
                    .ok()??
            } else {
                lines.recv().await?
            };
            match line {
                TapLine::Event(e) if !full => {
                    self.events += 1;
                    return Some((from, e));
                }
                TapLine::Event(_) => {}
                TapLine::End(end) => self.skipped += end.skipped,
                TapLine::Failed(e) => self.failed.push((from, e)),
                TapLine::Closed => {
                    let why = FetchError::Request("the stream closed early".to_owned());
                    self.failed.push((from, why));
                }
            }
        }
    }

    /// Says how it went; an error when every proxy failed.
    pub fn finish(self, proxies: usize, command: &str) -> anyhow::Result<ExitCode> {
        let forbidden = |e: &FetchError| matches!(e, FetchError::Status { status: 403, .. });
        let denied: Vec<&(String, FetchError)> =
            self.failed.iter().filter(|(_, e)| forbidden(e)).collect();
        for (from, e) in self.failed.iter().filter(|(_, e)| !forbidden(e)) {
            eprintln!("warning: {from}: {e}");
        }
        if let Some((from, e)) = denied.first() {
            let ns = from.split('/').next().unwrap_or_default();
            let words = match e {
                FetchError::Status { body, .. } => body.as_str(),
                _ => "",
            };
            let message = pod_proxy::denied_message(ns, denied.len(), words, command);
            if self.failed.len() == proxies {
                anyhow::bail!("{message}");
            }
            eprintln!("warning: {message}");
        }
        if self.failed.len() == proxies && proxies > 0 {
            anyhow::bail!("no proxy could be tapped ({proxies} tried); see the warnings above");
        }
        eprintln!(
            "{command}: {} events from {proxies} proxies ({} skipped by the proxies' rate \
             limit or while reading fell behind)",
            self.events, self.skipped
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    proxy: &'a str,
    #[serde(flatten)]
    event: &'a TapEvent,
}

fn text_line(from: &str, e: &TapEvent) -> String {
    let short = |id: &Option<String>| {
        id.as_deref()
            .map_or_else(|| "-".to_owned(), meshctl::stats::edges::short_identity)
    };
    let peer = if e.direction == "inbound" {
        format!("client={}", short(&e.client_id))
    } else {
        format!("server={}", short(&e.server_id))
    };
    let mut line = format!(
        "{:<8} {} {}{} {} {:.1}ms tls={} {peer} proxy={from}",
        e.direction, e.method, e.authority, e.path, e.status, e.latency_ms, e.tls
    );
    for (name, value) in [("route", &e.route), ("backend", &e.backend)] {
        if let Some(value) = value {
            line.push_str(&format!(" {name}={value}"));
        }
    }
    for (name, value) in &e.headers {
        line.push_str(&format!(" {name}={}", value.as_str().unwrap_or_default()));
    }
    line
}

pub fn run(args: TapArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let runtime = control_plane::runtime()?;
    let Opened {
        mut lines,
        proxies,
        limit,
    } = args.target.open(&args.headers, global, &runtime)?;
    let mut ending = Ending::default();
    while let Some((from, event)) = runtime.block_on(ending.next(&mut lines, limit)) {
        match args.output {
            TableOrJson::Json => {
                let line = JsonLine {
                    proxy: &from,
                    event: &event,
                };
                println!("{}", serde_json::to_string(&line)?);
            }
            TableOrJson::Table => println!("{}", text_line(&from, &event)),
        }
    }
    ending.finish(proxies, "tap")
}
