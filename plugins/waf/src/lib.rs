//! Weir plugin for AWS WAF logs.
//!
//! Each record is one WAF log (JSON; a record holding several newline-
//! separated logs gives one document each), plain or gzip (decompressed
//! first, capped at [`MAX_DECOMPRESSED_BYTES`]), or a CloudWatch Logs
//! subscription payload whose log events' messages are WAF logs (one
//! document per log event, its id the log event's; a `CONTROL_MESSAGE` is
//! dropped). The epoch-millisecond `timestamp` becomes an ISO-8601 UTC
//! string with milliseconds (`2019-12-13T23:40:12.771Z`) so OpenSearch maps
//! it as `date`, and the same string is added as `@timestamp`, the first
//! member (a log's own `@timestamp`, which WAF does not write, is replaced);
//! every other field is kept as it came, in order. A log that is not a JSON object, or
//! whose `timestamp` is missing or not an epoch-millisecond number, fails its
//! record with the reason; the other records of the batch are unaffected.
//!
//! Config: none (`{}`); unknown keys are refused.

use serde_json::{Map, Value};
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::config::NoOptions;
use weir_plugin_sdk::json::Member;
use weir_plugin_sdk::{Document, ISO_MS_LEN, Outcome};

/// Transform one record (one or more WAF logs, plain or gzip, or a
/// CloudWatch Logs payload of them).
pub fn transform_record(record: &[u8]) -> Outcome {
    // The common case first, untouched: one plain log.
    if let Some(outcome) = fast_path(record) {
        return outcome;
    }
    if weir_plugin_sdk::is_gzip(record) {
        return match weir_plugin_sdk::record_text(record, MAX_DECOMPRESSED_BYTES) {
            Ok(text) => plain_record(text.as_bytes()),
            Err(e) => Outcome::Failed(e),
        };
    }
    payload_or_full_path(record)
}

/// A record known not to be gzip (a gunzipped one).
fn plain_record(record: &[u8]) -> Outcome {
    fast_path(record).unwrap_or_else(|| payload_or_full_path(record))
}

/// A CloudWatch Logs payload (one plain record per log event's message,
/// each document keyed by its log event id), or else [`full_path`].
fn payload_or_full_path(record: &[u8]) -> Outcome {
    if let Ok(text) = std::str::from_utf8(record) {
        let one_log = |message: &str| match fast_path(message.as_bytes())
            .unwrap_or_else(|| full_path(message.as_bytes()))
        {
            Outcome::Ok(docs) => Ok(docs),
            Outcome::Dropped => Ok(Vec::new()),
            Outcome::Failed(e) => Err(e),
        };
        match weir_plugin_sdk::cwl::documents(text, one_log) {
            Some(Ok(Some(docs))) => return Outcome::Ok(docs),
            Some(Ok(None)) => return Outcome::Dropped,
            Some(Err(e)) => return Outcome::Failed(e),
            None => {}
        }
    }
    full_path(record)
}

weir_plugin_sdk::export! {
    /// The plugin type exported to the host.
    pub struct Waf;
    config: NoOptions,
    info: weir_plugin_sdk::info!("waf").date_fields(&["@timestamp", "timestamp"]).default_index("waf"),
    transform_record: |_, record| transform_record(record),
}

/// The common case without building the log: check the record is valid
/// JSON and find the top-level `timestamp` (an integer) in one pass
/// ([`weir_plugin_sdk::json::scan`]), and splice the ISO string in its
/// place; every other byte is kept as it came. `None` for anything unusual
/// (a float, an escaped key, a missing or repeated `timestamp`, invalid
/// JSON): [`full_path`] handles it, and words the error.
fn fast_path(record: &[u8]) -> Option<Outcome> {
    let values = weir_plugin_sdk::json::scan(record, "timestamp")?;
    let mut docs = Vec::with_capacity(values.len());
    for value in values {
        let Member::At(range) = value.member else {
            return None;
        };
        let text = value.text;
        if text.contains("\"@timestamp\"") {
            // its own `@timestamp`: the full path replaces it (no duplicate key)
            return None;
        }
        let digits = &text[range.clone()];
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ms: i64 = digits.parse().ok()?;
        // `{"@timestamp":"<iso>",` + the log after its `{`, with the iso in
        // place of the digits. `text` starts with `{`: it has a member.
        let after_brace = text.get(1..range.start)?;
        let mut body = String::with_capacity(text.len() + 2 * ISO_MS_LEN + 18 - digits.len());
        body.push_str("{\"@timestamp\":\"");
        if !weir_plugin_sdk::push_epoch_ms_iso(&mut body, ms) {
            return None;
        }
        body.push_str("\",");
        body.push_str(after_brace);
        body.push('"');
        weir_plugin_sdk::push_epoch_ms_iso(&mut body, ms);
        body.push('"');
        body.push_str(&text[range.end..]);
        docs.push(Document::new(body).with_timestamp_ms(ms));
    }
    Some(Outcome::Ok(docs))
}

