//! The mesh namespace (where `install -n NS` puts the control plane; `meshctl-system` unless
//! told) and the names proxies derive from it: the controller's address and the CA's
//! identity. The one place these names are spelled.

/// The namespace `install` uses without `-n`.
pub const DEFAULT: &str = "meshctl-system";
/// The controller's Service and service account (its SPIFFE id is the CA's identity).
pub const CONTROLLER: &str = "meshctl-controller";
/// The controller's discovery and identity port.
pub const CONTROLLER_PORT: u16 = 8086;

/// The controller's address as proxies in any namespace dial it.
pub fn controller_addr(namespace: &str) -> String {
    format!("{CONTROLLER}.{namespace}.svc:{CONTROLLER_PORT}")
}

/// The mesh namespace an address of the controller names (`meshctl-controller.NS.svc[...]:port`),
/// or `None` for another address (a static CA on `127.0.0.1:8443`).
pub fn of_controller_addr(addr: &str) -> Option<&str> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let mut labels = host.split('.');
    let (service, namespace, svc) = (labels.next()?, labels.next()?, labels.next()?);
    (service == CONTROLLER && svc == "svc" && !namespace.is_empty()).then_some(namespace)
}

/// Checks a namespace name (an RFC 1123 label) given on the command line or an annotation.
pub fn validate(namespace: &str) -> Result<(), String> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{namespace:?} is not a namespace name: lowercase letters, digits and '-', at most \
             63, e.g. {DEFAULT}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controller_address_names_its_namespace_and_back() {
        let addr = controller_addr("mesh-x");
        assert_eq!(addr, "meshctl-controller.mesh-x.svc:8086");
        assert_eq!(of_controller_addr(&addr), Some("mesh-x"));
        assert_eq!(
            of_controller_addr("meshctl-controller.a.svc.cluster.local:8086"),
            Some("a")
        );
        for other in [
            "127.0.0.1:8443",
            "ca.a.svc:1",
            "meshctl-controller:8086",
            "x",
        ] {
            assert_eq!(of_controller_addr(other), None, "{other}");
        }
    }

    #[test]
    fn namespace_names_are_dns_labels() {
        assert!(validate("meshctl-system").is_ok());
        for bad in ["", "Mesh", "a.b", "-a", &"a".repeat(64)] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
