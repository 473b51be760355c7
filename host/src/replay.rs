//! Re-drive dead letters through the pipeline once their cause is fixed (a
//! mapping changed, a plugin updated): `weir replay`.
//!
//! Dead letters are read from S3 (`s3://bucket/prefix`, gzip or plain NDJSON
//! objects) or from a directory (the directory sink's `dead-letters/`). The
//! records of each original request are delivered again as one batch with
//! the original request id and record numbers, so the documents get the ids
//! they would have had: a replay never duplicates, and replaying twice is
//! harmless. Records that fail again become dead letters again.
//!
//! The tenant and route of a line are those of the place it was read from
//! (`dead-letters/<tenant>/<route>.ndjson`, or the S3 key
//! `<prefix>/<tenant>/<route>/<kind>/…/<request-id>-<n>.ndjson.gz`), never
//! only what the line says: a line that disagrees with its place, or whose
//! request id is not one the intakes accept, is refused and counted
//! (issue #13, finding 8).

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
    /// Lines refused: their tenant, route, kind or request id disagree with
    /// where they were read, or the place is not a dead-letter location.
    pub refused: usize,
}

/// Dead letters read from a source, each checked against where it lives.
#[derive(Debug, Clone, Default)]
pub struct DeadLetters {
    /// Files or objects read.
    pub sources: usize,
    /// The lines that agree with their place.
    pub letters: Vec<DeadLetterLine>,
    /// Lines refused (logged with the reason).
    pub refused: usize,
}

/// Where a dead-letter file or object says its lines belong: the sinks
/// write `dead-letters/<tenant>/<route>.ndjson` (directory) and
/// `<prefix>/<tenant>/<route>/<kind>/YYYY/MM/DD/HH/<request-id>-<n>.ndjson.gz`
/// (S3). Access to those places is what separates tenants, so the place
/// decides, never the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    tenant: String,
    route: String,
    /// S3 only: the kind and request id the key names.
    kind: Option<String>,
    request_id: Option<String>,
}

/// `…/<tenant>/<route>.ndjson[.gz]`.
fn dir_place(file: &Path) -> Option<Place> {
    let name = file.file_name()?.to_str()?;
    let route = name
        .strip_suffix(".ndjson.gz")
        .or_else(|| name.strip_suffix(".ndjson"))?;
    let tenant = file.parent()?.file_name()?.to_str()?;
    Some(Place {
        tenant: tenant.to_string(),
        route: route.to_string(),
        kind: None,
        request_id: None,
    })
}

/// `<prefix>/<tenant>/<route>/<kind>/YYYY/MM/DD/HH/<request-id>-<n>.ndjson[.gz]`.
fn s3_place(key: &str, prefix: &str) -> Option<Place> {
    let rest = if prefix.is_empty() {
        key
    } else {
        key.strip_prefix(prefix)?.strip_prefix('/')?
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let [tenant, route, kind, _, _, _, _, file] = segs.as_slice() else {
        return None;
    };
    let stem = file
        .strip_suffix(".ndjson.gz")
        .or_else(|| file.strip_suffix(".ndjson"))?;
    let (request_id, n) = stem.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Place {
        tenant: tenant.to_string(),
        route: route.to_string(),
        kind: Some(kind.to_string()),
        request_id: Some(request_id.to_string()),
    })
}

/// A request id as the Firehose intake accepts it (1 to 128 of
/// `A-Z a-z 0-9 . _ -`): it becomes part of document ids.
fn is_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Why `line`, read at `place`, is refused (`None`: accepted).
fn disagreement(place: Option<&Place>, line: &DeadLetterLine) -> Option<String> {
    let Some(place) = place else {
        return Some("not at a dead-letter location (<tenant>/<route>…)".into());
    };
    if line.tenant != place.tenant || line.route != place.route {
        return Some(format!(
            "the line says tenant {:?} route {:?}, its place {:?} {:?}",
            line.tenant, line.route, place.tenant, place.route
        ));
    }
    if !is_request_id(&line.request_id) {
        return Some(format!("request id {:?} is not valid", line.request_id));
    }
    if place
        .kind
        .as_ref()
        .is_some_and(|k| *k != line.kind.to_string())
        || place
            .request_id
            .as_ref()
            .is_some_and(|r| *r != line.request_id)
    {
        return Some(format!(
            "the line's kind {} or request id {:?} is not its key's",
            line.kind, line.request_id
        ));
    }
    None
}

impl DeadLetters {
    /// Parse one file or object and keep the lines that agree with `place`.
    fn add(&mut self, bytes: &[u8], origin: &str, place: Option<Place>) -> Result<(), String> {
        self.sources += 1;
        for line in parse_dead_letters(bytes, origin)? {
            match disagreement(place.as_ref(), &line) {
                None => self.letters.push(line),
                Some(why) => {
                    tracing::warn!(origin = ?origin, reason = why, "replay: dead letter refused");
                    self.refused += 1;
                }
            }
        }
        Ok(())
    }
}

/// Read every dead letter from `source`, keeping only the lines whose
/// tenant, route (and in S3, kind and request id) are those of the file or
/// key they were read from. S3 access uses the config's s3 sink for that
/// bucket when there is one (its endpoint, region, credentials and key
/// prefix), else the standard AWS settings and no prefix.
pub async fn read(config: &Config, source: &ReplaySource) -> Result<DeadLetters, String> {
    match source {
        ReplaySource::Dir(dir) => read_dir(dir),
        ReplaySource::S3 { bucket, prefix } => read_s3(config, bucket, prefix).await,
    }
}

