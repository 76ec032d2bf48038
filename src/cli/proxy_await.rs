//! `meshctl proxy-await`: block until the local proxy is ready (the classic sidecar's
//! postStart hook, so the app starts only once its traffic can flow).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Args;
use meshctl::model::duration::Duration;

#[derive(Debug, Args)]
pub struct ProxyAwaitArgs {
    /// The proxy's admin port on 127.0.0.1
    #[arg(long, default_value_t = 4191, value_name = "PORT")]
    pub admin_port: u16,
    /// Give up (and fail) after this long
    #[arg(long, default_value = "120s", value_name = "DURATION")]
    pub timeout: Duration,
}

pub fn run(args: ProxyAwaitArgs) -> anyhow::Result<ExitCode> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.admin_port));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(meshctl::readiness::wait_ready(addr, args.timeout.get()))?;
    Ok(ExitCode::SUCCESS)
}
