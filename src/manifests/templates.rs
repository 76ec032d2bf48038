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
    template!("crds/split.smi-spec.io_trafficsplits.yaml"),
    template!("crds/networking.istio.io_virtualservices.yaml"),
    template!("crds/networking.istio.io_destinationrules.yaml"),
    template!("crds/security.istio.io_peerauthentications.yaml"),
    template!("crds/security.istio.io_authorizationpolicies.yaml"),
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

/// The names of the CRDs the templates hold: `crds/<group>_<plural>.yaml` is
/// `<plural>.<group>` (a test checks the rendered names agree).
pub fn crd_names() -> impl Iterator<Item = String> {
    TEMPLATES
        .iter()
        .filter(|(n, _)| is_crd(n))
        .filter_map(|(n, _)| {
            let stem = n.strip_prefix("crds/")?.strip_suffix(".yaml")?;
            let (group, plural) = stem.split_once('_')?;
            Some(format!("{plural}.{group}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
