//! Dead letters: records that could not be indexed, with everything needed
//! to replay them. One line format, [`DeadLetterLine`], written by every
//! dead-letter store and read back by `weir replay` through the same type.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::SinkBatch;

/// Why a record became a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeadLetterKind {
    /// The plugin marked the record failed, broke the contract for it, or
    /// the whole call failed (trap, timeout, out of memory).
    #[serde(rename = "processing-failed")]
    ProcessingFailed,
    /// OpenSearch rejected one of the record's documents permanently
    /// (for example a mapping conflict).
    #[serde(rename = "opensearch-rejected")]
    OpenSearchRejected,
}

impl DeadLetterKind {
    /// Every kind, in the order stores write them.
    pub const ALL: [DeadLetterKind; 2] = [
        DeadLetterKind::ProcessingFailed,
        DeadLetterKind::OpenSearchRejected,
    ];
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeadLetterKind::ProcessingFailed => "processing-failed",
            DeadLetterKind::OpenSearchRejected => "opensearch-rejected",
        })
    }
}

/// A record that could not be indexed. The original bytes are
/// `SinkBatch::records[record_index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Index of the record in its batch.
    pub record_index: usize,
    /// Kind of failure.
    pub kind: DeadLetterKind,
    /// Human-readable reason (OpenSearch's error type and reason where it gave one).
    pub reason: String,
    /// The rejected document, for OpenSearch rejections.
    pub document: Option<DocumentRef>,
}

impl DeadLetter {
    /// A record the plugin (or the host's checks of its output) failed.
    pub fn processing_failed(record_index: usize, reason: String) -> DeadLetter {
        DeadLetter {
            record_index,
            kind: DeadLetterKind::ProcessingFailed,
            reason,
            document: None,
        }
    }
}

/// The index and id of a rejected document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRef {
    /// Index.
    pub index: String,
    /// Document id.
    pub id: String,
}

/// One dead letter as stored: one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterLine {
    /// When it was written (RFC 3339).
    pub timestamp: String,
    /// The original batch's timestamp (ms; stable across Firehose retries).
    pub request_timestamp: i64,
    /// How many times the host had seen the batch.
    #[serde(default)]
    pub attempt: u32,
    /// Tenant.
    pub tenant: String,
    /// Route name.
    pub route: String,
    /// Original request id.
    pub request_id: String,
    /// Delivery stream or bucket ARN.
    #[serde(default)]
    pub source_arn: Option<String>,
    /// Record number in the original request.
    pub record_index: usize,
    /// Kind of failure.
    pub kind: DeadLetterKind,
    /// Why.
    pub reason: String,
    /// The rejected document, for OpenSearch rejections.
    #[serde(default)]
    pub document: Option<DocumentRef>,
    /// The original record (base64 in the line).
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

/// Why a dead-letter line could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: not a dead letter: {source}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub source: serde_json::Error,
}

impl DeadLetterLine {
    /// Parse NDJSON dead letters (blank lines are skipped).
    pub fn parse_all(ndjson: &[u8]) -> Result<Vec<DeadLetterLine>, ParseError> {
        ndjson
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(n, line)| {
                serde_json::from_slice(line).map_err(|source| ParseError {
                    line: n + 1,
                    source,
                })
            })
            .collect()
    }
}

/// Append one JSON line per dead letter of `batch` to `out`. Shared by
/// every dead-letter store, so a replay reads one format.
pub fn render<'a>(
    batch: &SinkBatch,
    dead_letters: impl Iterator<Item = &'a DeadLetter>,
    out: &mut Vec<u8>,
) {
    let timestamp = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    for dl in dead_letters {
        let line = DeadLetterLine {
            timestamp: timestamp.clone(),
            request_timestamp: batch.request_timestamp_ms,
            attempt: batch.attempt,
            tenant: batch.tenant.clone(),
            route: batch.route.clone(),
            request_id: batch.request_id.clone(),
            source_arn: batch.source_arn.clone(),
            record_index: batch.record_number(dl.record_index),
            kind: dl.kind,
            reason: dl.reason.clone(),
            document: dl.document.clone(),
            data: batch
                .records
                .get(dl.record_index)
                .cloned()
                .unwrap_or_default(),
        };
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &line);
        out.push(b'\n');
    }
}

/// `data` as standard base64 in the JSON line.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("bad `data`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_line_reads_back_the_same() {
        let batch = SinkBatch {
            tenant: "demo".into(),
            route: "waf".into(),
            request_id: "r".into(),
            request_timestamp_ms: 5,
            attempt: 2,
            records: vec![b"ok".to_vec(), b"bad".to_vec()],
            record_numbers: Some(vec![7, 9]),
            ..SinkBatch::default()
        };
        let dls = [DeadLetter {
            record_index: 1,
            kind: DeadLetterKind::OpenSearchRejected,
            reason: "mapper_parsing_exception".into(),
            document: Some(DocumentRef {
                index: "waf".into(),
                id: "r-9-0".into(),
            }),
        }];
        let mut out = Vec::new();
        render(&batch, dls.iter(), &mut out);
        let back = DeadLetterLine::parse_all(&out).unwrap();
        assert_eq!(back.len(), 1);
        let l = &back[0];
        assert_eq!((l.tenant.as_str(), l.route.as_str()), ("demo", "waf"));
        assert_eq!((l.record_index, l.attempt), (9, 2));
        assert_eq!(l.kind, DeadLetterKind::OpenSearchRejected);
        assert_eq!(l.data, b"bad");
        assert_eq!(l.document, dls[0].document);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "opensearch-rejected");
        // The kind reads and writes as it displays (S3 keys use Display).
        for kind in DeadLetterKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.to_string());
        }
        assert_eq!(v["data"], "YmFk");
    }

    #[test]
    fn a_line_of_the_previous_release_parses() {
        let line = br#"{"timestamp":"x","request_timestamp":5,"tenant":"demo","route":"waf","request_id":"r","source_arn":null,"record_index":3,"kind":"processing-failed","reason":"bad","document":null,"data":"YmFk"}"#;
        let l = &DeadLetterLine::parse_all(line).unwrap()[0];
        assert_eq!(l.data, b"bad");
        assert_eq!(l.kind, DeadLetterKind::ProcessingFailed);
        let err = DeadLetterLine::parse_all(b"\n{\"tenant\":1}").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
