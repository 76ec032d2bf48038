//! `meshctl demo`: a real mesh on loopback (controller, proxies with mTLS, a canary split,
//! load) and the dashboard, until Ctrl-C.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use meshctl::demo::manifests::{CLIENT, ROUTING_FILE, WEB_V1, WEB_V2};
use meshctl::demo::{Demo, Info, Options};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    meshctl demo                      # objects in a temporary directory, dashboard on :8080\n  \
    meshctl demo --dir demo/          # writes the objects into demo/ (if empty) to edit them\n  \
    meshctl demo --port 9000")]
pub struct DemoArgs {
    /// Directory of the demo's Kubernetes objects: written there when empty or missing, else
    /// used as it is (edit it while the demo runs)
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The dashboard's port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 8080, value_name = "PORT")]
    port: u16,
    /// Requests per second the client sends to web
    #[arg(long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    rps: u32,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot install a signal handler")?;
    let mut term = signal(SignalKind::terminate()).context("cannot install a signal handler")?;
    let dashboard_addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let dashboard = tokio::net::TcpListener::bind(dashboard_addr)
        .await
        .with_context(|| {
            format!("cannot listen on {dashboard_addr} for the dashboard; pick another --port")
        })?;
    let dashboard_addr = dashboard.local_addr().unwrap_or(dashboard_addr);
    eprintln!("Starting the demo: controller, 3 proxies, apps…");
    let options = Options {
        dir: args.dir,
        rps: args.rps,
    };
    let mut demo = tokio::select! {
        started = Demo::start(options) => started?,
        _ = int.recv() => return Ok(ExitCode::SUCCESS),
    };
    let targets = demo
        .info
        .workloads
        .iter()
        .map(|r| meshctl::dashboard::Target {
            name: r.workload.name.to_owned(),
            admin: r.admin.to_string(),
        })
        .collect();
    let server = tokio::spawn(meshctl::dashboard::serve(
        dashboard,
        meshctl::dashboard::Collector::new(targets),
    ));
    print!("{}", describe(&demo.info, dashboard_addr));

    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    ticker.tick().await;
    demo.seen.take();
    let outcome = loop {
        tokio::select! {
            _ = int.recv() => break Ok(()),
            _ = term.recv() => break Ok(()),
            _ = ticker.tick() => {
                if let Some(why) = demo.exited() {
                    // Ctrl-C reaches the whole process group: the children may stop first.
                    let stopping = tokio::time::timeout(Duration::from_millis(500), int.recv());
                    break match stopping.await {
                        Ok(_) => Ok(()),
                        Err(_) => Err(anyhow::anyhow!("{why}")),
                    };
                }
                println!("{}", seen_line(&demo.seen.take()));
            }
        }
    };
    eprintln!(
        "Stopping: proxies, controller, apps; removing {}",
        demo.info.state.display()
    );
    server.abort();
    demo.stop().await;
    outcome.map(|()| ExitCode::SUCCESS)
}

/// One line per 5 s: what the client got back.
fn seen_line(counts: &std::collections::BTreeMap<String, u64>) -> String {
    let total: u64 = counts.values().sum();
    let mut line = format!("client: {total} answers in 5 s:");
    for (what, n) in counts {
        let share = if total == 0 {
            0.0
        } else {
            100.0 * *n as f64 / total as f64
        };
        let _ = write!(line, "  {what:?} {n} ({share:.0}%)");
    }
    line
}

fn describe(info: &Info, dashboard: SocketAddr) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nmeshctl demo: a mesh on loopback, ready in {:.1} s (no root, no cluster)\n",
        info.started_in.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  controller  grpc {}  admin {}  (meshctl controller --from-dir {})",
        info.controller_grpc,
        info.controller_admin,
        info.objects.display()
    );
    for r in &info.workloads {
        let role = match &r.app {
            Some(app) => format!("inbound {} -> app {app}", r.inbound),
            None => format!("outbound {}", r.outbound),
        };
        let _ = writeln!(
            out,
            "  {:<10}  admin {}  {role}  {}",
            r.workload.name, r.admin, r.identity
        );
    }
    let _ = writeln!(
        out,
        "  load        {} requests/s from client to http://{}/ through its proxy\n",
        info.rps, info.host
    );
    let _ = writeln!(out, "Dashboard: http://{dashboard}/\n");
    let admin = |w| {
        info.workload(w)
            .map_or_else(String::new, |r| r.admin.to_string())
    };
    let routing = info.objects.join(ROUTING_FILE);
    let _ = writeln!(out, "Try:");
    let _ = writeln!(
        out,
        "  meshctl stat --proxy {} --window 10s -o wide      # the client's view, per backend (v1 ~90 %, v2 ~10 %)",
        admin(CLIENT)
    );
    let _ = writeln!(
        out,
        "  meshctl stat --proxy {} --proxy {}       # web's two versions, merged",
        admin(WEB_V1),
        admin(WEB_V2)
    );
    let _ = writeln!(
        out,
        "  curl -s http://{}/metrics | grep 'tls=\"true\"'  # every request between proxies is mTLS",
        admin(WEB_V1)
    );
    let _ = writeln!(
        out,
        "  $EDITOR {}   # change the weights (e.g. 50/50) and save: the split moves within a second",
        routing.display()
    );
    let _ = writeln!(
        out,
        "  meshctl analyze -f {}   # what the mesh makes of the objects, and what it cannot enforce yet",
        info.objects.display()
    );
    let _ = writeln!(
        out,
        "\nLogs: {}   Ctrl-C stops everything{}.\n",
        info.logs.display(),
        if info.temporary_objects {
            " and removes the temporary files"
        } else {
            " (the files in --dir stay)"
        }
    );
    out
}
