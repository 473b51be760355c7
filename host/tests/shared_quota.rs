//! Quotas across replicas (`[quota_store]`): two `weir serve` replicas,
//! one tenant with a records/s quota, a real `redis-server` on a free
//! loopback port (Debian's `redis-server`; scripts/test installs it).
//! Senders flat out against both replicas: with the shared store the
//! records acknowledged per second stay within 10 % of the quota; without
//! it (the control) the two replicas let through well over the quota
//! (up to twice it, as far as the senders can push).
//! Then Redis is stopped: with `on_unreachable = "local"` requests are
//! still served from the replica's own bucket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Killed, free_port, post, serve, wait_until};

/// The tenant's quota.
const RATE: u64 = 1500;
/// Records per request.
const PER_REQUEST: usize = 50;
/// Senders per replica.
const SENDERS: usize = 3;
/// Not counted: the buckets start full (one second of quota).
const WARMUP: Duration = Duration::from_secs(2);
/// Counted.
const WINDOW: Duration = Duration::from_secs(6);
const KEY: &str = "quota-access-key";

/// `$REDIS_SERVER`, else `redis-server` on `PATH` or in `/usr/bin`.
fn redis_server() -> PathBuf {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        return p.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
        .expect("redis-server not found: install Debian's redis-server (scripts/test does)")
}

/// A `redis-server` on `port`, no persistence, killed when dropped.
fn start_redis(port: u16, dir: &Path) -> Killed {
    let child = Command::new(redis_server())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let redis = Killed(child);
    wait_until("redis-server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    redis
}

fn config(out: &Path, store: Option<u16>) -> String {
    let store = store.map_or(String::new(), |port| {
        format!(
            "\n[quota_store]\nurl = \"redis://127.0.0.1:{port}/0\"\non_unreachable = \"local\"\ntimeout_ms = 100\n"
        )
    });
    format!(
        r#"[server]
listen = "127.0.0.1:0"
plain_http = true
{store}
[sinks.local]
type = "directory"
path = "{out}"

[[tenants]]
id = "demo"
access_keys = ["{KEY}"]
records_per_second = {RATE}

[[routes]]
path = "/firehose/waf"
tenant = "demo"
plugin = "builtin:waf"
index = "quota"
sink = "local"
"#,
        out = out.display()
    )
}

/// What a run measured: records acknowledged per second in the window, and
/// the median latency of a 200.
struct Measured {
    per_second: f64,
    median_ok: Duration,
}

/// Send flat out to every replica of `addrs` for the warm-up and the
/// window; records answered 200 within the window, per second.
fn drive(addrs: &[String], run: &str) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let (start, end) = (t0 + WARMUP, t0 + WARMUP + WINDOW);
    let senders: Vec<_> = addrs
        .iter()
        .flat_map(|a| (0..SENDERS).map(move |s| (a.clone(), s)))
        .enumerate()
        .map(|(i, (addr, _))| {
            let (stop, counted) = (stop.clone(), counted.clone());
            let run = run.to_string();
            std::thread::spawn(move || {
                let mut n = 0;
                let mut latencies = Vec::new();
                while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let sent = Instant::now();
                    let status = post(&addr, KEY, &format!("{run}-{i}-{n}"), PER_REQUEST);
                    let answered = Instant::now();
                    if status == 200 {
                        latencies.push(answered - sent);
                        if answered >= start && answered < end {
                            counted.fetch_add(PER_REQUEST as u64, Ordering::Relaxed);
                        }
                    } else {
                        assert_eq!(status, 429, "only quota refusals");
                        // Firehose backs off; a short pause keeps the
                        // senders from only measuring 429s.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    latencies.sort();
    Measured {
        per_second: counted.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64(),
        median_ok: latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default(),
    }
}

/// Median latency of `n` sequential one-record requests to `addr` (well
/// under the quota): the cost of one request, with or without the store.
fn sequential_median(addr: &str, run: &str, n: usize) -> Duration {
    let mut l: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            assert_eq!(post(addr, KEY, &format!("{run}-{i}"), 1), 200);
            let d = t.elapsed();
            std::thread::sleep(Duration::from_millis(2));
            d
        })
        .collect();
    l.sort();
    l[n / 2]
}

#[test]
fn a_tenants_quota_holds_across_two_replicas() {
    let dir = std::env::temp_dir().join(format!("weir-shared-quota-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let redis = start_redis(port, &dir);

    let start_pair = |name: &str, store: Option<u16>| {
        (0..2)
            .map(|r| {
                let d = dir.join(format!("{name}-{r}"));
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("weir.toml"), config(&d.join("out"), store)).unwrap();
                let addr = format!("127.0.0.1:{}", free_port());
                let weir = serve(&d.join("weir.toml"), &addr, &d.join("weir.log"));
                (addr, weir)
            })
            .collect::<Vec<_>>()
    };

    // The control: local buckets only, each replica lets its quota through.
    let local = start_pair("local", None);
    let addrs: Vec<String> = local.iter().map(|(a, _)| a.clone()).collect();
    let local_latency = sequential_median(&addrs[0], "seq-local", 200);
    let alone = drive(&addrs, "local");
    drop(local);

    let shared = start_pair("shared", Some(port));
    let addrs: Vec<String> = shared.iter().map(|(a, _)| a.clone()).collect();
    let shared_latency = sequential_median(&addrs[0], "seq-shared", 200);
    let together = drive(&addrs, "shared");
    println!(
        "quota {RATE} records/s, 2 replicas: local buckets {:.0} records/s, shared (Redis) {:.0} records/s ({:+.1} %); \
         median one-record request {:?} local, {:?} shared (added {:?}); median 200 under load {:?} / {:?}",
        alone.per_second,
        together.per_second,
        (together.per_second / RATE as f64 - 1.0) * 100.0,
        local_latency,
        shared_latency,
        shared_latency.saturating_sub(local_latency),
        alone.median_ok,
        together.median_ok,
    );
    assert!(
        alone.per_second > 1.4 * RATE as f64,
        "the control: two replicas with local buckets let through well over the quota ({:.0})",
        alone.per_second
    );
    let error = (together.per_second - RATE as f64).abs() / RATE as f64;
    assert!(
        error <= 0.10,
        "the shared quota holds within 10 %: {:.0} records/s against {RATE}",
        together.per_second
    );

    // Redis goes away: the replicas fall back to their own buckets.
    drop(redis);
    std::thread::sleep(Duration::from_millis(1200));
    let mut ok = 0;
    for i in 0..5 {
        ok += usize::from(post(&addrs[i % 2], KEY, &format!("fallback-{i}"), 1) == 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        ok >= 4,
        "requests are served from the local buckets while Redis is down ({ok} of 5)"
    );
    drop(shared);
    let _ = std::fs::remove_dir_all(&dir);
}
