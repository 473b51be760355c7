//! `[[routes]]`: URL path → tenant + plugin + plugin config + index + sink.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::limits::{BatchLimits, PluginLimits, route_batch_limits};
use super::objects::ObjectPrefix;
use super::raw::RawRoute;
use super::sink::SinkNames;
use super::tenant::TenantConfig;
use crate::index::{IndexPattern, namespaced};
use crate::tenant::TenantId;

/// Default: write a backup object at this many bytes of lines.
pub const DEFAULT_BACKUP_MAX_BYTES: usize = 5 * 1024 * 1024;
/// Default: write a backup object when its first request waited this long.
pub const DEFAULT_BACKUP_MAX_AGE: Duration = Duration::from_secs(1);

/// Default `routes[].max_indices_per_request`: the most distinct indices
/// the documents of one request may name. Index names come from record
/// content (dated patterns, a plugin's own index), and every distinct index
/// costs a file in the directory sink and a shard target in `_bulk`. Honest
/// traffic names few: a CloudTrail or CloudWatch Logs batch spans a day or
/// two of daily indices, Security Hub findings tens of products. A record
/// whose documents would take a request past the bound is dead-lettered
/// with the reason; the rest are delivered.
pub const DEFAULT_MAX_INDICES_PER_REQUEST: usize = 100;

/// Default `routes[].max_indices_per_day`: the most distinct indices a
/// route's documents may name within 24 h (a name leaves the count a day
/// after it was last named). The per-request bound alone lets a tenant
/// name 100 new indices with every request; this bounds what the route
/// makes the sinks keep over time. Honest traffic names few: daily
/// patterns a handful (today, late records' days), Security Hub tens of
/// products. Past it, records naming a new index are dead-lettered with
/// the reason.
pub const DEFAULT_MAX_INDICES_PER_DAY: usize = 1000;

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

/// Why a plugin reference is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginRefError {
    /// `s3://` without both a bucket and a key.
    #[error("{0:?} is not s3://<bucket>/<key>")]
    NotS3Url(String),
    /// `builtin:<name>` naming no built-in plugin.
    #[error("unknown built-in plugin `{name}` (built in: {known})")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The built-in plugins, comma-separated.
        known: String,
    },
    /// Nothing at all.
    #[error("empty plugin reference")]
    Empty,
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
    pub fn parse(s: &str) -> Result<PluginRef, PluginRefError> {
        if let Some(rest) = s.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(PluginRef::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                }),
                _ => Err(PluginRefError::NotS3Url(s.to_string())),
            };
        }
        if let Some(name) = s.strip_prefix("builtin:") {
            if !crate::builtin::exists(name) {
                return Err(PluginRefError::UnknownBuiltin {
                    name: name.to_string(),
                    known: crate::builtin::names().join(", "),
                });
            }
            Ok(PluginRef::Builtin(name.to_string()))
        } else if s.is_empty() {
            Err(PluginRefError::Empty)
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
    /// Fields mapped as `date` by the route's index template; `None`: the
    /// date fields the plugin declares in its own metadata.
    pub date_fields: Option<Vec<String>>,
    /// `index_patterns` of the route's index template.
    pub index_patterns: Vec<String>,
    /// Name of the sink in [`Config::sinks`](super::Config::sinks).
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
    /// For `kind = "s3-notification"` routes: the only buckets and key
    /// prefixes its notifications may name (never Weir's own objects).
    /// Empty for a Firehose route.
    pub allow_objects: Vec<ObjectPrefix>,
    /// The plugin's pinned SHA-256 (hex, lowercase); a different file is refused.
    pub plugin_sha256: Option<String>,
    /// For a plugin in S3: the s3 sink whose endpoint, region and credentials fetch it.
    pub plugin_store: Option<String>,
    /// Limits of each plugin call on this route.
    pub limits: BatchLimits,
    /// The tenant's index prefix, applied to indices a plugin asks for.
    pub index_prefix: String,
    /// The most distinct indices one request's documents may name (see
    /// [`DEFAULT_MAX_INDICES_PER_REQUEST`]).
    pub max_indices_per_request: usize,
    /// The most distinct indices the route's documents may name within
    /// 24 h (see [`DEFAULT_MAX_INDICES_PER_DAY`]).
    pub max_indices_per_day: usize,
}

