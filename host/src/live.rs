//! The serving state: the current [`Pipeline`], replaced whole on a config
//! reload (SIGHUP, a change of the config file or of a plugin file it
//! names), and the readiness flag.
//!
//! A reload builds the new pipeline beside the old one, reusing what did not
//! change (see [`Pipeline::rebuild`]). If anything is wrong (the config,
//! a plugin's digest, type or imports, a plugin refusing its config) the
//! error is logged and counted and the old pipeline keeps serving. On
//! success the swap is one pointer store: requests that already hold the
//! old pipeline finish on the old plugins, new requests use the new ones.
//! The listen address, TLS files and connection limits (`server.max_connections`
//! and the timeouts) are read at start only.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::config::{Config, ConfigError, PluginRef};
use crate::metrics::RouteCounters;
use crate::pipeline::{BuildError, Pipeline};

/// Where the config comes from, to read it again on reload.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The config file.
    pub path: PathBuf,
    /// `--opensearch`: applied again after each read.
    pub opensearch: Option<String>,
    /// `--listen`: applied again after each read.
    pub listen: Option<std::net::SocketAddr>,
}

/// Why a reload did not take effect (the previous config keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config is valid, but a plugin or sink could not be set up.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The build task died.
    #[error("reload task failed: {0}")]
    Task(String),
    /// The state was not started from a config file.
    #[error("no config file to reload from")]
    NoSource,
}

impl ConfigSource {
    /// Read and validate the config, with the command-line overrides.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(&self.path)?;
        if let Some(url) = &self.opensearch {
            config.use_opensearch(url);
        }
        if let Some(addr) = self.listen {
            config.server.listen = addr;
        }
        Ok(config)
    }
}

/// The serving state.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<Pipeline>>,
    ready: AtomicBool,
    reloading: tokio::sync::Mutex<()>,
    source: Option<ConfigSource>,
}

/// What a successful reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Routes served after the reload.
    pub routes: usize,
    /// Plugins whose digest is new (`name@sha256-prefix`).
    pub new_plugins: Vec<String>,
}

impl Live {
    /// Serve `pipeline`; no config file to reload from.
    pub fn new(pipeline: Arc<Pipeline>) -> Live {
        Live {
            current: RwLock::new(pipeline),
            ready: AtomicBool::new(true),
            reloading: tokio::sync::Mutex::new(()),
            source: None,
        }
    }

    /// Serve `pipeline`, reloading from `source`.
    pub fn with_source(pipeline: Arc<Pipeline>, source: ConfigSource) -> Live {
        Live {
            source: Some(source),
            ..Live::new(pipeline)
        }
    }

