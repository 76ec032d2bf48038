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

/// What a greeter says: a fixed name, (for a stand-in proxy) the original destination,
/// or, as an HTTP/1.1 app, an answer naming itself and the peer it saw.
#[derive(Clone, Copy)]
pub enum Says {
    Name(&'static str),
    OriginalDst(&'static str),
    Http(&'static str),
    /// As `Http`, but every `n`-th request is answered 500 (a canary with a bug).
    HttpFailingEvery(&'static str, usize),
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
            let mut answered = 0;
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        answered += 1;
                        greet(stream, says, answered);
                    }
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

/// Answers connection number `n` (from 1).
fn greet(stream: TcpStream, says: Says, n: usize) {
    let _ = stream.set_nonblocking(false);
    let line = match says {
        Says::Http(name) => return answer_http(stream, name, 200),
        Says::HttpFailingEvery(name, every) => {
            let status = if n.is_multiple_of(every) { 500 } else { 200 };
            return answer_http(stream, name, status);
        }
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

/// Reads one request head and answers `status` with `<name> saw <peer>`, then closes.
fn answer_http(stream: TcpStream, name: &str, status: u16) {
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let peer = stream
        .peer_addr()
        .map(|p| p.ip().to_canonical().to_string())
        .unwrap_or_default();
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    // Up to the blank line that ends the head (bounded: a head of 100 lines is plenty).
    for _ in 0..100 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line != "\r\n" => {}
            _ => break,
        }
    }
    let body = format!("{name} saw {peer}\n");
    let response = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        if status == 200 {
            "OK"
        } else {
            "Internal Server Error"
        },
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
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
    let addr = addr.to_string();
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let script = format!("exec 3<>/dev/tcp/{host}/{port} && timeout 5 head -n1 <&3");
    let out = bash_as(pod, uid, &script);
    let text = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    if out.status.success() {
        text
    } else {
        format!("failed: {}", String::from_utf8_lossy(&out.stderr).trim())
    }
}

/// Runs a bash `script` in `pod` as `uid` (group `uid`, no supplementary groups).
fn bash_as(pod: &Pod, uid: u32, script: &str) -> std::process::Output {
    let uid = uid.to_string();
    let ids = ["--reuid", &uid, "--regid", &uid, "--clear-groups"];
    pod.run("setpriv", &[&ids[..], &["bash", "-c", script]].concat())
}

/// `GET path` with `host` from `pod` as `uid` in a separate process using the pod's
/// /etc/hosts (bash's /dev/tcp, like an app): the status code and the body.
pub fn http_get_as(pod: &Pod, uid: u32, host_port: &str, path: &str) -> (u16, String) {
    http_get_with(pod, uid, host_port, path, &[])
}

/// `http_get_as` with `headers` (`name: value` lines) in the request.
pub fn http_get_with(
    pod: &Pod,
    uid: u32,
    host_port: &str,
    path: &str,
    headers: &[&str],
) -> (u16, String) {
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    let extra: String = headers.iter().map(|h| format!("{h}\\r\\n")).collect();
    let script = format!(
        "exec 3<>/dev/tcp/{host}/{port} && \
         printf 'GET {path} HTTP/1.1\\r\\nhost: {host_port}\\r\\n{extra}connection: close\\r\\n\\r\\n' >&3 && \
         timeout 5 cat <&3"
    );
    let out = bash_as(pod, uid, &script);
    parse_response(&String::from_utf8_lossy(&out.stdout))
}

/// In-process `GET path` to `addr` from inside `pod` (loopback admin ports).
pub fn http_get(pod: &Pod, addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = pod.enter(|| TcpStream::connect_timeout(&addr, TIMEOUT));
    let Ok(mut stream) = stream else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut text);
    parse_response(&text)
}

/// (status, body) of an HTTP/1.1 response with a content-length or closed by the server;
/// (0, the text) when it is not one.
fn parse_response(text: &str) -> (u16, String) {
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    match (status, text.split_once("\r\n\r\n")) {
        (Some(status), Some((_, body))) => (status, body.to_owned()),
        _ => (0, text.to_owned()),
    }
}
