//! The fault matrix: send records with unique markers to a `weir serve`
//! the way Firehose does while a fault is injected, then find every marker
//! again and count what was lost or duplicated.
//!
//! One run per [`Fault`]. Each run starts its own `weir serve` (a
//! [`process::Weir`], killed and restarted by the fault), sends
//! `records` WAF logs whose `httpRequest.requestId` is a unique marker
//! (module [`sender`]: same request id on every retry, backoff, retries
//! every non-200 and broken connection, counts what was acknowledged),
//! and then looks for every marker in the run's OpenSearch index, its
//! directory sink and its dead letters (module [`checker`]). Faults on
//! the OpenSearch side are injected by a proxy in front of the real node
//! (module [`proxy`]); the node itself is never stopped.
//!
//! A row's goal: every record sent is acknowledged, none is lost
//! (acknowledged but found nowhere) and none is duplicated (more than one
//! document for a marker, or indexed and dead-lettered both).

// The harness reads the small answers of its own proxy and of OpenSearch,
// and the `_bulk` bodies of the Weir it tests; the production bounds on
// body collection (clippy.toml) are for the host.
#![allow(clippy::disallowed_methods)]

mod checker;
mod process;
mod proxy;
mod sender;

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

/// One fault, each its own run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `weir` SIGKILLed mid-batch and restarted; OpenSearch sink.
    KillOpenSearch,
    /// `weir` SIGKILLed mid-batch and restarted; directory sink.
    KillDirectory,
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
}

impl Fault {
    /// Every fault, in the order the matrix runs them.
    pub const ALL: [Fault; 7] = [
        Fault::KillOpenSearch,
        Fault::KillDirectory,
        Fault::OpenSearch429,
        Fault::OpenSearch413,
        Fault::OpenSearchSlow,
        Fault::MappingConflict,
        Fault::Sigterm,
    ];

    /// Its name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillOpenSearch => "kill-opensearch",
            Fault::KillDirectory => "kill-directory",
            Fault::OpenSearch429 => "opensearch-429",
            Fault::OpenSearch413 => "opensearch-413",
            Fault::OpenSearchSlow => "opensearch-slow",
            Fault::MappingConflict => "mapping-conflict",
            Fault::Sigterm => "sigterm",
        }
    }

    /// The fault named `name`.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What the run does, for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::KillOpenSearch => "`weir` SIGKILLed mid-batch 4 times, restarted (OpenSearch sink)",
            Fault::KillDirectory => "`weir` SIGKILLed mid-batch 4 times, restarted (directory sink)",
            Fault::OpenSearch429 => "OpenSearch answers 429 to 4 items in 5 for 8 s",
            Fault::OpenSearch413 => "OpenSearch answers 413 to `_bulk` bodies over 16 KiB for 8 s",
            Fault::OpenSearchSlow => "OpenSearch answers every request 2 s late for 8 s",
            Fault::MappingConflict => "1 record in 50 conflicts with the index mapping",
            Fault::Sigterm => "`weir` SIGTERMed under load 4 times (drain), restarted",
        }
    }

    /// Whether the route writes to the directory sink (else OpenSearch).
    fn directory(self) -> bool {
        self == Fault::KillDirectory
    }

    /// The proxy's fault, for the faults injected in front of OpenSearch.
    fn proxy_mode(self) -> Option<ProxyMode> {
        match self {
            Fault::OpenSearch429 => Some(ProxyMode::Reject429),
            Fault::OpenSearch413 => Some(ProxyMode::Refuse413(BULK_LIMIT_BYTES)),
            Fault::OpenSearchSlow => Some(ProxyMode::Slow(SLOW_BY)),
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
    /// Seconds from the first request to the last acknowledgement.
    pub seconds: f64,
}

impl Row {
    /// The Markdown table's header.
    pub const HEADER: &'static str = "| fault | sent | acknowledged | in OpenSearch | in directory | dead-lettered | lost | duplicated | faults injected | retries | seconds |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

    /// The row in the Markdown table.
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
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
    let proxy = match fault.proxy_mode() {
        Some(_) => Some(Proxy::start(&o.opensearch).await?),
        None => None,
    };
    let sink_url = proxy.as_ref().map_or(o.opensearch.clone(), Proxy::url);
    let config = config_text(&o.dir, &dir, &sink_url, &route_index, fault.directory());
    let weir = Weir::start(&o.weir, &dir, &config).await?;
    let result = drive(fault, o, &run_id, weir, proxy.as_ref()).await;
    let row = match result {
        Ok((progress, injected)) => {
            let found = checker::find(&os, &index, &dir, fault.directory()).await;
            found.map(|f| f.row(fault.name(), &run_id, &progress, injected))
        }
        Err(e) => Err(e),
    };
    if !o.keep {
        os.delete_index(&index).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    row
}

/// Send every record while the fault strikes; the sender's progress and
/// the times the fault struck.
async fn drive(
    fault: Fault,
    o: &Options,
    run_id: &str,
    mut weir: Weir,
    proxy: Option<&Proxy>,
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
        Fault::KillOpenSearch | Fault::KillDirectory | Fault::Sigterm => {
            stop_and_restart(&mut weir, &progress, fault == Fault::Sigterm, deadline).await?
        }
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

/// Stop `weir` [`STOPS`] times under load (SIGKILL, or SIGTERM and wait
/// for its exit), each when another share of the records is acknowledged,
/// and start it again on the same address.
async fn stop_and_restart(
    weir: &mut Weir,
    progress: &Progress,
    graceful: bool,
    deadline: Instant,
) -> anyhow::Result<usize> {
    let mut stops = 0;
    for k in 1..=STOPS {
        let at = progress.total * k / (STOPS + 1);
        if !progress.wait_acknowledged(at, deadline).await {
            break;
        }
        if graceful {
            weir.terminate().await?;
        } else {
            weir.kill()?;
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

/// The config of one run: the route to `index` in OpenSearch at `url` (or
/// in the directory sink `out`), dead letters to the directory sink
/// `dead`; the plugin cache shared by every run below `base`.
fn config_text(base: &Path, dir: &Path, url: &str, index: &str, directory: bool) -> String {
    let cache = base.join("plugin-cache").display().to_string();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nplain_http = true\n\n[plugins]\ncache_dir = {cache:?}\nmax_concurrent_batches = 4\n"
    );
    text.push_str(&directory_sink("dead", &dir.join("dead")));
    text.push_str(&directory_sink("out", &dir.join("out")));
    text.push_str(&opensearch_sink("search", url, "dead", 20));
    text.push_str(&tenant(TENANT, &[KEY]));
    let sink = if directory { "out" } else { "search" };
    text.push_str(&route(PATH, TENANT, "builtin:waf", index, sink));
    text
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
