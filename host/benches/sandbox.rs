//! Plugin sandbox costs, as printed reports (never assertions):
//! - `instantiate_call_drop/empty`: a fresh instance per batch, `transform`
//!   on an empty batch, drop: the fixed per-batch price of the sandbox.
//! - `<plugin>/{wasm,native}`: a 500-record batch built from the plugin's
//!   sample fixtures, through the embedded component (fresh instance per
//!   batch) and through the same Rust code called natively, in the same
//!   run, so the ratio is meaningful on a noisy machine.
//! - `waf-ecs/{wasm,native}-{off,on}`: the same WAF batch with the ECS
//!   fields off and on (on: with the GeoIP test databases in the sandbox;
//!   natively GeoIP answers nothing), so that what ECS costs per record
//!   is measured in the sandbox and out of it, in the same run (issue #12).
//!
//! `cargo bench -p weir --bench sandbox`

#![allow(clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir::config::PluginLimits;
use weir::plugin::{BatchContext, Runtime};

/// 500 records cycled from the plugin's fixtures that it turns into documents.
fn batch(plugin: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/plugins")
        .join(plugin);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".in"))
        .filter(|p| !p.to_string_lossy().contains("as-published"))
        .filter(|p| !p.with_extension("").with_extension("config.json").exists())
        .collect();
    files.sort();
    let mut records = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).expect("fixture");
        if f.to_string_lossy().ends_with(".lines.in") {
            records.extend(weir_load::non_blank_lines(&bytes));
        } else {
            records.push(bytes);
        }
    }
    assert!(!records.is_empty());
    (0..500)
        .map(|i| records[i % records.len()].clone())
        .collect()
}

type Native = Box<dyn Fn(&[u8]) -> usize>;

/// The documents of an outcome (none unless it is `Ok`).
fn docs(o: weir_plugin_sdk::Outcome) -> usize {
    match o {
        weir_plugin_sdk::Outcome::Ok(d) => d.len(),
        _ => 0,
    }
}

fn native(plugin: &str) -> Native {
    match plugin {
        "waf" => Box::new(|r| docs(weir_plugin_waf::transform_record(r, true))),
        "route53-resolver" => {
            Box::new(|r| docs(weir_plugin_route53_resolver::transform_record(r, true)))
        }
        "cloudwatch-logs" => {
            let c = weir_plugin_cloudwatch_logs::parse_config("{}").expect("config");
            Box::new(move |r| docs(weir_plugin_cloudwatch_logs::transform_record(r, &c)))
        }
        "vpc-flow" => {
            let c = weir_plugin_vpc_flow::parse_config("{}").expect("config");
            Box::new(move |r| docs(weir_plugin_vpc_flow::transform_record(r, &c)))
        }
        "securityhub" => {
            let c = weir_plugin_securityhub::parse_config("{}").expect("config");
            Box::new(move |r| docs(weir_plugin_securityhub::transform_record(r, &c)))
        }
        other => panic!("{other}"),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new(PluginLimits::default()).expect("runtime");
    let ctx = BatchContext {
        tenant: "bench".into(),
        route: "bench".into(),
        request_id: "bench".into(),
        config: "{}".into(),
        ..BatchContext::default()
    };
    let waf = runtime
        .load(
            "builtin:waf",
            weir::builtin::bytes("waf").expect("waf is built in"),
        )
        .expect("waf loads");
    c.bench_function("instantiate_call_drop/empty", |b| {
        b.iter(|| black_box(waf.transform(&ctx, &[]).expect("ok")))
    });

    for name in [
        "waf",
        "cloudwatch-logs",
        "vpc-flow",
        "securityhub",
        "route53-resolver",
    ] {
        let plugin = runtime
            .load(name, weir::builtin::bytes(name).expect("built in"))
            .expect("loads");
        let records = batch(name);
        let bytes: usize = records.iter().map(Vec::len).sum();
        let f = native(name);
        let docs: usize = records.iter().map(|r| f(r)).sum();
        eprintln!(
            "{name}: {} records, {bytes} bytes, {docs} documents per batch",
            records.len()
        );
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(records.len() as u64));
        g.bench_function("wasm", |b| {
            b.iter(|| black_box(plugin.transform(&ctx, &records).expect("ok")))
        });
        g.bench_function("native", |b| {
            b.iter(|| black_box(records.iter().map(|r| f(r)).sum::<usize>()))
        });
        g.finish();
    }
}

/// WAF with the ECS fields off and on, in the sandbox and natively.
fn waf_ecs(c: &mut Criterion) {
    let runtime = Runtime::new(PluginLimits::default()).expect("runtime");
    let waf = runtime
        .load("waf", weir::builtin::bytes("waf").expect("built in"))
        .expect("loads");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/geoip");
    let geoip = std::sync::Arc::new(
        weir::geoip::GeoIp::open(
            Some(&dir.join("GeoIP2-City-Test.mmdb")),
            Some(&dir.join("GeoLite2-ASN-Test.mmdb")),
        )
        .expect("GeoIP test databases"),
    );
    let ctx = |config: &str| BatchContext {
        tenant: "bench".into(),
        route: "bench".into(),
        request_id: "bench".into(),
        config: config.into(),
        geoip: Some(geoip.clone()),
        ..BatchContext::default()
    };
    let (off, on) = (ctx(r#"{"ecs":false}"#), ctx("{}"));
    let no_geoip = BatchContext {
        geoip: None,
        ..ctx("{}")
    };
    // JSON made one line, as AWS writes it and as `weir-load` sends it
    let records: Vec<Vec<u8>> = batch("waf")
        .into_iter()
        .map(|r| match serde_json::from_slice::<serde_json::Value>(&r) {
            Ok(v) => v.to_string().into_bytes(),
            Err(_) => r,
        })
        .collect();
    let mut g = c.benchmark_group("waf-ecs");
    g.throughput(Throughput::Elements(records.len() as u64));
    for (name, ctx) in [
        ("wasm-off", &off),
        ("wasm-on", &on),
        ("wasm-on-no-geoip", &no_geoip),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(waf.transform(ctx, &records).expect("ok")))
        });
    }
    for (name, ecs) in [("native-off", false), ("native-on", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    records
                        .iter()
                        .map(|r| docs(weir_plugin_waf::transform_record(r, ecs)))
                        .sum::<usize>(),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, waf_ecs);
criterion_main!(benches);
