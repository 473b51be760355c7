//! `weir-fuzz`: run fuzz targets (see the crate docs and `RELIABILITY.md`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use weir_fuzz::run::{self, Options};
use weir_fuzz::targets::{self, TARGETS};

/// Fuzz Weir's parsers: seeds from the fixtures, then seeded mutations.
#[derive(Debug, Parser)]
#[command(name = "weir-fuzz")]
struct Cli {
    /// Targets to run (`all` for every one; `--list` names them).
    targets: Vec<String>,
    /// List the targets and stop.
    #[arg(long)]
    list: bool,
    /// Stop a target after this many executions.
    #[arg(long, default_value_t = u64::MAX)]
    runs: u64,
    /// Stop a target after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// PRNG seed (the same seed gives the same inputs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// An execution longer than this many seconds is a hang.
    #[arg(long, default_value_t = 10)]
    hang_seconds: u64,
    /// Most corpus entries kept per target.
    #[arg(long, default_value_t = 4096)]
    max_corpus: usize,
    /// Print progress this often (seconds; 0: never).
    #[arg(long, default_value_t = 0)]
    progress: u64,
    /// Where crashing inputs are written.
    #[arg(long, default_value = "target/fuzz-artifacts")]
    artifacts: PathBuf,
    /// Run the (one) target on these input files instead of fuzzing.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // Plugins' warnings (natively on stderr) would drown the report.
    weir_plugin_sdk::bindings::NATIVE_LOG.store(false, std::sync::atomic::Ordering::Relaxed);
    if cli.list || cli.targets.is_empty() {
        for t in TARGETS {
            println!("{:18} {}", t.name, t.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut chosen = Vec::new();
    for name in &cli.targets {
        if name == "all" {
            chosen.extend(TARGETS.iter());
        } else {
            chosen.push(
                targets::find(name)
                    .ok_or_else(|| anyhow::anyhow!("no target {name:?} (--list)"))?,
            );
        }
    }
    if !cli.replay.is_empty() {
        for t in chosen {
            run::replay(t, &cli.replay)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let opts = Options {
        runs: cli.runs,
        time: Duration::from_secs_f64(cli.seconds),
        seed: cli.seed,
        hang: Duration::from_secs(cli.hang_seconds),
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
        artifacts: cli.artifacts,
        max_corpus: cli.max_corpus,
        progress: (cli.progress > 0).then(|| Duration::from_secs(cli.progress)),
    };
    println!("| target | executions | time (s) | execs/s | seeds | corpus | classes | crashes |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for t in chosen {
        match run::fuzz(t, &opts)? {
            Ok(r) => println!(
                "| {} | {} | {:.1} | {:.0} | {} | {} | {} | 0 |",
                r.target,
                r.execs,
                r.elapsed.as_secs_f64(),
                r.rate(),
                r.seeds,
                r.corpus,
                r.classes
            ),
            Err(crash) => {
                eprintln!(
                    "{}: CRASH: {}\n  input: {}\n  reproduce: cargo run -p weir-fuzz -- {} --replay {}",
                    crash.target,
                    crash.message,
                    crash.input.display(),
                    crash.target,
                    crash.input.display()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
