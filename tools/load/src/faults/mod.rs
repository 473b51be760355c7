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

mod backup;
mod checker;
mod disk;
mod fault;
mod process;
mod proxy;
mod replicas;
mod row;
mod sender;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config_toml::{directory_sink, opensearch_sink, route, tenant};
use process::Weir;
use proxy::{Proxy, ProxyMode};
use sender::Progress;

pub use fault::Fault;
pub use replicas::kill_replicas;
pub use row::Row;

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
/// Every how many records one is poisoned (its plugin call traps or runs
/// out of memory) in the `plugin-trap` and `plugin-hog` runs.
const POISON_EVERY: usize = 1000;
/// Every how many records one is poisoned in the `plugin-loop` run: each
/// costs a plugin deadline and a cool-down of the route's breaker.
const LOOP_POISON_EVERY: usize = 5000;
/// Records per plugin call in the plugin runs (the tenant's
/// `max_batch_records`): a call that fails fails this many records.
const PLUGIN_CALL_RECORDS: usize = 10;
/// The route's `timeout_ms` in the `plugin-loop` run.
const LOOP_TIMEOUT_MS: u64 = 200;
/// The route's `memory_mib` in the `plugin-hog` run.
const HOG_MEMORY_MIB: u64 = 32;
/// Times `weir` is killed (or stopped) in one run.
const STOPS: usize = 4;
/// How long a kill in the directory sink's run waits for an append to
/// catch in the middle.
const CATCH_APPEND_WITHIN: Duration = Duration::from_secs(2);

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
    /// The real S3 server, for the backup faults (`None`: those runs fail).
    pub s3: Option<S3>,
    /// The hostile test plugin (`tests/plugins/hostile`, built for
    /// wasm32-wasip2), for the plugin faults (`None`: those runs fail).
    pub hostile_plugin: Option<PathBuf>,
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
    if fault.conflict_every().is_some() {
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
        Ok((plan, progress, injected)) => {
            let found = checker::find(&os, &index, &dir, fault.directory()).await;
            let row = found.map(|f| {
                f.row(
                    fault.name(),
                    &plan,
                    fault.failed_call_records(),
                    &progress,
                    injected,
                )
            });
            match (row, fault.backs_up(), &o.s3) {
                (Ok(row), true, Some(s3)) => {
                    let copies = backup::copies(s3, &format!("{}/", backup_prefix(&run_id))).await;
                    copies.map(|c| backed_up(row, &c, &plan, &progress))
                }
                (row, _, _) => row,
            }
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
        if let (true, Some(s3)) = (fault.backs_up(), &o.s3) {
            backup::delete(s3, &format!("{}/", backup_prefix(&run_id))).await;
        }
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
) -> anyhow::Result<(Arc<sender::Plan>, Arc<Progress>, usize)> {
    let s3 = match (fault.backs_up(), &o.s3) {
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
    let plugin = match (fault.plugin(), &o.hostile_plugin) {
        (Some((mode, extra, _)), Some(path)) => Some(RoutePlugin {
            path: path.clone(),
            mode,
            extra,
        }),
        (Some(_), None) => anyhow::bail!("{} needs the hostile test plugin", fault.name()),
        (None, _) => None,
    };
    let mut sinks = Sinks {
        opensearch: o.opensearch.clone(),
        backup: None,
        directory: fault.directory(),
        plugin,
    };
    match (proxy.as_ref(), s3) {
        (Some(p), Some(mut s3)) => {
            s3.endpoint = p.url();
            sinks.backup = Some((s3, backup_prefix(run_id)));
        }
        (Some(p), None) => sinks.opensearch = p.url(),
        (None, Some(s3)) => sinks.backup = Some((s3, backup_prefix(run_id))),
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
) -> anyhow::Result<(Arc<sender::Plan>, Arc<Progress>, usize)> {
    let plan = Arc::new(sender::Plan {
        run_id: run_id.to_string(),
        records: o.records,
        per_request: o.per_request.max(1),
        conflict_every: fault.conflict_every(),
        // At least two poisoned records, however few the records.
        poison_every: fault
            .plugin()
            .map(|(_, _, every)| every.min(o.records / 2).max(PLUGIN_CALL_RECORDS)),
        addr: weir.addr.clone(),
        key: KEY.to_string(),
        path: PATH.to_string(),
    });
    let progress = Arc::new(Progress::new(o.records));
    let senders = sender::spawn(plan.clone(), progress.clone(), o.connections.max(1));
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
        Fault::KillDuring429 => match proxy {
            Some(p) => kill_during(p, &mut weir, &progress, deadline).await?,
            None => 0,
        },
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
    Ok((plan, progress, injected))
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

/// Once a tenth of the records are acknowledged, turn the proxy's 429s
/// on for [`PROXY_FAULT_FOR`] (at least), and SIGKILL and restart `weir`
/// [`STOPS`] times meanwhile, a second after each start; the kills.
/// (429s to four items in five for much longer keep most requests from
/// ever being answered 200: each item of a request must pass one of
/// Weir's retries before its retry budget runs out.)
async fn kill_during(
    proxy: &Proxy,
    weir: &mut Weir,
    progress: &Progress,
    deadline: Instant,
) -> anyhow::Result<usize> {
    if !progress
        .wait_acknowledged(progress.total / 10, deadline)
        .await
    {
        return Ok(0);
    }
    let started = Instant::now();
    proxy.set(Some(ProxyMode::Reject429));
    let mut kills = 0;
    for _ in 0..STOPS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        weir.kill()?;
        kills += 1;
        weir.restart().await?;
    }
    tokio::time::sleep(PROXY_FAULT_FOR.saturating_sub(started.elapsed())).await;
    proxy.set(None);
    Ok(kills)
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
    /// The route runs the hostile plugin (else the built-in WAF plugin).
    plugin: Option<RoutePlugin>,
}

/// The hostile plugin of a plugin fault's route.
struct RoutePlugin {
    /// Its component.
    path: PathBuf,
    /// Its misbehaviour, in calls holding a poisoned record.
    mode: &'static str,
    /// Further keys of the route (its deadline, its memory cap).
    extra: String,
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
    match &sinks.plugin {
        Some(p) => {
            text.push_str(&format!("max_batch_records = {PLUGIN_CALL_RECORDS}\n"));
            let path = p.path.display().to_string();
            text.push_str(&route(PATH, TENANT, &path, index, sink));
            text.push_str(&format!(
                "plugin_config = {{ mode = {:?}, when = {:?} }}\n{}",
                p.mode,
                sender::POISON,
                p.extra
            ));
        }
        None => text.push_str(&route(PATH, TENANT, "builtin:waf", index, sink)),
    }
    if sinks.backup.is_some() {
        text.push_str("backup = \"backup\"\nbackup_max_age_ms = 100\n");
    }
    text
}

/// The S3 sink's prefix in run `run_id` (its objects are below
/// `<prefix>/`).
fn backup_prefix(run_id: &str) -> String {
    format!("weir-faults/{run_id}")
}

/// `row` with the backup's counts: every acknowledged marker must be in
/// a backup object, under its one request id and record number.
fn backed_up(
    mut row: Row,
    copies: &backup::Copies,
    plan: &sender::Plan,
    progress: &Progress,
) -> Row {
    let (mut found, mut repeats) = (0, 0);
    for m in 0..plan.records {
        let key = sender::marker(&plan.run_id, m);
        let lines = copies.lines.get(&key).copied().unwrap_or(0);
        let sources = copies.sources.get(&key).map_or(0, HashSet::len);
        found += usize::from(lines > 0);
        repeats += usize::from(lines > 1);
        if (lines == 0 && progress.is_acknowledged(m)) || sources > 1 {
            row.backup_lost += 1;
        }
    }
    row.in_backup = Some(found);
    row.backup_repeats = Some(repeats);
    row
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
