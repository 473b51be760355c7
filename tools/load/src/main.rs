//! `weir-load`: start `weir serve` with a generated config, replay Firehose
//! requests built from the WAF fixtures against it over N keep-alive
//! connections (at a set rate, or as fast as it answers), retry non-200s
//! the way Firehose does (same request id, backoff), and print records/s,
//! MB/s, latency percentiles, errors, the host's CPU time and peak RSS.
//!
//! The `_bulk` side is a built-in null endpoint (Weir's own cost only) or a
//! real OpenSearch URL. Scenarios: `sweep` (flat out, then half that rate
//! flushing per request), `noisy-neighbour` (a tenant's rate and p99 alone
//! and beside a tenant flooding with a looping plugin), `idle-plugins`
//! (RSS per loaded plugin), `startup` (start to ready, cold and warm
//! plugin cache), and `all`. Figures are printed, never asserted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};

const KEY: &str = "load-access-key";
const NOISY_KEY: &str = "noisy-access-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Flat out, then at half the rate reached with per-request flushing.
    Sweep,
    /// One run at `--rate` (0: flat out).
    Throughput,
    /// A quiet tenant alone, then beside a tenant flooding a looping plugin.
    NoisyNeighbour,
    /// RSS with one plugin loaded and with `--plugins` more.
    IdlePlugins,
    /// Start to ready with a cold and with a warm plugin cache.
    Startup,
    /// Sweep, startup, idle-plugins and noisy-neighbour.
    All,
}

