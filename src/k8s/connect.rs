//! Building a client from a kubeconfig and context, keeping the server and context names so
//! every error can say which cluster it was talking to.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where to connect: the kubectl-style `--kubeconfig` and `--context` flags.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error(
        "cannot load the kubeconfig {source_name}: {reason}; pass --kubeconfig FILE or set \
         KUBECONFIG"
    )]
    Kubeconfig { source_name: String, reason: String },
    #[error("the kubeconfig {source_name} has no context `{context}` (it has: {available})")]
    NoContext {
        source_name: String,
        context: String,
        available: String,
    },
    #[error(
        "the kubeconfig {source_name} names no current context; pass --context (it has: \
         {available})"
    )]
    NoCurrentContext {
        source_name: String,
        available: String,
    },
    #[error("cannot use context `{context}` of the kubeconfig {source_name}: {reason}")]
    Config {
        source_name: String,
        context: String,
        reason: String,
    },
    #[error(
        "cannot reach the Kubernetes API server {server} (context `{context}`): {reason}; check \
         that the cluster is running and that --kubeconfig/--context point at it"
    )]
    Unreachable {
        server: String,
        context: String,
        reason: String,
    },
    #[error("{action} {object} on {server} (context `{context}`) failed: {reason}")]
    Request {
        action: String,
        object: String,
        server: String,
        context: String,
        reason: String,
    },
    #[error(
        "{object} on {server} (context `{context}`) was not {condition} after {seconds}s; \
         look at it with `kubectl describe`, or skip waiting with --wait=false"
    )]
    Timeout {
        object: String,
        condition: String,
        server: String,
        context: String,
        seconds: u64,
    },
}

/// A client with the names of the server and context it talks to.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    pub server: String,
    pub context: String,
    /// The context's namespace, or `default`.
    pub namespace: String,
    /// The same client without kube's retries of 429/503/504: for requests through the pod
    /// proxy, where a 503 means the pod's port does not answer and waiting will not help.
    pub once: Client,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Loads the kubeconfig and builds a client; does not contact the server yet.
    pub async fn new(target: &Target) -> Result<Self, K8sError> {
        let (kubeconfig, source_name) = load(target.kubeconfig.as_deref())?;
        let names = || {
            let names: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            if names.is_empty() {
                "no contexts".to_owned()
            } else {
                names.join(", ")
            }
        };
        let context = match target
            .context
            .clone()
            .or(kubeconfig.current_context.clone())
        {
            Some(context) => context,
            None => {
                return Err(K8sError::NoCurrentContext {
                    source_name,
                    available: names(),
                });
            }
        };
        if !kubeconfig.contexts.iter().any(|c| c.name == context) {
            return Err(K8sError::NoContext {
                source_name,
                context,
                available: names(),
            });
        }
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..KubeConfigOptions::default()
        };
        let config_error = |reason: String| K8sError::Config {
            source_name: source_name.clone(),
            context: context.clone(),
            reason,
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| config_error(e.to_string()))?;
        let server = config.cluster_url.to_string();
        let server = server.trim_end_matches('/').to_owned();
        let namespace = config.default_namespace.clone();
        let mut no_retry = config.clone();
        no_retry.default_retry = false;
        let once = Client::try_from(no_retry).map_err(|e| config_error(e.to_string()))?;
        let client = Client::try_from(config).map_err(|e| config_error(e.to_string()))?;
        Ok(Self {
            client,
            once,
            server,
            context,
            namespace,
        })
    }

    /// Asks the server for its version: the cheapest proof it is there and lets us in.
    pub async fn check_reachable(
        &self,
    ) -> Result<k8s_openapi::apimachinery::pkg::version::Info, K8sError> {
        self.client
            .apiserver_version()
            .await
            .map_err(|e| K8sError::Unreachable {
                server: self.server.clone(),
                context: self.context.clone(),
                reason: error_chain(&e),
            })
    }

    /// A request error naming what was attempted, on which object, on which cluster.
    pub fn request_error(&self, action: &str, object: &str, err: &kube::Error) -> K8sError {
        if is_connect_error(err) {
            return K8sError::Unreachable {
                server: self.server.clone(),
                context: self.context.clone(),
                reason: error_chain(err),
            };
        }
        K8sError::Request {
            action: action.to_owned(),
            object: object.to_owned(),
            server: self.server.clone(),
            context: self.context.clone(),
            reason: match err {
                kube::Error::Api(status) => status.message.clone(),
                other => error_chain(other),
            },
        }
    }

    pub fn timeout_error(&self, object: &str, condition: &str, seconds: u64) -> K8sError {
        K8sError::Timeout {
            object: object.to_owned(),
            condition: condition.to_owned(),
            server: self.server.clone(),
            context: self.context.clone(),
            seconds,
        }
    }
}

