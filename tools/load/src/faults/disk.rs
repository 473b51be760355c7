//! A small filesystem for the directory sink (a tmpfs mounted for the
//! run, which takes root), and filling it up for a while.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::sender::Progress;

/// Bytes written at a time while filling the filesystem.
const CHUNK: usize = 1 << 20;

/// A tmpfs mounted at a directory, unmounted when dropped.
pub(super) struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `bytes` at `at` (created if needed).
    pub(super) fn mount(at: &Path, bytes: usize) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(at)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(at)
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!(
                "mount -t tmpfs at {} failed ({status}); the disk-full run needs root",
                at.display()
            );
        }
        Ok(Tmpfs {
            at: at.to_path_buf(),
        })
    }

    /// Once a tenth of the records are acknowledged, fill the filesystem
    /// (a file grown until the write fails), keep it full for `hold`,
    /// then delete the file. How many times it was filled (0 or 1).
    pub(super) async fn fill_for(
        &self,
        progress: &Progress,
        deadline: Instant,
        hold: Duration,
    ) -> anyhow::Result<usize> {
        if !progress
            .wait_acknowledged(progress.total / 10, deadline)
            .await
        {
            return Ok(0);
        }
        let filler = self.at.join("filler");
        let mut f = std::fs::File::create(&filler)?;
        let chunk = vec![0u8; CHUNK];
        while f.write_all(&chunk).is_ok() {}
        // The last bytes a chunk did not fit.
        while f.write_all(&chunk[..4096]).is_ok() {}
        tokio::time::sleep(hold).await;
        drop(f);
        std::fs::remove_file(&filler)?;
        Ok(1)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).status();
    }
}
