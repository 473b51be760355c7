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

pub mod bulk;
pub mod client;
pub mod sigv4;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

pub use bulk::{BulkDoc, ItemError, ItemStatus};
pub use client::{Client, ClientError};

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

/// An index template mapping a route's time fields as `date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    /// Template name.
    pub name: String,
    /// `index_patterns`.
    pub patterns: Vec<String>,
    /// Fields mapped as `date`.
    pub date_fields: Vec<String>,
    /// Priority (distinct per template so overlapping patterns are allowed).
    pub priority: u32,
}

impl TemplateSpec {
    /// The `PUT _index_template/<name>` body.
    pub fn body(&self) -> serde_json::Value {
        let props: serde_json::Map<String, serde_json::Value> = self
            .date_fields
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    serde_json::json!({"type": "date", "format": "strict_date_optional_time||epoch_millis"}),
                )
            })
            .collect();
        serde_json::json!({
            "index_patterns": self.patterns,
            "priority": self.priority,
            "template": { "mappings": { "properties": props } },
            "_meta": { "managed_by": "weir" },
        })
    }
}

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

/// The sink.
#[derive(Debug)]
pub struct OpenSearchSink {
    tx: mpsc::Sender<Submission>,
    client: Arc<Client>,
    config: OpenSearchConfig,
    retries: Arc<std::sync::atomic::AtomicU64>,
}

struct Shared {
    client: Arc<Client>,
    templates: Vec<TemplateSpec>,
    templates_installed: AtomicBool,
    template_lock: Mutex<()>,
    retry_max_elapsed: Duration,
    retries: Arc<std::sync::atomic::AtomicU64>,
}

impl OpenSearchSink {
    /// Create the client and start the batcher. Nothing is sent until the
    /// first documents arrive; the index templates are installed then,
    /// before the first `_bulk`.
    pub fn open(
        config: OpenSearchConfig,
        templates: Vec<TemplateSpec>,
    ) -> Result<OpenSearchSink, ClientError> {
        let client = Arc::new(Client::new(&config)?);
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let retries = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let shared = Arc::new(Shared {
            client: client.clone(),
            templates,
            templates_installed: AtomicBool::new(false),
            template_lock: Mutex::new(()),
            retry_max_elapsed: config.retry_max_elapsed,
            retries: retries.clone(),
        });
        tokio::spawn(batcher(rx, shared, config.clone()));
        Ok(OpenSearchSink {
            tx,
            client,
            config,
            retries,
        })
    }

    /// `_bulk` attempts that were retries (of items or of whole requests).
    pub fn bulk_retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Settings.
    pub fn config(&self) -> &OpenSearchConfig {
        &self.config
    }

    /// The HTTP client (for admin calls such as template installation in tests).
    pub fn client(&self) -> &Arc<Client> {
        &self.client
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
}

/// Install every template (idempotent `PUT`). Called before the first bulk.
async fn ensure_templates(shared: &Shared) -> Result<(), String> {
    if shared.templates_installed.load(Ordering::Acquire) {
        return Ok(());
    }
    let _guard = shared.template_lock.lock().await;
    if shared.templates_installed.load(Ordering::Acquire) {
        return Ok(());
    }
    for t in &shared.templates {
        let (status, body) = shared
            .client
            .send(
                Method::PUT,
                &format!("/_index_template/{}", t.name),
                "application/json",
                Bytes::from(t.body().to_string()),
            )
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "installing index template {}: {status} {}",
                t.name,
                String::from_utf8_lossy(&body)
            ));
        }
        tracing::info!(template = t.name, patterns = ?t.patterns, date_fields = ?t.date_fields, "index template installed");
    }
    shared.templates_installed.store(true, Ordering::Release);
    Ok(())
}

async fn batcher(mut rx: mpsc::Receiver<Submission>, shared: Arc<Shared>, cfg: OpenSearchConfig) {
    let in_flight = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
    let mut pending: Vec<Submission> = Vec::new();
    let (mut docs, mut bytes) = (0usize, 0usize);
    let mut oldest: Option<Instant> = None;
    loop {
        let deadline = oldest.map(|t| tokio::time::Instant::from_std(t + cfg.bulk_max_age));
        let flush_now = tokio::select! {
            msg = rx.recv() => match msg {
                Some(sub) => {
                    docs += sub.docs.len();
                    bytes += sub.docs.iter().map(BulkDoc::encoded_len).sum::<usize>();
                    oldest.get_or_insert_with(Instant::now);
                    pending.push(sub);
                    docs >= cfg.bulk_max_documents || bytes >= cfg.bulk_max_bytes || cfg.bulk_max_age.is_zero()
                }
                None => {
                    if !pending.is_empty() {
                        let batch = std::mem::take(&mut pending);
                        send_batch(shared.clone(), batch).await;
                    }
                    return;
                }
            },
            _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending::<()>().await } } => true,
        };
        if flush_now && !pending.is_empty() {
            let batch = std::mem::take(&mut pending);
            (docs, bytes, oldest) = (0, 0, None);
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                send_batch(shared, batch).await;
                drop(permit);
            });
        }
    }
}

