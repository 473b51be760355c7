use super::*;
use serde_json::json;
use weir_plugin_sdk::testing::{body, failed, gzip, iso_time, ok_docs};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            "../../../tests/fixtures/plugins/cloudwatch-logs/",
            $name
        ))
    };
}

/// Every fixture: (name, bytes, records-per-line).
const FIXTURES: &[(&str, &[u8], bool)] = &[
    (
        "aws-lambda-go_cloudwatch-logs-event",
        fixture!("aws-lambda-go_cloudwatch-logs-event.in"),
        false,
    ),
    (
        "aws-lambda-go_cloudwatch-logs-payload",
        fixture!("aws-lambda-go_cloudwatch-logs-payload.in"),
        false,
    ),
    (
        "awsdocs_records_ec2-CreateKeyPair",
        fixture!("awsdocs_records_ec2-CreateKeyPair.in"),
        false,
    ),
    (
        "awsdocs_records_ec2-StartInstances",
        fixture!("awsdocs_records_ec2-StartInstances.in"),
        false,
    ),
    (
        "awsdocs_records_ec2-StopInstances",
        fixture!("awsdocs_records_ec2-StopInstances.in"),
        false,
    ),
    (
        "awsdocs_records_error-code-message-UpdateTrail",
        fixture!("awsdocs_records_error-code-message-UpdateTrail.in"),
        false,
    ),
    (
        "awsdocs_records_iam-AddUserToGroup",
        fixture!("awsdocs_records_iam-AddUserToGroup.in"),
        false,
    ),
    (
        "awsdocs_records_iam-CreateRole-invalid-control-char",
        fixture!("awsdocs_records_iam-CreateRole-invalid-control-char.in"),
        false,
    ),
    (
        "awsdocs_records_iam-CreateUser",
        fixture!("awsdocs_records_iam-CreateUser.in"),
        false,
    ),
    (
        "awsdocs_records_insights-event",
        fixture!("awsdocs_records_insights-event.in"),
        false,
    ),
    (
        "awsdocs_subscription-data-message-kinesis-example",
        fixture!("awsdocs_subscription-data-message-kinesis-example.in"),
        false,
    ),
    (
        "data-prepper_cloudwatch-logs-sample",
        fixture!("data-prepper_cloudwatch-logs-sample.in"),
        false,
    ),
    (
        "derived_otel_cloudtrail_log",
        fixture!("derived_otel_cloudtrail_log.in"),
        false,
    ),
    (
        "derived_otel_cloudtrail_log_cw",
        fixture!("derived_otel_cloudtrail_log_cw.in"),
        false,
    ),
    (
        "elastic_test-console-login-json",
        fixture!("elastic_test-console-login-json.lines.in"),
        true,
    ),
    (
        "otel_cloudtrail_digest",
        fixture!("otel_cloudtrail_digest.in"),
        false,
    ),
    (
        "otel_cloudtrail_log",
        fixture!("otel_cloudtrail_log.in"),
        false,
    ),
    (
        "otel_cloudtrail_log_cw",
        fixture!("otel_cloudtrail_log_cw.in"),
        false,
    ),
    (
        "otel_extracted_fields_both",
        fixture!("otel_extracted_fields_both.in"),
        false,
    ),
    (
        "otel_valid_cloudwatch_log_control",
        fixture!("otel_valid_cloudwatch_log_control.in"),
        false,
    ),
    (
        "vector_control-message",
        fixture!("vector_control-message.in"),
        false,
    ),
    (
        "vector_cue_firehose-record",
        fixture!("vector_cue_firehose-record.in"),
        false,
    ),
];

fn fixture(name: &str) -> &'static [u8] {
    FIXTURES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, b, _)| *b)
        .unwrap()
}

/// Without ECS fields: the documents as before they existed.
fn run(record: &[u8]) -> Outcome {
    transform_record(record, &no_ecs())
}

fn no_ecs() -> Config {
    Config {
        ecs: false,
        ..Config::default()
    }
}