/// Every case, through a full parse of each log.
fn full_path(record: &[u8]) -> Outcome {
    let values = match weir_plugin_sdk::json_values(record) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(e),
    };
    let mut docs = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        match transform_log(value) {
            Ok(doc) => docs.push(doc),
            Err(e) if i == 0 => return Outcome::Failed(e),
            Err(e) => return Outcome::Failed(format!("log {} of the record: {e}", i + 1)),
        }
    }
    Outcome::Ok(docs)
}

/// Rewrite one WAF log.
pub fn transform_log(value: Value) -> Result<Document, String> {
    let Value::Object(mut log) = value else {
        return Err(format!(
            "a WAF log must be a JSON object, got {}",
            weir_plugin_sdk::json_kind(&value)
        ));
    };
    let ms = match log.get("timestamp") {
        None => return Err("missing `timestamp`".to_string()),
        Some(ts) => epoch_ms(ts)?,
    };
    let iso = weir_plugin_sdk::epoch_ms_to_iso(ms)
        .ok_or_else(|| format!("`timestamp` {ms} is outside 1970..=9999 in epoch milliseconds"))?;
    let mut out = Map::with_capacity(log.len() + 1);
    out.insert("@timestamp".to_string(), Value::String(iso.clone()));
    log.insert("timestamp".to_string(), Value::String(iso));
    out.extend(log.into_iter().filter(|(k, _)| k != "@timestamp"));
    Ok(Document::new(Value::Object(out).to_string()).with_timestamp_ms(ms))
}

