//! Packet captures on a pod's veth with tshark, to check what really crosses the wire
//! instead of trusting the proxies' own account.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use crate::node::Pod;

/// A running capture on one pod's eth0.
pub struct Capture {
    child: Child,
    file: PathBuf,
    _dir: TempDir,
}

impl Capture {
    /// Starts capturing `filter` (BPF, e.g. `tcp port 8080`) on `pod`'s eth0; returns once
    /// tshark says the capture runs.
    pub fn start(pod: &Pod, filter: &str) -> Capture {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eth0.pcapng");
        let mut child = pod
            .command("tshark")
            .args(["-i", "eth0", "-f", filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start tshark in {}: {e}", pod.name));
        let stderr = child.stderr.take().expect("tshark stderr");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stderr so tshark never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut said = Vec::new();
        let started = loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.contains("Capture started") => break true,
                Ok(line) => said.push(line),
                Err(_) => break false,
            }
        };
        let capture = Capture {
            child,
            file,
            _dir: dir,
        };
        assert!(started, "tshark did not start in {}: {said:?}", pod.name);
        capture
    }

    /// Stops the capture (SIGTERM: tshark writes out what it has) and returns the values
    /// of `field` in the packets matching the display filter `filter`, one per packet.
    pub fn stop_and_read(self, filter: &str, field: &str) -> Vec<String> {
        self.stop_and_query(&[], &[(filter, field)]).remove(0)
    }

    /// Stops the capture and answers each `(display filter, field)` query as
    /// [`Capture::stop_and_read`] does; `decode_as` are tshark `-d` rules (e.g.
    /// `tcp.port==8080,tls` for TLS on a port tshark takes for HTTP).
    pub fn stop_and_query(
        mut self,
        decode_as: &[&str],
        queries: &[(&str, &str)],
    ) -> Vec<Vec<String>> {
        // Packets reach tshark's file asynchronously (its capture child flushes on a timer).
        std::thread::sleep(Duration::from_secs(1));
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        queries
            .iter()
            .map(|(filter, field)| {
                let mut cmd = Command::new("tshark");
                cmd.arg("-r").arg(&self.file);
                for rule in decode_as {
                    cmd.args(["-d", rule]);
                }
                let out = cmd
                    .args(["-Y", filter, "-T", "fields", "-e", field])
                    .output()
                    .expect("run tshark -r");
                assert!(
                    out.status.success(),
                    "tshark -r: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
