//! The OpenSearch sink: documents from many Firehose requests are coalesced
//! into `_bulk` requests (by count, bytes and age), sent with bounded
//! concurrency, and every item of every response is accounted for:
//!
//! - 2xx → indexed;
//! - 429 / 5xx (and connection failures, timeouts, 429/5xx for the whole
//!   request) → retried with exponential backoff and full jitter, for at most
//!   `retry_max_elapsed`; still failing then → the Firehose requests those
//!   documents came from get non-200 and Firehose retries them (the ids are
//!   deterministic, so what was indexed meanwhile is overwritten, not doubled);
//! - any other 4xx item (a mapping conflict, say) → a permanent rejection:
//!   the record becomes a dead letter carrying OpenSearch's error type and
//!   reason, while the other records of the same request are indexed.
//!
//! Index templates that map each route's time fields as `date` are
//! installed before the first document is sent.

mod batcher;
pub mod bulk;
pub mod client;
pub mod sigv4;
mod template;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use bulk::{BulkDoc, ItemError, ItemStatus};
pub use client::{Client, ClientError};
pub use template::{TOTAL_FIELDS_LIMIT, TemplateSpec};

use super::dead_letter::DocumentRef;
use super::{BoxFuture, DeadLetter, DeadLetterKind, Sink, SinkBatch, SinkError, WriteSummary};

pub use crate::config::{
    DEFAULT_BULK_MAX_AGE, DEFAULT_BULK_MAX_BYTES, DEFAULT_BULK_MAX_DOCUMENTS,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_MAX_ELAPSED, OpenSearchConfig,
};

/// First retry delay; doubles each attempt up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Largest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Submissions waiting for the batcher; more wait in `write` (backpressure).
const QUEUE_DEPTH: usize = 1024;

/// What became of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocResult {
    /// Indexed.
    Indexed,
    /// Permanently rejected; the document's index and id, for the dead letter.
    Rejected {
        /// OpenSearch's error.
        error: ItemError,
        /// The document's index.
        index: String,
        /// The document's id.
        id: String,
    },
}

/// Why a batch of documents could not be made durable (Firehose must retry).
#[derive(Debug, Clone, thiserror::Error)]
pub enum BulkError {
    /// Transient failures outlasted the retry budget.
    #[error(
        "OpenSearch did not accept {pending} documents within {elapsed_ms} ms ({attempts} attempts): {last}"
    )]
    RetriesExhausted {
        /// Documents still not indexed.
        pending: usize,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed_ms: u64,
        /// The last failure.
        last: String,
    },
    /// The batcher is gone (shutting down).
    #[error("OpenSearch sink is shutting down")]
    Closed,
}

struct Submission {
    docs: Vec<BulkDoc>,
    reply: oneshot::Sender<Result<Vec<DocResult>, BulkError>>,
}

/// The sink: a `_bulk` batcher, and the sink its dead letters go to.
#[derive(Debug)]
pub struct OpenSearchSink {
    tx: mpsc::Sender<Submission>,
    retries: Arc<AtomicU64>,
    dead_letters: Arc<dyn Sink>,
}

impl OpenSearchSink {
    /// Create the client and start the batcher. Nothing is sent until the
    /// first documents arrive; the index templates are installed then,
    /// before the first `_bulk`. Rejected and failed records go to
    /// `dead_letters`.
    pub fn open(
        config: OpenSearchConfig,
        templates: Vec<TemplateSpec>,
        dead_letters: Arc<dyn Sink>,
    ) -> Result<OpenSearchSink, ClientError> {
        let client = Arc::new(Client::new(&config)?);
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let retries = Arc::new(AtomicU64::new(0));
        let shared = batcher::Shared::new(client, templates, &config, retries.clone());
        tokio::spawn(batcher::run(rx, shared, config));
        Ok(OpenSearchSink {
            tx,
            retries,
            dead_letters,
        })
    }

    /// Index `docs`; returns one result per document once every one is
    /// indexed or permanently rejected, or an error if that could not be
    /// reached within the retry budget.
    pub async fn index(&self, docs: Vec<BulkDoc>) -> Result<Vec<DocResult>, BulkError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Submission { docs, reply })
            .await
            .map_err(|_| BulkError::Closed)?;
        rx.await.map_err(|_| BulkError::Closed)?
    }

    async fn write_batch(&self, mut batch: SinkBatch) -> Result<WriteSummary, SinkError> {
        let documents = std::mem::take(&mut batch.documents);
        let owners: Vec<usize> = documents.iter().map(|d| d.record_index).collect();
        let docs = documents
            .into_iter()
            .map(|d| BulkDoc {
                index: d.index.as_str().to_string(),
                id: d.id,
                body: d.body,
            })
            .collect::<Vec<_>>();
        let results = self.index(docs).await?;
        let mut indexed = 0;
        // Records failed before the sink, then those with a refused document.
        let mut failed: BTreeSet<usize> =
            batch.dead_letters.iter().map(|d| d.record_index).collect();
        for (result, owner) in results.into_iter().zip(owners) {
            match result {
                DocResult::Indexed => indexed += 1,
                // One dead letter per refused document, with its own reason,
                // index and id (a record may have several).
                DocResult::Rejected { error, index, id } => {
                    failed.insert(owner);
                    batch.dead_letters.push(DeadLetter {
                        record_index: owner,
                        kind: DeadLetterKind::OpenSearchRejected,
                        reason: error.to_string(),
                        document: Some(DocumentRef { index, id }),
                    });
                }
            }
        }
        let summary = WriteSummary {
            indexed,
            dead_letters: batch.dead_letters.len(),
            failed_records: failed.len(),
        };
        if !batch.dead_letters.is_empty() {
            self.dead_letters.write(batch).await?;
        }
        Ok(summary)
    }
}

impl Sink for OpenSearchSink {
    fn write(&self, batch: SinkBatch) -> BoxFuture<'_, Result<WriteSummary, SinkError>> {
        Box::pin(self.write_batch(batch))
    }

    fn bulk_retries(&self) -> Option<u64> {
        Some(self.retries.load(Ordering::Relaxed))
    }
}
