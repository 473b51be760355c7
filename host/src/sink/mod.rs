//! Sinks: where documents and dead letters go.
//!
//! A sink's `write` returns only once everything in the batch is durable
//! (written and flushed); the pipeline answers Firehose 200 only after that.

pub mod backup;
pub mod directory;
pub mod opensearch;
pub mod s3;

use std::fmt;

use crate::config::IndexName;

/// A document ready for a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDocument {
    /// The record it came from (index into [`SinkBatch::records`]).
    pub record_index: usize,
    /// Target index.
    pub index: IndexName,
    /// Deterministic document id.
    pub id: String,
    /// One-line JSON object.
    pub body: String,
}

/// Why a record became a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterKind {
    /// The plugin marked the record failed, broke the contract for it, or
    /// the whole batch failed (trap, timeout, out of memory).
    ProcessingFailed,
    /// OpenSearch rejected one of the record's documents permanently
    /// (for example a mapping conflict).
    OpenSearchRejected,
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeadLetterKind::ProcessingFailed => "processing-failed",
            DeadLetterKind::OpenSearchRejected => "opensearch-rejected",
        })
    }
}

/// A record that could not be indexed, with everything needed to replay it.
/// The original bytes are `SinkBatch::records[record_index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Index of the record in its request.
    pub record_index: usize,
    /// Kind of failure.
    pub kind: DeadLetterKind,
    /// Human-readable reason (OpenSearch's error type and reason where it gave one).
    pub reason: String,
    /// The rejected document (index, id), for OpenSearch rejections.
    pub document: Option<(String, String)>,
}

/// Everything one request produced, written as a unit.
#[derive(Debug, Clone, Default)]
pub struct SinkBatch {
    /// Tenant id.
    pub tenant: String,
    /// Route name.
    pub route: String,
    /// Firehose request id.
    pub request_id: String,
    /// Delivery stream ARN.
    pub source_arn: Option<String>,
    /// The request's own timestamp (ms; Firehose keeps it across retries).
    pub request_timestamp_ms: i64,
    /// How many times this host has seen this request (1 on the first
    /// delivery; Firehose retries keep the request id). In memory only.
    pub attempt: u32,
    /// The original records (base64-decoded), in request order.
    pub records: Vec<Vec<u8>>,
    /// Original record numbers when the batch is a replay (see
    /// `FirehoseRequest::record_numbers`); `None`: positional.
    pub record_numbers: Option<Vec<usize>>,
    /// Documents to index.
    pub documents: Vec<IndexedDocument>,
    /// Records to dead-letter.
    pub dead_letters: Vec<DeadLetter>,
}

