//! Re-drive dead letters through the pipeline once their cause is fixed (a
//! mapping changed, a plugin updated): `weir replay`.
//!
//! Dead letters are read from S3 (`s3://bucket/prefix`, gzip or plain NDJSON
//! objects) or from a directory (the directory sink's `dead-letters/`). The
//! records of each original request are delivered again as one batch with
//! the original request id and record numbers, so the documents get the ids
//! they would have had: a replay never duplicates, and replaying twice is
//! harmless. Records that fail again become dead letters again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, SinkConfig};
use crate::pipeline::{Batch, Origin, Pipeline, Route};
use crate::sink::DeadLetterLine;
use crate::sink::s3::{S3Config, S3Sink};

/// Where dead letters are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySource {
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
    /// A directory, read recursively (`*.ndjson`, `*.ndjson.gz`).
    Dir(PathBuf),
}

impl ReplaySource {
    /// Parse `s3://bucket/prefix` or a path.
    pub fn parse(s: &str) -> Result<ReplaySource, String> {
        match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("{s:?}: no bucket"));
                }
                Ok(ReplaySource::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.to_string(),
                })
            }
            None => Ok(ReplaySource::Dir(PathBuf::from(s))),
        }
    }
}

/// Parse dead-letter NDJSON (gzip or plain). `origin` names the file/object in errors.
pub fn parse_dead_letters(bytes: &[u8], origin: &str) -> Result<Vec<DeadLetterLine>, String> {
    let plain = if crate::codec::is_gzip(bytes) {
        crate::codec::gunzip_capped(bytes, MAX_DEAD_LETTER_BYTES)
            .map_err(|e| format!("{origin}: {e}"))?
    } else {
        bytes.to_vec()
    };
    DeadLetterLine::parse_all(&plain).map_err(|e| format!("{origin}: {e}"))
}

/// The most bytes one dead-letter file or object may inflate to (four
/// times Firehose's 64 MiB: base64 and the line's other fields).
pub const MAX_DEAD_LETTER_BYTES: usize = 256 * 1024 * 1024;

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Files or objects read.
    pub sources: usize,
    /// Dead letters read.
    pub records: usize,
    /// Original requests re-driven.
    pub requests: usize,
    /// Documents indexed.
    pub documents: usize,
    /// Records the plugin dropped this time.
    pub dropped: usize,
    /// Records that failed again (and are dead letters again).
    pub failed: usize,
    /// Records skipped: no route by that name for that tenant.
    pub skipped: usize,
}

/// Read every dead letter from `source`. S3 access uses the config's s3
/// sink for that bucket when there is one (its endpoint and region), else
/// the standard AWS settings.
pub async fn read(
    config: &Config,
    source: &ReplaySource,
) -> Result<(usize, Vec<DeadLetterLine>), String> {
    match source {
        ReplaySource::Dir(dir) => {
            let mut files = Vec::new();
            collect_files(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
            files.sort();
            let mut all = Vec::new();
            for f in &files {
                let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
                all.extend(parse_dead_letters(&bytes, &f.display().to_string())?);
            }
            Ok((files.len(), all))
        }
        ReplaySource::S3 { bucket, prefix } => {
            let s3cfg = config
                .sinks
                .values()
                .find_map(|s| match s {
                    SinkConfig::S3(c) if &c.bucket == bucket => Some(c.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| S3Config {
                    bucket: bucket.clone(),
                    prefix: String::new(),
                    region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
                    endpoint: None,
                    force_path_style: false,
                });
            let sink = S3Sink::new(s3cfg);
            let client = sink.client().await;
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "listing s3://{bucket}/{prefix}: {}",
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        )
                    })?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
                token = page.next_continuation_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            let mut all = Vec::new();
            for key in &keys {
                let bytes = sink
                    .get_capped(bucket, key, MAX_DEAD_LETTER_OBJECT_BYTES)
                    .await
                    .map_err(|e| e.to_string())?
                    .bytes;
                all.extend(parse_dead_letters(&bytes, &format!("s3://{bucket}/{key}"))?);
            }
            Ok((keys.len(), all))
        }
    }
}

