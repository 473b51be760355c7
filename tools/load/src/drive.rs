//! Driving load: keep-alive connections sending Firehose requests on a
//! schedule, retrying the way Firehose does, and tallying what was answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use tokio::task::JoinHandle;

use crate::args::{Args, KEY};
use crate::bodies::Body;
use crate::host::{Endpoint, Host, Sender};
use crate::report::Report;

/// Per-connection tallies.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Requests answered 200 within the window.
    pub(crate) requests: u64,
    /// Records in those requests.
    pub(crate) records: u64,
    /// The records' bytes (before base64).
    pub(crate) record_bytes: u64,
    /// Retries after a 429 within the window.
    pub(crate) retries_429: u64,
    /// Retries after any other non-200 (or a broken connection) within the window.
    pub(crate) retries_other: u64,
    /// Requests given up within the window.
    pub(crate) failed: u64,
    /// Latency of each request answered 200, in µs.
    pub(crate) latencies_us: Vec<u64>,
}

impl Tally {
    /// Add another connection's tallies.
    fn add(&mut self, t: Tally) {
        self.requests += t.requests;
        self.records += t.records;
        self.record_bytes += t.record_bytes;
        self.retries_429 += t.retries_429;
        self.retries_other += t.retries_other;
        self.failed += t.failed;
        self.latencies_us.extend(t.latencies_us);
    }

    /// Count a request due at `due` and done at `done`, if both are in the window.
    fn count(&mut self, body: &Body, due: Instant, done: Instant, ok: bool, w: &Window) {
        if due < w.start || done > w.end {
            return;
        }
        if ok {
            self.requests += 1;
            self.records += body.records as u64;
            self.record_bytes += body.record_bytes as u64;
            self.latencies_us
                .push(done.duration_since(due).as_micros() as u64);
        } else {
            self.failed += 1;
        }
    }
}

/// A run's times: it starts sending at `t0`, and counts from `start` to `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// When sending starts (the warm-up's start).
    pub(crate) t0: Instant,
    /// When the measured window starts.
    pub(crate) start: Instant,
    /// When the measured window ends, and sending stops.
    pub(crate) end: Instant,
}

/// Where requests go: the route's path, the access key, the `host` header.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The route's path.
    pub(crate) path: String,
    /// The tenant's access key.
    pub(crate) key: String,
    /// The `host` header.
    pub(crate) addr: String,
}

/// The route every scenario measures (tenant `load`, plugin WAF).
pub(crate) const WAF_PATH: &str = "/firehose/waf";

/// Send requests to tenant `load`'s WAF route over `--connections`
/// connections for the warm-up plus the measured window; `rate` requests/s
/// in all (0: flat out).
pub(crate) async fn drive(
    args: &Args,
    host: &Host,
    bodies: &Arc<Vec<Body>>,
    rate: f64,
) -> anyhow::Result<Report> {
    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.duration);
    let t0 = Instant::now();
    let w = Window {
        t0,
        start: t0 + warmup,
        end: t0 + warmup + window,
    };
    let target = Target {
        path: WAF_PATH.to_string(),
        key: KEY.to_string(),
        addr: host.endpoint.addr.clone(),
    };
    let tasks = spawn_connections(&host.endpoint, &target, bodies, w, rate, args.connections);
    let tasks = tasks.await?;
    let mut r = measure_host(host, &w).await;
    r.window = window;
    r.offered_rate = rate;
    r.tally = collect(tasks).await?;
    Ok(r)
}

/// CPU, memory and Weir's histogram (tenant `load`, route `waf`), read at
/// the window's edges.
async fn measure_host(host: &Host, w: &Window) -> Report {
    tokio::time::sleep_until(w.start.into()).await;
    let before = host.sample();
    let hist_before = host.endpoint.histogram("load", "waf").await;
    tokio::time::sleep_until(w.end.into()).await;
    let after = host.sample();
    let hist_after = host.endpoint.histogram("load", "waf").await;
    Report {
        server_hist: hist_after
            .iter()
            .zip(hist_before.iter().chain(std::iter::repeat(&(0.0, 0))))
            .map(|(&(le, a), &(_, b))| (le, a.saturating_sub(b)))
            .collect(),
        cpu: after.cpu.saturating_sub(before.cpu),
        peak_rss_kib: after.peak_rss_kib,
        rss_kib: after.rss_kib,
        ..Report::default()
    }
}