/// What routes are checked against: the sections validated before them.
pub(super) struct RouteContext<'a> {
    pub(super) tenants: &'a BTreeMap<TenantId, TenantConfig>,
    pub(super) plugins: &'a PluginLimits,
    /// `plugins.dir`: relative plugin files are found here.
    pub(super) plugin_dir: Option<&'a Path>,
    pub(super) sinks: &'a SinkNames,
}

/// Every `[[routes]]`; a route with any problem is left out.
pub(super) fn validate_routes(
    raw: Vec<RawRoute>,
    cx: &RouteContext<'_>,
    problems: &mut Vec<String>,
) -> Vec<RouteConfig> {
    let mut routes = Vec::new();
    let mut paths = HashSet::new();
    // Replay, dead-letter places and index templates key routes by
    // (tenant, name): two routes sharing both would be mixed up.
    let mut names = HashSet::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = format!("routes[{i}]");
        let before = problems.len();
        let route = validate_route(&at, r, cx, &mut paths, problems);
        if let Some(route) = route
            && problems.len() == before
        {
            if !names.insert((route.tenant.clone(), route.name.clone())) {
                problems.push(format!(
                    "{at}.name: tenant {:?} already has a route named {:?}; route names must be \
                     unique per tenant (replay, dead letters and index templates are keyed by them)",
                    route.tenant.as_str(),
                    route.name
                ));
                continue;
            }
            routes.push(route);
        }
    }
    routes
}

fn validate_route(
    at: &str,
    r: RawRoute,
    cx: &RouteContext<'_>,
    paths: &mut HashSet<String>,
    problems: &mut Vec<String>,
) -> Option<RouteConfig> {
    let name = path_and_name(at, &r, paths, problems);
    let tenant = tenant(at, &r.tenant, cx.tenants, problems);
    let plugin = plugin(at, &r, cx, problems);
    let index_prefix = tenant
        .as_ref()
        .and_then(|t| cx.tenants.get(t))
        .map(|t| t.index_prefix.clone())
        .unwrap_or_default();
    let index = IndexPattern::new(&namespaced(&index_prefix, &r.index))
        .map_err(|e| problems.push(format!("{at}.index: {e}")))
        .ok();
    let limits = route_batch_limits(at, &r, cx.plugins, problems);
    let max_indices_per_request = r
        .max_indices_per_request
        .unwrap_or(DEFAULT_MAX_INDICES_PER_REQUEST);
    if max_indices_per_request == 0 {
        problems.push(format!("{at}.max_indices_per_request: must be at least 1"));
    }
    let max_indices_per_day = r.max_indices_per_day.unwrap_or(DEFAULT_MAX_INDICES_PER_DAY);
    if max_indices_per_day == 0 {
        problems.push(format!("{at}.max_indices_per_day: must be at least 1"));
    }
    check_sink_references(at, &r, cx.sinks, problems);
    let allow_objects = allow_objects(at, &r, problems);
    let plugin_config = plugin_config_json(at, r.plugin_config.as_ref(), problems);
    for (k, f) in r.date_fields.iter().flatten().enumerate() {
        if f.is_empty() {
            problems.push(format!("{at}.date_fields[{k}]: empty field name"));
        }
    }
    let (tenant, plugin, index) = (tenant?, plugin?, index?);
    let index_patterns = match r.index_patterns {
        Some(ps) => ps.iter().map(|p| namespaced(&index_prefix, p)).collect(),
        None => vec![index.template_pattern()],
    };
    Some(RouteConfig {
        name,
        path: r.path,
        tenant,
        plugin,
        plugin_config,
        index,
        allow_plugin_index: r.allow_plugin_index,
        date_fields: r.date_fields,
        index_patterns,
        sink: r.sink,
        backup: r.backup,
        backup_max_bytes: r.backup_max_bytes.unwrap_or(DEFAULT_BACKUP_MAX_BYTES),
        backup_max_age: r
            .backup_max_age_ms
            .map_or(DEFAULT_BACKUP_MAX_AGE, Duration::from_millis),
        object_store: r.object_store,
        allow_objects,
        plugin_sha256: r.plugin_sha256.map(|d| d.to_ascii_lowercase()),
        plugin_store: r.plugin_store,
        limits,
        index_prefix,
        max_indices_per_request,
        max_indices_per_day,
    })
}

