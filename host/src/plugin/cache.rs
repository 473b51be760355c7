//! The precompiled-plugin cache (`<cache_dir>/<digest>-<engine>.cwasm`) and
//! the digest pin.

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A plugin's SHA-256 differs from the one the config pins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest mismatch: the config pins sha256 {pin}, the file has sha256 {digest}")]
pub struct PinMismatch {
    /// The pinned digest, as the config spells it.
    pub pin: String,
    /// The file's digest, hex.
    pub digest: String,
}

/// Check a plugin's SHA-256 (`digest`, hex) against the config's pin, if any.
pub fn check_pin(pin: Option<&str>, digest: &str) -> Result<(), PinMismatch> {
    match pin {
        Some(pin) if !pin.eq_ignore_ascii_case(digest) => Err(PinMismatch {
            pin: pin.to_string(),
            digest: digest.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Why a compiled component could not be written to the cache.
#[derive(Debug, thiserror::Error)]
enum CacheError {
    /// A file-system step failed on `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// wasmtime could not serialize the component.
    #[error("{0}")]
    Serialize(String),
}

impl CacheError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
        move |source| CacheError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where and for which engine compiled components are cached.
pub(super) struct Cache<'a> {
    /// The engine that compiles and maps them.
    pub(super) engine: &'a Engine,
    /// The cache directory; `None`: always compile.
    pub(super) dir: Option<&'a Path>,
    /// The engine's compatibility key, part of each file name.
    pub(super) engine_key: &'a str,
}

impl Cache<'_> {
    /// The compiled component: mapped from `<dir>/<digest>-<engine>.cwasm`
    /// when there, else compiled (and written there). `true` when it came
    /// from the cache. `name` is for log lines.
    pub(super) fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, bool)> {
        let Some(dir) = self.dir else {
            return Ok((Component::new(self.engine, bytes)?, false));
        };
        let path = dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        if path.is_file() {
            // SAFETY: the file is one this host wrote (`serialize` below)
            // into its own cache directory, named by the plugin's digest and
            // the engine's compatibility hash; wasmtime checks the header and
            // engine compatibility again and refuses a mismatch. The cache
            // directory must be writable only by the user running Weir.
            #[allow(unsafe_code)]
            let mapped = unsafe { Component::deserialize_file(self.engine, &path) };
            match mapped {
                Ok(c) => return Ok((c, true)),
                Err(e) => tracing::warn!(
                    plugin = name,
                    path = %path.display(),
                    error = %format!("{e:#}"),
                    "precompiled plugin unusable; compiling again"
                ),
            }
        }
        let c = Component::new(self.engine, bytes)?;
        if let Err(e) = write_cache(dir, &path, &c) {
            tracing::warn!(plugin = name, path = %path.display(), error = %e, "cannot write the precompiled plugin cache");
        }
        Ok((c, false))
    }
}

/// Write a compiled component atomically (temp file + rename) into `dir`.
fn write_cache(dir: &Path, path: &Path, c: &Component) -> Result<(), CacheError> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(CacheError::io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let image = c
        .serialize()
        .map_err(|e| CacheError::Serialize(format!("{e:#}")))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(CacheError::io(&tmp))?;
    f.write_all(&image)
        .and_then(|()| f.sync_all())
        .map_err(CacheError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(CacheError::io(path))
}
