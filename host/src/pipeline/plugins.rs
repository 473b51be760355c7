//! Plugins of a config: their bytes (built in, a file, or fetched from S3
//! into the cache by digest), loaded and type-checked by the runtime.

use std::borrow::Cow;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::BuildError;
use crate::config::{Config, PluginRef, RouteConfig, SinkConfig};
use crate::plugin::{self, Plugin, Runtime};

/// Load a plugin's bytes and compile it.
pub fn load_plugin(runtime: &Runtime, plugin: &PluginRef) -> Result<Plugin, String> {
    let bytes = plugin_bytes(plugin, None, runtime.limits().cache_dir.as_deref())?;
    runtime
        .load(&plugin.to_string(), &bytes)
        .map_err(|e| e.to_string())
}

/// Load a route's plugin with its digest pin, checking the component's
/// type; reuse `previous` when it is the same plugin with the same digest.
pub(super) fn load_plugin_reusing(
    runtime: &Runtime,
    route: &RouteConfig,
    previous: Option<&Arc<Plugin>>,
) -> Result<Arc<Plugin>, String> {
    let bytes = plugin_bytes(
        &route.plugin,
        route.plugin_sha256.as_deref(),
        runtime.limits().cache_dir.as_deref(),
    )?;
    if let Some(p) = previous
        && p.digest() == crate::digest::hex(&Sha256::digest(&bytes))
    {
        return Ok(p.clone());
    }
    runtime
        .load_checked(
            &route.plugin.to_string(),
            &bytes,
            route.plugin_sha256.as_deref(),
        )
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Where a plugin fetched from S3 is kept: `<cache_dir>/objects/<sha256>.wasm`.
pub(super) fn fetched_plugin_path(cache_dir: &std::path::Path, sha256: &str) -> std::path::PathBuf {
    cache_dir.join("objects").join(format!("{sha256}.wasm"))
}

/// Fetch every plugin the config loads from S3 into the cache (by digest),
/// unless it is there already. A fetched object whose SHA-256 is not the
/// pinned one is refused and not kept. Call before [`super::Pipeline::build`];
/// the build then reads the cached copy, so a restart does not need S3.
pub async fn fetch_plugins(config: &Config) -> Result<(), BuildError> {
    for (i, route) in config.routes.iter().enumerate() {
        let PluginRef::S3 { bucket, key } = &route.plugin else {
            continue;
        };
        let at = format!("routes[{i}].plugin");
        let (Some(pin), Some(cache), Some(store)) = (
            route.plugin_sha256.as_deref(),
            config.plugins.cache_dir.as_deref(),
            route.plugin_store.as_ref(),
        ) else {
            return Err(BuildError::at(
                at,
                "a plugin in S3 needs plugin_sha256, plugin_store and plugins.cache_dir",
            ));
        };
        let path = fetched_plugin_path(cache, pin);
        if std::fs::read(&path).is_ok_and(|b| crate::digest::hex(&Sha256::digest(&b)) == pin) {
            continue;
        }
        let Some(SinkConfig::S3(s3)) = config.sinks.get(store) else {
            return Err(BuildError {
                at: format!("routes[{i}].plugin_store"),
                message: format!("{store:?} is not an s3 sink"),
            });
        };
        let sink = crate::sink::s3::S3Sink::new(s3.clone());
        let object = sink
            .get_capped(bucket, key, MAX_PLUGIN_BYTES)
            .await
            .map_err(|e| BuildError {
                at: at.clone(),
                message: e.to_string(),
            })?;
        let digest = crate::digest::hex(&Sha256::digest(&object.bytes));
        plugin::check_pin(Some(pin), &digest).map_err(|e| BuildError {
            at: format!("routes[{i}].plugin_sha256"),
            message: format!("{e} ({})", route.plugin),
        })?;
        let write = || -> std::io::Result<()> {
            let dir = cache.join("objects");
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join(format!("{pin}.tmp{}", std::process::id()));
            std::fs::write(&tmp, &object.bytes)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| BuildError {
            at: at.clone(),
            message: format!("cannot keep the fetched plugin in {}: {e}", path.display()),
        })?;
        tracing::info!(plugin = %route.plugin, sha256 = pin, "plugin fetched from S3");
    }
    Ok(())
}

/// The largest plugin component accepted (file or S3).
pub const MAX_PLUGIN_BYTES: usize = 256 * 1024 * 1024;

/// The component bytes of a plugin reference. A plugin in S3 is read from
/// the cache [`fetch_plugins`] filled, by its pinned digest.
pub fn plugin_bytes(
    plugin: &PluginRef,
    pin: Option<&str>,
    cache_dir: Option<&std::path::Path>,
) -> Result<Cow<'static, [u8]>, String> {
    Ok(match plugin {
        PluginRef::S3 { .. } => {
            let (Some(pin), Some(cache)) = (pin, cache_dir) else {
                return Err(format!(
                    "{plugin}: a plugin in S3 needs plugin_sha256 and plugins.cache_dir"
                ));
            };
            let path = fetched_plugin_path(cache, pin);
            Cow::Owned(
                std::fs::read(&path)
                    .map_err(|e| format!("{plugin} was not fetched ({}: {e})", path.display()))?,
            )
        }
        PluginRef::Builtin(n) => Cow::Borrowed(
            crate::builtin::bytes(n).ok_or_else(|| format!("unknown built-in plugin {n}"))?,
        ),
        PluginRef::File(path) => Cow::Owned(
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        ),
    })
}

