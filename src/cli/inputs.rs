//! Reads the manifests named on the command line: files, directories (recursively, `.yaml`,
//! `.yml`, `.json`, in name order) and `-` for stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// One input read into memory, with the name used in messages.
pub struct Source {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Reads every input, so that nothing is written unless all of them could be read.
pub fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut sources = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if stdin_read {
                bail!("`-` (stdin) given twice; stdin can be read only once");
            }
            stdin_read = true;
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .context("cannot read stdin")?;
            sources.push(Source {
                name: "<stdin>".to_owned(),
                bytes,
            });
            continue;
        }
        let metadata = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}: check the path", path.display()))?;
        if metadata.is_dir() {
            let mut files = Vec::new();
            collect_manifests(path, &mut files)?;
            if files.is_empty() {
                bail!(
                    "{}: no .yaml, .yml or .json files in this directory",
                    path.display()
                );
            }
            files.sort();
            for file in files {
                sources.push(read_file(&file)?);
            }
        } else {
            sources.push(read_file(path)?);
        }
    }
    Ok(sources)
}

fn read_file(path: &Path) -> anyhow::Result<Source> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Source {
        name: path.display().to_string(),
        bytes,
    })
}

/// Manifest files under `dir`. Symlinked directories are not followed (no loops).
fn collect_manifests(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .with_context(|| format!("cannot stat {}", path.display()))?;
        if file_type.is_dir() {
            collect_manifests(&path, files)?;
        } else if is_manifest(&path) && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["yaml", "yml", "json"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The sources as the library reads them.
pub fn as_inputs(sources: &[Source]) -> Vec<meshctl::inject::Input<'_>> {
    sources
        .iter()
        .map(|s| meshctl::inject::Input {
            name: &s.name,
            bytes: &s.bytes,
        })
        .collect()
}

/// The objects of the manifests `paths` as translation takes them, and the findings of the
/// documents that could not be read.
pub fn read_objects(
    paths: &[PathBuf],
) -> anyhow::Result<(meshctl::translate::Inputs, Vec<meshctl::translate::Finding>)> {
    let sources = read_all(paths)?;
    Ok(meshctl::translate::Inputs::from_documents(&as_inputs(
        &sources,
    )))
}

/// How long reading the cluster's objects may take.
pub const LIST_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// The cluster's objects, read as the controller reads them, and the context's namespace.
pub async fn read_cluster(
    global: &super::GlobalArgs,
) -> anyhow::Result<(meshctl::translate::Inputs, String)> {
    let conn = super::control_plane::connect(global).await?;
    let inputs = meshctl::controller::source::read_once(&conn.client, LIST_WITHIN).await?;
    Ok((inputs, conn.namespace))
}

/// Runs `op` over the sources; writes the report to stderr and then, only if everything
/// succeeded, the whole output to stdout.
pub fn process(sources: &[Source], op: &meshctl::inject::Operation) -> anyhow::Result<()> {
    use std::io::Write;
    let inputs = as_inputs(sources);
    let output = meshctl::inject::run(&inputs, op)?;
    // Buffered: unbuffered stderr made several write calls per line (45,000 for 10,000 objects).
    let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
    for entry in &output.report {
        // The report is advisory: a closed stderr must not lose the manifests.
        let _ = writeln!(stderr, "{entry}");
    }
    let _ = stderr.flush();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