    /// The pipeline new requests use.
    pub fn current(&self) -> Arc<Pipeline> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether `/readyz` says ready (false once shutdown starts).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Set readiness.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Build a pipeline for `config` beside the current one and swap it in;
    /// on any error keep the current one and return the error. Runs the
    /// build (plugin compilation) on the blocking pool.
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.current();
        let metrics = old.metrics().clone();
        if config.server.listen != old.config().server.listen
            || config.server.tls != old.config().server.tls
        {
            tracing::warn!(
                "server.listen and server.tls changed in the config; they take effect on restart only"
            );
        }
        let handle = tokio::runtime::Handle::current();
        let previous = old.clone();
        let built = tokio::task::spawn_blocking(move || {
            let _in_runtime = handle.enter();
            Pipeline::rebuild(&config, Some(&previous))
        })
        .await
        .map_err(|e| ReloadError::Task(e.to_string()))
        .and_then(|r| r.map_err(ReloadError::from));
        let new = match built {
            Ok(p) => Arc::new(p),
            Err(e) => {
                crate::metrics::RouteCounters::add(&metrics.reloads_failed, 1);
                tracing::error!(error = %e, "config reload refused; the previous config keeps serving");
                return Err(e);
            }
        };
        let new_plugins: Vec<String> = new
            .plugins()
            .filter(|(_, p)| !old.plugins().any(|(_, o)| Arc::ptr_eq(o, p)))
            .map(|(r, p)| format!("{r}@{}", &p.digest()[..12]))
            .collect();
        let report = ReloadReport {
            routes: new.routes().count(),
            new_plugins,
        };
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = new;
        crate::metrics::RouteCounters::add(&metrics.reloads_ok, 1);
        tracing::info!(
            routes = report.routes,
            new_plugins = ?report.new_plugins,
            "config reloaded; new requests use it, requests in flight finish on the old one"
        );
        Ok(report)
    }

    /// Read the config file again and [`reload`](Live::reload) it.
    pub async fn reload_from_source(&self) -> Result<ReloadReport, ReloadError> {
        let Some(source) = &self.source else {
            return Err(ReloadError::NoSource);
        };
        let loaded = match source.load() {
            Ok(c) => crate::pipeline::fetch_plugins(&c)
                .await
                .map(|()| c)
                .map_err(ReloadError::from),
            Err(e) => Err(e.into()),
        };
        let config = match loaded {
            Ok(c) => c,
            Err(e) => {
                let metrics = self.current().metrics().clone();
                crate::metrics::RouteCounters::add(&metrics.reloads_failed, 1);
                tracing::error!(error = %e, "config reload refused; the previous config keeps serving");
                return Err(e);
            }
        };
        self.reload(config).await
    }

    /// Reload on SIGHUP and whenever the config file or a plugin file it
    /// names changes (size or modification time, polled every `interval`).
    pub fn spawn_watchers(self: &Arc<Self>, interval: Duration) {
        #[cfg(unix)]
        {
            let live = self.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    tracing::warn!("cannot listen for SIGHUP; reload by file change only");
                    return;
                };
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the config");
                    let _ = live.reload_from_source().await;
                }
            });
        }
        let live = self.clone();
        tokio::spawn(async move {
            let mut seen = live.fingerprint();
            loop {
                tokio::time::sleep(interval).await;
                live.reload_geoip();
                let now = live.fingerprint();
                if now != seen {
                    tracing::info!("config or plugin file changed: reloading");
                    let _ = live.reload_from_source().await;
                    // Plugin files named by the new config are watched from now on.
                    seen = live.fingerprint();
                }
            }
        });
    }

    /// Map again each GeoIP database whose file changed; a file that does
    /// not open is logged and counted, and the old mapping keeps serving.
    pub fn reload_geoip(&self) {
        let pipeline = self.current();
        let Some(geoip) = pipeline.geoip() else {
            return;
        };
        let metrics = pipeline.metrics();
        for result in geoip.reload_if_changed() {
            match result {
                Ok(false) => {}
                Ok(true) => {
                    RouteCounters::add(&metrics.geoip_reloads_ok, 1);
                    tracing::info!(paths = ?geoip.paths(), "GeoIP database reloaded");
                }
                Err(e) => {
                    RouteCounters::add(&metrics.geoip_reloads_failed, 1);
                    tracing::error!(error = %e, "GeoIP database reload failed; the previous one keeps serving");
                }
            }
        }
    }

    /// Modification time, size and file id (device and inode, through
    /// symlinks) of the config file, of every tenant key file and of every
    /// plugin file the current config names. The file id sees a file
    /// replaced by another one that happens to have the same size and time,
    /// as when Kubernetes swaps a ConfigMap's or Secret's `..data` symlink.
    fn fingerprint(&self) -> Vec<(PathBuf, Option<FileStamp>)> {
        let Some(source) = &self.source else {
            return Vec::new();
        };
        let mut paths = vec![source.path.clone()];
        let pipeline = self.current();
        for tenant in pipeline.config().tenants.values() {
            if let Some(p) = &tenant.access_key_file
                && !paths.contains(p)
            {
                paths.push(p.clone());
            }
        }
        for route in &pipeline.config().routes {
            if let PluginRef::File(p) = &route.plugin
                && !paths.contains(p)
            {
                paths.push(p.clone());
            }
        }
        paths
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len(), file_id(&m))));
                (p, meta)
            })
            .collect()
    }
}

/// What [`Live::fingerprint`] compares for one file: modification time,
/// size and [`file_id`].
type FileStamp = (SystemTime, u64, (u64, u64));

/// The device and inode of a file (Unix; elsewhere zero).
#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// The device and inode of a file (Unix; elsewhere zero).
#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}