/// The path (absolute, unique) and the name (given, or the path's last segment).
fn path_and_name(
    at: &str,
    r: &RawRoute,
    paths: &mut HashSet<String>,
    problems: &mut Vec<String>,
) -> String {
    if !r.path.starts_with('/') || r.path.contains(['?', '#', ' ']) {
        problems.push(format!(
            "{at}.path: {:?} must be an absolute URL path without query or fragment",
            r.path
        ));
    } else if !paths.insert(r.path.clone()) {
        problems.push(format!("{at}.path: duplicate route path {:?}", r.path));
    }
    let name = r.name.clone().unwrap_or_else(|| {
        let last = r.path.trim_end_matches('/').rsplit('/').next();
        last.unwrap_or_default().to_string()
    });
    if name.is_empty() {
        problems.push(format!("{at}.name: empty; set `name`"));
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        problems.push(format!(
            "{at}.name: {name:?} may only hold A-Z a-z 0-9 `-` `_` `.`"
        ));
    }
    name
}

fn tenant(
    at: &str,
    id: &str,
    tenants: &BTreeMap<TenantId, TenantConfig>,
    problems: &mut Vec<String>,
) -> Option<TenantId> {
    match TenantId::new(id) {
        Ok(t) if tenants.contains_key(&t) => Some(t),
        Ok(t) => {
            problems.push(format!("{at}.tenant: unknown tenant {t}"));
            None
        }
        Err(e) => {
            problems.push(format!("{at}.tenant: {e}"));
            None
        }
    }
}

/// The plugin reference, its pin and its store; relative files are found in `plugins.dir`.
fn plugin(
    at: &str,
    r: &RawRoute,
    cx: &RouteContext<'_>,
    problems: &mut Vec<String>,
) -> Option<PluginRef> {
    let plugin = PluginRef::parse(&r.plugin)
        .map_err(|e| problems.push(format!("{at}.plugin: {e}")))
        .ok();
    if r.plugin_sha256.is_some() && matches!(plugin, Some(PluginRef::Builtin(_))) {
        problems.push(format!(
            "{at}.plugin_sha256: only for plugins loaded from a file or S3 (built-ins are part of the binary)"
        ));
    }
    check_plugin_store(at, r, plugin.as_ref(), cx, problems);
    if let Some(d) = &r.plugin_sha256
        && !crate::digest::is_sha256_hex(d)
    {
        problems.push(format!(
            "{at}.plugin_sha256: {d:?} is not a SHA-256 in hex (64 characters)"
        ));
    }
    match (plugin, cx.plugin_dir) {
        (Some(PluginRef::File(p)), Some(dir)) if p.is_relative() => {
            Some(PluginRef::File(dir.join(p)))
        }
        (p, _) => p,
    }
}

