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
    fuel: Option<u64>,
    max_output_mib: Option<u64>,
    cache_dir: Option<PathBuf>,
    dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // a handful per process, built once
enum RawSink {
    Directory {
        path: PathBuf,
    },
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
        region: String,
        endpoint: Option<String>,
        #[serde(default)]
        force_path_style: bool,
    },
    #[serde(rename = "opensearch")]
    OpenSearch {
        urls: Vec<String>,
        username: Option<String>,
        password: Option<String>,
        ca_file: Option<PathBuf>,
        aws_sigv4: Option<RawSigV4>,
        #[serde(default)]
        gzip: bool,
        bulk_max_documents: Option<usize>,
        bulk_max_bytes: Option<usize>,
        bulk_max_age_ms: Option<u64>,
        max_in_flight: Option<usize>,
        retry_max_elapsed_ms: Option<u64>,
        request_timeout_ms: Option<u64>,
        dead_letter_sink: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigV4 {
    region: String,
    service: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    id: String,
    #[serde(default)]
    access_keys: Vec<String>,
    #[serde(default)]
    access_key_sha256: Vec<String>,
    index_prefix: Option<String>,
    max_requests_in_flight: Option<usize>,
    records_per_second: Option<u64>,
    bytes_per_second: Option<u64>,
    max_batch_records: Option<usize>,
    max_concurrent_batches: Option<usize>,
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
    date_fields: Option<Vec<String>>,
    index_patterns: Option<Vec<String>>,
    backup: Option<String>,
    backup_max_bytes: Option<usize>,
    backup_max_age_ms: Option<u64>,
    kind: Option<String>,
    object_store: Option<String>,
    plugin_sha256: Option<String>,
    plugin_store: Option<String>,
    memory_mib: Option<u64>,
    timeout_ms: Option<u64>,
    fuel: Option<u64>,
    max_output_mib: Option<u64>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// Limits applied to each plugin batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// Linear-memory cap of one plugin instance, bytes.
    pub memory_bytes: usize,
    /// Wall-time limit of one plugin call.
    pub timeout: Duration,
    /// Plugin batches running at once (instance pool size).
    pub max_concurrent_batches: NonZeroUsize,
    /// Log bytes one batch may write (host `log`, stdout, stderr each).
    pub log_bytes: usize,
    /// Default fuel per call (`None`: unlimited); routes may set their own.
    pub fuel: Option<u64>,
    /// Whether the engine counts fuel (some route or the default sets it).
    /// Counting costs a little on every batch, so it is off unless used.
    pub consume_fuel: bool,
    /// Default cap on the bytes one call may return.
    pub max_output_bytes: usize,
    /// Where compiled plugins are kept between runs (`None`: compile every start).
    pub cache_dir: Option<PathBuf>,
}

/// Default cap on what one plugin call may return: documents, ids, indices
/// and failure reasons together.
pub const DEFAULT_PLUGIN_MAX_OUTPUT_MIB: u64 = 128;

/// The default precompiled-plugin cache: `$XDG_CACHE_HOME/weir/plugins`,
/// else `$HOME/.cache/weir/plugins`, else none.
pub fn default_plugin_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("weir").join("plugins"))
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_bytes: (DEFAULT_PLUGIN_MEMORY_MIB * 1024 * 1024) as usize,
            timeout: Duration::from_millis(DEFAULT_PLUGIN_TIMEOUT_MS),
            max_concurrent_batches: NonZeroUsize::new(DEFAULT_MAX_CONCURRENT_BATCHES)
                .unwrap_or(NonZeroUsize::MIN),
            log_bytes: DEFAULT_PLUGIN_LOG_BYTES,
            fuel: None,
            consume_fuel: false,
            max_output_bytes: (DEFAULT_PLUGIN_MAX_OUTPUT_MIB * 1024 * 1024) as usize,
            cache_dir: None,
        }
    }
}

/// A sink definition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // a handful per process, built once
pub enum SinkConfig {
    /// Local directory: NDJSON in `_bulk` form per index, plus dead letters.
    Directory {
        /// Root directory (created if missing).
        path: PathBuf,
    },
    /// S3 dead-letter store (for an OpenSearch sink's `dead_letter_sink`).
    S3(crate::sink::s3::S3Config),
    /// OpenSearch `_bulk`, dead letters to a directory or S3 sink.
    OpenSearch(crate::sink::opensearch::OpenSearchConfig),
}

