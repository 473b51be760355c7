//! Two `weir serve` replicas (this package's binary) behind HAProxy
//! (Debian's `haproxy`; scripts/test installs it), both indexing into the
//! real OpenSearch at `$OPENSEARCH_URL`. A Firehose-like sender
//! (`weir_load::faults`) sends through HAProxy while each replica in turn
//! is SIGKILLed and started again: every record must be acknowledged, none
//! lost, none stored twice. `weir-load --scenario replicas` measures the
//! replicas' throughput per CPU-second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use weir_load::faults::{Options, Row, kill_replicas};

/// Records per run: 30 requests of 100, so that each kill lands while
/// requests are in flight.
const RECORDS: usize = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_behind_haproxy_loses_and_duplicates_nothing() {
    let dir = std::env::temp_dir().join(format!("weir-replicas-{}", std::process::id()));
    let o = Options {
        weir: env!("CARGO_BIN_EXE_weir").into(),
        opensearch: std::env::var("OPENSEARCH_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:9200".to_string()),
        records: RECORDS,
        per_request: 100,
        connections: 4,
        dir: dir.clone(),
        deadline: Duration::from_secs(120),
        keep: false,
        s3: None,
        hostile_plugin: None,
    };
    let row = kill_replicas(&o, 2).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}\n{}", Row::HEADER, row.markdown());
    assert_eq!(
        row.faults_injected, 2,
        "each replica was killed once: {row:?}"
    );
    assert_eq!(
        row.acknowledged, RECORDS,
        "every record acknowledged: {row:?}"
    );
    assert_eq!(row.in_opensearch, RECORDS, "every record indexed: {row:?}");
    assert_eq!(row.lost, 0, "nothing acknowledged is lost: {row:?}");
    assert_eq!(row.duplicated, 0, "nothing is stored twice: {row:?}");
}
