//! The `mesh-config` check: the cluster's objects, read as the controller reads them and
//! translated as it translates them; what the mesh cannot enforce as written (a STRICT
//! namespace whose pods receive traffic without a proxy, a field not implemented) is named.

use std::time::Duration;

use super::Outcome;
use crate::controller::source::read_once;
use crate::install::read_state;
use crate::k8s::Connection;
use crate::translate::{Options, translate};

/// How many findings the check's line names (`meshctl analyze` lists them all).
const NAMED: usize = 3;
/// How long listing the cluster may take (within the check's own timeout).
const LIST_WITHIN: Duration = Duration::from_secs(20);

pub async fn findings(conn: &Connection, mesh_ns: &str) -> Outcome {
    let trust_domain = match read_state(conn, mesh_ns).await {
        Ok(state) => state.values.map(|v| v.identity.trust_domain),
        Err(e) => return Outcome::error(e.to_string()),
    };
    let inputs = match read_once(&conn.client, LIST_WITHIN).await {
        Ok(inputs) => inputs,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let mut options = Options::default();
    if let Some(domain) = trust_domain {
        options.trust_domain = domain;
    }
    let findings = translate(&inputs, &options).findings;
    if findings.is_empty() {
        return Outcome::ok(format!(
            "{} config object(s) translate as written",
            inputs.objects.len()
        ));
    }
    let named: Vec<String> = findings.iter().take(NAMED).map(|f| f.to_string()).collect();
    let more = findings.len().saturating_sub(NAMED);
    let rest = if more > 0 {
        format!("; {more} more")
    } else {
        String::new()
    };
    Outcome::warning(format!(
        "{} finding(s): {}{rest}",
        findings.len(),
        named.join("; ")
    ))
}
