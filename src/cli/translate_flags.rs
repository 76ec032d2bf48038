//! The translation settings of the commands that translate like the controller (`analyze`,
//! `proxy-config`): the same defaults as the controller's, so the results are its own.

use meshctl::translate::Options;

#[derive(Debug, clap::Args)]
pub struct TranslateFlags {
    /// DNS suffix of Services
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// SPIFFE trust domain of the mesh
    #[arg(long, value_name = "DOMAIN", default_value = meshctl::identity::DEFAULT_TRUST_DOMAIN)]
    trust_domain: String,
    /// The mesh's namespace (its policies are mesh-wide), as the controller is run with
    #[arg(long, value_name = "NS", default_value = meshctl::mesh_namespace::DEFAULT)]
    mesh_namespace: String,
}

impl TranslateFlags {
    pub fn options(&self) -> Options {
        Options {
            cluster_domain: self.cluster_domain.clone(),
            trust_domain: self.trust_domain.clone(),
            mesh_namespace: self.mesh_namespace.clone(),
        }
    }
}
