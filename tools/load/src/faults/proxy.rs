//! A fault-injecting HTTP proxy in front of the real OpenSearch node. It
//! stands in for the node's bad moments, not for the node: with no fault
//! set every request passes through, and whatever it lets through is
//! answered by the real node.
//!
//! Faults ([`ProxyMode`]):
//! - `Reject429`: four items in five of each `_bulk` are answered 429
//!   `es_rejected_execution_exception` without reaching the node (as a
//!   full write queue does); the fifth are forwarded, and the node's
//!   answers for them merged back in order;
//! - `Refuse413(limit)`: a `_bulk` body over `limit` bytes is answered
//!   413 without reaching the node (`http.max_content_length`);
//! - `Slow(d)`: every request waits `d` before it is forwarded;
//! - `Unavailable`: every request is answered 503 (the proxy also stands
//!   in front of S3, where that is `ServiceUnavailable`);
//! - `Down`: the endpoint is stopped: its listening socket is closed (a
//!   connection is refused) and every open connection is cut, requests in
//!   flight included; when the fault ends it listens again on the same
//!   port. The node behind it is never stopped: it is shared.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A fault the proxy injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProxyMode {
    /// 429 to four items in five of each `_bulk`.
    Reject429,
    /// 413 to `_bulk` bodies over this many bytes.
    Refuse413(usize),
    /// Every request this late.
    Slow(Duration),
    /// 503 to every request (a server down behind its load balancer).
    Unavailable,
    /// Not listening, every connection cut (a node stopped).
    Down,
}

/// What the connections share.
struct State {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    mode: Mutex<Option<ProxyMode>>,
    /// Requests (or `_bulk` items, for 429) the fault struck.
    faulted: AtomicUsize,
    /// Items seen by `Reject429`, to pick one in five.
    items: AtomicUsize,
    /// Whether the endpoint is down (`Down`): the accept loop and every
    /// connection watch it.
    down: tokio::sync::watch::Sender<bool>,
}

/// A running proxy; it stops when the runtime does.
pub(super) struct Proxy {
    addr: std::net::SocketAddr,
    state: Arc<State>,
}

impl Proxy {
    /// Start a proxy to `upstream` (`http://host:port`), passing through.
    pub(super) async fn start(upstream: &str) -> anyhow::Result<Proxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            mode: Mutex::new(None),
            faulted: AtomicUsize::new(0),
            items: AtomicUsize::new(0),
            down: tokio::sync::watch::Sender::new(false),
        });
        tokio::spawn(accept_loop(listener, state.clone()));
        Ok(Proxy { addr, state })
    }

    /// Its base URL.
    pub(super) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Inject `mode` from now on (`None`: pass through).
    pub(super) fn set(&self, mode: Option<ProxyMode>) {
        if let Ok(mut m) = self.state.mode.lock() {
            *m = mode;
        }
        self.state.down.send_replace(mode == Some(ProxyMode::Down));
    }

    /// Requests (items, for 429) the fault struck so far.
    pub(super) fn faulted(&self) -> usize {
        self.state.faulted.load(Ordering::SeqCst)
    }
}

/// Accept connections on `listener` and serve each; while the endpoint is
/// down, close the listener (connections are refused), and bind its
/// address again when it comes back.
async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let mut listener = Some(listener);
    let mut down = state.down.subscribe();
    loop {
        if *down.borrow_and_update() {
            listener = None;
            if down.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match &mut listener {
            Some(l) => l,
            None => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    // The port lingers a moment after its close.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = l.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, state.clone()));
                }
                Err(_) => return,
            },
            changed = down.changed() => if changed.is_err() { return },
        }
    }
}

