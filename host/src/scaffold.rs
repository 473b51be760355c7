//! `weir plugin new`: a complete plugin project written from the templates
//! embedded in the binary (`plugins/templates/<lang>/`, see
//! `host/build_templates.rs` for the layout contract), with the host's own
//! copy of the contract in the project's `wit/plugin.wit`.

use std::path::{Path, PathBuf};

/// One file of a template, embedded by `build.rs`.
#[derive(Debug)]
pub(crate) struct TemplateFile {
    /// Path in the project (`/`-separated), placeholders not yet replaced.
    pub(crate) path: &'static str,
    /// The file's bytes.
    pub(crate) bytes: &'static [u8],
    /// Whether `__NAME__` and `__NAME_SNAKE__` are replaced in it (template
    /// files, not vendored ones).
    pub(crate) substitute: bool,
    /// Whether it is written executable (a build script).
    pub(crate) executable: bool,
}

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The placeholder for the plugin name in kebab-case (`my-plugin`).
pub const NAME_PLACEHOLDER: &str = "__NAME__";
/// The placeholder for the plugin name in snake_case (`my_plugin`).
pub const NAME_SNAKE_PLACEHOLDER: &str = "__NAME_SNAKE__";
/// Longest plugin name accepted (it becomes a crate, package and file name).
pub const MAX_NAME_LEN: usize = 64;
/// The languages `weir plugin new` knows of (a build may lack some templates).
pub const LANGUAGES: &[&str] = &["rust", "python", "js"];

/// Why no project was written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not kebab-case.
    #[error(
        "plugin name {0:?}: use lowercase letters, digits and single hyphens, starting with a \
         letter (at most {MAX_NAME_LEN} characters), for example `my-plugin`"
    )]
    BadName(String),
    /// No template for this language in this build.
    #[error(
        "no {lang} template in this build of weir (plugins/templates/{lang}/ was empty or \
         missing when it was built); templates here: {}",
        available.join(", ")
    )]
    NoTemplate {
        /// The language asked for.
        lang: String,
        /// The languages this build has.
        available: Vec<String>,
    },
    /// The language is not one `weir plugin new` knows.
    #[error("unknown language {0:?}: one of rust, python, js")]
    UnknownLanguage(String),
    /// The target directory exists and is not empty.
    #[error("{0} exists and is not empty; choose another --dir or name")]
    NotEmpty(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// What was being written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The languages this build has a template for.
pub fn available() -> Vec<&'static str> {
    TEMPLATES.iter().map(|(lang, _)| *lang).collect()
}

/// Check a plugin name: kebab-case, starting with a letter.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::BadName(name.to_string()))
    }
}

/// `text` with the placeholders replaced for plugin `name` (kebab-case).
pub fn substitute(text: &str, name: &str) -> String {
    text.replace(NAME_SNAKE_PLACEHOLDER, &name.replace('-', "_"))
        .replace(NAME_PLACEHOLDER, name)
}

/// Write a new `lang` project for plugin `name` into `dir` (created; it
/// must not exist or be empty). Returns the files written, relative to `dir`.
pub fn new_project(name: &str, lang: &str, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    check_name(name)?;
    if !LANGUAGES.contains(&lang) {
        return Err(ScaffoldError::UnknownLanguage(lang.to_string()));
    }
    let files = TEMPLATES
        .iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, files)| *files)
        .ok_or_else(|| ScaffoldError::NoTemplate {
            lang: lang.to_string(),
            available: available().iter().map(|s| s.to_string()).collect(),
        })?;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ScaffoldError::NotEmpty(dir.to_path_buf()));
    }
    let mut written = Vec::new();
    let wit = TemplateFile {
        path: "wit/plugin.wit",
        bytes: WIT.as_bytes(),
        substitute: false,
        executable: false,
    };
    for file in files.iter().chain(std::iter::once(&wit)) {
        let rel = PathBuf::from(substitute(file.path, name));
        let bytes = match (file.substitute, std::str::from_utf8(file.bytes)) {
            (true, Ok(text)) => substitute(text, name).into_bytes(),
            _ => file.bytes.to_vec(),
        };
        write_file(&dir.join(&rel), &bytes, file.executable)?;
        written.push(rel);
    }
    Ok(written)
}

/// Write one file, creating its directory; executable when asked.
fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<(), ScaffoldError> {
    let io = |source| ScaffoldError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case() {
        for good in ["x", "my-plugin", "waf2", "a-b-c"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "My", "-x", "x-", "a--b", "a_b", "1x", "a b", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn placeholders_are_replaced() {
        assert_eq!(
            substitute("__NAME__ / __NAME_SNAKE__.wasm", "my-plugin"),
            "my-plugin / my_plugin.wasm"
        );
    }

    #[test]
    fn the_rust_template_is_embedded_with_its_sdk_and_the_wit() {
        assert!(available().contains(&"rust"));
        let (_, files) = TEMPLATES.iter().find(|(l, _)| *l == "rust").unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
        for want in [
            "Cargo.toml",
            "src/lib.rs",
            "README.md",
            "cases/sample.in",
            "cases/sample.out.ndjson",
            "vendor/weir-plugin-sdk/Cargo.toml",
            "vendor/weir-plugin-sdk/src/lib.rs",
            "vendor/weir-common/Cargo.toml",
            "Cargo.lock",
        ] {
            assert!(paths.contains(&want), "{want} not in {paths:?}");
        }
        assert!(!paths.contains(&"VENDOR"));
        // The vendored manifests stand alone.
        let sdk = files
            .iter()
            .find(|f| f.path == "vendor/weir-plugin-sdk/Cargo.toml")
            .unwrap();
        let sdk = std::str::from_utf8(sdk.bytes).unwrap();
        assert!(!sdk.contains("workspace = true"), "{sdk}");
        assert!(!sdk.contains(".workspace"), "{sdk}");
        assert!(
            sdk.contains(r#"weir-common = { path = "../../vendor/weir-common" }"#),
            "{sdk}"
        );
        assert!(WIT.contains("package weir:plugin@"));
    }

    #[test]
    fn writes_a_project_and_refuses_what_it_cannot() {
        let dir = std::env::temp_dir().join(format!("weir-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = new_project("my-plugin", "rust", &dir).unwrap();
        assert!(files.contains(&PathBuf::from("wit/plugin.wit")));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-plugin\""), "{manifest}");
        assert!(!manifest.contains(NAME_PLACEHOLDER));
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains("my_plugin.wasm"), "{readme}");
        assert_eq!(
            std::fs::read_to_string(dir.join("wit/plugin.wit")).unwrap(),
            WIT
        );
        // Not over an existing project.
        let e = new_project("my-plugin", "rust", &dir).unwrap_err();
        assert!(matches!(e, ScaffoldError::NotEmpty(_)), "{e}");
        let e = new_project("x", "cobol", &dir.join("c")).unwrap_err();
        assert!(e.to_string().contains("unknown language"), "{e}");
        let e = new_project("Bad_Name", "rust", &dir.join("b")).unwrap_err();
        assert!(matches!(e, ScaffoldError::BadName(_)), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
