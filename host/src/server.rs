//! The HTTP(S) server: hyper 1 over TCP, with rustls unless the config says
//! plain HTTP. [`handle`] is the whole request path and is generic over the
//! body type, so tests call it as a service without sockets.
//!
//! The accept loops are in `listener`. Connections are bounded (`conn`): at most `server.max_connections` at
//! once, a TLS handshake timeout, a header timeout and an idle keep-alive
//! timeout, so that idle or slow clients cannot exhaust descriptors; `fds`
//! raises the open-file limit at start and fits the cap inside it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use tracing::Instrument;

use crate::config::TlsConfig;
use crate::firehose::{self, RequestError};
use crate::live::Live;
use crate::metrics::RouteCounters;
use crate::pipeline::Pipeline;
use crate::tenant;

mod certs;
mod conn;
mod fds;
mod listener;

pub use fds::{OpenFiles, connections_within, raise_open_files_limit};
pub use listener::{METRICS_MAX_CONNECTIONS, Server, serve_metrics};

/// How long shutdown waits for requests in flight (under Kubernetes'
/// default 30 s grace period). Requests still running then are dropped
/// unanswered; nothing of theirs was acknowledged, so Firehose retries them.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(25);
/// Bodies at most this large are decoded on the async thread; larger ones
/// (base64 of up to 64 MiB, gunzip) go to the blocking pool.
const INLINE_DECODE_BYTES: usize = 256 * 1024;
/// Bodies that decode to more than this (gzip inflated, base64 decoded) are
/// large: at most [`large_decode_slots`] such requests are processed at once
/// (decoded and run through their plugin), so that tenants
/// sending 64 MiB requests cannot keep every core busy while their
/// neighbours' small requests wait for one.
const LARGE_DECODE_BYTES: usize = 8 * 1024 * 1024;

/// How many large requests may be processed at once: half the cores (at
/// least one). More wait (holding their memory reservation, not a thread).
fn large_decode_slots(cores: usize) -> usize {
    (cores / 2).max(1)
}

/// The process's slots for decoding large bodies.
fn large_decodes() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(large_decode_slots(cores))
    })
}
/// `Retry-After` (seconds) of a 503 for the memory budget: reservations
/// are given back as requests are answered, within seconds.
const MEMORY_RETRY_AFTER_SECS: &str = "1";

/// Server errors (start-up only; per-request errors are [`RequestError`]s).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TLS material could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// Build a rustls acceptor from PEM files: the certificate is read again
/// when the files change (checked at most once a second, on a handshake).
pub fn tls_acceptor(tls: &TlsConfig) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = certs::ReloadingCert::load(&tls.cert, &tls.key, provider.clone())
        .map_err(ServerError::Tls)?;
    acceptor(provider, |b| Ok(b.with_cert_resolver(Arc::new(resolver))))
}

/// Build a rustls acceptor from DER certificate chain and key.
pub fn tls_acceptor_from(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    acceptor(provider, |b| b.with_single_cert(certs, key))
}

/// The acceptor: safe default versions, no client auth, ALPN http/1.1, and
/// the certificate `cert` sets.
fn acceptor(
    provider: Arc<rustls::crypto::CryptoProvider>,
    cert: impl FnOnce(
        rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>,
    ) -> Result<rustls::ServerConfig, rustls::Error>,
) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth();
    let mut cfg = cert(builder).map_err(|e| ServerError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

/// Serve one request on the live state: `GET /healthz` (the process is up),
/// `GET /readyz` (serving; 503 once shutdown starts), `GET /metrics`
/// (Prometheus text, where [`Config::metrics_on_listen`] says so; else it
/// gets what any other `GET` gets), else a Firehose request on the current
/// pipeline.
///
/// [`Config::metrics_on_listen`]: crate::config::Config::metrics_on_listen
pub async fn handle_live<B>(live: &Live, req: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let pipeline = live.current();
    let metrics_here = pipeline.config().metrics_on_listen();
    if let Some(resp) = ops_response(live, &req, metrics_here) {
        return resp;
    }
    handle(&pipeline, req).await
}

/// `GET /healthz`, `/readyz`, and `/metrics` when `metrics` (behind
/// `server.metrics_token` when set); `None` for anything else.
fn ops_response<B>(live: &Live, req: &Request<B>, metrics: bool) -> Option<Response<Full<Bytes>>> {
    if req.method() != Method::GET {
        return None;
    }
    let text = |status, body: &str| text_response(status, "text/plain", body.to_string());
    Some(match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if live.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        "/metrics" if !metrics => return None,
        "/metrics" if !metrics_allowed(live, req.headers()) => {
            text(StatusCode::UNAUTHORIZED, "unauthorized\n")
        }
        "/metrics" => text_response(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            live.current().render_metrics(),
        ),
        _ => return None,
    })
}