/// Read an epoch-millisecond number (an integer, or a float with no fraction).
fn epoch_ms(ts: &Value) -> Result<i64, String> {
    if let Some(ms) = ts.as_i64() {
        return Ok(ms);
    }
    match ts.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= 0.0 && f <= weir_plugin_sdk::MAX_EPOCH_MS as f64 => {
            Ok(f as i64)
        }
        _ => Err(format!(
            "`timestamp` must be epoch milliseconds (a number), got {}",
            match ts {
                Value::Number(n) => n.to_string(),
                other => weir_plugin_sdk::json_kind(other).to_string(),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing::{failed, gzip, ok_docs};

    fn ok_bodies(outcome: Outcome) -> Vec<(String, Option<i64>)> {
        ok_docs(outcome)
            .into_iter()
            .map(|d| (d.body, d.timestamp_ms))
            .collect()
    }

    #[test]
    fn rewrites_timestamp_and_keeps_the_rest_in_order() {
        let got = ok_bodies(transform_record(
            br#"{"timestamp":1576280412771,"formatVersion":1,"action":"BLOCK","labels":[{"name":"a"}]}"#,
        ));
        assert_eq!(
            got,
            vec![(
                r#"{"@timestamp":"2019-12-13T23:40:12.771Z","timestamp":"2019-12-13T23:40:12.771Z","formatVersion":1,"action":"BLOCK","labels":[{"name":"a"}]}"#
                    .to_string(),
                Some(1_576_280_412_771)
            )]
        );
    }

    #[test]
    fn the_fast_path_and_the_full_path_agree() {
        for record in [
            &br#"{"timestamp":1576280412771,"a":{"timestamp":1},"b":[1,"}"]}"#[..],
            br#"{"x":"\"timestamp\":5","timestamp":0}"#,
            b"{\"timestamp\":1}\n{\"timestamp\":2,\"y\":null}",
            br#"{ "timestamp" : 1576280412771 , "z" : true }"#,
            b"{\n  \"timestamp\": 5\n}",
        ] {
            let fast = fast_path(record).expect("fast path taken");
            let full = full_path(record);
            let norm = |o: Outcome| -> Vec<(serde_json::Value, Option<i64>)> {
                ok_docs(o)
                    .into_iter()
                    .map(|d| (serde_json::from_str(&d.body).unwrap(), d.timestamp_ms))
                    .collect()
            };
            assert_eq!(
                norm(fast),
                norm(full),
                "{}",
                String::from_utf8_lossy(record)
            );
        }
        for unusual in [
            &br#"{"timestamp":1000.0}"#[..],
            br#"{"timestamp":"1"}"#,
            br#"{"\u0074imestamp":1}"#,
            br#"{"timestamp":1,"timestamp":2}"#,
            br#"{"timestamp":1,"@timestamp":"x"}"#,
            br#"{"a":1}"#,
            b"[1]",
            b"{",
        ] {
            assert!(
                fast_path(unusual).is_none(),
                "{}",
                String::from_utf8_lossy(unusual)
            );
        }
    }

    #[test]
    fn several_logs_in_one_record() {
        let got = ok_bodies(transform_record(
            b"{\"timestamp\":0}\n{\"timestamp\":1000.0}\n",
        ));
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1].0,
            r#"{"@timestamp":"1970-01-01T00:00:01.000Z","timestamp":"1970-01-01T00:00:01.000Z"}"#
        );
    }

    #[test]
    fn a_log_of_its_own_at_timestamp_gets_it_replaced() {
        let got = ok_bodies(transform_record(
            br#"{"@timestamp":"x","timestamp":0,"a":1}"#,
        ));
        assert_eq!(
            got[0].0,
            r#"{"@timestamp":"1970-01-01T00:00:00.000Z","timestamp":"1970-01-01T00:00:00.000Z","a":1}"#
        );
    }

    #[test]
    fn gzip_records_are_handled_like_plain_ones() {
        let plain = b"{\"timestamp\":1576280412771,\"a\":1}\n{\"timestamp\":1000.0}";
        assert_eq!(
            ok_bodies(transform_record(&gzip(plain))),
            ok_bodies(transform_record(plain))
        );
        let bomb = gzip(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1]);
        assert!(failed(transform_record(&bomb)).contains("cap"));
        assert!(failed(transform_record(b"\x1f\x8b\x08garbage")).contains("gzip"));
        assert!(failed(transform_record(&gzip(b"{}"))).contains("missing `timestamp`"));
    }

    #[test]
    fn logs_inside_a_cloudwatch_logs_payload() {
        let log = r#"{"timestamp":1576280412771,"action":"BLOCK"}"#;
        weir_plugin_sdk::testing::assert_cwl_payloads(
            transform_record,
            &[log, log],
            "missing `timestamp`",
        );
    }

    #[test]
    fn bad_records_fail_with_a_reason() {
        assert!(failed(transform_record(b"{\"timestamp\":")).contains("invalid JSON"));
        assert!(failed(transform_record(b"")).contains("empty record"));
        assert!(failed(transform_record(b"[1]")).contains("JSON object"));
        assert!(failed(transform_record(b"{}")).contains("missing `timestamp`"));
        assert!(failed(transform_record(br#"{"timestamp":"2019"}"#)).contains("a string"));
        assert!(failed(transform_record(br#"{"timestamp":1.5}"#)).contains("1.5"));
        assert!(failed(transform_record(br#"{"timestamp":-5}"#)).contains("outside"));
        assert!(
            failed(transform_record(b"{\"timestamp\":1}\n{}")).starts_with("log 2 of the record")
        );
    }

    #[test]
    fn config_takes_no_options_and_info() {
        let validate = weir_plugin_sdk::testing::validate_config::<Waf>;
        assert!(validate("{}").is_ok());
        assert!(validate("").is_ok());
        assert!(validate(r#"{"x":1}"#).unwrap_err().contains("`x`"));
        let (info, schema) = weir_plugin_sdk::testing::checked_info::<Waf>();
        assert_eq!(
            (info.name, info.date_fields),
            ("waf", &["@timestamp", "timestamp"][..])
        );
        assert_eq!((info.default_index, schema), (Some("waf"), Value::Null));
    }

    weir_plugin_sdk::golden_test!(Waf, "waf");
}
