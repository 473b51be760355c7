//! The Amazon Data Firehose HTTP endpoint protocol (version 1.0).
//!
//! Request: `POST`, `Content-Type: application/json`, optional
//! `Content-Encoding: gzip`, headers `X-Amz-Firehose-Protocol-Version: 1.0`,
//! `X-Amz-Firehose-Request-Id` (the same on every retry),
//! `X-Amz-Firehose-Access-Key`, optional `X-Amz-Firehose-Source-Arn` and
//! `X-Amz-Firehose-Common-Attributes` (`{"commonAttributes":{…}}`); body
//! `{"requestId", "timestamp", "records":[{"data": base64}]}`.
//!
//! Response: `200` with `Content-Type: application/json` and
//! `{"requestId", "timestamp"}`, never compressed. Anything else makes
//! Firehose retry the same request until its retry duration ends, then back
//! the records up to its S3 error prefix, **except 413**, which Firehose
//! treats as final. So 413 is only ever sent above Firehose's own limits.
//!
//! This module is pure: headers and bytes in, a decoded request or a
//! [`RequestError`] out. [`RequestError::status`] is the whole status table.

mod object;
use object::Object;

use std::borrow::Cow;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::budget::BudgetError;
use crate::codec::{self, GunzipError, MeteredError};
use crate::pipeline::{Batch, DeliveryError, Origin};
use crate::quota::QuotaError;

pub use crate::config::{FIREHOSE_MAX_BODY_BYTES, FIREHOSE_MAX_RECORDS, FirehoseLimits as Limits};
/// The only protocol version Firehose speaks.
pub const PROTOCOL_VERSION: &str = "1.0";
/// Longest request id accepted (Firehose sends a 36-byte GUID). Ids go into
/// file names, logs and document ids, so they are bounded.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// Request timestamps accepted (ms since the epoch): 1970-01-01T00:00:00Z
/// up to the end of the year 9999. Firehose sends the time it sent the
/// request (kept across retries, which last at most a day), so this never
/// refuses a real request; it is the range where dates format as
/// `YYYY/MM/DD/HH` (S3 keys, index names). A narrower window around "now"
/// would refuse late retries and replays whenever a clock is off.
pub const TIMESTAMP_RANGE_MS: std::ops::RangeInclusive<i64> = 0..=crate::index::MAX_INDEX_TIME_MS;
/// Firehose limits access keys to 4096 bytes.
pub const MAX_ACCESS_KEY_LEN: usize = 4096;

/// Header names (lowercase, as `http` stores them).
pub mod header {
    /// Protocol version, `1.0`.
    pub const PROTOCOL_VERSION: &str = "x-amz-firehose-protocol-version";
    /// Request id, stable across retries.
    pub const REQUEST_ID: &str = "x-amz-firehose-request-id";
    /// The configured access key, verbatim.
    pub const ACCESS_KEY: &str = "x-amz-firehose-access-key";
    /// ARN of the delivery stream.
    pub const SOURCE_ARN: &str = "x-amz-firehose-source-arn";
    /// `{"commonAttributes": {...}}`.
    pub const COMMON_ATTRIBUTES: &str = "x-amz-firehose-common-attributes";
}

