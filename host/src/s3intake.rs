//! S3-object intake: a route of kind `s3-notification` takes S3 event
//! notifications over HTTP, fetches each created object and runs it through
//! the route's plugin as a one-record batch. This is how CloudTrail trail
//! files (`{"Records":[…]}`, gzip) land.
//!
//! Accepted bodies: the EventBridge "Object Created" event (as an
//! EventBridge API destination delivers it) and the S3 notification JSON
//! (`{"Records":[{"s3":{…}}]}`, keys URL-encoded); `s3:TestEvent` and
//! non-create events are acknowledged and ignored. Authentication is the
//! route tenant's access key, in `X-Amz-Firehose-Access-Key` or
//! `Authorization: Bearer <key>`.
//!
//! Scope: a route reads only the buckets and key prefixes of its
//! `allow_objects`, never Weir's own dead letters, backups or plugins, and
//! only keys in normal form (no `..`, `//`, leading `/`, control
//! characters). An object outside that, missing, or denied by S3 gets one
//! answer, [`IntakeError::Unavailable`] (403), whatever the reason, so the
//! answer is no existence oracle; the reason is logged. Other errors
//! fetching an object → 500, so the sender retries. An object that cannot
//! be parsed → a dead letter whose `source_arn` names the bucket and key.
//! The batch's request id is derived from bucket, key and ETag, so a
//! retried notification writes the same ids.
//!
//! Bounds: each object is charged to the tenant like a Firehose body — its
//! bytes as fetched and, for a gzip object, what it inflates to (counted,
//! not kept: the plugin inflates it) — against the memory budget (the
//! reservation grows as the object arrives and is held until the object
//! is delivered; over it → 503) and against `bytes_per_second` (over it →
//! 429 before the plugin runs).

use sha2::{Digest, Sha256};

use crate::budget::Reservation;
use crate::codec;
use crate::config::ObjectScope;
use crate::pipeline::{Batch, Delivery, DeliveryError, Origin, Pipeline, Route};
use crate::sink::s3::{FetchError, Fetched, S3Sink};

/// Largest notification body read.
pub const MAX_NOTIFICATION_BYTES: usize = 1024 * 1024;
/// Largest object fetched (CloudTrail files are far smaller; the plugin caps
/// what the object decompresses to).
pub const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;

/// One object named by a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket.
    pub bucket: String,
    /// Key (decoded).
    pub key: String,
}

/// The objects a notification body names (created objects only).
pub fn parse_notification(body: &[u8]) -> Result<Vec<ObjectRef>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    // EventBridge "Object Created".
    if v.get("detail-type").is_some() {
        if v["detail-type"] != "Object Created" {
            return Ok(Vec::new());
        }
        let bucket = v["detail"]["bucket"]["name"].as_str();
        let key = v["detail"]["object"]["key"].as_str();
        return match (bucket, key) {
            (Some(b), Some(k)) => Ok(vec![ObjectRef {
                bucket: b.to_string(),
                key: k.to_string(),
            }]),
            _ => Err("EventBridge event without detail.bucket.name / detail.object.key".into()),
        };
    }
    // S3 notification.
    if v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let records = v["Records"].as_array().ok_or_else(|| {
        "expected an EventBridge event or an S3 notification with `Records`".to_string()
    })?;
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if !r["eventName"]
            .as_str()
            .unwrap_or("ObjectCreated")
            .starts_with("ObjectCreated")
        {
            continue;
        }
        let bucket = r["s3"]["bucket"]["name"]
            .as_str()
            .ok_or_else(|| format!("Records[{i}]: no s3.bucket.name"))?;
        let key = r["s3"]["object"]["key"]
            .as_str()
            .ok_or_else(|| format!("Records[{i}]: no s3.object.key"))?;
        out.push(ObjectRef {
            bucket: bucket.to_string(),
            key: url_decode_key(key).map_err(|e| format!("Records[{i}]: {e}"))?,
        });
    }
    Ok(out)
}

/// S3 notification keys are URL-encoded with `+` for spaces.
fn url_decode_key(key: &str) -> Result<String, String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .ok_or_else(|| format!("truncated escape in key {key:?}"))?;
                out.push(
                    u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape %{hex} in key"))?,
                );
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("key {key:?} is not UTF-8 once decoded"))
}

/// Why a notification was not (wholly) acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// An object the notification names may not be read by this route, is
    /// missing, or S3 denied access. One answer for the three, so the
    /// caller learns nothing about objects outside its route's scope; the
    /// reason is logged. Retrying does not help.
    #[error("object not available to this route")]
    Unavailable,
    /// The objects that were read could not be made durable (retry).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// Fetch each object the route may read and deliver it through `route`.
