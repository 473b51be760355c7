//! Sinks: where documents and dead letters go.
//!
//! A sink's `write` returns only once everything in the batch is durable
//! (written and flushed); the pipeline answers Firehose 200 only after that.

pub mod directory;

use std::fmt;

use crate::config::{IndexName, SinkConfig};

/// A document ready for a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDocument {
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
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeadLetterKind::ProcessingFailed => "processing-failed",
        })
    }
}

/// A record that could not be indexed, with everything needed to replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Index of the record in its request.
    pub record_index: usize,
    /// The original record bytes (base64-decoded, as the plugin saw them).
    pub data: Vec<u8>,
    /// Kind of failure.
    pub kind: DeadLetterKind,
    /// Human-readable reason.
    pub reason: String,
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
}

/// A configured sink.
#[derive(Debug)]
pub enum Sink {
    /// Local directory.
    Directory(directory::DirectorySink),
}

impl Sink {
    /// Open a sink from its config (creates directories).
    pub fn open(config: &SinkConfig) -> Result<Sink, SinkError> {
        match config {
            SinkConfig::Directory { path } => {
                Ok(Sink::Directory(directory::DirectorySink::open(path)?))
            }
        }
    }

    /// Write a batch durably.
    pub async fn write(&self, batch: SinkBatch) -> Result<(), SinkError> {
        match self {
            Sink::Directory(d) => d.write(batch).await,
        }
    }
}
