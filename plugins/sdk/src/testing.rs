//! Helpers for plugins' unit tests (the `testing` feature; enable it in a
//! plugin's `[dev-dependencies]`). Not part of the plugin API: they panic.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::{BatchContext, Document, Outcome};

/// The documents of an `Outcome::Ok`; panics on any other outcome.
pub fn ok_docs(outcome: Outcome) -> Vec<Document> {
    match outcome {
        Outcome::Ok(docs) => docs,
        other => panic!("expected ok, got {other:?}"),
    }
}

/// The reason of an `Outcome::Failed`; panics on any other outcome.
pub fn failed(outcome: Outcome) -> String {
    match outcome {
        Outcome::Failed(reason) => reason,
        other => panic!("expected failed, got {other:?}"),
    }
}

/// A document's body, parsed; panics when it is not JSON.
pub fn body(doc: &Document) -> serde_json::Value {
    serde_json::from_str(&doc.body).unwrap()
}

/// `data` gzipped (one member).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A batch context for `route` with the given plugin config.
pub fn batch_context(route: &str, config: &str) -> BatchContext {
    BatchContext {
        tenant: "t".into(),
        route: route.into(),
        request_id: "r".into(),
        source_arn: None,
        common_attributes: vec![],
        config: config.into(),
    }
}

/// Run a batch through plugin `P` as the host would (the exported
/// `transform`, config parsing included), with the given route config.
pub fn transform<P: crate::Plugin>(config: &str, records: &[&[u8]]) -> Vec<Outcome> {
    use crate::bindings::exports::weir::plugin::transform::Guest;
    let records = records.iter().map(|r| r.to_vec()).collect();
    crate::Exported::<P>::transform(batch_context("test", config), records)
}

/// Check a config as the host would (the exported `validate-config`).
pub fn validate_config<P: crate::Plugin>(config: &str) -> Result<(), String> {
    use crate::bindings::exports::weir::plugin::transform::Guest;
    crate::Exported::<P>::validate_config(config.to_string())
}

/// A document's event time as ISO-8601 (`2019-12-13T23:40:12.771Z`);
/// panics when it has none.
pub fn iso_time(doc: &Document) -> String {
    crate::epoch_ms_to_iso(doc.timestamp_ms.unwrap()).unwrap()
}

/// Check that `transform` (one record → its outcome) fails the records every
/// JSON plugin must refuse, with the usual reasons: empty or blank
/// (`empty record`), not UTF-8, bad gzip, a gzip bomb past
/// [`MAX_DECOMPRESSED_BYTES`](crate::MAX_DECOMPRESSED_BYTES) (`cap`), and text
/// that is not JSON (`invalid JSON`).
pub fn assert_refuses_bad_records(transform: impl Fn(&[u8]) -> Outcome) {
    let bomb = gzip(&vec![b' '; crate::MAX_DECOMPRESSED_BYTES + 1]);
    let cases: [(&[u8], &str); 7] = [
        (b"", "empty record"),
        (b" \n ", "empty record"),
        (b"\xff", "not UTF-8"),
        (b"\x1f\x8bnot gzip", "invalid gzip"),
        (&bomb, "cap"),
        (b"nope", "invalid JSON"),
        (b"{\"a\":", "invalid JSON"),
    ];
    for (record, reason) in cases {
        let got = failed(transform(record));
        assert!(got.contains(reason), "{reason:?} not in {got:?}");
    }
}

/// Run every golden case of `dir` through plugin `P` natively, as the host's
/// golden test does through the sandbox, and panic on any difference:
/// `<case>.in` is one record (`<case>.lines.in` one per non-empty line),
/// `<case>.config.json` the optional config, and `<case>.out.ndjson` one line
/// per outcome (`weir plugin run` format), compared byte for byte (with
/// `WEIR_UPDATE_GOLDEN` set, written instead, as the host's test does). See
/// [`golden_test!`](crate::golden_test).
pub fn assert_golden<P: crate::Plugin>(dir: &str) {
    let mut cases: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            path.to_string_lossy().ends_with(".in").then_some(path)
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases in {dir}");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&case).unwrap();
        let records: Vec<&[u8]> = match name.ends_with(".lines.in") {
            true => crate::lines(&bytes).collect(),
            false => vec![&bytes],
        };
        let stem = name.trim_end_matches(".in").trim_end_matches(".lines");
        let sibling =
            |ext: &str| std::fs::read_to_string(case.with_file_name(format!("{stem}{ext}")));
        let config = sibling(".config.json").unwrap_or_else(|_| "{}".to_string());
        let got: String = transform::<P>(&config, &records)
            .iter()
            .enumerate()
            .map(|(i, o)| run_line(i, o) + "\n")
            .collect();
        if std::env::var_os("WEIR_UPDATE_GOLDEN").is_some() {
            std::fs::write(case.with_file_name(format!("{stem}.out.ndjson")), &got).unwrap();
            continue;
        }
        let want = sibling(".out.ndjson").unwrap();
        assert!(want == got, "{name}:\n--- want\n{want}--- got\n{got}");
    }
}