/// A sink failed to make a batch durable. The request must be retried.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Local I/O failed.
    #[error("writing {path}: {source}")]
    Io {
        /// File involved.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The blocking writer task died.
    #[error("sink writer task failed: {0}")]
    Task(String),
    /// OpenSearch did not take the documents in time.
    #[error(transparent)]
    Bulk(#[from] opensearch::BulkError),
    /// The sink could not be set up.
    #[error("{0}")]
    Setup(String),
    /// S3 could not be written.
    #[error("writing {key}: {reason}")]
    S3 {
        /// The object.
        key: String,
        /// What S3 (or the network) said.
        reason: String,
    },
}

/// A configured sink.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a handful per process, built once
pub enum Sink {
    /// Local directory.
    Directory(directory::DirectorySink),
    /// S3: a dead-letter store only (routes cannot point at it).
    S3(s3::S3Sink),
    /// OpenSearch, with dead letters going to a directory or S3 sink.
    OpenSearch {
        /// The bulk indexer.
        search: opensearch::OpenSearchSink,
        /// Where rejected and failed records go.
        dead_letters: std::sync::Arc<Sink>,
    },
}

impl Sink {
    /// Write a batch durably: documents indexed (or permanently rejected
    /// and then dead-lettered), dead letters written. `Err` means the
    /// request must be answered non-200.
    pub async fn write(&self, mut batch: SinkBatch) -> Result<WriteSummary, SinkError> {
        match self {
            Sink::Directory(d) => {
                let summary = WriteSummary {
                    indexed: batch.documents.len(),
                    dead_letters: batch.dead_letters.len(),
                };
                d.write(batch).await?;
                Ok(summary)
            }
            Sink::S3(s3) => {
                if !batch.documents.is_empty() {
                    return Err(SinkError::Setup(
                        "an s3 sink stores dead letters only; documents need a directory or opensearch sink".into(),
                    ));
                }
                s3.write(&batch).await?;
                Ok(WriteSummary {
                    indexed: 0,
                    dead_letters: batch.dead_letters.len(),
                })
            }
            Sink::OpenSearch {
                search,
                dead_letters,
            } => {
                let documents = std::mem::take(&mut batch.documents);
                let owners: Vec<usize> = documents.iter().map(|d| d.record_index).collect();
                let docs = documents
                    .into_iter()
                    .map(|d| opensearch::BulkDoc {
                        index: d.index.as_str().to_string(),
                        id: d.id,
                        body: d.body,
                    })
                    .collect::<Vec<_>>();
                let results = search.index(docs).await?;
                let mut indexed = 0;
                let mut rejected_records = std::collections::BTreeSet::new();
                for (result, owner) in results.into_iter().zip(owners) {
                    match result {
                        opensearch::DocResult::Indexed => indexed += 1,
                        opensearch::DocResult::Rejected { error, index, id } => {
                            // One dead letter per record, even if several of its documents were rejected.
                            if rejected_records.insert(owner) {
                                batch.dead_letters.push(DeadLetter {
                                    record_index: owner,
                                    kind: DeadLetterKind::OpenSearchRejected,
                                    reason: error.to_string(),
                                    document: Some((index, id)),
                                });
                            }
                        }
                    }
                }
                let summary = WriteSummary {
                    indexed,
                    dead_letters: batch.dead_letters.len(),
                };
                if !batch.dead_letters.is_empty() {
                    Box::pin(dead_letters.write(batch)).await?;
                }
                Ok(summary)
            }
        }
    }
}

/// Append one JSON line per dead letter: `timestamp` (written),
/// `request_timestamp` (the Firehose request's, stable across retries),
/// `tenant`, `route`, `request_id`, `source_arn`, `record_index`, `kind`,
/// `reason`, `attempt`, `document` (index and id, for OpenSearch rejections) and `data`
/// (the original record, base64). Shared by every dead-letter store, so a
/// replay tool reads one format.
pub fn render_dead_letters<'a>(
    batch: &SinkBatch,
    dead_letters: impl Iterator<Item = &'a DeadLetter>,
    out: &mut Vec<u8>,
) {
    use base64::Engine as _;
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let b64 = base64::engine::general_purpose::STANDARD;
    for dl in dead_letters {
        let line = serde_json::json!({
            "timestamp": now,
            "request_timestamp": batch.request_timestamp_ms,
            "attempt": batch.attempt,
            "tenant": batch.tenant,
            "route": batch.route,
            "request_id": batch.request_id,
            "source_arn": batch.source_arn,
            "record_index": batch
                .record_numbers
                .as_ref()
                .and_then(|n| n.get(dl.record_index).copied())
                .unwrap_or(dl.record_index),
            "kind": dl.kind.to_string(),
            "reason": dl.reason,
            "document": dl.document.as_ref().map(|(index, id)| serde_json::json!({"index": index, "id": id})),
            "data": b64.encode(batch.records.get(dl.record_index).map(Vec::as_slice).unwrap_or_default()),
        });
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &line);
        out.push(b'\n');
    }
}

/// A request's raw records as backup lines: one JSON line per record with
/// `tenant`, `route`, `request_id`, `request_timestamp`, `source_arn`,
/// `record_index` and `data` (base64).
pub fn backup_lines(tenant: &str, route: &str, req: &crate::firehose::FirehoseRequest) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut lines = Vec::with_capacity(req.records.iter().map(|r| r.len() * 4 / 3 + 160).sum());
    for (i, data) in req.records.iter().enumerate() {
        let number = req
            .record_numbers
            .as_ref()
            .and_then(|n| n.get(i).copied())
            .unwrap_or(i);
        let line = serde_json::json!({
            "tenant": tenant,
            "route": route,
            "request_id": req.request_id,
            "request_timestamp": req.timestamp_ms,
            "source_arn": req.source_arn,
            "record_index": number,
            "data": b64.encode(data),
        });
        let _ = serde_json::to_writer(&mut lines, &line);
        lines.push(b'\n');
    }
    lines
}

impl Sink {
    /// Write one backup object (S3: `<name>.ndjson.gz` under
    /// `<prefix>/backup/<tenant>/<route>/YYYY/MM/DD/HH/`, dated `at_ms`;
    /// directory: appended to `backup/<tenant>/<route>.ndjson`). Durable on return.
    pub async fn write_backup_object(
        &self,
        tenant: &str,
        route: &str,
        name: &str,
        at_ms: i64,
        lines: Vec<u8>,
    ) -> Result<(), SinkError> {
        match self {
            Sink::Directory(d) => d.append_backup(tenant, route, lines).await,
            Sink::S3(s3) => s3.put_backup(tenant, route, name, at_ms, lines).await,
            Sink::OpenSearch { .. } => Err(SinkError::Setup(
                "a backup goes to a directory or s3 sink".into(),
            )),
        }
    }
}

/// What a sink did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Documents indexed.
    pub indexed: usize,
    /// Records dead-lettered.
    pub dead_letters: usize,
}
