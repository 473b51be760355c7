//! Plugin sandbox costs, as printed reports (never assertions):
//! - `instantiate_call_drop/empty`: a fresh instance per batch, `transform`
//!   on an empty batch, drop: the fixed per-batch price of the sandbox.
//! - `waf_500/{wasm,native}`: 500 WAF logs (~1 KB each) through the
//!   embedded component vs the same Rust code called natively, in the same
//!   run, so the ratio is meaningful on a noisy machine.
//!
//! `cargo bench -p weir --bench sandbox`

#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir::config::PluginLimits;
use weir::plugin::{BatchContext, Runtime, builtin};

fn waf_records() -> Vec<Vec<u8>> {
    let sample = include_str!("../../tests/fixtures/plugins/waf/elastic_test-waf.lines.in");
    let lines: Vec<&str> = sample.lines().filter(|l| !l.trim().is_empty()).collect();
    (0..500)
        .map(|i| lines[i % lines.len()].as_bytes().to_vec())
        .collect()
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new(PluginLimits::default()).expect("runtime");
    let waf = runtime
        .load("builtin:waf", builtin("waf").expect("waf is built in"))
        .expect("waf loads");
    let ctx = BatchContext {
        tenant: "bench".into(),
        route: "waf".into(),
        request_id: "bench".into(),
        config: "{}".into(),
        ..BatchContext::default()
    };

    c.bench_function("instantiate_call_drop/empty", |b| {
        b.iter(|| black_box(waf.transform(&ctx, &[]).expect("ok")))
    });

    let records = waf_records();
    let bytes: usize = records.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("waf_500");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("wasm", |b| {
        b.iter(|| black_box(waf.transform(&ctx, &records).expect("ok")))
    });
    g.bench_function("native", |b| {
        b.iter(|| {
            black_box(
                records
                    .iter()
                    .map(|r| weir_plugin_waf::transform_record(r))
                    .collect::<Vec<_>>(),
            )
        })
    });
    g.finish();
    eprintln!(
        "waf_500: {} records, {bytes} bytes ({} bytes/record)",
        records.len(),
        bytes / records.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
