//! Counting the run's records in its S3 backup objects: every object
//! under the run's prefix, gunzipped, each line a record (its `data` in
//! base64) with the request id and record number it came with.
//!
//! The backup's contract (`host/src/sink/backup.rs`): a request is
//! acknowledged only once an object holding its records is durable, and
//! object names never repeat, so no object overwrites another. A retried
//! request is backed up again, in another object: an acknowledged record
//! is in the backup **at least once**, and its copies carry the same
//! request id and record number, which tell them apart from a record
//! sent twice. So the checker counts markers with no copy (a loss) and
//! markers with more than one (repeats, by design); a marker under two
//! different (request id, record number) pairs would be a duplicate.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;

use anyhow::Context;
use base64::Engine as _;

use super::S3;

/// Largest backup object the checker reads, gunzipped.
const MAX_OBJECT_BYTES: u64 = 256 << 20;

/// Copies per marker in the backup, and the distinct (request id, record
/// number) pairs they carry.
#[derive(Debug, Default)]
pub(super) struct Copies {
    /// Lines per marker.
    pub(super) lines: HashMap<String, usize>,
    /// Distinct (request id, record number) per marker.
    pub(super) sources: HashMap<String, HashSet<(String, u64)>>,
    /// Objects read.
    pub(super) objects: usize,
}

/// An S3 client for `s3` (path style; the credentials of the standard
/// environment variables, as `weir` reads them).
fn client(s3: &S3) -> anyhow::Result<aws_sdk_s3::Client> {
    let var = |k: &str| std::env::var(k).with_context(|| format!("{k} is not set"));
    let creds = aws_sdk_s3::config::Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        None,
        None,
        "weir-load",
    );
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(s3.region.clone()))
        .credentials_provider(creds)
        .http_client(http)
        .endpoint_url(&s3.endpoint)
        .force_path_style(true)
        .build();
    Ok(aws_sdk_s3::Client::from_conf(conf))
}

/// The keys of every object under `prefix`.
async fn keys(c: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(keys),
        }
    }
}

/// Read every backup object under `prefix` and count the copies of each
/// marker (the record's `httpRequest.requestId`).
pub(super) async fn copies(s3: &S3, prefix: &str) -> anyhow::Result<Copies> {
    let c = client(s3)?;
    let mut out = Copies::default();
    let b64 = base64::engine::general_purpose::STANDARD;
    for key in keys(&c, &s3.bucket, prefix).await? {
        let body = c
            .get_object()
            .bucket(&s3.bucket)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("reading s3://{}/{key}", s3.bucket))?
            .body
            .collect()
            .await
            .with_context(|| format!("reading s3://{}/{key}", s3.bucket))?
            .into_bytes();
        // Stored gzipped (`content-encoding: gzip`, which the client
        // leaves alone); anything else is read as it is. Capped by `take`
        // (the host's capped gunzip is not a dependency of this tool).
        let mut text = Vec::new();
        #[allow(clippy::disallowed_types)]
        let gunzipped = flate2::read::MultiGzDecoder::new(&body[..])
            .take(MAX_OBJECT_BYTES)
            .read_to_end(&mut text);
        if gunzipped.is_err() {
            text = body.to_vec();
        }
        out.objects += 1;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
            let data = b64
                .decode(v["data"].as_str().unwrap_or(""))
                .unwrap_or_default();
            let record: serde_json::Value = serde_json::from_slice(&data).unwrap_or_default();
            let Some(m) = record["httpRequest"]["requestId"].as_str() else {
                continue;
            };
            *out.lines.entry(m.to_string()).or_insert(0) += 1;
            out.sources.entry(m.to_string()).or_default().insert((
                v["request_id"].as_str().unwrap_or("").to_string(),
                v["record_index"].as_u64().unwrap_or(0),
            ));
        }
    }
    Ok(out)
}

/// Delete every object under `prefix` (whatever the answers).
pub(super) async fn delete(s3: &S3, prefix: &str) {
    let Ok(c) = client(s3) else {
        return;
    };
    let Ok(keys) = keys(&c, &s3.bucket, prefix).await else {
        return;
    };
    for key in keys {
        let _ = c.delete_object().bucket(&s3.bucket).key(&key).send().await;
    }
}