/// A tiny xorshift for backoff jitter (no need for a crypto RNG).
fn jitter(max: Duration, seed: &mut u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let nanos = max.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(*seed % nanos)
}

/// Send the documents of several submissions as one `_bulk` request,
/// retrying what can succeed later, and answer each submission.
async fn send_batch(shared: Arc<Shared>, batch: Vec<Submission>) {
    let (subs, replies): (Vec<Vec<BulkDoc>>, Vec<_>) =
        batch.into_iter().map(|s| (s.docs, s.reply)).unzip();
    let all: Vec<&BulkDoc> = subs.iter().flatten().collect();
    let mut results: Vec<Option<DocResult>> = vec![None; all.len()];
    let mut todo: Vec<usize> = (0..all.len()).collect();
    let started = Instant::now();
    let mut attempts = 0u32;
    let mut backoff = INITIAL_BACKOFF;
    let mut seed =
        (started.elapsed().as_nanos() as u64) ^ 0x9E37_79B9_7F4A_7C15 ^ (all.len() as u64);
    let mut last_error = String::new();
    while !todo.is_empty() {
        attempts += 1;
        let outcome = attempt(&shared, &all, &todo).await;
        match outcome {
            Ok(statuses) => {
                let mut retry = Vec::new();
                for (slot, status) in todo.iter().zip(statuses) {
                    match status {
                        ItemStatus::Ok => results[*slot] = Some(DocResult::Indexed),
                        ItemStatus::Rejected(error) => {
                            results[*slot] = Some(DocResult::Rejected {
                                error,
                                index: all[*slot].index.clone(),
                                id: all[*slot].id.clone(),
                            })
                        }
                        ItemStatus::Retry(e) => {
                            last_error = format!("item {}: {e}", all[*slot].id);
                            retry.push(*slot);
                        }
                    }
                }
                if !retry.is_empty() {
                    tracing::warn!(
                        retrying = retry.len(),
                        of = todo.len(),
                        attempt = attempts,
                        last = last_error,
                        "bulk items to retry"
                    );
                }
                todo = retry;
            }
            Err(e) => {
                tracing::warn!(
                    documents = todo.len(),
                    attempt = attempts,
                    error = e,
                    "bulk request failed; will retry"
                );
                last_error = e;
            }
        }
        if todo.is_empty() {
            break;
        }
        let delay = jitter(backoff, &mut seed).max(Duration::from_millis(10));
        if started.elapsed() + delay > shared.retry_max_elapsed {
            break;
        }
        shared
            .retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let mut offset = 0;
    for (docs, reply) in subs.iter().zip(replies) {
        let mine = &results[offset..offset + docs.len()];
        offset += docs.len();
        let pending = mine.iter().filter(|r| r.is_none()).count();
        let answer = if pending > 0 {
            Err(BulkError::RetriesExhausted {
                pending,
                attempts,
                elapsed_ms,
                last: last_error.clone(),
            })
        } else {
            Ok(mine
                .iter()
                .map(|r| r.clone().unwrap_or(DocResult::Indexed))
                .collect())
        };
        let _ = reply.send(answer);
    }
}

/// One `_bulk` attempt for the documents at `todo`. `Err` means nothing can
/// be said about any item (connection, whole-request status, bad response).
async fn attempt(
    shared: &Shared,
    all: &[&BulkDoc],
    todo: &[usize],
) -> Result<Vec<ItemStatus>, String> {
    ensure_templates(shared).await?;
    let mut body = Vec::with_capacity(todo.iter().map(|&i| all[i].encoded_len()).sum());
    bulk::encode(todo.iter().map(|&i| all[i]), &mut body);
    let (status, resp) = shared
        .client
        .send(
            Method::POST,
            "/_bulk",
            "application/x-ndjson",
            Bytes::from(body),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "_bulk answered {status}: {}",
            String::from_utf8_lossy(&resp[..resp.len().min(500)])
        ));
    }
    bulk::parse_response(&resp, todo.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_body() {
        let t = TemplateSpec {
            name: "weir-demo-waf".into(),
            patterns: vec!["waf".into()],
            date_fields: vec!["timestamp".into()],
            priority: 100,
        };
        assert_eq!(
            t.body(),
            serde_json::json!({
                "index_patterns": ["waf"],
                "priority": 100,
                "template": {"mappings": {"properties": {"timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"}}}},
                "_meta": {"managed_by": "weir"},
            })
        );
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut seed = 42;
        for _ in 0..1000 {
            assert!(jitter(Duration::from_millis(100), &mut seed) < Duration::from_millis(100));
        }
        assert_eq!(jitter(Duration::ZERO, &mut seed), Duration::ZERO);
    }
}
