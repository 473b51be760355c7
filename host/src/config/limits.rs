//! `[limits]` (Firehose requests) and `[plugins]` (the sandbox), and the
//! per-route plugin limits derived from them.

use std::fmt::Display;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::raw::{RawLimits, RawPluginLimits, RawRoute};

/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;

/// The largest body Firehose sends to an HTTP endpoint (its 64 MiB buffer).
pub const FIREHOSE_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The most records Firehose puts in one request.
pub const FIREHOSE_MAX_RECORDS: usize = 10_000;
/// Smallest `limits.max_body_bytes`: Firehose's own limit. Below it, legal
/// requests would get 413, which Firehose never retries: data loss.
pub const MIN_MAX_BODY_BYTES: usize = FIREHOSE_MAX_BODY_BYTES;
/// Smallest `limits.max_records`: Firehose's own limit, for the same reason.
pub const MIN_MAX_RECORDS: usize = FIREHOSE_MAX_RECORDS;
/// Default `limits.memory_budget_bytes` (1 GiB): what all requests in
/// flight may hold in buffers at once — bodies as sent, inflated and
/// decoded. Eight of the largest gzip requests Firehose may send, or
/// hundreds of typical ones (Firehose's default buffer is 5 MiB); set it
/// to about half the memory the process may use, the rest being the
/// plugin pool (`max_concurrent_batches` × `memory_mib` at most), the
/// sinks' batches and the runtime.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 1024 * 1024 * 1024;
/// What one request may hold at its peak, in units of `max_body_bytes`:
/// its body as sent, the body inflated (capped at `max_body_bytes`) and its
/// records decoded from base64 (3/4 of their text) are alive together
/// while it is decoded. A budget or share below this many bodies would
/// refuse the largest legal request forever.
pub const REQUEST_PEAK_BODIES: usize = 3;
/// A tenant's default `memory_share_bytes` when it has neighbours: this
/// fraction of the budget (but at least [`REQUEST_PEAK_BODIES`] bodies), so
/// that four tenants at their share fill it and one cannot take it all.
pub const DEFAULT_MEMORY_SHARE_DIVISOR: usize = 4;

/// Default memory cap of one plugin instance. It must hold a whole batch
/// (up to 64 MiB of Firehose body, decoded) plus what the plugin makes of it.
pub const DEFAULT_PLUGIN_MEMORY_MIB: u64 = 256;
/// Smallest `plugins.memory_mib` (and a route's `memory_mib`).
pub const MIN_PLUGIN_MEMORY_MIB: u64 = 1;
/// Largest `plugins.memory_mib`: every pool slot reserves this much address
/// space, and the host's own memory must outlive a plugin that uses it all.
pub const MAX_PLUGIN_MEMORY_MIB: u64 = 4096;
/// Default wall-time limit of one plugin call; a plugin that loops is stopped here.
pub const DEFAULT_PLUGIN_TIMEOUT_MS: u64 = 10_000;
/// Smallest plugin call time limit (`plugins.timeout_ms`, a route's `timeout_ms`).
pub const MIN_PLUGIN_TIMEOUT_MS: u64 = 1;
/// Largest plugin call time limit: a stuck plugin holds its pool slot and
/// its request (Firehose times out and retries long before) at most this long.
pub const MAX_PLUGIN_TIMEOUT_MS: u64 = 600_000;
/// Default number of plugin batches that may run at once (also sizes the
/// instance pool; batches over it wait).
pub const DEFAULT_MAX_CONCURRENT_BATCHES: usize = 16;
/// Largest `plugins.max_concurrent_batches`: the pool reserves memory
/// address space for each slot up front.
pub const MAX_CONCURRENT_BATCHES: usize = 1024;
/// Default bytes a batch may write to its log (host `log` + stdout + stderr);
/// protects the host's log from a chatty plugin.
pub const DEFAULT_PLUGIN_LOG_BYTES: usize = 64 * 1024;
/// Default cap on what one plugin call may return: documents, ids, indices
/// and failure reasons together.
pub const DEFAULT_PLUGIN_MAX_OUTPUT_MIB: u64 = 128;
/// Smallest `max_output_mib` (`[plugins]` or a route).
pub const MIN_PLUGIN_MAX_OUTPUT_MIB: u64 = 1;
/// Largest `max_output_mib`: what one call returns is copied into host
/// memory, so this bounds the host's memory per batch.
pub const MAX_PLUGIN_MAX_OUTPUT_MIB: u64 = 4096;

