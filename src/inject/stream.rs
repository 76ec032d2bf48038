//! Streams of documents in and out: YAML multi-document text and JSON values, split so that
//! every document keeps its raw text and unchanged ones are written back byte for byte.

use serde_json::Value;

use super::Operation;
use super::object::{self, ObjectError};
use super::report::Entry;

/// The syntax of one input, and of its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// By file extension, else by content: JSON starts with `{` or `[`.
    pub fn detect(name: &str, text: &str) -> Format {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".json") {
            return Format::Json;
        }
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            return Format::Yaml;
        }
        match text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .as_bytes()
            .first()
        {
            Some(b'{' | b'[') => Format::Json,
            _ => Format::Yaml,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        }
    }
}

/// One input: a file name for messages (`<stdin>` for `-`) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// Everything that stops a run. Each names the file, the document and the line in the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: line {line}, column {column}: not UTF-8 text; save the file as UTF-8")]
    Encoding {
        file: String,
        line: usize,
        column: usize,
    },
    #[error(
        "{file}: document {document}, line {line}, column {column}: invalid {format}: {message}"
    )]
    Syntax {
        file: String,
        document: usize,
        line: usize,
        column: usize,
        format: &'static str,
        message: String,
    },
    #[error("{file}: document {document} (line {line}): {problem}")]
    Object {
        file: String,
        document: usize,
        line: usize,
        problem: Box<ObjectError>,
    },
    #[error("{file}: document {document} (line {line}): cannot write it back as YAML: {message}")]
    Write {
        file: String,
        document: usize,
        line: usize,
        message: String,
    },
}

/// The rewritten stream and what happened to each object.
#[derive(Debug, Default)]
pub struct Output {
    pub text: String,
    pub report: Vec<Entry>,
}

/// Applies `op` to every document of every input, in order. Either everything parses and is
/// processed, or nothing is returned.
pub fn run(inputs: &[Input<'_>], op: &Operation) -> Result<Output, Error> {
    let mut texts = Vec::with_capacity(inputs.len());
    for input in inputs {
        let text = std::str::from_utf8(input.bytes).map_err(|e| {
            let (line, column) = line_column(input.bytes, e.valid_up_to());
            Error::Encoding {
                file: input.name.to_owned(),
                line,
                column,
            }
        })?;
        texts.push((input.name, text, Format::detect(input.name, text)));
    }
    let all_json = texts.iter().all(|(_, _, format)| *format == Format::Json);
    let total: usize = inputs.iter().map(|i| i.bytes.len()).sum();
    let mut out = Output {
        text: String::with_capacity(total + total / 2),
        report: Vec::new(),
    };
    for (name, text, format) in texts {
        if !out.text.is_empty() {
            if !out.text.ends_with('\n') {
                out.text.push('\n');
            }
            if !all_json && !text.starts_with("---") {
                out.text.push_str("---\n");
            }
        }
        let mut file = File {
            name,
            op,
            out: &mut out,
            separate_json: !all_json,
        };
        match format {
            Format::Yaml => file.yaml(text)?,
            Format::Json => file.json(text)?,
        }
    }
    if !out.text.is_empty() && !out.text.ends_with('\n') {
        out.text.push('\n');
    }
    Ok(out)
}

/// One input file being processed into the output.
struct File<'a, 'o> {
    name: &'a str,
    op: &'a Operation,
    out: &'o mut Output,
    /// JSON documents inside a YAML output stream need `---` between them.
    separate_json: bool,
}

impl File<'_, '_> {
    fn yaml(&mut self, text: &str) -> Result<(), Error> {
        let chunks = split_yaml(text);
        let mut document = 0;
        let numbered: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                document += usize::from(chunk.content.is_some());
                (chunk, document)
            })
            .collect();
        let (name, op) = (self.name, self.op);
        let done = in_parallel(&numbered, |(chunk, document)| {
            yaml_document(name, op, chunk, *document)
        });
        for ((chunk, _), done) in numbered.iter().zip(done) {
            let done = done?;
            self.out.report.extend(done.report);
            self.out
                .text
                .push_str(done.text.as_deref().unwrap_or(chunk.text));
        }
        Ok(())
    }

    fn json(&mut self, text: &str) -> Result<(), Error> {
        // serde_json does not skip a byte-order mark; keep it as it was.
        let bom = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        self.out.text.push_str(&text[..bom]);
        let text = &text[bom..];
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let mut position = 0;
        let mut line = 1;
        let mut document = 0;
        loop {
            let rest = &text[position..];
            let start =
                position + (rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len());
            line += text[position..start].matches('\n').count();
            let parsed = match values.next() {
                None => break,
                Some(parsed) => parsed,
            };
            document += 1;
            let mut value = parsed.map_err(|e| Error::Syntax {
                file: self.name.to_owned(),
                document,
                line: e.line(),
                column: e.column(),
                format: Format::Json.name(),
                message: json_message(&e),
            })?;
            let end = values.byte_offset();
            if self.separate_json && document > 1 {
                self.out.text.push_str("\n---\n");
            }
            self.out.text.push_str(&text[position..start]);
            if self.apply(&mut value, document, line)? {
                let pretty =
                    serde_json::to_string_pretty(&value).expect("a Value always serializes");
                self.out.text.push_str(&pretty);
                if !text[end..].starts_with(['\n', '\r']) {
                    self.out.text.push('\n');
                }
            } else {
                self.out.text.push_str(&text[start..end]);
            }
            line += text[start..end].matches('\n').count();
            position = end;
        }
        self.out.text.push_str(&text[position..]);
        Ok(())
    }

    fn apply(&mut self, value: &mut Value, document: usize, line: usize) -> Result<bool, Error> {
        apply(
            self.name,
            self.op,
            value,
            document,
            line,
            &mut self.out.report,
        )
    }
}

