//! Weir plugin for CloudWatch Logs subscription payloads (CloudTrail, or any
//! log group) and for CloudTrail log files.
//!
//! A record is gzip (detected by its magic bytes and decompressed, capped at
//! [`MAX_DECOMPRESSED_BYTES`]) or plain JSON, holding one JSON object (or
//! several one after the other) of one of these kinds:
//!
//! - **CloudWatch Logs subscription payload.** A `CONTROL_MESSAGE` is
//!   dropped. A `DATA_MESSAGE` gives one document per log event, shaped like
//!   the documents of AWS's LogsToElasticsearch Lambda function:
//!   `@id` (the event id, a string), `@timestamp` (the event time, ISO-8601 UTC
//!   with milliseconds), `@message`, `@owner`, `@log_group`, `@log_stream`;
//!   then, when the message holds a JSON object (from its first `{` to its end,
//!   as the Lambda does; a CloudTrail event is exactly that), the object's
//!   fields at the top level, as they came. A message field named like one of
//!   the `@` fields (or `@extracted_fields`) is left out, so it never
//!   overwrites them; duplicate message keys keep the last value. A message
//!   that is not JSON is only in `@message`. An event's `extractedFields` (from
//!   a filter pattern that extracts fields, or CloudWatch's `@aws.account` /
//!   `@aws.region`) is kept as the object `@extracted_fields`, unchanged: not
//!   merged at the top level (the Lambda does that, turning numeric strings
//!   into numbers), so it can collide with neither the `@` fields nor the
//!   message fields and keeps one type per field. The document id is the
//!   event id, the index `<index_prefix>YYYY.MM.DD` (default `cwl-`) from the
//!   event time, and `timestamp_ms` the event time. When the message is a
//!   CloudTrail event (it has a non-empty `eventID` and a valid `eventTime`),
//!   the event keys and dates its document: id `eventID`, `@timestamp`,
//!   `timestamp_ms` and the index day from `eventTime` (`@id` stays the log
//!   event's id), so an event delivered twice is one document, and one
//!   delivered after midnight lands in its own day.
//! - **CloudTrail log file** (the S3 object, `{"Records": […]}`): one document
//!   per record: `@timestamp` first (`eventTime` as ISO-8601 UTC with
//!   milliseconds, when it is a timestamp; the record's own `@timestamp` is
//!   then left out), then the record's fields as they came; id `eventID`,
//!   `timestamp_ms` from `eventTime`; no index (the route's). A record without a usable `eventID`
//!   or `eventTime` still gives its document, without id or time.
//! - **One CloudTrail event** (an object with `eventVersion`, or `eventTime`,
//!   or both `eventSource` and `eventName`, as in NDJSON exports; any one of
//!   them marks a CloudTrail event, since a `{"Records": […]}` file accepts
//!   the same event without them): treated like one record of a log file.
//! - **CloudTrail digest file** (`digestStartTime` / `digestS3Object`):
//!   dropped; it holds hashes, not events.
//!
//! Anything else (bad gzip, past the cap, not UTF-8, invalid JSON, a payload
//! without `logEvents`, an event without a numeric `timestamp` or a string
//! `message`) fails its record with the reason; the other records of the
//! batch are unaffected. A record whose objects are all dropped is dropped.
//!
//! CloudTrail events (in log events, log files or alone) get ECS fields
//! after their own (see the `ecs` module, `src/ecs.rs`, for what comes from
//! what); other log events get none.
//!
//! Config (all optional; unknown keys are refused):
//! - `ecs`: boolean (default `true`); `false` leaves the ECS fields out.
//! - `index_prefix`: string (default [`DEFAULT_INDEX_PREFIX`]); the index of a
//!   log event is this prefix followed by the event's UTC date `YYYY.MM.DD`.
//!   It must make a valid index name.

mod cloudtrail;
mod ecs;
mod message;

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny};
use serde_json::Value;
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::{Document, Loose, Outcome, trim_json_ws};

