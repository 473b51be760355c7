//! The configuration as written: serde structs that mirror the TOML, with
//! unknown keys refused (`deny_unknown_fields`). Nothing here is validated;
//! the section modules turn these into the validated types.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) server: RawServer,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) plugins: RawPluginLimits,
    #[serde(default)]
    pub(super) sinks: BTreeMap<String, RawSink>,
    #[serde(default)]
    pub(super) tenants: Vec<RawTenant>,
    #[serde(default)]
    pub(super) routes: Vec<RawRoute>,
    pub(super) geoip: Option<RawGeoIp>,
    pub(super) quota_store: Option<RawQuotaStore>,
}

/// `[quota_store]`: the shared store of tenants' rate buckets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuotaStore {
    pub(super) url: String,
    pub(super) on_unreachable: Option<String>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) key_prefix: Option<String>,
}

/// `[geoip]`: MaxMind-format databases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGeoIp {
    pub(super) city: Option<PathBuf>,
    pub(super) asn: Option<PathBuf>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: String,
    #[serde(default)]
    pub(super) plain_http: bool,
    pub(super) tls: Option<RawTls>,
    pub(super) metrics_token: Option<String>,
    pub(super) metrics_listen: Option<String>,
    pub(super) max_connections: Option<usize>,
    pub(super) handshake_timeout_ms: Option<u64>,
    pub(super) header_read_timeout_ms: Option<u64>,
    pub(super) idle_timeout_ms: Option<u64>,
}

/// `[server.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

/// `[limits]`: Firehose request limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) max_body_bytes: Option<usize>,
    pub(super) max_records: Option<usize>,
    pub(super) memory_budget_bytes: Option<usize>,
}

/// `[plugins]`: sandbox limits and where plugins live.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPluginLimits {
    pub(super) memory_mib: Option<u64>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) max_concurrent_batches: Option<usize>,
    pub(super) log_bytes: Option<usize>,
    pub(super) fuel: Option<u64>,
    pub(super) max_output_mib: Option<u64>,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) dir: Option<PathBuf>,
}

/// `[sinks.<name>]`, by `type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // a handful per process, built once
pub(super) enum RawSink {
    Directory {
        path: PathBuf,
    },
    S3(RawS3),
    #[serde(rename = "opensearch")]
    OpenSearch(RawOpenSearch),
}

/// `type = "s3"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawS3 {
    pub(super) bucket: String,
    #[serde(default)]
    pub(super) prefix: String,
    pub(super) region: String,
    pub(super) endpoint: Option<String>,
    #[serde(default)]
    pub(super) force_path_style: bool,
    pub(super) profile: Option<String>,
    pub(super) role_arn: Option<String>,
    pub(super) external_id: Option<String>,
}

/// `type = "opensearch"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOpenSearch {
    pub(super) urls: Vec<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) aws_sigv4: Option<RawSigV4>,
    #[serde(default)]
    pub(super) gzip: bool,
    pub(super) bulk_max_documents: Option<usize>,
    pub(super) bulk_max_bytes: Option<usize>,
    pub(super) bulk_max_age_ms: Option<u64>,
    pub(super) max_in_flight: Option<usize>,
    pub(super) retry_max_elapsed_ms: Option<u64>,
    pub(super) request_timeout_ms: Option<u64>,
    pub(super) dead_letter_sink: String,
}

/// `[sinks.<name>.aws_sigv4]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigV4 {
    pub(super) region: String,
    pub(super) service: String,
}

/// `[[tenants]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenant {
    pub(super) id: String,
    #[serde(default)]
    pub(super) access_keys: Vec<String>,
    #[serde(default)]
    pub(super) access_key_sha256: Vec<String>,
    pub(super) access_key_sha256_file: Option<std::path::PathBuf>,
    pub(super) index_prefix: Option<String>,
    pub(super) max_requests_in_flight: Option<usize>,
    pub(super) records_per_second: Option<u64>,
    pub(super) bytes_per_second: Option<u64>,
    pub(super) memory_share_bytes: Option<usize>,
    pub(super) max_batch_records: Option<usize>,
    pub(super) max_concurrent_batches: Option<usize>,
}

/// `[[routes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) path: String,
    pub(super) name: Option<String>,
    pub(super) tenant: String,
    pub(super) plugin: String,
    pub(super) index: String,
    pub(super) sink: String,
    #[serde(default)]
    pub(super) allow_plugin_index: bool,
    pub(super) plugin_config: Option<toml::Table>,
    pub(super) date_fields: Option<Vec<String>>,
    pub(super) index_patterns: Option<Vec<String>>,
    pub(super) backup: Option<String>,
    pub(super) backup_max_bytes: Option<usize>,
    pub(super) backup_max_age_ms: Option<u64>,
    pub(super) kind: Option<String>,
    pub(super) object_store: Option<String>,
    pub(super) allow_objects: Option<Vec<String>>,
    pub(super) plugin_sha256: Option<String>,
    pub(super) plugin_store: Option<String>,
    pub(super) memory_mib: Option<u64>,
    pub(super) timeout_ms: Option<u64>,
    pub(super) fuel: Option<u64>,
    pub(super) max_output_mib: Option<u64>,
    pub(super) max_indices_per_request: Option<usize>,
    pub(super) max_indices_per_day: Option<usize>,
}
