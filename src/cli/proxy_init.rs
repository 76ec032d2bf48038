//! `meshctl proxy-init`: install (or remove) the pod's iptables interception rules.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use meshctl::netinit::{self, Cidr, Family, InitConfig, Mode, PortRange};

#[derive(Debug, clap::Args)]
pub struct ProxyInitArgs {
    /// Port of the proxy's inbound listener: inbound TCP is redirected here
    #[arg(long, default_value_t = 4143, value_name = "PORT", value_parser = port)]
    inbound_port: u16,
    /// Port of the proxy's outbound listener: the app's outbound TCP is redirected here
    #[arg(long, default_value_t = 4140, value_name = "PORT", value_parser = port)]
    outbound_port: u16,
    /// The proxy's uid: its own connections are never redirected
    #[arg(long, default_value_t = 2102, value_name = "UID")]
    proxy_uid: u32,
    /// The proxy's admin port: reaches the proxy directly (probes, metrics)
    #[arg(long, default_value_t = 4191, value_name = "PORT", value_parser = port)]
    admin_port: u16,
    /// Inbound ports that reach the app directly (comma list, ranges as 8000-8100)
    #[arg(long, value_name = "PORTS", value_parser = ports, default_value = "")]
    skip_inbound_ports: Ports,
    /// Outbound ports the app reaches directly (comma list, ranges as 8000-8100)
    #[arg(long, value_name = "PORTS", value_parser = ports, default_value = "")]
    skip_outbound_ports: Ports,
    /// Outbound networks the app reaches directly (comma list of IPv4/IPv6 CIDRs)
    #[arg(long, value_name = "CIDRS", value_parser = cidrs, default_value = "")]
    skip_outbound_cidrs: Cidrs,
    /// iptables backend: auto asks `iptables --version` (nf_tables or legacy)
    #[arg(long, value_enum, default_value_t = Mode::Auto, value_name = "MODE")]
    iptables_mode: Mode,
    /// Print the commands (a shell script) instead of running them
    #[arg(long)]
    dry_run: bool,
    /// Remove meshctl's chains and the jumps to them instead of installing
    #[arg(long)]
    cleanup: bool,
}

// Newtypes so clap parses the whole comma list with one value parser.
#[derive(Debug, Clone)]
struct Ports(Vec<PortRange>);
#[derive(Debug, Clone)]
struct Cidrs(Vec<Cidr>);

fn port(s: &str) -> Result<u16, netinit::ParseError> {
    s.parse::<PortRange>().and_then(|p| {
        if p.first == p.last {
            Ok(p.first)
        } else {
            Err(netinit::ParseError::Port {
                value: s.to_owned(),
                why: "expected one port, not a range".to_owned(),
            })
        }
    })
}

fn ports(s: &str) -> Result<Ports, netinit::ParseError> {
    netinit::parse_list(s).map(Ports)
}

fn cidrs(s: &str) -> Result<Cidrs, netinit::ParseError> {
    netinit::parse_list(s).map(Cidrs)
}

pub fn run(args: ProxyInitArgs) -> anyhow::Result<ExitCode> {
    let config = InitConfig {
        inbound_port: args.inbound_port,
        outbound_port: args.outbound_port,
        admin_port: args.admin_port,
        proxy_uid: args.proxy_uid,
        skip_inbound_ports: args.skip_inbound_ports.0,
        skip_outbound_ports: args.skip_outbound_ports.0,
        skip_outbound_cidrs: args.skip_outbound_cidrs.0,
    };
    let backend = netinit::resolve(args.iptables_mode)?;
    let families: &[Family] = if netinit::ipv6_available() {
        &Family::ALL
    } else {
        tracing::warn!("IPv6 is off in this network namespace: installing IPv4 rules only");
        &[Family::V4]
    };
    let steps = if args.cleanup {
        netinit::cleanup(&config, backend, families)
    } else {
        netinit::install(&config, backend, families)
    };
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        out.write_all(netinit::script(&steps).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    netinit::apply(&steps).context("proxy-init failed")?;
    let done = if args.cleanup {
        "removed meshctl's interception rules"
    } else {
        "installed meshctl's interception rules"
    };
    let names: Vec<String> = families.iter().map(ToString::to_string).collect();
    writeln!(
        out,
        "proxy-init: {done} ({}, iptables {backend})",
        names.join(" + ")
    )?;
    Ok(ExitCode::SUCCESS)
}
