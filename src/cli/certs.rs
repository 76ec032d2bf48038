//! `meshctl certs`: create the mesh's trust anchor and issuer, issue workload leaves for
//! static proxies, and inspect PEM certificates.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, bail};
use comfy_table::Table;
use meshctl::identity::ca::{self, Ca};
use meshctl::identity::csr::LeafRequest;
use meshctl::identity::tls::verify_chain;
use meshctl::identity::{SpiffeId, inspect, pem};
use meshctl::model::duration::Duration;

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertsCommand {
    /// Create a trust anchor (root) and an issuer for a trust domain (ECDSA P-256)
    Create(CreateArgs),
    /// Show subject, SANs, validity, issuer and chain status of PEM certificates
    Inspect(InspectArgs),
    /// Issue a workload leaf (cert.pem, key.pem, roots.pem) for a proxy's static `identity:`
    Issue(IssueArgs),
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// The SPIFFE id to certify: spiffe://<trust-domain>/ns/<ns>/sa/<sa>
    #[arg(long, value_name = "ID")]
    identity: SpiffeId,
    /// Directory holding ca.crt, issuer.crt and issuer.key (as `certs create` wrote them)
    #[arg(long, value_name = "DIR")]
    ca_dir: PathBuf,
    /// Directory to write cert.pem (leaf + issuer), key.pem and roots.pem into
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Lifetime of the leaf
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    validity: Duration,
    /// Overwrite files that already exist
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// Trust domain of the mesh's SPIFFE ids (spiffe://<trust-domain>/ns/<ns>/sa/<sa>)
    #[arg(long, value_name = "DOMAIN")]
    trust_domain: String,
    /// Directory to write ca.crt, ca.key, issuer.crt and issuer.key into (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Lifetime of the trust anchor
    #[arg(long, value_name = "DURATION", default_value = "87600h")]
    anchor_validity: Duration,
    /// Lifetime of the issuer (at most the anchor's)
    #[arg(long, value_name = "DURATION", default_value = "8760h")]
    issuer_validity: Duration,
    /// Overwrite files that already exist
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// PEM files holding certificates (give the issuer and anchor too to check chains)
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: super::TableOrJson,
}

pub fn run(args: CertsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CertsCommand::Create(args) => create(args),
        CertsCommand::Inspect(args) => inspect_files(args),
        CertsCommand::Issue(args) => issue(args),
    }
}

