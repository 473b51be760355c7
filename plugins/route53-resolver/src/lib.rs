//! Weir plugin for Amazon Route 53 Resolver query logs.
//!
//! Each record is one query log (JSON; a record holding several
//! newline-separated logs gives one document each; a gzip record is
//! decompressed first, capped at [`MAX_DECOMPRESSED_BYTES`]). A log is
//! validated and passed through unchanged: it must be a JSON object whose
//! `query_timestamp` is an ISO-8601 string (it stays as it is, and also gives
//! the document's `timestamp_ms`) and whose `query_name` and `query_type` are
//! strings. Every field is kept as it came, in order, without being
//! re-encoded; one is added, first: `@timestamp`, the `query_timestamp`
//! normalised to ISO-8601 UTC with milliseconds (`2021-12-11T22:46:23.000Z`)
//! so every source's documents share one time field and format.
//!
//! Query logs may also arrive inside CloudWatch Logs subscription payloads
//! (a log group subscribed to Firehose): each log event's message is one
//! query log, checked as above, its document keyed by the log event id; a
//! `CONTROL_MESSAGE` is dropped ([`weir_plugin_sdk::cwl`]). A log that breaks one of these rules fails its record with the
//! reason; the other records of the batch are unaffected.
//!
//! Documents carry no id (query logs have none), so the host derives one
//! from the request id, the record index and the document index.
//!
//! ECS fields (see the `ecs` module, `src/ecs.rs`, for what comes from what) are
//! appended after the log's own fields, with GeoIP of `srcaddr`.
//!
//! Config: `{}`, or `{"ecs": false}` to leave the ECS fields out
//! ([`EcsOption`]); unknown keys are refused.

mod ecs;

use serde::Deserialize;
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::config::EcsOption;
use weir_plugin_sdk::{Document, Loose, Outcome, json_object_at, trim_json_ws};

weir_plugin_sdk::export! {
    /// The plugin type exported to the host.
    pub struct Route53Resolver;
    config: EcsOption,
    info: weir_plugin_sdk::info!("route53-resolver")
        .date_fields(&["@timestamp", "query_timestamp"])
        .default_index("route53-resolver-%Y.%m.%d")
        .config_schema(weir_plugin_sdk::config::ECS_OPTION_SCHEMA)
        .index_properties(&[weir_plugin_sdk::ecs::INDEX_PROPERTIES]),
    transform_record: |config, record| transform_record(record, config.ecs),
}

/// Transform one record (one or more query logs, plain or gzip); `ecs`:
/// append the ECS fields.
pub fn transform_record(record: &[u8], ecs: bool) -> Outcome {
    weir_plugin_sdk::text_outcome(record, |text| {
        weir_plugin_sdk::cwl::documents(text, |t| query_logs(t, ecs))
            .unwrap_or_else(|| query_logs(text, ecs).map(Some))
    })
}

/// Validate every query log of a record's text; one document each.
pub fn query_logs(text: &str, ecs: bool) -> Result<Vec<Document>, String> {
    let mut docs = Vec::new();
    let mut rest = trim_json_ws(text);
    while !rest.is_empty() {
        let (doc, used) = query_log(rest, ecs).map_err(|e| match docs.len() {
            0 => e,
            n => format!("log {} of the record: {e}", n + 1),
        })?;
        docs.push(doc);
        rest = trim_json_ws(&rest[used..]);
    }
    if docs.is_empty() {
        return Err("empty record: no query log".to_string());
    }
    Ok(docs)
}

