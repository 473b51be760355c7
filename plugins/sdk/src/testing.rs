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
