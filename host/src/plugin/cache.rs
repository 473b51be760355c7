//! The precompiled-plugin cache (`<cache_dir>/<digest>-<engine>.cwasm`) and
//! the digest pin.
//!
//! A cached artifact is native code that wasmtime maps and runs without
//! checking it (`Component::deserialize_file` is `unsafe`), so whoever can
//! write the cache can run code in Weir, and `plugin_sha256` (which pins the
//! `.wasm`, not the artifact) would not notice. The cache is therefore used
//! only when (on Unix) the directory and the artifact are owned by the user
//! running Weir and writable by nobody else; otherwise plugins are compiled
//! from their bytes every time, with a warning. Each artifact has a sidecar
//! `<artifact>.sha256` written with it and checked before it is mapped,
//! which catches a truncated or altered file. Temporary files get
//! unpredictable names and are created exclusively (never through an
//! existing file or link).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
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
        if let Err(why) = trusted_dir(dir) {
            tracing::warn!(plugin = name, dir = %dir.display(), why, "plugin cache not used: compiling");
            return Ok((Component::new(self.engine, bytes)?, false));
        }
        let path = dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        if path.is_file()
            && let Err(why) = trusted_artifact(&path)
        {
            tracing::warn!(plugin = name, path = %path.display(), why, "precompiled plugin not trusted; compiling again");
        } else if path.is_file() {
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

/// Write a compiled component atomically (temp file + rename) into `dir`,
/// with its digest beside it.
fn write_cache(dir: &Path, path: &Path, c: &Component) -> Result<(), CacheError> {
    std::fs::create_dir_all(dir).map_err(CacheError::io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let image = c
        .serialize()
        .map_err(|e| CacheError::Serialize(format!("{e:#}")))?;
    let digest = crate::digest::hex(&Sha256::digest(&image));
    write_new(&sidecar(path), digest.as_bytes())?;
    write_new(path, &image)
}

/// Write `data` to a fresh temporary file in `path`'s directory (an
/// unpredictable name, created exclusively, mode 0600) and rename it to `path`.
fn write_new(path: &Path, data: &[u8]) -> Result<(), CacheError> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", unpredictable()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(CacheError::io(&tmp))?;
    let written = f.write_all(data).and_then(|()| f.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(CacheError::io(path)(e));
    }
    Ok(())
}

/// 64 bits no other process can predict: the standard library's per-process
/// random hash keys over the time and a counter.
fn unpredictable() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// The artifact's sidecar digest file.
fn sidecar(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Whether `meta` is owned by the user running Weir and writable by no one
/// else (Unix; elsewhere, always).
#[cfg(unix)]
fn owned_and_private(meta: &std::fs::Metadata) -> Result<(), &'static str> {
    use std::os::unix::fs::MetadataExt;
    // The owner of `/proc/self` is the process's effective user (Linux).
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if me.is_some_and(|uid| uid != meta.uid()) {
        return Err("owned by another user");
    }
    if meta.mode() & 0o022 != 0 {
        return Err("writable by group or others");
    }
    Ok(())
}

#[cfg(not(unix))]
fn owned_and_private(_: &std::fs::Metadata) -> Result<(), &'static str> {
    Ok(())
}

/// The cache directory may be used: missing (it will be created, 0700), or
/// a directory of ours that no one else can write.
fn trusted_dir(dir: &Path) -> Result<(), &'static str> {
    match std::fs::symlink_metadata(dir) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err("not a directory"),
        Ok(m) => owned_and_private(&m),
    }
}

/// A cached artifact may be mapped: a regular file of ours that no one else
/// can write, whose SHA-256 matches its sidecar.
fn trusted_artifact(path: &Path) -> Result<(), &'static str> {
    let meta = std::fs::symlink_metadata(path).map_err(|_| "unreadable")?;
    if !meta.is_file() {
        return Err("not a regular file");
    }
    owned_and_private(&meta)?;
    let want = std::fs::read_to_string(sidecar(path)).map_err(|_| "no digest beside it")?;
    let image = std::fs::read(path).map_err(|_| "unreadable")?;
    if crate::digest::hex(&Sha256::digest(&image)) != want.trim() {
        return Err("its digest does not match");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
