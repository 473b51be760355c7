//! The fault matrix, small: `weir` (this package's binary) SIGKILLed
//! mid-batch and restarted, with the OpenSearch sink (the real node at
//! `$OPENSEARCH_URL`) and with the directory sink, then SIGTERMed under
//! load, and with one record in 50 conflicting with the index's mapping
//! (dead-lettered, counted as found); a Firehose-like sender of records with unique markers
//! (`weir_load::faults`) must see every record acknowledged, and every
//! marker must be found exactly once. The full matrix is
//! `weir-load --scenario faults` (RELIABILITY.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use weir_load::faults::{Fault, Options, Row, run};

/// Records per run: 20 requests of 100, so that each of the 4 kills
/// lands while requests are in flight.
const RECORDS: usize = 2000;

fn options(name: &str) -> Options {
    let dir = std::env::temp_dir().join(format!("weir-faults-{name}-{}", std::process::id()));
    Options {
        weir: env!("CARGO_BIN_EXE_weir").into(),
        opensearch: std::env::var("OPENSEARCH_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:9200".to_string()),
        records: RECORDS,
        per_request: 100,
        connections: 4,
        dir,
        deadline: Duration::from_secs(120),
        keep: false,
        s3: None,
    }
}

async fn run_clean(fault: Fault) -> Row {
    let o = options(fault.name());
    let row = run(fault, &o).await.unwrap();
    let _ = std::fs::remove_dir_all(&o.dir);
    println!("{}\n{}", Row::HEADER, row.markdown());
    assert_eq!(row.sent, RECORDS, "{row:?}");
    assert_eq!(
        row.acknowledged, RECORDS,
        "every record acknowledged: {row:?}"
    );
    assert_eq!(row.lost, 0, "nothing acknowledged is lost: {row:?}");
    assert_eq!(row.duplicated, 0, "nothing is stored twice: {row:?}");
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_sigterm_and_mapping_conflicts_lose_and_duplicate_nothing() {
    let started = Instant::now();
    let os = run_clean(Fault::KillOpenSearch).await;
    assert!(os.faults_injected >= 3, "weir was killed mid-run: {os:?}");
    assert_eq!(os.in_opensearch, RECORDS, "{os:?}");
    let dir = run_clean(Fault::KillDirectory).await;
    assert_eq!(dir.in_directory, RECORDS, "{dir:?}");
    assert!(dir.faults_injected >= 3, "weir was killed mid-run: {dir:?}");
    let term = run_clean(Fault::Sigterm).await;
    assert_eq!(term.in_opensearch, RECORDS, "{term:?}");
    assert!(
        term.faults_injected >= 3,
        "weir was stopped mid-run: {term:?}"
    );
    let conflict = run_clean(Fault::MappingConflict).await;
    assert_eq!(conflict.dead_lettered, RECORDS / 50, "{conflict:?}");
    assert_eq!(
        conflict.in_opensearch,
        RECORDS - RECORDS / 50,
        "{conflict:?}"
    );
    println!("four fault runs in {:?}", started.elapsed());
}