/// One document of an input, parsed and left as it is (for readers such as `analyze`).
#[derive(Clone, Debug)]
pub struct Document {
    pub file: String,
    /// 1-based index among the file's documents.
    pub document: usize,
    /// 1-based line in the file where the document starts.
    pub line: usize,
    pub value: Value,
}

/// Parses every document of every input (YAML multi-document or JSON values), in order;
/// a document that does not parse is an error naming file, document and line, and the
/// others are still read (a JSON file stops at its first bad value).
pub fn documents(inputs: &[Input<'_>]) -> Vec<Result<Document, Error>> {
    let mut out = Vec::new();
    for input in inputs {
        let text = match std::str::from_utf8(input.bytes) {
            Ok(text) => text,
            Err(e) => {
                let (line, column) = line_column(input.bytes, e.valid_up_to());
                out.push(Err(Error::Encoding {
                    file: input.name.to_owned(),
                    line,
                    column,
                }));
                continue;
            }
        };
        match Format::detect(input.name, text) {
            Format::Yaml => yaml_documents(input.name, text, &mut out),
            Format::Json => json_documents(input.name, text, &mut out),
        }
    }
    out
}

fn yaml_documents(name: &str, text: &str, out: &mut Vec<Result<Document, Error>>) {
    let mut document = 0;
    for chunk in split_yaml(text) {
        let Some(content) = &chunk.content else {
            continue;
        };
        document += 1;
        let line = chunk.first_line + line_column(chunk.text.as_bytes(), content.start).0 - 1;
        let options = serde_saphyr::options! { legacy_octal_numbers: true, emit_comments: false };
        let parsed = serde_saphyr::from_str_with_options::<Value>(chunk.text, options)
            .map_err(|e| yaml_error(name, &e, document, chunk.first_line));
        out.push(parsed.map(|value| Document {
            file: name.to_owned(),
            document,
            line,
            value,
        }));
    }
}

fn json_documents(name: &str, text: &str, out: &mut Vec<Result<Document, Error>>) {
    let text = text.trim_start_matches('\u{feff}');
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut document = 0;
    let mut position = 0;
    while let Some(parsed) = values.next() {
        document += 1;
        let rest = &text[position..];
        let start = position + (rest.len() - rest.trim_start().len());
        let line = text[..start].matches('\n').count() + 1;
        match parsed {
            Ok(value) => out.push(Ok(Document {
                file: name.to_owned(),
                document,
                line,
                value,
            })),
            Err(e) => {
                out.push(Err(Error::Syntax {
                    file: name.to_owned(),
                    document,
                    line: e.line(),
                    column: e.column(),
                    format: Format::Json.name(),
                    message: json_message(&e),
                }));
                return;
            }
        }
        position = values.byte_offset();
    }
}

/// One YAML document's outcome: its new text (`None`: the chunk is kept byte for byte) and
/// what happened to its objects.
struct Done {
    text: Option<String>,
    report: Vec<Entry>,
}

/// Parses one YAML document, applies the operation, and writes it back only if it changed.
fn yaml_document(
    name: &str,
    op: &Operation,
    chunk: &Chunk<'_>,
    document: usize,
) -> Result<Done, Error> {
    let mut done = Done {
        text: None,
        report: Vec::new(),
    };
    let Some(content) = &chunk.content else {
        return Ok(done);
    };
    let line = chunk.first_line + line_column(chunk.text.as_bytes(), content.start).0 - 1;
    // Comments inside a document are lost when it is rewritten anyway; not collecting them
    // saves about 7 % of the parse (the parser still checks their syntax).
    let options = serde_saphyr::options! { legacy_octal_numbers: true, emit_comments: false };
    let mut value: Value = serde_saphyr::from_str_with_options(chunk.text, options)
        .map_err(|e| yaml_error(name, &e, document, chunk.first_line))?;
    if value.is_null() || !apply(name, op, &mut value, document, line, &mut done.report)? {
        return Ok(done);
    }
    let yaml = serde_saphyr::to_string(&value).map_err(|e| Error::Write {
        file: name.to_owned(),
        document,
        line,
        message: e.to_string(),
    })?;
    let mut text = String::with_capacity(chunk.text.len() + yaml.len());
    text.push_str(&chunk.text[..content.start]);
    if content.on_marker_line {
        text.push_str("---\n");
    }
    text.push_str(&yaml);
    if !yaml.ends_with('\n') {
        text.push('\n');
    }
    let rest = &chunk.text[content.end..];
    text.push_str(if yaml.ends_with("\n\n") {
        after_blank_lines(rest)
    } else {
        rest
    });
    done.text = Some(text);
    Ok(done)
}

/// `rest` without its leading blank lines. Used after a new text ending in a keep-chomped
/// (`|+`) block scalar, the only way it ends in a blank line: blank lines after it would
/// lengthen that scalar's value.
fn after_blank_lines(rest: &str) -> &str {
    let blank: usize = rest
        .split_inclusive('\n')
        .take_while(|line| line.trim().is_empty())
        .map(str::len)
        .sum();
    &rest[blank..]
}

fn yaml_error(name: &str, e: &serde_saphyr::Error, document: usize, first_line: usize) -> Error {
    let (line, column) = e
        .location()
        .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
    let plain = e.render_with_options(serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
    });
    // The plain rendering ends with the position in the document; ours is in the file.
    let message = match plain.rfind(" at line ") {
        Some(at) => plain[..at].to_owned(),
        None => plain,
    };
    Error::Syntax {
        file: name.to_owned(),
        document,
        line: first_line + line.max(1) - 1,
        column,
        format: Format::Yaml.name(),
        message,
    }
}

