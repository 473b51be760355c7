//! Sinks: where documents, dead letters and backups become durable.
//!
//! Every sink implements [`Sink`]. Its `write` returns only once everything
//! in the batch is durable (written and flushed, or indexed); the pipeline
//! answers Firehose 200 only after that.
//!
//! Adding a sink: its module here (a type implementing [`Sink`]), its
//! settings in `config` (a `SinkConfig` variant), and one arm in
//! [`open`]. Nothing else matches on the kind of sink.

pub mod backup;
mod coalesce;
pub mod dead_letter;
pub mod directory;
pub mod opensearch;
pub mod s3;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::SinkConfig;
use crate::index::IndexName;

pub use dead_letter::{DeadLetter, DeadLetterKind, DeadLetterLine};

/// A boxed future, as sinks return them (one allocation per batch).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

/// Everything one batch produced, written as a unit.
#[derive(Debug, Clone, Default)]
pub struct SinkBatch {
    /// Tenant id.
    pub tenant: String,
    /// Route name.
    pub route: String,
    /// The batch's id (Firehose request id, stable across retries).
    pub request_id: String,
    /// Delivery stream or bucket ARN.
    pub source_arn: Option<String>,
    /// The batch's own timestamp (ms; Firehose keeps it across retries).
    pub request_timestamp_ms: i64,
    /// How many times this host has seen this batch (1 on the first
    /// delivery; Firehose retries keep the request id). In memory only.
    pub attempt: u32,
    /// The original records (base64-decoded), in order.
    pub records: Vec<Vec<u8>>,
    /// Original record numbers when the batch is a replay; `None`: positional.
    pub record_numbers: Option<Vec<usize>>,
    /// Documents to index.
    pub documents: Vec<IndexedDocument>,
    /// Records to dead-letter.
    pub dead_letters: Vec<DeadLetter>,
}

impl SinkBatch {
    /// The original number of record `i` (its position unless a replay).
    pub fn record_number(&self, i: usize) -> usize {
        self.record_numbers
            .as_ref()
            .and_then(|n| n.get(i).copied())
            .unwrap_or(i)
    }
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
    /// The sink was asked for something it does not store, or stopped.
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

/// What a sink did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Documents indexed.
    pub indexed: usize,
    /// Dead letters written (one per failed record, and one per refused
    /// document: a record may have several).
    pub dead_letters: usize,
    /// Records with at least one dead letter.
    pub failed_records: usize,
}

impl WriteSummary {
    /// What a store that indexes or keeps everything it is given did.
    pub fn stored(batch: &SinkBatch) -> WriteSummary {
        let failed: std::collections::BTreeSet<usize> =
            batch.dead_letters.iter().map(|d| d.record_index).collect();
        WriteSummary {
            indexed: batch.documents.len(),
            dead_letters: batch.dead_letters.len(),
            failed_records: failed.len(),
        }
    }
}

/// One backup object: the raw records of one or more requests.
#[derive(Debug, Clone)]
pub struct BackupObject {
    /// Tenant id.
    pub tenant: String,
    /// Route name.
    pub route: String,
    /// Unique name of the object (no extension).
    pub name: String,
    /// The time that dates the object (ms since the epoch).
    pub at_ms: i64,
    /// NDJSON lines (see [`backup::lines`]).
    pub lines: Vec<u8>,
}

/// Where documents, dead letters and backups become durable.
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Write a batch durably: documents indexed (or permanently rejected
    /// and then dead-lettered), dead letters written. `Err` means the
    /// request must be answered non-200.
    fn write(&self, batch: SinkBatch) -> BoxFuture<'_, Result<WriteSummary, SinkError>>;

    /// Write one backup object durably. Sinks that keep no backups refuse.
    fn write_backup(&self, object: BackupObject) -> BoxFuture<'_, Result<(), SinkError>> {
        let _ = object;
        Box::pin(async {
            Err(SinkError::Setup(
                "a backup goes to a directory or s3 sink".into(),
            ))
        })
    }

    /// `_bulk` attempts that were retries, for sinks that retry (`/metrics`).
    fn bulk_retries(&self) -> Option<u64> {
        None
    }

    /// Torn file tails cut back before an append, for sinks that append
    /// to files (`/metrics`).
    fn torn_tails_repaired(&self) -> Option<u64> {
        None
    }
}

/// Why a sink could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The sink's own setup failed (directory, client).
    #[error("{0}")]
    Setup(String),
    /// An OpenSearch sink names a dead-letter sink that is not opened (yet).
    #[error("no directory or s3 sink {0:?}")]
    NoDeadLetterSink(String),
}

/// Open the sink `config`. An OpenSearch sink sends its dead letters to a
/// sink in `opened`, and installs `templates` before its first `_bulk`.
/// Must run inside a tokio runtime (batcher tasks).
pub fn open(
    config: &SinkConfig,
    opened: &HashMap<String, Arc<dyn Sink>>,
    templates: Vec<opensearch::TemplateSpec>,
) -> Result<Arc<dyn Sink>, OpenError> {
    Ok(match config {
        SinkConfig::Directory { path } => Arc::new(
            directory::DirectorySink::open(path).map_err(|e| OpenError::Setup(e.to_string()))?,
        ),
        SinkConfig::S3(s3) => Arc::new(s3::S3Sink::new(s3.clone())),
        SinkConfig::OpenSearch(os) => {
            let dead_letters = opened
                .get(&os.dead_letter_sink)
                .cloned()
                .ok_or_else(|| OpenError::NoDeadLetterSink(os.dead_letter_sink.clone()))?;
            Arc::new(
                opensearch::OpenSearchSink::open(os.clone(), templates, dead_letters)
                    .map_err(|e| OpenError::Setup(e.to_string()))?,
            )
        }
    })
}

/// The sink `config` sends its dead letters to, if any: it must be opened
/// first.
pub fn depends_on(config: &SinkConfig) -> Option<&str> {
    match config {
        SinkConfig::OpenSearch(os) => Some(&os.dead_letter_sink),
        SinkConfig::Directory { .. } | SinkConfig::S3(_) => None,
    }
}
