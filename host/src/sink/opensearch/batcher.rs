//! The `_bulk` batcher: submissions from many requests are coalesced (by
//! count, bytes and age) into `_bulk` requests sent with bounded
//! concurrency; each item is retried, accepted or rejected, and each
//! submission answered.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use super::{
    BulkDoc, BulkError, Client, DocResult, INITIAL_BACKOFF, ItemError, ItemStatus, MAX_BACKOFF,
    OpenSearchConfig, Submission, TemplateSpec, bulk,
};
use crate::sink::coalesce::{self, FlushAt, Weighed};

/// What every `_bulk` of one sink shares.
pub(super) struct Shared {
    pub(super) client: Arc<Client>,
    pub(super) templates: Vec<TemplateSpec>,
    pub(super) templates_installed: AtomicBool,
    pub(super) template_lock: Mutex<()>,
    retry_max_elapsed: Duration,
    /// Largest `_bulk` body built (one larger document goes alone).
    bulk_max_bytes: usize,
    retries: Arc<AtomicU64>,
}

impl Shared {
    pub(super) fn new(
        client: Arc<Client>,
        templates: Vec<TemplateSpec>,
        config: &OpenSearchConfig,
        retries: Arc<AtomicU64>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            client,
            templates,
            templates_installed: AtomicBool::new(false),
            template_lock: Mutex::new(()),
            retry_max_elapsed: config.retry_max_elapsed,
            bulk_max_bytes: config.bulk_max_bytes,
            retries,
        })
    }
}

impl Weighed for Submission {
    fn weight(&self) -> (usize, usize) {
        (
            self.docs.len(),
            self.docs.iter().map(BulkDoc::encoded_len).sum(),
        )
    }
}

