//! The S3 dead-letter store (aws-sdk-s3). Dead letters are written as gzip
//! NDJSON objects (one line per record, the same format as the directory
//! sink's dead letters) before the Firehose request is acknowledged; if S3
//! cannot be written, the request gets non-200 and Firehose retries it.
//!
//! Key layout, in the spirit of Firehose's own error output:
//! `<prefix>/<tenant>/<route>/<kind>/YYYY/MM/DD/HH/<request-id>-<n>.ndjson.gz`.
//! The date is the Firehose request's own timestamp and `<n>` counts the
//! objects of one request and kind, so a retried request writes the same
//! keys: one copy, never two.

use aws_sdk_s3::primitives::ByteStream;
use tokio::sync::OnceCell;

use crate::budget::BudgetError;

use super::{BackupObject, BoxFuture, DeadLetterKind, Sink, SinkBatch, SinkError, WriteSummary};

pub use crate::config::S3Config;

/// The store. The AWS client is created on first use (loading credentials is async).
#[derive(Debug)]
pub struct S3Sink {
    config: S3Config,
    client: OnceCell<aws_sdk_s3::Client>,
}

/// An object fetched whole.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its ETag.
    pub etag: String,
    /// Last modified, ms since the epoch (0 if unknown).
    pub modified_ms: i64,
}

/// Why an object was not fetched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Over the cap; not read.
    #[error("{0}")]
    TooLarge(String),
    /// S3 answered 403 or 404: missing, access denied, no such bucket.
    /// Retrying does not help.
    #[error("{0}")]
    Unavailable(String),
    /// S3 could not be reached or read (retry later).
    #[error("{0}")]
    Failed(String),
    /// The memory budget refused the object's bytes (retry later).
    #[error(transparent)]
    Refused(#[from] BudgetError),
}

impl S3Sink {
    /// A store for `config`. Nothing is contacted until the first write.
    pub fn new(config: S3Config) -> S3Sink {
        S3Sink {
            config,
            client: OnceCell::new(),
        }
    }

    /// Settings.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// Fetch a whole object of at most `cap` bytes.
    pub async fn get_capped(
        &self,
        bucket: &str,
        key: &str,
        cap: usize,
    ) -> Result<Fetched, FetchError> {
        self.get_metered(bucket, key, cap, &mut |_| Ok(())).await
    }