pub use crate::cloudtrail::{cloudtrail_document, cloudtrail_event_document};
pub use crate::message::message_fields;
use crate::message::message_info;

weir_plugin_sdk::export! {
    /// The plugin type exported to the host.
    pub struct CloudWatchLogs;
    config: Config,
    info: weir_plugin_sdk::info!("cloudwatch-logs")
        .date_fields(&["@timestamp", "eventTime"])
        .default_index("cwl-%Y.%m.%d")
        .config_schema(CONFIG_SCHEMA)
        .index_properties(INDEX_PROPERTIES),
    transform_record: |config, record| transform_record(record, config),
}

/// The index mapping properties this plugin suggests (merged in order).
pub const INDEX_PROPERTIES: &[&str] = &[
    weir_plugin_sdk::ecs::INDEX_PROPERTIES,
    include_str!("../index-properties.json"),
];

/// The default start of a log event's index name.
pub const DEFAULT_INDEX_PREFIX: &str = "cwl-";

/// The fields this plugin writes into a log event's document; message
/// fields with these names are left out.
pub const RESERVED_FIELDS: [&str; 7] = [
    "@id",
    "@timestamp",
    "@message",
    "@owner",
    "@log_group",
    "@log_stream",
    "@extracted_fields",
];

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The start of a log event's index name.
    #[serde(deserialize_with = "index_prefix")]
    pub index_prefix: String,
    /// Whether CloudTrail events get ECS fields beside their own.
    pub ecs: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            index_prefix: DEFAULT_INDEX_PREFIX.to_string(),
            ecs: true,
        }
    }
}

/// Parse the plugin config (`{}` or `{"index_prefix": "…"}`).
pub fn parse_config(config: &str) -> Result<Config, String> {
    weir_plugin_sdk::config::parse(config)
}

/// The JSON Schema of [`Config`].
pub const CONFIG_SCHEMA: &str = concat!(
    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"index_prefix":{"type":"string","default":"cwl-","description":"The start of a log event's index name, followed by its UTC date YYYY.MM.DD; it must make a valid index name."},"#,
    weir_plugin_sdk::ecs_schema_property!(),
    r#"},"additionalProperties":false}"#
);

/// An `index_prefix` that makes a valid index name with a date after it.
fn index_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let prefix = String::deserialize(d)?;
    weir_plugin_sdk::check_index_name(&format!("{prefix}1970.01.01")).map_err(|e| {
        serde::de::Error::custom(format!(
            "`index_prefix` {prefix:?} does not make a valid index name: {e}"
        ))
    })?;
    Ok(prefix)
}

/// Transform one record (gzip or plain; see the crate docs).
pub fn transform_record(record: &[u8], config: &Config) -> Outcome {
    weir_plugin_sdk::text_outcome(record, |text| text_documents(text, config))
}

/// The documents of a record's JSON text (one object or several one after
/// the other). `Ok(None)` when every object is deliberately dropped.
pub fn text_documents(text: &str, config: &Config) -> Result<Option<Vec<Document>>, String> {
    let mut docs = Vec::new();
    let mut all_dropped = true;
    let mut rest = trim_json_ws(text);
    let mut n = 0;
    if rest.is_empty() {
        return Err("empty record: no JSON value".to_string());
    }
    while !rest.is_empty() {
        n += 1;
        let used = object_documents(rest, config, &mut docs, &mut all_dropped).map_err(|e| {
            if n == 1 {
                e
            } else {
                format!("JSON object {n} of the record: {e}")
            }
        })?;
        rest = trim_json_ws(rest.get(used..).unwrap_or(""));
    }
    Ok(if all_dropped { None } else { Some(docs) })
}

