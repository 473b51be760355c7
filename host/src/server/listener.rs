//! The listeners: the accept loops of `server.listen` ([`Server`]) and of
//! `server.metrics_listen` ([`serve_metrics`]), each connection in its
//! slot and under its deadlines ([`super::conn`]), served by hyper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::conn::{Admission, Deadlines, Phase};
use super::{SHUTDOWN_DRAIN, ServerError, handle_live, ops_response, text_response};
use crate::config::ConnectionLimits;
use crate::live::Live;

/// Connections open at once on `server.metrics_listen` (an operator's
/// scraper needs one or two); over it they are closed at once.
pub const METRICS_MAX_CONNECTIONS: usize = 64;

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    live: Arc<Live>,
    drain: Duration,
    limits: ConnectionLimits,
}

impl Server {
    /// Bind `addr`; TLS when `tls` is given. Connection limits are those of
    /// the serving config (`server.max_connections` and the timeouts); see
    /// [`Server::with_connection_limits`].
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
        live: Arc<Live>,
    ) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let limits = live.current().config().server.connections;
        Ok(Server {
            listener,
            tls,
            live,
            drain: SHUTDOWN_DRAIN,
            limits,
        })
    }

    /// Wait at most `drain` for requests in flight at shutdown (default
    /// [`SHUTDOWN_DRAIN`]).
    pub fn with_drain(mut self, drain: Duration) -> Server {
        self.drain = drain;
        self
    }

    /// Use these connection limits instead of the config's (`weir serve`
    /// lowers the cap to fit the open-file limit, see
    /// [`connections_within`](super::connections_within)).
    pub fn with_connection_limits(mut self, limits: ConnectionLimits) -> Server {
        self.limits = limits;
        self
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` turns true; then stop accepting and wait for
    /// in-flight requests to finish, at most the drain time.
    ///
    /// A connection over `server.max_connections` is accepted and closed at
    /// once, as Envoy does over its connection limit: the client learns at
    /// once (Firehose retries), the listen backlog never fills with
    /// connections nobody will serve, and each refusal is counted
    /// (`weir_connections_refused_total`).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let admission = Admission::new(
            self.limits.max_connections.get(),
            self.live.current().metrics().clone(),
        );
        let mut refusals = RefusalLog::default();
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            };
            let Some(slot) = admission.admit() else {
                refusals.refused(peer, self.limits.max_connections.get());
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let live = self.live.clone();
            let limits = self.limits;
            match &self.tls {
                None => {
                    let conn = graceful.watch(http1_connection(stream, live, &limits));
                    tokio::spawn(async move {
                        let _slot = slot;
                        if let Err(e) = conn.await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let handshake = acceptor.accept(stream);
                        let tls =
                            match tokio::time::timeout(limits.handshake_timeout, handshake).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                        let conn = http1_connection(tls, live, &limits);
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
            }
        }
        self.live.set_ready(false);
        drop(self.listener);
        if tokio::time::timeout(self.drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                drain_ms = self.drain.as_millis() as u64,
                "requests still in flight at the end of the shutdown drain are dropped \
                 unanswered (nothing of theirs was acknowledged; the sender retries)"
            );
        }
    }
}

/// How often, at most, refused connections are logged as a warning (each
/// is counted in `weir_connections_refused_total`).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Logs refused connections: a warning at most every
/// [`REFUSAL_LOG_INTERVAL`], with how many since the last one.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<tokio::time::Instant>,
    since_last: u64,
}

impl RefusalLog {
    fn refused(&mut self, peer: SocketAddr, max: usize) {
        self.since_last += 1;
        tracing::debug!(%peer, "connection refused: server.max_connections are open");
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_INTERVAL)
        {
            tracing::warn!(
                max_connections = max,
                refused = self.since_last,
                "connections refused (closed at once): server.max_connections are open"
            );
            self.last = Some(now);
            self.since_last = 0;
        }
    }
}

/// A connection's service: [`handle_live`], each request marked in
/// `phase` from its head read to its response ready.
#[derive(Clone)]
struct LiveService {
    live: Arc<Live>,
    phase: Arc<Phase>,
}

impl hyper::service::Service<Request<hyper::body::Incoming>> for LiveService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        let serving = self.phase.serving();
        let live = self.live.clone();
        Box::pin(async move {
            let resp = handle_live(&live, req).await;
            drop(serving);
            Ok(resp)
        })
    }
}

/// Serve HTTP/1 on `io` (after TLS, if any) with the connection deadlines
/// of `limits`, starting now. hyper's own header timeout also counts the
/// idle wait before a head (see [`conn`]), so it is set to idle + header:
/// a backstop that never fires before [`Deadlines`].
fn http1_connection<I>(
    io: I,
    live: Arc<Live>,
    limits: &ConnectionLimits,
) -> hyper::server::conn::http1::Connection<TokioIo<Deadlines<I>>, LiveService>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let phase = Phase::new(limits.header_read_timeout, limits.idle_timeout);
    let service = LiveService {
        live,
        phase: phase.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_read_timeout)
        .keep_alive(true);
    builder.serve_connection(TokioIo::new(Deadlines::new(io, phase)), service)
}

/// Serve `server.metrics_listen`: plain HTTP, `GET /metrics`, `/healthz`
/// and `/readyz` only (404 for the rest), until the runtime ends. The
/// config's header and idle timeouts apply, and at most
/// [`METRICS_MAX_CONNECTIONS`] connections (not counted in the main
/// listener's metrics).
pub async fn serve_metrics(listener: TcpListener, live: Arc<Live>) {
    let limits = live.current().config().server.connections;
    let slots = Arc::new(tokio::sync::Semaphore::new(METRICS_MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let live = live.clone();
        let phase = Phase::new(limits.header_read_timeout, limits.idle_timeout);
        let serving = phase.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let live = live.clone();
            let serving = serving.serving();
            async move {
                let resp = ops_response(&live, &req, true).unwrap_or_else(|| {
                    text_response(StatusCode::NOT_FOUND, "text/plain", "not found\n".into())
                });
                drop(serving);
                Ok::<_, Infallible>(resp)
            }
        });
        tokio::spawn(async move {
            let _slot = slot;
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.idle_timeout + limits.header_read_timeout)
                .serve_connection(TokioIo::new(Deadlines::new(stream, phase)), service)
                .await;
        });
    }
}
