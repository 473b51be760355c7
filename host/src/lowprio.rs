//! Work run at a lower CPU priority than request handling: decoding a large
//! request and running its plugin. Each large request is a burst of CPU
//! (a 60 MiB body is inflated, parsed, base64-decoded and copied into a
//! plugin's memory); run at the same priority, a few of them at once make
//! the small requests of every other tenant wait for a core. On a thread
//! with a higher nice value the kernel's scheduler gives a small request's
//! thread the core first, and the large one still has every idle cycle.
//!
//! Each call runs on a thread of its own, started for it (tens of
//! microseconds, against bursts of hundreds of milliseconds), so a lowered
//! priority never leaks into threads that serve other work: an unprivileged
//! process can lower a thread's priority but not raise it back.

use std::panic::AssertUnwindSafe;

/// The nice value of the threads: CFS gives a nice-0 thread about 9 times
/// the CPU of a nice-10 one when both want it.
pub const NICE: i32 = 10;

/// Run `work` on a new thread at nice [`NICE`], and wait for its result
/// without blocking the async thread. `Err` when the thread cannot be
/// started or `work` panics.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("weir-large".into())
        .spawn(move || {
            lower_this_thread();
            let out = std::panic::catch_unwind(AssertUnwindSafe(work))
                .map_err(|_| "the work panicked".to_string());
            let _ = tx.send(out);
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    rx.await
        .map_err(|_| "the thread ended without an answer".to_string())?
}

/// Run `work` off the async threads: at a lower priority ([`run`]) when
/// `low`, else on tokio's blocking pool.
pub async fn run_blocking<T: Send + 'static>(
    low: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match low {
        true => run(work).await,
        false => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| e.to_string()),
    }
}

/// Raise the calling thread's nice value to [`NICE`] (on Linux a nice
/// value is per thread). Failing to is harmless: the work runs at the
/// normal priority.
fn lower_this_thread() {
    if let Err(e) = rustix::process::setpriority_process(None, NICE) {
        tracing::debug!(error = %e, "cannot lower a worker thread's priority");
    }
}

/// The calling thread's nice value (for tests).
#[cfg(test)]
fn this_thread_nice() -> i32 {
    rustix::process::getpriority_process(None).unwrap_or(i32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_at_a_lower_priority_and_gives_back_the_result() {
        let before = this_thread_nice();
        let inside = run(this_thread_nice).await.unwrap();
        assert_eq!(inside, NICE.max(before), "the worker thread is niced");
        // the caller's thread is not
        assert_eq!(this_thread_nice(), before);
        assert_eq!(run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_panic_is_an_error() {
        let out: Result<(), String> = run(|| panic!("boom")).await;
        assert!(out.unwrap_err().contains("panicked"));
    }
}
