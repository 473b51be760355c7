//! The one batching loop of the sinks: items from many requests are
//! coalesced into one flush by count, bytes and age (OpenSearch `_bulk`
//! bodies, backup objects).
//!
//! The loop outlives every request that feeds it, so a panic while one
//! batch is flushed must not end it: [`run`] catches it, the batch's items
//! (and with them their reply channels) are dropped, so only the requests
//! of that batch fail, and the loop goes on with the next batch.

use std::future::Future;
use std::panic::AssertUnwindSafe;
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
                        caught(flush(std::mem::take(&mut pending), true)).await;
                    }
                    return;
                }
            },
            () = due => true,
        };
        if flush_now && !pending.is_empty() {
            (count, bytes, oldest) = (0, 0, None);
            caught(flush(std::mem::take(&mut pending), false)).await;
        }
    }
}

/// Run one flush; a panic in it is logged and ends only this flush. What
/// the flush owned is dropped while unwinding: a reply channel dropped
/// unanswered fails its request, which the sender retries.
async fn caught<Fut: Future<Output = ()>>(flush: Fut) {
    let mut flush = std::pin::pin!(flush);
    let outcome = std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| flush.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(())) => std::task::Poll::Ready(Ok(())),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    })
    .await;
    if let Err(panic) = outcome {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(
            panic = what,
            "a sink flush panicked; its requests fail, the batcher goes on"
        );
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

    /// A flush that panics fails its own batch (its reply dropped) and the
    /// loop still flushes the next one.
    #[tokio::test]
    async fn a_panicking_flush_does_not_end_the_loop() {
        struct Ask(usize, tokio::sync::oneshot::Sender<usize>);
        impl Weighed for Ask {
            fn weight(&self) -> (usize, usize) {
                (1, 0)
            }
        }
        let (tx, rx) = mpsc::channel(16);
        let at = FlushAt {
            count: 1,
            bytes: usize::MAX,
            age: Duration::from_secs(3600),
        };
        let task = tokio::spawn(run(rx, at, |b: Vec<Ask>, _| async move {
            tokio::task::yield_now().await;
            for Ask(n, reply) in b {
                assert!(n != 13, "unlucky");
                let _ = reply.send(n);
            }
        }));
        let ask = |n| {
            let (reply, answer) = tokio::sync::oneshot::channel();
            (Ask(n, reply), answer)
        };
        let (bad, bad_answer) = ask(13);
        tx.send(bad).await.unwrap();
        assert!(bad_answer.await.is_err(), "the panicking batch fails");
        let (good, good_answer) = ask(7);
        tx.send(good).await.unwrap();
        assert_eq!(good_answer.await.unwrap(), 7, "the loop goes on");
        drop(tx);
        task.await.unwrap();
    }
}
