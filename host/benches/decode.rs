//! Firehose request decoding, as printed reports (never assertions):
//! the envelope (JSON), base64 of every record, and gunzip of the body, for
//! a 500-record request of WAF logs, plain and `Content-Encoding: gzip`.
//!
//! `cargo bench -p weir --bench decode`

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::io::Write;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir::firehose::{Limits, RequestHeaders, decode_body};

const RECORDS: usize = 500;

fn body() -> (Vec<u8>, usize) {
    let sample = include_str!("../../tests/fixtures/plugins/waf/elastic_test-waf.lines.in");
    let logs: Vec<&str> = sample.lines().filter(|l| !l.trim().is_empty()).collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let records: Vec<&str> = (0..RECORDS).map(|i| logs[i % logs.len()]).collect();
    let bytes = records.iter().map(|r| r.len()).sum();
    let json = serde_json::json!({
        "requestId": "bench-0000",
        "timestamp": 1_700_000_000_000i64,
        "records": records.iter().map(|r| serde_json::json!({"data": b64.encode(r)})).collect::<Vec<_>>(),
    });
    (json.to_string().into_bytes(), bytes)
}

fn bench(c: &mut Criterion) {
    let (plain, record_bytes) = body();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gzipped = gz.finish().unwrap();
    eprintln!(
        "decode: {RECORDS} records, {record_bytes} record bytes, body {} bytes plain, {} gzip",
        plain.len(),
        gzipped.len()
    );
    let headers = |gzip| RequestHeaders {
        request_id: Some("bench-0000".into()),
        gzip,
        source_arn: None,
        common_attributes: Vec::new(),
    };
    let limits = Limits::default();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("plain", |b| {
        let h = headers(false);
        b.iter(|| black_box(decode_body(&h, black_box(&plain), &limits).unwrap()))
    });
    g.bench_function("gzip", |b| {
        let h = headers(true);
        b.iter(|| black_box(decode_body(&h, black_box(&gzipped), &limits).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