/// Why a route's plugin cannot serve it.
#[derive(Debug, thiserror::Error)]
pub enum RoutePluginError {
    /// The plugin could not be read, compiled or type-checked.
    #[error("{0}")]
    Load(String),
    /// A plugin shared with another route does not match this route's pin.
    #[error("{0}")]
    Pin(String),
    /// The plugin refused the route's `plugin_config`.
    #[error("refused by {plugin}: {message}")]
    Config {
        /// The plugin reference.
        plugin: String,
        /// The plugin's reason.
        message: String,
    },
}

impl RoutePluginError {
    /// The route's config field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            RoutePluginError::Load(_) => "plugin",
            RoutePluginError::Pin(_) => "plugin_sha256",
            RoutePluginError::Config { .. } => "plugin_config",
        }
    }
}

/// The plugins of a config's routes, each loaded once per reference.
#[derive(Debug)]
pub struct RoutePlugins {
    runtime: Arc<Runtime>,
    loaded: std::collections::HashMap<PluginRef, Arc<Plugin>>,
}

impl RoutePlugins {
    /// No plugin loaded yet.
    pub fn new(runtime: Arc<Runtime>) -> RoutePlugins {
        RoutePlugins {
            runtime,
            loaded: std::collections::HashMap::new(),
        }
    }

    /// The route's plugin: loaded once per reference (or `reusable`, the
    /// previous pipeline's, when its digest did not change), checked
    /// against the route's pin, and asked whether it takes the route's config.
    pub fn for_route(
        &mut self,
        route: &RouteConfig,
        reusable: Option<&Arc<Plugin>>,
    ) -> Result<Arc<Plugin>, RoutePluginError> {
        let plugin = match self.loaded.get(&route.plugin) {
            Some(p) => p.clone(),
            None => {
                let p = load_plugin_reusing(&self.runtime, route, reusable)
                    .map_err(RoutePluginError::Load)?;
                self.loaded.insert(route.plugin.clone(), p.clone());
                p
            }
        };
        // A plugin shared with another route was loaded under that route's pin.
        plugin::check_pin(route.plugin_sha256.as_deref(), plugin.digest())
            .map_err(|e| RoutePluginError::Pin(format!("{e} ({})", route.plugin)))?;
        match plugin.validate_config(&route.plugin_config) {
            Ok(Ok(())) => Ok(plugin),
            Ok(Err(message)) => Err(RoutePluginError::Config {
                plugin: route.plugin.to_string(),
                message,
            }),
            Err(e) => Err(RoutePluginError::Load(e.to_string())),
        }
    }

    /// Every plugin loaded, by reference.
    pub fn into_loaded(self) -> std::collections::HashMap<PluginRef, Arc<Plugin>> {
        self.loaded
    }
}
