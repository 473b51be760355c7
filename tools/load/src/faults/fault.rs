//! [`Fault`]: the faults of the matrix, and what each run of one needs.

use super::proxy::ProxyMode;
use super::{
    BULK_LIMIT_BYTES, CONFLICT_EVERY, HOG_MEMORY_MIB, LOOP_POISON_EVERY, LOOP_TIMEOUT_MS,
    PLUGIN_CALL_RECORDS, POISON_EVERY, SLOW_BY,
};

/// One fault, each its own run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `weir` SIGKILLed mid-batch and restarted; OpenSearch sink.
    KillOpenSearch,
    /// `weir` SIGKILLed mid-batch and restarted; directory sink.
    KillDirectory,
    /// `weir` SIGKILLed mid-batch and restarted; OpenSearch sink, every
    /// record backed up to S3 before its ack.
    KillS3Backup,
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
    /// The directory sink's filesystem (a tmpfs mounted for the run) full
    /// for a while.
    DiskFull,
    /// S3 answers 503 to everything for a while, while every record is
    /// backed up there before its ack (`routes[].backup`).
    S3BackupDown,
    /// The route's plugin traps in every call holding a poisoned record.
    PluginTrap,
    /// The route's plugin loops (past its deadline) in every call holding
    /// a poisoned record.
    PluginLoop,
    /// The route's plugin allocates until its memory cap in every call
    /// holding a poisoned record.
    PluginHog,
    /// The `_bulk` endpoint stopped (its listener closed, its connections
    /// cut) for a while, then started again on the same port.
    OpenSearchDown,
    /// `weir` SIGKILLed mid-batch and restarted while OpenSearch answers
    /// 429 to four items of five.
    KillDuring429,
    /// S3 answers 503 while every record is backed up there, and one
    /// record in 50 conflicts with the index's mapping.
    S3DownConflict,
}

impl Fault {
    /// Every fault, in the order the matrix runs them.
    pub const ALL: [Fault; 16] = [
        Fault::KillOpenSearch,
        Fault::KillDirectory,
        Fault::KillS3Backup,
        Fault::OpenSearch429,
        Fault::OpenSearch413,
        Fault::OpenSearchSlow,
        Fault::MappingConflict,
        Fault::Sigterm,
        Fault::DiskFull,
        Fault::S3BackupDown,
        Fault::PluginTrap,
        Fault::PluginLoop,
        Fault::PluginHog,
        Fault::OpenSearchDown,
        Fault::KillDuring429,
        Fault::S3DownConflict,
    ];

