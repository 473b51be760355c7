//! Configuration: parsed in one place, strictly, into validated types.
//!
//! [`Config::parse`] is pure: it reads TOML text (unknown keys are errors,
//! see `raw`) and validates it section by section, collecting *every*
//! problem with the path of the offending key (`routes[1].plugin: …`).
//! Side effects (loading plugin files, opening sink directories, binding
//! sockets) come after, elsewhere.
//!
//! This module is a leaf of plain data: it imports only other leaves
//! ([`crate::index`], [`crate::secret`], [`crate::tenant`],
//! [`crate::builtin`], [`crate::digest`]). The plugin runtime, sinks and the
//! Firehose decoder import their settings from here.

mod limits;
mod objects;
mod quota_store;
mod raw;
mod route;
mod server;
mod sink;
mod tenant;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub use limits::{
    BatchLimits, DEFAULT_MAX_CONCURRENT_BATCHES, DEFAULT_MEMORY_BUDGET_BYTES,
    DEFAULT_MEMORY_SHARE_DIVISOR, DEFAULT_PLUGIN_LOG_BYTES, DEFAULT_PLUGIN_MAX_OUTPUT_MIB,
    DEFAULT_PLUGIN_MEMORY_MIB, DEFAULT_PLUGIN_TIMEOUT_MS, FIREHOSE_MAX_BODY_BYTES,
    FIREHOSE_MAX_RECORDS, FirehoseLimits, MAX_CONCURRENT_BATCHES, MAX_PLUGIN_MAX_OUTPUT_MIB,
    MAX_PLUGIN_MEMORY_MIB, MAX_PLUGIN_TIMEOUT_MS, MIN_MAX_BODY_BYTES, MIN_MAX_RECORDS,
    MIN_PLUGIN_MAX_OUTPUT_MIB, MIN_PLUGIN_MEMORY_MIB, MIN_PLUGIN_TIMEOUT_MS, PluginLimits,
    REQUEST_PEAK_BODIES, default_plugin_cache_dir,
};
pub use objects::{
    MAX_OBJECT_KEY_BYTES, ObjectPrefix, ObjectScope, check_object_key, is_bucket_name, own_objects,
};
pub use quota_store::{
    DEFAULT_QUOTA_KEY_PREFIX, DEFAULT_QUOTA_STORE_TIMEOUT_MS, OnUnreachable, QuotaStoreConfig,
};
pub use route::{
    DEFAULT_BACKUP_MAX_AGE, DEFAULT_BACKUP_MAX_BYTES, DEFAULT_MAX_INDICES_PER_DAY,
    DEFAULT_MAX_INDICES_PER_REQUEST, PluginRef, PluginRefError, RouteConfig,
};
pub use server::{
    ConnectionLimits, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_HEADER_READ_TIMEOUT_MS,
    DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, GeoIpConfig, MAX_HEADER_TIMEOUT_MS,
    MAX_IDLE_TIMEOUT_MS, MAX_MAX_CONNECTIONS, ServerConfig, TlsConfig,
};
pub use sink::{
    DEFAULT_BULK_MAX_AGE, DEFAULT_BULK_MAX_BYTES, DEFAULT_BULK_MAX_DOCUMENTS,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_MAX_ELAPSED, OpenSearchConfig,
    S3Config, SIGV4_SERVICES, SigV4Config, SinkConfig,
};
pub use tenant::{DEFAULT_TENANT_MAX_REQUESTS_IN_FLIGHT, TenantConfig, TenantQuotas};

// Moved to leaves; re-exported so `crate::config::…` paths keep working.
pub use crate::index::{IndexName, IndexPattern, MAX_INDEX_TIME_MS, namespaced};
pub use crate::secret::Secret;

use crate::tenant::TenantId;

/// Why the configuration was refused: every problem found, each with its key path.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// One line per problem: `path: message`.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener.
    pub server: ServerConfig,
    /// Firehose request limits.
    pub limits: FirehoseLimits,
    /// Sandbox limits applied to every plugin batch.
    pub plugins: PluginLimits,
    /// Named sinks.
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Tenants by id.
    pub tenants: BTreeMap<TenantId, TenantConfig>,
    /// Routes, in config order.
    pub routes: Vec<RouteConfig>,
    /// GeoIP databases (`[geoip]`), if any.
    pub geoip: Option<GeoIpConfig>,
    /// The shared store of tenants' rate buckets (`[quota_store]`), if any.
    pub quota_store: Option<QuotaStoreConfig>,
}

