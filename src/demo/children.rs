//! The demo's processes: the controller and one proxy per workload, each this same binary
//! (`meshctl controller --from-dir`, `meshctl proxy --controller-addr`), exactly as a cluster
//! runs them, logging to a file each. Stopped with SIGTERM, then SIGKILL after a grace period;
//! dropping [`Children`] kills whatever still runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Why a process could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot find this program's own path to start its processes: {0}")]
    Exe(std::io::Error),
    #[error("cannot create the log file {path}: {cause}")]
    Log {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot start the {name} process: {cause}")]
    Spawn { name: String, cause: std::io::Error },
    #[error("the {name} process exited ({status}) before it was ready; its log: {log}\n{tail}")]
    Exited {
        name: String,
        status: std::process::ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "the {name} process is not ready after {waited:?} (GET http://{admin}/ready); its log: {log}\n{tail}"
    )]
    NotReady {
        name: String,
        admin: SocketAddr,
        waited: Duration,
        log: PathBuf,
        tail: String,
    },
}

/// One running process.
pub struct Running {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

/// The demo's processes, in start order.
#[derive(Default)]
pub struct Children {
    running: Vec<Running>,
}

impl Children {
    /// Starts `meshctl <args>` as `name`, its output in `<logs>/<name>.log`.
    pub fn spawn(&mut self, name: &str, args: &[String], logs: &Path) -> Result<(), ChildError> {
        let exe = std::env::current_exe().map_err(ChildError::Exe)?;
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|cause| ChildError::Log {
            path: log.clone(),
            cause,
        })?;
        let err = file.try_clone().map_err(|cause| ChildError::Log {
            path: log.clone(),
            cause,
        })?;
        let mut command = Command::new(exe);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true);
        // The user's MESHCTL_* settings (a proxy config file, log levels) are not the demo's.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MESHCTL_") {
                command.env_remove(key);
            }
        }
        let child = command.spawn().map_err(|cause| ChildError::Spawn {
            name: name.to_owned(),
            cause,
        })?;
        self.running.push(Running {
            name: name.to_owned(),
            log,
            child,
        });
        Ok(())
    }

    /// The process ids, by name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.running
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.child.id()?)))
            .collect()
    }

    /// Waits until `name` answers 200 on `admin`'s `/ready`, failing early if it exits.
    pub async fn wait_ready(
        &mut self,
        name: &str,
        admin: SocketAddr,
        timeout: Duration,
    ) -> Result<(), ChildError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Some(running) = self.running.iter_mut().find(|r| r.name == name) else {
                return Ok(());
            };
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(ChildError::Exited {
                    name: name.to_owned(),
                    status,
                    tail: tail(&running.log),
                    log: running.log.clone(),
                });
            }
            let attempt = crate::readiness::wait_ready(admin, Duration::from_millis(300));
            if attempt.await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChildError::NotReady {
                    name: name.to_owned(),
                    admin,
                    waited: timeout,
                    tail: tail(&running.log),
                    log: running.log.clone(),
                });
            }
        }
    }

    /// The first process that exited on its own, with its status.
    pub fn exited(&mut self) -> Option<(String, std::process::ExitStatus, PathBuf)> {
        self.running
            .iter_mut()
            .find_map(|r| match r.child.try_wait() {
                Ok(Some(status)) => Some((r.name.clone(), status, r.log.clone())),
                _ => None,
            })
    }

    /// SIGTERM to each, newest first (proxies before the controller), then SIGKILL to those
    /// still running after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        for r in self.running.iter().rev() {
            if let Some(pid) = r.child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        for r in self.running.iter_mut().rev() {
            if tokio::time::timeout(grace, r.child.wait()).await.is_err() {
                let _ = r.child.kill().await;
            }
        }
        self.running.clear();
    }
}

/// The last lines of a log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}