/// Size limits of one Firehose request (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirehoseLimits {
    /// Largest body, both as received and after gunzip.
    pub max_body_bytes: usize,
    /// Most records in one request.
    pub max_records: usize,
    /// Bytes all requests in flight may hold in buffers together (see
    /// [`crate::budget`]); a request that does not fit gets 503.
    pub memory_budget_bytes: usize,
}

impl FirehoseLimits {
    /// The most one request may hold ([`REQUEST_PEAK_BODIES`] bodies): the
    /// smallest budget or tenant share that never refuses a legal request forever.
    pub fn request_peak_bytes(&self) -> usize {
        self.max_body_bytes.saturating_mul(REQUEST_PEAK_BODIES)
    }
}

impl Default for FirehoseLimits {
    fn default() -> Self {
        FirehoseLimits {
            max_body_bytes: FIREHOSE_MAX_BODY_BYTES,
            max_records: FIREHOSE_MAX_RECORDS,
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
        }
    }
}

/// Limits applied to each plugin batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// Linear-memory cap of one plugin instance, bytes.
    pub memory_bytes: usize,
    /// Wall-time limit of one plugin call.
    pub timeout: Duration,
    /// Plugin batches running at once (instance pool size).
    pub max_concurrent_batches: NonZeroUsize,
    /// Log bytes one batch may write (host `log`, stdout, stderr each).
    pub log_bytes: usize,
    /// Default fuel per call (`None`: unlimited); routes may set their own.
    pub fuel: Option<u64>,
    /// Whether the engine counts fuel (some route or the default sets it).
    /// Counting costs a little on every batch, so it is off unless used.
    pub consume_fuel: bool,
    /// Default cap on the bytes one call may return.
    pub max_output_bytes: usize,
    /// Where compiled plugins are kept between runs (`None`: compile every start).
    pub cache_dir: Option<PathBuf>,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_bytes: (DEFAULT_PLUGIN_MEMORY_MIB * MIB) as usize,
            timeout: Duration::from_millis(DEFAULT_PLUGIN_TIMEOUT_MS),
            max_concurrent_batches: NonZeroUsize::new(DEFAULT_MAX_CONCURRENT_BATCHES)
                .unwrap_or(NonZeroUsize::MIN),
            log_bytes: DEFAULT_PLUGIN_LOG_BYTES,
            fuel: None,
            consume_fuel: false,
            max_output_bytes: (DEFAULT_PLUGIN_MAX_OUTPUT_MIB * MIB) as usize,
            cache_dir: None,
        }
    }
}

/// Limits of one batch (the route's, within the runtime's pool limits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLimits {
    /// Linear-memory cap, bytes (at most the pool's `memory_bytes`).
    pub memory_bytes: usize,
    /// Wall-time limit of one call.
    pub timeout: Duration,
    /// Fuel (wasm instructions, roughly) one call may burn; `None`: unlimited.
    pub fuel: Option<u64>,
    /// Most bytes of documents (bodies, ids, indices, reasons) one call may return.
    pub max_output_bytes: usize,
}

impl BatchLimits {
    /// The runtime-wide defaults.
    pub fn from_plugin_limits(l: &PluginLimits) -> BatchLimits {
        BatchLimits {
            memory_bytes: l.memory_bytes,
            timeout: l.timeout,
            fuel: l.fuel,
            max_output_bytes: l.max_output_bytes,
        }
    }
}

/// The default precompiled-plugin cache: `$XDG_CACHE_HOME/weir/plugins`,
/// else `$HOME/.cache/weir/plugins`, else none.
pub fn default_plugin_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("weir").join("plugins"))
}