    /// Its name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillOpenSearch => "kill-opensearch",
            Fault::KillDirectory => "kill-directory",
            Fault::KillS3Backup => "kill-s3-backup",
            Fault::OpenSearch429 => "opensearch-429",
            Fault::OpenSearch413 => "opensearch-413",
            Fault::OpenSearchSlow => "opensearch-slow",
            Fault::MappingConflict => "mapping-conflict",
            Fault::Sigterm => "sigterm",
            Fault::DiskFull => "disk-full",
            Fault::S3BackupDown => "s3-backup-down",
            Fault::PluginTrap => "plugin-trap",
            Fault::PluginLoop => "plugin-loop",
            Fault::PluginHog => "plugin-hog",
            Fault::OpenSearchDown => "opensearch-down",
            Fault::KillDuring429 => "kill-during-429",
            Fault::S3DownConflict => "s3-down-conflict",
        }
    }

    /// The fault named `name`.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What the run does, for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::KillOpenSearch => {
                "`weir` SIGKILLed mid-batch 4 times, restarted (OpenSearch sink)"
            }
            Fault::KillDirectory => {
                "`weir` SIGKILLed 4 times in the middle of an append, restarted (directory sink)"
            }
            Fault::KillS3Backup => {
                "`weir` SIGKILLed mid-batch 4 times, restarted (OpenSearch sink, S3 backup of every record)"
            }
            Fault::OpenSearch429 => "OpenSearch answers 429 to 4 items in 5 for 8 s",
            Fault::OpenSearch413 => "OpenSearch answers 413 to `_bulk` bodies over 16 KiB for 8 s",
            Fault::OpenSearchSlow => "OpenSearch answers every request 2 s late for 8 s",
            Fault::MappingConflict => "1 record in 50 conflicts with the index mapping",
            Fault::Sigterm => "`weir` SIGTERMed under load 4 times (drain), restarted",
            Fault::DiskFull => "the directory sink's tmpfs full for 8 s (directory sink)",
            Fault::S3BackupDown => {
                "S3 answers 503 to everything for 8 s; every record backed up to S3 before its ack"
            }
            Fault::PluginTrap => {
                "the plugin traps in each call (10 records) holding a poisoned record (1 in 1,000)"
            }
            Fault::PluginLoop => {
                "the plugin loops past its 200 ms deadline in each call (10 records) holding a poisoned record (1 in 5,000)"
            }
            Fault::PluginHog => {
                "the plugin allocates past its 32 MiB cap in each call (10 records) holding a poisoned record (1 in 1,000)"
            }
            Fault::OpenSearchDown => {
                "the `_bulk` endpoint (a proxy in front of the node) stopped for 8 s: port closed, connections cut"
            }
            Fault::KillDuring429 => {
                "OpenSearch answers 429 to 4 items in 5 for 8 s (at least), and `weir` is SIGKILLed 4 times meanwhile"
            }
            Fault::S3DownConflict => {
                "S3 answers 503 for 8 s (backup of every record) while 1 record in 50 conflicts with the mapping"
            }
        }
    }

    /// Whether the route writes to the directory sink (else OpenSearch).
    pub(super) fn directory(self) -> bool {
        matches!(self, Fault::KillDirectory | Fault::DiskFull)
    }

    /// The proxy's fault, for the faults injected in front of OpenSearch
    /// (or of S3, for the backup faults).
    pub(super) fn proxy_mode(self) -> Option<ProxyMode> {
        match self {
            Fault::OpenSearch429 | Fault::KillDuring429 => Some(ProxyMode::Reject429),
            Fault::OpenSearch413 => Some(ProxyMode::Refuse413(BULK_LIMIT_BYTES)),
            Fault::OpenSearchSlow => Some(ProxyMode::Slow(SLOW_BY)),
            Fault::S3BackupDown | Fault::S3DownConflict => Some(ProxyMode::Unavailable),
            Fault::OpenSearchDown => Some(ProxyMode::Down),
            _ => None,
        }
    }

    /// Whether every record is backed up to S3 before its ack.
    pub(super) fn backs_up(self) -> bool {
        matches!(
            self,
            Fault::S3BackupDown | Fault::KillS3Backup | Fault::S3DownConflict
        )
    }

    /// Every how many records one conflicts with the index's mapping.
    pub(super) fn conflict_every(self) -> Option<usize> {
        matches!(self, Fault::MappingConflict | Fault::S3DownConflict).then_some(CONFLICT_EVERY)
    }

    /// The records a poisoned record takes to the dead letters with it: a
    /// call that traps or runs out of memory is split until the record
    /// fails alone; one that times out (the loop) fails whole.
    pub(super) fn failed_call_records(self) -> usize {
        match self {
            Fault::PluginLoop => PLUGIN_CALL_RECORDS,
            _ => 1,
        }
    }

    /// The hostile plugin's mode and the route's extra keys, for the
    /// plugin faults; and every how many records one is poisoned.
    pub(super) fn plugin(self) -> Option<(&'static str, String, usize)> {
        match self {
            Fault::PluginTrap => Some(("trap", String::new(), POISON_EVERY)),
            Fault::PluginLoop => Some((
                "loop",
                format!("timeout_ms = {LOOP_TIMEOUT_MS}\n"),
                LOOP_POISON_EVERY,
            )),
            Fault::PluginHog => Some((
                "hog",
                format!("memory_mib = {HOG_MEMORY_MIB}\n"),
                POISON_EVERY,
            )),
            _ => None,
        }
    }
}