#[allow(clippy::disallowed_types)] // test oracle only
fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn data_message_gives_lambda_compatible_documents() {
    let d = ok_docs(run(fixture("aws-lambda-go_cloudwatch-logs-payload")));
    assert_eq!(d.len(), 2);
    assert_eq!(
        d[0].body,
        r#"{"@id":"eventId1","@timestamp":"2015-08-24T19:03:07.000Z","@message":"[ERROR] First test message","@owner":"123456789123","@log_group":"testLogGroup","@log_stream":"testLogStream"}"#
    );
    assert_eq!(d[0].id.as_deref(), Some("eventId1"));
    assert_eq!(d[0].index.as_deref(), Some("cwl-2015.08.24"));
    assert_eq!(d[0].timestamp_ms, Some(1_440_442_987_000));
    assert_eq!(d[1].id.as_deref(), Some("eventId2"));
    assert_eq!(body(&d[1])["@timestamp"], "2015-08-24T19:03:07.001Z");
}

#[test]
fn json_messages_are_merged_verbatim_after_the_at_fields() {
    let raw = fixture("vector_cue_firehose-record");
    let payload: Value = serde_json::from_slice(&gunzip(raw)).unwrap();
    let d = ok_docs(run(raw));
    assert_eq!(d.len(), 2);
    for (doc, event) in d.iter().zip(payload["logEvents"].as_array().unwrap()) {
        let msg = event["message"].as_str().unwrap();
        let b = body(doc);
        assert_eq!(b["@message"], msg);
        assert_eq!(b["@id"], event["id"]);
        assert_eq!(b["@owner"], "111111111111");
        assert_eq!(b["@log_group"], "test");
        // the message's fields, in order, after the @ fields
        let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..6],
            [
                "@id",
                "@timestamp",
                "@message",
                "@owner",
                "@log_group",
                "@log_stream"
            ]
        );
        let parsed: Value = serde_json::from_str(msg).unwrap();
        let msg_keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
        assert_eq!(keys[6..], msg_keys[..]);
        for (k, v) in parsed.as_object().unwrap() {
            assert_eq!(&b[k], v);
        }
        // spliced as the message's own text
        assert!(doc.body.ends_with(&format!(",{}", &msg[1..])));
        assert_eq!(doc.index.as_deref(), Some("cwl-2020.09.14"));
    }
    assert_eq!(body(&d[0])["bytes"], 26780);
    assert_eq!(body(&d[1])["user-identifier"], "feeney1708");
}

#[test]
fn cloudtrail_through_cloudwatch_logs() {
    for raw in [
        fixture("otel_cloudtrail_log_cw"),
        fixture("derived_otel_cloudtrail_log_cw"),
    ] {
        let d = ok_docs(run(raw));
        assert_eq!(d.len(), 1);
        let b = body(&d[0]);
        assert_eq!(b["@id"], "eventId1", "the log event's id stays in @id");
        // Keyed and dated by the CloudTrail event, not by its delivery.
        assert_eq!(b["@timestamp"], "2026-01-28T09:26:59.000Z");
        assert_eq!(b["@log_group"], "/aws/cloudtrail/logs");
        assert_eq!(b["eventName"], "PutObject");
        assert_eq!(b["eventTime"], "2026-01-28T09:26:59Z");
        assert_eq!(b["eventID"], "5cb53c22-36b5-3ca3-a389-dae3eec919df");
        assert_eq!(b["additionalEventData"]["bytesTransferredIn"], 576);
        assert_eq!(
            serde_json::from_str::<Value>(b["@message"].as_str().unwrap()).unwrap()["eventName"],
            "PutObject"
        );
        assert_eq!(
            d[0].id.as_deref(),
            Some("5cb53c22-36b5-3ca3-a389-dae3eec919df")
        );
        assert_eq!(d[0].index.as_deref(), Some("cwl-2026.01.28"));
        assert_eq!(d[0].timestamp_ms, Some(1_769_592_419_000));
    }
}

#[test]
fn truncated_json_messages_stay_in_at_message_only() {
    for name in [
        "awsdocs_subscription-data-message-kinesis-example",
        "data-prepper_cloudwatch-logs-sample",
    ] {
        let d = ok_docs(run(fixture(name)));
        assert_eq!(d.len(), 3);
        for doc in &d {
            let b = body(doc);
            assert_eq!(b.as_object().unwrap().len(), 6, "{name}");
            assert!(
                b["@message"]
                    .as_str()
                    .unwrap()
                    .starts_with("{\"eventVersion\"")
            );
            assert!(
                doc.id
                    .as_deref()
                    .unwrap()
                    .starts_with("319531066069669833788090250798042111432896154242982215")
            );
            assert_eq!(doc.index.as_deref(), Some("cwl-2015.05.28"));
        }
    }
}

