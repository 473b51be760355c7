//! Configuration: parsed in one place, strictly, into validated types.
//!
//! [`Config::parse`] is pure: it reads TOML text (unknown keys are errors)
//! and validates it, collecting *every* problem with the path of the
//! offending key (`routes[1].plugin: …`). Side effects (loading plugin
//! files, opening sink directories, binding sockets) come after, elsewhere.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::firehose;
use crate::tenant::{AccessKey, TenantId};

/// Default memory cap of one plugin instance. It must hold a whole batch
/// (up to 64 MiB of Firehose body, decoded) plus what the plugin makes of it.
pub const DEFAULT_PLUGIN_MEMORY_MIB: u64 = 256;
/// Default wall-time limit of one plugin call; a plugin that loops is stopped here.
pub const DEFAULT_PLUGIN_TIMEOUT_MS: u64 = 10_000;
/// Default number of plugin batches that may run at once (also sizes the
/// instance pool; batches over it wait).
pub const DEFAULT_MAX_CONCURRENT_BATCHES: usize = 16;
/// Default bytes a batch may write to its log (host `log` + stdout + stderr);
/// protects the host's log from a chatty plugin.
pub const DEFAULT_PLUGIN_LOG_BYTES: usize = 64 * 1024;

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

// ---- raw, as written -------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    plugins: RawPluginLimits,
    #[serde(default)]
    sinks: BTreeMap<String, RawSink>,
    #[serde(default)]
    tenants: Vec<RawTenant>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
    #[serde(default)]
    plain_http: bool,
    tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_body_bytes: Option<usize>,
    max_records: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginLimits {
    memory_mib: Option<u64>,
    timeout_ms: Option<u64>,
    max_concurrent_batches: Option<usize>,
    log_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "kebab-case")]
enum RawSink {
    Directory { path: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    id: String,
    #[serde(default)]
    access_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: String,
    name: Option<String>,
    tenant: String,
    plugin: String,
    index: String,
    sink: String,
    #[serde(default)]
    allow_plugin_index: bool,
    plugin_config: Option<toml::Table>,
}

// ---- validated -------------------------------------------------------------

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener.
    pub server: ServerConfig,
    /// Firehose request limits.
    pub limits: firehose::Limits,
    /// Sandbox limits applied to every plugin batch.
    pub plugins: PluginLimits,
    /// Named sinks.
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Tenants by id.
    pub tenants: BTreeMap<TenantId, TenantConfig>,
    /// Routes, in config order.
    pub routes: Vec<RouteConfig>,
}

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind.
    pub listen: SocketAddr,
    /// TLS, or `None` for plain HTTP (only when `plain_http = true`).
    pub tls: Option<TlsConfig>,
}

/// TLS certificate chain and private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// Limits applied to each plugin batch.
#[derive(Debug, Clone)]
pub struct PluginLimits {
    /// Linear-memory cap of one plugin instance, bytes.
    pub memory_bytes: usize,
    /// Wall-time limit of one plugin call.
    pub timeout: Duration,
    /// Plugin batches running at once (instance pool size).
    pub max_concurrent_batches: NonZeroUsize,
    /// Log bytes one batch may write (host `log`, stdout, stderr each).
    pub log_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_bytes: (DEFAULT_PLUGIN_MEMORY_MIB * 1024 * 1024) as usize,
            timeout: Duration::from_millis(DEFAULT_PLUGIN_TIMEOUT_MS),
            max_concurrent_batches: NonZeroUsize::new(DEFAULT_MAX_CONCURRENT_BATCHES)
                .unwrap_or(NonZeroUsize::MIN),
            log_bytes: DEFAULT_PLUGIN_LOG_BYTES,
        }
    }
}

/// A sink definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// Local directory: NDJSON in `_bulk` form per index, plus dead letters.
    Directory {
        /// Root directory (created if missing).
        path: PathBuf,
    },
}

/// A tenant.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Its id.
    pub id: TenantId,
    /// Keys accepted in `X-Amz-Firehose-Access-Key` (several, for rotation).
    pub access_keys: Vec<AccessKey>,
}

