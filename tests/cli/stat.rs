//! `meshctl stat --proxy`: figures from fake admin ports merged exactly; a proxy that does
//! not answer is a warning, none answering is an error.

use serde_json::Value;

use crate::support::{failed, http_server, run, stderr, stdout};

/// A fake admin port serving this `/stats` body (to a bounded number of requests).
fn admin(body: &'static str) -> String {
    http_server(body, 8).to_string()
}

/// An address nothing listens on.
fn dead() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

const FAST: &str = r#"{"windowSeconds": 60, "latencyBucketsMs": [10.0, 20.0, 30.0], "rows": [
    {"direction": "inbound", "authority": "app", "requests": 100, "failures": 0, "rps": 1.7,
     "successRate": 1.0, "tcpConnectionsOpened": 2, "latencyBuckets": [100, 0, 0, 0]}]}"#;
const SLOW: &str = r#"{"windowSeconds": 60, "latencyBucketsMs": [10.0, 20.0, 30.0], "rows": [
    {"direction": "inbound", "authority": "app", "requests": 20, "failures": 6, "rps": 0.3,
     "successRate": 0.7, "tcpConnectionsOpened": 1, "latencyBuckets": [0, 0, 20, 0]}]}"#;

#[test]
fn proxies_are_merged_and_a_dead_one_is_a_warning() {
    let (fast, slow, dead) = (admin(FAST), admin(SLOW), dead());
    let args = ["stat", "--proxy", &fast, "--proxy", &slow, "--proxy", &dead];
    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let out = run(&json_args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("warning: proxy {dead}")),
        "{}",
        stderr(&out)
    );
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["proxies"]["answered"], 2);
    assert_eq!(value["proxies"]["failed"][0]["proxy"], dead.as_str());
    let row = &value["rows"][0];
    assert_eq!(row["requests"], 120);
    assert_eq!(row["failures"], 6);
    assert_eq!(row["successRate"], 0.95);
    assert_eq!(row["rps"], 2.0);
    assert_eq!(row["tcpConnectionsOpened"], 3);
    // 100 of 120 within 10 ms: p50 inside it; p95 and p99 in the 20-30 ms bucket.
    assert!(row["latencyP50Ms"].as_f64().unwrap() <= 10.0);
    assert_eq!(row["latencyP95Ms"], 27.0);
    let out = run(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("LATENCY_P99"), "{table}");
    assert!(table.contains("inbound app"), "{table}");
    assert!(table.contains("95.00%"), "{table}");
    assert!(table.contains("2/3"), "{table}");
}

