//! Build-script part: embeds the plugin project templates of
//! `plugins/templates/<lang>/` (for `weir plugin new`) in `weir`.
//!
//! Layout contract (`README.md`, "Writing a plugin"):
//!
//! - every file under `plugins/templates/<lang>/` is written into the new
//!   project at the same relative path, with `__NAME__` (kebab-case) and
//!   `__NAME_SNAKE__` (snake_case) replaced in its contents (UTF-8 files)
//!   and its path; the executable bit is kept;
//! - except `plugins/templates/<lang>/VENDOR` (not written): each line
//!   `<path in the repository> <path in the project>` copies a file or a
//!   directory of the repository into the project as it is (no
//!   placeholders); a `Cargo.toml` among them that inherits from the
//!   workspace is rewritten to stand alone;
//! - `wit/plugin.wit` (the host's own copy of the contract) is written to
//!   the project's `wit/plugin.wit`, for every language.
//!
//! Directories and files that are build output (`target`, `node_modules`,
//! `__pycache__`, …) are never embedded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Names skipped when walking a template or a vendored directory.
const SKIPPED: &[&str] = &[
    "target",
    "node_modules",
    "__pycache__",
    ".venv",
    ".git",
    "dist",
    ".pytest_cache",
    ".DS_Store",
];

/// The file of a template naming what it vendors.
const VENDOR_FILE: &str = "VENDOR";

/// One embedded file: (path in the project, file to include, substitute
/// placeholders, executable).
type Entry = (String, PathBuf, bool, bool);

/// Write `$OUT_DIR/templates.rs`: `TEMPLATES: &[(&str, &[TemplateFile])]`
/// (one entry per language directory that has files) and `WIT`.
pub(crate) fn embed(root: &Path, out: &Path) -> Result<(), String> {
    let templates = root.join("plugins").join("templates");
    println!("cargo:rerun-if-changed={}", templates.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("wit").join("plugin.wit").display()
    );
    let mut langs: Vec<(String, Vec<Entry>)> = Vec::new();
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&templates) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(_) => Vec::new(),
    };
    dirs.sort();
    for dir in dirs {
        let lang = file_name(&dir);
        let mut entries = Vec::new();
        walk(&dir, &dir, &mut |rel, path| {
            if rel != VENDOR_FILE {
                entries.push((rel.to_string(), path.to_path_buf(), true, executable(path)));
            }
        })?;
        let vendor = dir.join(VENDOR_FILE);
        if vendor.is_file() {
            vendored(root, &vendor, &out.join("vendor").join(&lang), &mut entries)?;
        }
        if !entries.is_empty() {
            langs.push((lang, entries));
        }
    }
    let mut src = String::from(
        "/// The plugin project templates: (language, files).\n\
         pub(crate) const TEMPLATES: &[(&str, &[TemplateFile])] = &[\n",
    );
    for (lang, entries) in &langs {
        let _ = writeln!(src, "    ({lang:?}, &[");
        for (rel, path, substitute, exec) in entries {
            let _ = writeln!(
                src,
                "        TemplateFile {{ path: {rel:?}, bytes: include_bytes!({:?}), \
                 substitute: {substitute}, executable: {exec} }},",
                path.display().to_string()
            );
        }
        src.push_str("    ]),\n");
    }
    src.push_str("];\n");
    let _ = writeln!(
        src,
        "/// The host's own copy of the contract (`wit/plugin.wit`).\n\
         pub(crate) const WIT: &str = include_str!({:?});",
        root.join("wit").join("plugin.wit").display().to_string()
    );
    std::fs::write(out.join("templates.rs"), src)
        .map_err(|e| format!("cannot write templates.rs: {e}"))
}

/// The entries a template's `VENDOR` file names; rewritten manifests go
/// under `gen`.
fn vendored(
    root: &Path,
    vendor: &Path,
    gen_dir: &Path,
    out: &mut Vec<Entry>,
) -> Result<(), String> {
    println!("cargo:rerun-if-changed={}", vendor.display());
    let text = std::fs::read_to_string(vendor)
        .map_err(|e| format!("cannot read {}: {e}", vendor.display()))?;
    let mut map: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(from), Some(to), None) => map.push((from.to_string(), to.to_string())),
            _ => {
                return Err(format!(
                    "{}: `{line}`: want `<path in the repository> <path in the project>`",
                    vendor.display()
                ));
            }
        }
    }
    let workspace = Workspace::read(&root.join("Cargo.toml"))?;
    for (from, to) in &map {
        let src = root.join(from);
        println!("cargo:rerun-if-changed={}", src.display());
        if src.is_file() {
            out.push((to.clone(), src, false, executable(&root.join(from))));
            continue;
        }
        if !src.is_dir() {
            return Err(format!(
                "{}: no such file or directory: {from}",
                vendor.display()
            ));
        }
        let mut files = Vec::new();
        walk(&src, &src, &mut |rel, path| {
            files.push((rel.to_string(), path.to_path_buf()));
        })?;
        for (rel, path) in files {
            let dest = format!("{to}/{rel}");
            if rel == "Cargo.toml" {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let standalone = workspace.standalone(&text, to, &map)?;
                let gen_path = gen_dir.join(to).join("Cargo.toml");
                if let Some(parent) = gen_path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                std::fs::write(&gen_path, standalone)
                    .map_err(|e| format!("cannot write {}: {e}", gen_path.display()))?;
                out.push((dest, gen_path, false, false));
            } else {
                let exec = executable(&path);
                out.push((dest, path, false, exec));
            }
        }
    }
    Ok(())
}