#[test]
fn extracted_fields_are_kept_as_an_object() {
    let d = ok_docs(run(fixture("otel_extracted_fields_both")));
    assert_eq!(d.len(), 1);
    assert_eq!(
        body(&d[0]),
        json!({
            "@id": "38480917865042697267627490045603633139480491071049695232",
            "@timestamp": "2024-09-05T13:47:15.523Z",
            "@message": "Hello world, here is our first log message!",
            "@owner": "123456789012",
            "@log_group": "test-log-group",
            "@log_stream": "test-log-stream",
            "@extracted_fields": {"@aws.account": "999888777666", "@aws.region": "us-west-2"}
        })
    );
    assert_eq!(d[0].index.as_deref(), Some("cwl-2024.09.05"));
}

#[test]
fn control_messages_and_digests_are_dropped() {
    for name in [
        "otel_valid_cloudwatch_log_control",
        "vector_control-message",
        "otel_cloudtrail_digest",
    ] {
        assert!(matches!(run(fixture(name)), Outcome::Dropped), "{name}");
        assert!(
            matches!(run(&gzip(fixture(name))), Outcome::Dropped),
            "{name} gz"
        );
    }
}

#[test]
fn cloudtrail_log_files_give_one_document_per_record() {
    let raw = fixture("otel_cloudtrail_log");
    let file: Value = serde_json::from_slice(raw).unwrap();
    let records = file["Records"].as_array().unwrap();
    for raw in [raw, fixture("derived_otel_cloudtrail_log")] {
        let d = ok_docs(run(raw));
        assert_eq!(d.len(), 7);
        for (doc, record) in d.iter().zip(records) {
            // `@timestamp` (eventTime as ISO with milliseconds), then the record
            let iso = weir_plugin_sdk::epoch_ms_to_iso(doc.timestamp_ms.unwrap()).unwrap();
            let record_text = serde_json::to_string(record).unwrap();
            assert_eq!(
                doc.body,
                format!(r#"{{"@timestamp":"{iso}",{}"#, &record_text[1..])
            );
            assert_eq!(doc.id.as_deref(), record["eventID"].as_str());
            assert_eq!(
                doc.timestamp_ms,
                weir_plugin_sdk::iso_to_epoch_ms(record["eventTime"].as_str().unwrap())
            );
            assert_eq!(doc.index, None);
        }
    }
}

#[test]
fn awsdocs_cloudtrail_records() {
    let d = ok_docs(run(fixture(
        "awsdocs_records_error-code-message-UpdateTrail",
    )));
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].id.as_deref(),
        Some("b7d4398e-b2f0-4faa-9c76-e2d316a8d67f")
    );
    assert_eq!(iso_time(&d[0]), "2016-07-14T19:15:45.000Z");
    assert_eq!(body(&d[0])["responseElements"], Value::Null);
    // old records have no eventID: the host derives the id
    let d = ok_docs(run(fixture("awsdocs_records_ec2-CreateKeyPair")));
    assert_eq!((d.len(), d[0].id.as_deref()), (1, None));
    assert_eq!(
        body(&d[0])["responseElements"]["keyMaterial"],
        "<sensitiveDataRemoved>"
    );
    assert_eq!(
        ok_docs(run(fixture("awsdocs_records_insights-event"))).len(),
        2
    );
    for name in [
        "awsdocs_records_ec2-StartInstances",
        "awsdocs_records_ec2-StopInstances",
        "awsdocs_records_iam-AddUserToGroup",
        "awsdocs_records_iam-CreateUser",
    ] {
        let d = ok_docs(run(fixture(name)));
        assert_eq!(d.len(), 1, "{name}");
        assert!(d[0].timestamp_ms.is_some(), "{name}");
    }
    let reason = failed(run(fixture(
        "awsdocs_records_iam-CreateRole-invalid-control-char",
    )));
    assert!(
        reason.contains("invalid JSON") && reason.contains("control character"),
        "{reason}"
    );
}

