//! A fault-injecting HTTP proxy between Weir and the real OpenSearch node.
//! It stands in for the network, not for OpenSearch: every request it lets
//! through is answered by the real node. Modes:
//! - `Forward`: pass through;
//! - `Down`: accept and immediately close connections (node unreachable);
//! - `Reject429Once`: forward the next `_bulk`, then rewrite every item of
//!   the node's answer to 429 `es_rejected_execution_exception` (as if the
//!   node's write queue had been full), then go back to `Forward`.
//!
//! Independently of the mode, [`Proxy::refuse_bulk_above`] answers 413
//! (as OpenSearch does past `http.max_content_length`) to every `_bulk`
//! whose body is larger than a limit, without forwarding it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Proxy behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Pass through.
    Forward = 0,
    /// Close every connection at once.
    Down = 1,
    /// Rewrite the next `_bulk` answer's items to 429.
    Reject429Once = 2,
}

/// A running proxy.
pub struct Proxy {
    /// Its address.
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    bulk_requests: Arc<AtomicUsize>,
    bulk_limit: Arc<AtomicUsize>,
    last_authorization: Arc<std::sync::Mutex<Option<String>>>,
}

impl Proxy {
    /// Base URL of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Change the mode.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Answer 413 to every `_bulk` body larger than `bytes` (0: none).
    pub fn refuse_bulk_above(&self, bytes: usize) {
        self.bulk_limit.store(bytes, Ordering::SeqCst);
    }

    /// The `Authorization` header of the last request seen.
    pub fn last_authorization(&self) -> Option<String> {
        self.last_authorization.lock().unwrap().clone()
    }

    /// `_bulk` requests that reached the node through the proxy.
    pub fn bulk_requests(&self) -> usize {
        self.bulk_requests.load(Ordering::SeqCst)
    }

    /// Start a proxy to `upstream` (e.g. `http://127.0.0.1:9200`).
    pub async fn start(upstream: &str, mode: Mode) -> Proxy {
        Self::start_with(upstream, mode, None).await
    }

    /// Start a proxy that speaks TLS to its clients (a TLS front for a
    /// plain-HTTP upstream), with this acceptor.
    pub async fn start_tls(upstream: &str, tls: tokio_rustls::TlsAcceptor) -> Proxy {
        Self::start_with(upstream, Mode::Forward, Some(tls)).await
    }

    async fn start_with(
        upstream: &str,
        mode: Mode,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(mode as u8));
        let bulk_requests = Arc::new(AtomicUsize::new(0));
        let bulk_limit = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.trim_end_matches('/').to_string();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let last_authorization = Arc::new(std::sync::Mutex::new(None));
        let (m, b, la, bl) = (
            mode.clone(),
            bulk_requests.clone(),
            last_authorization.clone(),
            bulk_limit.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                if m.load(Ordering::SeqCst) == Mode::Down as u8 {
                    drop(stream);
                    continue;
                }
                let (m, b, la, bl, client, upstream) = (
                    m.clone(),
                    b.clone(),
                    la.clone(),
                    bl.clone(),
                    client.clone(),
                    upstream.clone(),
                );
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (m, b, bl, client, upstream) = (
                                m.clone(),
                                b.clone(),
                                bl.clone(),
                                client.clone(),
                                upstream.clone(),
                            );
                            if let Some(a) = req.headers().get(http::header::AUTHORIZATION) {
                                *la.lock().unwrap() =
                                    Some(a.to_str().unwrap_or_default().to_string());
                            }
                            async move {
                                Ok::<_, std::convert::Infallible>(
                                    forward(req, &client, &upstream, &m, (&b, &bl)).await,
                                )
                            }
                        },
                    );
                    match tls {
                        None => {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        }
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        }
                    }
                });
            }
        });
        Proxy {
            addr,
            mode,
            bulk_requests,
            bulk_limit,
            last_authorization,
        }
    }
}

async fn forward(
    req: http::Request<hyper::body::Incoming>,
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: &str,
    mode: &AtomicU8,
    (bulk_requests, bulk_limit): (&AtomicUsize, &AtomicUsize),
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let is_bulk = parts.uri.path().ends_with("/_bulk");
    let limit = bulk_limit.load(Ordering::SeqCst);
    if is_bulk && limit > 0 && body.len() > limit {
        return http::Response::builder()
            .status(413)
            .body(Full::new(Bytes::from_static(b"Request Entity Too Large")))
            .unwrap();
    }
    if mode.load(Ordering::SeqCst) == Mode::Down as u8 {
        return http::Response::builder()
            .status(502)
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    let mut up = http::Request::builder()
        .method(parts.method.clone())
        .uri(format!(
            "{upstream}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        ));
    // Every header as sent, Host included: signed requests (SigV4 covers
    // the host) stay valid through the proxy.
    for (k, v) in parts.headers.iter() {
        up = up.header(k, v);
    }
    let resp = client
        .request(up.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let mut bytes = resp.into_body().collect().await.unwrap().to_bytes();
    if is_bulk {
        bulk_requests.fetch_add(1, Ordering::SeqCst);
        if mode
            .compare_exchange(
                Mode::Reject429Once as u8,
                Mode::Forward as u8,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
        {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            v["errors"] = serde_json::Value::Bool(true);
            for item in v["items"].as_array_mut().unwrap() {
                for (_, op) in item.as_object_mut().unwrap() {
                    op["status"] = serde_json::json!(429);
                    op["error"] = serde_json::json!({
                        "type": "es_rejected_execution_exception",
                        "reason": "rejected execution (injected by the weir test proxy)",
                    });
                }
            }
            bytes = Bytes::from(v.to_string());
        }
    }
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(bytes))
        .unwrap()
}