fn read_dir(dir: &Path) -> Result<DeadLetters, String> {
    let mut files = Vec::new();
    collect_files(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    files.sort();
    let mut out = DeadLetters::default();
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        out.add(&bytes, &f.display().to_string(), dir_place(f))?;
    }
    Ok(out)
}

async fn read_s3(config: &Config, bucket: &str, prefix: &str) -> Result<DeadLetters, String> {
    let dead_letter_sinks: Vec<&str> = config
        .sinks
        .values()
        .filter_map(|s| match s {
            SinkConfig::OpenSearch(os) => Some(os.dead_letter_sink.as_str()),
            _ => None,
        })
        .collect();
    // The s3 sinks of this bucket, those that store dead letters first.
    let mut sinks: Vec<(bool, &S3Config)> = config
        .sinks
        .iter()
        .filter_map(|(name, s)| match s {
            SinkConfig::S3(c) if c.bucket == bucket => {
                Some((dead_letter_sinks.contains(&name.as_str()), c))
            }
            _ => None,
        })
        .collect();
    sinks.sort_by_key(|(dl, _)| !dl);
    // The key prefixes dead letters are written under, longest first; no
    // dead-letter sink for this bucket: keys start with the tenant.
    let mut prefixes: Vec<&str> = sinks
        .iter()
        .filter(|(dl, _)| *dl)
        .map(|(_, c)| c.prefix.as_str())
        .collect();
    if prefixes.is_empty() {
        prefixes.push("");
    }
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let sink = S3Sink::new(sinks.first().map_or_else(
        || S3Config {
            bucket: bucket.to_string(),
            prefix: String::new(),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            endpoint: None,
            force_path_style: false,
            profile: None,
            role_arn: None,
            external_id: None,
        },
        |(_, c)| (*c).clone(),
    ));
    let keys = list_keys(&sink, bucket, prefix).await?;
    let mut out = DeadLetters::default();
    for key in &keys {
        let bytes = sink
            .get_capped(bucket, key, MAX_DEAD_LETTER_OBJECT_BYTES)
            .await
            .map_err(|e| e.to_string())?
            .bytes;
        let place = prefixes.iter().find_map(|p| s3_place(key, p));
        out.add(&bytes, &format!("s3://{bucket}/{key}"), place)?;
    }
    Ok(out)
}

async fn list_keys(sink: &S3Sink, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
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
            return Ok(keys);
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

/// Re-drive the dead letters [`read`] kept (grouped by original request)
/// through `pipeline`.
/// `route_override` sends them all to the route with that name instead of
/// their own. `dry_run` only counts.
pub async fn replay(
    pipeline: &Pipeline,
    read: DeadLetters,
    route_override: Option<&str>,
    dry_run: bool,
) -> Result<ReplayReport, String> {
    let DeadLetters {
        sources,
        letters,
        refused,
    } = read;
    let mut report = ReplayReport {
        sources,
        records: letters.len() + refused,
        refused,
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

    fn line(tenant: &str, route: &str, request_id: &str) -> DeadLetterLine {
        let mut l = parse_dead_letters(
            br#"{"timestamp":"x","request_timestamp":5,"tenant":"demo","route":"waf","request_id":"r","source_arn":null,"record_index":3,"kind":"processing-failed","reason":"bad","document":null,"data":"YmFk"}"#,
            "t",
        )
        .unwrap()
        .remove(0);
        l.tenant = tenant.into();
        l.route = route.into();
        l.request_id = request_id.into();
        l
    }

    #[test]
    fn the_place_decides_tenant_and_route() {
        let dir = dir_place(Path::new("/data/dead-letters/demo/waf.ndjson")).unwrap();
        assert_eq!((dir.tenant.as_str(), dir.route.as_str()), ("demo", "waf"));
        assert_eq!(
            disagreement(Some(&dir), &line("demo", "waf", "rid-1")),
            None
        );
        assert!(disagreement(Some(&dir), &line("beta", "waf", "rid-1")).is_some());
        assert!(disagreement(Some(&dir), &line("demo", "other", "rid-1")).is_some());
        assert!(disagreement(Some(&dir), &line("demo", "waf", "a/b")).is_some());
        assert!(disagreement(Some(&dir), &line("demo", "waf", "")).is_some());
        assert!(disagreement(None, &line("demo", "waf", "rid-1")).is_some());

        let key = "weir/demo/waf/processing-failed/2019/12/13/23/rid-1-0.ndjson.gz";
        let s3 = s3_place(key, "weir").unwrap();
        assert_eq!((s3.tenant.as_str(), s3.route.as_str()), ("demo", "waf"));
        assert_eq!(disagreement(Some(&s3), &line("demo", "waf", "rid-1")), None);
        assert!(disagreement(Some(&s3), &line("demo", "waf", "rid-2")).is_some());
        assert!(disagreement(Some(&s3), &line("beta", "waf", "rid-1")).is_some());
        // A key one level deeper (a forged tenant inside demo's area) is
        // not a dead-letter location; nor is one outside the prefix.
        assert_eq!(
            s3_place(
                "weir/demo/x/beta/waf/processing-failed/2019/12/13/23/rid-1-0.ndjson.gz",
                "weir"
            ),
            None
        );
        assert_eq!(s3_place(key, "other"), None);
        assert!(s3_place(&key[5..], "").is_some());
    }
}
