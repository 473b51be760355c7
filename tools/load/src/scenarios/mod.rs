//! The scenarios, one module each, and the run that picks them.

mod ecs_cost;
mod faults;
mod flood;
mod idle_plugins;
mod noisy_neighbour;
mod replicas;
mod soak;
mod sources;
mod startup;
mod throughput;
mod wrk;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::args::{Args, Scenario, workspace};
use crate::bodies::{build_bodies, fixture_records};
use crate::config::{HostConfig, host_config};
use crate::host::Host;

/// What every scenario runs with.
pub(crate) struct Setting<'a> {
    /// The command line.
    pub(crate) args: &'a Args,
    /// The `weir` binary.
    pub(crate) weir: &'a Path,
    /// The run's directory.
    pub(crate) dir: &'a Path,
    /// The `_bulk` endpoint's base URL.
    pub(crate) bulk: String,
}

impl Setting<'_> {
    /// `name`, a new subdirectory of the run's directory.
    pub(crate) fn subdir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let sub = self.dir.join(name);
        std::fs::create_dir_all(&sub)?;
        Ok(sub)
    }

    /// The host config for a host in `dir`, with `extra` TOML.
    pub(crate) fn config(&self, dir: &Path, extra: Option<&str>) -> HostConfig {
        host_config(self.args, dir, &self.bulk, extra)
    }

    /// Start a host `name` in `dir` with its own config (and `extra` TOML).
    pub(crate) async fn start(
        &self,
        dir: &Path,
        name: &str,
        extra: Option<&str>,
    ) -> anyhow::Result<Host> {
        Host::start(self.weir, dir, name, &self.config(dir, extra)).await
    }
}

/// Print the run's setting, start the `_bulk` endpoint, and run the
/// scenarios `--scenario` asks for, in order (`faults` alone: it has its
/// own hosts and OpenSearch).
pub(crate) async fn run(args: &Args, weir: &Path, dir: &Path) -> anyhow::Result<()> {
    if args.scenario == Scenario::Faults {
        return faults::faults(args, weir, dir).await;
    }
    let records = fixture_records(&args.fixtures.clone().unwrap_or_else(|| {
        workspace()
            .join("tests/fixtures/plugins")
            .join(&args.source)
    }))?;
    let mean = records.iter().map(Vec::len).sum::<usize>() / records.len().max(1);
    println!(
        "weir-load: {} cores, weir {}, {} connections, {} records/request (mean record {mean} B, {} {} records from the fixtures), {}, _bulk to {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        weir.display(),
        args.connections,
        args.records,
        records.len(),
        args.source,
        if args.tls { "https" } else { "http" },
        args.target
    );
    let bulk = if args.target == "null" {
        weir_load::null_bulk_server().await?
    } else {
        args.target.clone()
    };
    let bodies = Arc::new(build_bodies(&records, args.records, 64, "load"));
    let setting = Setting {
        args,
        weir,
        dir,
        bulk,
    };
    let s = args.scenario;
    if matches!(s, Scenario::Sweep | Scenario::All) {
        throughput::sweep(&setting, &bodies).await?;
    }
    if s == Scenario::Throughput {
        throughput::throughput(&setting, &bodies).await?;
    }
    if matches!(s, Scenario::Startup | Scenario::All) {
        startup::startup(&setting).await?;
    }
    if matches!(s, Scenario::IdlePlugins | Scenario::All) {
        idle_plugins::idle_plugins(&setting).await?;
    }
    if matches!(s, Scenario::NoisyNeighbour | Scenario::All) {
        noisy_neighbour::noisy_neighbour(&setting, &records).await?;
    }
    if s == Scenario::Sources {
        sources::sources(&setting).await?;
    }
    if s == Scenario::Wrk {
        wrk::wrk(&setting, &bodies).await?;
    }
    if s == Scenario::Soak {
        soak::soak(&setting, &bodies).await?;
    }
    if s == Scenario::EcsCost {
        ecs_cost::ecs_cost(&setting, &bodies).await?;
    }
    if s == Scenario::Replicas {
        replicas::replicas(&setting, &bodies).await?;
    }
    if s == Scenario::Flood {
        flood::flood(&setting, &records).await?;
    }
    Ok(())
}
