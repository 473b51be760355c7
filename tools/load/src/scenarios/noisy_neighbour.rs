//! `noisy-neighbour`: a quiet tenant's rate and latency alone, and beside
//! a tenant flooding a route whose plugin loops.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use weir_load::config_toml::{route, tenant};

use super::Setting;
use crate::args::{Args, NOISY_KEY, hostile_plugin};
use crate::bodies::{Body, build_bodies};
use crate::drive::{Tally, Target, Window, collect, drive, spawn_connections};
use crate::host::{Endpoint, Host};
use crate::report::Report;

/// The flooding tenant's connections.
const FLOOD_CONNECTIONS: usize = 8;

/// The quiet tenant at a quarter of its flat-out rate (or `--rate`), alone
/// and then beside the flood; print both and their ratios.
pub(crate) async fn noisy_neighbour(s: &Setting<'_>, records: &[Vec<u8>]) -> anyhow::Result<()> {
    let args = s.args;
    let plugin = args.noisy_plugin.clone().unwrap_or_else(hostile_plugin);
    if !plugin.is_file() {
        bail!(
            "{} not found (build it with `cargo test -p weir-tests --no-run`, or pass --noisy-plugin)",
            plugin.display()
        );
    }
    let sub = s.subdir("noisy")?;
    let host = s.start(&sub, "noisy", Some(&noisy_tenant(&plugin))).await?;
    let bodies = Arc::new(build_bodies(records, args.records, 64, "quiet"));
    let noisy_bodies = Arc::new(build_bodies(records, 10, 16, "noisy"));
    let rate = quiet_rate(args, &host, &bodies).await?;
    let solo = drive(args, &host, &bodies, rate).await?;
    solo.print("quiet tenant alone", args, &host);
    // The flood outlasts the quiet tenant's warm-up and window.
    let length = Duration::from_secs_f64(args.warmup + args.duration + 1.0);
    let flood = {
        let endpoint = host.endpoint.clone();
        tokio::spawn(async move { flood(endpoint, noisy_bodies, length).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let beside = drive(args, &host, &bodies, rate).await?;
    beside.print(
        "quiet tenant beside a tenant flooding a looping plugin",
        args,
        &host,
    );
    let noisy = flood.await??;
    print_comparison(&noisy, &solo, &beside);
    Ok(())
}

/// Tenant `noisy` (at most 8 requests in flight) and its route
/// `/noisy/loop`, whose plugin loops until its 200 ms deadline.
fn noisy_tenant(plugin: &Path) -> String {
    let plugin = plugin.display().to_string();
    tenant("noisy", &[NOISY_KEY])
        + "max_requests_in_flight = 8\n"
        + &route("/noisy/loop", "noisy", &plugin, "loop", "search")
        + "plugin_config = { mode = \"loop\" }\ntimeout_ms = 200\n"
}

/// The quiet tenant's rate: `--rate`, or a quarter of what it reaches
/// alone, flat out.
async fn quiet_rate(args: &Args, host: &Host, bodies: &Arc<Vec<Body>>) -> anyhow::Result<f64> {
    if args.rate > 0.0 {
        return Ok(args.rate);
    }
    let max = drive(args, host, bodies, 0.0).await?;
    Ok(max.tally.requests as f64 / max.window.as_secs_f64() / 4.0)
}

/// The noisy tenant's answers, and the quiet tenant beside it against alone.
fn print_comparison(noisy: &Tally, solo: &Report, beside: &Report) {
    println!(
        "  noisy tenant: {} requests answered 200 (records dead-lettered after the 200 ms deadline), {} × 429 (its route cooling down, or its quota), {} × other",
        noisy.requests, noisy.retries_429, noisy.retries_other
    );
    println!(
        "  quiet tenant beside / alone: throughput {:.3}, p50 {:.2}, p99 {:.2}",
        beside.records_per_s() / solo.records_per_s(),
        beside.percentile_ms(0.5) / solo.percentile_ms(0.5),
        beside.percentile_ms(0.99) / solo.percentile_ms(0.99)
    );
}

/// Flood `/noisy/loop` flat out over 8 connections (the Firehose retry
/// behaviour included) for `length`.
async fn flood(
    endpoint: Endpoint,
    bodies: Arc<Vec<Body>>,
    length: Duration,
) -> anyhow::Result<Tally> {
    let t0 = Instant::now();
    let w = Window {
        t0,
        start: t0,
        end: t0 + length,
    };
    let target = Target {
        path: "/noisy/loop".to_string(),
        key: NOISY_KEY.to_string(),
        addr: endpoint.addr.clone(),
    };
    let tasks = spawn_connections(&endpoint, &target, &bodies, w, 0.0, FLOOD_CONNECTIONS).await?;
    collect(tasks).await
}