    /// [`S3Sink::get_capped`] that asks `grant` for the object's size (as
    /// S3 announces it) before reading it, and for any chunk past that
    /// size as it arrives; a refusal stops the read ([`FetchError::Refused`]).
    pub async fn get_metered(
        &self,
        bucket: &str,
        key: &str,
        cap: usize,
        grant: &mut (dyn FnMut(usize) -> Result<(), BudgetError> + Send),
    ) -> Result<Fetched, FetchError> {
        let url = format!("s3://{bucket}/{key}");
        let resp = self
            .client()
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let reason = format!(
                    "fetching {url}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                );
                match e.raw_response().map(|r| r.status().as_u16()) {
                    Some(403 | 404) => FetchError::Unavailable(reason),
                    _ => FetchError::Failed(reason),
                }
            })?;
        let size = resp.content_length().unwrap_or(0).max(0) as usize;
        let too_large = |size: usize| {
            FetchError::TooLarge(format!(
                "{url} is {size} bytes, over the {cap}-byte object cap"
            ))
        };
        if size > cap {
            return Err(too_large(size));
        }
        grant(size)?;
        let etag = resp.e_tag().unwrap_or_default().to_string();
        let modified_ms = resp
            .last_modified()
            .and_then(|t| t.to_millis().ok())
            .unwrap_or(0);
        // Read chunk by chunk: the cap holds even if the length lied.
        let mut body = resp.body;
        let mut bytes = Vec::with_capacity(size.min(cap));
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| FetchError::Failed(format!("reading {url}: {e}")))?;
            if bytes.len() + chunk.len() > cap {
                return Err(too_large(bytes.len() + chunk.len()));
            }
            // Past the announced size (a length that lied): ask for the rest.
            let past = (bytes.len() + chunk.len()).saturating_sub(size.max(bytes.len()));
            grant(past)?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            bytes,
            etag,
            modified_ms,
        })
    }

    /// The client: the standard AWS credential chain (or the sink's
    /// `profile`, then its `role_arn`), ring-based rustls, and the custom
    /// endpoint with path-style addressing when one is set.
    pub async fn client(&self) -> &aws_sdk_s3::Client {
        self.client
            .get_or_init(|| async {
                let sdk = self.sdk_config().await;
                let mut b = aws_sdk_s3::config::Builder::from(&sdk);
                if let Some(ep) = &self.config.endpoint {
                    b = b.endpoint_url(ep).force_path_style(true);
                } else if self.config.force_path_style {
                    b = b.force_path_style(true);
                }
                aws_sdk_s3::Client::from_conf(b.build())
            })
            .await
    }

    /// Region, HTTP client, timeouts and credentials of the AWS SDK.
    async fn sdk_config(&self) -> aws_config::SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let region = aws_config::Region::new(self.config.region.clone());
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(region.clone())
            .http_client(http.clone())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .operation_timeout(std::time::Duration::from_secs(30))
                    .build(),
            );
        if let Some(profile) = &self.config.profile {
            // Only this profile: the environment's keys must not stand in.
            loader = loader.credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .configure(
                        &aws_config::provider_config::ProviderConfig::default()
                            .with_http_client(http)
                            .with_region(Some(region)),
                    )
                    .profile_name(profile)
                    .build(),
            );
        }
        let sdk = loader.load().await;
        let Some(role) = &self.config.role_arn else {
            return sdk;
        };
        let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("weir")
            .configure(&sdk);
        if let Some(id) = &self.config.external_id {
            assume = assume.external_id(id);
        }
        let provider = assume.build().await;
        sdk.into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build()
    }

    /// `<prefix>/<middle>/YYYY/MM/DD/HH/<file>`, dated `at_ms` (UTC),
    /// clamped to 1970..=9999 (`humantime` formats no later year), so every
    /// `i64` gives a key. Firehose requests outside it are refused earlier.
    fn dated_key(&self, middle: &str, at_ms: i64, file: &str) -> String {
        let ms = at_ms.clamp(0, crate::index::MAX_INDEX_TIME_MS) as u64;
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        // "YYYY-MM-DDTHH:MM:SSZ"
        let iso = humantime::format_rfc3339_seconds(t).to_string();
        let mut key = String::new();
        if !self.config.prefix.is_empty() {
            key.push_str(&self.config.prefix);
            key.push('/');
        }
        key.push_str(&format!(
            "{middle}/{}/{}/{}/{}/{file}",
            &iso[0..4],
            &iso[5..7],
            &iso[8..10],
            &iso[11..13]
        ));
        key
    }

    /// Put gzip NDJSON at `key`. With `create_only`, only if no object has
    /// that key (`If-None-Match: *`): S3 answers 412 rather than replace one.
    async fn put_ndjson_gz(
        &self,
        key: &str,
        ndjson: &[u8],
        create_only: bool,
    ) -> Result<(), SinkError> {
        let mut put = self
            .client()
            .await
            .put_object()
            .bucket(&self.config.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .content_encoding("gzip");
        if create_only {
            put = put.if_none_match("*");
        }
        put.body(ByteStream::from(crate::codec::gzip(ndjson)))
            .send()
            .await
            .map_err(|e| SinkError::S3 {
                key: format!("s3://{}/{key}", self.config.bucket),
                reason: format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)),
            })?;
        Ok(())
    }

    /// The object key for one request's dead letters of one kind.
    pub fn key(&self, batch: &SinkBatch, kind: DeadLetterKind, n: usize) -> String {
        self.dated_key(
            &format!("{}/{}/{kind}", batch.tenant, batch.route),
            batch.request_timestamp_ms,
            &format!("{}-{n}.ndjson.gz", batch.request_id),
        )
    }

    /// The object key of a backup:
    /// `<prefix>/backup/<tenant>/<route>/YYYY/MM/DD/HH/<name>.ndjson.gz`.
    pub fn backup_key(&self, object: &BackupObject) -> String {
        self.dated_key(
            &format!("backup/{}/{}", object.tenant, object.route),
            object.at_ms,
            &format!("{}.ndjson.gz", object.name),
        )
    }

    /// Put backup lines at [`S3Sink::backup_key`], never over an existing
    /// object (names are unique, see [`super::backup::object_name`]; the
    /// condition makes sure: a clash fails the requests, for Firehose to
    /// retry into a new object).
    async fn put_backup(&self, object: &BackupObject) -> Result<(), SinkError> {
        self.put_ndjson_gz(&self.backup_key(object), &object.lines, true)
            .await
    }

    /// Write the batch's dead letters, one object per kind. Documents are
    /// not this store's business (routes cannot point at it).
    async fn put_dead_letters(&self, batch: &SinkBatch) -> Result<(), SinkError> {
        for kind in DeadLetterKind::ALL {
            let mut ndjson = Vec::new();
            super::dead_letter::render(
                batch,
                batch.dead_letters.iter().filter(|d| d.kind == kind),
                &mut ndjson,
            );
            if ndjson.is_empty() {
                continue;
            }
            let key = self.key(batch, kind, 0);
            // A retry of the request writes the same key again: one copy.
            self.put_ndjson_gz(&key, &ndjson, false).await?;
            tracing::info!(
                tenant = batch.tenant,
                route = batch.route,
                request_id = batch.request_id,
                kind = %kind,
                key,
                "dead letters written to S3"
            );
        }
        Ok(())
    }
}

