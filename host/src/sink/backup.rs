//! Backups of every raw record, like Firehose's "all data" S3 backup: the
//! records of many requests are batched into one object by size and age,
//! and each request is acknowledged only after the object holding its
//! records is written.
//!
//! Object names are `<first-request-id>-<requests>-<records>`, dated by the
//! first request's timestamp. A retried request may land in a second
//! object, so a backup can hold a record twice (as Firehose's can); the
//! record's request id and number tell the copies apart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{Sink, SinkError};

pub use crate::config::{DEFAULT_BACKUP_MAX_AGE, DEFAULT_BACKUP_MAX_BYTES};

struct Pending {
    lines: Vec<u8>,
    request_id: String,
    at_ms: i64,
    records: usize,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The batcher of one route's backups.
#[derive(Debug)]
pub struct BackupBatcher {
    tx: mpsc::Sender<Pending>,
}

impl BackupBatcher {
    /// Start batching backups of `tenant`/`route` into `sink`. Needs a tokio runtime.
    pub fn start(
        sink: Arc<Sink>,
        tenant: String,
        route: String,
        max_bytes: usize,
        max_age: Duration,
    ) -> BackupBatcher {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(rx, sink, tenant, route, max_bytes, max_age));
        BackupBatcher { tx }
    }

    /// Back up one request's lines; returns once the object holding them is durable.
    pub async fn write(
        &self,
        lines: Vec<u8>,
        request_id: String,
        at_ms: i64,
        records: usize,
    ) -> Result<(), SinkError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                lines,
                request_id,
                at_ms,
                records,
                reply,
            })
            .await
            .map_err(|_| SinkError::Setup("backup batcher stopped".into()))?;
        rx.await
            .map_err(|_| SinkError::Setup("backup batcher stopped".into()))?
            .map_err(SinkError::Setup)
    }
}

async fn run(
    mut rx: mpsc::Receiver<Pending>,
    sink: Arc<Sink>,
    tenant: String,
    route: String,
    max_bytes: usize,
    max_age: Duration,
) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut bytes = 0usize;
    let mut oldest: Option<Instant> = None;
    loop {
        let deadline = oldest.map(|t| tokio::time::Instant::from_std(t + max_age));
        let flush = tokio::select! {
            msg = rx.recv() => match msg {
                Some(p) => {
                    bytes += p.lines.len();
                    oldest.get_or_insert_with(Instant::now);
                    pending.push(p);
                    bytes >= max_bytes || max_age.is_zero()
                }
                None => {
                    if !pending.is_empty() {
                        flush_object(&sink, &tenant, &route, std::mem::take(&mut pending)).await;
                    }
                    return;
                }
            },
            _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending::<()>().await } } => true,
        };
        if flush && !pending.is_empty() {
            (bytes, oldest) = (0, None);
            flush_object(&sink, &tenant, &route, std::mem::take(&mut pending)).await;
        }
    }
}

async fn flush_object(sink: &Sink, tenant: &str, route: &str, batch: Vec<Pending>) {
    let first = &batch[0];
    let records: usize = batch.iter().map(|p| p.records).sum();
    let name = format!("{}-{}-{records}", first.request_id, batch.len());
    let at_ms = first.at_ms;
    let mut lines = Vec::with_capacity(batch.iter().map(|p| p.lines.len()).sum());
    for p in &batch {
        lines.extend_from_slice(&p.lines);
    }
    let result = sink
        .write_backup_object(tenant, route, &name, at_ms, lines)
        .await
        .map_err(|e| e.to_string());
    for p in batch {
        let _ = p.reply.send(result.clone());
    }
}