/// Everything that can be wrong with a request, and what Firehose is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a `POST`.
    #[error("method {0} is not allowed; Firehose delivers with POST")]
    MethodNotAllowed(String),
    /// No route has this path.
    #[error("no route for path {0:?}")]
    UnknownRoute(String),
    /// `X-Amz-Firehose-Access-Key` is missing.
    #[error("missing X-Amz-Firehose-Access-Key header")]
    MissingAccessKey,
    /// The access key is not one of the route's tenant's keys.
    #[error("access key is not valid for this route")]
    WrongAccessKey,
    /// `X-Amz-Firehose-Protocol-Version` is missing or not `1.0`.
    #[error("unsupported X-Amz-Firehose-Protocol-Version {0:?}; expected \"1.0\"")]
    BadProtocolVersion(Option<String>),
    /// No request id in the header nor the body, or an unusable one.
    #[error("bad request id: {0}")]
    BadRequestId(String),
    /// Header and body request ids differ.
    #[error("request id in header ({header:?}) and body ({body:?}) differ")]
    RequestIdMismatch {
        /// From `X-Amz-Firehose-Request-Id`.
        header: String,
        /// From the body's `requestId`.
        body: String,
    },
    /// `Content-Type` other than JSON.
    #[error("unsupported Content-Type {0:?}; expected application/json")]
    UnsupportedContentType(String),
    /// `Content-Encoding` other than gzip or identity.
    #[error("unsupported Content-Encoding {0:?}; expected gzip or none")]
    UnsupportedContentEncoding(String),
    /// `X-Amz-Firehose-Common-Attributes` is not `{"commonAttributes": {string: string}}`.
    #[error("malformed X-Amz-Firehose-Common-Attributes: {0}")]
    BadCommonAttributes(String),
    /// The body as received is over the limit.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The gunzipped body is over the limit (this includes gzip bombs).
    #[error("gzip body decompresses to more than {limit} bytes")]
    DecompressedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// More records than the limit.
    #[error("{count} records exceed the limit of {limit}")]
    TooManyRecords {
        /// Records in the request.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `Content-Encoding: gzip` but the body is not gzip.
    #[error("body is not valid gzip: {0}")]
    BadGzip(String),
    /// The body is not a Firehose request envelope.
    #[error("malformed request body: {0}")]
    MalformedBody(String),
    /// The body's `timestamp` is outside [`TIMESTAMP_RANGE_MS`].
    #[error(
        "timestamp {0} is out of range: expected milliseconds since 1970-01-01T00:00:00Z, before the year 10000"
    )]
    BadTimestamp(i64),
    /// A record's `data` is not base64.
    #[error("record {index}: data is not valid base64: {reason}")]
    BadBase64 {
        /// Record index, from 0.
        index: usize,
        /// Decoder message.
        reason: String,
    },
    /// The body could not be read from the connection.
    #[error("could not read request body: {0}")]
    BodyRead(String),
    /// The records could not be made durable (sink write failed); Firehose should retry.
    #[error("records not delivered, retry: {0}")]
    DeliveryFailed(String),
    /// The server is shutting down or overloaded; Firehose should retry.
    #[error("service unavailable, retry: {0}")]
    Unavailable(String),
    /// The tenant is over one of its quotas; Firehose retries with backoff.
    #[error("over quota, retry later: {0}")]
    OverQuota(String),
    /// The request's buffers do not fit the memory budget or the tenant's
    /// share of it (503 with `Retry-After`; Firehose retries).
    #[error("over the memory budget, retry later: {0}")]
    MemoryBudget(BudgetError),
    /// An S3 notification named an object the route may not read, or that
    /// is missing, or that S3 denied: one answer for all three (the reason
    /// is only logged), so it tells nothing about other tenants' objects.
    #[error(
        "an object the notification names is not available to this route (not allowed, missing or access denied)"
    )]
    ObjectUnavailable,
}