/// Coalesce submissions into `_bulk` requests until the sink is dropped.
pub(super) async fn run(
    rx: mpsc::Receiver<Submission>,
    shared: Arc<Shared>,
    cfg: OpenSearchConfig,
) {
    let in_flight = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
    let at = FlushAt {
        count: cfg.bulk_max_documents,
        bytes: cfg.bulk_max_bytes,
        age: cfg.bulk_max_age,
    };
    coalesce::run(rx, at, |batch, last| {
        let (shared, in_flight) = (shared.clone(), in_flight.clone());
        async move {
            if last {
                send_batch(shared, batch).await;
                return;
            }
            let Ok(permit) = in_flight.acquire_owned().await else {
                return;
            };
            tokio::spawn(async move {
                send_batch(shared, batch).await;
                drop(permit);
            });
        }
    })
    .await;
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

/// Send the documents of several submissions as `_bulk` requests,
/// retrying what can succeed later, and answer each submission as soon as
/// its own documents are settled: one submission's failing documents never
/// hold up or fail another's.
async fn send_batch(shared: Arc<Shared>, batch: Vec<Submission>) {
    let mut replies = Replies::default();
    let mut subs: Vec<Vec<BulkDoc>> = Vec::with_capacity(batch.len());
    let mut start = 0;
    for s in batch {
        replies.0.push((start..start + s.docs.len(), Some(s.reply)));
        start += s.docs.len();
        subs.push(s.docs);
    }
    let all: Vec<&BulkDoc> = subs.iter().flatten().collect();
    let run = retry_until_settled(&shared, &all, &mut replies).await;
    replies.answer_settled(&run);
    replies.answer_pending(&run);
}

/// Each submission's documents (its range of the batch) and its reply,
/// taken once answered.
#[derive(Default)]
struct Replies(Vec<(Range<usize>, Option<Reply>)>);

type Reply = oneshot::Sender<Result<Vec<DocResult>, BulkError>>;

impl Replies {
    /// Answer every submission whose documents are all indexed or rejected.
    fn answer_settled(&mut self, run: &Settled) {
        for (range, reply) in &mut self.0 {
            let mine = &run.results[range.clone()];
            if reply.is_none() || mine.iter().any(Option::is_none) {
                continue;
            }
            let results = mine.iter().flatten().cloned().collect();
            if let Some(r) = reply.take() {
                let _ = r.send(Ok(results));
            }
        }
    }

    /// Answer the submissions still waiting: the retry budget is spent.
    fn answer_pending(&mut self, run: &Settled) {
        let elapsed_ms = run.started.elapsed().as_millis() as u64;
        for (range, reply) in &mut self.0 {
            let pending = run.results[range.clone()]
                .iter()
                .filter(|r| r.is_none())
                .count();
            if let Some(r) = reply.take() {
                let _ = r.send(Err(BulkError::RetriesExhausted {
                    pending,
                    attempts: run.attempts,
                    elapsed_ms,
                    last: run.last_error.clone(),
                }));
            }
        }
    }
}

/// The state of one batch's attempts: a result per document once settled.
struct Settled {
    results: Vec<Option<DocResult>>,
    attempts: u32,
    last_error: String,
    started: Instant,
}

/// Attempt the documents until each is indexed or rejected, or the retry
/// budget is spent (those stay `None`); submissions are answered as they
/// settle.
async fn retry_until_settled(shared: &Shared, all: &[&BulkDoc], replies: &mut Replies) -> Settled {
    let mut run = Settled {
        results: vec![None; all.len()],
        attempts: 0,
        last_error: String::new(),
        started: Instant::now(),
    };
    let mut todo: Vec<usize> = (0..all.len()).collect();
    let mut backoff = INITIAL_BACKOFF;
    let mut seed =
        (run.started.elapsed().as_nanos() as u64) ^ 0x9E37_79B9_7F4A_7C15 ^ (all.len() as u64);
    while !todo.is_empty() {
        run.attempts += 1;
        let statuses = attempt(shared, all, &todo).await;
        todo = settle(&mut run, all, &todo, statuses);
        replies.answer_settled(&run);
        if todo.is_empty() {
            break;
        }
        let delay = jitter(backoff, &mut seed).max(Duration::from_millis(10));
        if run.started.elapsed() + delay > shared.retry_max_elapsed {
            break;
        }
        shared
            .retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    run
}

/// Record the item statuses of one attempt; returns the slots to retry.
fn settle(
    run: &mut Settled,
    all: &[&BulkDoc],
    todo: &[usize],
    statuses: Vec<ItemStatus>,
) -> Vec<usize> {
    let mut retry = Vec::new();
    for (slot, status) in todo.iter().zip(statuses) {
        match status {
            ItemStatus::Ok => run.results[*slot] = Some(DocResult::Indexed),
            ItemStatus::Rejected(error) => {
                run.results[*slot] = Some(DocResult::Rejected {
                    error,
                    index: all[*slot].index.clone(),
                    id: all[*slot].id.clone(),
                })
            }
            ItemStatus::Retry(e) => {
                run.last_error = format!("item {}: {e}", all[*slot].id);
                retry.push(*slot);
            }
        }
    }
    if !retry.is_empty() {
        tracing::warn!(
            retrying = retry.len(),
            of = todo.len(),
            attempt = run.attempts,
            last = run.last_error,
            "bulk items to retry"
        );
    }
    retry
}

/// What one `_bulk` request came to.
enum Sent {
    /// A status per item, in order.
    Items(Vec<ItemStatus>),
    /// 413: the body is larger than the node takes.
    TooLarge(String),
    /// Nothing can be said about any item (connection, another
    /// whole-request status, a bad response): `(status or 0, why)`.
    Failed(u16, String),
}

/// One attempt at the documents at `todo`: one status per document, in
/// order. They go in `_bulk` bodies of at most `bulk_max_bytes` (a larger
/// document alone); a body answered 413 is split in halves and each sent
/// again, down to one document, which is then rejected as too large. A
/// failure of one body makes only its own documents retried.
async fn attempt(shared: &Shared, all: &[&BulkDoc], todo: &[usize]) -> Vec<ItemStatus> {
    if let Err(e) = super::template::ensure_templates(shared).await {
        return vec![whole_request_failed(0, &e); todo.len()];
    }
    let mut statuses: Vec<Option<ItemStatus>> = vec![None; todo.len()];
    let mut queue = chunks(all, todo, shared.bulk_max_bytes);
    while let Some(range) = queue.pop() {
        match send_bulk(shared, all, &todo[range.clone()]).await {
            Sent::Items(items) => {
                for (slot, item) in statuses[range].iter_mut().zip(items) {
                    *slot = Some(item);
                }
            }
            Sent::TooLarge(_) if range.len() > 1 => {
                let mid = range.start + range.len() / 2;
                queue.push(range.start..mid);
                queue.push(mid..range.end);
            }
            Sent::TooLarge(reason) => {
                statuses[range.start] = Some(ItemStatus::Rejected(ItemError {
                    status: 413,
                    error_type: "weir_document_too_large".into(),
                    reason: format!(
                        "OpenSearch refuses this document alone as too large: {reason}"
                    ),
                }));
            }
            Sent::Failed(status, e) => {
                tracing::warn!(
                    documents = range.len(),
                    error = e,
                    "bulk request failed; will retry"
                );
                for slot in &mut statuses[range] {
                    *slot = Some(whole_request_failed(status, &e));
                }
            }
        }
    }
    statuses
        .into_iter()
        .map(|s| s.unwrap_or_else(|| whole_request_failed(0, "not sent")))
        .collect()
}

/// The retryable status of a document whose whole `_bulk` failed.
fn whole_request_failed(status: u16, reason: &str) -> ItemStatus {
    ItemStatus::Retry(ItemError {
        status,
        error_type: "weir_bulk_failed".into(),
        reason: reason.to_string(),
    })
}

/// Positions in `todo`, cut into runs whose `_bulk` body stays within
/// `max_bytes` (a document larger than that is a run of its own).
fn chunks(all: &[&BulkDoc], todo: &[usize], max_bytes: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (pos, &i) in todo.iter().enumerate() {
        let len = all[i].encoded_len();
        if pos > start && bytes + len > max_bytes {
            out.push(start..pos);
            (start, bytes) = (pos, 0);
        }
        bytes += len;
    }
    if start < todo.len() {
        out.push(start..todo.len());
    }
    out
}

/// One `_bulk` request for the documents at `slots`.
async fn send_bulk(shared: &Shared, all: &[&BulkDoc], slots: &[usize]) -> Sent {
    let mut body = Vec::with_capacity(slots.iter().map(|&i| all[i].encoded_len()).sum());
    bulk::encode(slots.iter().map(|&i| all[i]), &mut body);
    let size = body.len();
    let sent = shared
        .client
        .send(
            Method::POST,
            "/_bulk",
            "application/x-ndjson",
            Bytes::from(body),
        )
        .await;
    let (status, resp) = match sent {
        Ok(r) => r,
        Err(e) => return Sent::Failed(0, e.to_string()),
    };
    let said = || String::from_utf8_lossy(&resp[..resp.len().min(500)]).into_owned();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return Sent::TooLarge(format!(
            "_bulk of {size} bytes answered {status}: {}",
            said()
        ));
    }
    if !status.is_success() {
        return Sent::Failed(
            status.as_u16(),
            format!("_bulk answered {status}: {}", said()),
        );
    }
    match bulk::parse_response(&resp, slots.len()) {
        Ok(items) => Sent::Items(items),
        Err(e) => Sent::Failed(status.as_u16(), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        let mut seed = 42;
        for _ in 0..1000 {
            assert!(jitter(Duration::from_millis(100), &mut seed) < Duration::from_millis(100));
        }
        assert_eq!(jitter(Duration::ZERO, &mut seed), Duration::ZERO);
    }

    #[test]
    fn bodies_are_cut_at_bulk_max_bytes() {
        let doc = |n: usize| BulkDoc {
            index: "i".into(),
            id: "d".into(),
            body: "x".repeat(n),
        };
        let docs = [doc(10), doc(10), doc(500), doc(10), doc(10)];
        let all: Vec<&BulkDoc> = docs.iter().collect();
        let each = docs[0].encoded_len();
        let runs = chunks(&all, &[0, 1, 2, 3, 4], 2 * each);
        assert_eq!(runs, [0..2, 2..3, 3..5], "the big one alone");
        let one = chunks(&all, &[3], 1);
        assert_eq!(
            (one.len(), one[0].clone()),
            (1, 0..1),
            "one document always goes"
        );
        assert!(chunks(&all, &[], 100).is_empty());
    }
}