/// Where a route's plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PluginRef {
    /// Embedded in the `weir` binary: `builtin:<name>`.
    Builtin(String),
    /// A component file (`.wasm`).
    File(PathBuf),
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginRef::Builtin(name) => write!(f, "builtin:{name}"),
            PluginRef::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl PluginRef {
    /// Parse `builtin:<name>` or a path.
    pub fn parse(s: &str) -> Result<PluginRef, String> {
        if let Some(name) = s.strip_prefix("builtin:") {
            if crate::plugin::builtin(name).is_none() {
                return Err(format!(
                    "unknown built-in plugin `{name}` (built in: {})",
                    crate::plugin::builtin_names().join(", ")
                ));
            }
            Ok(PluginRef::Builtin(name.to_string()))
        } else if s.is_empty() {
            Err("empty plugin reference".to_string())
        } else {
            Ok(PluginRef::File(PathBuf::from(s)))
        }
    }
}

/// A route: URL path → tenant + plugin + plugin config + index + sink.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Route name (given to the plugin, used in dead letters and logs).
    pub name: String,
    /// URL path, e.g. `/firehose/waf`.
    pub path: String,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Plugin to run.
    pub plugin: PluginRef,
    /// The plugin's config, as JSON text.
    pub plugin_config: String,
    /// Default index.
    pub index: IndexName,
    /// Whether a document's own `index` is honoured (it must still be a valid name).
    pub allow_plugin_index: bool,
    /// Name of the sink in [`Config::sinks`].
    pub sink: String,
}

/// A valid OpenSearch index name (lowercase, no `\ / * ? " < > | , #` or
/// space, not starting with `-`, `_` or `+`, not `.`/`..`, ≤ 255 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexName(String);

