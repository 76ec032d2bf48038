//! A directory of Kubernetes YAML as the controller's [`Source`] (`meshctl controller
//! --from-dir`): every `.yaml`/`.yml`/`.json` file under it, read with the same reader as
//! `meshctl analyze`, re-read when a file's modification time or size changes or a file comes
//! or goes (polled, like the proxy's config file). EndpointSlices the directory lacks are
//! derived from its Pods (`status.podIP`), as Kubernetes would write them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use tokio::sync::watch;

use super::pod_endpoints;
use super::source::Source;
use crate::translate::{Finding, Inputs};

/// Why the directory cannot be read at all (a bad document is a finding, not this).
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("cannot read {path}: {cause}; check that --from-dir names a readable directory")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// The directory's objects as last read.
pub struct DirSource {
    dir: PathBuf,
    loaded: RwLock<Arc<Loaded>>,
    synced: AtomicBool,
}

#[derive(Default)]
struct Loaded {
    inputs: Inputs,
    pods: HashMap<(String, String), Arc<Pod>>,
}

impl Source for DirSource {
    fn inputs(&self) -> Inputs {
        self.current().inputs.clone()
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        let key = (namespace.to_owned(), name.to_owned());
        self.current().pods.get(&key).cloned()
    }

    fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        let current = self.current();
        let found = current
            .inputs
            .namespaces
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name));
        found.cloned()
    }

    fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }
}

/// A file's path, modification time and size: what is compared between polls.
type Stamps = Vec<(PathBuf, Option<SystemTime>, u64)>;

impl DirSource {
    /// Reads `dir` once (an unreadable directory is an error: nothing to serve).
    pub fn open(dir: &Path) -> Result<Self, DirError> {
        let source = Self {
            dir: dir.to_owned(),
            loaded: RwLock::default(),
            synced: AtomicBool::new(false),
        };
        source.reload()?;
        Ok(source)
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads every file; returns the documents' findings.
    fn reload(&self) -> Result<Vec<Finding>, DirError> {
        let files = manifests(&self.dir)?;
        let mut read = Vec::with_capacity(files.len());
        for file in &files {
            let bytes = std::fs::read(file).map_err(|cause| DirError::Read {
                path: file.clone(),
                cause,
            })?;
            read.push((file.display().to_string(), bytes));
        }
        let documents: Vec<_> = read
            .iter()
            .map(|(name, bytes)| crate::inject::Input { name, bytes })
            .collect();
        let (mut inputs, findings) = Inputs::from_documents(&documents);
        pod_endpoints::derive(&mut inputs);
        let pods = inputs
            .pods
            .iter()
            .filter_map(|pod| {
                let name = pod.metadata.name.clone()?;
                let ns = pod
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into());
                Some(((ns, name), Arc::clone(pod)))
            })
            .collect();
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Loaded { inputs, pods });
        self.synced.store(true, Ordering::Release);
        Ok(findings)
    }

    /// Polls the directory every `interval` and re-reads it on change; each re-read adds one
    /// to `changes`. Runs until the task is aborted.
    pub async fn watch(self: Arc<Self>, interval: Duration, changes: watch::Sender<u64>) {
        let mut last = stamps(&self.dir).ok();
        let mut reported: Vec<Finding> = Vec::new();
        let mut first = true;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = stamps(&self.dir).ok();
            if !std::mem::take(&mut first) && now == last {
                continue;
            }
            last = now;
            match self.reload() {
                Ok(findings) => {
                    if findings != reported {
                        for finding in &findings {
                            tracing::warn!(%finding, "a document in --from-dir is skipped");
                        }
                        reported = findings;
                    }
                    tracing::info!(dir = %self.dir.display(), "objects read");
                    changes.send_modify(|n| *n += 1);
                }
                Err(error) => tracing::error!(%error, "keeping the objects last read"),
            }
        }
    }
}

/// The manifest files under `dir`, recursively, in name order (symlinked directories are
/// not followed).
fn manifests(dir: &Path) -> Result<Vec<PathBuf>, DirError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), DirError> {
    let error = |cause| DirError::Read {
        path: dir.to_owned(),
        cause,
    };
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let entry = entry.map_err(error)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(error)?;
        let manifest = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        // Editors write hidden swap and backup files next to the one being edited.
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if kind.is_dir() {
            collect(&path, files)?;
        } else if manifest && !hidden && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

fn stamps(dir: &Path) -> Result<Stamps, DirError> {
    Ok(manifests(dir)?
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (path, modified, len)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = r"
apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Pod
metadata: { name: web-v1, namespace: demo, labels: { app: web } }
spec: { containers: [{ name: app, image: echo }] }
status: { podIP: 127.0.10.2 }
";

    #[tokio::test]
    async fn reads_the_directory_and_follows_edits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.yaml"), WEB).unwrap();
        std::fs::write(dir.path().join(".web.yaml.swp"), "not: [yaml").unwrap();
        let source = Arc::new(DirSource::open(dir.path()).unwrap());
        assert!(source.synced());
        assert!(source.pod("demo", "web-v1").is_some());
        assert_eq!(source.inputs().endpoint_slices.len(), 1);

        let (tx, mut rx) = watch::channel(0);
        let task = tokio::spawn(source.clone().watch(Duration::from_millis(10), tx));
        rx.changed().await.unwrap();
        let more = "---\napiVersion: v1\nkind: Pod\nmetadata: { name: web-v2, namespace: demo, \
                    labels: { app: web } }\nspec: { containers: [{ name: app, image: echo }] }\n\
                    status: { podIP: 127.0.10.3 }\n";
        std::fs::write(dir.path().join("more.yaml"), more).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert!(source.pod("demo", "web-v2").is_some());
        let endpoints = &source.inputs().endpoint_slices[0].endpoints;
        assert_eq!(endpoints.len(), 2);
        task.abort();
    }

    #[test]
    fn a_missing_directory_says_which() {
        let err = DirSource::open(Path::new("/nonexistent/meshctl"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/meshctl"), "{err}");
    }
}
