//! The `_bulk` batcher: submissions from many requests are coalesced (by
//! count, bytes and age) into `_bulk` requests sent with bounded
//! concurrency; each item is retried, accepted or rejected, and each
//! submission answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use tokio::sync::{Mutex, Semaphore, mpsc};

use super::{
    BulkDoc, BulkError, Client, DocResult, INITIAL_BACKOFF, ItemStatus, MAX_BACKOFF,
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

/// Send the documents of several submissions as one `_bulk` request,
/// retrying what can succeed later, and answer each submission.
async fn send_batch(shared: Arc<Shared>, batch: Vec<Submission>) {
    let (subs, replies): (Vec<Vec<BulkDoc>>, Vec<_>) =
        batch.into_iter().map(|s| (s.docs, s.reply)).unzip();
    let all: Vec<&BulkDoc> = subs.iter().flatten().collect();
    let run = retry_until_settled(&shared, &all).await;
    let elapsed_ms = run.started.elapsed().as_millis() as u64;
    let mut offset = 0;
    for (docs, reply) in subs.iter().zip(replies) {
        let mine = &run.results[offset..offset + docs.len()];
        offset += docs.len();
        let pending = mine.iter().filter(|r| r.is_none()).count();
        let answer = if pending > 0 {
            Err(BulkError::RetriesExhausted {
                pending,
                attempts: run.attempts,
                elapsed_ms,
                last: run.last_error.clone(),
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

/// The state of one batch's attempts: a result per document once settled.
struct Settled {
    results: Vec<Option<DocResult>>,
    attempts: u32,
    last_error: String,
    started: Instant,
}

/// Attempt the documents until each is indexed or rejected, or the retry
/// budget is spent (those stay `None`).
async fn retry_until_settled(shared: &Shared, all: &[&BulkDoc]) -> Settled {
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
        match attempt(shared, all, &todo).await {
            Ok(statuses) => todo = settle(&mut run, all, &todo, statuses),
            Err(e) => {
                tracing::warn!(
                    documents = todo.len(),
                    attempt = run.attempts,
                    error = e,
                    "bulk request failed; will retry"
                );
                run.last_error = e;
            }
        }
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

/// One `_bulk` attempt for the documents at `todo`. `Err` means nothing can
/// be said about any item (connection, whole-request status, bad response).
async fn attempt(
    shared: &Shared,
    all: &[&BulkDoc],
    todo: &[usize],
) -> Result<Vec<ItemStatus>, String> {
    super::template::ensure_templates(shared).await?;
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
    fn jitter_stays_in_range() {
        let mut seed = 42;
        for _ in 0..1000 {
            assert!(jitter(Duration::from_millis(100), &mut seed) < Duration::from_millis(100));
        }
        assert_eq!(jitter(Duration::ZERO, &mut seed), Duration::ZERO);
    }
}