impl IndexName {
    /// Validate an index name.
    pub fn new(name: &str) -> Result<IndexName, String> {
        if name.is_empty() {
            return Err("index name is empty".to_string());
        }
        if name.len() > 255 {
            return Err(format!("index name is longer than 255 bytes: {name:?}"));
        }
        if name == "." || name == ".." {
            return Err(format!("index name cannot be {name:?}"));
        }
        if name.starts_with(['-', '_', '+']) {
            return Err(format!(
                "index name {name:?} cannot start with `-`, `_` or `+`"
            ));
        }
        if let Some(c) = name.chars().find(|c| {
            c.is_uppercase()
                || c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':'
                )
        }) {
            return Err(format!(
                "index name {name:?} has a character OpenSearch refuses: {c:?}"
            ));
        }
        Ok(IndexName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Parse and validate TOML text. Pure: touches no file or socket.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            problems: vec![e.to_string().trim_end().to_string()],
        })?;
        validate(raw)
    }

    /// Read and parse a file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![format!("{}: {e}", path.display())],
        })?;
        Config::parse(&text)
    }

    /// The route serving a URL path.
    pub fn route_for_path(&self, path: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.path == path)
    }
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();

    let listen = match raw.server.listen.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(e) => {
            problems.push(format!("server.listen: {e}: {:?}", raw.server.listen));
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    };
    let tls = match (raw.server.tls, raw.server.plain_http) {
        (Some(t), false) => Some(TlsConfig {
            cert: t.cert,
            key: t.key,
        }),
        (None, true) => None,
        (Some(_), true) => {
            problems
                .push("server: both `tls` and `plain_http = true` are set; choose one".to_string());
            None
        }
        (None, false) => {
            problems.push(
                "server: no `tls` section; set [server.tls] cert/key, or `plain_http = true` \
                 when a TLS-terminating load balancer sits in front"
                    .to_string(),
            );
            None
        }
    };

    let mut limits = firehose::Limits::default();
    if let Some(b) = raw.limits.max_body_bytes {
        if b < firehose::FIREHOSE_MAX_BODY_BYTES {
            problems.push(format!(
                "limits.max_body_bytes: {b} is below Firehose's own limit of {} bytes; \
                 Firehose would get 413 for legal requests and drop them",
                firehose::FIREHOSE_MAX_BODY_BYTES
            ));
        }
        limits.max_body_bytes = b;
    }
    if let Some(n) = raw.limits.max_records {
        if n < firehose::FIREHOSE_MAX_RECORDS {
            problems.push(format!(
                "limits.max_records: {n} is below Firehose's own limit of {} records",
                firehose::FIREHOSE_MAX_RECORDS
            ));
        }
        limits.max_records = n;
    }

    let mut plugins = PluginLimits::default();
    if let Some(m) = raw.plugins.memory_mib {
        if !(1..=4096).contains(&m) {
            problems.push(format!("plugins.memory_mib: {m} is outside 1..=4096"));
        } else {
            plugins.memory_bytes = (m * 1024 * 1024) as usize;
        }
    }
    if let Some(t) = raw.plugins.timeout_ms {
        if !(1..=600_000).contains(&t) {
            problems.push(format!("plugins.timeout_ms: {t} is outside 1..=600000"));
        } else {
            plugins.timeout = Duration::from_millis(t);
        }
    }
    if let Some(n) = raw.plugins.max_concurrent_batches {
        match NonZeroUsize::new(n) {
            Some(n) if n.get() <= 1024 => plugins.max_concurrent_batches = n,
            _ => problems.push(format!(
                "plugins.max_concurrent_batches: {n} is outside 1..=1024"
            )),
        }
    }
    if let Some(b) = raw.plugins.log_bytes {
        plugins.log_bytes = b;
    }

    let mut sinks = BTreeMap::new();
    for (name, sink) in raw.sinks {
        match sink {
            RawSink::Directory { path } => {
                if path.as_os_str().is_empty() {
                    problems.push(format!("sinks.{name}.path: empty"));
                }
                sinks.insert(name, SinkConfig::Directory { path });
            }
        }
    }

    let mut tenants = BTreeMap::new();
    for (i, t) in raw.tenants.into_iter().enumerate() {
        let id = match TenantId::new(&t.id) {
            Ok(id) => id,
            Err(e) => {
                problems.push(format!("tenants[{i}].id: {e}"));
                continue;
            }
        };
        if t.access_keys.is_empty() {
            problems.push(format!(
                "tenants[{i}].access_keys: a tenant needs at least one access key"
            ));
        }
        let mut keys = Vec::new();
        for (k, key) in t.access_keys.iter().enumerate() {
            match AccessKey::new(key) {
                Ok(key) => keys.push(key),
                Err(e) => problems.push(format!("tenants[{i}].access_keys[{k}]: {e}")),
            }
        }
        if tenants.contains_key(&id) {
            problems.push(format!("tenants[{i}].id: duplicate tenant {id}"));
            continue;
        }
        tenants.insert(
            id.clone(),
            TenantConfig {
                id,
                access_keys: keys,
            },
        );
    }

    let mut routes = Vec::new();
    let mut paths = HashSet::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        let at = format!("routes[{i}]");
        let before = problems.len();
        if !r.path.starts_with('/') || r.path.contains(['?', '#', ' ']) {
            problems.push(format!(
                "{at}.path: {:?} must be an absolute URL path without query or fragment",
                r.path
            ));
        } else if !paths.insert(r.path.clone()) {
            problems.push(format!("{at}.path: duplicate route path {:?}", r.path));
        }
        let name = r.name.clone().unwrap_or_else(|| {
            r.path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()
        });
        if name.is_empty() {
            problems.push(format!("{at}.name: empty; set `name`"));
        }
        let tenant = match TenantId::new(&r.tenant) {
            Ok(t) if tenants.contains_key(&t) => Some(t),
            Ok(t) => {
                problems.push(format!("{at}.tenant: unknown tenant {t}"));
                None
            }
            Err(e) => {
                problems.push(format!("{at}.tenant: {e}"));
                None
            }
        };
        let plugin = match PluginRef::parse(&r.plugin) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(format!("{at}.plugin: {e}"));
                None
            }
        };
        let index = match IndexName::new(&r.index) {
            Ok(ix) => Some(ix),
            Err(e) => {
                problems.push(format!("{at}.index: {e}"));
                None
            }
        };
        if !sinks.contains_key(&r.sink) {
            problems.push(format!(
                "{at}.sink: unknown sink {:?} (defined: {})",
                r.sink,
                sinks.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let plugin_config = match r.plugin_config {
            None => "{}".to_string(),
            Some(table) => match serde_json::to_string(&table) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("{at}.plugin_config: {e}"));
                    String::new()
                }
            },
        };
        if problems.len() > before {
            continue;
        }
        if let (Some(tenant), Some(plugin), Some(index)) = (tenant, plugin, index) {
            routes.push(RouteConfig {
                name,
                path: r.path,
                tenant,
                plugin,
                plugin_config,
                index,
                allow_plugin_index: r.allow_plugin_index,
                sink: r.sink,
            });
        }
    }

    if problems.is_empty() {
        Ok(Config {
            server: ServerConfig { listen, tls },
            limits,
            plugins,
            sinks,
            tenants,
            routes,
        })
    } else {
        Err(ConfigError { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [server]
        listen = "127.0.0.1:8080"
        plain_http = true

        [sinks.local]
        type = "directory"
        path = "weir-data"

        [[tenants]]
        id = "demo"
        access_keys = ["demo-access-key"]

        [[routes]]
        path = "/firehose/waf"
        tenant = "demo"
        plugin = "builtin:waf"
        index = "waf"
        sink = "local"
    "#;

    #[test]
    fn parses_the_good_config() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.routes[0].name, "waf");
        assert_eq!(c.routes[0].plugin_config, "{}");
        assert!(c.server.tls.is_none());
        assert_eq!(c.limits.max_body_bytes, firehose::FIREHOSE_MAX_BODY_BYTES);
        assert!(c.route_for_path("/firehose/waf").is_some());
        assert!(c.route_for_path("/firehose/other").is_none());
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../../examples/weir.toml");
        Config::parse(text).unwrap();
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = GOOD.replace("plain_http = true", "plain_http = true\nlisten_twice = 1");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(e.contains("listen_twice"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = GOOD
            .replace("builtin:waf", "builtin:nope")
            .replace("index = \"waf\"", "index = \"WAF\"")
            .replace("sink = \"local\"", "sink = \"elsewhere\"")
            .replace("tenant = \"demo\"", "tenant = \"ghost\"");
        let e = Config::parse(&text).unwrap_err();
        let all = e.problems.join("\n");
        assert!(
            all.contains("routes[0].plugin: unknown built-in plugin `nope`"),
            "{all}"
        );
        assert!(all.contains("routes[0].index:"), "{all}");
        assert!(all.contains("routes[0].sink: unknown sink"), "{all}");
        assert!(
            all.contains("routes[0].tenant: unknown tenant ghost"),
            "{all}"
        );
    }

    #[test]
    fn tls_or_explicit_plain_http() {
        let text = GOOD.replace("plain_http = true", "");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(e.contains("no `tls` section"), "{e}");
    }

    #[test]
    fn limits_below_firehose_are_refused() {
        let text = format!("{GOOD}\n[limits]\nmax_body_bytes = 1000\n");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(e.contains("limits.max_body_bytes"), "{e}");
    }

    #[test]
    fn plugin_config_becomes_json() {
        let text = format!("{GOOD}\n[routes.plugin_config]\nformat = \"x\"\nn = 3\n");
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.routes[0].plugin_config, r#"{"format":"x","n":3}"#);
    }

    #[test]
    fn index_names() {
        assert!(IndexName::new("cwl-2024.01.02").is_ok());
        assert!(IndexName::new("Upper").is_err());
        assert!(IndexName::new("_x").is_err());
        assert!(IndexName::new("a/b").is_err());
        assert!(IndexName::new("..").is_err());
        assert!(IndexName::new(&"a".repeat(256)).is_err());
    }
}