impl Sink for S3Sink {
    fn write(&self, batch: SinkBatch) -> BoxFuture<'_, Result<WriteSummary, SinkError>> {
        Box::pin(async move {
            if !batch.documents.is_empty() {
                return Err(SinkError::Setup(
                    "an s3 sink stores dead letters only; documents need a directory or opensearch sink".into(),
                ));
            }
            self.put_dead_letters(&batch).await?;
            Ok(WriteSummary::stored(&batch))
        })
    }

    fn write_backup(&self, object: BackupObject) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move { self.put_backup(&object).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> S3Sink {
        S3Sink::new(S3Config {
            bucket: "b".into(),
            prefix: "weir".into(),
            region: "us-east-1".into(),
            endpoint: None,
            force_path_style: false,
            profile: None,
            role_arn: None,
            external_id: None,
        })
    }

    #[test]
    fn backup_keys_are_dated_by_the_first_request_and_named_uniquely() {
        let object = |name: String| BackupObject {
            tenant: "demo".into(),
            route: "waf".into(),
            name,
            at_ms: 1_576_280_412_771,
            lines: Vec::new(),
        };
        let now = std::time::SystemTime::now();
        let a = sink().backup_key(&object(super::super::backup::object_name(
            now, "rid-1", 2, 8,
        )));
        let b = sink().backup_key(&object(super::super::backup::object_name(
            now, "rid-1", 2, 8,
        )));
        assert_ne!(a, b);
        for key in [&a, &b] {
            assert!(
                key.starts_with("weir/backup/demo/waf/2019/12/13/23/"),
                "{key}"
            );
            assert!(key.ends_with("-rid-1-2-8.ndjson.gz"), "{key}");
        }
    }

    #[test]
    fn keys_follow_the_firehose_like_layout() {
        let s = sink();
        let batch = SinkBatch {
            tenant: "demo".into(),
            route: "waf".into(),
            request_id: "rid-1".into(),
            request_timestamp_ms: 1_576_280_412_771,
            ..SinkBatch::default()
        };
        assert_eq!(
            s.key(&batch, DeadLetterKind::OpenSearchRejected, 0),
            "weir/demo/waf/opensearch-rejected/2019/12/13/23/rid-1-0.ndjson.gz"
        );
        // Total: any i64 gives a key (humantime panics past the year 9999).
        for (ms, date) in [
            (i64::MIN, "1970/01/01/00"),
            (-1, "1970/01/01/00"),
            (253_402_300_800_000, "9999/12/31/23"),
            (i64::MAX, "9999/12/31/23"),
        ] {
            let b = SinkBatch {
                request_timestamp_ms: ms,
                ..batch.clone()
            };
            assert_eq!(
                s.key(&b, DeadLetterKind::OpenSearchRejected, 0),
                format!("weir/demo/waf/opensearch-rejected/{date}/rid-1-0.ndjson.gz")
            );
        }
    }
}
