//! `flood`: a quiet tenant's WAF requests alone, then beside four tenants
//! that attack the host's shared resources at once: gzip requests that
//! inflate to ~60 MiB (several at a time each, resent at once when
//! refused, never backing off), a plugin that sleeps in a loop, and
//! hundreds of idle connections. Reports the host's peak RSS against the
//! bound its config states, and the quiet tenant's p99 and throughput
//! beside the flood as ratios of its solo figures.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use weir_load::config_toml::{route, tenant};

use super::Setting;
use crate::args::{Args, METRICS_TOKEN, hostile_plugin};
use crate::bodies::{Body, build_bodies};
use crate::drive::drive;
use crate::host::{Endpoint, Host};
use crate::report::Report;

/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;
/// `[limits] memory_budget_bytes`: five shares of the smallest size, so
/// that the four flooders at their shares still leave the quiet tenant a
/// share's room (the operator's rule: the shares of tenants that may
/// flood add up to less than the budget).
const BUDGET_BYTES: u64 = 5 * SHARE_BYTES;
/// Each flooder's `memory_share_bytes`: the smallest allowed (3 × 64 MiB).
const SHARE_BYTES: u64 = 192 * MIB;
/// Each flooder's `bytes_per_second` (counted inflated): the quota that
/// bounds the CPU a tenant's decoding may take. One 60 MiB request passes
/// and its debt refuses the next ones, from their head, for ~7 s.
const FLOOD_BYTES_PER_SECOND: u64 = 8 * MIB;
/// `[plugins] max_concurrent_batches` (the pool) in this scenario.
const POOL: u64 = 8;
/// `[plugins] memory_mib`: every pool slot's cap.
const SLOT_MIB: u64 = 128;
/// `server.max_connections` in this scenario.
const MAX_CONNECTIONS: usize = 512;
/// Tenants sending gzip requests that inflate to ~60 MiB.
const GZIP_TENANTS: usize = 3;
/// Concurrent gzip requests per gzip tenant.
const GZIP_CONNECTIONS: usize = 3;
/// Connections of the tenant whose plugin sleeps in a loop.
const SLEEPER_CONNECTIONS: usize = 4;
/// Records in one flood request, and each record's size (decoded): ~60 MiB
/// of JSON, below the 64 MiB body cap, in records below Firehose's 1,000 KiB.
const FLOOD_RECORDS: usize = 80;
/// See [`FLOOD_RECORDS`].
const FLOOD_RECORD_BYTES: usize = 576_000;
/// The quiet tenant's rate when `--rate` is not given, requests/s.
const QUIET_RATE: f64 = 20.0;

/// Access key of flooding tenant `i`.
fn flood_key(i: usize) -> String {
    format!("flood-access-key-{i}")
}

/// What the flooders got, in all.
#[derive(Debug, Default, Clone, Copy)]
struct FloodTally {
    /// Answered 200.
    ok: u64,
    /// Answered 503 (the memory budget or the tenant's share).
    s503: u64,
    /// Answered 429 (a quota, the pool share, a cooling route).
    s429: u64,
    /// Any other answer.
    other: u64,
    /// Connections closed before their first answer (over
    /// `max_connections`, or the request refused before it was read).
    refused: u64,
    /// Connections that broke after an answer.
    broken: u64,
}

impl FloodTally {
    fn add(&mut self, t: FloodTally) {
        self.ok += t.ok;
        self.s503 += t.s503;
        self.s429 += t.s429;
        self.other += t.other;
        self.refused += t.refused;
        self.broken += t.broken;
    }
}

/// What the idle connections saw.
#[derive(Debug, Default, Clone, Copy)]
struct IdleTally {
    /// Connections opened.
    opened: u64,
    /// Closed by the host within 100 ms of opening (over `max_connections`).
    refused: u64,
    /// Closed by the host later (its header-read timeout).
    timed_out: u64,
    /// Could not connect at all.
    failed: u64,
}