/// Validate the query log at the start of `text`; returns its document and
/// the number of bytes it took. The body is the log's own text, unchanged,
/// with `@timestamp` first and (with `ecs`) the ECS fields last.
pub fn query_log(text: &str, ecs: bool) -> Result<(Document, usize), String> {
    // With ECS, one parse gives the checked fields and the ECS ones; a log
    // whose ECS fields have unexpected types is parsed again without them
    // (and gets none), as it never fails for them.
    let fields = ecs
        .then(|| json_object_at::<ecs::Fields<'_>>(text, "", "").ok())
        .flatten();
    let (ms, used) = match &fields {
        Some((f, used)) => (check(&f.query_timestamp, f.query())?, *used),
        None => {
            let (log, used): (QueryLog<'_>, usize) = json_object_at(
                text,
                "a query log must be a JSON object",
                "invalid query log",
            )?;
            (
                check(&log.query_timestamp, (&log.query_name, &log.query_type))?,
                used,
            )
        }
    };
    let log = text.get(..used).unwrap_or(text);
    // The skipped fields are only checked as serde ignores them, which
    // takes a number past an `f64` (`1e999`); the body must be JSON the
    // host and OpenSearch read. The SDK's scanner checks the log in one
    // fast pass and leaves such numbers to a full parse, which words the
    // error (found by the fuzzer, issue #14).
    if weir_plugin_sdk::json::scan(log.as_bytes(), "").is_none()
        && let Err(e) = serde_json::from_str::<serde_json::Value>(log)
    {
        return Err(format!("invalid query log: {e}"));
    }
    // `{"@timestamp":"<iso ms>",` + the log after its `{` (it has members).
    let after_brace = log.get(1..).unwrap_or_default();
    let mut body = String::with_capacity(log.len() + weir_plugin_sdk::ISO_MS_LEN + 530);
    body.push_str("{\"@timestamp\":\"");
    if weir_plugin_sdk::push_epoch_ms_iso(&mut body, ms) {
        body.push_str("\",");
    } else {
        body.truncate(1);
    }
    body.push_str(after_brace);
    if let Some((f, _)) = &fields {
        ecs::append_to(f, &mut body);
    }
    Ok((Document::new(body).with_timestamp_ms(ms), used))
}

/// Check the fields every query log must have; its event time in epoch ms.
fn check(
    timestamp: &Option<Loose<'_>>,
    (name, kind): (&Option<Loose<'_>>, &Option<Loose<'_>>),
) -> Result<i64, String> {
    let timestamp = required_str(timestamp, "query_timestamp")?;
    let ms = weir_plugin_sdk::iso_to_epoch_ms(timestamp).ok_or_else(|| {
        format!("`query_timestamp` is not an ISO-8601 timestamp (1970..=9999): {timestamp:?}")
    })?;
    required_str(name, "query_name")?;
    required_str(kind, "query_type")?;
    Ok(ms)
}

/// The fields of a query log that are checked; the rest are skipped while
/// parsing and kept verbatim in the body.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a"))]
struct QueryLog<'a> {
    /// When the query was made: an ISO-8601 string, also the document's time.
    query_timestamp: Option<Loose<'a>>,
    /// The name queried (`example.com.`): a string.
    query_name: Option<Loose<'a>>,
    /// The record type queried (`A`, `AAAA`, …): a string.
    query_type: Option<Loose<'a>>,
}

