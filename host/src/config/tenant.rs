//! `[[tenants]]`: ids, access keys, index prefixes and quotas.

use std::collections::BTreeMap;

use super::limits::{
    DEFAULT_MEMORY_SHARE_DIVISOR, FIREHOSE_MAX_RECORDS, FirehoseLimits, PluginLimits,
};
use super::raw::RawTenant;
use crate::index::check_index_prefix;
use crate::tenant::{AccessKey, TenantId};

/// Default of [`TenantQuotas::max_requests_in_flight`].
pub const DEFAULT_TENANT_MAX_REQUESTS_IN_FLIGHT: usize = 256;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    /// Its id.
    pub id: TenantId,
    /// Keys accepted in `X-Amz-Firehose-Access-Key` (several, for rotation).
    pub access_keys: Vec<AccessKey>,
    /// The file more digests were read from (`access_key_sha256_file`), watched
    /// for changes like the config file.
    pub access_key_file: Option<std::path::PathBuf>,
    /// Every index of the tenant starts with this (default `<id>-`).
    pub index_prefix: String,
    /// Its quotas.
    pub quotas: TenantQuotas,
}

/// A tenant's quotas. Over a quota the request gets 429 (Firehose retries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantQuotas {
    /// Requests of the tenant being processed at once.
    pub max_requests_in_flight: usize,
    /// Records per second (token bucket, one second of burst); `None`: unlimited.
    pub records_per_second: Option<u64>,
    /// Request body bytes per second (token bucket), counted inflated
    /// (after gunzip) and for S3 objects as fetched and inflated; `None`: unlimited.
    pub bytes_per_second: Option<u64>,
    /// Bytes of the memory budget ([`crate::budget`]) the tenant's requests
    /// may hold at once; over it a request gets 503.
    pub memory_share_bytes: usize,
    /// Records per plugin call; larger requests are split into several calls.
    pub max_batch_records: usize,
    /// Plugin batches of the tenant running at once (its share of the pool).
    pub max_concurrent_batches: usize,
}

/// Every `[[tenants]]`, then the check that no two index spaces overlap.
pub(super) fn validate_tenants(
    raw: Vec<RawTenant>,
    limits: &FirehoseLimits,
    plugins: &PluginLimits,
    problems: &mut Vec<String>,
) -> BTreeMap<TenantId, TenantConfig> {
    let mut tenants = BTreeMap::new();
    let alone = raw.len() <= 1;
    for (i, t) in raw.into_iter().enumerate() {
        let at = format!("tenants[{i}]");
        let id = match TenantId::new(&t.id) {
            Ok(id) => id,
            Err(e) => {
                problems.push(format!("{at}.id: {e}"));
                continue;
            }
        };
        let access_keys = access_keys(&at, &t, problems);
        let index_prefix = t.index_prefix.clone().unwrap_or_else(|| format!("{id}-"));
        if let Err(e) = check_index_prefix(&index_prefix) {
            problems.push(format!("{at}.index_prefix: {e}"));
        }
        let quotas = quotas(&at, &t, alone, limits, plugins, problems);
        if tenants.contains_key(&id) {
            problems.push(format!("{at}.id: duplicate tenant {id}"));
            continue;
        }
        let tenant = TenantConfig {
            id: id.clone(),
            access_keys,
            access_key_file: t.access_key_sha256_file.clone(),
            index_prefix,
            quotas,
        };
        tenants.insert(id, tenant);
    }
    check_prefixes_disjoint(&tenants, problems);
    tenants
}

/// Largest `access_key_sha256_file` read: ten thousand digests and their
/// comments; a larger file is a mistake (a wrong path), not a key list.
const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

