//! `meshctl certs create` and `meshctl certs inspect`: good chains, bad input, expiry.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use meshctl::identity::{ca, pem};

use crate::support::{self, failed, run, stderr, stdout};

const DAY: Duration = Duration::from_secs(86_400);

fn fixture(name: &str) -> String {
    support::fixture(&format!("certs/{name}"))
}

fn create(dir: &Path, extra: &[&str]) -> std::process::Output {
    let out = dir.display().to_string();
    let mut args = vec![
        "certs",
        "create",
        "--trust-domain",
        "cluster.local",
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    run(&args, b"")
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let file: PathBuf = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

#[test]
fn create_writes_a_chain_that_inspects_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = create(dir.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("trust domain cluster.local"));
    for key in ["ca.key", "issuer.key"] {
        let mode = std::fs::metadata(dir.path().join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key} is private");
    }
    let (issuer, anchor) = (path(dir.path(), "issuer.crt"), path(dir.path(), "ca.crt"));

    let out = run(&["certs", "inspect", &issuer, &anchor], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("CN=identity.cluster.local (CA)"), "{table}");
    assert!(
        table.contains("verified by CN=root.cluster.local"),
        "{table}"
    );
    assert!(table.contains("self-signed root"), "{table}");
    assert!(table.contains("ok (365 days left)"), "{table}");
    assert!(table.contains("ok (3650 days left)"), "{table}");
    assert_eq!(stderr(&out), "");

    let out = run(&["certs", "inspect", &issuer, &anchor, "-o", "json"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pure JSON");
    let certs = json["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0]["subject"], "CN=identity.cluster.local");
    assert_eq!(certs[0]["chain"]["status"], "verified");
    assert_eq!(certs[0]["key"], "ECDSA P-256");
    assert_eq!(certs[1]["chain"]["status"], "self-signed");
    assert_eq!(certs[0]["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn validities_are_configurable_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = create(
        dir.path(),
        &["--anchor-validity", "48h", "--issuer-validity", "24h"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &[
            "certs",
            "inspect",
            &path(dir.path(), "issuer.crt"),
            "-o",
            "json",
        ],
        b"",
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["certificates"][0]["expires_in_days"], 1);

    let other = tempfile::tempdir().unwrap();
    let out = create(
        other.path(),
        &["--anchor-validity", "24h", "--issuer-validity", "48h"],
    );
    failed(&out, 1, &["longer than the anchor's"]);
    assert!(
        !other.path().join("ca.crt").exists(),
        "nothing written on error"
    );

    let out = create(other.path(), &["--issuer-validity", "1y"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad duration is a usage error"
    );

    let out = run(
        &[
            "certs",
            "create",
            "--trust-domain",
            "Cluster Local",
            "--out",
            &path(other.path(), "x"),
        ],
        b"",
    );
    failed(&out, 1, &["trust domain `Cluster Local` is invalid"]);
}

#[test]
fn create_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    assert!(create(dir.path(), &[]).status.success());
    let before = std::fs::read(dir.path().join("issuer.key")).unwrap();

    failed(&create(dir.path(), &[]), 1, &["issuer.key", "--force"]);
    assert_eq!(
        std::fs::read(dir.path().join("issuer.key")).unwrap(),
        before
    );

    let out = create(dir.path(), &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(
        std::fs::read(dir.path().join("issuer.key")).unwrap(),
        before
    );
}

#[test]
fn inspect_refuses_files_that_are_not_certificates() {
    for (file, want) in [
        (fixture("not-pem.crt"), "not-pem.crt: not a PEM file"),
        (
            fixture("garbage-der.crt"),
            "garbage-der.crt: certificate #1 is not valid X.509",
        ),
        (fixture("missing.crt"), "missing.crt: cannot read"),
    ] {
        let out = run(&["certs", "inspect", &file], b"");
        failed(&out, 1, &[want]);
    }
}

#[test]
fn inspect_refuses_keys_and_certificates_of_the_wrong_type() {
    let dir = tempfile::tempdir().unwrap();
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let key = write(dir.path(), "ed25519.key", &ed.serialize_pem());
    let out = run(&["certs", "inspect", &key], b"");
    let wrong = "ed25519.key: wrong key type: Ed25519; meshctl needs an ECDSA P-256";
    failed(&out, 1, &[wrong]);

    let cert = rcgen::CertificateParams::new(vec!["web.shop.svc".to_owned()])
        .unwrap()
        .self_signed(&ed)
        .unwrap();
    let cert = write(dir.path(), "ed25519.crt", &cert.pem());
    let out = run(&["certs", "inspect", &cert], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("DNS:web.shop.svc"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("key is Ed25519"), "{}", stderr(&out));
}

#[test]
fn inspect_reports_a_chain_that_does_not_verify() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert!(create(a.path(), &[]).status.success());
    assert!(create(b.path(), &[]).status.success());
    let issuer = path(a.path(), "issuer.crt");
    let foreign_anchor = path(b.path(), "ca.crt");
    let out = run(&["certs", "inspect", &issuer, &foreign_anchor], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("DOES NOT VERIFY"), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("signature does not verify against the given `CN=root.cluster.local`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inspect_warns_before_expiry_and_fails_after() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        create(
            dir.path(),
            // 30 days: within the 60-day warning, and read as 30 however slow `inspect` is.
            &["--anchor-validity", "960h", "--issuer-validity", "720h"]
        )
        .status
        .success()
    );
    let out = run(&["certs", "inspect", &path(dir.path(), "issuer.crt")], b"");
    assert!(
        out.status.success(),
        "a warning is not a failure: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("warning: ") && stderr(&out).contains("expires in 30 days"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("WARNING: expires in 30 days"),
        "{}",
        stdout(&out)
    );

    // Expired: made by the library three days ago, valid for two.
    let old = ca::generate("cluster.local", DAY * 2, DAY, SystemTime::now() - DAY * 3).unwrap();
    let chain = pem::encode_certs(&[old.issuer.der().clone(), old.anchor.der().clone()]);
    let file = write(dir.path(), "old.crt", &chain);
    let out = run(&["certs", "inspect", &file, "-o", "json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("still pure JSON");
    assert!(json["certificates"][0]["expires_in_days"].as_i64().unwrap() < 0);
    let err = stderr(&out);
    assert!(
        err.contains("old.crt #1 `CN=identity.cluster.local`: expired on"),
        "{err}"
    );
    assert!(
        err.contains("old.crt #2 `CN=root.cluster.local`: expired on"),
        "{err}"
    );
    assert!(err.contains("2 problem(s) found"), "{err}");
}

#[test]
fn issue_writes_a_leaf_a_proxy_config_loads_and_inspect_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    assert!(create(&ca_dir, &[]).status.success());
    let (ca_dir, out_dir) = (ca_dir.display().to_string(), path(dir.path(), "web"));
    let id = "spiffe://cluster.local/ns/shop/sa/web";
    let issue = |extra: &[&str]| {
        let mut args = vec![
            "certs",
            "issue",
            "--identity",
            id,
            "--ca-dir",
            &ca_dir,
            "--out",
            &out_dir,
        ];
        args.extend_from_slice(extra);
        run(&args, b"")
    };
    let out = issue(&["--validity", "2h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with(&format!("Issued {id} (valid until ")));
    let key_mode = std::fs::metadata(dir.path().join("web/key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let (cert, roots) = (
        path(dir.path(), "web/cert.pem"),
        path(dir.path(), "web/roots.pem"),
    );
    let out = run(&["certs", "inspect", &cert, &roots, "-o", "json"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let leaf = &json["certificates"][0];
    assert_eq!(leaf["sans"][0], format!("URI:{id}"), "{leaf}");
    assert_eq!(leaf["chain"]["status"], "verified", "{leaf}");
    // The three files are exactly what a proxy's identity section loads.
    let bundle = meshctl::identity::bundle::Bundle::load(
        &dir.path().join("web/cert.pem"),
        &dir.path().join("web/key.pem"),
        &dir.path().join("web/roots.pem"),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(bundle.leaf.id().to_string(), id);

    let again = issue(&[]);
    failed(&again, 1, &["already exist"]);
    assert!(issue(&["--force"]).status.success());
}

#[test]
fn issue_refuses_bad_identities_and_missing_ca_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = path(dir.path(), "out");
    let base = ["certs", "issue", "--ca-dir"];
    let ca_dir = path(dir.path(), "nowhere");
    let out = run(
        &[
            &base[..],
            &[
                &ca_dir,
                "--out",
                &out_dir,
                "--identity",
                "spiffe://cluster.local/ns/a/sa/b",
            ],
        ]
        .concat(),
        b"",
    );
    failed(&out, 1, &["nowhere/ca.crt"]);
    let out = run(
        &[
            &base[..],
            &[&ca_dir, "--out", &out_dir, "--identity", "web"],
        ]
        .concat(),
        b"",
    );
    failed(&out, 2, &["spiffe://"]);
    assert!(!dir.path().join("out").exists(), "nothing written");
}

#[test]
fn issue_refuses_identities_outside_the_issuers_trust_domain() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    assert!(create(&ca_dir, &[]).status.success());
    let (ca_dir, out_dir) = (ca_dir.display().to_string(), path(dir.path(), "out"));
    let out = run(
        &[
            "certs",
            "issue",
            "--identity",
            "spiffe://evil.example/ns/shop/sa/web",
            "--ca-dir",
            &ca_dir,
            "--out",
            &out_dir,
        ],
        b"",
    );
    failed(
        &out,
        1,
        &[
            "spiffe://evil.example/ns/shop/sa/web",
            "outside trust domain `cluster.local`",
        ],
    );
    assert!(!dir.path().join("out").exists(), "nothing written");
}

#[test]
fn issue_force_leaves_an_existing_key_file_0600() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    assert!(create(&ca_dir, &[]).status.success());
    let out_dir = dir.path().join("web");
    std::fs::create_dir_all(&out_dir).unwrap();
    // A key file someone left world-readable.
    let key = out_dir.join("key.pem");
    std::fs::write(&key, "old").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(
        &[
            "certs",
            "issue",
            "--identity",
            "spiffe://cluster.local/ns/shop/sa/web",
            "--ca-dir",
            &ca_dir.display().to_string(),
            "--out",
            &out_dir.display().to_string(),
            "--force",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
