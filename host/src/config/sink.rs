//! `[sinks.<name>]`: where documents and dead letters go. The settings of
//! each kind live here, as plain data; the sinks themselves (`crate::sink`)
//! are built from them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::raw::{RawOpenSearch, RawS3, RawSink};
use crate::secret::Secret;

/// Default: flush a bulk request at this many documents.
pub const DEFAULT_BULK_MAX_DOCUMENTS: usize = 5_000;
/// Default: flush a bulk request at this many bytes (OpenSearch's advice: 5–15 MiB).
pub const DEFAULT_BULK_MAX_BYTES: usize = 5 * 1024 * 1024;
/// Default: flush when the oldest waiting document is this old.
pub const DEFAULT_BULK_MAX_AGE: Duration = Duration::from_secs(1);
/// Default: bulk requests in flight at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 2;
/// Default: give up retrying 429/5xx/connection failures after this long,
/// and answer the Firehose requests non-200 instead (Firehose retries).
pub const DEFAULT_RETRY_MAX_ELAPSED: Duration = Duration::from_secs(30);
/// Default: one HTTP request to OpenSearch may take this long.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// SigV4 service names: `es` (OpenSearch Service) and `aoss` (Serverless).
pub const SIGV4_SERVICES: &[&str] = &["es", "aoss"];

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
    S3(S3Config),
    /// OpenSearch `_bulk`, dead letters to a directory or S3 sink.
    OpenSearch(OpenSearchConfig),
}

/// Settings of an S3 dead-letter store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket.
    pub bucket: String,
    /// Key prefix (no leading or trailing `/`), e.g. `weir`.
    pub prefix: String,
    /// Region.
    pub region: String,
    /// Custom endpoint (an S3-compatible server); implies path-style addressing.
    pub endpoint: Option<String>,
    /// Force path-style addressing.
    pub force_path_style: bool,
    /// Credentials from this profile of the AWS shared config and
    /// credentials files instead of the standard chain (a tenant's own).
    pub profile: Option<String>,
    /// Assume this IAM role (STS `AssumeRole`, session `weir`) with the
    /// credentials above, e.g. a role in the tenant's account that can read
    /// only its trail bucket.
    pub role_arn: Option<String>,
    /// The `ExternalId` the role's trust policy requires.
    pub external_id: Option<String>,
}

/// OpenSearch sink settings (validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSearchConfig {
    /// Base URLs, e.g. `https://search.example.com:9200`.
    pub urls: Vec<String>,
    /// Basic auth user.
    pub username: Option<String>,
    /// Basic auth password.
    pub password: Option<Secret>,
    /// Extra CA certificate(s) (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Sign requests with AWS SigV4 (Amazon OpenSearch Service / Serverless).
    pub aws_sigv4: Option<SigV4Config>,
    /// Gzip `_bulk` request bodies.
    pub gzip: bool,
    /// Flush at this many documents.
    pub bulk_max_documents: usize,
    /// Flush at this many bytes.
    pub bulk_max_bytes: usize,
    /// Flush when the oldest document waited this long (zero: flush per request).
    pub bulk_max_age: Duration,
    /// Bulk requests in flight.
    pub max_in_flight: usize,
    /// Retry budget for transient failures.
    pub retry_max_elapsed: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Sink that receives dead letters (a directory sink).
    pub dead_letter_sink: String,
}

/// AWS SigV4 signing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Config {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// `es` (OpenSearch Service) or `aoss` (Serverless).
    pub service: String,
}

impl SinkConfig {
    /// An OpenSearch sink at `url` with default settings, dead letters to `dead_letter_sink`.
    pub fn opensearch_at(url: &str, dead_letter_sink: &str) -> SinkConfig {
        SinkConfig::OpenSearch(OpenSearchConfig {
            urls: vec![url.to_string()],
            username: None,
            password: None,
            ca_file: None,
            aws_sigv4: None,
            gzip: false,
            bulk_max_documents: DEFAULT_BULK_MAX_DOCUMENTS,
            bulk_max_bytes: DEFAULT_BULK_MAX_BYTES,
            bulk_max_age: DEFAULT_BULK_MAX_AGE,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry_max_elapsed: DEFAULT_RETRY_MAX_ELAPSED,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            dead_letter_sink: dead_letter_sink.to_string(),
        })
    }
}

