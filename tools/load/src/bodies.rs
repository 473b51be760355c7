//! The records read from a source's fixtures, and the Firehose request bodies
//! built from them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use bytes::Bytes;

/// Every record of the fixtures of one source (`tests/fixtures/plugins/<source>`):
/// `*.lines.in` is one record per line, any other `*.in` one record (JSON
/// made one line, as AWS writes it; other bytes, gzip included, as they
/// are). Cases whose golden output has a failed record are left out: the
/// load measures records that are delivered.
pub(crate) fn fixture_records(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading fixtures {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".in"))
        .collect();
    files.sort();
    for f in files {
        let name = f.to_string_lossy().to_string();
        let stem = name.trim_end_matches(".in").trim_end_matches(".lines");
        if std::fs::read_to_string(format!("{stem}.out.ndjson"))
            .is_ok_and(|golden| golden.contains(r#""outcome":"failed""#))
        {
            continue;
        }
        let bytes = std::fs::read(&f)?;
        if name.ends_with(".lines.in") {
            out.extend(weir_load::non_blank_lines(&bytes));
        } else {
            out.push(one_line(&bytes));
        }
    }
    if out.is_empty() {
        bail!("no fixtures in {}", dir.display());
    }
    Ok(out)
}

/// A pretty-printed JSON sample as one line, as AWS writes them; anything
/// else unchanged.
fn one_line(bytes: &[u8]) -> Vec<u8> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| bytes.to_vec())
}

/// A request body: its id, the JSON bytes, the record bytes it carries.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// The Firehose request id (`x-amz-firehose-request-id` and `requestId`).
    pub(crate) id: String,
    /// The request's JSON.
    pub(crate) json: Bytes,
    /// Records in the request.
    pub(crate) records: usize,
    /// The records' bytes before base64.
    pub(crate) record_bytes: usize,
    /// Whether `json` is gzip-compressed (sent with `content-encoding: gzip`).
    pub(crate) gzip: bool,
}

/// `count` request bodies of `per_request` records each, cycling through
/// `records`; ids are `<tag>-<n>-0000-…`.
pub(crate) fn build_bodies(
    records: &[Vec<u8>],
    per_request: usize,
    count: usize,
    tag: &str,
) -> Vec<Body> {
    let b64 = base64::engine::general_purpose::STANDARD;
    (0..count)
        .map(|i| {
            let id = format!("{tag}-{i:08}-0000-0000-0000-000000000000");
            let recs: Vec<&Vec<u8>> = (0..per_request)
                .map(|k| &records[(i * per_request + k) % records.len()])
                .collect();
            let json = serde_json::json!({
                "requestId": id,
                "timestamp": 1_700_000_000_000i64 + i as i64,
                "records": recs.iter().map(|r| serde_json::json!({"data": b64.encode(r)})).collect::<Vec<_>>(),
            });
            Body {
                id,
                json: Bytes::from(json.to_string()),
                records: per_request,
                record_bytes: recs.iter().map(|r| r.len()).sum(),
                gzip: false,
            }
        })
        .collect()
}
