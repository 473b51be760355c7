//! The fault matrix: send records with unique markers to a `weir serve`
//! the way Firehose does while a fault is injected, then find every marker
//! again and count what was lost or duplicated.
//!
//! One run per [`Fault`]. Each run starts its own `weir serve` (a
//! `process::Weir`, killed and restarted by the fault), sends
//! `records` WAF logs whose `httpRequest.requestId` is a unique marker
//! (module `sender`: same request id on every retry, backoff, retries
//! every non-200 and broken connection, counts what was acknowledged),
//! and then looks for every marker in the run's OpenSearch index, its
//! directory sink and its dead letters (module `checker`). Faults on
//! the OpenSearch side are injected by a proxy in front of the real node
//! (module `proxy`); the node itself is never stopped.
//!
//! A row's goal: every record sent is acknowledged, none is lost
//! (acknowledged but found nowhere) and none is duplicated (more than one
//! document for a marker, or indexed and dead-lettered both).

// The harness reads the small answers of its own proxy and of OpenSearch,
// and the `_bulk` bodies of the Weir it tests; the production bounds on
// body collection (clippy.toml) are for the host.
#![allow(clippy::disallowed_methods)]

mod checker;
mod disk;
mod process;
mod proxy;
mod replicas;
mod sender;

pub use replicas::kill_replicas;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config_toml::{directory_sink, opensearch_sink, route, tenant};
use process::Weir;
use proxy::{Proxy, ProxyMode};
use sender::Progress;

/// The tenant of every run's config.
const TENANT: &str = "weir";
/// The tenant's access key in every run's config.
const KEY: &str = "faults-access-key";
/// The route every run sends to.
const PATH: &str = "/firehose/faults";
/// Every how many records one carries a value that conflicts with the
/// index's mapping, in the `mapping-conflict` run.
const CONFLICT_EVERY: usize = 50;
/// How long a proxy fault (429, 413, slow) lasts once it starts.
const PROXY_FAULT_FOR: Duration = Duration::from_secs(8);
/// `_bulk` bodies above this are answered 413 in the `opensearch-413` run.
const BULK_LIMIT_BYTES: usize = 16 * 1024;
/// How long each request waits at the proxy in the `opensearch-slow` run.
const SLOW_BY: Duration = Duration::from_secs(2);
/// Times `weir` is killed (or stopped) in one run.
const STOPS: usize = 4;
/// How long a kill in the directory sink's run waits for an append to
/// catch in the middle.
const CATCH_APPEND_WITHIN: Duration = Duration::from_secs(2);

/// One fault, each its own run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `weir` SIGKILLed mid-batch and restarted; OpenSearch sink.
    KillOpenSearch,
    /// `weir` SIGKILLed mid-batch and restarted; directory sink.
    KillDirectory,
    /// `weir` SIGKILLed mid-batch and restarted; OpenSearch sink, every
    /// record backed up to S3 before its ack.
    KillS3Backup,
    /// OpenSearch answers 429 to four items of five for a while.
    OpenSearch429,
    /// OpenSearch answers 413 to `_bulk` bodies above 16 KiB for a while.
    OpenSearch413,
    /// OpenSearch answers each request 2 s late for a while.
    OpenSearchSlow,
    /// One record in 50 conflicts with the index's mapping (dead-lettered).
    MappingConflict,
    /// `weir` stopped with SIGTERM under load (graceful drain) and restarted.
    Sigterm,
    /// The directory sink's filesystem (a tmpfs mounted for the run) full
    /// for a while.
    DiskFull,
    /// S3 answers 503 to everything for a while, while every record is
    /// backed up there before its ack (`routes[].backup`).
    S3BackupDown,
}

impl Fault {
    /// Every fault, in the order the matrix runs them.
    pub const ALL: [Fault; 10] = [
        Fault::KillOpenSearch,
        Fault::KillDirectory,
        Fault::KillS3Backup,
        Fault::OpenSearch429,
        Fault::OpenSearch413,
        Fault::OpenSearchSlow,
        Fault::MappingConflict,
        Fault::Sigterm,
        Fault::DiskFull,
        Fault::S3BackupDown,
    ];

