//! The fault matrix, small: every fault of `weir_load::faults::Fault::ALL`
//! once, at 2,000 records each, against `weir` (this package's binary),
//! the real OpenSearch node at `$OPENSEARCH_URL` and the real S3 server at
//! `$S3_ENDPOINT` (as `scripts/test` starts them). A Firehose-like sender
//! of records with unique markers must see every record acknowledged;
//! every marker must be found exactly once, as a document or as a dead
//! letter, as the run meant (conflicting records, poisoned records, and
//! the records of a plugin call that timed out on a poisoned one
//! dead-lettered, every other stored); with S3 backup, every acknowledged marker must be in a backup
//! object. The full matrix is `scripts/faults` (RELIABILITY.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir_load::faults::{Fault, Options, Row, S3, run};

/// Records per run: 20 requests of 100, so that each of the 4 kills
/// lands while requests are in flight.
const RECORDS: usize = 2000;

/// The hostile test plugin, built for wasm32-wasip2 as `tests/build.rs`
/// builds it (a no-op when it is up to date).
fn hostile_plugin() -> PathBuf {
    let paths = weir_plugin_build::build(&["weir-test-plugin-hostile"], "wasm-test-plugins", &[]);
    paths.into_iter().next().unwrap()
}

/// The S3 server of `scripts/test` (`$S3_ENDPOINT`, `$S3_BUCKET`).
fn s3() -> Option<S3> {
    Some(S3 {
        endpoint: std::env::var("S3_ENDPOINT").ok()?,
        bucket: std::env::var("S3_BUCKET").ok()?,
        region: std::env::var("S3_REGION").unwrap_or_else(|_| "us-east-1".to_string()),
    })
}

fn options(dir: &Path, plugin: PathBuf) -> Options {
    Options {
        weir: env!("CARGO_BIN_EXE_weir").into(),
        opensearch: std::env::var("OPENSEARCH_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:9200".to_string()),
        records: RECORDS,
        per_request: 100,
        connections: 4,
        dir: dir.to_path_buf(),
        deadline: Duration::from_secs(180),
        keep: false,
        s3: s3(),
        hostile_plugin: Some(plugin),
    }
}

/// Whether this process may mount a tmpfs (the `disk-full` run).
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

fn check(fault: Fault, row: &Row) {
    assert_eq!(row.sent, RECORDS, "{row:?}");
    assert_eq!(
        row.acknowledged, RECORDS,
        "every record acknowledged: {row:?}"
    );
    assert_eq!(row.lost, 0, "nothing acknowledged is lost: {row:?}");
    assert_eq!(row.duplicated, 0, "nothing is stored twice: {row:?}");
    assert_eq!(
        row.wrong_fate, 0,
        "stored or dead-lettered as meant: {row:?}"
    );
    assert_eq!(row.dead_lettered, row.dead_expected, "{row:?}");
    assert_eq!(row.backup_lost, 0, "every ack is in the backup: {row:?}");
    assert!(row.clean(), "{row:?}");
    let stored = if matches!(fault, Fault::KillDirectory | Fault::DiskFull) {
        row.in_directory
    } else {
        row.in_opensearch
    };
    assert_eq!(stored + row.dead_lettered, RECORDS, "{row:?}");
    match fault {
        Fault::KillOpenSearch
        | Fault::KillDirectory
        | Fault::KillS3Backup
        | Fault::Sigterm
        | Fault::KillDuring429 => {
            assert!(
                row.faults_injected >= 3,
                "weir was stopped mid-run: {row:?}"
            )
        }
        Fault::MappingConflict | Fault::S3DownConflict => {
            assert_eq!(row.dead_lettered, RECORDS / 50, "{row:?}")
        }
        Fault::PluginTrap | Fault::PluginHog => {
            // Two poisoned records: their calls are split until each fails
            // alone, so its neighbours are stored.
            assert_eq!(row.dead_lettered, 2, "{row:?}")
        }
        Fault::PluginLoop => {
            // Two poisoned records, each failing its call of 10 (a call
            // that times out is not split).
            assert_eq!(row.dead_lettered, 20, "{row:?}")
        }
        _ => assert!(row.faults_injected >= 1, "the fault struck: {row:?}"),
    }
    if matches!(
        fault,
        Fault::KillS3Backup | Fault::S3BackupDown | Fault::S3DownConflict
    ) {
        assert_eq!(row.in_backup, Some(RECORDS), "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_loses_and_duplicates_nothing() {
    let dir = std::env::temp_dir().join(format!("weir-faults-{}", std::process::id()));
    let o = options(&dir, hostile_plugin());
    let started = Instant::now();
    println!("{}", Row::HEADER);
    for fault in Fault::ALL {
        if fault == Fault::DiskFull && !root() {
            println!(
                "| {} | skipped: mounting a tmpfs needs root |",
                fault.name()
            );
            continue;
        }
        let at = Instant::now();
        let row = run(fault, &o)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", fault.name()));
        println!("{} ({:.1} s)", row.markdown(), at.elapsed().as_secs_f64());
        check(fault, &row);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{} fault runs in {:.1} s",
        Fault::ALL.len(),
        started.elapsed().as_secs_f64()
    );
}
