//! Compiles the wire protocols in `proto/` with protox (pure Rust: no protoc needed), and
//! passes `link-order.txt` to the linker.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fds = protox::compile(["proto/identity.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    link_order();
    Ok(())
}

/// Places the functions `meshctl proxy` runs next to each other (bench/link-order.sh lists
/// them): the kernel maps code in 64 kB blocks around each page used, so spread over the
/// binary they kept 7 MB of code resident in an idle proxy, together 2 MB. Only LLD knows the
/// option; Rust links with it by default on x86_64 Linux since 1.90.
fn link_order() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let target = std::env::var("TARGET").unwrap_or_default();
    // A linker chosen by the user may not be LLD.
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let linker_set = std::env::vars()
        .any(|(k, _)| k.starts_with("CARGO_TARGET_") && k.ends_with("_LINKER"))
        || flags.contains("linker");
    if target != "x86_64-unknown-linux-gnu" || linker_set || rustc_minor() < Some(90) {
        return;
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link-order.txt");
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    // Names from an older build that no longer exist are expected, not worth a warning.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// The minor version of the compiler that builds the crate (`rustc 1.95.0 (...)` gives 95).
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace()
        .nth(1)?
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}