    /// Its name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillOpenSearch => "kill-opensearch",
            Fault::KillDirectory => "kill-directory",
            Fault::KillS3Backup => "kill-s3-backup",
            Fault::OpenSearch429 => "opensearch-429",
            Fault::OpenSearch413 => "opensearch-413",
            Fault::OpenSearchSlow => "opensearch-slow",
            Fault::MappingConflict => "mapping-conflict",
            Fault::Sigterm => "sigterm",
            Fault::DiskFull => "disk-full",
            Fault::S3BackupDown => "s3-backup-down",
        }
    }

    /// The fault named `name`.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What the run does, for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::KillOpenSearch => {
                "`weir` SIGKILLed mid-batch 4 times, restarted (OpenSearch sink)"
            }
            Fault::KillDirectory => {
                "`weir` SIGKILLed 4 times in the middle of an append, restarted (directory sink)"
            }
            Fault::KillS3Backup => {
                "`weir` SIGKILLed mid-batch 4 times, restarted (OpenSearch sink, S3 backup of every record)"
            }
            Fault::OpenSearch429 => "OpenSearch answers 429 to 4 items in 5 for 8 s",
            Fault::OpenSearch413 => "OpenSearch answers 413 to `_bulk` bodies over 16 KiB for 8 s",
            Fault::OpenSearchSlow => "OpenSearch answers every request 2 s late for 8 s",
            Fault::MappingConflict => "1 record in 50 conflicts with the index mapping",
            Fault::Sigterm => "`weir` SIGTERMed under load 4 times (drain), restarted",
            Fault::DiskFull => "the directory sink's tmpfs full for 8 s (directory sink)",
            Fault::S3BackupDown => {
                "S3 answers 503 to everything for 8 s; every record backed up to S3 before its ack"
            }
        }
    }

    /// Whether the route writes to the directory sink (else OpenSearch).
    fn directory(self) -> bool {
        matches!(self, Fault::KillDirectory | Fault::DiskFull)
    }

    /// The proxy's fault, for the faults injected in front of OpenSearch.
    fn proxy_mode(self) -> Option<ProxyMode> {
        match self {
            Fault::OpenSearch429 => Some(ProxyMode::Reject429),
            Fault::OpenSearch413 => Some(ProxyMode::Refuse413(BULK_LIMIT_BYTES)),
            Fault::OpenSearchSlow => Some(ProxyMode::Slow(SLOW_BY)),
            Fault::S3BackupDown => Some(ProxyMode::Unavailable),
            _ => None,
        }
    }
}

/// What a fault run is given.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `weir` binary.
    pub weir: PathBuf,
    /// The real OpenSearch's base URL.
    pub opensearch: String,
    /// Records (markers) sent per run.
    pub records: usize,
    /// Records per Firehose request.
    pub per_request: usize,
    /// Concurrent connections of the sender.
    pub connections: usize,
    /// A directory for the runs' configs, logs and sinks.
    pub dir: PathBuf,
    /// Give up on records still not acknowledged after this long.
    pub deadline: Duration,
    /// Keep the runs' indices (they are deleted otherwise).
    pub keep: bool,
    /// The real S3 server, for `s3-backup-down` (`None`: that run fails).
    pub s3: Option<S3>,
}

/// The real S3 server's endpoint, bucket and region; the credentials are
/// the standard environment variables, which `weir` inherits.
#[derive(Debug, Clone)]
pub struct S3 {
    /// `http://host:port`.
    pub endpoint: String,
    /// A bucket that exists.
    pub bucket: String,
    /// Its region.
    pub region: String,
}

