//! Helpers to run the built binary and look at what it did.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output, Stdio};

pub use crate::failed::failed;

/// The path of `tests/fixtures/PATH`.
pub fn fixture(path: &str) -> String {
    format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Compares `actual` with the golden file at `path`; `MESHCTL_UPDATE_GOLDEN=1` rewrites it
/// instead.
pub fn assert_golden(path: &std::path::Path, actual: &str) {
    if std::env::var_os("MESHCTL_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with MESHCTL_UPDATE_GOLDEN=1 and review the file",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b);
        panic!(
            "{} differs (first different line: {:?}); run with MESHCTL_UPDATE_GOLDEN=1 and review \
             the diff\n--- actual ---\n{actual}",
            path.display(),
            line.map(|l| l + 1)
        );
    }
}

pub fn meshctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    cmd.env_remove("MESHCTL_LOG").env("NO_COLOR", "1");
    cmd
}

/// Runs meshctl with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = meshctl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meshctl");
    // A command may exit before reading all its input; that is its business.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait for meshctl")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A loopback HTTP server (threads, so no runtime is needed) answering each of the first
/// `answers` connections, once its request head has arrived, with 200 and `body`.
pub fn http_server(body: &'static str, answers: usize) -> SocketAddr {
    http_server_on("127.0.0.1", body, answers)
}

/// [`http_server`] on another loopback address (127.0.0.0/8 is all local).
pub fn http_server_on(ip: &str, body: &'static str, answers: usize) -> SocketAddr {
    serve_on(ip, 200, body, answers)
}

/// [`http_server`] answering `status` instead of 200.
pub fn http_server_status(status: u16, body: &'static str, answers: usize) -> SocketAddr {
    serve_on("127.0.0.1", status, body, answers)
}

fn serve_on(ip: &str, status: u16, body: &'static str, answers: usize) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().take(answers).flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}