/// A tenant's keys, given in clear or as SHA-256 digests; at least one, or
/// a file of digests (`access_key_sha256_file`, read by [`read_key_files`]).
fn access_keys(at: &str, t: &RawTenant, problems: &mut Vec<String>) -> Vec<AccessKey> {
    if t.access_keys.is_empty()
        && t.access_key_sha256.is_empty()
        && t.access_key_sha256_file.is_none()
    {
        problems.push(format!(
            "{at}.access_keys: a tenant needs at least one access key \
             (`access_keys`, or `access_key_sha256` digests, inline or in \
             `access_key_sha256_file`)"
        ));
    }
    let mut keys = Vec::new();
    for (k, key) in t.access_keys.iter().enumerate() {
        match AccessKey::new(key) {
            Ok(key) => keys.push(key),
            Err(e) => problems.push(format!("{at}.access_keys[{k}]: {e}")),
        }
    }
    for (k, digest) in t.access_key_sha256.iter().enumerate() {
        match AccessKey::from_sha256_hex(digest) {
            Ok(key) => keys.push(key),
            Err(e) => problems.push(format!("{at}.access_key_sha256[{k}]: {e}")),
        }
    }
    keys
}

/// Add the digests of every tenant's `access_key_sha256_file` (one per
/// line, blank lines and `#` comments skipped) to its keys: the file as a
/// Kubernetes Secret mounts it. A file that cannot be read, holds a line
/// that is not a digest, or leaves its tenant without any key is an error.
pub(super) fn read_key_files(tenants: &mut BTreeMap<TenantId, TenantConfig>) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, t) in tenants.iter_mut() {
        let Some(path) = t.access_key_file.clone() else {
            continue;
        };
        let at = format!("tenant {id}: access_key_sha256_file {}", path.display());
        match read_key_file(&path) {
            Ok(lines) => {
                for (line, digest) in lines {
                    match AccessKey::from_sha256_hex(&digest) {
                        Ok(key) => t.access_keys.push(key),
                        Err(e) => problems.push(format!("{at}, line {line}: {e}")),
                    }
                }
                if t.access_keys.is_empty() {
                    problems.push(format!("{at}: no digest, and no other key"));
                }
            }
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    problems
}

/// The digests of a key file with their line numbers (from 1).
fn read_key_file(path: &std::path::Path) -> Result<Vec<(usize, String)>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!("larger than {MAX_KEY_FILE_BYTES} bytes"));
    }
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i, l.to_string()))
        .collect())
}

/// A tenant's quotas. `alone`: the only tenant, which may use the whole pool.
fn quotas(
    at: &str,
    t: &RawTenant,
    alone: bool,
    limits: &FirehoseLimits,
    plugins: &PluginLimits,
    problems: &mut Vec<String>,
) -> TenantQuotas {
    let global = plugins.max_concurrent_batches.get();
    let mut quotas = TenantQuotas {
        max_requests_in_flight: DEFAULT_TENANT_MAX_REQUESTS_IN_FLIGHT,
        records_per_second: t.records_per_second,
        bytes_per_second: t.bytes_per_second,
        max_batch_records: FIREHOSE_MAX_RECORDS.max(limits.max_records),
        // Alone, a tenant may use the whole pool; with neighbours, half
        // of it, so one tenant's slow plugin cannot take every slot.
        max_concurrent_batches: if alone { global } else { (global / 2).max(1) },
        // Alone, the whole budget; with neighbours a quarter of it, but
        // never less than the largest legal request holds.
        memory_share_bytes: if alone {
            limits.memory_budget_bytes
        } else {
            (limits.memory_budget_bytes / DEFAULT_MEMORY_SHARE_DIVISOR)
                .max(limits.request_peak_bytes())
                .min(limits.memory_budget_bytes)
        },
    };
    let mut at_least_one = |v: Option<usize>, key: &str| match v {
        Some(0) => {
            problems.push(format!("{at}.{key}: must be at least 1"));
            None
        }
        v => v,
    };
    let in_flight = at_least_one(t.max_requests_in_flight, "max_requests_in_flight");
    let batch_records = at_least_one(t.max_batch_records, "max_batch_records");
    let concurrent = at_least_one(t.max_concurrent_batches, "max_concurrent_batches");
    if let Some(n) = in_flight {
        quotas.max_requests_in_flight = n;
    }
    if let Some(n) = batch_records {
        quotas.max_batch_records = n;
    }
    if let Some(n) = concurrent {
        if n > global {
            problems.push(format!(
                "{at}.max_concurrent_batches: {n} is above plugins.max_concurrent_batches ({global})"
            ));
        }
        quotas.max_concurrent_batches = n.min(global);
    }
    if let Some(share) = t.memory_share_bytes {
        let (min, max) = (limits.request_peak_bytes(), limits.memory_budget_bytes);
        if share < min || share > max {
            problems.push(format!(
                "{at}.memory_share_bytes: {share} is outside {min}..={max} (at least what the \
                 largest legal request holds, 3 × limits.max_body_bytes; at most \
                 limits.memory_budget_bytes)"
            ));
        }
        quotas.memory_share_bytes = share.clamp(min, max.max(min));
    }
    for (key, v) in [
        ("records_per_second", t.records_per_second),
        ("bytes_per_second", t.bytes_per_second),
    ] {
        if v == Some(0) {
            problems.push(format!("{at}.{key}: must be at least 1"));
        }
    }
    quotas
}

