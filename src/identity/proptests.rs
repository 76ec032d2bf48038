//! Fuzzing the certificate and key files operators hand to `certs inspect`, `install
//! --identity-*-file` and the proxy: damaged DER or PEM text is read or refused naming the
//! file, and inspecting whatever parses never panics.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use rustls::pki_types::CertificateDer;

use super::ca;
use super::inspect::{Input, inspect};
use super::pem::{PemFile, encode_certs};

/// A real anchor and issuer (DER), and the issuer's key (PEM): generated once, P-256 is slow
/// in debug builds.
fn material() -> &'static (Vec<u8>, Vec<u8>, String) {
    static MATERIAL: OnceLock<(Vec<u8>, Vec<u8>, String)> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let now = SystemTime::now();
        let year = Duration::from_secs(365 * 86_400);
        let g = ca::generate("cluster.local", 2 * year, year, now).unwrap();
        (
            g.anchor.der().to_vec(),
            g.issuer.der().to_vec(),
            g.issuer_key.serialize_pem(),
        )
    })
}

/// `der` with a few bytes replaced, or cut short.
fn damaged(der: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let n = der.len();
    (
        prop::collection::vec((0..n, any::<u8>()), 1..4),
        0..4u8,
        1..n,
    )
        .prop_map(move |(edits, how, cut)| {
            let mut out = der.to_vec();
            for (at, byte) in edits {
                out[at] = byte;
            }
            if how == 0 {
                out.truncate(cut);
            }
            out
        })
}

/// PEM text with a part removed or something spliced in.
fn spliced(text: String) -> impl Strategy<Value = Vec<u8>> {
    let n = text.len();
    (0..n, 0..n, "[-A-Za-z0-9+/= \\n]{0,20}").prop_map(move |(a, b, junk)| {
        let (from, to) = (a.min(b), a.max(b));
        let mut out = text.as_bytes()[..from].to_vec();
        out.extend(junk.as_bytes());
        out.extend(&text.as_bytes()[to..]);
        out
    })
}

fn refused_by_name(err: &impl std::fmt::Display) -> bool {
    err.to_string().starts_with("fuzz.pem: ")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_damaged_certificate_is_read_or_refused_and_inspects_without_panic(
        der in damaged(&material().1),
    ) {
        let (anchor, ..) = material();
        let text = encode_certs(&[CertificateDer::from(der)]);
        match PemFile::parse(Path::new("fuzz.pem"), text.as_bytes()) {
            Ok(file) => {
                let anchor = CertificateDer::from(anchor.clone());
                let mut inputs = vec![Input { file: "ca.pem", number: 1, der: &anchor }];
                inputs.extend(file.certs.iter().enumerate().map(|(i, der)| Input {
                    file: "fuzz.pem",
                    number: i + 1,
                    der,
                }));
                let facts = inspect(&inputs, SystemTime::now());
                prop_assert_eq!(facts.len(), inputs.len());
            }
            Err(e) => prop_assert!(refused_by_name(&e), "{}", e),
        }
    }

    #[test]
    fn damaged_pem_text_is_read_or_refused_by_name(
        bytes in spliced(encode_certs(&[CertificateDer::from(material().1.clone())])),
    ) {
        if let Err(e) = PemFile::parse(Path::new("fuzz.pem"), &bytes).and_then(PemFile::into_certs) {
            prop_assert!(refused_by_name(&e), "{}", e);
        }
    }

    #[test]
    fn a_damaged_key_is_read_or_refused_by_name(bytes in spliced(material().2.clone())) {
        if let Err(e) = PemFile::parse(Path::new("fuzz.pem"), &bytes).and_then(PemFile::into_key) {
            prop_assert!(refused_by_name(&e), "{}", e);
        }
    }
}