impl RequestError {
    /// The HTTP status for this error. Exhaustive on purpose: a new error
    /// must decide its status here.
    pub fn status(&self) -> StatusCode {
        use RequestError::*;
        match self {
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            // One answer for all three, so the status tells no one which
            // paths are routes.
            UnknownRoute(_) | MissingAccessKey | WrongAccessKey => StatusCode::UNAUTHORIZED,
            // Not 404 (no route) and not retried by EventBridge; S3 itself
            // answers 403 for a missing key the caller may not list.
            ObjectUnavailable => StatusCode::FORBIDDEN,
            BadProtocolVersion(_)
            | BadRequestId(_)
            | RequestIdMismatch { .. }
            | BadCommonAttributes(_)
            | BadGzip(_)
            | MalformedBody(_)
            | BadTimestamp(_)
            | BadBase64 { .. }
            | BodyRead(_) => StatusCode::BAD_REQUEST,
            UnsupportedContentType(_) | UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            // Only above Firehose's own limits (config validation refuses lower
            // limits): Firehose does not retry 413, so the data would be lost.
            BodyTooLarge { .. } | DecompressedTooLarge { .. } | TooManyRecords { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            DeliveryFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable(_) | MemoryBudget(_) => StatusCode::SERVICE_UNAVAILABLE,
            OverQuota(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// The `errorMessage` for an unknown route, a missing key and a wrong key.
pub const ACCESS_DENIED: &str = "access denied: no route at this path takes this access key";

impl RequestError {
    /// What the caller is told (`errorMessage`); the [`Display`] text, with
    /// every detail, goes to the log with the request id. The caller's own
    /// mistakes in the request are described (they hold nothing but what
    /// it sent); an unknown route and a wrong or missing key read the same
    /// ([`ACCESS_DENIED`]); a failure inside Weir or its stores says only
    /// that the records were not stored, and the request id to find the
    /// log line by: sink errors carry paths, S3 keys, SDK text and
    /// document ids, some of other tenants' batches.
    ///
    /// [`Display`]: std::fmt::Display
    pub fn public_message(&self, request_id: Option<&str>) -> String {
        use RequestError::*;
        match self {
            UnknownRoute(_) | MissingAccessKey | WrongAccessKey => ACCESS_DENIED.to_string(),
            DeliveryFailed(_) => format!(
                "internal error: the records were not stored, retry (request id {:?}; the details are in Weir's log)",
                request_id.unwrap_or("")
            ),
            Unavailable(_) => "service unavailable, retry".to_string(),
            MemoryBudget(e) => e.public_message(),
            BodyRead(_) => "could not read the request body".to_string(),
            _ => self.to_string(),
        }
    }
}

/// What the headers say about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    /// From `X-Amz-Firehose-Request-Id`, if present.
    pub request_id: Option<String>,
    /// Whether the body is gzip.
    pub gzip: bool,
    /// From `X-Amz-Firehose-Source-Arn`.
    pub source_arn: Option<String>,
    /// From `X-Amz-Firehose-Common-Attributes`, in order.
    pub common_attributes: Vec<(String, String)>,
}

/// A decoded Firehose request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseRequest {
    /// The request id (header and body agree).
    pub request_id: String,
    /// The body's `timestamp` (ms since the epoch, when Firehose sent it).
    pub timestamp_ms: i64,
    /// Delivery stream ARN.
    pub source_arn: Option<String>,
    /// Common attributes.
    pub common_attributes: Vec<(String, String)>,
    /// The records, base64-decoded, in order.
    pub records: Vec<Vec<u8>>,
    /// Bytes of the JSON body: after gunzip for a gzip body, else as sent.
    /// Rate quotas charge these.
    pub json_bytes: usize,
}

impl FirehoseRequest {
    /// The pipeline's batch for this request.
    pub fn into_batch(self) -> Batch {
        Batch {
            id: self.request_id,
            timestamp_ms: self.timestamp_ms,
            source_arn: self.source_arn,
            attributes: self.common_attributes,
            records: self.records,
            record_numbers: None,
            origin: Origin::Firehose,
        }
    }
}

/// What Firehose is told when the pipeline did not deliver.
impl From<DeliveryError> for RequestError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::OverQuota(m) => RequestError::OverQuota(m),
            DeliveryError::ShuttingDown => RequestError::Unavailable("shutting down".into()),
            DeliveryError::NotDurable(m) => RequestError::DeliveryFailed(m),
            DeliveryError::MemoryBudget(e) => RequestError::MemoryBudget(e),
        }
    }
}

/// What Firehose is told when a request's buffers do not fit.
impl From<BudgetError> for RequestError {
    fn from(e: BudgetError) -> Self {
        RequestError::MemoryBudget(e)
    }
}

/// What Firehose is told when a request is not admitted.
impl From<QuotaError> for RequestError {
    fn from(e: QuotaError) -> Self {
        DeliveryError::from(e).into()
    }
}

/// The request id from the header, if it is usable, for error responses
/// written before the body is read.
pub fn header_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| valid_request_id(s))
        .map(str::to_string)
}

fn valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The access key header value (bounded), if present.
pub fn access_key(headers: &HeaderMap) -> Result<&[u8], RequestError> {
    match headers.get(header::ACCESS_KEY) {
        None => Err(RequestError::MissingAccessKey),
        Some(v) if v.is_empty() => Err(RequestError::MissingAccessKey),
        Some(v) if v.len() > MAX_ACCESS_KEY_LEN => Err(RequestError::WrongAccessKey),
        Some(v) => Ok(v.as_bytes()),
    }
}