/// The largest dead-letter object read back (one request's dead letters of
/// one kind: at most Firehose's 64 MiB of records, base64 and gzip).
const MAX_DEAD_LETTER_OBJECT_BYTES: usize = 512 * 1024 * 1024;

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if p.to_string_lossy().ends_with(".ndjson")
            || p.to_string_lossy().ends_with(".ndjson.gz")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// (tenant, route name, request id) of an original request.
type RequestKey = (String, String, String);

/// Re-drive `letters` (grouped by original request) through `pipeline`.
/// `route_override` sends them all to the route with that name instead of
/// their own. `dry_run` only counts.
pub async fn replay(
    pipeline: &Pipeline,
    letters: Vec<DeadLetterLine>,
    route_override: Option<&str>,
    dry_run: bool,
) -> Result<ReplayReport, String> {
    let mut report = ReplayReport {
        records: letters.len(),
        ..ReplayReport::default()
    };
    // (tenant, route, request id) → records by original number (a record
    // dead-lettered twice, e.g. by two replays, is re-driven once).
    let mut groups: BTreeMap<RequestKey, (i64, BTreeMap<usize, Vec<u8>>)> = BTreeMap::new();
    for l in letters {
        let g = groups
            .entry((l.tenant, l.route, l.request_id))
            .or_insert_with(|| (l.request_timestamp, BTreeMap::new()));
        g.1.insert(l.record_index, l.data);
    }
    for ((tenant, route_name, request_id), (timestamp_ms, records)) in groups {
        let name = route_override.unwrap_or(&route_name);
        let Some(route) = find_route(pipeline, &tenant, name) else {
            tracing::warn!(
                tenant,
                route = name,
                request_id,
                "replay: no such route for this tenant; skipped"
            );
            report.skipped += records.len();
            continue;
        };
        report.requests += 1;
        if dry_run {
            continue;
        }
        let (numbers, data): (Vec<usize>, Vec<Vec<u8>>) = records.into_iter().unzip();
        let batch = Batch {
            id: request_id,
            timestamp_ms,
            source_arn: None,
            attributes: Vec::new(),
            records: data,
            record_numbers: Some(numbers),
            origin: Origin::Replay,
        };
        let d = pipeline
            .deliver(&route, batch)
            .await
            .map_err(|e| e.to_string())?;
        report.documents += d.documents;
        report.dropped += d.dropped;
        report.failed += d.failed;
    }
    Ok(report)
}

fn find_route(pipeline: &Pipeline, tenant: &str, name: &str) -> Option<Arc<Route>> {
    pipeline
        .routes()
        .find(|r| r.config.name == name && r.tenant.id.as_str() == tenant)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            ReplaySource::parse("s3://b/weir/demo").unwrap(),
            ReplaySource::S3 {
                bucket: "b".into(),
                prefix: "weir/demo".into()
            }
        );
        assert_eq!(
            ReplaySource::parse("s3://b").unwrap(),
            ReplaySource::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert!(ReplaySource::parse("s3:///x").is_err());
        assert_eq!(
            ReplaySource::parse("dead-letters").unwrap(),
            ReplaySource::Dir("dead-letters".into())
        );
    }

    #[test]
    fn parses_stored_dead_letters() {
        let line = br#"{"timestamp":"x","request_timestamp":5,"tenant":"demo","route":"waf","request_id":"r","source_arn":null,"record_index":3,"kind":"processing-failed","reason":"bad","document":null,"data":"YmFk"}"#;
        let got = parse_dead_letters(&crate::codec::gzip(line), "t").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].record_index, 3);
        assert_eq!(got[0].data, b"bad");
        assert_eq!(got[0].request_timestamp, 5);
        assert!(
            parse_dead_letters(b"{}", "t")
                .unwrap_err()
                .contains("missing field")
        );
    }
}