impl Config {
    /// Point every route at one OpenSearch URL (`--opensearch`), keeping
    /// the first directory sink (or `./weir-data`) for dead letters.
    pub fn use_opensearch(&mut self, url: &str) {
        let dl = match self
            .sinks
            .iter()
            .find(|(_, s)| matches!(s, SinkConfig::Directory { .. }))
        {
            Some((name, _)) => name.clone(),
            None => {
                self.sinks.insert(
                    "dead-letters".into(),
                    SinkConfig::Directory {
                        path: PathBuf::from("weir-data"),
                    },
                );
                "dead-letters".into()
            }
        };
        self.sinks
            .insert("opensearch".into(), SinkConfig::opensearch_at(url, &dl));
        for r in &mut self.routes {
            r.sink = "opensearch".into();
        }
    }

    /// Parse and validate TOML text. Pure: touches no file or socket.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            problems: vec![e.to_string().trim_end().to_string()],
        })?;
        validate(raw)
    }

    /// Read and parse a file, then read the tenants' key files
    /// (`access_key_sha256_file`).
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![format!("{}: {e}", path.display())],
        })?;
        let mut config = Config::parse(&text)?;
        let problems = tenant::read_key_files(&mut config.tenants);
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(config)
    }

    /// Weir's own objects in S3 (dead letters, backups, plugins), which no
    /// S3 notification may name (see [`own_objects`]).
    pub fn own_objects(&self) -> Vec<ObjectPrefix> {
        own_objects(&self.sinks, &self.routes)
    }

    /// Whether `GET /metrics` is answered on `server.listen`: never when
    /// `server.metrics_listen` is set; behind `server.metrics_token` when
    /// that is set; and without either only for a single tenant (metrics
    /// name every tenant and route, so with several tenants one would
    /// learn the others'; a single tenant keeps the open endpoint it had).
    pub fn metrics_on_listen(&self) -> bool {
        self.server.metrics_listen.is_none()
            && (self.server.metrics_token.is_some() || self.tenants.len() <= 1)
    }

    /// What is valid but probably not meant: one line per finding, for
    /// `weir validate` and the start-up log.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.server.metrics_listen.is_none()
            && self.server.metrics_token.is_none()
            && self.tenants.len() > 1
        {
            warnings.push(format!(
                "server: {} tenants and neither `metrics_token` nor `metrics_listen`: \
                 /metrics is not served (it names every tenant and route); set one of them \
                 to scrape metrics",
                self.tenants.len()
            ));
        }
        warnings
    }

    /// The route serving a URL path.
    pub fn route_for_path(&self, path: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.path == path)
    }
}

/// Validate section by section, in file order; later sections are checked
/// against the earlier ones (routes name tenants and sinks).
fn validate(raw: raw::RawConfig) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let server = server::validate_server(raw.server, &mut problems);
    let limits = limits::validate_request_limits(&raw.limits, &mut problems);
    let any_route_fuel = raw.routes.iter().any(|r| r.fuel.is_some());
    let plugins = limits::validate_plugin_limits(&raw.plugins, any_route_fuel, &mut problems);
    let sink_names = sink::SinkNames::of(&raw.sinks);
    let sinks = sink::validate_sinks(raw.sinks, &sink_names, &mut problems);
    let tenants = tenant::validate_tenants(raw.tenants, &limits, &plugins, &mut problems);
    let cx = route::RouteContext {
        tenants: &tenants,
        plugins: &plugins,
        plugin_dir: raw.plugins.dir.as_deref(),
        sinks: &sink_names,
    };
    let routes = route::validate_routes(raw.routes, &cx, &mut problems);
    objects::check_allow_lists(&sinks, &routes, &mut problems);
    let geoip = server::validate_geoip(raw.geoip, &mut problems);
    let quota_store = quota_store::validate_quota_store(raw.quota_store, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    Ok(Config {
        server,
        limits,
        plugins,
        sinks,
        tenants,
        routes,
        geoip,
        quota_store,
    })
}