/// The top-level fields of a record's JSON object that tell its kind. Every
/// other field is skipped while parsing.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "messageType", borrow)]
    message_type: Option<Loose<'a>>,
    #[serde(borrow)]
    owner: Option<Loose<'a>>,
    #[serde(rename = "logGroup", borrow)]
    log_group: Option<Loose<'a>>,
    #[serde(rename = "logStream", borrow)]
    log_stream: Option<Loose<'a>>,
    #[serde(rename = "logEvents", borrow)]
    log_events: Option<Vec<LogEvent<'a>>>,
    #[serde(rename = "Records")]
    records: Option<Vec<Value>>,
    #[serde(rename = "digestStartTime")]
    digest_start_time: Option<IgnoredAny>,
    #[serde(rename = "digestS3Object")]
    digest_s3_object: Option<IgnoredAny>,
    #[serde(rename = "eventVersion")]
    event_version: Option<IgnoredAny>,
    #[serde(rename = "eventTime", borrow)]
    event_time: Option<Loose<'a>>,
    #[serde(rename = "eventID", borrow)]
    event_id: Option<Loose<'a>>,
    #[serde(rename = "eventSource")]
    event_source: Option<IgnoredAny>,
    #[serde(rename = "eventName")]
    event_name: Option<IgnoredAny>,
    awslogs: Option<IgnoredAny>,
}

/// One CloudWatch Logs log event.
#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow)]
    id: Option<Loose<'a>>,
    #[serde(borrow)]
    timestamp: Option<Loose<'a>>,
    #[serde(borrow)]
    message: Option<Loose<'a>>,
    #[serde(rename = "extractedFields")]
    extracted_fields: Option<Value>,
}

/// Parse the JSON object at the start of `text`, append its documents, and
/// clear `all_dropped` unless it is dropped. Returns the bytes it took.
fn object_documents(
    text: &str,
    config: &Config,
    docs: &mut Vec<Document>,
    all_dropped: &mut bool,
) -> Result<usize, String> {
    let (env, used): (Envelope<'_>, usize) = weir_plugin_sdk::json_object_at(
        text,
        "expected a JSON object (a CloudWatch Logs payload or a CloudTrail log)",
        "unexpected JSON shape",
    )?;
    if env.message_type.is_some() || env.log_events.is_some() {
        if payload_documents(&env, config, docs)? {
            *all_dropped = false;
        }
        return Ok(used);
    }
    if let Some(records) = env.records {
        *all_dropped = false;
        docs.reserve(records.len());
        for (i, record) in records.into_iter().enumerate() {
            docs.push(
                cloudtrail_document(record, config.ecs)
                    .map_err(|e| format!("Records[{i}]: {e}"))?,
            );
        }
        return Ok(used);
    }
    if env.digest_start_time.is_some() || env.digest_s3_object.is_some() {
        return Ok(used);
    }
    if env.event_version.is_some()
        || env.event_time.is_some()
        || (env.event_source.is_some() && env.event_name.is_some())
    {
        *all_dropped = false;
        let raw = text.get(..used).unwrap_or(text);
        docs.push(cloudtrail_event_document(
            raw,
            env.event_id.as_ref().and_then(Loose::as_str),
            env.event_time.as_ref().and_then(Loose::as_str),
            config.ecs,
        ));
        return Ok(used);
    }
    if env.awslogs.is_some() {
        return Err(
            "a Lambda `{\"awslogs\": {\"data\": …}}` event, not a subscription payload: \
             send the base64-decoded `awslogs.data`"
                .to_string(),
        );
    }
    Err(
        "neither a CloudWatch Logs subscription payload (`messageType`, `logEvents`) nor a \
         CloudTrail log file (`Records`), event (`eventVersion`, `eventTime`, or \
         `eventSource` with `eventName`) or digest"
            .to_string(),
    )
}