#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value = "all")]
    scenario: Scenario,
    /// The `weir` binary (default: `weir` beside this program).
    #[arg(long)]
    weir: Option<PathBuf>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds measured per run (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up per run, not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Requests per second over all connections; 0: as fast as answered.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Records per Firehose request.
    #[arg(long, default_value_t = 500)]
    records: usize,
    /// `null` (the built-in null `_bulk` endpoint) or an OpenSearch URL.
    #[arg(long, default_value = "null")]
    target: String,
    /// HTTPS to Weir (a self-signed certificate made for the run).
    #[arg(long)]
    tls: bool,
    /// The OpenSearch sink's `bulk_max_age_ms` (0: a `_bulk` per request).
    #[arg(long, default_value_t = 0)]
    bulk_max_age_ms: u64,
    /// A plugin that loops, for `noisy-neighbour` (default: the hostile test plugin).
    #[arg(long)]
    noisy_plugin: Option<PathBuf>,
    /// A plugin component to load many distinct copies of, for `idle-plugins`
    /// (default: the hostile test plugin).
    #[arg(long)]
    idle_plugin: Option<PathBuf>,
    /// Extra plugins loaded for `idle-plugins`.
    #[arg(long, default_value_t = 100)]
    plugins: usize,
    /// WAF log fixtures to build records from.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Keep the run's directory (configs, logs) instead of deleting it.
    #[arg(long)]
    keep: bool,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hostile_plugin() -> PathBuf {
    workspace().join("target/wasm-test-plugins/wasm32-wasip2/plugin/weir_test_plugin_hostile.wasm")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let weir = match &args.weir {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("weir"))
            .context("no directory for the weir binary")?,
    };
    if !weir.is_file() {
        bail!(
            "{} not found; build it (`cargo build --release -p weir`) or pass --weir",
            weir.display()
        );
    }
    let run_dir = std::env::temp_dir().join(format!("weir-load-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir)?;
    // One engine-wide runtime on one thread: the generator must not take
    // more than a core from the host it measures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(run(&args, &weir, &run_dir));
    if args.keep {
        eprintln!("run directory kept: {}", run_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    result
}

async fn run(args: &Args, weir: &Path, dir: &Path) -> anyhow::Result<()> {
    let records = fixture_records(
        &args
            .fixtures
            .clone()
            .unwrap_or_else(|| workspace().join("tests/fixtures/plugins/waf")),
    )?;
    let mean = records.iter().map(Vec::len).sum::<usize>() / records.len().max(1);
    println!(
        "weir-load: {} cores, weir {}, {} connections, {} records/request (mean record {mean} B, {} WAF logs from the fixtures), {}, _bulk to {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        weir.display(),
        args.connections,
        args.records,
        records.len(),
        if args.tls { "https" } else { "http" },
        args.target
    );
    let bulk_url = if args.target == "null" {
        weir_load::null_bulk_server().await?
    } else {
        args.target.clone()
    };
    let bodies = Arc::new(build_bodies(&records, args.records, 64, "load"));
    let s = args.scenario;
    if matches!(s, Scenario::Sweep | Scenario::All) {
        sweep(args, weir, dir, &bulk_url, &bodies).await?;
    }
    if s == Scenario::Throughput {
        let host = Host::start(
            weir,
            dir,
            "throughput",
            &host_config(args, dir, &bulk_url, None),
        )
        .await?;
        let r = drive(
            args,
            &host,
            "/firehose/waf",
            KEY,
            &bodies,
            args.rate,
            args.connections,
        )
        .await?;
        r.print("throughput", args, &host);
    }
    if matches!(s, Scenario::Startup | Scenario::All) {
        startup(weir, dir, args, &bulk_url).await?;
    }
    if matches!(s, Scenario::IdlePlugins | Scenario::All) {
        idle_plugins(args, weir, dir, &bulk_url).await?;
    }
    if matches!(s, Scenario::NoisyNeighbour | Scenario::All) {
        noisy_neighbour(args, weir, dir, &bulk_url, &records).await?;
    }
    Ok(())
}

/// Every WAF log of the fixtures, one line each: `*.in` is one log,
/// `*.lines.in` one per line.
fn fixture_records(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading fixtures {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".in"))
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f)?;
        if f.to_string_lossy().ends_with(".lines.in") {
            out.extend(
                bytes
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                    .map(<[u8]>::to_vec),
            );
        } else {
            // Pretty-printed samples become one line, as WAF writes them.
            let one_line = serde_json::from_slice::<serde_json::Value>(&bytes)
                .map(|v| v.to_string().into_bytes())
                .unwrap_or_else(|_| bytes.trim_ascii().to_vec());
            out.push(one_line);
        }
    }
    if out.is_empty() {
        bail!("no fixtures in {}", dir.display());
    }
    Ok(out)
}

/// A request body: its id, the JSON bytes, the record bytes it carries.
#[derive(Debug, Clone)]
struct Body {
    id: String,
    json: Bytes,
    records: usize,
    record_bytes: usize,
}

fn build_bodies(records: &[Vec<u8>], per_request: usize, count: usize, tag: &str) -> Vec<Body> {
    let b64 = base64::engine::general_purpose::STANDARD;
    (0..count)
        .map(|i| {
            let id = format!("{tag}-{i:08}-0000-0000-0000-000000000000");
            let recs: Vec<&Vec<u8>> = (0..per_request)
                .map(|k| &records[(i * per_request + k) % records.len()])
                .collect();
            let json = serde_json::json!({
                "requestId": id,
                "timestamp": 1_700_000_000_000i64 + i as i64,
                "records": recs.iter().map(|r| serde_json::json!({"data": b64.encode(r)})).collect::<Vec<_>>(),
            });
            Body {
                id,
                json: Bytes::from(json.to_string()),
                records: per_request,
                record_bytes: recs.iter().map(|r| r.len()).sum(),
            }
        })
        .collect()
}

// ---- the host process ------------------------------------------------------

/// Where a running host listens, and how to reach it.
#[derive(Clone)]
struct Endpoint {
    addr: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

struct Host {
    child: Child,
    endpoint: Endpoint,
    ready_after: Duration,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) and memory of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
struct ProcSample {
    cpu: Duration,
    rss_kib: u64,
    peak_rss_kib: u64,
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn proc_sample(pid: u32) -> ProcSample {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let hz = clock_ticks().max(1);
    let cpu = Duration::from_secs_f64((ticks(14) + ticks(15)) as f64 / hz as f64);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    ProcSample {
        cpu,
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    }
}

impl Host {
    /// Write the config, start `weir serve`, and wait for `/readyz`.
    async fn start(
        weir: &Path,
        dir: &Path,
        name: &str,
        config: &HostConfig,
    ) -> anyhow::Result<Host> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, &config.text)?;
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let started = Instant::now();
        let child = Command::new(weir)
            .args(["serve", "--config"])
            .arg(&path)
            .args(["--listen", &addr])
            .env("WEIR_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", weir.display()))?;
        let mut host = Host {
            child,
            endpoint: Endpoint {
                addr,
                tls: config.client_tls.clone(),
            },
            ready_after: Duration::ZERO,
        };
        loop {
            if let Ok(Some(status)) = host.child.try_wait() {
                bail!(
                    "weir exited ({status}) before it was ready; see {}",
                    dir.join(format!("{name}.log")).display()
                );
            }
            if let Ok(mut c) = host.endpoint.connect().await
                && let Ok(resp) = c
                    .send_request(
                        http::Request::get("/readyz")
                            .header("host", &host.endpoint.addr)
                            .body(Full::new(Bytes::new()))?,
                    )
                    .await
                && resp.status() == 200
            {
                host.ready_after = started.elapsed();
                return Ok(host);
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("weir was not ready within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn sample(&self) -> ProcSample {
        proc_sample(self.child.id())
    }
}

impl Endpoint {
    /// Weir's `weir_request_duration_seconds` for `tenant`/`route`, per
    /// bucket (not cumulative): (upper bound in seconds, count).
    async fn histogram(&self, tenant: &str, route: &str) -> Vec<(f64, u64)> {
        let Ok(mut c) = self.connect().await else {
            return Vec::new();
        };
        let Ok(req) = http::Request::get("/metrics")
            .header("host", &self.addr)
            .body(Full::new(Bytes::new()))
        else {
            return Vec::new();
        };
        let Ok(resp) = c.send_request(req).await else {
            return Vec::new();
        };
        let Ok(body) = resp.into_body().collect().await else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
        let prefix = format!(
            "weir_request_duration_seconds_bucket{{tenant=\"{tenant}\",route=\"{route}\",le=\""
        );
        let mut out = Vec::new();
        let mut previous = 0u64;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let Some((le, count)) = rest.split_once("\"} ") else {
                continue;
            };
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            let cumulative: u64 = count.trim().parse().unwrap_or(previous);
            out.push((le, cumulative.saturating_sub(previous)));
            previous = cumulative;
        }
        out
    }

    async fn connect(
        &self,
    ) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let tcp = tokio::net::TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => {
                let (send, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                        .await?;
                tokio::spawn(conn);
                Ok(send)
            }
            Some(cfg) => {
                let name = rustls_pki_types::ServerName::try_from("localhost")?;
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await?;
                let (send, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                        .await?;
                tokio::spawn(conn);
                Ok(send)
            }
        }
    }
}

struct HostConfig {
    text: String,
    client_tls: Option<Arc<rustls::ClientConfig>>,
}

/// Tenant `load` with route `/firehose/waf` (WAF → the OpenSearch sink),
/// plus `extra` TOML; TLS when asked.
fn host_config(args: &Args, dir: &Path, bulk_url: &str, extra: Option<&str>) -> HostConfig {
    let (server, client_tls) = if args.tls {
        match self_signed(dir) {
            Ok((server, client)) => (server, Some(client)),
            Err(e) => {
                eprintln!("cannot make a certificate ({e}); using plain HTTP");
                ("plain_http = true".to_string(), None)
            }
        }
    } else {
        ("plain_http = true".to_string(), None)
    };
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
{server}

[plugins]
cache_dir = {cache:?}
max_concurrent_batches = 4

[sinks.dead]
type = "directory"
path = {dead:?}

[sinks.search]
type = "opensearch"
urls = ["{bulk_url}"]
dead_letter_sink = "dead"
bulk_max_age_ms = {age}

[[tenants]]
id = "load"
access_keys = ["{KEY}"]

[[routes]]
path = "/firehose/waf"
tenant = "load"
plugin = "builtin:waf"
index = "waf"
sink = "search"
{extra}
"#,
        cache = dir.join("cache").display().to_string(),
        dead = dir.join("dead-letters").display().to_string(),
        age = args.bulk_max_age_ms,
        extra = extra.unwrap_or("")
    );
    HostConfig { text, client_tls }
}

/// A certificate for `localhost`: the `[server.tls]` lines and a client config trusting it.
fn self_signed(dir: &Path) -> anyhow::Result<(String, Arc<rustls::ClientConfig>)> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem())?;
    std::fs::write(&key, ck.signing_key.serialize_pem())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone())?;
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok((
        format!(
            "[server.tls]\ncert = {:?}\nkey = {:?}",
            cert.display().to_string(),
            key.display().to_string()
        ),
        Arc::new(client),
    ))
}

