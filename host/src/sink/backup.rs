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
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::coalesce::{self, FlushAt, Weighed};
use super::{BackupObject, Sink, SinkError};

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
        sink: Arc<dyn Sink>,
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

impl Weighed for Pending {
    fn weight(&self) -> (usize, usize) {
        (self.records, self.lines.len())
    }
}

async fn run(
    rx: mpsc::Receiver<Pending>,
    sink: Arc<dyn Sink>,
    tenant: String,
    route: String,
    max_bytes: usize,
    max_age: Duration,
) {
    let at = FlushAt {
        count: usize::MAX,
        bytes: max_bytes,
        age: max_age,
    };
    coalesce::run(rx, at, |batch, _last| {
        flush_object(&*sink, &tenant, &route, batch)
    })
    .await;
}

async fn flush_object(sink: &dyn Sink, tenant: &str, route: &str, batch: Vec<Pending>) {
    let first = &batch[0];
    let records: usize = batch.iter().map(|p| p.records).sum();
    let object = BackupObject {
        tenant: tenant.to_string(),
        route: route.to_string(),
        name: format!("{}-{}-{records}", first.request_id, batch.len()),
        at_ms: first.at_ms,
        lines: batch.iter().flat_map(|p| p.lines.iter().copied()).collect(),
    };
    let result = sink.write_backup(object).await.map_err(|e| e.to_string());
    for p in batch {
        let _ = p.reply.send(result.clone());
    }
}

/// Raw records as backup lines: one JSON line per record with `tenant`,
/// `route`, `request_id`, `request_timestamp`, `source_arn`, `record_index`
/// and `data` (base64). `batch` gives everything but the records (its own
/// `records` are not read: the backup is written while they are still
/// being transformed).
pub fn lines(batch: &super::SinkBatch, records: &[Vec<u8>]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut lines = Vec::with_capacity(records.iter().map(|r| r.len() * 4 / 3 + 160).sum());
    for (i, data) in records.iter().enumerate() {
        let line = serde_json::json!({
            "tenant": batch.tenant,
            "route": batch.route,
            "request_id": batch.request_id,
            "request_timestamp": batch.request_timestamp_ms,
            "source_arn": batch.source_arn,
            "record_index": batch.record_number(i),
            "data": b64.encode(data),
        });
        let _ = serde_json::to_writer(&mut lines, &line);
        lines.push(b'\n');
    }
    lines
}
