//! CloudTrail events: their documents (from a trail file's `Records`, a
//! bare event, or a log event's message) and identity.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use weir_plugin_sdk::Document;

/// The `eventID` and `eventTime` (epoch ms, within 1970..=9999) of a
/// CloudTrail event carried in a log event's message, when it is one (both
/// present and usable).
pub(crate) fn cloudtrail_identity(message: &str) -> Option<(String, i64)> {
    #[derive(Deserialize)]
    struct Identity<'a> {
        #[serde(rename = "eventID", borrow)]
        event_id: Option<Cow<'a, str>>,
        #[serde(rename = "eventTime", borrow)]
        event_time: Option<Cow<'a, str>>,
    }
    let json = message.get(message.find('{')?..)?.trim_end();
    let ids: Identity<'_> = serde_json::from_str(json).ok()?;
    let event_id = ids.event_id.filter(|s| !s.is_empty())?;
    let ms = weir_plugin_sdk::iso_to_epoch_ms(&ids.event_time?)?;
    (0..=weir_plugin_sdk::MAX_EPOCH_MS)
        .contains(&ms)
        .then(|| (event_id.into_owned(), ms))
}

/// The document of one record of a CloudTrail log file: the record
/// unchanged, id `eventID`, time `eventTime` (each when usable).
pub fn cloudtrail_document(record: Value) -> Result<Document, String> {
    let Value::Object(map) = &record else {
        return Err(format!(
            "a CloudTrail record must be a JSON object, got {}",
            weir_plugin_sdk::json_kind(&record)
        ));
    };
    let id = map
        .get("eventID")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let ms = map
        .get("eventTime")
        .and_then(Value::as_str)
        .and_then(weir_plugin_sdk::iso_to_epoch_ms);
    let body = serde_json::to_string(&record).map_err(|e| format!("cannot encode: {e}"))?;
    Ok(with_id_and_time(Document::new(body), id.as_deref(), ms))
}

/// The document of one CloudTrail event given as its own JSON text (kept
/// verbatim; the host makes it one line).
pub fn cloudtrail_event_document(
    raw: &str,
    event_id: Option<&str>,
    event_time: Option<&str>,
) -> Document {
    let ms = event_time.and_then(weir_plugin_sdk::iso_to_epoch_ms);
    let id = event_id.filter(|s| !s.is_empty());
    with_id_and_time(Document::new(raw.to_string()), id, ms)
}

fn with_id_and_time(mut doc: Document, id: Option<&str>, ms: Option<i64>) -> Document {
    if let Some(id) = id {
        doc = doc.with_id(id);
    }
    if let Some(ms) = ms {
        doc = doc.with_timestamp_ms(ms);
    }
    doc
}
