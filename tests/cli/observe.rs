//! `meshctl edges`, `tap`, `top` and `routes`: mistakes refused before anything is asked,
//! with what to give instead (exit 2), and a tap of a proxy that does not answer (exit 1).

use crate::support::{failed, http_server_status, run};

#[test]
fn bad_usage_of_the_observability_commands_says_what_to_give() {
    let cases: [(&[&str], &str); 9] = [
        (
            &["edges", "svc"],
            "give a kind of workload (deploy, sts, ds, pod or ns)",
        ),
        (&["edges", "deploy/web"], "without a name"),
        (
            &["edges", "deploy", "--window", "1s"],
            "--window 1s is out of range",
        ),
        (
            &["routes", "svc"],
            "name one service or workload, e.g. svc/web",
        ),
        (&["routes", "ns/shop"], "name one service or workload"),
        (
            &["tap", "--proxy", "127.0.0.1:1", "--max-rps", "0"],
            "--max-rps: give 1 to 1000",
        ),
        (
            &["tap", "--proxy", "127.0.0.1:1", "--limit", "0"],
            "--limit: give 1 to 100000",
        ),
        (
            &["tap", "--proxy", "127.0.0.1:1", "--path", "api"],
            "--path api: a path prefix",
        ),
        (
            &["top", "--proxy", "127.0.0.1:1", "--rows", "0"],
            "--rows must be more than 0",
        ),
    ];
    for (args, says) in cases {
        failed(&run(args, b""), 2, &[says]);
    }
    // Not an accepted kind at all: a failed lookup, as with stat.
    failed(
        &run(&["edges", "cronjob"], b""),
        1,
        &["unknown resource `cronjob`"],
    );
}

#[test]
fn a_tap_of_a_proxy_that_is_not_there_or_refuses_fails() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let out = run(&["tap", "--proxy", &dead, "-o", "json"], b"");
    let gone = format!("warning: {dead}: request failed");
    failed(&out, 1, &[&gone, "no proxy could be tapped (1 tried)"]);
    // A proxy refusing the query: its own words.
    let refusing = http_server_status(400, "headers=cookie: not shown to taps", 1);
    let out = run(&["tap", "--proxy", &refusing.to_string()], b"");
    failed(&out, 1, &["HTTP 400: headers=cookie: not shown to taps"]);
}