fn required_str<'b>(field: &'b Option<Loose<'_>>, name: &str) -> Result<&'b str, String> {
    match field {
        Some(Loose::Str(s)) => Ok(s),
        Some(other) => Err(format!("`{name}` must be a string, got {}", other.kind())),
        None => Err(format!("missing `{name}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing::{failed, gzip, iso_time, ok_docs};

    const AWSDOCS: &[u8] = include_bytes!(
        "../../../tests/fixtures/plugins/route53-resolver/awsdocs_resolver-query-log-example.in"
    );
    const ELASTIC: &str = include_str!(
        "../../../tests/fixtures/plugins/route53-resolver/elastic_test-route53.lines.in"
    );

    /// Without ECS fields: the body as before they existed.
    fn transform_record(record: &[u8]) -> Outcome {
        super::transform_record(record, false)
    }

    /// Found by the fuzzer (`tools/fuzz`, target `route53-resolver`): a
    /// number past an `f64` in a field the plugin does not read was passed
    /// through, and the body was not JSON that `serde_json` (or OpenSearch)
    /// reads.
    #[test]
    fn a_number_past_f64_fails_the_log() {
        let line = r#"{"query_timestamp":"2021-12-11T22:46:23Z","query_name":"a.","query_type":"A","rcode":1e999}"#;
        for ecs in [false, true] {
            let reason = failed(super::transform_record(line.as_bytes(), ecs));
            assert!(reason.contains("number out of range"), "{reason}");
        }
        let fine = line.replace("1e999", "1e300");
        assert_eq!(ok_docs(transform_record(fine.as_bytes())).len(), 1);
    }

    #[test]
    fn passes_a_log_through_unchanged() {
        let line = r#"{"version":"1.100000","account_id":"626345947581","region":"us-east-1","vpc_id":"vpc-01e31a7c","query_timestamp":"2021-12-11T22:46:23Z","query_name":"does-not-exist.abc.com.","query_type":"A","query_class":"IN","rcode":"NXDOMAIN","answers":[],"srcaddr":"172.31.86.159","srcport":"48701","transport":"UDP","srcids":{}}"#;
        let d = ok_docs(transform_record(line.as_bytes()));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].body,
            with_at_timestamp(line, "2021-12-11T22:46:23.000Z")
        );
        assert_eq!(d[0].timestamp_ms, Some(1_639_262_783_000));
        assert_eq!((d[0].id.as_deref(), d[0].index.as_deref()), (None, None));
    }

    #[test]
    fn the_pretty_printed_awsdocs_sample() {
        let d = ok_docs(transform_record(AWSDOCS));
        assert_eq!(d.len(), 1);
        assert_eq!(iso_time(&d[0]), "2021-02-04T17:51:55.000Z");
        let mut body: serde_json::Value = serde_json::from_str(&d[0].body).unwrap();
        let want: serde_json::Value = serde_json::from_slice(AWSDOCS).unwrap();
        let at = body.as_object_mut().unwrap().shift_remove("@timestamp");
        assert_eq!(at, Some("2021-02-04T17:51:55.000Z".into()));
        assert_eq!(body, want);
        assert!(d[0].body.starts_with('{') && d[0].body.ends_with('}'));
    }

    #[test]
    fn every_elastic_line_and_the_whole_file_as_one_record() {
        let mut total = 0;
        for line in ELASTIC.lines().filter(|l| !l.trim().is_empty()) {
            let d = ok_docs(transform_record(line.as_bytes()));
            assert_eq!(d.len(), 1);
            assert_eq!(d[0].body, with_at_timestamp(line, &iso_time(&d[0])));
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                weir_plugin_sdk::iso_to_epoch_ms(v["query_timestamp"].as_str().unwrap()),
                d[0].timestamp_ms
            );
            total += 1;
        }
        assert_eq!(total, 34);
        assert_eq!(ok_docs(transform_record(ELASTIC.as_bytes())).len(), 34);
    }

    /// `log` with `"@timestamp":"<iso>"` as its first member.
    fn with_at_timestamp(log: &str, iso: &str) -> String {
        format!("{{\"@timestamp\":\"{iso}\",{}", &log[1..])
    }

    #[test]
    fn logs_inside_a_cloudwatch_logs_payload() {
        let lines: Vec<&str> = ELASTIC
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(2)
            .collect();
        weir_plugin_sdk::testing::assert_cwl_payloads(
            |r| super::transform_record(r, true),
            &lines,
            "missing `query_timestamp`",
        );
    }

    #[test]
    fn gzip_records_are_decompressed_with_a_cap() {
        let d = ok_docs(transform_record(&gzip(ELASTIC.as_bytes())));
        assert_eq!(d.len(), 34);
        let bomb = gzip(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1]);
        assert!(failed(transform_record(&bomb)).contains("cap"));
        assert!(failed(transform_record(b"\x1f\x8b\x08garbage")).contains("gzip"));
    }

    #[test]
    fn bad_logs_fail_with_a_reason() {
        let ok = r#"{"query_timestamp":"2021-12-11T22:46:23Z","query_name":"a.","query_type":"A"}"#;
        weir_plugin_sdk::testing::assert_refuses_bad_records(transform_record);
        for (record, kind) in [
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("12", "a number"),
        ] {
            assert!(failed(transform_record(record.as_bytes())).contains(kind));
        }
        assert!(
            failed(transform_record(br#"{"query_name":"a.","query_type":"A"}"#))
                .contains("missing `query_timestamp`")
        );
        assert!(
            failed(transform_record(
                br#"{"query_timestamp":1639262783,"query_name":"a.","query_type":"A"}"#
            ))
            .contains("`query_timestamp` must be a string, got a number")
        );
        assert!(
            failed(transform_record(
                br#"{"query_timestamp":"11/Dec/2021","query_name":"a.","query_type":"A"}"#
            ))
            .contains("not an ISO-8601")
        );
        assert!(
            failed(transform_record(
                br#"{"query_timestamp":"2021-12-11T22:46:23Z","query_name":["a"],"query_type":"A"}"#
            ))
            .contains("`query_name` must be a string, got an array")
        );
        assert!(
            failed(transform_record(
                br#"{"query_timestamp":"2021-12-11T22:46:23Z","query_name":"a."}"#
            ))
            .contains("missing `query_type`")
        );
        assert!(
            failed(transform_record(
                br#"{"query_timestamp":"2021-12-11T22:46:23Z","query_name":"a.","query_name":"b.","query_type":"A"}"#
            ))
            .contains("duplicate field")
        );
        let second_bad = format!("{ok}\n{{\"query_name\":\"a.\"}}\n");
        assert!(failed(transform_record(second_bad.as_bytes())).starts_with("log 2 of the record"));
        let trailing = format!("{ok} ]");
        assert!(failed(transform_record(trailing.as_bytes())).starts_with("log 2 of the record"));
    }

    #[test]
    fn unknown_fields_of_any_type_are_kept() {
        let log = r#"{"query_timestamp":"2021-12-11T22:46:23.5+01:00","query_name":"a\"b.","query_type":"A","x":[{"y":null}],"z":1.5e3}"#;
        let d = ok_docs(transform_record(log.as_bytes()));
        assert_eq!(
            d[0].body,
            with_at_timestamp(log, "2021-12-11T21:46:23.500Z")
        );
        assert_eq!(d[0].timestamp_ms, Some(1_639_259_183_500));
    }

    #[test]
    fn config_takes_only_ecs() {
        let validate = weir_plugin_sdk::testing::validate_config::<Route53Resolver>;
        assert!(validate("{}").is_ok());
        assert!(validate(r#"{"ecs":false}"#).is_ok());
        assert!(validate("").is_ok());
        assert!(
            validate(r#"{"x":1}"#)
                .unwrap_err()
                .contains("unknown option `x`")
        );
        assert!(validate("[]").is_err());
        let (info, schema) = weir_plugin_sdk::testing::checked_info::<Route53Resolver>();
        assert_eq!(info.date_fields, ["@timestamp", "query_timestamp"]);
        assert_eq!(schema["properties"]["ecs"]["default"], true);
        assert_eq!(
            info.index_properties,
            [weir_plugin_sdk::ecs::INDEX_PROPERTIES]
        );
    }

    #[test]
    fn ecs_fields_of_a_query_log() {
        let d = ok_docs(super::transform_record(AWSDOCS, true));
        let b = weir_plugin_sdk::testing::body(&d[0]);
        assert_eq!(
            b["event"],
            serde_json::json!({"kind": "event", "category": ["network"], "type": ["protocol"],
                "action": "block", "dataset": "aws.route53_resolver_logs"})
        );
        assert_eq!(
            b["dns"],
            serde_json::json!({"question": {"name": "15.3.4.32.in-addr.arpa.", "type": "PTR"},
                "response_code": "NOERROR"})
        );
        assert_eq!(
            b["network"],
            serde_json::json!({"transport": "udp", "protocol": "dns"})
        );
        assert_eq!(b["source"]["ip"], "4.5.64.102");
        assert_eq!(b["source"]["port"], 56067);
        assert_eq!(b["cloud"]["account"]["id"], "111122223333");
        assert_eq!(
            b["related"],
            serde_json::json!({"ip": ["4.5.64.102", "203.0.113.9"]})
        );
        // ecs off: the body as before
        let mut on = b.clone();
        for root in weir_plugin_sdk::ecs::ROOTS {
            on.as_object_mut().unwrap().shift_remove(root);
        }
        let off = ok_docs(transform_record(AWSDOCS));
        assert_eq!(on, weir_plugin_sdk::testing::body(&off[0]));
    }

    #[test]
    fn odd_ecs_values_never_fail_a_log() {
        let log = r#"{"query_timestamp":"2021-12-11T22:46:23Z","query_name":"a.","query_type":"A","srcaddr":"999.1.1.1","srcport":"99999","answers":5,"dns":1}"#;
        let d = ok_docs(super::transform_record(log.as_bytes(), true));
        // `answers` is not a list: no ECS fields at all
        assert_eq!(d[0].body, ok_docs(transform_record(log.as_bytes()))[0].body);
        let log = log.replace(r#""answers":5"#, r#""answers":[{"Rdata":"x."}]"#);
        let b = weir_plugin_sdk::testing::body(
            &ok_docs(super::transform_record(log.as_bytes(), true))[0],
        );
        assert_eq!(b["source"], serde_json::json!({"address": "999.1.1.1"}));
        assert_eq!(b["dns"], 1);
        assert!(b.get("related").is_none());
        assert_eq!(b["event"]["dataset"], "aws.route53_resolver_logs");
    }

    weir_plugin_sdk::golden_test!(Route53Resolver, "route53-resolver");
}
