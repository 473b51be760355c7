//! Import saved objects into OpenSearch Dashboards: `POST
//! /api/saved_objects/_import?overwrite=true`, the file as the multipart
//! part `file`, with `osd-xsrf: true` (see the module above for the API).
//! The HTTP client is the OpenSearch sink's (TLS roots, custom CA, basic
//! auth, SigV4 with service `es`, timeout).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

use super::{IndexPatternObject, Space, ndjson};
use crate::config::{OpenSearchConfig, Secret, SigV4Config};
use crate::sink::opensearch::{Client, ClientError};

/// The import API, below the Dashboards base URL.
pub const IMPORT_PATH: &str = "/api/saved_objects/_import?overwrite=true";
/// The file name sent: Dashboards refuses one not ending in `.ndjson`.
pub const FILE_NAME: &str = "weir.ndjson";
/// Default time to wait for each import's answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most characters of an unexpected answer quoted in an error.
const QUOTED_BODY_CHARS: usize = 500;

/// Where to import, and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    /// Dashboards base URL, e.g. `https://dashboards.example.com:5601` or
    /// `https://domain.region.es.amazonaws.com/_dashboards`.
    pub url: String,
    /// Basic auth user (with `password`).
    pub username: Option<String>,
    /// Basic auth password.
    pub password: Option<Secret>,
    /// Sign with AWS SigV4 (service `es`) for this region instead.
    pub sigv4_region: Option<String>,
    /// Extra CA certificate(s) (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Time to wait for each answer.
    pub timeout: Duration,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Bad URL, CA file or credentials setup.
    #[error("Dashboards client: {0}")]
    Config(String),
    /// No answer: connection refused, TLS failure, timeout.
    #[error("Dashboards at {url} unreachable: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A status other than 200.
    #[error("Dashboards at {url} answered {status} to the import{space}: {body}")]
    Status {
        /// The base URL.
        url: String,
        /// ` into tenant "…"`, or empty.
        space: String,
        /// The status.
        status: StatusCode,
        /// The start of the answer.
        body: String,
    },
    /// 200, but not the import API's JSON.
    #[error(
        "Dashboards at {url} answered the import{space} with something that is not the import API's JSON ({reason}): {body}"
    )]
    NotJson {
        /// The base URL.
        url: String,
        /// ` into tenant "…"`, or empty.
        space: String,
        /// The parse error.
        reason: String,
        /// The start of the answer.
        body: String,
    },
    /// 200 with `success: false` or per-object errors.
    #[error("Dashboards refused {} of {total} saved objects{space}: {}", failed.len(), failed.join("; "))]
    Refused {
        /// ` into tenant "…"`, or empty.
        space: String,
        /// Objects sent.
        total: usize,
        /// Each refused object: `index-pattern weir-acme-waf: conflict`.
        failed: Vec<String>,
    },
}

/// What one space's import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The Dashboards tenant (`None`: the caller's current one).
    pub tenant: Option<String>,
    /// `successCount`.
    pub success_count: u64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportAnswer {
    success: bool,
    #[serde(default)]
    success_count: u64,
    #[serde(default)]
    errors: Vec<ObjectError>,
}

#[derive(Debug, serde::Deserialize)]
struct ObjectError {
    #[serde(default)]
    id: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    error: serde_json::Value,
}

impl ObjectError {
    fn describe(&self) -> String {
        let reason = match (self.error.get("type"), self.error.get("message")) {
            (Some(t), Some(m)) => format!("{} ({})", text(t), text(m)),
            (Some(t), None) => text(t),
            _ => self.error.to_string(),
        };
        format!("{} {}: {reason}", self.kind, self.id)
    }
}

fn text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Import each space's objects, in order; the first failure stops (an
/// import overwrites, so running it again is safe).
pub async fn install(target: &Target, spaces: &[Space]) -> Result<Vec<Imported>, InstallError> {
    let client = client(target)?;
    let mut done = Vec::new();
    for space in spaces {
        let tenant = space.tenant.as_ref().map(|t| t.to_string());
        let success_count = import(target, &client, tenant.as_deref(), &space.objects).await?;
        done.push(Imported {
            tenant,
            success_count,
        });
    }
    Ok(done)
}