#[test]
fn a_proxy_that_holds_its_answer_is_given_up_after_timeout() {
    // Accepted by the kernel, never read or answered: only --timeout ends the wait.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap().to_string();
    let fast = admin(FAST);
    let args = [
        "stat",
        "--proxy",
        &fast,
        "--proxy",
        &silent,
        "--timeout",
        "1s",
    ];
    let out = run(&[&args[..], &["-o", "json"]].concat(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let warning = format!("warning: proxy {silent}: no answer within 1s");
    assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
    let value: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(value["proxies"]["answered"], 1);
    assert_eq!(value["rows"][0]["requests"], 100);
}

#[test]
fn an_answer_for_another_window_than_asked_is_refused() {
    // FAST covers 60 s; asked for 30 s, its counts over 30 s would double the rates.
    let fast = admin(FAST);
    let out = run(&["stat", "--proxy", &fast, "--window", "30s"], b"");
    let refused =
        format!("warning: proxy {fast}: answered for a 60 s window instead of the 30 s asked");
    failed(&out, 1, &[&refused, "no proxy answered (1 asked)"]);
}

#[test]
fn no_answer_at_all_is_an_error_and_a_bad_window_is_usage() {
    let dead = dead();
    let out = run(&["stat", "--proxy", &dead], b"");
    failed(&out, 1, &["no proxy answered (1 asked)"]);
    let out = run(&["stat", "--proxy", &dead, "--window", "5s"], b"");
    failed(&out, 2, &["--window"]);
}

#[test]
fn an_unknown_kind_or_a_mixed_mode_is_refused_before_any_cluster_is_asked() {
    // No kubeconfig anywhere: these come first. An unknown kind is a failed lookup (1), like
    // an unknown name; a bad combination of arguments is usage (2).
    for (args, says) in [
        (
            &["stat", "cronjob"][..],
            "unknown resource `cronjob`: use deploy, sts",
        ),
        (
            &["stat", "deploy", "--to", "job/x"],
            "--to: unknown resource `job/x`",
        ),
        (
            &["stat", "deploy", "--from", "svc/"],
            "--from: unknown resource `svc/`",
        ),
    ] {
        failed(&run(args, b""), 1, &[says]);
    }
    for (args, says) in [
        (
            &["stat", "deploy/web", "api"][..],
            "`deploy/web` already names one",
        ),
        (
            &["stat", "deploy", "web", "-A"],
            "give its namespace with -n instead of -A",
        ),
        (
            &["stat", "deploy", "-A", "-n", "shop"],
            "-A and -n exclude each other",
        ),
        (
            &["stat", "deploy", "-A", "--to", "deploy/web"],
            "--to deploy/web names one resource: give its namespace with --to-namespace (or -n \
             instead of -A)",
        ),
        (
            &["stat", "--proxy", "127.0.0.1:1", "--to", "deploy/web"],
            "need a cluster resource",
        ),
        (
            &["stat", "--proxy", "http://127.0.0.1:4191"],
            "--proxy http://127.0.0.1:4191: expected a proxy's admin address as HOST:PORT",
        ),
        (
            &["stat", "--proxy", "127.0.0.1"],
            "--proxy 127.0.0.1: expected",
        ),
        (
            &["stat", "--proxy", "127.0.0.1:4191/stats"],
            "(no http://, no path)",
        ),
        (
            &["stat", "--proxy", "[::1]:4191", "--proxy", "[::1]:4191"],
            "--proxy [::1]:4191 is given twice: its figures would count twice",
        ),
        (
            &["stat", "--proxy", "127.0.0.1:4191", "--timeout", "0s"],
            "--timeout 0s would give up on every proxy",
        ),
        (
            &["stat", "--proxy", "127.0.0.1:4191", "--window", "1h"],
            "--window 1h is out of range: allowed 10s to 10m",
        ),
    ] {
        failed(&run(args, b""), 2, &[says]);
    }
    let out = run(&["stat", "deploy", "--proxy", "127.0.0.1:1"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&["stat"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Lines `child` writes on `output` until `tables` table headers were seen (or 20 s went by,
/// so a stuck --watch fails the count instead of hanging); then `child` is ended. Returns the
/// lines and whether `child` was still running (--watch must not stop by itself).
fn watched(
    mut child: std::process::Child,
    output: impl std::io::Read + Send + 'static,
    tables: usize,
) -> (Vec<String>, bool) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(output)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut seen, mut lines) = (0, Vec::new());
    while seen < tables {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen += usize::from(line.contains("LATENCY_P99"));
                lines.push(line);
            }
            Err(_) => break,
        }
    }
    let still_running = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    (lines, still_running)
}

/// The lines that hold a table header.
fn headers(lines: &[String]) -> Vec<usize> {
    (0..lines.len())
        .filter(|i| lines[*i].contains("LATENCY_P99"))
        .collect()
}

#[test]
fn watch_redraws_until_interrupted() {
    let fast = admin(FAST);
    let mut child = crate::support::meshctl()
        .args(["stat", "--proxy", &fast, "--watch"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn meshctl");
    let stdout = child.stdout.take().expect("stdout");
    // Two tables, one redraw (every 2 s) apart.
    let (lines, still_running) = watched(child, stdout, 2);
    let at = headers(&lines);
    assert_eq!(at.len(), 2, "tables drawn before the deadline: {lines:?}");
    assert!(still_running, "--watch stopped by itself");
    // Not a terminal: plain tables one after the other (a blank line between), no screen
    // clearing or borders for a file or a pipe to keep.
    let text = lines.join("\n");
    assert!(!text.contains('\x1b') && !text.contains('│'), "{text:?}");
    assert_eq!(lines[at[1] - 1], "", "{text}");
    assert_eq!(at[1] - at[0], 3, "one row per table: {text}");
}

#[test]
fn watch_on_a_terminal_clears_the_screen_for_each_table() {
    use nix::pty::{Winsize, openpty};
    let size = Winsize {
        ws_row: 40,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).expect("a pseudo-terminal");
    let (fast, dead) = (admin(FAST), dead());
    let mut command = crate::support::meshctl();
    let stderr = pty.slave.try_clone().expect("a second descriptor");
    command
        .args(["stat", "--proxy", &fast, "--proxy", &dead, "--watch"])
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(pty.slave))
        .stderr(std::process::Stdio::from(stderr));
    let child = command.spawn().expect("spawn meshctl");
    drop(command);
    let (lines, still_running) = watched(child, std::fs::File::from(pty.master), 2);
    assert!(still_running, "--watch stopped by itself");
    let at = headers(&lines);
    assert_eq!(at.len(), 2, "tables drawn before the deadline: {lines:?}");
    // Each table starts on a cleared screen, drawn with borders, under the round's warning
    // (printed after the clearing, or no one would see it).
    let text = lines.join("\n");
    assert_eq!(text.matches("\x1b[2J\x1b[H").count(), 2, "{text:?}");
    let warning = format!("\x1b[2J\x1b[Hwarning: proxy {dead}: ");
    assert!(lines[at[0] - 2].starts_with(&warning), "{text:?}");
    assert!(lines[at[0] - 1].starts_with('┌'), "{text:?}");
    assert!(lines[at[1] - 2].starts_with(&warning), "{text:?}");
    assert!(lines[at[1]].starts_with('│'), "{text:?}");
}

/// A fake admin port whose `/stats` answer claims and streams 1 GB (the bytes are made as
/// they are read, so the test never holds them).
fn huge_admin() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten().take(4) {
            std::thread::spawn(move || {
                let mut head = [0u8; 1024];
                let _ = stream.read(&mut head);
                let total: usize = 1 << 30;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n"
                );
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < total && stream.write_all(&chunk).is_ok() {
                    sent += chunk.len();
                }
            });
        }
    });
    addr
}

#[test]
fn an_answer_over_16_mib_is_cut_off_with_a_warning() {
    let (fast, huge) = (admin(FAST), huge_admin());
    let started = std::time::Instant::now();
    let out = run(
        &[
            "stat",
            "--proxy",
            &fast,
            "--proxy",
            &huge,
            "--timeout",
            "60s",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("warning: proxy {huge}")) && err.contains("larger than 16 MiB"),
        "{err}"
    );
    // Cut off at the limit, not read to the end.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(stdout(&out).contains("1/2"), "{}", stdout(&out));
}