/// Whether `GET /metrics` may be answered: always without
/// `server.metrics_token`, else only with `Authorization: Bearer <token>`.
fn metrics_allowed(live: &Live, headers: &http::HeaderMap) -> bool {
    let pipeline = live.current();
    let Some(token) = &pipeline.config().server.metrics_token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|t| token.matches(t))
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_response(request_id: Option<&str>, err: &RequestError) -> Response<Full<Bytes>> {
    let status = err.status();
    let mut resp = json_response(
        status,
        firehose::error_body(
            request_id,
            firehose::now_ms(),
            &err.public_message(request_id),
        ),
    );
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    }
    if matches!(err, RequestError::MemoryBudget(_)) {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(MEMORY_RETRY_AFTER_SECS),
        );
    }
    resp
}

/// Serve one Firehose request: the whole protocol, start to acknowledgement.
pub async fn handle<B>(pipeline: &Pipeline, req: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let received = std::time::Instant::now();
    let path = req.uri().path().to_string();
    let header_id = firehose::header_request_id(req.headers());
    let route = pipeline.route(&path).cloned();
    let span = tracing::info_span!(
        "request",
        tenant = route.as_ref().map(|r| r.tenant.id.as_str()),
        route = route.as_ref().map(|r| r.config.name.as_str()),
        request_id = header_id.as_deref().unwrap_or(""),
    );
    let result = handle_inner(pipeline, route.clone(), req)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    match &route {
        Some(r) => {
            let c = &r.counters;
            c.request_took(received.elapsed());
            match &result {
                Ok(_) => RouteCounters::add(&c.requests_ok, 1),
                Err(e) => {
                    RouteCounters::add(&c.requests_failed, 1);
                    if matches!(e, RequestError::OverQuota(_)) {
                        RouteCounters::add(&c.quota_rejections, 1);
                    }
                }
            }
        }
        None => RouteCounters::add(&pipeline.metrics().unrouted_requests, 1),
    }
    match result {
        Ok((request_id, delivery)) => {
            tracing::debug!(
                path,
                request_id,
                records = delivery.records,
                documents = delivery.documents,
                dropped = delivery.dropped,
                failed = delivery.failed,
                "delivered"
            );
            json_response(
                StatusCode::OK,
                firehose::success_body(&request_id, firehose::now_ms()),
            )
        }
        Err(err) => {
            tracing::warn!(
                path,
                request_id = header_id.as_deref().unwrap_or(""),
                status = err.status().as_u16(),
                error = %err,
                "request refused"
            );
            error_response(header_id.as_deref(), &err)
        }
    }
}

/// An S3 event notification (see [`crate::s3intake`]).
async fn s3_notification<B>(
    pipeline: &Pipeline,
    route: &std::sync::Arc<crate::pipeline::Route>,
    store: &crate::sink::s3::S3Sink,
    req: Request<B>,
) -> Result<(String, crate::pipeline::Delivery), RequestError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let key = match firehose::access_key(req.headers()) {
        Ok(k) => k.to_vec(),
        Err(_) => req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .map(<[u8]>::to_vec)
            .ok_or(RequestError::MissingAccessKey)?,
    };
    if !tenant::any_key_matches(&route.tenant.access_keys, &key) {
        return Err(RequestError::WrongAccessKey);
    }
    let _admitted = route.admit()?;
    let request_id =
        firehose::header_request_id(req.headers()).unwrap_or_else(|| "s3-notification".into());
    let cap = crate::s3intake::MAX_NOTIFICATION_BYTES;
    let _memory = route.reserve_memory(content_length(req.headers()).unwrap_or(cap).min(cap))?;
    let body = read_body(req.into_body(), cap).await?;
    let objects =
        crate::s3intake::parse_notification(&body).map_err(RequestError::MalformedBody)?;
    let delivery = crate::s3intake::deliver(pipeline, route, store, objects)
        .await
        .map_err(|e| match e {
            crate::s3intake::IntakeError::Unavailable => RequestError::ObjectUnavailable,
            crate::s3intake::IntakeError::Delivery(d) => d.into(),
        })?;
    Ok((request_id, delivery))
}

