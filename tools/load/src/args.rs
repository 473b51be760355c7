//! The command line, and the paths it defaults to.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

/// Access key of tenant `load`, the tenant every scenario measures.
pub(crate) const KEY: &str = "load-access-key";
/// `server.metrics_token` of the host under test: with more than one
/// tenant `/metrics` is served only behind a token.
pub(crate) const METRICS_TOKEN: &str = "load-metrics-token";
/// Access key of tenant `noisy`, the flooding neighbour.
pub(crate) const NOISY_KEY: &str = "noisy-access-key";

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
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
    /// A quiet tenant alone, then beside four tenants flooding with gzip
    /// requests that inflate to ~60 MiB, a sleeping plugin and idle
    /// connections; peak RSS against the config's bound.
    Flood,
    /// Every source end to end (WAF, VPC flow logs v2 and v5, Route 53
    /// Resolver, CloudTrail through CloudWatch Logs, Security Hub), each with
    /// plain and gzip request bodies: flat out, then at half that rate, and
    /// a table of records and documents per CPU-second. Not part of `all`.
    Sources,
    /// One request body sent by `wrk` (Debian's `wrk`, an independent
    /// client) and by `weir-load`, alternating, against one host: records
    /// per CPU-second and latency from each. Not part of `all`.
    Wrk,
    /// The maximum rate, then `--soak-minutes` at half of it (or at
    /// `--rate`), with RSS and open descriptors every minute and their
    /// drift after the warm-up. Not part of `all`.
    Soak,
    /// Sweep, startup, idle-plugins and noisy-neighbour.
    All,
    /// Throughput per CPU-second of one replica against two, each behind
    /// HAProxy, in `--rounds` alternating pairs. Not part of `all`.
    Replicas,
    /// What the ECS fields and GeoIP cost `--source` (issue #12): ECS off
    /// against ECS on with GeoIP (the MaxMind test databases unless
    /// `--geoip-city`/`--geoip-asn` name others), `--rounds` alternating
    /// pairs of runs at `--rate`; records per CPU-second, each pair's
    /// ratio, their median and the ratio of the medians. Not part of `all`.
    EcsCost,
    /// The fault matrix: records with unique markers sent the way Firehose
    /// does while `weir` is killed or OpenSearch misbehaves, then every
    /// marker counted (lost, duplicated). Not part of `all`.
    Faults,
}

/// `weir-load`'s command line.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub(crate) struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) scenario: Scenario,
    /// The `weir` binary (default: `weir` beside this program).
    #[arg(long)]
    pub(crate) weir: Option<PathBuf>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 4)]
    pub(crate) connections: usize,
    /// Seconds measured per run (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Seconds of warm-up per run, not measured.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) warmup: f64,
    /// Requests per second over all connections; 0: as fast as answered.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) rate: f64,
    /// `replicas`, `ecs-cost`: pairs of runs (one replica and two; ECS off
    /// and on), alternating.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Records per Firehose request.
    #[arg(long, default_value_t = 500)]
    pub(crate) records: usize,
    /// `null` (the built-in null `_bulk` endpoint) or an OpenSearch URL.
    #[arg(long, default_value = "null")]
    pub(crate) target: String,
    /// HTTPS to Weir (a self-signed certificate made for the run).
    #[arg(long)]
    pub(crate) tls: bool,
    /// The OpenSearch sink's `bulk_max_age_ms` (0: a `_bulk` per request).
    #[arg(long, default_value_t = 0)]
    pub(crate) bulk_max_age_ms: u64,
    /// A plugin that loops, for `noisy-neighbour` and `flood` (default: the
    /// hostile test plugin).
    #[arg(long)]
    pub(crate) noisy_plugin: Option<PathBuf>,
    /// `flood`: the flooders send a refused request again at once, as a
    /// hostile client would, instead of backing off as Firehose does.
    #[arg(long)]
    pub(crate) flood_hammer: bool,
    /// Idle connections held open during `flood`.
    #[arg(long, default_value_t = 300)]
    pub(crate) idle_connections: usize,
    /// A plugin component to load many distinct copies of, for `idle-plugins`
    /// (default: the hostile test plugin).
    #[arg(long)]
    pub(crate) idle_plugin: Option<PathBuf>,
    /// Extra plugins loaded for `idle-plugins`.
    #[arg(long, default_value_t = 100)]
    pub(crate) plugins: usize,
    /// The source measured: the built-in plugin of the measured route
    /// (`waf`, `vpc-flow`, `route53-resolver`, `cloudwatch-logs`,
    /// `securityhub`), and its fixtures by default.
    #[arg(long, default_value = "waf")]
    pub(crate) source: String,
    /// The measured route's plugin from a component file instead of
    /// `builtin:<--source>` (its index is still `--source`'s). The host
    /// then checks its bodies as it does every third-party plugin's, so
    /// compare a file only with another file (`--plugin` both times).
    #[arg(long)]
    pub(crate) plugin: Option<PathBuf>,
    /// Fixtures to build records from (default:
    /// `tests/fixtures/plugins/<source>`).
    #[arg(long)]
    pub(crate) fixtures: Option<PathBuf>,
    /// The WAF route's `plugin_config`, as the inside of a TOML inline
    /// table (`ecs = false`).
    #[arg(long)]
    pub(crate) plugin_config: Option<String>,
    /// A MaxMind City database for `[geoip] city`.
    #[arg(long)]
    pub(crate) geoip_city: Option<PathBuf>,
    /// A MaxMind ASN database for `[geoip] asn`.
    #[arg(long)]
    pub(crate) geoip_asn: Option<PathBuf>,
    /// `faults`: records (unique markers) sent per fault run.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) fault_records: usize,
    /// `faults`: the faults to run, by name (default: every one; the
    /// names are in RELIABILITY.md and in the table's legend).
    #[arg(long, value_delimiter = ',')]
    pub(crate) faults: Vec<String>,
    /// `faults`: the real OpenSearch (default: `$OPENSEARCH_URL`, else
    /// `http://127.0.0.1:9200`).
    #[arg(long)]
    pub(crate) opensearch: Option<String>,
    /// `sources`: the load sets to run, by name (default: every one: waf,
    /// vpc-flow-v2, vpc-flow-v5, route53-resolver, cloudtrail-cwl,
    /// securityhub).
    #[arg(long, value_delimiter = ',')]
    pub(crate) sets: Vec<String>,
    /// `soak`: minutes at half the maximum rate.
    #[arg(long, default_value_t = 30)]
    pub(crate) soak_minutes: usize,
    /// `soak`: minutes of the soak that are its warm-up: the drift is
    /// measured from the last of them to the last minute.
    #[arg(long, default_value_t = 5)]
    pub(crate) soak_warmup_minutes: usize,
    /// Keep the run's directory (configs, logs) instead of deleting it.
    #[arg(long)]
    pub(crate) keep: bool,
}

impl Args {
    /// The `weir` binary to start: `--weir`, or `weir` beside this program.
    pub(crate) fn weir_binary(&self) -> anyhow::Result<PathBuf> {
        let weir = match &self.weir {
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
        Ok(weir)
    }
}

/// The workspace's root, where the fixtures and test plugins are.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The hostile test plugin, as `cargo test -p weir-tests --no-run` builds it.
pub(crate) fn hostile_plugin() -> PathBuf {
    workspace().join("target/wasm-test-plugins/wasm32-wasip2/plugin/weir_test_plugin_hostile.wasm")
}