/// Open `connections` connections to `endpoint`, each sending to `target`
/// from its share of `bodies` over `w`, at `rate` requests/s in all (0:
/// flat out).
pub(crate) async fn spawn_connections(
    endpoint: &Endpoint,
    target: &Target,
    bodies: &Arc<Vec<Body>>,
    w: Window,
    rate: f64,
    connections: usize,
) -> anyhow::Result<Vec<JoinHandle<Tally>>> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let conn = Connection {
            send: endpoint.connect().await?,
            c,
            connections,
            rate,
            w,
            bodies: bodies.clone(),
            target: target.clone(),
        };
        tasks.push(tokio::spawn(conn.run()));
    }
    Ok(tasks)
}

/// The connections' tallies, added up.
pub(crate) async fn collect(tasks: Vec<JoinHandle<Tally>>) -> anyhow::Result<Tally> {
    let mut total = Tally::default();
    for t in tasks {
        total.add(t.await?);
    }
    Ok(total)
}

/// One keep-alive connection, the `c`th of `connections`.
struct Connection {
    send: Sender,
    c: usize,
    connections: usize,
    rate: f64,
    w: Window,
    bodies: Arc<Vec<Body>>,
    target: Target,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Answered 200.
    Ok,
    /// Given up after 20 attempts or at the window's end.
    GaveUp,
    /// The connection broke.
    Broken,
}

impl Connection {
    /// Send until the window's end (or the connection breaks).
    async fn run(mut self) -> Tally {
        let mut tally = Tally::default();
        let bodies = self.bodies.clone();
        let mut k: u64 = 0;
        loop {
            let due = self.due(k).await;
            if due >= self.w.end {
                break;
            }
            let body = &bodies[(k as usize * self.connections + self.c) % bodies.len()];
            k += 1;
            let outcome = self.send_with_retries(body, &mut tally).await;
            if outcome == Outcome::Broken {
                // Firehose would open a new connection.
                return tally;
            }
            tally.count(body, due, Instant::now(), outcome == Outcome::Ok, &self.w);
        }
        tally
    }

    /// When the `k`th request is due. Open-loop schedule when rate-limited
    /// (sleeping until then): latency counts from when the request was due,
    /// so a slow answer cannot hide queueing. Flat out: now.
    async fn due(&self, k: u64) -> Instant {
        if self.rate <= 0.0 {
            return Instant::now();
        }
        let n = k as f64 * self.connections as f64 + self.c as f64;
        let at = self.w.t0 + Duration::from_secs_f64(n / self.rate);
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
        at
    }

    /// Send `body` until it is answered 200, retrying with the same request
    /// id and a doubling backoff (50 ms to 2 s), as Firehose does.
    async fn send_with_retries(&mut self, body: &Body, tally: &mut Tally) -> Outcome {
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let status = self.attempt(body).await;
            if status == 200 {
                return Outcome::Ok;
            }
            let in_window = u64::from(Instant::now() >= self.w.start);
            if status == 429 {
                tally.retries_429 += in_window;
            } else {
                tally.retries_other += in_window;
            }
            if status == 0 {
                return Outcome::Broken;
            }
            if attempts >= 20 || Instant::now() >= self.w.end {
                return Outcome::GaveUp;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// One request: the status it was answered, 0 when the connection broke.
    async fn attempt(&mut self, body: &Body) -> u16 {
        let mut req = http::Request::post(&self.target.path)
            .header("host", &self.target.addr)
            .header("content-type", "application/json")
            .header("x-amz-firehose-protocol-version", "1.0")
            .header("x-amz-firehose-request-id", &body.id)
            .header("x-amz-firehose-access-key", &self.target.key);
        if body.gzip {
            req = req.header("content-encoding", "gzip");
        }
        let req = req.body(Full::new(body.json.clone()));
        let Ok(req) = req else {
            return 0;
        };
        match self.send.send_request(req).await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                let _ = resp.into_body().collect().await;
                s
            }
            Err(_) => 0,
        }
    }
}