/// No index may belong to two tenants: no prefix may start another.
fn check_prefixes_disjoint(tenants: &BTreeMap<TenantId, TenantConfig>, problems: &mut Vec<String>) {
    let prefixes: Vec<(&TenantId, &str)> = tenants
        .values()
        .map(|t| (&t.id, t.index_prefix.as_str()))
        .collect();
    for (a, pa) in &prefixes {
        for (b, pb) in &prefixes {
            if a < b && (pa.starts_with(pb) || pb.starts_with(pa)) {
                problems.push(format!(
                    "tenants: index prefixes of {a} ({pa:?}) and {b} ({pb:?}) overlap; \
                     each tenant needs an index space of its own"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: &str) -> RawTenant {
        RawTenant {
            id: id.into(),
            access_keys: vec![format!("{id}-access-key")],
            access_key_sha256: Vec::new(),
            access_key_sha256_file: None,
            index_prefix: None,
            max_requests_in_flight: None,
            records_per_second: None,
            bytes_per_second: None,
            memory_share_bytes: None,
            max_batch_records: None,
            max_concurrent_batches: Some(0),
        }
    }

    #[test]
    fn neighbours_share_the_pool() {
        let (limits, plugins) = (FirehoseLimits::default(), PluginLimits::default());
        let mut problems = Vec::new();
        let tenants = validate_tenants(
            vec![raw("acme"), raw("beta")],
            &limits,
            &plugins,
            &mut problems,
        );
        assert_eq!(
            problems,
            [
                "tenants[0].max_concurrent_batches: must be at least 1",
                "tenants[1].max_concurrent_batches: must be at least 1",
            ]
        );
        for t in tenants.values() {
            assert_eq!(
                t.quotas.max_concurrent_batches,
                plugins.max_concurrent_batches.get() / 2
            );
            assert_eq!(t.index_prefix, format!("{}-", t.id));
            assert_eq!(t.quotas.memory_share_bytes, limits.memory_budget_bytes / 4);
        }
    }

    #[test]
    fn memory_shares() {
        let (limits, plugins) = (FirehoseLimits::default(), PluginLimits::default());
        let mut problems = Vec::new();
        let alone = validate_tenants(vec![raw("acme")], &limits, &plugins, &mut problems);
        let acme = &alone[&TenantId::new("acme").unwrap()];
        assert_eq!(acme.quotas.memory_share_bytes, limits.memory_budget_bytes);
        let peak = limits.request_peak_bytes();
        let mut small = raw("small");
        small.memory_share_bytes = Some(peak - 1);
        let mut big = raw("big");
        big.memory_share_bytes = Some(limits.memory_budget_bytes + 1);
        let mut fits = raw("fits");
        fits.memory_share_bytes = Some(peak);
        problems.clear();
        let t = validate_tenants(vec![small, big, fits], &limits, &plugins, &mut problems);
        let shares: Vec<&String> = problems
            .iter()
            .filter(|p| p.contains("memory_share_bytes"))
            .collect();
        assert_eq!(shares.len(), 2, "{problems:?}");
        assert!(shares[0].starts_with("tenants[0].memory_share_bytes: 201326591 is outside"));
        assert!(shares[1].starts_with("tenants[1].memory_share_bytes: 1073741825 is outside"));
        assert_eq!(
            t[&TenantId::new("fits").unwrap()].quotas.memory_share_bytes,
            peak
        );
    }
}
