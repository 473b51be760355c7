//! `weir-load`: start `weir serve` with a generated config, replay Firehose
//! requests built from the WAF fixtures against it over N keep-alive
//! connections (at a set rate, or as fast as it answers), retry non-200s
//! the way Firehose does (same request id, backoff), and print records/s,
//! MB/s, latency percentiles, errors, the host's CPU time and peak RSS.
//!
//! The `_bulk` side is a built-in null endpoint (Weir's own cost only) or a
//! real OpenSearch URL. Scenarios: `sweep` (flat out, then half that rate
//! flushing per request), `noisy-neighbour` (a tenant's rate and p99 alone
//! and beside a tenant flooding with a looping plugin), `flood` (a
//! tenant alone and beside tenants flooding with gzip requests that inflate
//! to ~60 MiB, a sleeping plugin and idle connections; peak RSS against the
//! config's bound), `idle-plugins`
//! (RSS per loaded plugin), `startup` (start to ready, cold and warm
//! plugin cache), and `all`. Figures are printed, never asserted.
//!
//! Modules: [`args`] (the command line), [`bodies`] (records and request
//! bodies), [`config`] (each host's config), [`host`] (the `weir serve`
//! process and its /proc samples), [`drive`] (connections and tallies),
//! [`report`] (what a run measured, printed), [`scenarios`] (one module
//! each).

// Test and load-tool code reads the small answers of its own loopback
// servers and the objects it wrote itself; the production bounds on body
// collection (clippy.toml) are for the host.
#![allow(clippy::disallowed_methods)]

mod args;
mod bodies;
mod config;
mod drive;
mod host;
mod report;
mod scenarios;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = args::Args::parse();
    let weir = args.weir_binary()?;
    let run_dir = std::env::temp_dir().join(format!("weir-load-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir)?;
    // One engine-wide runtime on one thread: the generator must not take
    // more than a core from the host it measures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(scenarios::run(&args, &weir, &run_dir));
    if args.keep {
        eprintln!("run directory kept: {}", run_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    result
}