/// Call `f(relative path with '/', path)` for every file under `dir`, sorted.
fn walk(base: &Path, dir: &Path, f: &mut dyn FnMut(&str, &Path)) -> Result<(), String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !SKIPPED.contains(&file_name(p).as_str()) && !file_name(p).ends_with(".pyc"))
        .collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(base, &p, f)?;
        } else if let Ok(rel) = p.strip_prefix(base) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            f(&rel.join("/"), &p);
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(unix)]
fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(_: &Path) -> bool {
    false
}

/// What a member's manifest inherits: `[workspace.package]` and
/// `[workspace.dependencies]` of the root `Cargo.toml`, as `key = value` text.
struct Workspace {
    package: BTreeMap<String, String>,
    dependencies: BTreeMap<String, String>,
}

impl Workspace {
    fn read(path: &Path) -> Result<Workspace, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (mut package, mut dependencies) = (BTreeMap::new(), BTreeMap::new());
        let mut section = String::new();
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                section = t.to_string();
            } else if let Some((k, v)) = key_value(t) {
                match section.as_str() {
                    "[workspace.package]" => package.insert(k, v),
                    "[workspace.dependencies]" => dependencies.insert(k, v),
                    _ => None,
                };
            }
        }
        Ok(Workspace {
            package,
            dependencies,
        })
    }

    /// A member manifest made standalone: inherited keys written out,
    /// `[lints] workspace = true` dropped, and path dependencies on other
    /// vendored crates pointed at their copies (`to` is where this one goes).
    fn standalone(&self, text: &str, to: &str, map: &[(String, String)]) -> Result<String, String> {
        let mut out = String::from(
            "# Vendored by `weir plugin new` (standalone copy of a Weir workspace crate).\n",
        );
        let mut section = String::new();
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                section = t.to_string();
                if section == "[lints]" {
                    continue;
                }
                out.push_str(line);
                out.push('\n');
                continue;
            }
            if section == "[lints]" {
                continue;
            }
            let Some((key, value)) = key_value(t) else {
                out.push_str(line);
                out.push('\n');
                continue;
            };
            let inherited = key.strip_suffix(".workspace").map(str::to_string);
            let inline = value.starts_with('{') && value.contains("workspace = true");
            let line = match (inherited, inline, section.as_str()) {
                (Some(k), _, "[package]") => {
                    let v = self
                        .package
                        .get(&k)
                        .ok_or(format!("{k} not in [workspace.package]"))?;
                    format!("{k} = {v}")
                }
                (Some(k), _, _) => format!("{k} = {}", self.dependency(&k, "", to, map)?),
                (None, true, _) => {
                    let extra = value
                        .trim_start_matches('{')
                        .trim_end_matches('}')
                        .replace("workspace = true", "");
                    let extra: Vec<&str> = extra
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect();
                    format!(
                        "{key} = {}",
                        self.dependency(&key, &extra.join(", "), to, map)?
                    )
                }
                (None, false, _) => line.to_string(),
            };
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }

    /// The workspace's spec of dependency `name` as an inline table, with
    /// `extra` keys added; a path into the repository becomes the path of
    /// its vendored copy relative to `to`.
    fn dependency(
        &self,
        name: &str,
        extra: &str,
        to: &str,
        map: &[(String, String)],
    ) -> Result<String, String> {
        let spec = self
            .dependencies
            .get(name)
            .ok_or(format!("{name} not in [workspace.dependencies]"))?;
        let mut inner = if let Some(version) = spec.strip_prefix('"') {
            format!("version = \"{version}")
        } else {
            spec.trim_start_matches('{')
                .trim_end_matches('}')
                .trim()
                .to_string()
        };
        if let Some(start) = inner.find("path = \"") {
            let rest = &inner[start + 8..];
            let end = rest.find('"').ok_or(format!("{name}: unterminated path"))?;
            let repo_path = &rest[..end];
            let copy = map
                .iter()
                .find(|(from, _)| from.trim_end_matches('/') == repo_path)
                .map(|(_, dest)| dest)
                .ok_or(format!(
                    "{name} is a path dependency ({repo_path}) that VENDOR does not copy"
                ))?;
            let up = "../".repeat(to.split('/').filter(|s| !s.is_empty()).count());
            inner = format!(
                "{}path = \"{up}{copy}\"{}",
                &inner[..start],
                &rest[end + 1..]
            );
        }
        if !extra.is_empty() {
            inner = format!("{inner}, {extra}");
        }
        Ok(format!("{{ {inner} }}"))
    }
}

/// `key = value` of a manifest line (value as written, comments kept out
/// only when the line is one).
fn key_value(line: &str) -> Option<(String, String)> {
    if line.starts_with('#') {
        return None;
    }
    let (k, v) = line.split_once('=')?;
    Some((k.trim().to_string(), v.trim().to_string()))
}