/// Runs the operation on one parsed document; returns whether it changed.
fn apply(
    name: &str,
    op: &Operation,
    value: &mut Value,
    document: usize,
    line: usize,
    report: &mut Vec<Entry>,
) -> Result<bool, Error> {
    let first = report.len();
    let label = format!("{name}: document {document}");
    object::apply(value, op, &label, report).map_err(|problem| Error::Object {
        file: name.to_owned(),
        document,
        line,
        problem: Box::new(problem),
    })?;
    Ok(report[first..].iter().any(Entry::changed))
}

/// Maps `f` over `items` on every core, in order. YAML parsing dominates inject's time and
/// documents are independent, so a long stream scales with cores; workers take small blocks
/// in turn so that uneven documents still share the work.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const BLOCK: usize = 16;
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len().div_ceil(BLOCK));
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut blocks: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let work = || {
            let mut mine = Vec::new();
            loop {
                let block = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let start = block * BLOCK;
                if start >= items.len() {
                    return mine;
                }
                let part = &items[start..items.len().min(start + BLOCK)];
                mine.push((block, part.iter().map(&f).collect()));
            }
        };
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    blocks.sort_unstable_by_key(|(block, _)| *block);
    blocks
        .into_iter()
        .flat_map(|(_, results)| results)
        .collect()
}

/// serde_json's message without its ` at line L column C` suffix (we print our own).
fn json_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// One YAML document's raw text, as delimited by `---` / `...` lines.
#[derive(Debug, PartialEq, Eq)]
struct Chunk<'a> {
    text: &'a str,
    /// 1-based line in the file where `text` starts.
    first_line: usize,
    content: Option<Content>,
}

/// Where the document's content lies inside its chunk: comments and markers before `start`
/// and comments after `end` are kept when the document is rewritten.
#[derive(Debug, PartialEq, Eq)]
struct Content {
    start: usize,
    end: usize,
    /// The content begins on the `---` line itself (`--- !tag` or `--- {a: 1}`).
    on_marker_line: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    /// `---`, possibly followed by a comment.
    Start,
    /// `---` followed by content on the same line.
    StartWithContent,
    /// `...`.
    End,
    /// Blank, a comment, or a directive before any content.
    Trivia,
    Content,
}

fn classify(line: &str, in_content: bool) -> LineKind {
    let marker_rest = |marker: &str| {
        line.strip_prefix(marker)
            .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
            .map(str::trim)
    };
    if let Some(rest) = marker_rest("---") {
        return if rest.is_empty() || rest.starts_with('#') {
            LineKind::Start
        } else {
            LineKind::StartWithContent
        };
    }
    if marker_rest("...").is_some() {
        return LineKind::End;
    }
    let trimmed = line.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || (!in_content && line.starts_with('%')) {
        LineKind::Trivia
    } else {
        LineKind::Content
    }
}