/// `Ok` when every object is durable. Objects outside the route's scope
/// (see [`crate::config::ObjectScope`]) are never fetched; they and the
/// objects S3 says are missing or denied make the answer
/// [`IntakeError::Unavailable`] once the others are delivered. A failure to
/// make an object durable wins (the sender retries; ids are stable).
pub async fn deliver(
    pipeline: &Pipeline,
    route: &std::sync::Arc<Route>,
    store: &S3Sink,
    objects: Vec<ObjectRef>,
) -> Result<Delivery, IntakeError> {
    let scope = ObjectScope {
        allow: route.config.allow_objects.clone(),
        deny: pipeline.config().own_objects(),
    };
    let mut total = Delivery::default();
    let mut unavailable = false;
    for obj in objects {
        let refused = |why: &str| {
            tracing::warn!(
                tenant = %route.tenant.id,
                route = route.config.name,
                // Debug: escaped, a key's control characters cannot forge log lines.
                bucket = ?obj.bucket,
                key = ?obj.key,
                reason = why,
                "s3 notification: object not available to this route"
            );
        };
        if let Err(why) = scope.permits(&obj.bucket, &obj.key) {
            refused(&why);
            unavailable = true;
            continue;
        }
        let mut memory = route.reserve_memory(0).map_err(DeliveryError::from)?;
        let fetched = match store
            .get_metered(&obj.bucket, &obj.key, MAX_OBJECT_BYTES, &mut |n| {
                memory.grow(n)
            })
            .await
        {
            Ok(f) => f,
            Err(FetchError::Refused(e)) => return Err(DeliveryError::from(e).into()),
            Err(FetchError::Unavailable(why)) => {
                refused(&why);
                unavailable = true;
                continue;
            }
            Err(FetchError::Failed(e)) => return Err(DeliveryError::NotDurable(e).into()),
            // Not fetched: the text becomes the record, which the plugin
            // fails, so the object is named in a dead letter.
            Err(FetchError::TooLarge(e)) => Fetched {
                bytes: e.into_bytes(),
                etag: String::new(),
                modified_ms: 0,
            },
        };
        let inflated = charge(route, &mut memory, &fetched.bytes).await?;
        tracing::debug!(
            bucket = ?obj.bucket,
            key = ?obj.key,
            fetched = fetched.bytes.len(),
            inflated,
            "s3 notification: object fetched"
        );
        let d = pipeline.deliver(route, object_batch(obj, fetched)).await?;
        drop(memory);
        total.records += d.records;
        total.documents += d.documents;
        total.dropped += d.dropped;
        total.failed += d.failed;
    }
    if unavailable {
        return Err(IntakeError::Unavailable);
    }
    Ok(total)
}

/// Charge a fetched object to its tenant: reserve what a gzip object
/// inflates to (the plugin inflates it, up to the same cap), and take its
/// bytes — inflated when gzip — from `bytes_per_second`. Returns the bytes
/// charged.
async fn charge(
    route: &Route,
    memory: &mut Reservation,
    bytes: &[u8],
) -> Result<usize, IntakeError> {
    let charged = if codec::is_gzip(bytes) {
        // All of what the trailer announces at once, then any more as counted.
        let announced = codec::gzip_announced_len(bytes).unwrap_or(0);
        memory
            .reserve_ahead(announced.min(MAX_OBJECT_BYTES))
            .map_err(DeliveryError::from)?;
        let inflated = codec::inflated_len_metered(bytes, MAX_OBJECT_BYTES, |n| memory.grow(n))
            .map_err(DeliveryError::from)?;
        // Settle the steps granted to what the object holds.
        memory
            .resize(bytes.len() + inflated)
            .map_err(DeliveryError::from)?;
        inflated
    } else {
        bytes.len()
    };
    route
        .gate
        .charge(1, charged)
        .await
        .map_err(DeliveryError::from)?;
    Ok(charged)
}

/// One object as a one-record batch, its id derived from bucket, key and ETag.
fn object_batch(obj: ObjectRef, fetched: Fetched) -> Batch {
    let digest =
        Sha256::digest(format!("{}\n{}\n{}", obj.bucket, obj.key, fetched.etag).as_bytes());
    Batch {
        id: format!("s3-{}", &crate::digest::hex(&digest)[..32]),
        timestamp_ms: fetched.modified_ms,
        source_arn: Some(format!("arn:aws:s3:::{}/{}", obj.bucket, obj.key)),
        attributes: vec![
            ("s3.bucket".to_string(), obj.bucket.clone()),
            ("s3.key".to_string(), obj.key.clone()),
        ],
        records: vec![fetched.bytes],
        record_numbers: None,
        origin: Origin::S3Object {
            bucket: obj.bucket,
            key: obj.key,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_notification_shapes() {
        let eb = br#"{"version":"0","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"trail"},"object":{"key":"AWSLogs/1/CloudTrail/x.json.gz","size":10}}}"#;
        assert_eq!(
            parse_notification(eb).unwrap(),
            vec![ObjectRef {
                bucket: "trail".into(),
                key: "AWSLogs/1/CloudTrail/x.json.gz".into()
            }]
        );
        let s3 = br#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2Fc%3D.gz"}}},{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"gone"}}}]}"#;
        assert_eq!(
            parse_notification(s3).unwrap(),
            vec![ObjectRef {
                bucket: "b".into(),
                key: "a b/c=.gz".into()
            }]
        );
        assert!(
            parse_notification(br#"{"Event":"s3:TestEvent"}"#)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_notification(br#"{"detail-type":"Object Deleted"}"#)
                .unwrap()
                .is_empty()
        );
        assert!(parse_notification(b"[]").is_err());
        assert!(url_decode_key("a%2").is_err());
    }
}