fn client(target: &Target) -> Result<Client, InstallError> {
    if target.username.is_some() != target.password.is_some() {
        return Err(InstallError::Config(
            "basic auth needs both a user and a password".into(),
        ));
    }
    let cfg = OpenSearchConfig {
        urls: vec![target.url.clone()],
        username: target.username.clone(),
        password: target.password.clone(),
        ca_file: target.ca_file.clone(),
        aws_sigv4: target.sigv4_region.as_ref().map(|region| SigV4Config {
            region: region.clone(),
            service: "es".into(),
        }),
        gzip: false,
        bulk_max_documents: crate::config::DEFAULT_BULK_MAX_DOCUMENTS,
        bulk_max_bytes: crate::config::DEFAULT_BULK_MAX_BYTES,
        bulk_max_age: crate::config::DEFAULT_BULK_MAX_AGE,
        max_in_flight: 1,
        retry_max_elapsed: Duration::ZERO,
        request_timeout: target.timeout,
        dead_letter_sink: String::new(),
    };
    Client::new(&cfg).map_err(|e| InstallError::Config(e.to_string()))
}

/// One import request; `Ok(successCount)` only when every object was taken.
async fn import(
    target: &Target,
    client: &Client,
    tenant: Option<&str>,
    objects: &[IndexPatternObject],
) -> Result<u64, InstallError> {
    let space = tenant.map_or_else(String::new, |t| format!(" into tenant {t:?}"));
    let (boundary, body) = multipart(&ndjson(objects));
    let mut headers = HeaderMap::new();
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let bad = |e: http::header::InvalidHeaderValue| InstallError::Config(e.to_string());
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).map_err(bad)?,
    );
    headers.insert(
        HeaderName::from_static("osd-xsrf"),
        HeaderValue::from_static("true"),
    );
    if let Some(t) = tenant {
        headers.insert(
            HeaderName::from_static("securitytenant"),
            HeaderValue::from_str(t).map_err(bad)?,
        );
    }
    let (status, answer) = client
        .send_with(Method::POST, IMPORT_PATH, headers, Bytes::from(body))
        .await
        .map_err(|e| unreachable(&target.url, e))?;
    let quoted = quote(&answer);
    if status != StatusCode::OK {
        return Err(InstallError::Status {
            url: target.url.clone(),
            space,
            status,
            body: quoted,
        });
    }
    let answer: ImportAnswer =
        serde_json::from_slice(&answer).map_err(|e| InstallError::NotJson {
            url: target.url.clone(),
            space: space.clone(),
            reason: e.to_string(),
            body: quoted,
        })?;
    if !answer.success || !answer.errors.is_empty() {
        let mut failed: Vec<String> = answer.errors.iter().map(ObjectError::describe).collect();
        if failed.is_empty() {
            failed.push("`success: false`, no object named".into());
        }
        return Err(InstallError::Refused {
            space,
            total: objects.len(),
            failed,
        });
    }
    Ok(answer.success_count)
}

fn unreachable(url: &str, e: ClientError) -> InstallError {
    match e {
        ClientError::Unreachable { reason, .. } => InstallError::Unreachable {
            url: url.to_string(),
            reason,
        },
        ClientError::Timeout { timeout_ms, .. } => InstallError::Unreachable {
            url: url.to_string(),
            reason: format!("no answer within {timeout_ms} ms"),
        },
        ClientError::Config(c) => InstallError::Config(c),
    }
}

/// The start of an answer, as text.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(QUOTED_BODY_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}

/// A `multipart/form-data` body with `file` as its one part (file name
/// [`FILE_NAME`]), and its boundary: random, and not in `file`.
pub fn multipart(file: &str) -> (String, Vec<u8>) {
    let boundary = loop {
        let b = format!("weir-{:016x}{:016x}", random(), random());
        if !file.contains(&b) {
            break b;
        }
    };
    let mut body = Vec::with_capacity(file.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!(
            "Content-Disposition: form-data; name=\"file\"; filename=\"{FILE_NAME}\"\r\n\
             Content-Type: application/ndjson\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// 64 random bits: std's hasher keys are random per process and per
/// `RandomState`; the clock is mixed in too.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}
