//! HAProxy (Debian's `haproxy`) on loopback in front of several `weir
//! serve` replicas, as a load balancer in front of Weir's pods would be:
//! round robin, `/readyz` health checks every 200 ms, and a request whose
//! connection to a replica fails is sent to another one. Requests a
//! replica took and did not answer (it was killed) are answered 502, and
//! the sender (Firehose) retries them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long HAProxy may take to accept connections after it starts.
const LISTENING_WITHIN: Duration = Duration::from_secs(10);

/// A running HAProxy, killed when dropped.
pub struct HaProxy {
    child: Child,
    /// `127.0.0.1:<port>` of its frontend.
    pub addr: String,
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `haproxy` binary: `$HAPROXY`, else `haproxy` on `PATH` or in
/// `/usr/sbin` (where Debian puts it).
pub fn binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("HAPROXY") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("haproxy"))
        .find(|p| p.is_file())
        .context(
            "haproxy not found: install Debian's `haproxy` (scripts/test does) or set $HAPROXY",
        )
}

/// The configuration: one frontend on `listen`, one backend of `servers`.
pub fn config(listen: &str, servers: &[String]) -> String {
    let mut text = format!(
        "global\n    maxconn 4096\n\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 120s\n    \
         timeout server 120s\n    timeout http-keep-alive 60s\n    \
         # a connection refused or reset before the request was sent: another replica\n    \
         retries 3\n    option redispatch\n\n\
         frontend firehose\n    bind {listen}\n    default_backend weir\n\n\
         backend weir\n    balance roundrobin\n    option httpchk GET /readyz\n    \
         http-check expect status 200\n    default-server inter 200ms fall 1 rise 1\n"
    );
    for (i, s) in servers.iter().enumerate() {
        text.push_str(&format!("    server weir{i} {s} check\n"));
    }
    text
}

impl HaProxy {
    /// Write the config into `dir` and start HAProxy in the foreground on a
    /// free loopback port, in front of `servers` (`IP:port` each).
    pub async fn start(dir: &Path, servers: &[String]) -> anyhow::Result<HaProxy> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config(&addr, servers))?;
        let log = std::fs::File::create(dir.join("haproxy.log"))?;
        let child = Command::new(binary()?)
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting haproxy")?;
        let mut proxy = HaProxy { child, addr };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(&proxy.addr).await.is_err() {
            if let Some(status) = proxy.child.try_wait()? {
                bail!(
                    "haproxy exited ({status}); see {}",
                    dir.join("haproxy.log").display()
                );
            }
            if started.elapsed() > LISTENING_WITHIN {
                bail!("haproxy was not listening within {LISTENING_WITHIN:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(proxy)
    }

    /// The process id (to read its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