/// `plugin_store`: required (with a pin and the cache on) for a plugin in S3, refused otherwise.
fn check_plugin_store(
    at: &str,
    r: &RawRoute,
    plugin: Option<&PluginRef>,
    cx: &RouteContext<'_>,
    problems: &mut Vec<String>,
) {
    let s3_sinks = &cx.sinks.s3;
    match (plugin, &r.plugin_store) {
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
            if cx.plugins.cache_dir.is_none() {
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
}

/// `backup`, `kind` + `object_store` and `sink` name sinks of the right kind.
fn check_sink_references(at: &str, r: &RawRoute, sinks: &SinkNames, problems: &mut Vec<String>) {
    if let Some(b) = &r.backup
        && !sinks.dead_letter.contains(b)
    {
        problems.push(format!(
            "{at}.backup: {b:?} is not a directory or s3 sink (defined: {})",
            sinks.dead_letter.join(", ")
        ));
    }
    match (r.kind.as_deref().unwrap_or("firehose"), &r.object_store) {
        ("firehose", None) => {}
        ("firehose", Some(_)) => problems.push(format!(
            "{at}.object_store: only for kind = \"s3-notification\" routes"
        )),
        ("s3-notification", Some(o)) if sinks.s3.contains(o) => {}
        ("s3-notification", Some(o)) => problems.push(format!(
            "{at}.object_store: {o:?} is not an s3 sink (defined: {})",
            sinks.s3.join(", ")
        )),
        ("s3-notification", None) => problems.push(format!(
            "{at}.object_store: an s3-notification route needs the s3 sink to fetch objects with"
        )),
        (other, _) => problems.push(format!(
            "{at}.kind: {other:?}; expected \"firehose\" or \"s3-notification\""
        )),
    }
    if sinks.s3.contains(&r.sink) {
        problems.push(format!(
            "{at}.sink: {:?} is an s3 sink, which stores dead letters only; use a directory or opensearch sink",
            r.sink
        ));
    } else if !sinks.all.contains(&r.sink) {
        problems.push(format!(
            "{at}.sink: unknown sink {:?} (defined: {})",
            r.sink,
            sinks.all.join(", ")
        ));
    }
}

/// `allow_objects`: required (and not empty) on an s3-notification
/// route, refused on a Firehose route; each entry `s3://bucket[/prefix]`.
fn allow_objects(at: &str, r: &RawRoute, problems: &mut Vec<String>) -> Vec<ObjectPrefix> {
    let notification = r.kind.as_deref() == Some("s3-notification");
    match (&r.allow_objects, notification) {
        (None, true) => problems.push(format!(
            "{at}.allow_objects: an s3-notification route reads only the objects it lists \
             (`[\"s3://bucket/prefix/\"]`); without the list it would refuse every notification"
        )),
        (Some(list), true) if list.is_empty() => problems.push(format!(
            "{at}.allow_objects: empty; list the buckets (and key prefixes) this route may read"
        )),
        (Some(_), false) => problems.push(format!(
            "{at}.allow_objects: only for kind = \"s3-notification\" routes"
        )),
        _ => {}
    }
    r.allow_objects
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(k, entry)| {
            ObjectPrefix::parse(entry)
                .map_err(|e| problems.push(format!("{at}.allow_objects[{k}]: {e}")))
                .ok()
        })
        .collect()
}

/// The plugin's config table as JSON text (`{}` when absent).
fn plugin_config_json(at: &str, table: Option<&toml::Table>, problems: &mut Vec<String>) -> String {
    match table {
        None => "{}".to_string(),
        Some(table) => serde_json::to_string(table).unwrap_or_else(|e| {
            problems.push(format!("{at}.plugin_config: {e}"));
            String::new()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_refs() {
        assert_eq!(
            PluginRef::parse("builtin:waf"),
            Ok(PluginRef::Builtin("waf".into()))
        );
        assert_eq!(
            PluginRef::parse("x/y.wasm"),
            Ok(PluginRef::File("x/y.wasm".into()))
        );
        assert_eq!(PluginRef::parse(""), Err(PluginRefError::Empty));
        assert_eq!(
            PluginRef::parse("s3://bucket"),
            Err(PluginRefError::NotS3Url("s3://bucket".into()))
        );
        let e = PluginRef::parse("builtin:nope").unwrap_err().to_string();
        assert!(
            e.starts_with("unknown built-in plugin `nope` (built in: "),
            "{e}"
        );
        let s3 = PluginRef::parse("s3://b/k/v.wasm").unwrap();
        assert_eq!(s3.to_string(), "s3://b/k/v.wasm");
    }
}