/// Check the protocol headers (all but the access key, which needs the route).
pub fn check_headers(headers: &HeaderMap) -> Result<RequestHeaders, RequestError> {
    let version = headers
        .get(header::PROTOCOL_VERSION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if version.as_deref() != Some(PROTOCOL_VERSION) {
        return Err(RequestError::BadProtocolVersion(version));
    }
    let request_id = match headers.get(header::REQUEST_ID) {
        None => None,
        Some(v) => match v.to_str() {
            Ok(s) if valid_request_id(s) => Some(s.to_string()),
            _ => {
                return Err(RequestError::BadRequestId(format!(
                    "X-Amz-Firehose-Request-Id must be 1 to {MAX_REQUEST_ID_LEN} characters of [A-Za-z0-9._-]"
                )));
            }
        },
    };
    if let Some(ct) = headers.get(http::header::CONTENT_TYPE) {
        let ct = String::from_utf8_lossy(ct.as_bytes());
        let mime = ct.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(RequestError::UnsupportedContentType(ct.into_owned()));
        }
    }
    let gzip = match headers.get(http::header::CONTENT_ENCODING) {
        None => false,
        Some(v) => {
            let enc = String::from_utf8_lossy(v.as_bytes());
            match enc.trim().to_ascii_lowercase().as_str() {
                "gzip" | "x-gzip" => true,
                "identity" | "" => false,
                _ => return Err(RequestError::UnsupportedContentEncoding(enc.into_owned())),
            }
        }
    };
    let source_arn = headers
        .get(header::SOURCE_ARN)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let common_attributes = match headers.get(header::COMMON_ATTRIBUTES) {
        None => Vec::new(),
        Some(v) => parse_common_attributes(v.as_bytes())?,
    };
    Ok(RequestHeaders {
        request_id,
        gzip,
        source_arn,
        common_attributes,
    })
}

/// Parse `{"commonAttributes": {"k": "v", …}}`, keeping the order.
pub fn parse_common_attributes(raw: &[u8]) -> Result<Vec<(String, String)>, RequestError> {
    let bad = |m: String| RequestError::BadCommonAttributes(m);
    let Object(ordered): Object<OrderedAttributes> = serde_json::from_slice(raw)
        .map_err(|e| bad(format!("expected {{\"commonAttributes\": {{…}}}}: {e}")))?;
    let mut out = Vec::with_capacity(ordered.common_attributes.0.len());
    for (k, v) in ordered.common_attributes.0 {
        match v {
            serde_json::Value::String(s) => out.push((k, s)),
            other => return Err(bad(format!("attribute {k:?} is not a string: {other}"))),
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct OrderedAttributes {
    #[serde(rename = "commonAttributes")]
    common_attributes: OrderedMap,
}

/// A JSON object read as a list of pairs, in document order.
struct OrderedMap(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, serde_json::Value>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "requestId", borrow)]
    request_id: Cow<'a, str>,
    timestamp: i64,
    #[serde(borrow)]
    records: Vec<Object<EnvelopeRecord<'a>>>,
}

#[derive(Deserialize)]
struct EnvelopeRecord<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
}

/// Decode the body (gunzip if the headers say so, capped), parse the
/// envelope and base64-decode every record.
pub fn decode_body(
    headers: &RequestHeaders,
    body: &[u8],
    limits: &Limits,
) -> Result<FirehoseRequest, RequestError> {
    decode_body_metered(headers, body, limits, &mut |_| Ok(()))
}

/// What decoding `body` will allocate, as far as it can be told before:
/// the JSON (for gzip, the size its trailer announces, capped) and the
/// records decoded from it (at most 3/4 of the JSON). Reserve it ahead, so
/// a request that cannot have it all is refused before it inflates.
pub fn decoded_size_hint(headers: &RequestHeaders, body: &[u8], limits: &Limits) -> usize {
    if !headers.gzip {
        return body.len() / 4 * 3;
    }
    let json = codec::gzip_announced_len(body)
        .unwrap_or(0)
        .min(limits.max_body_bytes);
    json + json / 4 * 3
}