/// One outcome as a line of `weir plugin run`.
fn run_line(record: usize, outcome: &Outcome) -> String {
    let (kind, detail) = match outcome {
        Outcome::Ok(docs) => (
            "ok",
            Some(("documents", docs.iter().map(doc_json).collect())),
        ),
        Outcome::Dropped => ("dropped", None),
        Outcome::Failed(reason) => ("failed", Some(("reason", reason.as_str().into()))),
    };
    let mut line = serde_json::json!({ "record": record, "outcome": kind });
    if let Some((key, value)) = detail {
        line[key] = value;
    }
    line.to_string()
}

/// A document as `weir plugin run` shows it (the body parsed when it is JSON).
fn doc_json(doc: &Document) -> serde_json::Value {
    let body = serde_json::from_str::<serde_json::Value>(&doc.body)
        .unwrap_or_else(|_| doc.body.clone().into());
    serde_json::json!({
        "index": doc.index, "id": doc.id, "timestamp_ms": doc.timestamp_ms, "body": body,
    })
}

/// A test that runs the golden cases of `tests/fixtures/plugins/<dir>` through
/// plugin `$plugin` natively ([`assert_golden`]). For a plugin crate under
/// `plugins/`: `weir_plugin_sdk::golden_test!(MyPlugin, "my-plugin");`
#[macro_export]
macro_rules! golden_test {
    ($plugin:ty, $dir:literal) => {
        #[test]
        fn golden_fixtures_match_natively() {
            $crate::testing::assert_golden::<$plugin>(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/plugins/",
                $dir
            ));
        }
    };
}

/// The plugin's [`Info`](crate::Info), checked: a name, its crate's version
/// (semver), when it has a config schema, one that is a JSON object
/// schema refusing unknown keys (returned parsed), and index properties
/// that are a JSON object.
pub fn checked_info<P: crate::Plugin>() -> (crate::Info, serde_json::Value) {
    let info = P::INFO;
    assert!(!info.name.is_empty());
    assert_eq!(info.version.split('.').count(), 3, "{}", info.version);
    let schema = info.config_schema.map_or(serde_json::Value::Null, |s| {
        let schema: serde_json::Value = serde_json::from_str(s).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        schema
    });
    for props in info.index_properties {
        let props: serde_json::Value = serde_json::from_str(props).unwrap();
        assert!(props.is_object(), "index_properties must be JSON objects");
    }
    (info, schema)
}

/// Check a plugin handles `logs` inside a CloudWatch Logs payload
/// ([`crate::cwl`]), plain and gzip: one document per log event, as the log
/// alone gives, with the log event's id (`e1`, `e2`, …); a `CONTROL_MESSAGE`
/// is dropped; a log event whose message is `{}` fails with
/// `logEvents[0]: <empty_reason>`.
pub fn assert_cwl_payloads(
    transform: impl Fn(&[u8]) -> Outcome,
    logs: &[&str],
    empty_reason: &str,
) {
    let events: Vec<serde_json::Value> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| serde_json::json!({"id": format!("e{}", i + 1), "timestamp": 1, "message": log}))
        .collect();
    let payload = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
        "subscriptionFilters": ["f"], "logEvents": events,
    })
    .to_string();
    for record in [payload.as_bytes().to_vec(), gzip(payload.as_bytes())] {
        let docs = ok_docs(transform(&record));
        assert_eq!(docs.len(), logs.len());
        for (i, (doc, log)) in docs.iter().zip(logs).enumerate() {
            let plain = ok_docs(transform(log.as_bytes()));
            assert_eq!(
                (&doc.body, doc.timestamp_ms),
                (&plain[0].body, plain[0].timestamp_ms)
            );
            assert_eq!(doc.id.as_deref(), Some(format!("e{}", i + 1).as_str()));
        }
    }
    let control = r#"{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}"#;
    assert!(matches!(transform(control.as_bytes()), Outcome::Dropped));
    let empty =
        r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"{}"}]}"#;
    assert_eq!(
        failed(transform(empty.as_bytes())),
        format!("logEvents[0]: {empty_reason}")
    );
}

/// Make [`geoip`](crate::geoip) answer `geo` for `ip` on this thread (natively;
/// the table starts empty, as a host without GeoIP databases).
pub fn set_geoip(ip: &str, geo: crate::Geo) {
    crate::enrich::native::TABLE.with(|t| t.borrow_mut().insert(ip.to_string(), geo));
    crate::ecs::clear_geoip_cache();
}

/// A [`Geo`](crate::Geo) with every part set, for tests.
pub fn sample_geo(
    country: &str,
    city: &str,
    lat: f64,
    lon: f64,
    asn: u32,
    org: &str,
) -> crate::Geo {
    crate::Geo {
        country_iso_code: Some(country.into()),
        city_name: Some(city.into()),
        location: Some(crate::Location { lat, lon }),
        as_number: Some(asn),
        as_organization: Some(org.into()),
    }
}