#[test]
fn single_cloudtrail_events_per_line() {
    let text = std::str::from_utf8(fixture("elastic_test-console-login-json")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let d = ok_docs(run(line.as_bytes()));
        assert_eq!(d.len(), 1);
        let iso = weir_plugin_sdk::epoch_ms_to_iso(d[0].timestamp_ms.unwrap()).unwrap();
        assert_eq!(
            d[0].body,
            format!(r#"{{"@timestamp":"{iso}",{}"#, &line[1..])
        );
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(d[0].id.as_deref(), v["eventID"].as_str());
        assert_eq!(
            d[0].timestamp_ms,
            weir_plugin_sdk::iso_to_epoch_ms(v["eventTime"].as_str().unwrap())
        );
        assert_eq!(d[0].index, None);
    }
    // the whole file as one record (NDJSON)
    assert_eq!(ok_docs(run(text.as_bytes())).len(), 3);
}

#[test]
fn a_bare_event_is_accepted_as_inside_records() {
    // eventVersion, or eventTime, or eventSource with eventName: each marks an event.
    for event in [
        r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"e1"}"#,
        r#"{"eventVersion":"1.08","eventID":"e1"}"#,
        r#"{"eventTime":"2021-01-01T00:00:00Z","eventID":"e1"}"#,
    ] {
        let bare = ok_docs(run(event.as_bytes()));
        let wrapped = ok_docs(run(format!(r#"{{"Records":[{event}]}}"#).as_bytes()));
        assert_eq!(bare.len(), 1, "{event}");
        assert_eq!(bare[0].body, wrapped[0].body, "{event}");
        // verbatim, after `@timestamp` when there is a time
        assert!(bare[0].body.ends_with(&event[1..]), "{event}");
        assert_eq!(bare[0].id, wrapped[0].id, "{event}");
        assert_eq!(bare[0].timestamp_ms, wrapped[0].timestamp_ms, "{event}");
    }
    // eventSource alone is not enough
    let reason = failed(run(br#"{"eventSource":"iam.amazonaws.com"}"#));
    assert!(reason.contains("neither"), "{reason}");
}

#[test]
fn a_lambda_event_gets_a_hint() {
    let reason = failed(run(fixture("aws-lambda-go_cloudwatch-logs-event")));
    assert!(reason.contains("awslogs.data"), "{reason}");
}

#[test]
fn every_fixture_gives_json_object_bodies() {
    let mut total = 0;
    for (name, bytes, per_line) in FIXTURES {
        let records: Vec<&[u8]> = if *per_line {
            bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect()
        } else {
            vec![bytes]
        };
        for record in records {
            if let Outcome::Ok(d) = run(record) {
                for doc in d {
                    assert!(body(&doc).is_object(), "{name}");
                    if let Some(index) = &doc.index {
                        weir_plugin_sdk::check_index_name(index).unwrap();
                    }
                    total += 1;
                }
            }
        }
    }
    // 2 + 8 (awsdocs) + 3 + 3 + 7 + 1 + 3 + 7 + 1 + 1 + 2
    assert_eq!(total, 38);
}

#[test]
fn message_fields_rules() {
    assert_eq!(message_fields("plain text"), None);
    assert_eq!(message_fields("{}"), None);
    assert_eq!(message_fields("{ }\n"), None);
    assert_eq!(message_fields("{\"a\":"), None);
    assert_eq!(message_fields("{\"a\":1} trailing"), None);
    assert_eq!(message_fields("{\"a\":1}{\"b\":2}"), None);
    assert_eq!(message_fields("{\"a\":1}").as_deref(), Some("\"a\":1"));
    assert_eq!(
        message_fields("{ \"a\" : [1, {\"b\":null}] }\n").as_deref(),
        Some("\"a\" : [1, {\"b\":null}]")
    );
    // like the Lambda: the JSON may start after a prefix
    assert_eq!(
        message_fields("2024-01-01 INFO {\"a\":\"x\"}").as_deref(),
        Some("\"a\":\"x\"")
    );
    // reserved names are left out, duplicates keep the last value, order kept
    assert_eq!(
        message_fields(r#"{"@id":"x","b":1,"@timestamp":"y","a":2}"#).as_deref(),
        Some(r#""b":1,"a":2"#)
    );
    assert_eq!(
        message_fields(r#"{"\u0040message":"x","a":2}"#).as_deref(),
        Some(r#""a":2"#)
    );
    assert_eq!(
        message_fields(r#"{"a":1,"b":2,"a":3}"#).as_deref(),
        Some(r#""a":3,"b":2"#)
    );
    assert_eq!(message_fields(r#"{"@log_group":1}"#), None);
    // escapes stay as written when spliced
    assert_eq!(
        message_fields(r#"{"a":"\u003c"}"#).as_deref(),
        Some(r#""a":"\u003c""#)
    );
    // many keys: the sorted duplicate check
    let many: String = (0..100)
        .map(|i| format!("\"k{i}\":{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        message_fields(&format!("{{{many}}}")).as_deref(),
        Some(many.as_str())
    );
    let dup = format!("{{{many},\"k5\":0}}");
    assert!(!message_fields(&dup).unwrap().contains("\"k5\":5"));
}

#[test]
fn message_fields_never_overwrite_the_at_fields() {
    let payload = json!({
        "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
        "logEvents": [{"id": "e1", "timestamp": 0,
                       "message": r#"{"@id":"evil","@owner":"evil","x":1}"#}]
    });
    let d = ok_docs(run(payload.to_string().as_bytes()));
    let b = body(&d[0]);
    assert_eq!(b["@id"], "e1");
    assert_eq!(b["@owner"], "1");
    assert_eq!(b["x"], 1);
    assert_eq!(b.as_object().unwrap().len(), 7);
    assert_eq!(d[0].index.as_deref(), Some("cwl-1970.01.01"));
}

#[test]
fn odd_but_acceptable_events() {
    // numeric id, float timestamp, missing owner/group/stream, empty id
    let payload = json!({
        "messageType": "DATA_MESSAGE",
        "logEvents": [
            {"id": 42, "timestamp": 1000.0, "message": "a"},
            {"id": "", "timestamp": 2000, "message": "b", "extractedFields": null}
        ]
    });
    let d = ok_docs(run(payload.to_string().as_bytes()));
    assert_eq!(
        d[0].body,
        r#"{"@id":"42","@timestamp":"1970-01-01T00:00:01.000Z","@message":"a"}"#
    );
    assert_eq!(d[0].id.as_deref(), Some("42"));
    assert_eq!(
        d[1].body,
        r#"{"@timestamp":"1970-01-01T00:00:02.000Z","@message":"b"}"#
    );
    assert_eq!(d[1].id, None);
    // a DATA_MESSAGE with no events gives no documents
    let empty = json!({"messageType": "DATA_MESSAGE", "logEvents": []});
    assert!(ok_docs(run(empty.to_string().as_bytes())).is_empty());
}

#[test]
fn several_objects_in_one_record() {
    let control = std::str::from_utf8(fixture("vector_control-message")).unwrap();
    let data = String::from_utf8(gunzip(fixture("aws-lambda-go_cloudwatch-logs-payload"))).unwrap();
    let both = format!("{control}\n{data}\n");
    assert_eq!(ok_docs(run(both.as_bytes())).len(), 2);
    let controls = format!("{control}{control}");
    assert!(matches!(run(controls.as_bytes()), Outcome::Dropped));
    // two gzip members
    let mut two = gzip(data.as_bytes());
    two.extend(gzip(data.as_bytes()));
    assert_eq!(ok_docs(run(&two)).len(), 4);
    let bad = format!("{data}\n[]");
    assert!(failed(run(bad.as_bytes())).starts_with("JSON object 2 of the record"));
}

#[test]
fn custom_index_prefix() {
    let cfg = parse_config(r#"{"index_prefix":"logs-cloudtrail-"}"#).unwrap();
    let d = ok_docs(transform_record(
        fixture("aws-lambda-go_cloudwatch-logs-payload"),
        &cfg,
    ));
    assert_eq!(d[0].index.as_deref(), Some("logs-cloudtrail-2015.08.24"));
    let cfg = parse_config(r#"{"index_prefix":""}"#).unwrap();
    let d = ok_docs(transform_record(
        fixture("aws-lambda-go_cloudwatch-logs-payload"),
        &cfg,
    ));
    assert_eq!(d[0].index.as_deref(), Some("2015.08.24"));
    assert_eq!(
        event_index("cwl-", "2019-12-13T23:40:12.771Z"),
        "cwl-2019.12.13"
    );
}

#[test]
fn config_is_checked() {
    assert_eq!(parse_config("{}").unwrap(), Config::default());
    assert_eq!(parse_config("").unwrap(), Config::default());
    for (config, want) in [
        (r#"{"index_prefix":"CWL-"}"#, "index_prefix"),
        (r#"{"index_prefix":"_cwl"}"#, "not make a valid index name"),
        (r#"{"index_prefix":"a:b"}"#, "not make a valid index name"),
        (r#"{"index_prefix":1}"#, "`index_prefix`: invalid type"),
        (r#"{"prefix":"x"}"#, "unknown option `prefix`"),
        ("[]", "must be a JSON object"),
    ] {
        let reason =
            weir_plugin_sdk::testing::validate_config::<CloudWatchLogs>(config).unwrap_err();
        assert!(reason.contains(want), "{config}: {reason}");
    }
}

#[test]
fn info() {
    let (info, schema) = weir_plugin_sdk::testing::checked_info::<CloudWatchLogs>();
    assert_eq!(info.date_fields, ["@timestamp", "eventTime"]);
    assert_eq!(
        schema["properties"]["index_prefix"]["default"],
        DEFAULT_INDEX_PREFIX
    );
    assert_eq!(schema["properties"]["ecs"]["default"], true);
    assert_eq!(info.index_properties, INDEX_PROPERTIES);
    assert!(parse_config(r#"{"ecs":false,"index_prefix":"ct-"}"#).is_ok());
}

weir_plugin_sdk::golden_test!(CloudWatchLogs, "cloudwatch-logs");

#[test]
fn bad_records_fail_with_a_reason() {
    weir_plugin_sdk::testing::assert_refuses_bad_records(run);
    let f = |v: Value| failed(run(v.to_string().as_bytes()));
    assert!(failed(run(b"{\"messageType\":")).contains("invalid JSON"));
    assert!(failed(run(b"[1]")).contains("got an array"));
    assert!(f(json!({"a": 1})).contains("neither a CloudWatch Logs subscription payload"));
    assert!(f(json!({"messageType": "OTHER"})).contains("unknown messageType \"OTHER\""));
    assert!(f(json!({"messageType": 3})).contains("`messageType` must be a string, got a number"));
    assert!(f(json!({"logEvents": []})).contains("without `messageType`"));
    assert!(f(json!({"messageType": "DATA_MESSAGE"})).contains("without `logEvents`"));
    assert!(
        f(json!({"messageType": "DATA_MESSAGE", "logEvents": {}}))
            .contains("unexpected JSON shape")
    );
    assert!(
        f(json!({"messageType": "DATA_MESSAGE", "owner": 1, "logEvents": []}))
            .contains("`owner` must be a string")
    );
    let ev = |e: Value| f(json!({"messageType": "DATA_MESSAGE", "logEvents": [e]}));
    assert!(ev(json!({"id": "1", "message": "m"})).contains("logEvents[0]: missing `timestamp`"));
    assert!(
        ev(json!({"id": "1", "timestamp": "1000", "message": "m"}))
            .contains("got the string \"1000\"")
    );
    assert!(ev(json!({"id": "1", "timestamp": -1, "message": "m"})).contains("within 1970..=9999"));
    assert!(
        ev(json!({"id": "1", "timestamp": 1.5, "message": "m"})).contains("within 1970..=9999")
    );
    assert!(ev(json!({"id": "1", "timestamp": [], "message": "m"})).contains("got an array"));
    assert!(ev(json!({"id": "1", "timestamp": 0})).contains("missing `message`"));
    assert!(
        ev(json!({"id": "1", "timestamp": 0, "message": {"a": 1}}))
            .contains("`message` must be a string, got an object")
    );
    assert!(
        ev(json!({"id": {}, "timestamp": 0, "message": "m"})).contains("`id` must be a string")
    );
    assert!(f(json!({"Records": {}})).contains("unexpected JSON shape"));
    assert!(
        f(json!({"Records": [1]}))
            .contains("Records[0]: a CloudTrail record must be a JSON object")
    );
    assert!(failed(run(br#"{"a":1,"a":2}"#)).contains("neither"));
    assert!(
        failed(run(
            br#"{"owner":"a","owner":"b","messageType":"CONTROL_MESSAGE"}"#
        ))
        .contains("duplicate field")
    );
}