// ---- driving load ------------------------------------------------------------

/// What one run measured.
#[derive(Debug, Default)]
struct Report {
    window: Duration,
    requests: u64,
    records: u64,
    record_bytes: u64,
    retries_429: u64,
    retries_other: u64,
    failed: u64,
    latencies_us: Vec<u64>,
    cpu: Duration,
    peak_rss_kib: u64,
    rss_kib: u64,
    offered_rate: f64,
    /// Weir's own request-duration histogram over the window: (upper bound s, count).
    server_hist: Vec<(f64, u64)>,
}

impl Report {
    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.window.as_secs_f64().max(1e-9)
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    }

    /// A percentile of Weir's own histogram, interpolated within its bucket.
    fn server_percentile_ms(&self, p: f64) -> f64 {
        let total: u64 = self.server_hist.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return f64::NAN;
        }
        let want = (total as f64 * p).ceil();
        let (mut seen, mut lower) = (0u64, 0.0);
        for &(le, n) in &self.server_hist {
            if (seen + n) as f64 >= want && n > 0 {
                if le.is_infinite() {
                    return lower * 1000.0;
                }
                let frac = (want - seen as f64) / n as f64;
                return (lower + (le - lower) * frac) * 1000.0;
            }
            seen += n;
            lower = le;
        }
        lower * 1000.0
    }

    fn print(&self, title: &str, args: &Args, host: &Host) {
        let rate = if self.offered_rate > 0.0 {
            format!("{:.0} requests/s offered", self.offered_rate)
        } else {
            "flat out".to_string()
        };
        println!(
            "\n== {title} ({rate}, {} connections, {} s measured)",
            args.connections,
            self.window.as_secs_f64()
        );
        println!(
            "  requests     {} answered 200, retried {} × 429 and {} × other, {} given up",
            self.requests, self.retries_429, self.retries_other, self.failed
        );
        println!(
            "  throughput   {:.0} records/s, {:.1} MB/s of records, {:.1} requests/s",
            self.records_per_s(),
            self.record_bytes as f64 / 1e6 / self.window.as_secs_f64().max(1e-9),
            self.requests as f64 / self.window.as_secs_f64().max(1e-9)
        );
        println!(
            "  latency      p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (request sent or due → 200 received)",
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0)
        );
        println!(
            "  in weir      p50 {:.2} ms, p99 {:.2} ms (request received → answered, from /metrics' histogram, interpolated in its buckets)",
            self.server_percentile_ms(0.50),
            self.server_percentile_ms(0.99)
        );
        let cpu = self.cpu.as_secs_f64();
        println!(
            "  host CPU     {cpu:.2} s user+sys in {:.1} s ({:.0}% of a core) → {:.0} records per CPU-second",
            self.window.as_secs_f64(),
            100.0 * cpu / self.window.as_secs_f64().max(1e-9),
            if cpu > 0.0 {
                self.records as f64 / cpu
            } else {
                f64::NAN
            }
        );
        println!(
            "  host memory  RSS {:.1} MiB now, peak {:.1} MiB (ready after {:.0} ms)",
            self.rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0,
            host.ready_after.as_secs_f64() * 1000.0
        );
    }
}

