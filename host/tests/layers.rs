//! The architecture, checked: the layering written down in `src/lib.rs`
//! holds (no module uses one of a higher layer; the Firehose wire types
//! stay at the edge), and no source file grows past what a reader can hold.
//!
//! It reads the source as text (no compiler involved): a module's
//! dependencies are the `crate::<module>` paths in its files (`weir::` in
//! the binary's `cli/`), comments excluded.

#![allow(clippy::unwrap_used)] // a test: a failure to read the source is a failure

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lines of a non-test source file at the most (code before its
/// `#[cfg(test)]` module).
const MAX_FILE_LINES: usize = 600;

/// The layer table from the crate docs: module → (rank, only-used-by).
fn layers() -> BTreeMap<String, (usize, Option<Vec<String>>)> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let table: Vec<&str> = lib
        .lines()
        .skip_while(|l| !l.contains("## Layers"))
        .skip_while(|l| !l.contains("```text"))
        .skip(1)
        .take_while(|l| !l.contains("```"))
        .collect();
    assert!(
        !table.is_empty(),
        "src/lib.rs has no layer table under `## Layers`"
    );
    let mut out = BTreeMap::new();
    let rows = table.len();
    for (i, row) in table.iter().enumerate() {
        let row = row.trim_start_matches("//!").trim();
        let (_, modules) = row.split_once(':').unwrap();
        for m in modules.split_whitespace() {
            // `firehose(server,cli)`: only those may use it.
            let (name, only) = match m.split_once('(') {
                Some((n, o)) => (
                    n,
                    Some(
                        o.trim_end_matches(')')
                            .split(',')
                            .map(String::from)
                            .collect(),
                    ),
                ),
                None => (m, None),
            };
            // The first row is the top layer.
            out.insert(name.to_string(), (rows - i, only));
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`pipeline/build.rs` → `pipeline`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The crate's modules a file uses.
fn uses(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn no_module_uses_one_above_it() {
    let layers = layers();
    let mut files = Vec::new();
    rs_files(&src(), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let module = module_of(file);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let prefix = if module == "cli" { "weir::" } else { "crate::" };
        let Some((rank, _)) = layers.get(&module) else {
            problems.push(format!(
                "{}: module `{module}` is not in the layer table",
                file.display()
            ));
            continue;
        };
        for used in uses(&text, prefix) {
            if used == module {
                continue;
            }
            let Some((used_rank, only)) = layers.get(&used) else {
                problems.push(format!(
                    "{}: uses `{used}`, which is not in the layer table",
                    file.display()
                ));
                continue;
            };
            if used_rank > rank {
                problems.push(format!(
                    "{}: `{module}` uses `{used}`, a higher layer",
                    file.display()
                ));
            }
            if let Some(only) = only
                && !only.contains(&module)
            {
                problems.push(format!(
                    "{}: `{module}` uses `{used}`, which only {only:?} may use",
                    file.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

/// Source files of the workspace that are not tests, with their code lines
/// (before the first `#[cfg(test)]`).
fn source_files() -> Vec<(PathBuf, usize)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut files = Vec::new();
    rs_files(&src(), &mut files);
    for dir in ["plugins", "tools"] {
        for krate in std::fs::read_dir(root.join(dir)).unwrap() {
            let s = krate.unwrap().path().join("src");
            if s.is_dir() {
                rs_files(&s, &mut files);
            }
        }
    }
    files
        .into_iter()
        .filter(|f| f.file_name().is_none_or(|n| n != "tests.rs"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let code = text
                .lines()
                .take_while(|l| !l.contains("#[cfg(test)]"))
                .count();
            (f, code)
        })
        .collect()
}

#[test]
fn no_source_file_is_too_long() {
    let long: Vec<String> = source_files()
        .into_iter()
        .filter(|(_, n)| *n > MAX_FILE_LINES)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_FILE_LINES} lines of code:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_a_violation() {
    // A control: the parser finds what a violating file would use.
    assert_eq!(
        uses("use crate::pipeline::Batch; // crate::server", "crate::"),
        vec!["pipeline"]
    );
    let layers = layers();
    assert!(layers["server"].0 > layers["pipeline"].0);
    assert!(layers["pipeline"].0 > layers["config"].0);
}
