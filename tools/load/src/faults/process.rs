//! The `weir serve` under test, as a process the faults kill, stop and
//! start again on the same address.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long `weir` may take to answer `/readyz` 200 after a start.
const READY_WITHIN: Duration = Duration::from_secs(120);
/// How long a SIGTERMed `weir` may take to drain and exit (its own
/// deadline for requests in flight is 25 s).
const EXIT_WITHIN: Duration = Duration::from_secs(40);

/// A running `weir serve`, killed when dropped.
pub(super) struct Weir {
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Child,
    /// `127.0.0.1:<port>`, the same across restarts.
    pub(super) addr: String,
    /// Starts so far (the first included).
    pub(super) starts: usize,
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Weir {
    /// Write `config` into `dir`, start `weir serve` on a free port, and
    /// wait until it is ready.
    pub(super) async fn start(binary: &Path, dir: &Path, config: &str) -> anyhow::Result<Weir> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let path = dir.join("weir.toml");
        std::fs::write(&path, config)?;
        let log = dir.join("weir.log");
        let addr = format!("127.0.0.1:{port}");
        let child = spawn(binary, &path, &log, &addr)?;
        let mut weir = Weir {
            binary: binary.to_path_buf(),
            config: path,
            log,
            child,
            addr,
            starts: 1,
        };
        weir.wait_ready().await?;
        Ok(weir)
    }

    /// SIGKILL, and reap it.
    pub(super) fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGKILL the moment `file` changes length (an append under way: a
    /// large write grows the file page by page), watching it for at most
    /// `within` (then SIGKILL anyway); whether it caught the file growing.
    /// It spins, blocking the thread: a kill a few microseconds late
    /// misses the append.
    pub(super) fn kill_while_growing(
        &mut self,
        file: &Path,
        within: Duration,
    ) -> anyhow::Result<bool> {
        let len = || std::fs::metadata(file).map_or(0, |m| m.len());
        let before = len();
        let until = Instant::now() + within;
        let mut caught = false;
        while Instant::now() < until {
            if len() != before {
                caught = true;
                break;
            }
            std::hint::spin_loop();
        }
        self.kill()?;
        Ok(caught)
    }

    /// SIGTERM, and wait until it exits (an error if it takes longer than
    /// [`EXIT_WITHIN`] or exits with a failure).
    pub(super) async fn terminate(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let until = Instant::now() + EXIT_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("weir exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > until {
                bail!("weir did not exit within {EXIT_WITHIN:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Start it again (after it exited) on the same address.
    pub(super) async fn restart(&mut self) -> anyhow::Result<()> {
        self.child = spawn(&self.binary, &self.config, &self.log, &self.addr)?;
        self.starts += 1;
        self.wait_ready().await
    }

    /// Stop it at the end of a run: SIGTERM, then SIGKILL if it lingers.
    pub(super) async fn stop(&mut self) {
        if self.terminate().await.is_err() {
            let _ = self.kill();
        }
    }

    /// Poll `/readyz` until it answers 200.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "weir exited ({status}) before it was ready; see {}",
                    self.log.display()
                );
            }
            if readyz(&self.addr).await {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                bail!("weir was not ready within {READY_WITHIN:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Start `weir serve --config <config> --listen <addr>`, its log appended
/// to `log` (every start of a run in one file).
fn spawn(binary: &Path, config: &Path, log: &Path, addr: &str) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Command::new(binary)
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", addr])
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// Whether `GET /readyz` answers 200.
async fn readyz(addr: &str) -> bool {
    let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let Ok((mut send, conn)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await
    else {
        return false;
    };
    tokio::spawn(conn);
    let Ok(req) = http::Request::get("/readyz")
        .header("host", addr)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
    else {
        return false;
    };
    send.send_request(req)
        .await
        .is_ok_and(|r| r.status() == http::StatusCode::OK)
}