impl SinkConfig {
    /// An OpenSearch sink at `url` with default settings, dead letters to `dead_letter_sink`.
    pub fn opensearch_at(url: &str, dead_letter_sink: &str) -> SinkConfig {
        use crate::sink::opensearch as os;
        SinkConfig::OpenSearch(os::OpenSearchConfig {
            urls: vec![url.to_string()],
            username: None,
            password: None,
            ca_file: None,
            aws_sigv4: None,
            gzip: false,
            bulk_max_documents: os::DEFAULT_BULK_MAX_DOCUMENTS,
            bulk_max_bytes: os::DEFAULT_BULK_MAX_BYTES,
            bulk_max_age: os::DEFAULT_BULK_MAX_AGE,
            max_in_flight: os::DEFAULT_MAX_IN_FLIGHT,
            retry_max_elapsed: os::DEFAULT_RETRY_MAX_ELAPSED,
            request_timeout: os::DEFAULT_REQUEST_TIMEOUT,
            dead_letter_sink: dead_letter_sink.to_string(),
        })
    }
}

/// A secret string (password, key): prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: String) -> Secret {
        Secret(s)
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    /// Its id.
    pub id: TenantId,
    /// Keys accepted in `X-Amz-Firehose-Access-Key` (several, for rotation).
    pub access_keys: Vec<AccessKey>,
    /// Every index of the tenant starts with this (default `<id>-`).
    pub index_prefix: String,
    /// Its quotas.
    pub quotas: TenantQuotas,
}

/// A tenant's quotas. Over a quota the request gets 429 (Firehose retries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantQuotas {
    /// Requests of the tenant being processed at once.
    pub max_requests_in_flight: usize,
    /// Records per second (token bucket, one second of burst); `None`: unlimited.
    pub records_per_second: Option<u64>,
    /// Request body bytes per second (token bucket); `None`: unlimited.
    pub bytes_per_second: Option<u64>,
    /// Records per plugin call; larger requests are split into several calls.
    pub max_batch_records: usize,
    /// Plugin batches of the tenant running at once (its share of the pool).
    pub max_concurrent_batches: usize,
}

/// Default of [`TenantQuotas::max_requests_in_flight`].
pub const DEFAULT_TENANT_MAX_REQUESTS_IN_FLIGHT: usize = 256;

/// `name` inside the tenant's index space: unchanged when it already starts
/// with `prefix`, else `prefix` + `name`. Idempotent, and the result always
/// starts with `prefix`, so nothing a plugin or route asks for can leave it.
pub fn namespaced(prefix: &str, name: &str) -> String {
    if name.starts_with(prefix) {
        name.to_string()
    } else {
        format!("{prefix}{name}")
    }
}

/// Where a route's plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PluginRef {
    /// Embedded in the `weir` binary: `builtin:<name>`.
    Builtin(String),
    /// A component file (`.wasm`).
    File(PathBuf),
    /// A component in S3 (`s3://bucket/key`), fetched with the route's
    /// `plugin_store` into the cache, pinned by digest.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginRef::Builtin(name) => write!(f, "builtin:{name}"),
            PluginRef::File(path) => write!(f, "{}", path.display()),
            PluginRef::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

impl PluginRef {
    /// Parse `builtin:<name>`, `s3://bucket/key` or a path.
    pub fn parse(s: &str) -> Result<PluginRef, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(PluginRef::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                }),
                _ => Err(format!("{s:?} is not s3://<bucket>/<key>")),
            };
        }
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Default index, possibly date-patterned (`cwl-%Y.%m.%d`).
    pub index: IndexPattern,
    /// Whether a document's own `index` is honoured (it must still be a valid name).
    pub allow_plugin_index: bool,
    /// Fields mapped as `date` by the route's index template.
    pub date_fields: Vec<String>,
    /// `index_patterns` of the route's index template.
    pub index_patterns: Vec<String>,
    /// Name of the sink in [`Config::sinks`].
    pub sink: String,
    /// Sink (s3 or directory) that receives every raw record before the ack.
    pub backup: Option<String>,
    /// Write a backup object at this many bytes.
    pub backup_max_bytes: usize,
    /// Write a backup object when its first request waited this long.
    pub backup_max_age: Duration,
    /// For `kind = "s3-notification"` routes: the s3 sink whose endpoint,
    /// region and credentials fetch the notified objects. `None`: a Firehose route.
    pub object_store: Option<String>,
    /// The plugin's pinned SHA-256 (hex, lowercase); a different file is refused.
    pub plugin_sha256: Option<String>,
    /// For a plugin in S3: the s3 sink whose endpoint, region and credentials fetch it.
    pub plugin_store: Option<String>,
    /// Limits of each plugin call on this route.
    pub limits: crate::plugin::BatchLimits,
    /// The tenant's index prefix, applied to indices a plugin asks for.
    pub index_prefix: String,
}

/// Check a tenant's index prefix: empty, or the start of a valid index name.
fn check_index_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    IndexName::new(prefix).map(|_| ())
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

/// An index name that may hold UTC date tokens taken from the document's
/// event time: `%Y` (year), `%m` (month), `%d` (day), `%H` (hour), `%%`.
/// Example: `cwl-%Y.%m.%d` → `cwl-2019.12.13`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPattern(String);

