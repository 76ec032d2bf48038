//! `meshctl demo` as a process for the tests: started on a temporary --dir, its addresses read
//! from what it prints, stopped with SIGINT (as Ctrl-C) and checked to leave nothing behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::meshctl;

/// The demo binds fixed loopback networks and ports: one at a time in this test binary.
pub static ONE_DEMO: Mutex<()> = Mutex::new(());

pub struct RunningDemo {
    child: Child,
    pub dir: tempfile::TempDir,
    pub dashboard: SocketAddr,
    /// Admin addresses by workload name.
    pub admins: Vec<(String, SocketAddr)>,
    /// The run's own directory (CA, token, logs): gone after it stops.
    pub state: PathBuf,
    pub started_in: Duration,
}

impl RunningDemo {
    pub fn start() -> RunningDemo {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let mut child = meshctl()
            .args(["demo", "--port", "0", "--dir"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn meshctl demo");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut admins = Vec::new();
        let mut state = None;
        let dashboard = loop {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
                let _ = child.kill();
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("meshctl demo did not print its dashboard address; stderr:\n{err}");
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, "admin", addr, ..] = words[..]
                && let Ok(addr) = addr.parse()
            {
                admins.push((name.to_owned(), addr));
            }
            if let Some(url) = line.strip_prefix("Dashboard: http://") {
                break url.trim_end_matches('/').parse().unwrap();
            }
        };
        // The rest (the Try: lines, the log path, the client's lines) drains in the thread.
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.is_none() && Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_secs(1))
                && let Some(rest) = line.strip_prefix("Logs: ")
            {
                let logs = PathBuf::from(rest.split_whitespace().next().unwrap());
                state = logs.parent().map(PathBuf::from);
            }
        }
        std::thread::spawn(move || for _ in rx {});
        RunningDemo {
            child,
            dir,
            dashboard,
            admins,
            state: state.expect("the demo prints where its logs are"),
            started_in: started.elapsed(),
        }
    }

    pub fn admin(&self, name: &str) -> SocketAddr {
        self.admins
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.admins))
            .1
    }

    /// Ctrl-C: the demo must exit 0 and leave no process, port or file behind.
    pub fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "meshctl demo still runs 15 s after SIGINT"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "meshctl demo exited {status}");
        assert!(
            !self.state.exists(),
            "{} is left behind",
            self.state.display()
        );
        for (name, admin) in &self.admins {
            assert!(
                TcpStream::connect_timeout(admin, Duration::from_millis(200)).is_err(),
                "the {name} proxy still answers on {admin}"
            );
        }
    }
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        // A failed test: SIGINT so the demo stops its processes, then make sure.
        if let Ok(None) = self.child.try_wait() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            std::thread::sleep(Duration::from_secs(3));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// GET over a plain socket: the body of a 200 answer (not chunked: what the admin ports,
/// the dashboard's API and DevTools send). Read to its Content-Length: DevTools keeps the
/// connection open whatever the request says.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    // Chromium's DevTools answers only HTTP/1.1, with a Host that is an IP address.
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let text = String::from_utf8_lossy(&bytes);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end].lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|n| bytes.len() >= end + 4 + n) {
                break;
            }
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200") {
        return None;
    }
    Some(text[text.find("\r\n\r\n")? + 4..].to_owned())
}