/// Append the documents of a CloudWatch Logs subscription payload.
/// `Ok(false)` for a `CONTROL_MESSAGE` (dropped).
fn payload_documents(
    env: &Envelope<'_>,
    config: &Config,
    docs: &mut Vec<Document>,
) -> Result<bool, String> {
    let meta = PayloadMeta {
        owner: optional_str(&env.owner, "owner")?,
        log_group: optional_str(&env.log_group, "logGroup")?,
        log_stream: optional_str(&env.log_stream, "logStream")?,
    };
    match &env.message_type {
        Some(Loose::Str(t)) if t == "CONTROL_MESSAGE" => return Ok(false),
        Some(Loose::Str(t)) if t == "DATA_MESSAGE" => {}
        Some(Loose::Str(t)) => {
            return Err(format!(
                "unknown messageType {t:?} (expected DATA_MESSAGE or CONTROL_MESSAGE)"
            ));
        }
        Some(other) => {
            return Err(format!(
                "`messageType` must be a string, got {}",
                other.kind()
            ));
        }
        None => return Err("CloudWatch Logs payload without `messageType`".to_string()),
    }
    let Some(events) = &env.log_events else {
        return Err("DATA_MESSAGE without `logEvents`".to_string());
    };
    docs.reserve(events.len());
    for (i, event) in events.iter().enumerate() {
        let doc =
            log_event_document(event, &meta, config).map_err(|e| format!("logEvents[{i}]: {e}"))?;
        docs.push(doc);
    }
    Ok(true)
}

/// The payload fields copied into every log event's document.
struct PayloadMeta<'p> {
    owner: Option<&'p str>,
    log_group: Option<&'p str>,
    log_stream: Option<&'p str>,
}

/// The document of one log event of a `DATA_MESSAGE`.
fn log_event_document(
    event: &LogEvent<'_>,
    meta: &PayloadMeta<'_>,
    config: &Config,
) -> Result<Document, String> {
    let cwl_ms = event_time(event)?;
    let id = event_id(event)?;
    let message = match &event.message {
        Some(Loose::Str(s)) => s.as_ref(),
        Some(other) => return Err(format!("`message` must be a string, got {}", other.kind())),
        None => return Err("missing `message`".to_string()),
    };
    // A CloudTrail event is keyed and dated by itself, not by its delivery:
    // id `eventID`, time `eventTime` (`@id` keeps the log event's id).
    // the message's fields, whether it is a CloudTrail event and its ECS
    // fields' sources: one parse
    let info = message_info(message);
    let trail = info.identity;
    let ms = trail.as_ref().map_or(cwl_ms, |t| t.1);
    let iso = weir_plugin_sdk::epoch_ms_to_iso(ms)
        .ok_or_else(|| "`timestamp` is not epoch milliseconds within 1970..=9999".to_string())?;
    let mut body = event_body(event, meta, id.as_deref(), &iso, message, info.fields)?;
    if config.ecs
        && trail.is_some()
        && let Some(fields) = info.trail
    {
        fields.append_to(&mut body);
    }
    let index = event_index(&config.index_prefix, &iso);
    let mut doc = Document::new(body).with_timestamp_ms(ms).with_index(index);
    match (trail, id) {
        (Some((event_id, _)), _) => doc = doc.with_id(event_id),
        (None, Some(id)) => doc = doc.with_id(id),
        (None, None) => {}
    }
    Ok(doc)
}

/// A log event's `timestamp`, in epoch milliseconds within 1970..=9999.
fn event_time(event: &LogEvent<'_>) -> Result<i64, String> {
    match &event.timestamp {
        Some(t) => loose_epoch_ms(t).ok_or_else(|| match t {
            Loose::Str(s) => {
                format!("`timestamp` must be epoch milliseconds (a number), got the string {s:?}")
            }
            Loose::I64(_) | Loose::U64(_) | Loose::F64(_) => {
                "`timestamp` is not epoch milliseconds within 1970..=9999".to_string()
            }
            Loose::Other(kind) => {
                format!("`timestamp` must be epoch milliseconds (a number), got {kind}")
            }
        }),
        None => Err("missing `timestamp`".to_string()),
    }
}

