//! A capped in-memory pipe for a plugin's stdout/stderr.
//!
//! Unlike wasmtime-wasi's `MemoryOutputPipe`, which traps the guest when its
//! capacity is reached, this one keeps the first `cap` bytes and silently
//! counts the rest: a chatty plugin loses log text, never its batch.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Default)]
struct Inner {
    kept: BytesMut,
    dropped: usize,
}

/// Keeps the first `cap` bytes written; counts the rest.
#[derive(Clone)]
pub(super) struct CappedPipe {
    cap: usize,
    inner: Arc<Mutex<Inner>>,
}

impl CappedPipe {
    /// A pipe keeping at most `cap` bytes.
    pub(super) fn new(cap: usize) -> CappedPipe {
        CappedPipe {
            cap,
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    fn push(&self, buf: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(inner.kept.len());
        let take = room.min(buf.len());
        inner.kept.extend_from_slice(&buf[..take]);
        inner.dropped += buf.len() - take;
    }

    /// Take what was kept, and how many bytes were dropped.
    pub(super) fn take(&self) -> (Bytes, usize) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = std::mem::take(&mut inner.kept).freeze();
        (kept, std::mem::take(&mut inner.dropped))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: past the cap, bytes are counted and dropped.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_head_and_counts_the_rest() {
        let mut p = CappedPipe::new(5);
        p.write(Bytes::from_static(b"hello world")).unwrap();
        p.write(Bytes::from_static(b"!")).unwrap();
        let (kept, dropped) = p.take();
        assert_eq!(&kept[..], b"hello");
        assert_eq!(dropped, 7);
        assert_eq!(p.take().1, 0);
    }
}
