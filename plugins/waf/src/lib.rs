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
//! ECS fields (see the `ecs` module, `src/ecs.rs`, for what comes from what) are
//! appended after the log's own fields, with GeoIP of `httpRequest.clientIp`.
//!
//! Config: `{}`, or `{"ecs": false}` to leave the ECS fields out
//! ([`EcsOption`]); unknown keys are refused.

mod ecs;

use serde_json::{Map, Value};
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::config::EcsOption;
use weir_plugin_sdk::ecs::Roots;
use weir_plugin_sdk::json::Member;
use weir_plugin_sdk::{Document, ISO_MS_LEN, Outcome};

use crate::ecs::{Collector, VISIT, WafFields};

thread_local! {
    /// [`fast_path`]'s buffer for the ECS members.
    static ECS_SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// Room reserved for a log's ECS fields, rendered before its body is
/// made (a typical WAF log's come to 450–800 bytes with GeoIP).
const ECS_RESERVE: usize = 1024;

/// Transform one record (one or more WAF logs, plain or gzip, or a
/// CloudWatch Logs payload of them); `ecs`: append the ECS fields.
pub fn transform_record(record: &[u8], ecs: bool) -> Outcome {
    // The common case first, untouched: one plain log.
    if let Some(outcome) = fast_path(record, ecs) {
        return outcome;
    }
    if weir_plugin_sdk::is_gzip(record) {
        return match weir_plugin_sdk::record_text(record, MAX_DECOMPRESSED_BYTES) {
            Ok(text) => plain_record(text.as_bytes(), ecs),
            Err(e) => Outcome::Failed(e),
        };
    }
    payload_or_full_path(record, ecs)
}

/// A record known not to be gzip (a gunzipped one).
fn plain_record(record: &[u8], ecs: bool) -> Outcome {
    fast_path(record, ecs).unwrap_or_else(|| payload_or_full_path(record, ecs))
}

/// A CloudWatch Logs payload (one plain record per log event's message,
/// each document keyed by its log event id), or else [`full_path`].
fn payload_or_full_path(record: &[u8], ecs: bool) -> Outcome {
    if let Ok(text) = std::str::from_utf8(record) {
        let one_log = |message: &str| match fast_path(message.as_bytes(), ecs)
            .unwrap_or_else(|| full_path(message.as_bytes(), ecs))
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
    full_path(record, ecs)
}

weir_plugin_sdk::export! {
    /// The plugin type exported to the host.
    pub struct Waf;
    config: EcsOption,
    info: weir_plugin_sdk::info!("waf")
        .date_fields(&["@timestamp", "timestamp"])
        .default_index("waf")
        .config_schema(weir_plugin_sdk::config::ECS_OPTION_SCHEMA)
        .index_properties(&[weir_plugin_sdk::ecs::INDEX_PROPERTIES]),
    transform_record: |config, record| transform_record(record, config.ecs),
}

/// The common case without building the log: check the record is valid
/// JSON and find the top-level `timestamp` (an integer) in one pass
/// ([`weir_plugin_sdk::json::scan`]), and splice the ISO string in its
/// place; every other byte is kept as it came. `None` for anything unusual
/// (a float, an escaped key, a missing or repeated `timestamp`, invalid
/// JSON): [`full_path`] handles it, and words the error. The fields the
/// ECS fields come from are found by the same scan.
fn fast_path(record: &[u8], ecs: bool) -> Option<Outcome> {
    let mut fields = Collector::default();
    let values = match ecs {
        true => weir_plugin_sdk::json::scan_visit(record, "timestamp", VISIT, |v| fields.visit(v))?,
        false => weir_plugin_sdk::json::scan(record, "timestamp")?,
    };
    let mut docs = Vec::with_capacity(values.len());
    // the ECS members of a log, rendered before its body is made (kept for
    // the next record: no allocation per log)
    let mut members = ECS_SCRATCH.take();
    for (i, value) in values.into_iter().enumerate() {
        let Member::At(range) = value.member else {
            return None;
        };
        let text = value.text;
        if value.roots.has_timestamp() {
            // its own top-level `@timestamp`: the full path replaces it (no
            // duplicate key); the scan has told (no search of the text)
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
        // the ECS members first, so that the body is made at its size (the
        // host is handed a body whose capacity is its length without a copy)
        members.clear();
        if ecs {
            members.reserve(ECS_RESERVE);
        }
        let with_ecs =
            ecs && text.ends_with('}') && fields.fields(i).write_members(&mut members, value.roots);
        let rest = match with_ecs {
            // the log's closing brace comes after the ECS members
            true => text.get(range.end..text.len() - 1)?,
            false => &text[range.end..],
        };
        let ecs_len = if with_ecs { members.len() + 2 } else { 0 };
        let mut body =
            String::with_capacity(after_brace.len() + rest.len() + 2 * ISO_MS_LEN + 19 + ecs_len);
        body.push_str("{\"@timestamp\":\"");
        if !weir_plugin_sdk::push_epoch_ms_iso(&mut body, ms) {
            return None;
        }
        body.push_str("\",");
        body.push_str(after_brace);
        body.push('"');
        weir_plugin_sdk::push_epoch_ms_iso(&mut body, ms);
        body.push('"');
        body.push_str(rest);
        if with_ecs {
            body.push(',');
            body.push_str(&members);
            body.push('}');
        }
        docs.push(Document::new(body).with_timestamp_ms(ms));
    }
    ECS_SCRATCH.set(members);
    Some(Outcome::Ok(docs))
}

/// Every case, through a full parse of each log.
fn full_path(record: &[u8], ecs: bool) -> Outcome {
    let values = match weir_plugin_sdk::json_values(record) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(e),
    };
    let mut docs = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        match transform_log(value, ecs) {
            Ok(doc) => docs.push(doc),
            Err(e) if i == 0 => return Outcome::Failed(e),
            Err(e) => return Outcome::Failed(format!("log {} of the record: {e}", i + 1)),
        }
    }
    Outcome::Ok(docs)
}

/// Rewrite one WAF log; `ecs`: append the ECS fields.
pub fn transform_log(value: Value, ecs: bool) -> Result<Document, String> {
    let ecs_members = if ecs {
        ecs_members(&value)
    } else {
        String::new()
    };
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
    let mut body = Value::Object(out).to_string();
    weir_plugin_sdk::ecs::append_members(&mut body, &ecs_members);
    Ok(Document::new(body).with_timestamp_ms(ms))
}

/// The ECS members of a log (`"event":{…},…`, without braces), rendered
/// before the log is taken apart; empty when there are none.
fn ecs_members(value: &Value) -> String {
    let Value::Object(log) = value else {
        return String::new();
    };
    WafFields::from_map(log).to_members(Roots::of_map(log))
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

    /// Without ECS fields: the body as before they existed.
    fn transform_record(record: &[u8]) -> Outcome {
        super::transform_record(record, false)
    }

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
        for ecs in [false, true] {
            fast_and_full_agree(ecs);
        }
    }

    fn fast_and_full_agree(ecs: bool) {
        for record in [
            &br#"{"timestamp":1576280412771,"a":{"timestamp":1},"b":[1,"}"]}"#[..],
            br#"{"x":"\"timestamp\":5","timestamp":0}"#,
            b"{\"timestamp\":1}\n{\"timestamp\":2,\"y\":null}",
            br#"{ "timestamp" : 1576280412771 , "z" : true }"#,
            b"{\n  \"timestamp\": 5\n}",
            CAPTCHA,
            SAMPLE.as_bytes(),
            // the User-Agent header: value first, escaped; not a string
            // first; inside another header's value (not a header)
            br#"{"timestamp":1,"httpRequest":{"headers":[{"value":"v\"1\u00e9","name":"USER-AGENT"}]}}"#,
            br#"{"timestamp":1,"httpRequest":{"headers":[{"name":"User-Agent","value":5},{"name":"x","value":"y"},{"name":"user-agent","value":"2nd"}]}}"#,
            br#"{"timestamp":1,"httpRequest":{"headers":[{"name":"Host","value":{"name":"User-Agent","value":"no"}},{"value":"no"}]}}"#,
            // an `@timestamp` that is not a top-level key
            br#"{"timestamp":1,"a":{"@timestamp":2},"b":"\"@timestamp\":3"}"#,
        ] {
            let fast = fast_path(record, ecs).expect("fast path taken");
            // each body is made at its size: handed to the host (which
            // takes it as a boxed slice) without a reallocation
            for d in ok_docs(fast_path(record, ecs).expect("fast path taken")) {
                assert_eq!(d.body.capacity(), d.body.len(), "{}", d.body);
            }
            let full = full_path(record, ecs);
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
                fast_path(unusual, ecs).is_none(),
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
            |r| super::transform_record(r, true),
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
    fn config_takes_only_ecs_and_info() {
        let validate = weir_plugin_sdk::testing::validate_config::<Waf>;
        assert!(validate("{}").is_ok());
        assert!(validate("").is_ok());
        assert!(validate(r#"{"ecs":false}"#).is_ok());
        assert!(validate(r#"{"ecs":0}"#).unwrap_err().contains("`ecs`"));
        assert!(validate(r#"{"x":1}"#).unwrap_err().contains("`x`"));
        let (info, schema) = weir_plugin_sdk::testing::checked_info::<Waf>();
        assert_eq!(
            (info.name, info.date_fields),
            ("waf", &["@timestamp", "timestamp"][..])
        );
        assert_eq!(info.default_index, Some("waf"));
        assert_eq!(schema["properties"]["ecs"]["type"], "boolean");
        assert_eq!(
            info.index_properties,
            [weir_plugin_sdk::ecs::INDEX_PROPERTIES]
        );
    }

    const CAPTCHA: &[u8] =
        include_bytes!("../../../tests/fixtures/plugins/waf/awsdocs_captcha-missing-token.in");

    const SAMPLE: &str = r#"{"timestamp":1576280412771,"webaclId":"arn:aws:wafv2:ap-southeast-2:111122223333:regional/webacl/STMTest/1EX","terminatingRuleId":"STMTest_SQLi_XSS","action":"BLOCK","httpRequest":{"clientIp":"81.2.69.142","country":"GB","headers":[{"name":"Host","value":"localhost:1989"},{"name":"user-agent","value":"curl/7.61.1"}],"uri":"/foo","args":"x=1","httpVersion":"HTTP/1.1","httpMethod":"GET","requestId":"rid-1"}}"#;

    #[test]
    fn ecs_fields_of_a_sample() {
        weir_plugin_sdk::testing::set_geoip(
            "81.2.69.142",
            weir_plugin_sdk::testing::sample_geo("GB", "London", 51.5, -0.09, 20712, "AAISP"),
        );
        let docs = ok_docs(super::transform_record(SAMPLE.as_bytes(), true));
        let body = weir_plugin_sdk::testing::body(&docs[0]);
        let ecs = |k: &str| body[k].clone();
        assert_eq!(
            ecs("event"),
            serde_json::json!({"kind": "event", "category": ["web"], "type": ["access", "denied"],
                "action": "BLOCK", "outcome": "failure", "provider": "wafv2",
                "dataset": "aws.waf", "id": "rid-1"})
        );
        assert_eq!(
            ecs("cloud"),
            serde_json::json!({"provider": "aws", "account": {"id": "111122223333"}, "region": "ap-southeast-2"})
        );
        assert_eq!(ecs("source")["ip"], "81.2.69.142");
        assert_eq!(ecs("source")["geo"]["city_name"], "London");
        assert_eq!(ecs("source")["as"]["number"], 20712);
        assert_eq!(ecs("network"), serde_json::json!({"protocol": "http"}));
        assert_eq!(
            ecs("http"),
            serde_json::json!({"request": {"method": "GET"}})
        );
        assert_eq!(
            ecs("url"),
            serde_json::json!({"path": "/foo", "query": "x=1"})
        );
        assert_eq!(
            ecs("user_agent"),
            serde_json::json!({"original": "curl/7.61.1"})
        );
        assert_eq!(
            ecs("rule"),
            serde_json::json!({"id": "STMTest_SQLi_XSS", "ruleset": "STMTest"})
        );
        assert_eq!(ecs("related"), serde_json::json!({"ip": ["81.2.69.142"]}));
        // the original fields first, unchanged
        let plain = ok_docs(transform_record(SAMPLE.as_bytes()));
        assert!(
            docs[0]
                .body
                .starts_with(&plain[0].body[..plain[0].body.len() - 1])
        );
    }

    #[test]
    fn ecs_off_gives_the_body_without_them() {
        for record in [SAMPLE.as_bytes(), CAPTCHA] {
            let on = ok_docs(super::transform_record(record, true));
            let off = ok_docs(transform_record(record));
            let mut on = weir_plugin_sdk::testing::body(&on[0]);
            for root in weir_plugin_sdk::ecs::ROOTS {
                on.as_object_mut().unwrap().shift_remove(root);
            }
            let off = weir_plugin_sdk::testing::body(&off[0]);
            assert_eq!(on.to_string(), off.to_string());
        }
        let off =
            weir_plugin_sdk::testing::transform::<Waf>(r#"{"ecs":false}"#, &[SAMPLE.as_bytes()]);
        assert_eq!(
            ok_docs(off.into_iter().next().unwrap())[0].body,
            ok_docs(transform_record(SAMPLE.as_bytes()))[0].body
        );
    }

    #[test]
    fn odd_ecs_values_never_fail_a_log() {
        let bad_ip = SAMPLE.replace("81.2.69.142", "not-an-ip");
        let body = weir_plugin_sdk::testing::body(
            &ok_docs(super::transform_record(bad_ip.as_bytes(), true))[0],
        );
        assert_eq!(
            body["source"],
            serde_json::json!({"address": "not-an-ip", "geo": {"country_iso_code": "GB"}})
        );
        assert!(body.get("related").is_none());
        // fields of another type: left out, the rest kept, on both paths
        let odd = SAMPLE
            .replace(r#""headers":["#, r#""headers":{"a":1},"h":["#)
            .replace(r#""BLOCK""#, "5");
        for doc in [
            &ok_docs(super::transform_record(odd.as_bytes(), true))[0],
            &ok_docs(full_path(odd.as_bytes(), true))[0],
        ] {
            let body = weir_plugin_sdk::testing::body(doc);
            assert!(body.get("user_agent").is_none());
            assert!(body["event"].get("action").is_none());
            assert_eq!(body["event"]["type"], serde_json::json!(["access"]));
            assert_eq!(body["url"]["path"], "/foo");
        }
        // a log with its own `event` and `source` keeps them, without duplicates
        let own = SAMPLE.replace(r#""action""#, r#""event":1,"source":"x","action""#);
        let body = ok_docs(super::transform_record(own.as_bytes(), true))[0]
            .body
            .clone();
        assert_eq!(body.matches(r#""event":"#).count(), 1);
        assert_eq!(body.matches(r#""source":"#).count(), 1);
        assert!(body.contains(r#""url":{"path":"/foo""#));
    }

    weir_plugin_sdk::golden_test!(Waf, "waf");
}