/// Sink names by what they can be used for, taken before validation so
/// every section can check references to sinks.
#[derive(Debug, Default)]
pub(super) struct SinkNames {
    /// Every sink.
    pub(super) all: Vec<String>,
    /// Directory and s3 sinks: dead letters and backups.
    pub(super) dead_letter: Vec<String>,
    /// s3 sinks: object and plugin stores.
    pub(super) s3: Vec<String>,
}

impl SinkNames {
    pub(super) fn of(sinks: &BTreeMap<String, RawSink>) -> SinkNames {
        let mut names = SinkNames::default();
        for (name, sink) in sinks {
            names.all.push(name.clone());
            if matches!(sink, RawSink::Directory { .. } | RawSink::S3(_)) {
                names.dead_letter.push(name.clone());
            }
            if matches!(sink, RawSink::S3(_)) {
                names.s3.push(name.clone());
            }
        }
        names
    }
}

/// Whether `s` is an absolute `http` or `https` URL with a host.
fn is_http_url(s: &str) -> bool {
    s.parse::<http::Uri>()
        .is_ok_and(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some())
}

/// Every `[sinks.<name>]`.
pub(super) fn validate_sinks(
    raw: BTreeMap<String, RawSink>,
    names: &SinkNames,
    problems: &mut Vec<String>,
) -> BTreeMap<String, SinkConfig> {
    let mut sinks = BTreeMap::new();
    for (name, sink) in raw {
        let at = format!("sinks.{name}");
        let sink = match sink {
            RawSink::Directory { path } => {
                if path.as_os_str().is_empty() {
                    problems.push(format!("{at}.path: empty"));
                }
                SinkConfig::Directory { path }
            }
            RawSink::S3(s3) => SinkConfig::S3(validate_s3(&at, s3, problems)),
            RawSink::OpenSearch(os) => {
                SinkConfig::OpenSearch(validate_opensearch(&at, os, names, problems))
            }
        };
        sinks.insert(name, sink);
    }
    sinks
}

fn validate_s3(at: &str, raw: RawS3, problems: &mut Vec<String>) -> S3Config {
    if raw.bucket.is_empty() || raw.bucket.contains('/') {
        problems.push(format!(
            "{at}.bucket: {:?} is not a bucket name",
            raw.bucket
        ));
    }
    if raw.region.is_empty() {
        problems.push(format!("{at}.region: empty"));
    }
    if let Some(ep) = &raw.endpoint
        && !is_http_url(ep)
    {
        problems.push(format!("{at}.endpoint: {ep:?} is not an http(s) URL"));
    }
    if raw.profile.as_deref() == Some("") {
        problems.push(format!("{at}.profile: empty"));
    }
    if let Some(arn) = &raw.role_arn
        && !(arn.starts_with("arn:") && arn.contains(":role/"))
    {
        problems.push(format!("{at}.role_arn: {arn:?} is not an IAM role ARN"));
    }
    if raw.external_id.is_some() && raw.role_arn.is_none() {
        problems.push(format!("{at}.external_id: only with role_arn"));
    }
    S3Config {
        bucket: raw.bucket,
        prefix: raw.prefix.trim_matches('/').to_string(),
        region: raw.region,
        endpoint: raw.endpoint,
        force_path_style: raw.force_path_style,
        profile: raw.profile,
        role_arn: raw.role_arn,
        external_id: raw.external_id,
    }
}

