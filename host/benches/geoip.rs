//! GeoIP lookups, as printed reports (never assertions): an address read
//! from the databases (the City and ASN test databases, mapped and warm)
//! against one the process has answered before (kept,
//! [`weir::geoip::ANSWERS_KEPT`]), and a private address (never looked up).
//!
//! `cargo bench -p weir --bench geoip`

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use weir::geoip::GeoIp;

fn open() -> GeoIp {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/geoip");
    GeoIp::open(
        Some(&dir.join("GeoIP2-City-Test.mmdb")),
        Some(&dir.join("GeoLite2-ASN-Test.mmdb")),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    // SE, Linköping, AS29518: every part of the answer is set
    let ip = "89.160.20.128";
    let mut group = c.benchmark_group("geoip");
    let kept = open();
    group.bench_function("read from the databases", |b| {
        b.iter(|| black_box(kept.lookup_uncached(black_box(ip))));
    });
    assert!(kept.lookup(ip).is_some());
    group.bench_function("kept (met before)", |b| {
        b.iter(|| black_box(kept.lookup(black_box(ip))));
    });
    group.bench_function("private (not looked up)", |b| {
        b.iter(|| black_box(kept.lookup(black_box("10.1.2.3"))));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