/// [`decode_body`] that asks `grant` before it allocates what grows with
/// the request: the inflated body (step by step as it inflates) and each
/// decoded record. A refusal stops the decoding with its error.
pub fn decode_body_metered(
    headers: &RequestHeaders,
    body: &[u8],
    limits: &Limits,
    grant: &mut dyn FnMut(usize) -> Result<(), RequestError>,
) -> Result<FirehoseRequest, RequestError> {
    if body.len() > limits.max_body_bytes {
        return Err(RequestError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    let inflated;
    let json: &[u8] = if headers.gzip {
        inflated = codec::gunzip_metered(body, limits.max_body_bytes, &mut *grant).map_err(
            |e| match e {
                MeteredError::Refused(e) => e,
                MeteredError::Gunzip(GunzipError::TooLarge { cap }) => {
                    RequestError::DecompressedTooLarge { limit: cap }
                }
                MeteredError::Gunzip(GunzipError::Invalid(m)) => RequestError::BadGzip(m),
            },
        )?;
        &inflated
    } else {
        body
    };
    let Object(env): Object<Envelope<'_>> =
        serde_json::from_slice(json).map_err(|e| RequestError::MalformedBody(e.to_string()))?;
    if !valid_request_id(&env.request_id) {
        return Err(RequestError::BadRequestId(format!(
            "body requestId must be 1 to {MAX_REQUEST_ID_LEN} characters of [A-Za-z0-9._-]"
        )));
    }
    if let Some(h) = &headers.request_id
        && h != env.request_id.as_ref()
    {
        return Err(RequestError::RequestIdMismatch {
            header: h.clone(),
            body: env.request_id.into_owned(),
        });
    }
    if !TIMESTAMP_RANGE_MS.contains(&env.timestamp) {
        return Err(RequestError::BadTimestamp(env.timestamp));
    }
    if env.records.len() > limits.max_records {
        return Err(RequestError::TooManyRecords {
            count: env.records.len(),
            limit: limits.max_records,
        });
    }
    let mut records = Vec::with_capacity(env.records.len());
    // The records decoded, at most 3/4 of their base64, asked at once.
    grant(env.records.iter().map(|r| r.0.data.len() / 4 * 3).sum())?;
    for (index, Object(r)) in env.records.iter().enumerate() {
        records.push(
            decode_base64(r.data.as_bytes())
                .map_err(|reason| RequestError::BadBase64 { index, reason })?,
        );
    }
    Ok(FirehoseRequest {
        request_id: env.request_id.into_owned(),
        timestamp_ms: env.timestamp,
        source_arn: headers.source_arn.clone(),
        common_attributes: headers.common_attributes.clone(),
        records,
        json_bytes: json.len(),
    })
}

/// Standard base64 with padding, strictly (no whitespace, canonical last
/// symbol). SIMD decoding (a few % of the host's time at full rate with
/// the scalar decoder); the `base64` crate words the error, which is just as
/// strict.
fn decode_base64(data: &[u8]) -> Result<Vec<u8>, String> {
    base64_simd::STANDARD.decode_to_vec(data).map_err(|_| {
        match base64::engine::general_purpose::STANDARD.decode(data) {
            Err(e) => e.to_string(),
            Ok(_) => "not canonical padded base64".to_string(),
        }
    })
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The 200 body: `{"requestId": …, "timestamp": …}`.
pub fn success_body(request_id: &str, now_ms: i64) -> Bytes {
    Bytes::from(serde_json::json!({ "requestId": request_id, "timestamp": now_ms }).to_string())
}

/// An error body: `{"requestId": …, "timestamp": …, "errorMessage": …}`.
/// `requestId` is `""` when the request gave none we could read.
pub fn error_body(request_id: Option<&str>, now_ms: i64, message: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "requestId": request_id.unwrap_or(""),
            "timestamp": now_ms,
            "errorMessage": message,
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const WAF_REQUEST: &str =
        include_str!("../../tests/fixtures/firehose/derived_request_waf-direct-put.json");

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn good_headers() -> HeaderMap {
        headers(&[
            ("x-amz-firehose-protocol-version", "1.0"),
            (
                "x-amz-firehose-request-id",
                "11111111-2222-3333-4444-555555555502",
            ),
            ("content-type", "application/json"),
            (
                "x-amz-firehose-source-arn",
                "arn:aws:firehose:us-east-1:123456789012:deliverystream/waf",
            ),
            (
                "x-amz-firehose-common-attributes",
                include_str!(
                    "../../tests/fixtures/firehose/vector_common-attributes-header-value.json"
                ),
            ),
        ])
    }

    #[test]
    fn base64_is_as_strict_as_the_base64_crate() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut cases: Vec<Vec<u8>> = [
            "",
            "QQ==",
            "QUI=",
            "QUJD",
            "QR==",
            "QUJ=",
            "QQ=",
            "QQ",
            "Q===",
            "QUJD\n",
            " QUJD",
            "QU JD",
            "QUJD====",
            "QUJ-",
            "QUJ_",
            "QU=D",
            "=QUJ",
            "QUJDRA==QUJD",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        // Long inputs take the SIMD path: a valid one and single-byte damage.
        let long = b64.encode((0..=255u8).cycle().take(3000).collect::<Vec<u8>>());
        cases.push(long.clone().into_bytes());
        for at in [0, 31, 32, 33, 1000, long.len() - 2] {
            for bad in [b'!', b'=', b' ', 0xC3] {
                let mut c = long.clone().into_bytes();
                c[at] = bad;
                cases.push(c);
            }
        }
        for case in cases {
            let ours = decode_base64(&case);
            match b64.decode(&case) {
                Ok(v) => assert_eq!(ours, Ok(v), "{case:?}"),
                Err(e) => assert_eq!(ours, Err(e.to_string()), "{case:?}"),
            }
        }
    }

    #[test]
    fn decodes_the_waf_sample() {
        let h = check_headers(&good_headers()).unwrap();
        assert_eq!(
            h.common_attributes,
            vec![
                ("environment".to_string(), "testing".to_string()),
                ("application_group".to_string(), "tymur_test".to_string())
            ]
        );
        let req = decode_body(&h, WAF_REQUEST.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(req.request_id, "11111111-2222-3333-4444-555555555502");
        assert_eq!(req.timestamp_ms, 1_700_000_001_000);
        assert_eq!(req.records.len(), 5);
        assert!(req.records[0].starts_with(b"{\"timestamp\":1576280412771,"));
        assert_eq!(
            req.source_arn.as_deref(),
            Some("arn:aws:firehose:us-east-1:123456789012:deliverystream/waf")
        );
    }

    #[test]
    fn decodes_a_gzip_body() {
        let mut hm = good_headers();
        hm.insert("content-encoding", HeaderValue::from_static("gzip"));
        let h = check_headers(&hm).unwrap();
        let gz = codec::gzip(WAF_REQUEST.as_bytes());
        let req = decode_body(&h, &gz, &Limits::default()).unwrap();
        assert_eq!(req.records.len(), 5);
        assert_eq!(req.json_bytes, WAF_REQUEST.len(), "inflated, not as sent");
    }

    #[test]
    fn the_size_hint_is_what_metered_decoding_asks() {
        let plain = check_headers(&good_headers()).unwrap();
        let l = Limits::default();
        let mut asked = 0;
        decode_body_metered(&plain, WAF_REQUEST.as_bytes(), &l, &mut |n| {
            asked += n;
            Ok(())
        })
        .unwrap();
        let hint = decoded_size_hint(&plain, WAF_REQUEST.as_bytes(), &l);
        assert!(asked <= hint, "{asked} <= {hint}");
        let mut gz_headers = plain.clone();
        gz_headers.gzip = true;
        let gz = codec::gzip(WAF_REQUEST.as_bytes());
        let hint = decoded_size_hint(&gz_headers, &gz, &l);
        assert_eq!(hint, WAF_REQUEST.len() + WAF_REQUEST.len() / 4 * 3);
        // A trailer may claim anything: the hint is capped.
        let mut liar = gz.clone();
        let n = liar.len();
        liar[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let small = Limits {
            max_body_bytes: 1000,
            ..Limits::default()
        };
        assert_eq!(decoded_size_hint(&gz_headers, &liar, &small), 1000 + 750);
    }

    #[test]
    fn metered_decoding_asks_for_the_inflated_body_and_the_records() {
        let mut hm = good_headers();
        hm.insert("content-encoding", HeaderValue::from_static("gzip"));
        let h = check_headers(&hm).unwrap();
        let gz = codec::gzip(WAF_REQUEST.as_bytes());
        let mut asked = Vec::new();
        let mut grant = |n| {
            asked.push(n);
            Ok(())
        };
        let req = decode_body_metered(&h, &gz, &Limits::default(), &mut grant).unwrap();
        // One step for the inflated body, then the records' decoded size.
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(asked[0], codec::METER_STEP);
        let decoded: usize = req.records.iter().map(Vec::len).sum();
        assert!(asked[1] >= decoded && asked[1] <= decoded + 2 * req.records.len());
        let full = BudgetError::OverShare {
            tenant: "t".into(),
            held: 0,
            wanted: 1,
            share: 0,
        };
        let mut refuse = |_| Err(RequestError::MemoryBudget(full.clone()));
        assert_eq!(
            decode_body_metered(&h, &gz, &Limits::default(), &mut refuse),
            Err(RequestError::MemoryBudget(full.clone()))
        );
    }

    #[test]
    fn empty_data_is_an_empty_record() {
        let h = check_headers(&headers(&[("x-amz-firehose-protocol-version", "1.0")])).unwrap();
        let body = br#"{"requestId":"r-1","timestamp":1,"records":[{"data":""},{"data":"aGk="}]}"#;
        let req = decode_body(&h, body, &Limits::default()).unwrap();
        assert_eq!(req.records, vec![b"".to_vec(), b"hi".to_vec()]);
    }

    /// Every error and its status: the whole table, asserted.
    #[test]
    fn status_table() {
        use RequestError::*;
        let table: Vec<(RequestError, u16)> = vec![
            (MethodNotAllowed("GET".into()), 405),
            (UnknownRoute("/x".into()), 401),
            (MissingAccessKey, 401),
            (OverQuota("records per second".into()), 429),
            (WrongAccessKey, 401),
            (BadProtocolVersion(None), 400),
            (BadRequestId("x".into()), 400),
            (
                RequestIdMismatch {
                    header: "a".into(),
                    body: "b".into(),
                },
                400,
            ),
            (UnsupportedContentType("text/plain".into()), 415),
            (UnsupportedContentEncoding("br".into()), 415),
            (BadCommonAttributes("x".into()), 400),
            (BodyTooLarge { limit: 1 }, 413),
            (DecompressedTooLarge { limit: 1 }, 413),
            (TooManyRecords { count: 2, limit: 1 }, 413),
            (BadGzip("x".into()), 400),
            (MalformedBody("x".into()), 400),
            (BadTimestamp(i64::MAX), 400),
            (
                BadBase64 {
                    index: 0,
                    reason: "x".into(),
                },
                400,
            ),
            (BodyRead("x".into()), 400),
            (DeliveryFailed("x".into()), 500),
            (Unavailable("x".into()), 503),
            (
                MemoryBudget(BudgetError::OverBudget {
                    held: 1,
                    wanted: 1,
                    limit: 1,
                }),
                503,
            ),
            (ObjectUnavailable, 403),
        ];
        for (err, status) in table {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            check_headers(&headers(&[])),
            Err(RequestError::BadProtocolVersion(None))
        );
        assert_eq!(
            check_headers(&headers(&[("x-amz-firehose-protocol-version", "2.0")])),
            Err(RequestError::BadProtocolVersion(Some("2.0".into())))
        );
        let mut h = good_headers();
        h.insert("content-encoding", HeaderValue::from_static("br"));
        assert!(matches!(
            check_headers(&h),
            Err(RequestError::UnsupportedContentEncoding(_))
        ));
        let mut h = good_headers();
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        assert!(matches!(
            check_headers(&h),
            Err(RequestError::UnsupportedContentType(_))
        ));
        let mut h = good_headers();
        h.insert(
            "x-amz-firehose-common-attributes",
            HeaderValue::from_static(r#"{"commonAttributes":{"a":1}}"#),
        );
        assert!(matches!(
            check_headers(&h),
            Err(RequestError::BadCommonAttributes(_))
        ));
        let mut h = good_headers();
        h.insert(
            "x-amz-firehose-request-id",
            HeaderValue::from_static("has space"),
        );
        assert!(matches!(
            check_headers(&h),
            Err(RequestError::BadRequestId(_))
        ));
        assert_eq!(
            access_key(&headers(&[])),
            Err(RequestError::MissingAccessKey)
        );
        assert_eq!(
            access_key(&headers(&[("x-amz-firehose-access-key", "k")])),
            Ok(&b"k"[..])
        );
    }

    #[test]
    fn body_errors() {
        let h = check_headers(&good_headers()).unwrap();
        let l = Limits::default();
        // The published doc example is missing a comma: malformed.
        let doc = include_bytes!(
            "../../tests/fixtures/firehose/awsdocs_request-body-example.as-published-invalid-json.json"
        );
        assert!(matches!(
            decode_body(&h, doc, &l),
            Err(RequestError::MalformedBody(_))
        ));
        let edge = include_bytes!(
            "../../tests/fixtures/firehose/derived_request_edge-empty-plain-invalid-base64.json"
        );
        let h_edge =
            check_headers(&headers(&[("x-amz-firehose-protocol-version", "1.0")])).unwrap();
        assert_eq!(
            decode_body(&h_edge, edge, &l).unwrap_err(),
            RequestError::BadBase64 {
                index: 2,
                reason: "Invalid symbol 33, offset 0.".into()
            }
        );
        // header/body id mismatch (edge file id differs from good_headers' id)
        assert!(matches!(
            decode_body(&h, edge, &l),
            Err(RequestError::RequestIdMismatch { .. })
        ));
        let small = Limits {
            max_body_bytes: 100,
            max_records: 2,
            ..Limits::default()
        };
        assert_eq!(
            decode_body(&h, WAF_REQUEST.as_bytes(), &small),
            Err(RequestError::BodyTooLarge { limit: 100 })
        );
        let few = Limits {
            max_body_bytes: FIREHOSE_MAX_BODY_BYTES,
            max_records: 2,
            ..Limits::default()
        };
        assert_eq!(
            decode_body(&h, WAF_REQUEST.as_bytes(), &few),
            Err(RequestError::TooManyRecords { count: 5, limit: 2 })
        );
        let mut gzh = h.clone();
        gzh.gzip = true;
        assert!(matches!(
            decode_body(&gzh, b"plain", &l),
            Err(RequestError::BadGzip(_))
        ));
        // A gzip bomb: 100 MiB of zeros in ~100 KiB.
        let bomb = codec::gzip(&vec![0u8; 100 << 20]);
        assert!(bomb.len() < l.max_body_bytes);
        assert_eq!(
            decode_body(&gzh, &bomb, &l),
            Err(RequestError::DecompressedTooLarge {
                limit: FIREHOSE_MAX_BODY_BYTES
            })
        );
        assert!(matches!(
            decode_body(&h, br#"{"requestId":"a","timestamp":1}"#, &l),
            Err(RequestError::MalformedBody(_))
        ));
    }

    /// Found by the fuzzer (`tools/fuzz`, target `envelope`): the derived
    /// `Deserialize` of a struct also takes its fields as a JSON array, so
    /// `[{"k":"v"}]` was accepted as common attributes, and
    /// `["r-1", 1, [["e30="]]]` as a request. Only objects are.
    #[test]
    fn arrays_are_not_objects() {
        assert!(matches!(
            parse_common_attributes(br#"[{"data":"e30="}]"#),
            Err(RequestError::BadCommonAttributes(_))
        ));
        assert_eq!(
            parse_common_attributes(br#" {"commonAttributes":{"k":"v"}}"#),
            Ok(vec![("k".to_string(), "v".to_string())])
        );
        let h = check_headers(&headers(&[("x-amz-firehose-protocol-version", "1.0")])).unwrap();
        let l = Limits::default();
        for body in [
            &br#"["r-1", 1, [{"data":"e30="}]]"#[..],
            br#"{"requestId":"r-1","timestamp":1,"records":[["e30="]]}"#,
        ] {
            assert!(
                matches!(
                    decode_body(&h, body, &l),
                    Err(RequestError::MalformedBody(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let ok = br#"{"requestId":"r-1","timestamp":1,"records":[{"data":"e30="}]}"#;
        assert_eq!(
            decode_body(&h, ok, &l).unwrap().records,
            vec![b"{}".to_vec()]
        );
    }

    #[test]
    fn timestamps_outside_1970_to_9999_are_refused() {
        let h = check_headers(&headers(&[("x-amz-firehose-protocol-version", "1.0")])).unwrap();
        let body = |ts: i64| format!(r#"{{"requestId":"r-1","timestamp":{ts},"records":[]}}"#);
        for ts in [253_402_300_800_000, i64::MAX, -1, i64::MIN] {
            assert_eq!(
                decode_body(&h, body(ts).as_bytes(), &Limits::default()),
                Err(RequestError::BadTimestamp(ts)),
                "{ts}"
            );
        }
        for ts in [0, 1_700_000_000_000, 253_402_300_799_999] {
            assert!(decode_body(&h, body(ts).as_bytes(), &Limits::default()).is_ok());
        }
    }

    #[test]
    fn response_bodies() {
        let ok: serde_json::Value = serde_json::from_slice(&success_body("abc", 5)).unwrap();
        assert_eq!(ok, serde_json::json!({"requestId": "abc", "timestamp": 5}));
        let err: serde_json::Value = serde_json::from_slice(&error_body(None, 5, "nope")).unwrap();
        assert_eq!(
            err,
            serde_json::json!({"requestId": "", "timestamp": 5, "errorMessage": "nope"})
        );
    }
}
