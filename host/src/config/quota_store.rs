//! `[quota_store]`: the optional shared store of tenants' rate buckets.

use std::time::Duration;

use super::raw::RawQuotaStore;
use crate::secret::Secret;

/// Default of [`QuotaStoreConfig::timeout`]: a request waits at most this
/// long for Redis before the gate falls back (`on_unreachable`).
pub const DEFAULT_QUOTA_STORE_TIMEOUT_MS: u64 = 50;
/// Longest `timeout_ms`: a store slower than this is not a quota store.
const MAX_QUOTA_STORE_TIMEOUT_MS: u64 = 5_000;
/// Default of [`QuotaStoreConfig::key_prefix`].
pub const DEFAULT_QUOTA_KEY_PREFIX: &str = "weir:quota:";

/// A shared store (Redis) of tenants' records/s and bytes/s buckets, so
/// that replicas enforce one quota between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaStoreConfig {
    /// `redis://[user:password@]host[:port][/db]`; may hold a password,
    /// so it prints as `***`.
    pub url: Secret,
    /// What a replica does when the store cannot be reached.
    pub on_unreachable: OnUnreachable,
    /// How long a request waits for the store (connect or answer).
    pub timeout: Duration,
    /// Keys are `<key_prefix><tenant>:records` and `…:bytes`.
    pub key_prefix: String,
}

/// What a replica does when the shared store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnreachable {
    /// Fail open: use the replica's own token buckets (the default). A
    /// tenant may then get up to its quota once per replica.
    Local,
    /// Fail closed: refuse (429) the requests of tenants with a rate
    /// quota; Firehose retries them.
    Refuse,
}

pub(super) fn validate_quota_store(
    raw: Option<RawQuotaStore>,
    problems: &mut Vec<String>,
) -> Option<QuotaStoreConfig> {
    let raw = raw?;
    if !raw.url.starts_with("redis://") {
        problems.push(
            "quota_store.url: must be a redis:// URL (TLS to Redis is not supported: \
             keep the store on the cluster network)"
                .to_string(),
        );
    }
    let on_unreachable = match raw.on_unreachable.as_deref() {
        None | Some("local") => OnUnreachable::Local,
        Some("refuse") => OnUnreachable::Refuse,
        Some(other) => {
            problems.push(format!(
                "quota_store.on_unreachable: {other:?} is neither \"local\" nor \"refuse\""
            ));
            OnUnreachable::Local
        }
    };
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_QUOTA_STORE_TIMEOUT_MS);
    if !(1..=MAX_QUOTA_STORE_TIMEOUT_MS).contains(&timeout_ms) {
        problems.push(format!(
            "quota_store.timeout_ms: {timeout_ms} is not within 1 ..= {MAX_QUOTA_STORE_TIMEOUT_MS}"
        ));
    }
    Some(QuotaStoreConfig {
        url: Secret::new(raw.url),
        on_unreachable,
        timeout: Duration::from_millis(timeout_ms),
        key_prefix: raw
            .key_prefix
            .unwrap_or_else(|| DEFAULT_QUOTA_KEY_PREFIX.to_string()),
    })
}