/// Per-connection tallies.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    records: u64,
    record_bytes: u64,
    retries_429: u64,
    retries_other: u64,
    failed: u64,
    latencies_us: Vec<u64>,
}

/// Send requests to `path` over `connections` connections for the warm-up
/// plus the measured window; `rate` requests/s in all (0: flat out).
async fn drive(
    args: &Args,
    host: &Host,
    path: &str,
    key: &str,
    bodies: &Arc<Vec<Body>>,
    rate: f64,
    connections: usize,
) -> anyhow::Result<Report> {
    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.duration);
    let t0 = Instant::now();
    let (start, end) = (t0 + warmup, t0 + warmup + window);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let send = host.endpoint.connect().await?;
        let (bodies, path, key, addr) = (
            bodies.clone(),
            path.to_string(),
            key.to_string(),
            host.endpoint.addr.clone(),
        );
        tasks.push(tokio::spawn(async move {
            connection(
                send,
                c,
                connections,
                rate,
                t0,
                start,
                end,
                &bodies,
                &path,
                &key,
                &addr,
            )
            .await
        }));
    }
    // CPU, memory and Weir's histogram are read at the window's edges.
    let route = path.rsplit('/').next().unwrap_or_default().to_string();
    let tenant = if key == KEY { "load" } else { "noisy" };
    tokio::time::sleep_until(start.into()).await;
    let before = host.sample();
    let hist_before = host.endpoint.histogram(tenant, &route).await;
    tokio::time::sleep_until(end.into()).await;
    let after = host.sample();
    let hist_after = host.endpoint.histogram(tenant, &route).await;
    let mut r = Report {
        server_hist: hist_after
            .iter()
            .zip(hist_before.iter().chain(std::iter::repeat(&(0.0, 0))))
            .map(|(&(le, a), &(_, b))| (le, a.saturating_sub(b)))
            .collect(),
        window,
        offered_rate: rate,
        cpu: after.cpu.saturating_sub(before.cpu),
        peak_rss_kib: after.peak_rss_kib,
        rss_kib: after.rss_kib,
        ..Report::default()
    };
    for t in tasks {
        let t = t.await?;
        r.requests += t.requests;
        r.records += t.records;
        r.record_bytes += t.record_bytes;
        r.retries_429 += t.retries_429;
        r.retries_other += t.retries_other;
        r.failed += t.failed;
        r.latencies_us.extend(t.latencies_us);
    }
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    mut send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    c: usize,
    connections: usize,
    rate: f64,
    t0: Instant,
    start: Instant,
    end: Instant,
    bodies: &[Body],
    path: &str,
    key: &str,
    addr: &str,
) -> Tally {
    let mut tally = Tally::default();
    let mut k: u64 = 0;
    loop {
        // Open-loop schedule when rate-limited: latency counts from when the
        // request was due, so a slow answer cannot hide queueing.
        let due = if rate > 0.0 {
            let at =
                t0 + Duration::from_secs_f64((k as f64 * connections as f64 + c as f64) / rate);
            let now = Instant::now();
            if at > now {
                tokio::time::sleep_until(at.into()).await;
            }
            at
        } else {
            Instant::now()
        };
        if due >= end {
            break;
        }
        let body = &bodies[(k as usize * connections + c) % bodies.len()];
        k += 1;
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0;
        let ok = loop {
            attempts += 1;
            let req = http::Request::post(path)
                .header("host", addr)
                .header("content-type", "application/json")
                .header("x-amz-firehose-protocol-version", "1.0")
                .header("x-amz-firehose-request-id", &body.id)
                .header("x-amz-firehose-access-key", key)
                .body(Full::new(body.json.clone()));
            let status = match req {
                Ok(req) => match send.send_request(req).await {
                    Ok(resp) => {
                        let s = resp.status().as_u16();
                        let _ = resp.into_body().collect().await;
                        s
                    }
                    Err(_) => 0,
                },
                Err(_) => 0,
            };
            if status == 200 {
                break true;
            }
            let in_window = Instant::now() >= start;
            if status == 429 {
                tally.retries_429 += u64::from(in_window);
            } else {
                tally.retries_other += u64::from(in_window);
            }
            if status == 0 {
                // The connection broke; Firehose would open a new one.
                return tally;
            }
            if attempts >= 20 || Instant::now() >= end {
                break false;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        };
        let done = Instant::now();
        if due >= start && done <= end {
            if ok {
                tally.requests += 1;
                tally.records += body.records as u64;
                tally.record_bytes += body.record_bytes as u64;
                tally
                    .latencies_us
                    .push(done.duration_since(due).as_micros() as u64);
            } else {
                tally.failed += 1;
            }
        }
    }
    tally
}

// ---- scenarios ---------------------------------------------------------------

async fn sweep(
    args: &Args,
    weir: &Path,
    dir: &Path,
    bulk: &str,
    bodies: &Arc<Vec<Body>>,
) -> anyhow::Result<()> {
    let host = Host::start(weir, dir, "sweep", &host_config(args, dir, bulk, None)).await?;
    let max = drive(
        args,
        &host,
        "/firehose/waf",
        KEY,
        bodies,
        0.0,
        args.connections,
    )
    .await?;
    max.print("maximum rate", args, &host);
    let half = max.requests as f64 / max.window.as_secs_f64() / 2.0;
    let r = drive(
        args,
        &host,
        "/firehose/waf",
        KEY,
        bodies,
        half,
        args.connections,
    )
    .await?;
    r.print("half the maximum rate, a _bulk per request", args, &host);
    Ok(())
}

async fn startup(weir: &Path, dir: &Path, args: &Args, bulk: &str) -> anyhow::Result<()> {
    let sub = dir.join("startup");
    std::fs::create_dir_all(&sub)?;
    // The five built-ins, as in the example config.
    let mut extra = String::new();
    for (path, plugin) in [
        ("cloudtrail", "cloudwatch-logs"),
        ("vpc-flow", "vpc-flow"),
        ("securityhub", "securityhub"),
        ("route53-resolver", "route53-resolver"),
    ] {
        extra.push_str(&format!(
            "\n[[routes]]\npath = \"/firehose/{path}\"\ntenant = \"load\"\nplugin = \"builtin:{plugin}\"\nindex = \"{path}\"\nsink = \"search\"\n"
        ));
    }
    let config = host_config(args, &sub, bulk, Some(&extra));
    let cold = Host::start(weir, &sub, "cold", &config).await?;
    let cold_ms = cold.ready_after.as_secs_f64() * 1000.0;
    drop(cold);
    let mut warm = Vec::new();
    for i in 0..5 {
        let h = Host::start(weir, &sub, &format!("warm{i}"), &config).await?;
        warm.push(h.ready_after.as_secs_f64() * 1000.0);
    }
    warm.sort_by(f64::total_cmp);
    println!(
        "\n== start to ready (spawn → /readyz 200), five built-in plugins\n  cold cache   {cold_ms:.0} ms (compiles every plugin)\n  warm cache   median {:.0} ms, min {:.0} ms, max {:.0} ms over 5 starts",
        warm[2], warm[0], warm[4]
    );
    Ok(())
}

/// `bytes` with a custom section appended: the same program, another digest.
fn with_custom_section(bytes: &[u8], tag: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let name = b"weir-load-copy";
    let payload = tag.to_le_bytes();
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0);
    leb(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

async fn idle_plugins(args: &Args, weir: &Path, dir: &Path, bulk: &str) -> anyhow::Result<()> {
    let plugin = args.idle_plugin.clone().unwrap_or_else(hostile_plugin);
    let bytes = std::fs::read(&plugin).with_context(|| {
        format!(
            "reading {} (build it with `cargo test -p weir-tests --no-run`, or pass --idle-plugin)",
            plugin.display()
        )
    })?;
    let sub = dir.join("idle");
    std::fs::create_dir_all(&sub)?;
    let route = |i: usize, path: &Path| {
        format!(
            "\n[[routes]]\npath = \"/idle/{i}\"\ntenant = \"load\"\nplugin = {:?}\nindex = \"idle-{i}\"\nsink = \"search\"\nplugin_config = {{ mode = \"echo\" }}\n",
            path.display().to_string()
        )
    };
    let mut one = String::new();
    let mut many = String::new();
    for i in 0..=args.plugins {
        let p = sub.join(format!("copy-{i}.wasm"));
        std::fs::write(&p, with_custom_section(&bytes, i))?;
        if i == 0 {
            one.push_str(&route(i, &p));
        }
        many.push_str(&route(i, &p));
    }
    let settle = Duration::from_millis(500);
    // Warm the cache first so both starts only map compiled code.
    drop(
        Host::start(
            weir,
            &sub,
            "idle-warm",
            &host_config(args, &sub, bulk, Some(&many)),
        )
        .await?,
    );
    let h1 = Host::start(
        weir,
        &sub,
        "idle-1",
        &host_config(args, &sub, bulk, Some(&one)),
    )
    .await?;
    tokio::time::sleep(settle).await;
    let s1 = h1.sample();
    drop(h1);
    let hn = Host::start(
        weir,
        &sub,
        "idle-n",
        &host_config(args, &sub, bulk, Some(&many)),
    )
    .await?;
    tokio::time::sleep(settle).await;
    let sn = hn.sample();
    let ready_n = hn.ready_after;
    drop(hn);
    let per = (sn.rss_kib as f64 - s1.rss_kib as f64) / args.plugins as f64 / 1024.0;
    println!(
        "\n== idle loaded plugins ({} B component, {} distinct copies)\n  RSS with WAF + 1 plugin     {:.1} MiB\n  RSS with WAF + {} plugins  {:.1} MiB (ready after {:.0} ms, warm cache)\n  per additional plugin       {per:.2} MiB",
        bytes.len(),
        args.plugins + 1,
        s1.rss_kib as f64 / 1024.0,
        args.plugins + 1,
        sn.rss_kib as f64 / 1024.0,
        ready_n.as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn noisy_neighbour(
    args: &Args,
    weir: &Path,
    dir: &Path,
    bulk: &str,
    records: &[Vec<u8>],
) -> anyhow::Result<()> {
    let plugin = args.noisy_plugin.clone().unwrap_or_else(hostile_plugin);
    if !plugin.is_file() {
        bail!(
            "{} not found (build it with `cargo test -p weir-tests --no-run`, or pass --noisy-plugin)",
            plugin.display()
        );
    }
    let extra = format!(
        r#"
[[tenants]]
id = "noisy"
access_keys = ["{NOISY_KEY}"]
max_requests_in_flight = 8

[[routes]]
path = "/noisy/loop"
tenant = "noisy"
plugin = {plugin:?}
plugin_config = {{ mode = "loop" }}
timeout_ms = 200
index = "loop"
sink = "search"
"#,
        plugin = plugin.display().to_string()
    );
    let sub = dir.join("noisy");
    std::fs::create_dir_all(&sub)?;
    let host = Host::start(
        weir,
        &sub,
        "noisy",
        &host_config(args, &sub, bulk, Some(&extra)),
    )
    .await?;
    let bodies = Arc::new(build_bodies(records, args.records, 64, "quiet"));
    let noisy_bodies = Arc::new(build_bodies(records, 10, 16, "noisy"));
    // The quiet tenant's rate: a quarter of what it reaches alone, flat out.
    let rate = if args.rate > 0.0 {
        args.rate
    } else {
        let max = drive(
            args,
            &host,
            "/firehose/waf",
            KEY,
            &bodies,
            0.0,
            args.connections,
        )
        .await?;
        max.requests as f64 / max.window.as_secs_f64() / 4.0
    };
    let solo = drive(
        args,
        &host,
        "/firehose/waf",
        KEY,
        &bodies,
        rate,
        args.connections,
    )
    .await?;
    solo.print("quiet tenant alone", args, &host);
    let flood = {
        let noisy_args = Args {
            warmup: 0.0,
            duration: args.warmup + args.duration + 1.0,
            ..args.clone()
        };
        let (endpoint, nb) = (host.endpoint.clone(), noisy_bodies.clone());
        tokio::spawn(async move { flood(noisy_args, endpoint, nb).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let beside = drive(
        args,
        &host,
        "/firehose/waf",
        KEY,
        &bodies,
        rate,
        args.connections,
    )
    .await?;
    beside.print(
        "quiet tenant beside a tenant flooding a looping plugin",
        args,
        &host,
    );
    let noisy = flood.await??;
    println!(
        "  noisy tenant: {} requests answered 200 (records dead-lettered after the 200 ms deadline), {} × 429 (its route cooling down, or its quota), {} × other",
        noisy.requests, noisy.retries_429, noisy.retries_other
    );
    println!(
        "  quiet tenant beside / alone: throughput {:.3}, p50 {:.2}, p99 {:.2}",
        beside.records_per_s() / solo.records_per_s(),
        beside.percentile_ms(0.5) / solo.percentile_ms(0.5),
        beside.percentile_ms(0.99) / solo.percentile_ms(0.99)
    );
    Ok(())
}

/// Flood `/noisy/loop` flat out over 8 connections (the Firehose retry
/// behaviour included), for the length of `args`' window.
async fn flood(args: Args, endpoint: Endpoint, bodies: Arc<Vec<Body>>) -> anyhow::Result<Tally> {
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for c in 0..8 {
        let send = endpoint.connect().await?;
        let (bodies, addr) = (bodies.clone(), endpoint.addr.clone());
        tasks.push(tokio::spawn(async move {
            connection(
                send,
                c,
                8,
                0.0,
                t0,
                t0,
                end,
                &bodies,
                "/noisy/loop",
                NOISY_KEY,
                &addr,
            )
            .await
        }));
    }
    let mut total = Tally::default();
    for t in tasks {
        let t = t.await?;
        total.requests += t.requests;
        total.retries_429 += t.retries_429;
        total.retries_other += t.retries_other;
    }
    Ok(total)
}