/// Run the scenario and print what it measured.
pub(crate) async fn flood(s: &Setting<'_>, records: &[Vec<u8>]) -> anyhow::Result<()> {
    let args = s.args;
    let plugin = args.noisy_plugin.clone().unwrap_or_else(hostile_plugin);
    if !plugin.is_file() {
        bail!(
            "{} not found (build it with `cargo test -p weir-tests --no-run`, or pass --noisy-plugin)",
            plugin.display()
        );
    }
    let sub = s.subdir("flood")?;
    let mut config = s.config(&sub, Some(&flood_config(&plugin)));
    config.text = config.text.replacen(
        "max_concurrent_batches = 4\n",
        &format!("max_concurrent_batches = {POOL}\nmemory_mib = {SLOT_MIB}\n"),
        1,
    );
    let token = format!("metrics_token = {METRICS_TOKEN:?}\n");
    config.text = config.text.replacen(
        &token,
        &format!("{token}max_connections = {MAX_CONNECTIONS}\n"),
        1,
    );
    let host = Host::start(s.weir, &sub, "flood", &config).await?;
    let bodies = Arc::new(build_bodies(records, args.records, 64, "quiet"));
    let gzip = gzip_bodies();
    let sleeper_bodies = Arc::new(build_bodies(records, 10, 16, "sleeper"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss_kib = host.sample().rss_kib;
    let rate = if args.rate > 0.0 {
        args.rate
    } else {
        QUIET_RATE
    };
    let solo = drive(args, &host, &bodies, rate).await?;
    solo.print("flood: quiet tenant alone", args, &host);
    let length = Duration::from_secs_f64(args.warmup + args.duration + 2.0);
    let flood = Flood {
        endpoint: host.endpoint.clone(),
        gzip,
        sleeper: sleeper_bodies.to_vec(),
        idle: args.idle_connections,
        until: Instant::now() + length,
        hammer: args.flood_hammer,
    };
    // The flood runs on a thread of its own, so that its clients do not
    // delay the quiet tenant's requests or the `_bulk` answers on this one.
    let flooding = std::thread::spawn(move || flood.run());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let beside = drive(args, &host, &bodies, rate).await?;
    beside.print("flood: quiet tenant beside the flood", args, &host);
    let (tally, idle, sent_kb) = tokio::task::spawn_blocking(move || flooding.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the flood thread panicked"))??;
    let peak_kib = host.sample().peak_rss_kib;
    let memory = (idle_rss_kib, peak_kib);
    print_flood(args, sent_kb, memory, (&tally, &idle), &solo, &beside);
    Ok(())
}

/// The flooders, for the flood's own thread.
struct Flood {
    endpoint: Endpoint,
    gzip: Vec<Body>,
    sleeper: Vec<Body>,
    idle: usize,
    until: Instant,
    hammer: bool,
}

impl Flood {
    /// Run every flooder until `until` on a runtime of this thread: what
    /// they got, and the KB each gzip request sends.
    fn run(self) -> anyhow::Result<(FloodTally, IdleTally, f64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sent_kb = self.gzip.first().map_or(0.0, |b| b.json.len() as f64 / 1e3);
        rt.block_on(async move {
            let mut floods = Vec::new();
            for (i, body) in self.gzip.iter().enumerate() {
                let tenant = i / GZIP_CONNECTIONS;
                let target = (format!("/flood/{tenant}"), flood_key(tenant));
                let bodies = vec![body.clone()];
                let endpoint = self.endpoint.clone();
                floods.push(tokio::spawn(flood_connection(
                    endpoint,
                    target,
                    bodies,
                    (self.until, self.hammer),
                )));
            }
            for c in 0..SLEEPER_CONNECTIONS {
                let target = (format!("/flood/{GZIP_TENANTS}"), flood_key(GZIP_TENANTS));
                let mine: Vec<Body> = self
                    .sleeper
                    .iter()
                    .skip(c)
                    .step_by(SLEEPER_CONNECTIONS)
                    .cloned()
                    .collect();
                let endpoint = self.endpoint.clone();
                floods.push(tokio::spawn(flood_connection(
                    endpoint,
                    target,
                    mine,
                    (self.until, self.hammer),
                )));
            }
            let addr = self.endpoint.addr.clone();
            let idle = tokio::spawn(idle_connections(addr, self.idle, self.until));
            let mut tally = FloodTally::default();
            for f in floods {
                tally.add(f.await?);
            }
            Ok((tally, idle.await?, sent_kb))
        })
    }
}

/// Tenants `flood-0` … `flood-3` with their shares, and their routes:
/// `/flood/0..2` echo (the hostile plugin's `echo` mode: cheap, so the cost
/// is Weir's intake), `/flood/3` sleeps 10 ms at a time for ever
/// (`nap-loop`), stopped at its 200 ms deadline. Each flooder may run one
/// plugin batch at a time: the four together hold half the pool.
fn flood_config(plugin: &Path) -> String {
    let plugin = plugin.display().to_string();
    let mut text = format!("\n[limits]\nmemory_budget_bytes = {BUDGET_BYTES}\n");
    for i in 0..=GZIP_TENANTS {
        let id = format!("flood-{i}");
        text.push_str(&tenant(&id, &[&flood_key(i)]));
        text.push_str(&format!(
            "memory_share_bytes = {SHARE_BYTES}\nmax_concurrent_batches = 1\n\
             bytes_per_second = {FLOOD_BYTES_PER_SECOND}\n"
        ));
        let (mode, extra) = if i == GZIP_TENANTS {
            ("nap-loop", "timeout_ms = 200\n")
        } else {
            ("echo", "")
        };
        text.push_str(&route(
            &format!("/flood/{i}"),
            &id,
            &plugin,
            &format!("flood-{i}"),
            "search",
        ));
        text.push_str(&format!("plugin_config = {{ mode = \"{mode}\" }}\n{extra}"));
    }
    text
}

/// One gzip body per gzip connection: [`FLOOD_RECORDS`] records of zeros
/// (valid base64, a valid Firehose request) that inflate to ~60 MiB from
/// ~60 KB.
fn gzip_bodies() -> Vec<Body> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let record = b64.encode(vec![0u8; FLOOD_RECORD_BYTES]);
    (0..GZIP_TENANTS * GZIP_CONNECTIONS)
        .map(|n| {
            let id = format!("flood-{n:08}-0000-0000-0000-000000000000");
            let mut json = format!(r#"{{"requestId":"{id}","timestamp":1700000000000,"records":["#);
            for r in 0..FLOOD_RECORDS {
                if r > 0 {
                    json.push(',');
                }
                json.push_str(r#"{"data":""#);
                json.push_str(&record);
                json.push_str(r#""}"#);
            }
            json.push_str("]}");
            Body {
                id,
                json: Bytes::from(gzip(json.as_bytes())),
                records: FLOOD_RECORDS,
                record_bytes: json.len(),
                gzip: true,
            }
        })
        .collect()
}

/// `data` gzip-compressed.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// A Firehose stream's first retry delay after a refusal.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
/// Its longest retry delay (see `drive`).
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Send `bodies` in turn to `target` (path, key) until `until`, on a new
/// connection when one breaks: after a refusal, again after a doubling
/// delay as Firehose does, or at once when `hammer` (a hostile client).
async fn flood_connection(
    endpoint: Endpoint,
    (path, key): (String, String),
    bodies: Vec<Body>,
    (until, hammer): (Instant, bool),
) -> FloodTally {
    let mut t = FloodTally::default();
    let mut k = 0usize;
    let mut backoff = BACKOFF_FIRST;
    while Instant::now() < until {
        let Ok(mut send) = endpoint.connect().await else {
            t.refused += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mut answered = false;
        while Instant::now() < until {
            let body = &bodies[k % bodies.len()];
            k += 1;
            let mut req = http::Request::post(&path)
                .header("host", &endpoint.addr)
                .header("content-type", "application/json")
                .header("x-amz-firehose-protocol-version", "1.0")
                .header("x-amz-firehose-request-id", &body.id)
                .header("x-amz-firehose-access-key", &key);
            if body.gzip {
                req = req.header("content-encoding", "gzip");
            }
            let Ok(req) = req.body(Full::new(body.json.clone())) else {
                return t;
            };
            let status = match send.send_request(req).await {
                Ok(resp) => {
                    let s = resp.status().as_u16();
                    let _ = resp.into_body().collect().await;
                    s
                }
                Err(_) => 0,
            };
            match status {
                0 if answered => t.broken += 1,
                0 => t.refused += 1,
                200 => t.ok += 1,
                503 => t.s503 += 1,
                429 => t.s429 += 1,
                _ => t.other += 1,
            }
            if status == 200 {
                backoff = BACKOFF_FIRST;
            } else if !hammer {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            if status == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                break;
            }
            answered = true;
        }
    }
    t
}

/// Hold `n` connections open that never send a byte until `until`; when
/// the host closes one, note why and open another.
async fn idle_connections(addr: String, n: usize, until: Instant) -> IdleTally {
    let mut t = IdleTally::default();
    let mut open: Vec<Option<(tokio::net::TcpStream, Instant)>> = (0..n).map(|_| None).collect();
    let mut buf = [0u8; 1];
    while Instant::now() < until {
        for slot in &mut open {
            if let Some((s, since)) = slot {
                match s.try_read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    _ => {
                        if since.elapsed() < Duration::from_millis(100) {
                            t.refused += 1;
                        } else {
                            t.timed_out += 1;
                        }
                        *slot = None;
                    }
                }
            }
            match tokio::net::TcpStream::connect(&addr).await {
                Ok(s) => {
                    t.opened += 1;
                    *slot = Some((s, Instant::now()));
                }
                Err(_) => t.failed += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t
}

/// The flood's figures: peak RSS against its bound, the quiet tenant
/// beside the flood against alone, and what the flooders got.
fn print_flood(
    args: &Args,
    sent_kb: f64,
    (idle_kib, peak_kib): (u64, u64),
    (flood, idle): (&FloodTally, &IdleTally),
    solo: &Report,
    beside: &Report,
) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let bound_kib = idle_kib + (BUDGET_BYTES + POOL * SLOT_MIB * MIB) / 1024;
    let verdict = if peak_kib <= bound_kib {
        "PASS"
    } else {
        "FAIL"
    };
    println!(
        "\n== flood: {GZIP_TENANTS} tenants × {GZIP_CONNECTIONS} concurrent gzip requests of {:.0} KB inflating to {:.1} MiB (bytes_per_second {} MiB each), 1 tenant × {SLEEPER_CONNECTIONS} connections on a plugin that sleeps (nap-loop, 200 ms deadline), {} idle connections (max_connections {MAX_CONNECTIONS}); refused requests {}",
        sent_kb,
        (FLOOD_RECORDS * (FLOOD_RECORD_BYTES * 4 / 3 + 11)) as f64 / MIB as f64,
        FLOOD_BYTES_PER_SECOND / MIB,
        args.idle_connections,
        if args.flood_hammer {
            "sent again at once (--flood-hammer)"
        } else {
            "retried with Firehose's backoff (50 ms doubling to 2 s)"
        }
    );
    println!(
        "  peak RSS     {:.0} MiB (VmHWM) vs bound {:.0} MiB = idle {:.0} MiB + memory_budget_bytes {} MiB + pool {POOL} × memory_mib {SLOT_MIB}: {verdict}",
        mib(peak_kib),
        mib(bound_kib),
        mib(idle_kib),
        BUDGET_BYTES / MIB,
    );
    println!(
        "  flooders     {} × 200, {} × 503 (memory budget / share), {} × 429 (quota, cooling route), {} × other; connections: {} refused before an answer, {} broken after one",
        flood.ok, flood.s503, flood.s429, flood.other, flood.refused, flood.broken
    );
    println!(
        "  idle conns   {} opened, {} refused at once, {} closed by the header-read timeout, {} could not connect",
        idle.opened, idle.refused, idle.timed_out, idle.failed
    );
    let p99 = beside.percentile_ms(0.99) / solo.percentile_ms(0.99);
    println!(
        "  quiet tenant beside / alone: p99 {p99:.3} (target ≤ 1.10: {}), p50 {:.3}, throughput {:.3}; {} given up beside the flood",
        if p99 <= 1.10 { "met" } else { "missed" },
        beside.percentile_ms(0.5) / solo.percentile_ms(0.5),
        beside.records_per_s() / solo.records_per_s(),
        beside.tally.failed
    );
}