/// Writes the files (name, text, mode) into `out`, creating it; returns their paths. When
/// any of them exists nothing is written, unless `force`.
fn write_files<const N: usize>(
    out: &Path,
    files: [(&str, String, u32); N],
    force: bool,
) -> anyhow::Result<[PathBuf; N]> {
    let paths = files.each_ref().map(|(name, _, _)| out.join(name));
    let existing: Vec<String> = paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !force && !existing.is_empty() {
        bail!(
            "{} already exist(s); nothing was written. Pass --force to overwrite, or choose \
             another --out",
            existing.join(", ")
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create directory {}", out.display()))?;
    for (path, (_, text, mode)) in paths.iter().zip(&files) {
        write_file(path, text, *mode, force)?;
    }
    Ok(paths)
}

fn issue(args: IssueArgs) -> anyhow::Result<ExitCode> {
    let anchor_path = args.ca_dir.join("ca.crt");
    let issuer_path = args.ca_dir.join("issuer.crt");
    let anchors = pem::read_certs(&anchor_path)?;
    let issuer = pem::read_certs(&issuer_path)?.remove(0);
    let issuer_key = pem::read_key(&args.ca_dir.join("issuer.key"))?;
    let ca = Ca::new(issuer, issuer_key, args.validity.get())
        .with_context(|| format!("{} cannot issue", issuer_path.display()))?;
    if args.identity.trust_domain() != ca.trust_domain() {
        bail!(
            "cannot issue {}: it is outside trust domain `{}` of {}; ask for \
             spiffe://{}/ns/<ns>/sa/<sa>, or use --ca-dir of that trust domain's issuer",
            args.identity,
            ca.trust_domain(),
            issuer_path.display(),
            ca.trust_domain()
        );
    }
    let request = LeafRequest::new(&args.identity)?;
    let leaf = ca.sign(request.csr_der(), &args.identity, SystemTime::now())?;
    let now = rustls::pki_types::UnixTime::now();
    verify_chain(&leaf.chain, &anchors, now).with_context(|| {
        format!(
            "{} does not chain to {}; are they from the same `certs create`?",
            issuer_path.display(),
            anchor_path.display()
        )
    })?;
    let key = request.into_key();
    let files = [
        ("cert.pem", pem::encode_certs(&leaf.chain), 0o644),
        ("key.pem", key.serialize_pem(), 0o600),
        ("roots.pem", pem::encode_certs(&anchors), 0o644),
    ];
    let paths = write_files(&args.out, files, args.force)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Issued {} (valid until {}) in {}:",
        args.identity,
        inspect::rfc3339(leaf.not_after),
        args.out.display()
    )?;
    for path in &paths {
        writeln!(out, "  {}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let generated = ca::generate(
        &args.trust_domain,
        args.anchor_validity.get(),
        args.issuer_validity.get(),
        SystemTime::now(),
    )?;
    let files = [
        ("ca.crt", generated.anchor.pem(), 0o644),
        ("ca.key", generated.anchor_key.serialize_pem(), 0o600),
        ("issuer.crt", generated.issuer.pem(), 0o644),
        ("issuer.key", generated.issuer_key.serialize_pem(), 0o600),
    ];
    let paths = write_files(&args.out, files, args.force)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Created the trust anchor and issuer for trust domain {} in {}:",
        args.trust_domain,
        args.out.display()
    )?;
    let notes = [
        format!("trust anchor, valid {}", args.anchor_validity),
        "trust anchor key: keep it offline".to_owned(),
        format!(
            "issuer, signed by the anchor, valid {}",
            args.issuer_validity
        ),
        "issuer key: the CA signs workload certificates with it".to_owned(),
    ];
    for (path, note) in paths.iter().zip(notes) {
        writeln!(out, "  {}  ({note})", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one file, never following into an existing one unless `force`; the file ends with
/// `mode` either way (an overwritten key that was 0644 becomes 0600: open's mode applies only
/// to a file it creates).
fn write_file(path: &Path, text: &str, mode: u32, force: bool) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Before the secret goes in.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set mode {mode:o} on {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn inspect_files(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let file = pem::PemFile::read(path)?;
        for key in &file.keys {
            pem::p256_key(path, key)?;
        }
        files.push((path.display().to_string(), file.into_certs()?));
    }
    let inputs: Vec<inspect::Input<'_>> = files
        .iter()
        .flat_map(|(name, certs)| {
            certs.iter().enumerate().map(|(i, der)| inspect::Input {
                file: name,
                number: i + 1,
                der,
            })
        })
        .collect();
    let facts = inspect::inspect(&inputs, SystemTime::now());

    let mut out = std::io::stdout().lock();
    match args.output {
        super::TableOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "certificates": facts }))?;
            writeln!(out)?;
        }
        super::TableOrJson::Table => writeln!(out, "{}", table(&facts))?,
    }
    out.flush()?;
    drop(out);

    let mut problems = Vec::new();
    for cert in &facts {
        let name = format!("{} #{} `{}`", cert.file, cert.number, cert.subject);
        for warning in &cert.warnings {
            eprintln!("warning: {name}: {warning}");
        }
        problems.extend(cert.problems.iter().map(|p| format!("{name}: {p}")));
    }
    if !problems.is_empty() {
        bail!(
            "{} problem(s) found:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn table(facts: &[inspect::CertFacts]) -> Table {
    let mut table = super::stdout_table();
    table.set_header([
        "FILE",
        "SUBJECT",
        "SANS",
        "ISSUER",
        "KEY",
        "NOT BEFORE",
        "NOT AFTER",
        "CHAIN",
        "STATUS",
    ]);
    for cert in facts {
        let status = match (cert.problems.first(), cert.warnings.first()) {
            (Some(problem), _) => format!("ERROR: {problem}"),
            (None, Some(_)) => format!("WARNING: expires in {} days", cert.expires_in_days),
            (None, None) => format!("ok ({} days left)", cert.expires_in_days),
        };
        let ca = if cert.is_ca { " (CA)" } else { "" };
        table.add_row([
            format!("{} #{}", cert.file, cert.number),
            format!("{}{ca}", cert.subject),
            cert.sans.join("\n"),
            cert.issuer.clone(),
            cert.key.clone(),
            cert.not_before.clone(),
            cert.not_after.clone(),
            cert.chain.to_string(),
            status,
        ]);
    }
    table
}