/// `v` when it lies in `min..=max`; else a problem `key: v is outside min..=max`.
pub(super) fn in_range<T: PartialOrd + Display>(
    v: T,
    min: T,
    max: T,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    if v < min || v > max {
        problems.push(format!("{key}: {v} is outside {min}..={max}"));
        None
    } else {
        Some(v)
    }
}

/// `[limits]`: never below what Firehose itself may send.
pub(super) fn validate_request_limits(
    raw: &RawLimits,
    problems: &mut Vec<String>,
) -> FirehoseLimits {
    let mut limits = FirehoseLimits::default();
    if let Some(b) = raw.max_body_bytes {
        if b < MIN_MAX_BODY_BYTES {
            problems.push(format!(
                "limits.max_body_bytes: {b} is below Firehose's own limit of \
                 {MIN_MAX_BODY_BYTES} bytes; Firehose would get 413 for legal requests and drop them"
            ));
        }
        limits.max_body_bytes = b;
    }
    if let Some(n) = raw.max_records {
        if n < MIN_MAX_RECORDS {
            problems.push(format!(
                "limits.max_records: {n} is below Firehose's own limit of {MIN_MAX_RECORDS} records"
            ));
        }
        limits.max_records = n;
    }
    if let Some(b) = raw.memory_budget_bytes {
        limits.memory_budget_bytes = b;
    }
    let peak = limits.request_peak_bytes();
    if limits.memory_budget_bytes < peak {
        problems.push(format!(
            "limits.memory_budget_bytes: {} is below {peak} ({REQUEST_PEAK_BODIES} × \
             max_body_bytes, what the largest legal request holds while it is decoded); \
             such requests would get 503 forever",
            limits.memory_budget_bytes
        ));
    }
    limits
}

/// `[plugins]`. `any_route_fuel`: whether some route sets its own fuel
/// (fuel counting is then turned on for the engine).
pub(super) fn validate_plugin_limits(
    raw: &RawPluginLimits,
    any_route_fuel: bool,
    problems: &mut Vec<String>,
) -> PluginLimits {
    let mut plugins = PluginLimits::default();
    let (min_mem, max_mem) = (MIN_PLUGIN_MEMORY_MIB, MAX_PLUGIN_MEMORY_MIB);
    if let Some(m) = raw.memory_mib
        && let Some(m) = in_range(m, min_mem, max_mem, "plugins.memory_mib", problems)
    {
        plugins.memory_bytes = (m * MIB) as usize;
    }
    let (min_t, max_t) = (MIN_PLUGIN_TIMEOUT_MS, MAX_PLUGIN_TIMEOUT_MS);
    if let Some(t) = raw.timeout_ms
        && let Some(t) = in_range(t, min_t, max_t, "plugins.timeout_ms", problems)
    {
        plugins.timeout = Duration::from_millis(t);
    }
    if let Some(n) = raw.max_concurrent_batches {
        let key = "plugins.max_concurrent_batches";
        if let Some(n) = in_range(n, 1, MAX_CONCURRENT_BATCHES, key, problems)
            && let Some(n) = NonZeroUsize::new(n)
        {
            plugins.max_concurrent_batches = n;
        }
    }
    if let Some(b) = raw.log_bytes {
        plugins.log_bytes = b;
    }
    if let Some(f) = raw.fuel {
        if f == 0 {
            problems.push("plugins.fuel: must be at least 1".to_string());
        }
        plugins.fuel = Some(f);
    }
    let (min_out, max_out) = (MIN_PLUGIN_MAX_OUTPUT_MIB, MAX_PLUGIN_MAX_OUTPUT_MIB);
    if let Some(m) = raw.max_output_mib
        && let Some(m) = in_range(m, min_out, max_out, "plugins.max_output_mib", problems)
    {
        plugins.max_output_bytes = (m * MIB) as usize;
    }
    plugins.cache_dir = match &raw.cache_dir {
        Some(d) if d.as_os_str().is_empty() => None,
        Some(d) => Some(d.clone()),
        None => default_plugin_cache_dir(),
    };
    plugins.consume_fuel = plugins.fuel.is_some() || any_route_fuel;
    plugins
}