/// What one run found: a row of the matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The fault's name.
    pub fault: String,
    /// Records sent (distinct markers).
    pub sent: usize,
    /// Records whose request was answered 200.
    pub acknowledged: usize,
    /// Markers indexed in OpenSearch.
    pub in_opensearch: usize,
    /// Markers in the directory sink's `_bulk` file.
    pub in_directory: usize,
    /// Markers dead-lettered.
    pub dead_lettered: usize,
    /// Acknowledged markers found nowhere.
    pub lost: usize,
    /// Markers with more than one document (or both stored and dead-lettered).
    pub duplicated: usize,
    /// Times the fault struck (kills, stops; requests the proxy faulted).
    pub faults_injected: usize,
    /// Attempts answered non-200 or broken, that the sender retried.
    pub retries: usize,
    /// Torn tails the directory sink found and cut back (from `weir`'s
    /// log): appends a kill or a full disk cut short.
    pub torn_tails: usize,
    /// Seconds from the first request to the last acknowledgement.
    pub seconds: f64,
}

impl Row {
    /// The Markdown table's header.
    pub const HEADER: &'static str = "| fault | sent | acknowledged | in OpenSearch | in directory | dead-lettered | lost | duplicated | faults injected | retries | torn tails cut | seconds |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

    /// The row in the Markdown table.
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            self.fault,
            self.sent,
            self.acknowledged,
            self.in_opensearch,
            self.in_directory,
            self.dead_lettered,
            self.lost,
            self.duplicated,
            self.faults_injected,
            self.retries,
            self.torn_tails,
            self.seconds
        )
    }

    /// No loss, no duplicate, everything acknowledged.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.acknowledged == self.sent
    }
}