fn validate_opensearch(
    at: &str,
    raw: RawOpenSearch,
    names: &SinkNames,
    problems: &mut Vec<String>,
) -> OpenSearchConfig {
    check_opensearch_access(at, &raw, problems);
    if !names.dead_letter.contains(&raw.dead_letter_sink) {
        problems.push(format!(
            "{at}.dead_letter_sink: {:?} is not a directory or s3 sink (defined: {})",
            raw.dead_letter_sink,
            names.dead_letter.join(", ")
        ));
    }
    let mut positive = |v: Option<usize>, default: usize, key: &str| match v {
        Some(0) => {
            problems.push(format!("{at}.{key}: must be at least 1"));
            default
        }
        Some(v) => v,
        None => default,
    };
    let bulk_max_documents = positive(
        raw.bulk_max_documents,
        DEFAULT_BULK_MAX_DOCUMENTS,
        "bulk_max_documents",
    );
    let bulk_max_bytes = positive(raw.bulk_max_bytes, DEFAULT_BULK_MAX_BYTES, "bulk_max_bytes");
    let max_in_flight = positive(raw.max_in_flight, DEFAULT_MAX_IN_FLIGHT, "max_in_flight");
    let ms = |v: Option<u64>, default: Duration| v.map(Duration::from_millis).unwrap_or(default);
    let mut request_timeout = ms(raw.request_timeout_ms, DEFAULT_REQUEST_TIMEOUT);
    if request_timeout.is_zero() {
        problems.push(format!("{at}.request_timeout_ms: must be at least 1"));
        request_timeout = DEFAULT_REQUEST_TIMEOUT;
    }
    OpenSearchConfig {
        urls: raw.urls,
        username: raw.username,
        password: raw.password.map(Secret::new),
        ca_file: raw.ca_file,
        aws_sigv4: raw.aws_sigv4.map(|s| SigV4Config {
            region: s.region,
            service: s.service,
        }),
        gzip: raw.gzip,
        bulk_max_documents,
        bulk_max_bytes,
        bulk_max_age: ms(raw.bulk_max_age_ms, DEFAULT_BULK_MAX_AGE),
        max_in_flight,
        retry_max_elapsed: ms(raw.retry_max_elapsed_ms, DEFAULT_RETRY_MAX_ELAPSED),
        request_timeout,
        dead_letter_sink: raw.dead_letter_sink,
    }
}

/// URLs and authentication: basic auth or SigV4, not both.
fn check_opensearch_access(at: &str, raw: &RawOpenSearch, problems: &mut Vec<String>) {
    if raw.urls.is_empty() {
        problems.push(format!("{at}.urls: at least one URL"));
    }
    for (i, u) in raw.urls.iter().enumerate() {
        if !is_http_url(u) {
            problems.push(format!("{at}.urls[{i}]: {u:?} is not an http(s) URL"));
        }
    }
    if let Some(sig) = &raw.aws_sigv4 {
        if !SIGV4_SERVICES.contains(&sig.service.as_str()) {
            problems.push(format!(
                "{at}.aws_sigv4.service: {:?} must be \"es\" (OpenSearch Service) or \"aoss\" (Serverless)",
                sig.service
            ));
        }
        if sig.region.is_empty() {
            problems.push(format!("{at}.aws_sigv4.region: empty"));
        }
        if raw.username.is_some() {
            problems.push(format!(
                "{at}: use either basic auth or aws_sigv4, not both"
            ));
        }
    }
    if raw.username.is_some() != raw.password.is_some() {
        problems.push(format!(
            "{at}: set both `username` and `password`, or neither"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_sink_names() {
        assert!(is_http_url("https://search.example.com:9200"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("search.example.com"));
        let raw: BTreeMap<String, RawSink> = toml::from_str(
            "[dir]\ntype = \"directory\"\npath = \"d\"\n\
             [store]\ntype = \"s3\"\nbucket = \"b\"\nregion = \"r\"\n\
             [search]\ntype = \"opensearch\"\nurls = [\"http://h\"]\ndead_letter_sink = \"store\"\n",
        )
        .unwrap();
        let names = SinkNames::of(&raw);
        assert_eq!(names.all, ["dir", "search", "store"]);
        assert_eq!(names.dead_letter, ["dir", "store"]);
        assert_eq!(names.s3, ["store"]);
        let mut problems = Vec::new();
        let sinks = validate_sinks(raw, &names, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let SinkConfig::OpenSearch(os) = &sinks["search"] else {
            panic!("{sinks:?}")
        };
        assert_eq!(
            (os.bulk_max_documents, os.request_timeout),
            (DEFAULT_BULK_MAX_DOCUMENTS, DEFAULT_REQUEST_TIMEOUT)
        );
    }
}