/// A log event's `id` (a string, or an integer written as one); `None`
/// when absent or empty.
fn event_id<'e>(event: &'e LogEvent<'_>) -> Result<Option<Cow<'e, str>>, String> {
    Ok(match &event.id {
        Some(Loose::Str(s)) if s.is_empty() => None,
        Some(Loose::Str(s)) => Some(Cow::Borrowed(s)),
        Some(Loose::I64(n)) => Some(Cow::Owned(n.to_string())),
        Some(Loose::U64(n)) => Some(Cow::Owned(n.to_string())),
        Some(other) => return Err(format!("`id` must be a string, got {}", other.kind())),
        None => None,
    })
}

/// The JSON body of a log event's document (see the crate docs).
fn event_body(
    event: &LogEvent<'_>,
    meta: &PayloadMeta<'_>,
    id: Option<&str>,
    iso: &str,
    message: &str,
    fields: Option<Cow<'_, str>>,
) -> Result<String, String> {
    let mut body = String::with_capacity(
        128 + 2 * message.len()
            + meta.log_group.map_or(0, str::len)
            + meta.log_stream.map_or(0, str::len),
    );
    body.push('{');
    if let Some(id) = id {
        body.push_str("\"@id\":");
        weir_plugin_sdk::push_json_string(&mut body, id);
        body.push(',');
    }
    body.push_str("\"@timestamp\":\"");
    body.push_str(iso);
    body.push_str("\",\"@message\":");
    weir_plugin_sdk::push_json_string(&mut body, message);
    for (name, value) in [
        ("@owner", meta.owner),
        ("@log_group", meta.log_group),
        ("@log_stream", meta.log_stream),
    ] {
        if let Some(value) = value {
            body.push_str(",\"");
            body.push_str(name);
            body.push_str("\":");
            weir_plugin_sdk::push_json_string(&mut body, value);
        }
    }
    if let Some(extracted) = event.extracted_fields.as_ref().filter(|v| !v.is_null()) {
        body.push_str(",\"@extracted_fields\":");
        body.push_str(
            &serde_json::to_string(extracted)
                .map_err(|e| format!("cannot encode `extractedFields`: {e}"))?,
        );
    }
    if let Some(fields) = fields {
        body.push(',');
        body.push_str(&fields);
    }
    body.push('}');
    Ok(body)
}

/// The index of a log event: `prefix` + `YYYY.MM.DD` of its ISO-8601 time.
pub fn event_index(prefix: &str, iso: &str) -> String {
    let mut index = String::with_capacity(prefix.len() + 10);
    index.push_str(prefix);
    index.extend(
        iso.get(..10)
            .unwrap_or("")
            .chars()
            .map(|c| if c == '-' { '.' } else { c }),
    );
    index
}

/// A string field that may be absent (or null), but not of another type.
fn optional_str<'b>(field: &'b Option<Loose<'_>>, name: &str) -> Result<Option<&'b str>, String> {
    match field {
        None => Ok(None),
        Some(Loose::Str(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{name}` must be a string, got {}", other.kind())),
    }
}

/// Epoch milliseconds of a loose value: an integer, or a float without
/// fraction, within 1970..=9999.
fn loose_epoch_ms(value: &Loose<'_>) -> Option<i64> {
    let ms = match *value {
        Loose::I64(n) => n,
        Loose::U64(n) => i64::try_from(n).ok()?,
        Loose::F64(f)
            if f.fract() == 0.0 && (0.0..=weir_plugin_sdk::MAX_EPOCH_MS as f64).contains(&f) =>
        {
            f as i64
        }
        _ => return None,
    };
    (0..=weir_plugin_sdk::MAX_EPOCH_MS)
        .contains(&ms)
        .then_some(ms)
}

#[cfg(test)]
mod tests;