/// Run `fault` once and check every marker.
pub async fn run(fault: Fault, o: &Options) -> anyhow::Result<Row> {
    let run_id = format!(
        "{:08x}",
        (u64::from(std::process::id()) << 20 ^ now_ms()) & 0xffff_ffff
    );
    // The route's index; the tenant's prefix (`<tenant>-`) makes the one
    // stored: `weir-faults-<run>-<fault>`.
    let route_index = format!("faults-{run_id}-{}", fault.name());
    let index = format!("{TENANT}-{route_index}");
    let dir = o.dir.join(fault.name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let os = checker::OpenSearch::new(&o.opensearch);
    if fault == Fault::MappingConflict {
        os.create_index_with_long_field(&index, "faultCode").await?;
    }
    let tmpfs = match fault {
        // Room for every record twice over (a record is about 1.3 KB in
        // the `_bulk` file), so that only the filler fills it.
        Fault::DiskFull => Some(disk::Tmpfs::mount(
            &dir.join("out"),
            o.records * 3000 + (8 << 20),
        )?),
        _ => None,
    };
    let result = start_and_drive(fault, o, &run_id, &route_index, tmpfs.as_ref()).await;
    let row = match result {
        Ok((progress, injected)) => {
            let found = checker::find(&os, &index, &dir, fault.directory()).await;
            found.map(|f| f.row(fault.name(), &run_id, &progress, injected))
        }
        Err(e) => Err(e),
    };
    let row = row.map(|r| Row {
        torn_tails: torn_tails(&dir.join("weir.log")),
        ..r
    });
    drop(tmpfs);
    if !o.keep {
        os.delete_index(&index).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    row
}

/// Start the proxy the fault needs (in front of OpenSearch, or of S3 for
/// `s3-backup-down`) and `weir`, and drive the run.
async fn start_and_drive(
    fault: Fault,
    o: &Options,
    run_id: &str,
    route_index: &str,
    tmpfs: Option<&disk::Tmpfs>,
) -> anyhow::Result<(Arc<Progress>, usize)> {
    let backs_up = matches!(fault, Fault::S3BackupDown | Fault::KillS3Backup);
    let s3 = match (backs_up, &o.s3) {
        (true, Some(s3)) => Some(s3.clone()),
        (true, None) => anyhow::bail!("{} needs an S3 server", fault.name()),
        (false, _) => None,
    };
    let upstream = s3
        .as_ref()
        .map_or(o.opensearch.as_str(), |s| s.endpoint.as_str());
    let proxy = match fault.proxy_mode() {
        Some(_) => Some(Proxy::start(upstream).await?),
        None => None,
    };
    let mut sinks = Sinks {
        opensearch: o.opensearch.clone(),
        backup: None,
        directory: fault.directory(),
    };
    match (proxy.as_ref(), s3) {
        (Some(p), Some(mut s3)) => {
            s3.endpoint = p.url();
            sinks.backup = Some((s3, format!("weir-faults/{run_id}")));
        }
        (Some(p), None) => sinks.opensearch = p.url(),
        (None, Some(s3)) => sinks.backup = Some((s3, format!("weir-faults/{run_id}"))),
        (None, None) => {}
    }
    let dir = o.dir.join(fault.name());
    let config = config_text(&o.dir, &dir, &sinks, route_index);
    let weir = Weir::start(&o.weir, &dir, &config).await?;
    // The directory sink's `_bulk` file, whose appends the kill aims at.
    let file = dir
        .join("out")
        .join(format!("{TENANT}-{route_index}.ndjson"));
    let watch = (fault == Fault::KillDirectory).then_some(file.as_path());
    drive(fault, o, run_id, weir, (proxy.as_ref(), tmpfs, watch)).await
}

/// Send every record while the fault strikes; the sender's progress and
/// the times the fault struck.
async fn drive(
    fault: Fault,
    o: &Options,
    run_id: &str,
    mut weir: Weir,
    (proxy, tmpfs, watch): (Option<&Proxy>, Option<&disk::Tmpfs>, Option<&Path>),
) -> anyhow::Result<(Arc<Progress>, usize)> {
    let plan = sender::Plan {
        run_id: run_id.to_string(),
        records: o.records,
        per_request: o.per_request.max(1),
        conflict_every: (fault == Fault::MappingConflict).then_some(CONFLICT_EVERY),
        addr: weir.addr.clone(),
        key: KEY.to_string(),
        path: PATH.to_string(),
    };
    let progress = Arc::new(Progress::new(o.records));
    let senders = sender::spawn(Arc::new(plan), progress.clone(), o.connections.max(1));
    let deadline = Instant::now() + o.deadline;
    let injected = match fault {
        Fault::KillOpenSearch | Fault::KillDirectory | Fault::KillS3Backup | Fault::Sigterm => {
            let stop = match (fault, watch) {
                (Fault::Sigterm, _) => Stop::Term,
                (_, Some(file)) => Stop::KillMidAppend(file),
                _ => Stop::Kill,
            };
            stop_and_restart(&mut weir, &progress, stop, deadline).await?
        }
        Fault::DiskFull => match tmpfs {
            Some(t) => t.fill_for(&progress, deadline, PROXY_FAULT_FOR).await?,
            None => 0,
        },
        _ => match (proxy, fault.proxy_mode()) {
            (Some(p), Some(mode)) => strike_proxy(p, mode, &progress, deadline).await,
            _ => 0,
        },
    };
    progress.wait_done(deadline).await;
    progress.stop.store(true, Ordering::SeqCst);
    for s in senders {
        let _ = s.await;
    }
    weir.stop().await;
    Ok((progress, injected))
}

/// How a run stops `weir`.
#[derive(Debug, Clone, Copy)]
enum Stop<'a> {
    /// SIGKILL.
    Kill,
    /// SIGKILL while an append to this file is under way.
    KillMidAppend(&'a Path),
    /// SIGTERM, and wait for its exit.
    Term,
}

/// Stop `weir` [`STOPS`] times under load, each when another share of
/// the records is acknowledged, and start it again on the same address.
async fn stop_and_restart(
    weir: &mut Weir,
    progress: &Progress,
    stop: Stop<'_>,
    deadline: Instant,
) -> anyhow::Result<usize> {
    let mut stops = 0;
    for k in 1..=STOPS {
        let at = progress.total * k / (STOPS + 1);
        if !progress.wait_acknowledged(at, deadline).await {
            break;
        }
        match stop {
            Stop::Kill => weir.kill()?,
            Stop::KillMidAppend(file) => {
                weir.kill_while_growing(file, CATCH_APPEND_WITHIN)?;
            }
            Stop::Term => weir.terminate().await?,
        }
        stops += 1;
        weir.restart().await?;
    }
    Ok(stops)
}

/// Turn the proxy's fault on once a tenth of the records are
/// acknowledged, for [`PROXY_FAULT_FOR`]; the requests it faulted.
async fn strike_proxy(
    proxy: &Proxy,
    mode: ProxyMode,
    progress: &Progress,
    deadline: Instant,
) -> usize {
    progress
        .wait_acknowledged(progress.total / 10, deadline)
        .await;
    proxy.set(Some(mode));
    tokio::time::sleep(PROXY_FAULT_FOR).await;
    proxy.set(None);
    proxy.faulted()
}

/// Where a run's route writes.
struct Sinks {
    /// The OpenSearch sink's URL (the node, or the proxy in front of it).
    opensearch: String,
    /// An S3 sink every record is backed up to before its ack, and the
    /// prefix of the run's objects.
    backup: Option<(S3, String)>,
    /// The route writes to the directory sink `out`, not to OpenSearch.
    directory: bool,
}

/// The config of one run: the route to `index` in OpenSearch (or in the
/// directory sink `out`), dead letters to the directory sink `dead`,
/// backups as `sinks` says; the plugin cache shared by every run below
/// `base`.
fn config_text(base: &Path, dir: &Path, sinks: &Sinks, index: &str) -> String {
    let cache = base.join("plugin-cache").display().to_string();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nplain_http = true\n\n[plugins]\ncache_dir = {cache:?}\nmax_concurrent_batches = 4\n"
    );
    text.push_str(&directory_sink("dead", &dir.join("dead")));
    text.push_str(&directory_sink("out", &dir.join("out")));
    text.push_str(&opensearch_sink("search", &sinks.opensearch, "dead", 20));
    if let Some((s3, prefix)) = &sinks.backup {
        text.push_str(&format!(
            "\n[sinks.backup]\ntype = \"s3\"\nbucket = {:?}\nprefix = {prefix:?}\nregion = {:?}\nendpoint = {:?}\nforce_path_style = true\n",
            s3.bucket, s3.region, s3.endpoint
        ));
    }
    text.push_str(&tenant(TENANT, &[KEY]));
    let sink = if sinks.directory { "out" } else { "search" };
    text.push_str(&route(PATH, TENANT, "builtin:waf", index, sink));
    if sinks.backup.is_some() {
        text.push_str("backup = \"backup\"\nbackup_max_age_ms = 100\n");
    }
    text
}

/// Torn tails `weir` logged that it cut back, in its log `log`.
fn torn_tails(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| {
        text.lines().filter(|l| l.contains("a torn tail")).count()
    })
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Run each fault of `faults` in turn, print its row as it ends, and
/// return the rows. A run that fails (weir does not start, OpenSearch
/// cannot be read) stops the matrix.
pub async fn run_matrix(faults: &[Fault], o: &Options) -> anyhow::Result<Vec<Row>> {
    println!(
        "weir-load faults: {} records per run, {} per request, {} connections, OpenSearch {}",
        o.records, o.per_request, o.connections, o.opensearch
    );
    println!("{}", Row::HEADER);
    let mut rows = Vec::new();
    for &f in faults {
        let row = run(f, o)
            .await
            .with_context(|| format!("fault run {}", f.name()))?;
        println!("{}", row.markdown());
        rows.push(row);
    }
    println!();
    for f in faults {
        println!("- `{}`: {}", f.name(), f.describe());
    }
    Ok(rows)
}
