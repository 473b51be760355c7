//! The one batching loop of the sinks: items from many requests are
//! coalesced into one flush by count, bytes and age (OpenSearch `_bulk`
//! bodies, backup objects).

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// When a batch is flushed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlushAt {
    /// At this many units (documents, records).
    pub(crate) count: usize,
    /// At this many bytes.
    pub(crate) bytes: usize,
    /// When the oldest item waited this long (zero: flush every item).
    pub(crate) age: Duration,
}

/// Something the loop batches: its weight in units and bytes.
pub(crate) trait Weighed {
    /// (units, bytes).
    fn weight(&self) -> (usize, usize);
}

/// Receive items until the channel closes, calling `flush` with each batch
/// (and with what is left, `last = true`, when the channel closes).
pub(crate) async fn run<T, F, Fut>(mut rx: mpsc::Receiver<T>, at: FlushAt, mut flush: F)
where
    T: Weighed,
    F: FnMut(Vec<T>, bool) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut pending: Vec<T> = Vec::new();
    let (mut count, mut bytes) = (0usize, 0usize);
    let mut oldest: Option<Instant> = None;
    loop {
        let deadline = oldest.map(|t| tokio::time::Instant::from_std(t + at.age));
        let due = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        let flush_now = tokio::select! {
            msg = rx.recv() => match msg {
                Some(item) => {
                    let (c, b) = item.weight();
                    (count, bytes) = (count + c, bytes + b);
                    oldest.get_or_insert_with(Instant::now);
                    pending.push(item);
                    count >= at.count || bytes >= at.bytes || at.age.is_zero()
                }
                None => {
                    if !pending.is_empty() {
                        flush(std::mem::take(&mut pending), true).await;
                    }
                    return;
                }
            },
            () = due => true,
        };
        if flush_now && !pending.is_empty() {
            (count, bytes, oldest) = (0, 0, None);
            flush(std::mem::take(&mut pending), false).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(usize);
    impl Weighed for Item {
        fn weight(&self) -> (usize, usize) {
            (1, self.0)
        }
    }

    #[tokio::test]
    async fn flushes_by_count_bytes_and_on_close() {
        let (tx, rx) = mpsc::channel(16);
        let at = FlushAt {
            count: 3,
            bytes: 100,
            age: Duration::from_secs(3600),
        };
        let flushed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let f2 = flushed.clone();
        let task = tokio::spawn(run(rx, at, move |b: Vec<Item>, last| {
            f2.lock()
                .unwrap()
                .push((b.iter().map(|i| i.0).collect::<Vec<_>>(), last));
            async {}
        }));
        for n in [1, 2, 3, 150, 7] {
            tx.send(Item(n)).await.unwrap();
        }
        drop(tx);
        task.await.unwrap();
        assert_eq!(
            *flushed.lock().unwrap(),
            vec![(vec![1, 2, 3], false), (vec![150], false), (vec![7], true)]
        );
    }
}