/// Serve one connection until it ends, or until the endpoint goes down
/// (then it is cut, whatever is in flight).
async fn serve(stream: tokio::net::TcpStream, state: Arc<State>) {
    let mut down = state.down.subscribe();
    let handler = state.clone();
    let svc = hyper::service::service_fn(move |req| {
        let state = handler.clone();
        async move { Ok::<_, std::convert::Infallible>(state.handle(req).await) }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    let went_down = async {
        while !*down.borrow_and_update() {
            if down.changed().await.is_err() {
                return false;
            }
        }
        true
    };
    tokio::select! {
        _ = conn => {}
        cut = went_down => if cut {
            state.faulted.fetch_add(1, Ordering::SeqCst);
        },
    }
}

impl State {
    /// Answer one request: fault it, or forward it.
    async fn handle(
        &self,
        req: http::Request<hyper::body::Incoming>,
    ) -> http::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return answer(400, Bytes::new());
        };
        let bulk = parts.uri.path().ends_with("/_bulk");
        let mode = self.mode.lock().map_or(None, |m| *m);
        match mode {
            Some(ProxyMode::Refuse413(limit)) if bulk && body.len() > limit => {
                self.faulted.fetch_add(1, Ordering::SeqCst);
                return answer(413, Bytes::from_static(b"Request Entity Too Large"));
            }
            Some(ProxyMode::Slow(d)) => {
                self.faulted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(d).await;
            }
            Some(ProxyMode::Unavailable) => {
                self.faulted.fetch_add(1, Ordering::SeqCst);
                return answer(
                    503,
                    Bytes::from_static(b"<Error><Code>ServiceUnavailable</Code></Error>"),
                );
            }
            Some(ProxyMode::Reject429) if bulk && !compressed(&parts) => {
                return self.reject_most(parts, body).await;
            }
            _ => {}
        }
        self.forward(&parts, body).await
    }

    /// Forward a request with `body`.
    async fn forward(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> http::Response<Full<Bytes>> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut up = http::Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{path}", self.upstream));
        // Every header as sent (`host` included), but the length: the
        // body forwarded may be a part of the one received (429 mode), and
        // hyper sets the length of the body it sends.
        for (k, v) in &parts.headers {
            if k != http::header::CONTENT_LENGTH {
                up = up.header(k, v);
            }
        }
        let Ok(up) = up.body(Full::new(body)) else {
            return answer(500, Bytes::new());
        };
        let Ok(resp) = self.client.request(up).await else {
            return answer(502, Bytes::new());
        };
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        answer(status, bytes)
    }

    /// 429 to four items in five of a `_bulk`; forward the rest and merge
    /// the node's answers for them back in order.
    async fn reject_most(
        &self,
        parts: http::request::Parts,
        body: Bytes,
    ) -> http::Response<Full<Bytes>> {
        let items = bulk_items(&body);
        let mut kept = Vec::new();
        let mut keep = Vec::with_capacity(items.len());
        for item in &items {
            let pass = self.items.fetch_add(1, Ordering::SeqCst).is_multiple_of(5);
            if pass {
                kept.extend_from_slice(item.lines.as_bytes());
            } else {
                self.faulted.fetch_add(1, Ordering::SeqCst);
            }
            keep.push(pass);
        }
        let mut answers = Vec::new().into_iter();
        if !kept.is_empty() {
            let resp = self.forward(&parts, Bytes::from(kept)).await;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            match v["items"].as_array() {
                Some(a) if status == http::StatusCode::OK => answers = a.clone().into_iter(),
                _ => return answer(status.as_u16(), bytes),
            }
        }
        let merged: Vec<serde_json::Value> = items
            .iter()
            .zip(keep)
            .map(|(item, pass)| match pass {
                true => answers.next().unwrap_or_default(),
                false => serde_json::json!({ item.op.clone(): {
                    "status": 429,
                    "error": {
                        "type": "es_rejected_execution_exception",
                        "reason": "rejected execution (injected by weir-load's fault proxy)",
                    },
                }}),
            })
            .collect();
        let out = serde_json::json!({"took": 1, "errors": true, "items": merged});
        answer(200, Bytes::from(out.to_string()))
    }
}

/// Whether the body is compressed (the proxy then leaves it alone).
fn compressed(parts: &http::request::Parts) -> bool {
    parts.headers.contains_key(http::header::CONTENT_ENCODING)
}

/// One item of a `_bulk` body: its operation and its lines.
struct Item {
    /// `index`, `create`, `update` or `delete`.
    op: String,
    /// The action line and (but for `delete`) the document line, each
    /// with its `\n`.
    lines: String,
}

/// The items of an uncompressed `_bulk` body.
fn bulk_items(body: &[u8]) -> Vec<Item> {
    let text = String::from_utf8_lossy(body);
    let mut lines = text.split_inclusive('\n').filter(|l| !l.trim().is_empty());
    let mut items = Vec::new();
    while let Some(action) = lines.next() {
        let v: serde_json::Value = serde_json::from_str(action).unwrap_or_default();
        let op = v
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_else(|| "index".to_string());
        let mut item = action.to_string();
        if op != "delete"
            && let Some(doc) = lines.next()
        {
            item.push_str(doc);
        }
        items.push(Item { op, lines: item });
    }
    items
}

/// A response with `status` and a JSON `body`.
fn answer(status: u16, body: Bytes) -> http::Response<Full<Bytes>> {
    let mut resp = http::Response::new(Full::new(body));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn bulk_items_pair_actions_with_documents() {
        let body = b"{\"index\":{\"_id\":\"a\"}}\n{\"x\":1}\n{\"delete\":{\"_id\":\"b\"}}\n{\"create\":{}}\n{\"y\":2}\n";
        let items = super::bulk_items(body);
        let ops: Vec<&str> = items.iter().map(|i| i.op.as_str()).collect();
        assert_eq!(ops, ["index", "delete", "create"]);
        assert_eq!(items[0].lines, "{\"index\":{\"_id\":\"a\"}}\n{\"x\":1}\n");
        assert_eq!(items[2].lines, "{\"create\":{}}\n{\"y\":2}\n");
    }
}
