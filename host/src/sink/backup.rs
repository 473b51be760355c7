//! Backups of every raw record, like Firehose's "all data" S3 backup: the
//! records of many requests are batched into one object by size and age,
//! and each request is acknowledged only after the object holding its
//! records is written.
//!
//! Objects are dated by the first request's timestamp (the S3 key's
//! `YYYY/MM/DD/HH/`) and named by [`object_name`]:
//! `<written>-<process>-<sequence>-<first-request-id>-<requests>-<records>`.
//! A name never repeats, so no object overwrites another: a retried
//! request that is again first in a batch of the same size gets a new
//! object (its first copy, acknowledged with other requests' records, stays).
//! A retried request may so land in a second object and a backup can hold
//! a record twice (as Firehose's can); the record's request id and number
//! tell the copies apart.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

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
        name: object_name(SystemTime::now(), &first.request_id, batch.len(), records),
        at_ms: first.at_ms,
        lines: batch.iter().flat_map(|p| p.lines.iter().copied()).collect(),
    };
    let result = sink.write_backup(object).await.map_err(|e| e.to_string());
    for p in batch {
        let _ = p.reply.send(result.clone());
    }
}

/// Backup objects named by this process so far.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The name of a new backup object, unique across batches, processes and
/// hosts:
/// `<written>-<process>-<sequence>-<first-request-id>-<requests>-<records>`.
/// `<written>` is when the object is written (UTC, `YYYYMMDDTHHMMSS.mmmZ`),
/// so names sort by time; `<process>` is 64 random bits drawn once per
/// process (16 hex digits), so two processes (a restart, or two hosts
/// behind one load balancer) never share names; `<sequence>` counts this
/// process's objects (10 digits or more), so one process never repeats a
/// name, whatever the clock does. The rest says what the object holds.
pub fn object_name(
    written: SystemTime,
    first_request_id: &str,
    requests: usize,
    records: usize,
) -> String {
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    name_of(
        written,
        process_id(),
        sequence,
        first_request_id,
        requests,
        records,
    )
}

/// [`object_name`] with its process id and sequence given.
fn name_of(
    written: SystemTime,
    process: u64,
    sequence: u64,
    first_request_id: &str,
    requests: usize,
    records: usize,
) -> String {
    let ms = written
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        .min(crate::index::MAX_INDEX_TIME_MS as u128) as u64;
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    // "YYYY-MM-DDTHH:MM:SS.mmmZ" → "YYYYMMDDTHHMMSS.mmmZ"
    let time: String = humantime::format_rfc3339_millis(t)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{time}-{process:016x}-{sequence:010}-{first_request_id}-{requests}-{records}")
}

/// 64 bits drawn once per process: the standard library's random hash
/// keys (from the operating system) over the process id and start time.
fn process_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_say_what_the_object_holds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(
            name_of(t, 0xab, 7, "rid-1", 2, 8),
            "20231114T221320.123Z-00000000000000ab-0000000007-rid-1-2-8"
        );
        let later = name_of(t + Duration::from_millis(1), 0xab, 0, "a", 1, 1);
        assert!(later > name_of(t, 0xff, 9, "z", 1, 1), "time sorts first");
        // Total: a clock before 1970 or past 9999 still gives a name.
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert!(name_of(before, 1, 1, "r", 1, 1).starts_with("19700101T000000.000Z-"));
    }

    /// The issue #14 case: two batches whose first request id, request
    /// count and record count are equal (a retried request first again),
    /// even written in the same millisecond, get two names.
    #[test]
    fn names_never_repeat() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let names: std::collections::HashSet<String> =
            (0..1000).map(|_| object_name(t, "rid-1", 3, 12)).collect();
        assert_eq!(names.len(), 1000);
        let one = object_name(t, "rid-1", 3, 12);
        assert!(one.contains(&format!("-{:016x}-", process_id())), "{one}");
        assert!(one.ends_with("-rid-1-3-12"), "{one}");
    }
}