impl IndexPattern {
    /// Validate a pattern: known tokens only, and every rendering a valid index name.
    pub fn new(pattern: &str) -> Result<IndexPattern, String> {
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some('Y' | 'm' | 'd' | 'H' | '%') => {}
                    other => {
                        return Err(format!(
                            "index pattern {pattern:?}: unknown token %{}; use %Y %m %d %H or %%",
                            other.map(String::from).unwrap_or_default()
                        ));
                    }
                }
            }
        }
        let p = IndexPattern(pattern.to_string());
        p.render(0)?;
        p.render(MAX_INDEX_TIME_MS)?;
        Ok(p)
    }

    /// Whether the pattern has date tokens.
    pub fn is_dated(&self) -> bool {
        self.0.replace("%%", "").contains('%')
    }

    /// The name for an event at `ms` since the epoch (clamped to 1970..=9999).
    pub fn render(&self, ms: i64) -> Result<IndexName, String> {
        if !self.0.contains('%') {
            return IndexName::new(&self.0);
        }
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(ms.clamp(0, MAX_INDEX_TIME_MS) as u64);
        // "YYYY-MM-DDTHH:MM:SSZ"
        let iso = humantime::format_rfc3339_seconds(t).to_string();
        let (y, mo, d, h) = (&iso[0..4], &iso[5..7], &iso[8..10], &iso[11..13]);
        let mut out = String::with_capacity(self.0.len() + 8);
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('Y') => out.push_str(y),
                Some('m') => out.push_str(mo),
                Some('d') => out.push_str(d),
                Some('H') => out.push_str(h),
                _ => out.push('%'),
            }
        }
        IndexName::new(&out)
    }

    /// The index template pattern covering every rendering: the text before
    /// the first token plus `*`, or the name itself when undated.
    pub fn template_pattern(&self) -> String {
        match self.0.find('%') {
            None => self.0.clone(),
            Some(i) => format!("{}*", &self.0[..i]),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IndexPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Latest event time used for index names: 9999-12-31T23:59:59.999Z.
pub const MAX_INDEX_TIME_MS: i64 = 253_402_300_799_999;

/// The time fields each built-in plugin emits, mapped as `date` by default.
pub fn default_date_fields(plugin: &PluginRef) -> Vec<String> {
    let fields: &[&str] = match plugin {
        PluginRef::Builtin(name) => match name.as_str() {
            "waf" => &["timestamp"],
            "cloudwatch-logs" => &["@timestamp", "eventTime"],
            "vpc-flow" => &["start", "end"],
            "route53-resolver" => &["query_timestamp"],
            "securityhub" => &[
                "CreatedAt",
                "UpdatedAt",
                "FirstObservedAt",
                "LastObservedAt",
            ],
            _ => &[],
        },
        PluginRef::File(_) | PluginRef::S3 { .. } => &[],
    };
    fields.iter().map(|f| f.to_string()).collect()
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
    if let Some(f) = raw.plugins.fuel {
        if f == 0 {
            problems.push("plugins.fuel: must be at least 1".to_string());
        }
        plugins.fuel = Some(f);
    }
    if let Some(m) = raw.plugins.max_output_mib {
        if !(1..=4096).contains(&m) {
            problems.push(format!("plugins.max_output_mib: {m} is outside 1..=4096"));
        } else {
            plugins.max_output_bytes = (m * 1024 * 1024) as usize;
        }
    }
    let raw_plugin_dir = raw.plugins.dir.clone();
    plugins.cache_dir = match raw.plugins.cache_dir {
        Some(d) if d.as_os_str().is_empty() => None,
        Some(d) => Some(d),
        None => default_plugin_cache_dir(),
    };
    plugins.consume_fuel = plugins.fuel.is_some() || raw.routes.iter().any(|r| r.fuel.is_some());

    let mut sinks = BTreeMap::new();
    let directory_sinks: Vec<String> = raw
        .sinks
        .iter()
        .filter(|(_, s)| matches!(s, RawSink::Directory { .. } | RawSink::S3 { .. }))
        .map(|(n, _)| n.clone())
        .collect();
    let s3_sinks: Vec<String> = raw
        .sinks
        .iter()
        .filter(|(_, s)| matches!(s, RawSink::S3 { .. }))
        .map(|(n, _)| n.clone())
        .collect();
    for (name, sink) in raw.sinks {
        match sink {
            RawSink::Directory { path } => {
                if path.as_os_str().is_empty() {
                    problems.push(format!("sinks.{name}.path: empty"));
                }
                sinks.insert(name, SinkConfig::Directory { path });
            }
            RawSink::S3 {
                bucket,
                prefix,
                region,
                endpoint,
                force_path_style,
            } => {
                let at = format!("sinks.{name}");
                if bucket.is_empty() || bucket.contains('/') {
                    problems.push(format!("{at}.bucket: {bucket:?} is not a bucket name"));
                }
                if region.is_empty() {
                    problems.push(format!("{at}.region: empty"));
                }
                if let Some(ep) = &endpoint {
                    match ep.parse::<http::Uri>() {
                        Ok(uri)
                            if matches!(uri.scheme_str(), Some("http" | "https"))
                                && uri.host().is_some() => {}
                        _ => problems.push(format!("{at}.endpoint: {ep:?} is not an http(s) URL")),
                    }
                }
                sinks.insert(
                    name,
                    SinkConfig::S3(crate::sink::s3::S3Config {
                        bucket,
                        prefix: prefix.trim_matches('/').to_string(),
                        region,
                        endpoint,
                        force_path_style,
                    }),
                );
            }
            RawSink::OpenSearch {
                urls,
                username,
                password,
                ca_file,
                aws_sigv4,
                gzip,
                bulk_max_documents,
                bulk_max_bytes,
                bulk_max_age_ms,
                max_in_flight,
                retry_max_elapsed_ms,
                request_timeout_ms,
                dead_letter_sink,
            } => {
                use crate::sink::opensearch as os;
                let at = format!("sinks.{name}");
                if urls.is_empty() {
                    problems.push(format!("{at}.urls: at least one URL"));
                }
                for (i, u) in urls.iter().enumerate() {
                    match u.parse::<http::Uri>() {
                        Ok(uri)
                            if matches!(uri.scheme_str(), Some("http" | "https"))
                                && uri.host().is_some() => {}
                        _ => problems.push(format!("{at}.urls[{i}]: {u:?} is not an http(s) URL")),
                    }
                }
                if let Some(sig) = &aws_sigv4 {
                    if !matches!(sig.service.as_str(), "es" | "aoss") {
                        problems.push(format!("{at}.aws_sigv4.service: {:?} must be \"es\" (OpenSearch Service) or \"aoss\" (Serverless)", sig.service));
                    }
                    if sig.region.is_empty() {
                        problems.push(format!("{at}.aws_sigv4.region: empty"));
                    }
                    if username.is_some() {
                        problems.push(format!(
                            "{at}: use either basic auth or aws_sigv4, not both"
                        ));
                    }
                }
                if username.is_some() != password.is_some() {
                    problems.push(format!(
                        "{at}: set both `username` and `password`, or neither"
                    ));
                }
                if !directory_sinks.contains(&dead_letter_sink) {
                    problems.push(format!(
                        "{at}.dead_letter_sink: {dead_letter_sink:?} is not a directory or s3 sink (defined: {})",
                        directory_sinks.join(", ")
                    ));
                }
                let positive =
                    |v: Option<usize>, d: usize, key: &str, problems: &mut Vec<String>| match v {
                        Some(0) => {
                            problems.push(format!("{at}.{key}: must be at least 1"));
                            d
                        }
                        Some(v) => v,
                        None => d,
                    };
                let mut cfg = os::OpenSearchConfig {
                    urls,
                    username,
                    password: password.map(Secret::new),
                    ca_file,
                    aws_sigv4: aws_sigv4.map(|s| os::sigv4::SigV4Config {
                        region: s.region,
                        service: s.service,
                    }),
                    gzip,
                    bulk_max_documents: positive(
                        bulk_max_documents,
                        os::DEFAULT_BULK_MAX_DOCUMENTS,
                        "bulk_max_documents",
                        &mut problems,
                    ),
                    bulk_max_bytes: positive(
                        bulk_max_bytes,
                        os::DEFAULT_BULK_MAX_BYTES,
                        "bulk_max_bytes",
                        &mut problems,
                    ),
                    bulk_max_age: bulk_max_age_ms
                        .map(Duration::from_millis)
                        .unwrap_or(os::DEFAULT_BULK_MAX_AGE),
                    max_in_flight: positive(
                        max_in_flight,
                        os::DEFAULT_MAX_IN_FLIGHT,
                        "max_in_flight",
                        &mut problems,
                    ),
                    retry_max_elapsed: retry_max_elapsed_ms
                        .map(Duration::from_millis)
                        .unwrap_or(os::DEFAULT_RETRY_MAX_ELAPSED),
                    request_timeout: request_timeout_ms
                        .map(Duration::from_millis)
                        .unwrap_or(os::DEFAULT_REQUEST_TIMEOUT),
                    dead_letter_sink,
                };
                if cfg.request_timeout.is_zero() {
                    problems.push(format!("{at}.request_timeout_ms: must be at least 1"));
                    cfg.request_timeout = os::DEFAULT_REQUEST_TIMEOUT;
                }
                sinks.insert(name, SinkConfig::OpenSearch(cfg));
            }
        }
    }

    let mut tenants = BTreeMap::new();
    let raw_tenant_count = raw.tenants.len();
    for (i, t) in raw.tenants.into_iter().enumerate() {
        let id = match TenantId::new(&t.id) {
            Ok(id) => id,
            Err(e) => {
                problems.push(format!("tenants[{i}].id: {e}"));
                continue;
            }
        };
        if t.access_keys.is_empty() && t.access_key_sha256.is_empty() {
            problems.push(format!(
                "tenants[{i}].access_keys: a tenant needs at least one access key \
                 (`access_keys`, or `access_key_sha256` digests)"
            ));
        }
        let mut keys = Vec::new();
        for (k, key) in t.access_keys.iter().enumerate() {
            match AccessKey::new(key) {
                Ok(key) => keys.push(key),
                Err(e) => problems.push(format!("tenants[{i}].access_keys[{k}]: {e}")),
            }
        }
        for (k, digest) in t.access_key_sha256.iter().enumerate() {
            match AccessKey::from_sha256_hex(digest) {
                Ok(key) => keys.push(key),
                Err(e) => problems.push(format!("tenants[{i}].access_key_sha256[{k}]: {e}")),
            }
        }
        let index_prefix = t.index_prefix.unwrap_or_else(|| format!("{id}-"));
        if let Err(e) = check_index_prefix(&index_prefix) {
            problems.push(format!("tenants[{i}].index_prefix: {e}"));
        }
        let global = plugins.max_concurrent_batches.get();
        let mut quotas = TenantQuotas {
            max_requests_in_flight: DEFAULT_TENANT_MAX_REQUESTS_IN_FLIGHT,
            records_per_second: t.records_per_second,
            bytes_per_second: t.bytes_per_second,
            max_batch_records: firehose::FIREHOSE_MAX_RECORDS.max(limits.max_records),
            // Alone, a tenant may use the whole pool; with neighbours, half
            // of it, so one tenant's slow plugin cannot take every slot.
            max_concurrent_batches: if raw_tenant_count > 1 {
                (global / 2).max(1)
            } else {
                global
            },
        };
        let at = format!("tenants[{i}]");
        let at_least_one = |v: Option<usize>, key: &str, problems: &mut Vec<String>| match v {
            Some(0) => {
                problems.push(format!("{at}.{key}: must be at least 1"));
                None
            }
            v => v,
        };
        if let Some(n) = at_least_one(
            t.max_requests_in_flight,
            "max_requests_in_flight",
            &mut problems,
        ) {
            quotas.max_requests_in_flight = n;
        }
        if let Some(n) = at_least_one(t.max_batch_records, "max_batch_records", &mut problems) {
            quotas.max_batch_records = n;
        }
        if let Some(n) = at_least_one(
            t.max_concurrent_batches,
            "max_concurrent_batches",
            &mut problems,
        ) {
            if n > global {
                problems.push(format!(
                    "{at}.max_concurrent_batches: {n} is above plugins.max_concurrent_batches ({global})"
                ));
            }
            quotas.max_concurrent_batches = n.min(global);
        }
        for (key, v) in [
            ("records_per_second", t.records_per_second),
            ("bytes_per_second", t.bytes_per_second),
        ] {
            if v == Some(0) {
                problems.push(format!("{at}.{key}: must be at least 1"));
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
                index_prefix,
                quotas,
            },
        );
    }
    // No index may belong to two tenants: no prefix may start another.
    let prefixes: Vec<(&TenantId, &str)> = tenants
        .values()
        .map(|t| (&t.id, t.index_prefix.as_str()))
        .collect();
    for (a, pa) in &prefixes {
        for (b, pb) in &prefixes {
            if a < b && (pa.starts_with(pb) || pb.starts_with(pa)) {
                problems.push(format!(
                    "tenants: index prefixes of {a} ({pa:?}) and {b} ({pb:?}) overlap; \
                     each tenant needs an index space of its own"
                ));
            }
        }
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
        let prefix = tenant
            .as_ref()
            .and_then(|t| tenants.get(t))
            .map(|t: &TenantConfig| t.index_prefix.clone())
            .unwrap_or_default();
        let index = match IndexPattern::new(&namespaced(&prefix, &r.index)) {
            Ok(ix) => Some(ix),
            Err(e) => {
                problems.push(format!("{at}.index: {e}"));
                None
            }
        };
        if r.plugin_sha256.is_some() && matches!(plugin, Some(PluginRef::Builtin(_))) {
            problems.push(format!(
                "{at}.plugin_sha256: only for plugins loaded from a file or S3 (built-ins are part of the binary)"
            ));
        }
        match (&plugin, &r.plugin_store) {
            (Some(PluginRef::S3 { .. }), None) => problems.push(format!(
                "{at}.plugin_store: a plugin in S3 needs the s3 sink to fetch it with"
            )),
            (Some(PluginRef::S3 { .. }), Some(store)) if !s3_sinks.contains(store) => {
                problems.push(format!(
                    "{at}.plugin_store: {store:?} is not an s3 sink (defined: {})",
                    s3_sinks.join(", ")
                ));
            }
            (Some(PluginRef::S3 { .. }), Some(_)) => {
                if r.plugin_sha256.is_none() {
                    problems.push(format!(
                        "{at}.plugin_sha256: a plugin fetched from S3 must be pinned by its SHA-256"
                    ));
                }
                if plugins.cache_dir.is_none() {
                    problems.push(format!(
                        "{at}.plugin: a plugin fetched from S3 is kept in plugins.cache_dir, which is off"
                    ));
                }
            }
            (_, Some(_)) => problems.push(format!(
                "{at}.plugin_store: only for plugins in S3 (`plugin = \"s3://bucket/key\"`)"
            )),
            (_, None) => {}
        }
        let plugin = match (plugin, &raw_plugin_dir) {
            (Some(PluginRef::File(p)), Some(dir)) if p.is_relative() => {
                Some(PluginRef::File(dir.join(p)))
            }
            (p, _) => p,
        };
        if let Some(d) = &r.plugin_sha256
            && (d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            problems.push(format!(
                "{at}.plugin_sha256: {d:?} is not a SHA-256 in hex (64 characters)"
            ));
        }
        let mut batch_limits = crate::plugin::BatchLimits::from_plugin_limits(&plugins);
        if let Some(m) = r.memory_mib {
            let bytes = (m.saturating_mul(1024 * 1024)) as usize;
            if m == 0 || bytes > plugins.memory_bytes {
                problems.push(format!(
                    "{at}.memory_mib: {m} is outside 1..={} (plugins.memory_mib)",
                    plugins.memory_bytes / (1024 * 1024)
                ));
            } else {
                batch_limits.memory_bytes = bytes;
            }
        }
        if let Some(t) = r.timeout_ms {
            if !(1..=600_000).contains(&t) {
                problems.push(format!("{at}.timeout_ms: {t} is outside 1..=600000"));
            } else {
                batch_limits.timeout = Duration::from_millis(t);
            }
        }
        if let Some(f) = r.fuel {
            if f == 0 {
                problems.push(format!("{at}.fuel: must be at least 1"));
            }
            batch_limits.fuel = Some(f);
        }
        if let Some(m) = r.max_output_mib {
            if !(1..=4096).contains(&m) {
                problems.push(format!("{at}.max_output_mib: {m} is outside 1..=4096"));
            } else {
                batch_limits.max_output_bytes = (m * 1024 * 1024) as usize;
            }
        }
        if let Some(b) = &r.backup
            && !directory_sinks.contains(b)
        {
            problems.push(format!(
                "{at}.backup: {b:?} is not a directory or s3 sink (defined: {})",
                directory_sinks.join(", ")
            ));
        }
        match (r.kind.as_deref().unwrap_or("firehose"), &r.object_store) {
            ("firehose", None) => {}
            ("firehose", Some(_)) => problems.push(format!(
                "{at}.object_store: only for kind = \"s3-notification\" routes"
            )),
            ("s3-notification", Some(o)) if s3_sinks.contains(o) => {}
            ("s3-notification", Some(o)) => problems.push(format!(
                "{at}.object_store: {o:?} is not an s3 sink (defined: {})",
                s3_sinks.join(", ")
            )),
            ("s3-notification", None) => problems.push(format!(
                "{at}.object_store: an s3-notification route needs the s3 sink to fetch objects with"
            )),
            (other, _) => problems.push(format!(
                "{at}.kind: {other:?}; expected \"firehose\" or \"s3-notification\""
            )),
        }
        if s3_sinks.contains(&r.sink) {
            problems.push(format!(
                "{at}.sink: {:?} is an s3 sink, which stores dead letters only; use a directory or opensearch sink",
                r.sink
            ));
        } else if !sinks.contains_key(&r.sink) {
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
        if !name.is_empty()
            && !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            problems.push(format!(
                "{at}.name: {name:?} may only hold A-Z a-z 0-9 `-` `_` `.`"
            ));
        }
        for (k, f) in r.date_fields.iter().flatten().enumerate() {
            if f.is_empty() {
                problems.push(format!("{at}.date_fields[{k}]: empty field name"));
            }
        }
        if problems.len() > before {
            continue;
        }
        if let (Some(tenant), Some(plugin), Some(index)) = (tenant, plugin, index) {
            let date_fields = r
                .date_fields
                .unwrap_or_else(|| default_date_fields(&plugin));
            let index_patterns = r
                .index_patterns
                .map(|ps| ps.iter().map(|p| namespaced(&prefix, p)).collect())
                .unwrap_or_else(|| vec![index.template_pattern()]);
            routes.push(RouteConfig {
                name,
                path: r.path,
                tenant,
                plugin,
                plugin_config,
                index,
                allow_plugin_index: r.allow_plugin_index,
                date_fields,
                index_patterns,
                sink: r.sink,
                backup: r.backup,
                backup_max_bytes: r
                    .backup_max_bytes
                    .unwrap_or(crate::sink::backup::DEFAULT_BACKUP_MAX_BYTES),
                backup_max_age: r
                    .backup_max_age_ms
                    .map(Duration::from_millis)
                    .unwrap_or(crate::sink::backup::DEFAULT_BACKUP_MAX_AGE),
                object_store: r.object_store,
                plugin_sha256: r.plugin_sha256.map(|d| d.to_ascii_lowercase()),
                plugin_store: r.plugin_store,
                limits: batch_limits,
                index_prefix: prefix,
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
    fn index_patterns_render_dates() {
        let p = IndexPattern::new("cwl-%Y.%m.%d").unwrap();
        assert!(p.is_dated());
        assert_eq!(
            p.render(1_576_280_412_771).unwrap().as_str(),
            "cwl-2019.12.13"
        );
        assert_eq!(p.render(-5).unwrap().as_str(), "cwl-1970.01.01");
        assert_eq!(p.template_pattern(), "cwl-*");
        let h = IndexPattern::new("x-%Y%m%d%H").unwrap();
        assert_eq!(
            h.render(1_576_280_412_771).unwrap().as_str(),
            "x-2019121323"
        );
        let plain = IndexPattern::new("waf").unwrap();
        assert!(!plain.is_dated());
        assert_eq!(plain.template_pattern(), "waf");
        assert!(IndexPattern::new("a-%q").is_err());
        assert!(IndexPattern::new("A-%Y").is_err());
    }

    #[test]
    fn opensearch_sink_config() {
        let text = format!(
            "{GOOD}\n[sinks.search]\ntype = \"opensearch\"\nurls = [\"http://127.0.0.1:9200\"]\ndead_letter_sink = \"local\"\npassword = \"hunter2\"\nusername = \"admin\"\nbulk_max_age_ms = 0\n"
        );
        let c = Config::parse(&text).unwrap();
        let SinkConfig::OpenSearch(os) = &c.sinks["search"] else {
            panic!()
        };
        assert!(os.bulk_max_age.is_zero());
        assert!(
            !format!("{os:?}").contains("hunter2"),
            "secrets print as ***"
        );
        let bad = text
            .replace(
                "dead_letter_sink = \"local\"",
                "dead_letter_sink = \"search\"",
            )
            .replace("http://127.0.0.1:9200", "ftp://x");
        let e = Config::parse(&bad).unwrap_err().problems.join("\n");
        assert!(e.contains("sinks.search.dead_letter_sink"), "{e}");
        assert!(e.contains("sinks.search.urls[0]"), "{e}");
    }

    #[test]
    fn date_fields_default_by_plugin() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.routes[0].date_fields, vec!["timestamp"]);
        assert_eq!(c.routes[0].index_patterns, vec!["demo-waf"]);
    }

    #[test]
    fn every_index_is_inside_the_tenant_prefix() {
        assert_eq!(namespaced("acme-", "waf"), "acme-waf");
        assert_eq!(namespaced("acme-", "acme-waf"), "acme-waf", "idempotent");
        assert_eq!(namespaced("beta-", "acme-waf"), "beta-acme-waf");
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.routes[0].index.as_str(), "demo-waf");
        assert_eq!(c.routes[0].index_prefix, "demo-");
        let own = GOOD.replace(
            "access_keys = [\"demo-access-key\"]",
            "access_keys = [\"demo-access-key\"]\nindex_prefix = \"siem-\"",
        );
        let c = Config::parse(&own).unwrap();
        assert_eq!(c.routes[0].index.as_str(), "siem-waf");
    }

    #[test]
    fn overlapping_index_prefixes_are_refused() {
        let two = format!(
            "{GOOD}\n[[tenants]]\nid = \"demo-eu\"\naccess_keys = [\"other-access-key\"]\n"
        );
        // `demo-` is a prefix of `demo-eu-`: demo could write demo-eu's indices.
        let e = Config::parse(&two).unwrap_err().problems.join("\n");
        assert!(e.contains("overlap"), "{e}");
        let fixed = two.replace(
            "id = \"demo-eu\"",
            "id = \"demo-eu\"\nindex_prefix = \"eu-\"",
        );
        Config::parse(&fixed).unwrap();
        let empty = two.replace("id = \"demo-eu\"", "id = \"demo-eu\"\nindex_prefix = \"\"");
        assert!(
            Config::parse(&empty).is_err(),
            "an empty prefix overlaps every other"
        );
    }

    #[test]
    fn plugins_from_a_directory_or_s3() {
        let text = GOOD
            .replace(
                "[sinks.local]",
                "[plugins]\ndir = \"/srv/weir/plugins\"\n\n[sinks.local]",
            )
            .replace("builtin:waf", "acme-waf.wasm");
        let c = Config::parse(&text).unwrap();
        assert_eq!(
            c.routes[0].plugin,
            PluginRef::File(PathBuf::from("/srv/weir/plugins/acme-waf.wasm"))
        );
        let digest = "ab".repeat(32);
        let s3 = GOOD
            .replace(
                "[sinks.local]",
                "[sinks.store]\ntype = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\n\n[sinks.local]",
            )
            .replace("builtin:waf", "s3://plugins/acme/waf.wasm");
        let e = Config::parse(&s3).unwrap_err().problems.join("\n");
        assert!(e.contains("routes[0].plugin_store"), "{e}");
        let pinned = s3.replace(
            "sink = \"local\"",
            &format!("sink = \"local\"\nplugin_store = \"store\"\nplugin_sha256 = \"{digest}\""),
        );
        let c = Config::parse(&pinned).unwrap();
        assert_eq!(
            c.routes[0].plugin,
            PluginRef::S3 {
                bucket: "plugins".into(),
                key: "acme/waf.wasm".into()
            }
        );
        let unpinned = s3.replace(
            "sink = \"local\"",
            "sink = \"local\"\nplugin_store = \"store\"",
        );
        let e = Config::parse(&unpinned).unwrap_err().problems.join("\n");
        assert!(e.contains("must be pinned"), "{e}");
        assert!(PluginRef::parse("s3://bucket").is_err());
    }

    #[test]
    fn access_keys_as_digests() {
        // printf %s demo-access-key | sha256sum
        let digest =
            crate::plugin::hex(&<sha2::Sha256 as sha2::Digest>::digest(b"demo-access-key"));
        let text = GOOD.replace(
            "access_keys = [\"demo-access-key\"]",
            &format!("access_key_sha256 = [\"{digest}\"]"),
        );
        let c = Config::parse(&text).unwrap();
        let keys = &c.tenants.values().next().unwrap().access_keys;
        assert!(crate::tenant::any_key_matches(keys, b"demo-access-key"));
        assert!(!crate::tenant::any_key_matches(keys, b"demo-access-kez"));
        let bad = GOOD.replace(
            "access_keys = [\"demo-access-key\"]",
            "access_key_sha256 = [\"abc\"]",
        );
        let e = Config::parse(&bad).unwrap_err().problems.join("\n");
        assert!(e.contains("tenants[0].access_key_sha256[0]"), "{e}");
    }

    #[test]
    fn quotas_and_route_limits() {
        let text = GOOD
            .replace(
                "access_keys = [\"demo-access-key\"]",
                "access_keys = [\"demo-access-key\"]\nrecords_per_second = 1000\nmax_batch_records = 50\nmax_requests_in_flight = 3",
            )
            .replace(
                "sink = \"local\"",
                "sink = \"local\"\nmemory_mib = 32\ntimeout_ms = 200\nfuel = 1000000\nmax_output_mib = 2",
            );
        let c = Config::parse(&text).unwrap();
        let q = &c.tenants.values().next().unwrap().quotas;
        assert_eq!(
            (
                q.records_per_second,
                q.max_batch_records,
                q.max_requests_in_flight
            ),
            (Some(1000), 50, 3)
        );
        assert_eq!(
            q.max_concurrent_batches, DEFAULT_MAX_CONCURRENT_BATCHES,
            "alone: the whole pool"
        );
        let l = &c.routes[0].limits;
        assert_eq!(l.memory_bytes, 32 << 20);
        assert_eq!(l.timeout, Duration::from_millis(200));
        assert_eq!(l.fuel, Some(1_000_000));
        assert_eq!(l.max_output_bytes, 2 << 20);
        assert!(
            c.plugins.consume_fuel,
            "a route with fuel turns fuel counting on"
        );
        assert!(!Config::parse(GOOD).unwrap().plugins.consume_fuel);
        let too_big = text.replace("memory_mib = 32", "memory_mib = 100000");
        let e = Config::parse(&too_big).unwrap_err().problems.join("\n");
        assert!(e.contains("routes[0].memory_mib"), "{e}");
        let pinned_builtin = GOOD.replace(
            "sink = \"local\"",
            &format!("sink = \"local\"\nplugin_sha256 = \"{}\"", "a".repeat(64)),
        );
        let e = Config::parse(&pinned_builtin)
            .unwrap_err()
            .problems
            .join("\n");
        assert!(e.contains("routes[0].plugin_sha256"), "{e}");
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
