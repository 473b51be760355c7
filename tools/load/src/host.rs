//! The `weir serve` process under measure: starting it, reaching it, and
//! sampling its CPU time and memory from /proc.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::config::HostConfig;

/// A client connection's request half.
pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Where a running host listens, and how to reach it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// `127.0.0.1:<port>`.
    pub(crate) addr: String,
    /// The client TLS config when the host serves HTTPS.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

/// A running `weir serve`, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Host {
    child: Child,
    /// Where it listens.
    pub(crate) endpoint: Endpoint,
    /// From spawn to the first `/readyz` 200.
    pub(crate) ready_after: Duration,
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
pub(crate) struct ProcSample {
    /// User + system CPU time so far.
    pub(crate) cpu: Duration,
    /// Resident set now (`VmRSS`).
    pub(crate) rss_kib: u64,
    /// Peak resident set (`VmHWM`).
    pub(crate) peak_rss_kib: u64,
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// The user + system CPU time of process `pid` so far.
pub(crate) fn proc_cpu(pid: u32) -> Duration {
    proc_sample(pid).cpu
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
    pub(crate) async fn start(
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
        host.wait_ready(started, &dir.join(format!("{name}.log")))
            .await?;
        Ok(host)
    }

    /// Poll `/readyz` until it answers 200 (and set `ready_after`), the
    /// process exits, or 120 s pass.
    async fn wait_ready(&mut self, started: Instant, log: &Path) -> anyhow::Result<()> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "weir exited ({status}) before it was ready; see {}",
                    log.display()
                );
            }
            if self.endpoint.get("/readyz").await? == Some(200) {
                self.ready_after = started.elapsed();
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("weir was not ready within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's CPU time and memory now.
    pub(crate) fn sample(&self) -> ProcSample {
        proc_sample(self.child.id())
    }
}

impl Endpoint {
    /// `GET path` on a new connection: the status, or `None` when the host
    /// cannot be reached (yet).
    async fn get(&self, path: &str) -> anyhow::Result<Option<u16>> {
        let req = http::Request::get(path)
            .header("host", &self.addr)
            .body(Full::new(Bytes::new()))?;
        let Ok(mut c) = self.connect().await else {
            return Ok(None);
        };
        Ok(c.send_request(req)
            .await
            .ok()
            .map(|resp| resp.status().as_u16()))
    }

    /// Weir's `weir_request_duration_seconds` for `tenant`/`route`, per
    /// bucket (not cumulative): (upper bound in seconds, count).
    pub(crate) async fn histogram(&self, tenant: &str, route: &str) -> Vec<(f64, u64)> {
        match self.metrics().await {
            Some(text) => parse_histogram(&text, tenant, route),
            None => Vec::new(),
        }
    }

    /// The sum of a counter over its labels (0 when it cannot be read).
    pub(crate) async fn counter(&self, name: &str) -> f64 {
        let text = self.metrics().await.unwrap_or_default();
        sum_counter(&text, name)
    }

    /// The text of `/metrics`, or `None` when it cannot be read.
    async fn metrics(&self) -> Option<String> {
        let mut c = self.connect().await.ok()?;
        let req = http::Request::get("/metrics")
            .header("host", &self.addr)
            .header(
                "authorization",
                format!("Bearer {}", crate::args::METRICS_TOKEN),
            )
            .body(Full::new(Bytes::new()))
            .ok()?;
        let resp = c.send_request(req).await.ok()?;
        let body = resp.into_body().collect().await.ok()?;
        Some(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    }

    /// A new keep-alive connection (TLS when the host serves HTTPS).
    pub(crate) async fn connect(&self) -> anyhow::Result<Sender> {
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

/// The `weir_request_duration_seconds` buckets of `tenant`/`route` in a
/// `/metrics` text, per bucket (not cumulative).
fn parse_histogram(text: &str, tenant: &str, route: &str) -> Vec<(f64, u64)> {
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

/// The sum of counter `name` over its labels in a Prometheus text.
fn sum_counter(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::sum_counter;

    #[test]
    fn counters_are_summed_over_labels() {
        let text = "# HELP weir_documents_out_total x\n\
                    weir_documents_out_total{tenant=\"a\",route=\"b\"} 3\n\
                    weir_documents_out_total{tenant=\"c\",route=\"d\"} 4\n\
                    weir_documents_out_totals 100\n";
        assert_eq!(sum_counter(text, "weir_documents_out_total"), 7.0);
        assert_eq!(sum_counter(text, "weir_nothing"), 0.0);
    }

    #[test]
    fn histogram_buckets_are_not_cumulative() {
        let text = "weir_request_duration_seconds_bucket{tenant=\"load\",route=\"waf\",le=\"0.001\"} 3\n\
                    weir_request_duration_seconds_bucket{tenant=\"noisy\",route=\"waf\",le=\"0.001\"} 9\n\
                    weir_request_duration_seconds_bucket{tenant=\"load\",route=\"waf\",le=\"0.01\"} 5\n\
                    weir_request_duration_seconds_bucket{tenant=\"load\",route=\"waf\",le=\"+Inf\"} 5\n";
        let h = super::parse_histogram(text, "load", "waf");
        assert_eq!(h, vec![(0.001, 3), (0.01, 2), (f64::INFINITY, 0)]);
    }
}
