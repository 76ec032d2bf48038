//! Runs etcd and kube-apiserver under a small `sh` supervisor that kills them and removes
//! the cluster's directory once its stdin closes, which happens when this process exits
//! for any reason (success, failed test, panic, abort): nothing outlives the test binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Where `tests/cluster/build-testbin.sh` puts the binaries for the pinned version.
pub fn testbin_dir() -> PathBuf {
    let version = include_str!("../kube/KUBE_VERSION").trim();
    let base = match std::env::var_os("MESHCTL_TESTBIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/meshctl/testbin"),
    };
    base.join(version)
}

/// The path of a built test binary, or an error saying how to build it.
pub fn testbin(name: &str) -> Result<PathBuf, String> {
    let path = testbin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build etcd and kube-apiserver with `bash tests/cluster/build-testbin.sh` \
             (once; they are cached outside the repository)",
            path.display()
        ))
    }
}

/// The running supervisor. Dropping it stops the servers and waits for them.
pub struct Supervisor {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: PathBuf,
    names: Vec<String>,
}

impl Supervisor {
    /// Starts every command in `dir`, each logging to `dir/<name>.log`.
    pub fn start(dir: &Path, commands: &[(&str, Vec<String>)]) -> Result<Self, String> {
        let mut script = format!("cd {}\n", quote(&dir.to_string_lossy()));
        for (name, argv) in commands {
            let line: Vec<String> = argv.iter().map(|a| quote(a)).collect();
            script.push_str(&format!(
                "{} >{name}.log 2>&1 </dev/null &\necho $! >{name}.pid\npids=\"$pids $!\"\n",
                line.join(" ")
            ));
        }
        // The test process holds our stdin open; EOF means it is gone or done with us.
        script.push_str("while read -r _; do :; done\nkill -9 $pids 2>/dev/null\nwait\n");
        script.push_str(&format!(
            "cd / && rm -rf {}\n",
            quote(&dir.to_string_lossy())
        ));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh to supervise the test cluster: {e}"))?;
        let stdin = child.stdin.take();
        Ok(Self {
            child,
            stdin,
            dir: dir.to_owned(),
            names: commands
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .collect(),
        })
    }

    /// The last lines of a server's log, for error messages.
    pub fn log_tail(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Whether the supervisor and every server under it still run (a server that exited
    /// stays a zombie of the supervisor, state `Z`, until the supervisor stops).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
            && self.names.iter().all(|name| {
                let pid = std::fs::read_to_string(self.dir.join(format!("{name}.pid")));
                // Not written yet: the supervisor is still starting it.
                let Ok(pid) = pid else { return true };
                if pid.trim().is_empty() {
                    return true;
                }
                let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
                // The state follows the command name in parentheses.
                stat.is_ok_and(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
            })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.wait();
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