/// A route's own plugin limits, within `[plugins]` (`at`: `routes[i]`).
pub(super) fn route_batch_limits(
    at: &str,
    r: &RawRoute,
    plugins: &PluginLimits,
    problems: &mut Vec<String>,
) -> BatchLimits {
    let mut limits = BatchLimits::from_plugin_limits(plugins);
    if let Some(m) = r.memory_mib {
        let bytes = (m.saturating_mul(MIB)) as usize;
        if m < MIN_PLUGIN_MEMORY_MIB || bytes > plugins.memory_bytes {
            problems.push(format!(
                "{at}.memory_mib: {m} is outside {MIN_PLUGIN_MEMORY_MIB}..={} (plugins.memory_mib)",
                plugins.memory_bytes / MIB as usize
            ));
        } else {
            limits.memory_bytes = bytes;
        }
    }
    let (min_t, max_t) = (MIN_PLUGIN_TIMEOUT_MS, MAX_PLUGIN_TIMEOUT_MS);
    if let Some(t) = r.timeout_ms
        && let Some(t) = in_range(t, min_t, max_t, &format!("{at}.timeout_ms"), problems)
    {
        limits.timeout = Duration::from_millis(t);
    }
    if let Some(f) = r.fuel {
        if f == 0 {
            problems.push(format!("{at}.fuel: must be at least 1"));
        }
        limits.fuel = Some(f);
    }
    let (min_out, max_out) = (MIN_PLUGIN_MAX_OUTPUT_MIB, MAX_PLUGIN_MAX_OUTPUT_MIB);
    let key = format!("{at}.max_output_mib");
    if let Some(m) = r.max_output_mib
        && let Some(m) = in_range(m, min_out, max_out, &key, problems)
    {
        limits.max_output_bytes = (m * MIB) as usize;
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_key_and_the_bounds() {
        let mut problems = Vec::new();
        let raw = RawPluginLimits {
            memory_mib: Some(MAX_PLUGIN_MEMORY_MIB + 1),
            timeout_ms: Some(0),
            max_concurrent_batches: Some(0),
            max_output_mib: Some(MAX_PLUGIN_MAX_OUTPUT_MIB),
            ..RawPluginLimits::default()
        };
        let l = validate_plugin_limits(&raw, false, &mut problems);
        assert_eq!(
            problems,
            [
                "plugins.memory_mib: 4097 is outside 1..=4096",
                "plugins.timeout_ms: 0 is outside 1..=600000",
                "plugins.max_concurrent_batches: 0 is outside 1..=1024",
            ]
        );
        assert_eq!(l.memory_bytes, PluginLimits::default().memory_bytes);
        assert_eq!(
            l.max_output_bytes,
            (MAX_PLUGIN_MAX_OUTPUT_MIB * MIB) as usize
        );
        assert!(!l.consume_fuel);
    }

    #[test]
    fn request_limits_never_below_firehose() {
        let mut problems = Vec::new();
        let raw = RawLimits {
            max_body_bytes: Some(MIN_MAX_BODY_BYTES),
            max_records: Some(MIN_MAX_RECORDS - 1),
            memory_budget_bytes: None,
        };
        let l = validate_request_limits(&raw, &mut problems);
        assert_eq!(l.max_body_bytes, FIREHOSE_MAX_BODY_BYTES);
        assert_eq!(
            problems,
            ["limits.max_records: 9999 is below Firehose's own limit of 10000 records"]
        );
        assert_eq!(l.memory_budget_bytes, DEFAULT_MEMORY_BUDGET_BYTES);
    }

    #[test]
    fn the_budget_holds_the_largest_request() {
        let mut problems = Vec::new();
        let raw = RawLimits {
            max_body_bytes: Some(100 * MIB as usize),
            max_records: None,
            memory_budget_bytes: Some(299 * MIB as usize),
        };
        let l = validate_request_limits(&raw, &mut problems);
        assert_eq!(l.request_peak_bytes(), 300 * MIB as usize);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("limits.memory_budget_bytes: 313524224 is below 314572800")
        );
    }
}