async fn handle_inner<B>(
    pipeline: &Pipeline,
    route: Option<Arc<crate::pipeline::Route>>,
    req: Request<B>,
) -> Result<(String, crate::pipeline::Delivery), RequestError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.method() != Method::POST {
        return Err(RequestError::MethodNotAllowed(req.method().to_string()));
    }
    let route = route.ok_or_else(|| RequestError::UnknownRoute(req.uri().path().to_string()))?;
    // Unknown route and wrong key get one answer (see `public_message`).
    if let Some(store) = route.object_store.clone() {
        return s3_notification(pipeline, &route, &store, req).await;
    }
    let key = firehose::access_key(req.headers())?;
    if !tenant::any_key_matches(&route.tenant.access_keys, key) {
        return Err(RequestError::WrongAccessKey);
    }
    let headers = firehose::check_headers(req.headers())?;
    let _admitted = route.admit()?;
    // A tenant still paying back its rates is refused from the head, before
    // its body is read, inflated or decoded.
    route.gate.check_rates()?;
    let limits = pipeline.config().limits;
    let declared = content_length(req.headers());
    if declared.is_some_and(|len| len > limits.max_body_bytes) {
        return Err(RequestError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    // The memory budget is taken before the body is read (the length it
    // declares, else the cap), and held until the request is answered.
    let mut memory = route.reserve_memory(declared.unwrap_or(limits.max_body_bytes))?;
    let body = read_body(req.into_body(), limits.max_body_bytes).await?;
    let body_len = body.len();
    memory.resize(body_len)?;
    let decoded_hint = firehose::decoded_size_hint(&headers, &body, &limits);
    memory.reserve_ahead(decoded_hint)?;
    // A large request holds its slot while it is decoded and run through
    // its plugin (the CPU in bursts), not while its sink writes.
    let slot = if decoded_hint.max(body_len) > LARGE_DECODE_BYTES {
        let slot = large_decodes().acquire().await;
        Some(slot.map_err(|_| RequestError::DeliveryFailed("shutting down".into()))?)
    } else {
        None
    };
    let (decoded, _memory) = if body.len() <= INLINE_DECODE_BYTES && !headers.gzip {
        let mut grant = |n| memory.grow(n).map_err(RequestError::from);
        let decoded = firehose::decode_body_metered(&headers, &body, &limits, &mut grant)?;
        (decoded, memory)
    } else {
        let decode = move || {
            let mut grant = |n| memory.grow(n).map_err(RequestError::from);
            let decoded = firehose::decode_body_metered(&headers, &body, &limits, &mut grant);
            (decoded, memory)
        };
        // a large request is decoded at a lower CPU priority than small ones
        let (decoded, memory) = crate::lowprio::run_blocking(slot.is_some(), decode)
            .await
            .map_err(|e| RequestError::DeliveryFailed(format!("decoder task failed: {e}")))?;
        (decoded?, memory)
    };
    // Rates are charged what the body inflated to, not what was sent.
    route
        .gate
        .charge(decoded.records.len(), decoded.json_bytes)
        .await?;
    let c = &route.counters;
    RouteCounters::add(&c.records_in, decoded.records.len() as u64);
    RouteCounters::add(&c.bytes_in, body_len as u64);
    let request_id = decoded.request_id.clone();
    let delivery = pipeline
        .deliver_holding(&route, decoded.into_batch(), slot)
        .await?;
    RouteCounters::add(&c.documents_out, delivery.documents as u64);
    RouteCounters::add(&c.records_dropped, delivery.dropped as u64);
    RouteCounters::add(&c.records_failed, delivery.failed as u64);
    Ok((request_id, delivery))
}

/// The `Content-Length` a request declares, if any.
fn content_length(headers: &http::HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// The whole body, refused past `limit` bytes (the only place a request
/// body is collected: never without a limit).
#[allow(clippy::disallowed_methods)] // bounded by `Limited`
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, RequestError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(RequestError::BodyTooLarge { limit })
        }
        Err(e) => Err(RequestError::BodyRead(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn large_bodies_are_decoded_on_half_the_cores() {
        let slots: Vec<usize> = [1, 2, 3, 4, 16]
            .into_iter()
            .map(super::large_decode_slots)
            .collect();
        assert_eq!(slots, [1, 1, 1, 2, 8]);
    }
}
