//! Transparent interception for the sidecar (`meshctl proxy-init`): the nat-table rule
//! model, its rendering for iptables-restore and the shell, backend detection, applying.

mod backend;
mod config;
mod error;
mod plan;
mod rules;
mod run;

pub use backend::{Backend, Mode, parse_version, resolve};
pub use config::{Cidr, InitConfig, PortRange, parse_list};
pub use error::{NetinitError, ParseError};
pub use plan::{Step, cleanup, install, script};
pub use rules::{CHAINS, Family, Rule, RuleSet, rule_set};
pub use run::{apply, ipv6_available};
