//! `meshctl canary start` refuses a plan that cannot run before it talks to any cluster:
//! exit 2, the flag named, nothing on stdout.

use crate::support::{failed, run};

fn start(more: &[&str]) -> std::process::Output {
    let mut args = vec!["--kubeconfig", "/nonexistent", "canary", "start", "web"];
    args.extend_from_slice(&["--canary", "web-v2"]);
    args.extend_from_slice(more);
    run(&args, b"")
}

#[test]
fn plans_that_cannot_run_are_usage_errors() {
    failed(
        &start(&["--steps", "5,1"]),
        2,
        &["--steps 5,1: the weights must rise"],
    );
    failed(&start(&["--interval", "0s"]), 2, &["--interval 0s"]);
    failed(&start(&["--threshold", "0"]), 2, &["--threshold 0"]);
    failed(
        &start(&["--success-rate", "120"]),
        2,
        &["--success-rate 120"],
    );
    failed(&start(&["--step", "10", "--steps", "1,5"]), 2, &["--steps"]);
    failed(
        &start(&["--load", "web-v2:8080"]),
        2,
        &["--load web-v2:8080", "http://"],
    );
    failed(&start(&["--load-rps", "5"]), 2, &["--load"]);
}

#[test]
fn every_rollout_command_is_in_the_help() {
    let out = run(&["canary", "--help"], b"");
    let help = String::from_utf8_lossy(&out.stdout);
    for command in [
        "set-weight",
        "start",
        "status",
        "promote",
        "abort",
        "pause",
        "resume",
        "list",
    ] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} not in {help}"
        );
    }
}
