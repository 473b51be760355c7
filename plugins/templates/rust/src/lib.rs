//! `__NAME__`: a Weir plugin. Each record is one JSON log object (gzip
//! accepted); its epoch-milliseconds `time` becomes an ISO-8601
//! `@timestamp`, its `id` (when it has one) the document id; a record with
//! `"type": "heartbeat"` is dropped, and anything else fails with a reason.
//!
//! The parsing is a pure function (`transform_record`) that `cargo test`
//! runs natively; `export!` makes it the component's exports.

use serde_json::{Map, Value};
use weir_plugin_sdk::{Document, Outcome, config};

weir_plugin_sdk::export! {
    /// The plugin.
    pub struct Transform;
    config: Config,
    info: weir_plugin_sdk::info!("__NAME__")
        .date_fields(&["@timestamp"])
        .default_index("__NAME__-%Y.%m.%d")
        .config_schema(CONFIG_SCHEMA),
    transform_record: transform_record,
}

/// The plugin's config: `{}`, or `{"tag": "…"}` to add a `tag` field to
/// every document. Any other key is refused (strict parsing).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Added to every document as `tag`, when set.
    tag: Option<String>,
}

/// [`Config`] as a JSON Schema (the plugin's self-description).
const CONFIG_SCHEMA: &str = r#"{"type":"object","properties":{"tag":{"type":"string"}},"additionalProperties":false}"#;

/// One record in, one outcome out.
pub fn transform_record(config: &Config, record: &[u8]) -> Outcome {
    match document(config, record) {
        Ok(Some(doc)) => Outcome::Ok(vec![doc]),
        Ok(None) => Outcome::Dropped,
        Err(reason) => Outcome::Failed(reason),
    }
}

/// The document of one record; `None` for a heartbeat.
fn document(config: &Config, record: &[u8]) -> Result<Option<Document>, String> {
    let text = weir_plugin_sdk::record_text(record, weir_plugin_sdk::MAX_DECOMPRESSED_BYTES)?;
    let mut log: Map<String, Value> = match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("record is not a JSON object".into()),
        Err(e) => return Err(format!("record is not JSON: {e}")),
    };
    if log.get("type").and_then(Value::as_str) == Some("heartbeat") {
        return Ok(None);
    }
    let ms = match log.get("time") {
        Some(Value::Number(n)) => n.as_i64().ok_or("`time` is not whole milliseconds")?,
        Some(_) => return Err("`time` is not a number (epoch milliseconds)".into()),
        None => return Err("no `time` field".into()),
    };
    let iso = weir_plugin_sdk::epoch_ms_to_iso(ms).ok_or("`time` is out of range")?;
    log.insert("@timestamp".into(), Value::String(iso));
    if let Some(tag) = &config.tag {
        log.insert("tag".into(), Value::String(tag.clone()));
    }
    let id = log.get("id").and_then(Value::as_str).map(str::to_string);
    let mut doc = Document::new(Value::Object(log).to_string()).with_timestamp_ms(ms);
    if let Some(id) = id {
        doc = doc.with_id(id);
    }
    Ok(Some(doc))
}

/// Parse a config the way the host's route does (for tests).
pub fn parse_config(text: &str) -> Result<Config, String> {
    config::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(outcome: Outcome) -> Vec<Value> {
        match outcome {
            Outcome::Ok(docs) => docs
                .iter()
                .map(|d| serde_json::from_str(&d.body).unwrap_or(Value::Null))
                .collect(),
            other => panic!("not ok: {other:?}"),
        }
    }

    #[test]
    fn time_becomes_an_iso_timestamp() {
        let config = Config::default();
        let out = docs(transform_record(&config, br#"{"time":1700000000123,"msg":"hi"}"#));
        assert_eq!(out[0]["@timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(out[0]["msg"], "hi");
    }

    #[test]
    fn bad_records_fail_alone_and_heartbeats_drop() {
        let config = Config::default();
        assert!(matches!(transform_record(&config, b"not json"), Outcome::Failed(_)));
        assert!(matches!(transform_record(&config, b"{}"), Outcome::Failed(r) if r.contains("time")));
        assert!(matches!(
            transform_record(&config, br#"{"type":"heartbeat"}"#),
            Outcome::Dropped
        ));
    }

    #[test]
    fn config_is_strict() {
        assert!(parse_config(r#"{"tag":"x"}"#).is_ok());
        assert!(parse_config(r#"{"tga":"x"}"#).is_err());
    }
}
