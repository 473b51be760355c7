//! What one client connection may hold: a slot under
//! `server.max_connections` ([`Admission`]), and deadlines for each phase
//! of its life ([`Deadlines`] around its stream, [`Phase`] set by the
//! service).
//!
//! hyper's own `header_read_timeout` starts when a connection starts
//! waiting for a request head, so on a kept-alive connection it counts the
//! idle wait too: it cannot give an idle keep-alive connection 60 s and a
//! half-sent head 10 s. [`Deadlines`] does (Go's `net/http` has the same
//! pair, `IdleTimeout` and `ReadHeaderTimeout`):
//!
//! - a new connection must complete its first request head within the
//!   header timeout (from accept, or from the end of the TLS handshake);
//! - after a response, the connection may wait the idle timeout for the
//!   first byte of its next request, which must then complete its head
//!   within the header timeout;
//! - while a request is being served (head read → response ready) no
//!   deadline runs here: the body and the pipeline have their own bounds.
//!
//! A deadline that passes fails the next read with `TimedOut`, and hyper
//! closes the connection.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::metrics::Metrics;

/// Slots for connections: at most `max` open at once.
#[derive(Debug, Clone)]
pub(super) struct Admission {
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Admission {
    /// `max` slots, counted in `metrics` (`weir_connections_open`,
    /// `weir_connections_refused_total`).
    pub(super) fn new(max: usize, metrics: Arc<Metrics>) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(max)),
            metrics,
        }
    }

    /// A slot for a new connection, or `None` (counted as refused) when
    /// every slot is taken.
    pub(super) fn admit(&self) -> Option<Slot> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                self.metrics
                    .connections_open
                    .fetch_add(1, Ordering::Relaxed);
                Some(Slot {
                    _permit: permit,
                    metrics: self.metrics.clone(),
                })
            }
            Err(_) => {
                self.metrics
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// One connection's slot; freed (and the gauge lowered) when dropped, so
/// it is moved into the connection's task and lives exactly as long.
#[derive(Debug)]
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a connection is in its life, as far as deadlines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a request head since `since`; `started` is when its
    /// first byte came (`None`: none yet); `first`: no request yet on
    /// this connection.
    AwaitingHead {
        since: Instant,
        started: Option<Instant>,
        first: bool,
    },
    /// A request is being served.
    Serving,
}

/// A connection's phase, shared by its stream ([`Deadlines`]) and its
/// service (which marks each request with [`Phase::serving`]).
#[derive(Debug)]
pub(super) struct Phase {
    state: Mutex<State>,
    header: Duration,
    idle: Duration,
}

impl Phase {
    /// A new connection, waiting for its first request head from now.
    pub(super) fn new(header: Duration, idle: Duration) -> Arc<Phase> {
        Arc::new(Phase {
            state: Mutex::new(State::AwaitingHead {
                since: Instant::now(),
                started: None,
                first: true,
            }),
            header,
            idle,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A request head has been read; deadlines stop until the returned
    /// guard is dropped (the response is ready), when the idle wait for
    /// the next request begins.
    pub(super) fn serving(self: &Arc<Phase>) -> Serving {
        self.with(|s| *s = State::Serving);
        Serving(self.clone())
    }

    /// Bytes were read: the first of them starts a head's header timeout.
    fn bytes_read(&self) {
        self.with(|s| {
            if let State::AwaitingHead { started, .. } = s {
                started.get_or_insert_with(Instant::now);
            }
        });
    }

    /// When the current wait ends (`None` while serving).
    fn deadline(&self) -> Option<Instant> {
        self.with(|s| match *s {
            State::Serving => None,
            State::AwaitingHead {
                started: Some(t), ..
            } => Some(t + self.header),
            State::AwaitingHead {
                since, first: true, ..
            } => Some(since + self.header),
            State::AwaitingHead { since, .. } => Some(since + self.idle),
        })
    }
}

/// Marks a request in service; dropping it starts the idle wait.
#[derive(Debug)]
pub(super) struct Serving(Arc<Phase>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.with(|s| {
            *s = State::AwaitingHead {
                since: Instant::now(),
                started: None,
                first: false,
            }
        });
    }
}

/// A connection's stream with [`Phase`]'s deadlines on its reads.
#[derive(Debug)]
pub(super) struct Deadlines<T> {
    io: T,
    phase: Arc<Phase>,
    timer: Pin<Box<Sleep>>,
}

impl<T> Deadlines<T> {
    /// `io`, whose reads fail with `TimedOut` once `phase`'s deadline passes.
    pub(super) fn new(io: T, phase: Arc<Phase>) -> Deadlines<T> {
        Deadlines {
            io,
            phase,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Deadlines<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = this.phase.deadline() {
            if this.timer.deadline() != deadline {
                this.timer.as_mut().reset(deadline);
            }
            if this.timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle or request head too slow",
                )));
            }
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.phase.bytes_read();
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadlines<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const HEADER: Duration = Duration::from_millis(100);
    const IDLE: Duration = Duration::from_millis(1000);

    /// `(client end, server end with deadlines, its phase)`.
    fn pair() -> (
        tokio::io::DuplexStream,
        Deadlines<tokio::io::DuplexStream>,
        Arc<Phase>,
    ) {
        let (client, server) = tokio::io::duplex(1024);
        let phase = Phase::new(HEADER, IDLE);
        (client, Deadlines::new(server, phase.clone()), phase)
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_gets_the_header_timeout() {
        let (_client, mut server, _) = pair();
        let started = Instant::now();
        let e = server.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_response_the_idle_timeout_then_the_header_timeout() {
        let (mut client, mut server, phase) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(server.read(&mut [0; 64]).await.unwrap() > 0);
        drop(phase.serving());
        // Idle: the header timeout no longer applies.
        tokio::time::sleep(IDLE - Duration::from_millis(10)).await;
        client.write_all(b"GE").await.unwrap();
        let mut buf = [0; 64];
        assert_eq!(server.read(&mut buf).await.unwrap(), 2);
        // A head has started: it has the header timeout from its first byte.
        let started = Instant::now();
        let e = server.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_ends_at_the_idle_timeout() {
        let (_client, mut server, phase) = pair();
        drop(phase.serving());
        let started = Instant::now();
        let e = server.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_while_serving() {
        let (mut client, mut server, phase) = pair();
        let serving = phase.serving();
        let read = tokio::spawn(async move {
            let mut buf = [0; 16];
            server.read(&mut buf).await.map(|n| buf[..n].to_vec())
        });
        tokio::time::sleep(IDLE * 3).await;
        client.write_all(b"body").await.unwrap();
        assert_eq!(read.await.unwrap().unwrap(), b"body");
        drop(serving);
    }

    #[test]
    fn slots_are_counted_and_freed_on_drop() {
        let metrics = Arc::new(Metrics::default());
        let admission = Admission::new(2, metrics.clone());
        let a = admission.admit();
        let b = admission.admit();
        assert!(a.is_some() && b.is_some());
        assert!(admission.admit().is_none(), "over the cap");
        assert_eq!(metrics.connections_open.load(Ordering::Relaxed), 2);
        assert_eq!(metrics.connections_refused.load(Ordering::Relaxed), 1);
        drop(a);
        assert_eq!(metrics.connections_open.load(Ordering::Relaxed), 1);
        assert!(admission.admit().is_some(), "a freed slot is reused");
    }
}
