//! The install templates, embedded in the binary at build time, in apply order: CRDs,
//! namespace, RBAC, config, workloads, and the webhook last (it points at the workload).

/// Embeds `templates/<name>` under its name.
macro_rules! template {
    ($name:literal) => {
        ($name, include_str!(concat!("../../templates/", $name)))
    };
}

/// `(name under templates/, source)`, in apply order.
pub const TEMPLATES: &[(&str, &str)] = &[
    template!("crds/gateway.networking.k8s.io_httproutes.yaml"),
    template!("crds/gateway.networking.k8s.io_grpcroutes.yaml"),
    template!("crds/split.smi-spec.io_trafficsplits.yaml"),
    template!("crds/networking.istio.io_virtualservices.yaml"),
    template!("crds/networking.istio.io_destinationrules.yaml"),
    template!("crds/networking.istio.io_envoyfilters.yaml"),
    template!("crds/linkerd.io_serviceprofiles.yaml"),
    template!("crds/security.istio.io_peerauthentications.yaml"),
    template!("crds/security.istio.io_authorizationpolicies.yaml"),
    template!("crds/meshctl.io_canaries.yaml"),
    template!("crds/security.istio.io_requestauthentications.yaml"),
    template!("crds/policy.linkerd.io_servers.yaml"),
    template!("crds/policy.linkerd.io_serverauthorizations.yaml"),
    template!("crds/policy.linkerd.io_authorizationpolicies.yaml"),
    template!("crds/policy.linkerd.io_meshtlsauthentications.yaml"),
    template!("crds/policy.linkerd.io_networkauthentications.yaml"),
    template!("namespace.yaml"),
    template!("rbac.yaml"),
    template!("config.yaml"),
    template!("controller.yaml"),
    template!("webhook.yaml"),
];

/// Whether a template holds CRDs (`--crds` decides whether they are rendered).
pub fn is_crd(name: &str) -> bool {
    name.starts_with("crds/")
}

/// Whether a CRD template is for another product's API (Gateway API, Istio, SMI): meshctl
/// ships a schema for clusters that lack one, but never owns the API (`meshctl.io` it does).
pub fn is_foreign_crd(name: &str) -> bool {
    is_crd(name)
        && crd_group(name).is_some_and(|g| g != OWN_GROUP && !g.ends_with(&format!(".{OWN_GROUP}")))
}

/// The API group of meshctl's own kinds.
pub const OWN_GROUP: &str = "meshctl.io";

/// `<group>` of a `crds/<group>_<plural>.yaml` template.
fn crd_group(name: &str) -> Option<&str> {
    let stem = name.strip_prefix("crds/")?.strip_suffix(".yaml")?;
    Some(stem.split_once('_')?.0)
}

/// The names of the CRDs of other products' APIs (see [`is_foreign_crd`]).
pub fn foreign_crd_names() -> impl Iterator<Item = String> {
    TEMPLATES
        .iter()
        .filter(|(n, _)| is_foreign_crd(n))
        .filter_map(|(n, _)| crd_name(n))
}

/// `<plural>.<group>` of a `crds/<group>_<plural>.yaml` template.
fn crd_name(name: &str) -> Option<String> {
    let stem = name.strip_prefix("crds/")?.strip_suffix(".yaml")?;
    let (group, plural) = stem.split_once('_')?;
    Some(format!("{plural}.{group}"))
}

/// The names of the CRDs the templates hold: `crds/<group>_<plural>.yaml` is
/// `<plural>.<group>` (a test checks the rendered names agree).
pub fn crd_names() -> impl Iterator<Item = String> {
    TEMPLATES
        .iter()
        .filter(|(n, _)| is_crd(n))
        .filter_map(|(n, _)| crd_name(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_api_crds_are_other_products_and_meshctl_io_is_ours() {
        assert!(is_foreign_crd(
            "crds/gateway.networking.k8s.io_httproutes.yaml"
        ));
        assert!(is_foreign_crd("crds/split.smi-spec.io_trafficsplits.yaml"));
        assert!(!is_foreign_crd("crds/meshctl.io_canaries.yaml"));
        assert!(!is_foreign_crd("crds/policy.meshctl.io_things.yaml"));
        assert!(!is_foreign_crd("namespace.yaml"));
        // Every CRD but meshctl's own Canary.
        assert_eq!(foreign_crd_names().count() + 1, crd_names().count());
    }

    /// A template added to the directory but not to the list would silently not ship.
    #[test]
    fn every_template_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk = Vec::new();
        for dir in [root.clone(), root.join("crds")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    on_disk.push(
                        path.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }
}
