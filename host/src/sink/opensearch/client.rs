//! A thin OpenSearch HTTP client on hyper: round-robin over the configured
//! URLs, basic auth, TLS with the system roots plus an optional custom CA,
//! optional gzip request bodies, and a per-request timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::OpenSearchConfig;

/// Largest response body read from OpenSearch (a `_bulk` response for a
/// 5 MiB request is far smaller); protects the host from a runaway peer.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Why a request did not get an HTTP response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Could not connect, or the connection broke.
    #[error("OpenSearch at {url} unreachable: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// No response in time.
    #[error("OpenSearch at {url} did not answer within {timeout_ms} ms")]
    Timeout {
        /// The URL tried.
        url: String,
        /// The limit.
        timeout_ms: u64,
    },
    /// Bad configuration (URL, CA file).
    #[error("OpenSearch client configuration: {0}")]
    Config(String),
}

/// The client.
pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    sigv4: Option<super::sigv4::SigV4Config>,
    signer: tokio::sync::OnceCell<super::sigv4::Signer>,
    urls: Vec<String>,
    next: AtomicUsize,
    auth: Option<HeaderValue>,
    gzip: bool,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("urls", &self.urls)
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .field("gzip", &self.gzip)
            .finish()
    }
}

impl Client {
    /// Build from config.
    pub fn new(cfg: &OpenSearchConfig) -> Result<Client, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(ca) = &cfg.ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .map_err(|e| ClientError::Config(format!("{}: {e}", ca.display())))?
                .collect::<Result<_, _>>()
                .map_err(|e| ClientError::Config(format!("{}: {e}", ca.display())))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| ClientError::Config(format!("{}: {e}", ca.display())))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let mut urls = Vec::new();
        for u in &cfg.urls {
            let trimmed = u.trim_end_matches('/').to_string();
            trimmed
                .parse::<Uri>()
                .map_err(|e| ClientError::Config(format!("bad URL {u:?}: {e}")))?;
            urls.push(trimmed);
        }
        if urls.is_empty() {
            return Err(ClientError::Config("no URL".into()));
        }
        let auth = match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.expose()));
                let mut v = HeaderValue::from_str(&format!("Basic {token}"))
                    .map_err(|e| ClientError::Config(e.to_string()))?;
                v.set_sensitive(true);
                Some(v)
            }
            _ => None,
        };
        Ok(Client {
            http,
            sigv4: cfg.aws_sigv4.clone(),
            signer: tokio::sync::OnceCell::new(),
            urls,
            next: AtomicUsize::new(0),
            auth,
            gzip: cfg.gzip,
            timeout: cfg.request_timeout,
        })
    }

    /// Send one request to the next URL (round robin); on a connection
    /// failure try each other URL once. `body` is gzipped when configured.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        self.send_with(method, path_and_query, headers, body).await
    }

    /// [`Client::send`] with these request headers (among them the
    /// content type); they are signed too when SigV4 is on.
    pub async fn send_with(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let body = if self.gzip && !body.is_empty() {
            Some(Bytes::from(crate::codec::gzip(&body)))
        } else {
            None
        }
        .map(|gz| (gz, true))
        .unwrap_or((body, false));
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for i in 0..self.urls.len() {
            let url = &self.urls[(start + i) % self.urls.len()];
            match self
                .send_once(url, method.clone(), path_and_query, &headers, body.clone())
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Config("no URL".into())))
    }

    async fn send_once(
        &self,
        base: &str,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        (body, gzipped): (Bytes, bool),
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let url = format!("{base}{path_and_query}");
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::ACCEPT, "application/json");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        if gzipped {
            req = req.header(header::CONTENT_ENCODING, "gzip");
        }
        if let Some(a) = &self.auth {
            req = req.header(header::AUTHORIZATION, a.clone());
        }
        let mut req = req
            .body(Full::new(body.clone()))
            .map_err(|e| ClientError::Config(e.to_string()))?;
        if let Some(cfg) = &self.sigv4 {
            let signer = self
                .signer
                .get_or_try_init(|| super::sigv4::Signer::from_environment(cfg.clone()))
                .await
                .map_err(ClientError::Config)?;
            signer
                .sign(&mut req, &body)
                .await
                .map_err(ClientError::Config)?;
        }
        let unreachable = |reason: String| ClientError::Unreachable {
            url: base.to_string(),
            reason,
        };
        let fut = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| unreachable(format!("{e:?}")))?;
            let status = resp.status();
            #[allow(clippy::disallowed_methods)] // bounded by `Limited`
            let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the response: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout {
                url: base.to_string(),
                timeout_ms: self.timeout.as_millis() as u64,
            }),
        }
    }
}
