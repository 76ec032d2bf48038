//! Compiles the wire protocols in `proto/` with protox (pure Rust: no protoc needed), and
//! passes `link-order.txt` and packed relocations to the linker.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fds = protox::compile(
        [
            "proto/identity.proto",
            "proto/discovery.proto",
            "proto/opentelemetry/proto/collector/trace/v1/trace_service.proto",
        ],
        ["proto"],
    )?;
    // Discovery's JSON travels as shared `Bytes`: one encoding of a service is sent to every
    // proxy without a copy per proxy.
    tonic_prost_build::configure()
        .bytes(".meshctl.discovery.v1")
        .codec_path("crate::api::codec::SmallBuffers")
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    link_order()?;
    packed_relocations();
    Ok(())
}

/// Places the functions `meshctl proxy` runs next to each other (bench/link-order.sh lists
/// them): the kernel maps code in 64 kB blocks around each page used, so spread over the
/// binary they kept 7 MB of code resident in an idle proxy, together 2 MB. Only LLD knows the
/// option, and which linker a toolchain uses (rustup's rust-lld, a distro's ld, mold, a
/// configured one) cannot be read off reliably: a trial link with the same compiler, flags
/// and linker decides, and without it the binary links as usual.
fn link_order() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=link-order.txt");
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTC_LINKER"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // A copy in OUT_DIR, not the source path: a target dir shared by several clones (CI's
    // cache) reuses this script's output, and a path into a deleted clone breaks the link.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let file = out.join("link-order.txt");
    std::fs::copy("link-order.txt", &file)?;
    let args = [
        format!("-Wl,--symbol-ordering-file={}", file.display()),
        // Names from an older build that no longer exist are expected, not worth a warning.
        "-Wl,--no-warn-symbol-ordering".to_owned(),
    ];
    if links_with(&out, &args).is_some() {
        for arg in args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
    Ok(())
}

/// Relative relocations packed (DT_RELR): the loader reads every relocation at start-up and
/// the pages stay resident, 1 MB of them in an idle proxy as plain RELA entries, a few kB
/// packed. Needs glibc 2.36 at run time, so only when the trial binary also runs here (the
/// image builds and runs on the same Debian release).
fn packed_relocations() {
    let args = ["-Wl,-z,pack-relative-relocs".to_owned()];
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    let runs = |probe: std::path::PathBuf| {
        std::process::Command::new(probe)
            .status()
            .is_ok_and(|s| s.success())
    };
    if native && links_with(&out, &args).is_some_and(runs) {
        println!("cargo:rustc-link-arg-bins={}", args[0]);
    }
}

/// The empty program linked with `args` given to the linker the crate will use (None: the
/// link failed).
fn links_with(dir: &std::path::Path, args: &[String]) -> Option<std::path::PathBuf> {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let main = dir.join("link_probe.rs");
    std::fs::write(&main, "fn main() {}\n").ok()?;
    let probe = dir.join("link_probe");
    let mut rustc = std::process::Command::new(env("RUSTC"));
    rustc.arg("--target").arg(env("TARGET"));
    rustc.args(
        env("CARGO_ENCODED_RUSTFLAGS")
            .split('\x1f')
            .filter(|f| !f.is_empty()),
    );
    if let Ok(linker) = std::env::var("RUSTC_LINKER") {
        rustc.arg("-C").arg(format!("linker={linker}"));
    }
    for arg in args {
        rustc.arg("-C").arg(format!("link-arg={arg}"));
    }
    rustc
        .arg("-o")
        .arg(&probe)
        .arg(&main)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        .then_some(probe)
}
