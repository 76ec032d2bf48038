//! Tiny TCP parties for interception tests: servers that greet every connection with a
//! line saying who answered, and a client that dials from inside a pod.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use meshctl::proxy::orig_dst::original_dst;

use crate::node::Pod;

const TIMEOUT: Duration = Duration::from_secs(5);

/// What a greeter says: a fixed name, or (for a stand-in proxy) the original destination.
#[derive(Clone, Copy)]
pub enum Says {
    Name(&'static str),
    OriginalDst(&'static str),
}

/// A listener inside a pod answering each connection with one line, until dropped.
pub struct Greeter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Greeter {
    pub fn start(pod: &Pod, addr: SocketAddr, says: Says) -> Greeter {
        let listener = pod.enter(|| TcpListener::bind(addr));
        let listener = listener.unwrap_or_else(|e| panic!("bind {addr} in {}: {e}", pod.name));
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => greet(stream, says),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        Greeter {
            stop,
            thread: Some(thread),
        }
    }
}

fn greet(stream: TcpStream, says: Says) {
    let _ = stream.set_nonblocking(false);
    let line = match says {
        Says::Name(name) => format!("{name}\n"),
        Says::OriginalDst(name) => {
            let local = stream.local_addr().expect("local addr");
            match original_dst(&stream, local) {
                Ok(dst) => format!("{name} for {dst}\n"),
                Err(e) => format!("{name} without original destination: {e}\n"),
            }
        }
    };
    let _ = (&stream).write_all(line.as_bytes());
}

impl Drop for Greeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connects from inside `pod` (as this test process: root, so intercepted) and returns
/// the greeting line, or the error text.
pub fn dial(pod: &Pod, addr: SocketAddr) -> String {
    let stream = pod.enter(|| TcpStream::connect_timeout(&addr, TIMEOUT));
    match stream {
        Ok(stream) => read_line(stream),
        Err(e) => format!("connect {addr} failed: {e}"),
    }
}

fn read_line(stream: TcpStream) -> String {
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(_) => line.trim_end().to_owned(),
        Err(e) => format!("read failed: {e}"),
    }
}

/// Dials `host:port` (a name from the pod's /etc/hosts, or an address) from `pod` as
/// `uid` in a separate process (bash's /dev/tcp), as an app or the proxy would.
pub fn dial_as(pod: &Pod, uid: u32, addr: impl ToString) -> String {
    let uid = uid.to_string();
    let addr = addr.to_string();
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let script = format!("exec 3<>/dev/tcp/{host}/{port} && timeout 5 head -n1 <&3");
    let out = pod.run(
        "setpriv",
        &[
            "--reuid",
            &uid,
            "--regid",
            &uid,
            "--clear-groups",
            "bash",
            "-c",
            &script,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    if out.status.success() {
        text
    } else {
        format!("failed: {}", String::from_utf8_lossy(&out.stderr).trim())
    }
}
