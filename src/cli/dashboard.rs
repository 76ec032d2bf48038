//! `meshctl dashboard`: the topology and golden signals of proxies named by admin address,
//! as a web page on 127.0.0.1 (`meshctl demo` serves the same page for its proxies).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use meshctl::dashboard::{Collector, Target};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    meshctl dashboard --proxy web=127.0.0.1:4191 --proxy client=127.0.0.1:5191\n  \
    meshctl dashboard --proxy 10.0.0.7:4191 --port 9000")]
pub struct DashboardArgs {
    /// A proxy's admin address, HOST:PORT, optionally named: NAME=HOST:PORT (the name shown;
    /// default the address). Repeat for each proxy
    #[arg(long = "proxy", value_name = "[NAME=]ADDR", required = true, value_parser = target)]
    proxies: Vec<Target>,
    /// The page's port on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 50750, value_name = "PORT")]
    port: u16,
}

fn target(s: &str) -> Result<Target, String> {
    let (name, admin) = match s.split_once('=') {
        Some((name, admin)) if !name.is_empty() => (name.to_owned(), admin.to_owned()),
        _ => (s.to_owned(), s.to_owned()),
    };
    match admin.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(Target { name, admin })
        }
        _ => Err(format!(
            "{s:?}: expected a proxy's admin address HOST:PORT, optionally NAME=HOST:PORT \
             (e.g. web=127.0.0.1:4191)"
        )),
    }
}

pub fn run(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = args.proxies.iter().find(|t| !seen.insert(t.name.clone())) {
        return Err(super::UsageError(format!(
            "--proxy name {:?} is given twice: name each proxy once",
            twice.name
        ))
        .into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}; pick another --port"))?;
        let addr = listener.local_addr().unwrap_or(addr);
        println!(
            "Dashboard: http://{addr}/ ({} proxies; Ctrl-C stops it)",
            args.proxies.len()
        );
        tokio::select! {
            () = meshctl::dashboard::serve(listener, Collector::new(args.proxies)) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