/// Splits a YAML stream into documents. A `---` line starts a new document unless only
/// comments precede it in the current one; a `...` line ends the current one.
fn split_yaml<'t>(text: &'t str) -> Vec<Chunk<'t>> {
    struct Open {
        start: usize,
        first_line: usize,
        has_marker: bool,
        content: Option<Content>,
    }
    let mut chunks = Vec::new();
    let mut open = Open {
        start: 0,
        first_line: 1,
        has_marker: false,
        content: None,
    };
    let mut position = 0;
    let mut line_number = 1;
    let close = |open: &mut Open, end: usize, next_line: usize, chunks: &mut Vec<Chunk<'t>>| {
        if end > open.start {
            chunks.push(Chunk {
                text: &text[open.start..end],
                first_line: open.first_line,
                content: open.content.take(),
            });
        }
        *open = Open {
            start: end,
            first_line: next_line,
            has_marker: false,
            content: None,
        };
    };
    for line in text.split_inclusive('\n') {
        let relative = position - open.start;
        let line_end = position + line.len();
        match classify(line, open.content.is_some()) {
            kind @ (LineKind::Start | LineKind::StartWithContent) => {
                if open.content.is_some() || open.has_marker {
                    close(&mut open, position, line_number, &mut chunks);
                }
                open.has_marker = true;
                if kind == LineKind::StartWithContent {
                    let relative = position - open.start;
                    open.content = Some(Content {
                        start: relative,
                        end: line_end - open.start,
                        on_marker_line: true,
                    });
                }
            }
            LineKind::End => close(&mut open, line_end, line_number + 1, &mut chunks),
            LineKind::Trivia => {}
            LineKind::Content => match &mut open.content {
                Some(content) => content.end = line_end - open.start,
                None => {
                    open.content = Some(Content {
                        start: relative,
                        end: line_end - open.start,
                        on_marker_line: false,
                    })
                }
            },
        }
        position = line_end;
        line_number += 1;
    }
    close(&mut open, text.len(), line_number, &mut chunks);
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<(&str, usize, bool)> {
        split_yaml(text)
            .into_iter()
            .map(|c| (c.text, c.first_line, c.content.is_some()))
            .collect()
    }

    #[test]
    fn splits_on_markers_and_keeps_every_byte() {
        let text =
            "# head\n---\na: 1\n# tail of a\n---\n---\nb: 2\n...\n# c\n--- # x\nc: |\n  ---x\n";
        let chunks = texts(text);
        assert_eq!(
            chunks,
            vec![
                ("# head\n---\na: 1\n# tail of a\n", 1, true),
                ("---\n", 5, false),
                ("---\nb: 2\n...\n", 6, true),
                ("# c\n--- # x\nc: |\n  ---x\n", 9, true),
            ]
        );
        assert_eq!(chunks.iter().map(|c| c.0).collect::<String>(), text);
    }

    #[test]
    fn content_bounds_leave_comments_outside() {
        let chunk = &split_yaml("---\n# about\na: 1\n  # inner\nb: 2\n# after\n")[0];
        let content = chunk.content.as_ref().unwrap();
        assert_eq!(
            &chunk.text[content.start..content.end],
            "a: 1\n  # inner\nb: 2\n"
        );
        let chunk = &split_yaml("--- {a: 1}\n")[0];
        assert!(chunk.content.as_ref().unwrap().on_marker_line);
    }

    #[test]
    fn a_keep_chomped_last_scalar_keeps_its_value_through_inject_and_uninject() {
        let op = Operation::Inject(super::super::InjectOptions::default());
        let original = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: a\n    args:\n    - |+\n\n\n# after\n";
        let run_text = |text: &str, op: &Operation| {
            let input = Input {
                name: "p.yaml",
                bytes: text.as_bytes(),
            };
            run(&[input], op).unwrap().text
        };
        let restored = run_text(&run_text(original, &op), &Operation::Uninject);
        let parse = |text: &str| -> Value { serde_saphyr::from_str(text).unwrap() };
        assert_eq!(parse(&restored), parse(original));
        assert!(restored.ends_with("# after\n"), "{restored}");
    }

    #[test]
    fn formats_are_detected() {
        assert_eq!(Format::detect("a.JSON", "x: 1"), Format::Json);
        assert_eq!(Format::detect("a.yml", "{}"), Format::Yaml);
        assert_eq!(Format::detect("<stdin>", "\n  [1]"), Format::Json);
        assert_eq!(Format::detect("<stdin>", "a: {}"), Format::Yaml);
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncdé f".as_bytes(), 8), (2, 5));
        assert_eq!(line_column(b"", 0), (1, 1));
    }
}
