//! CloudTrail events: their documents (from a trail file's `Records`, a
//! bare event, or a log event's message) and identity.

use serde::Deserialize;
use serde_json::Value;
use weir_plugin_sdk::Document;

use crate::ecs::TrailFields;

/// The document of one record of a CloudTrail log file: `@timestamp`
/// first (`eventTime` as ISO-8601 UTC with milliseconds, when usable; the
/// record's own `@timestamp` then left out), then the record's fields as
/// they came, then (with `ecs`) the ECS fields; id `eventID`, time
/// `eventTime` (each when usable).
pub fn cloudtrail_document(record: Value, ecs: bool) -> Result<Document, String> {
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
    let members = match ecs {
        true => {
            TrailFields::deserialize(&record).map_or_else(|_| String::new(), |f| f.to_members())
        }
        false => String::new(),
    };
    let iso = ms.and_then(weir_plugin_sdk::epoch_ms_to_iso);
    let Value::Object(mut map) = record else {
        return Err("a CloudTrail record must be a JSON object".to_string());
    };
    if iso.is_some() {
        map.shift_remove("@timestamp");
    }
    let fields = serde_json::to_string(&map).map_err(|e| format!("cannot encode: {e}"))?;
    let mut body = String::with_capacity(fields.len() + members.len() + 48);
    match &iso {
        Some(iso) => push_with_at_timestamp(&mut body, iso, &fields),
        None => body.push_str(&fields),
    }
    weir_plugin_sdk::ecs::append_members(&mut body, &members);
    Ok(with_id_and_time(Document::new(body), id.as_deref(), ms))
}

/// The document of one CloudTrail event given as its own JSON text (kept
/// verbatim, the host makes it one line), with `@timestamp` first and the
/// ECS fields last as in [`cloudtrail_document`]. An event with its own
/// `@timestamp` is re-encoded without it.
pub fn cloudtrail_event_document(
    raw: &str,
    event_id: Option<&str>,
    event_time: Option<&str>,
    ecs: bool,
) -> Document {
    let ms = event_time.and_then(weir_plugin_sdk::iso_to_epoch_ms);
    let id = event_id.filter(|s| !s.is_empty());
    let iso = ms.and_then(weir_plugin_sdk::epoch_ms_to_iso);
    let fields = TrailFields::from_text(raw);
    let own_at_timestamp = match &fields {
        Some(f) => f.at_timestamp.is_some(),
        None => raw.contains("\"@timestamp\""),
    };
    if iso.is_some()
        && own_at_timestamp
        && let Ok(Ok(doc)) = serde_json::from_str(raw).map(|v| cloudtrail_document(v, ecs))
    {
        return doc;
    }
    let mut body = String::with_capacity(raw.len() + 560);
    match &iso {
        Some(iso) if !own_at_timestamp => push_with_at_timestamp(&mut body, iso, raw),
        _ => body.push_str(raw),
    }
    if let (true, Some(fields)) = (ecs, &fields) {
        fields.append_to(&mut body);
    }
    with_id_and_time(Document::new(body), id, ms)
}

/// `{"@timestamp":"<iso>",` and the members of `object` (a JSON object's
/// text, as it came).
fn push_with_at_timestamp(body: &mut String, iso: &str, object: &str) {
    body.push_str("{\"@timestamp\":\"");
    body.push_str(iso);
    body.push('"');
    let inner = object.get(1..).unwrap_or_default();
    if !weir_plugin_sdk::trim_json_ws(inner).starts_with('}') {
        body.push(',');
    }
    body.push_str(inner);
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
