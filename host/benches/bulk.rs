//! `_bulk` costs, as printed reports (never assertions):
//! - `bulk/encode`: NDJSON encoding of 10,000 WAF documents (~1 KB each);
//! - `bulk/index_null`: the whole sink path (batcher, encode, HTTP, parse
//!   per-item results) against a null `_bulk` endpoint on loopback that
//!   answers every item 201: the host's own cost;
//! - `bulk/index_opensearch`: the same into the real node, when
//!   `OPENSEARCH_URL` is set (`eval "$(tests/services up)"`).
//!
//! `cargo bench -p weir --bench bulk`

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use weir::config::SinkConfig;
use weir::sink::opensearch::{BulkDoc, OpenSearchSink, bulk};

const DOCS: usize = 10_000;

fn docs(index: &str) -> Vec<BulkDoc> {
    let sample = include_str!("../../tests/fixtures/plugins/waf/elastic_test-waf.lines.in");
    let lines: Vec<&str> = sample.lines().filter(|l| !l.trim().is_empty()).collect();
    (0..DOCS)
        .map(|i| BulkDoc {
            index: index.to_string(),
            id: format!("bench-{i}"),
            body: lines[i % lines.len()].to_string(),
        })
        .collect()
}

fn sink(url: &str) -> OpenSearchSink {
    let SinkConfig::OpenSearch(mut cfg) = SinkConfig::opensearch_at(url, "unused") else {
        unreachable!()
    };
    cfg.bulk_max_age = Duration::ZERO;
    cfg.bulk_max_documents = DOCS;
    // Dead letters (none expected against the null endpoint) to a temp dir.
    let dead_letters = weir::sink::directory::DirectorySink::open(
        &std::env::temp_dir().join(format!("weir-bench-bulk-{}", std::process::id())),
    )
    .unwrap();
    OpenSearchSink::open(cfg, Vec::new(), std::sync::Arc::new(dead_letters)).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Elements(DOCS as u64));
    g.sample_size(20);

    let encode_docs = docs("waf");
    let bytes: usize = {
        let mut out = Vec::new();
        bulk::encode(&encode_docs, &mut out);
        out.len()
    };
    eprintln!("bulk: {DOCS} documents, {bytes} bytes of NDJSON");
    g.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(bytes);
        b.iter(|| {
            out.clear();
            bulk::encode(black_box(&encode_docs), &mut out);
            black_box(out.len())
        })
    });

    let null = rt.block_on(weir_load::null_bulk_server()).unwrap();
    let null_sink = rt.block_on(async { sink(&null) });
    g.bench_function("index_null", |b| {
        b.iter_batched(
            || docs("waf"),
            |d| rt.block_on(null_sink.index(d)).unwrap(),
            BatchSize::LargeInput,
        )
    });

    if let Ok(url) = std::env::var("OPENSEARCH_URL") {
        let os_sink = rt.block_on(async { sink(&url) });
        g.sample_size(10);
        g.bench_function("index_opensearch", |b| {
            b.iter_batched(
                || docs("weir-bench-bulk"),
                |d| rt.block_on(os_sink.index(d)).unwrap(),
                BatchSize::LargeInput,
            )
        });
    } else {
        eprintln!("bulk/index_opensearch skipped: OPENSEARCH_URL is not set");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