fn load(path: Option<&Path>) -> Result<(Kubeconfig, String), K8sError> {
    match path {
        Some(path) => {
            let name = path.display().to_string();
            Kubeconfig::read_from(path)
                .map(|k| (k, name.clone()))
                .map_err(|e| K8sError::Kubeconfig {
                    source_name: name,
                    reason: error_chain(&e),
                })
        }
        None => Kubeconfig::read()
            .map(|k| (k, "~/.kube/config".to_owned()))
            .map_err(|e| K8sError::Kubeconfig {
                source_name: "~/.kube/config".to_owned(),
                reason: error_chain(&e),
            }),
    }
}

/// Transport failures (refused, DNS, TLS, timeout), as opposed to an answer from the server.
fn is_connect_error(err: &kube::Error) -> bool {
    matches!(
        err,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_)
    )
}

/// An error and its causes on one line: kube's top-level messages alone are too vague.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CONTEXTS: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    \
        server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n\
        - name: one\n  context:\n    cluster: c\n    user: u\n    namespace: shop\n\
        - name: two\n  context:\n    cluster: c\n    user: u\n";

    fn kubeconfig(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn target(path: &Path, context: Option<&str>) -> Target {
        Target {
            kubeconfig: Some(path.to_owned()),
            context: context.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn picks_the_named_context_and_its_namespace() {
        let (_dir, path) = kubeconfig(TWO_CONTEXTS);
        let conn = Connection::new(&target(&path, Some("one"))).await.unwrap();
        assert_eq!(conn.server, "https://127.0.0.1:1");
        assert_eq!(
            (conn.context.as_str(), conn.namespace.as_str()),
            ("one", "shop")
        );
        let conn = Connection::new(&target(&path, Some("two"))).await.unwrap();
        assert_eq!(conn.namespace, "default");
    }

    #[tokio::test]
    async fn missing_context_lists_the_ones_there() {
        let (_dir, path) = kubeconfig(TWO_CONTEXTS);
        let err = Connection::new(&target(&path, Some("three")))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the kubeconfig {} has no context `three` (it has: one, two)",
                path.display()
            )
        );
        let err = Connection::new(&target(&path, None)).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("names no current context; pass --context"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unreadable_kubeconfig_names_the_file() {
        let err = Connection::new(&target(Path::new("/nonexistent/kubeconfig"), None))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot load the kubeconfig /nonexistent/kubeconfig: "),
            "{err}"
        );
        assert!(
            err.ends_with("pass --kubeconfig FILE or set KUBECONFIG"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unreachable_server_names_server_and_context() {
        let (_dir, path) = kubeconfig(TWO_CONTEXTS);
        let conn = Connection::new(&target(&path, Some("one"))).await.unwrap();
        let err = conn.check_reachable().await.unwrap_err().to_string();
        assert!(
            err.starts_with(
                "cannot reach the Kubernetes API server https://127.0.0.1:1 (context `one`): "
            ),
            "{err}"
        );
    }
}
