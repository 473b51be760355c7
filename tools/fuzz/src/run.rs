//! The runner: seeds the corpus (regressions, `corpus/<target>/`, the
//! fixtures), replays it, then mutates corpus entries for a number of
//! executions or seconds. Inputs that produce an outcome class not seen
//! before join the corpus. A panic is a crash, an execution longer than
//! the hang limit a hang: either writes the input under `artifacts/` and
//! stops the run.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mutate::{Mutator, Rng, tokens_of};
use crate::targets::{Fnv, Target};

/// How long and from where a target runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this many executions (seeds included).
    pub runs: u64,
    /// Stop after this long.
    pub time: Duration,
    /// The PRNG seed (mixed with the target's name).
    pub seed: u64,
    /// An execution longer than this is a hang.
    pub hang: Duration,
    /// The repository root (fixtures, `tools/fuzz/corpus`, `tools/fuzz/regressions`).
    pub root: PathBuf,
    /// Where crashing and hanging inputs are written (`<dir>/<target>/`).
    pub artifacts: PathBuf,
    /// The corpus stops growing at this many entries.
    pub max_corpus: usize,
    /// Print a progress line this often (never: `None`).
    pub progress: Option<Duration>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target's name.
    pub target: &'static str,
    /// Executions, seeds included.
    pub execs: u64,
    /// Of which seeds and regressions (replayed first).
    pub seeds: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Corpus entries at the end (seeds and the inputs kept).
    pub corpus: usize,
    /// Outcome classes seen.
    pub classes: usize,
}

impl Report {
    /// Executions per second.
    pub fn rate(&self) -> f64 {
        self.execs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone)]
pub struct Crash {
    /// The target's name.
    pub target: &'static str,
    /// The input, as written.
    pub input: PathBuf,
    /// The panic message.
    pub message: String,
}

/// The inputs a target starts from: its regressions (exact inputs), then
/// `tools/fuzz/corpus/<name>/` and its fixtures, each through the target's
/// `seed` function.
pub fn seeds(target: &Target, root: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let fuzz = root.join("tools/fuzz");
    for file in files(&fuzz.join("regressions").join(target.name), "")? {
        out.push(std::fs::read(file)?);
    }
    let mut sources = files(&fuzz.join("corpus").join(target.name), "")?;
    for (dir, suffix) in target.fixtures {
        sources.extend(files(&root.join(dir), suffix)?);
    }
    for file in sources {
        out.extend((target.seed)(&std::fs::read(file)?));
    }
    Ok(out)
}

/// The files of `dir` whose names end with `suffix`, sorted (none when
/// `dir` does not exist).
fn files(dir: &Path, suffix: &str) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_file() && name.ends_with(suffix) && !name.starts_with('.') {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The input being executed and since when (ms after the run started, 0:
/// none), for the hang watchdog.
struct Current {
    input: Mutex<Vec<u8>>,
    since_ms: AtomicU64,
}

/// Run `target` with `opts`: seeds first, then mutations.
pub fn fuzz(target: &'static Target, opts: &Options) -> anyhow::Result<Result<Report, Crash>> {
    let seeds = seeds(target, &opts.root)?;
    let mut dictionary: Vec<Vec<u8>> = target.dictionary.iter().map(|t| t.to_vec()).collect();
    dictionary.extend(tokens_of(&seeds, 512));
    let mutator = Mutator::new(dictionary, target.max_len);
    let mut name_hash = Fnv::new(opts.seed);
    target.name.bytes().for_each(|b| name_hash.write(b));
    let mut rng = Rng::new(name_hash.finish());

    let start = Instant::now();
    let exec = Exec {
        target,
        artifacts: &opts.artifacts,
        start,
        current: Arc::new(Current {
            input: Mutex::new(Vec::new()),
            since_ms: AtomicU64::new(0),
        }),
    };
    let watchdog = watchdog(target, opts, start, Arc::clone(&exec.current));
    let exec = |input: &[u8]| exec.run(input);

    let mut seen = HashSet::new();
    let mut execs = 0u64;
    for input in &seeds {
        match exec(input) {
            Ok(class) => seen.insert(class),
            Err(crash) => return Ok(Err(crash)),
        };
        execs += 1;
    }
    let mut corpus = seeds.clone();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut input = Vec::with_capacity(target.max_len);
    let mut last_progress = Instant::now();
    while execs < opts.runs && start.elapsed() < opts.time {
        let parent = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        input.clear();
        input.extend_from_slice(parent);
        mutator.mutate(&mut rng, &mut input, other);
        match exec(&input) {
            Ok(class) => {
                if seen.insert(class) && corpus.len() < opts.max_corpus {
                    corpus.push(input.clone());
                }
            }
            Err(crash) => return Ok(Err(crash)),
        }
        execs += 1;
        if let Some(every) = opts.progress
            && last_progress.elapsed() >= every
        {
            last_progress = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            let (name, corpus, classes) = (target.name, corpus.len(), seen.len());
            let rate = execs as f64 / secs;
            eprintln!(
                "{name}: {execs} execs in {secs:.0} s ({rate:.0}/s), corpus {corpus}, classes {classes}"
            );
        }
    }
    drop(watchdog);
    Ok(Ok(Report {
        target: target.name,
        execs,
        seeds: seeds.len(),
        elapsed: start.elapsed(),
        corpus: corpus.len(),
        classes: seen.len(),
    }))
}

/// Runs one input at a time, under the watchdog's eye.
struct Exec<'a> {
    target: &'static Target,
    artifacts: &'a Path,
    start: Instant,
    current: Arc<Current>,
}

impl Exec<'_> {
    /// The body on `input`: its class, or the crash (input written).
    fn run(&self, input: &[u8]) -> Result<u64, Crash> {
        if let Ok(mut c) = self.current.input.lock() {
            c.clear();
            c.extend_from_slice(input);
        }
        let now = self.start.elapsed().as_millis() as u64;
        self.current.since_ms.store(now.max(1), Ordering::Relaxed);
        let target = self.target;
        let result = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
        self.current.since_ms.store(0, Ordering::Relaxed);
        result.map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Crash {
                target: target.name,
                input: save(self.artifacts, target.name, "crash", input),
                message,
            }
        })
    }
}

/// Stops the watchdog thread when dropped.
struct Watchdog(Arc<AtomicU64>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(1, Ordering::Relaxed);
    }
}

/// A thread that checks every 100 ms whether the current execution has
/// run past the hang limit; if so it writes the input and exits the
/// process (status 3): a hung body cannot be interrupted.
fn watchdog(
    target: &'static Target,
    opts: &Options,
    start: Instant,
    current: Arc<Current>,
) -> Watchdog {
    let stop = Arc::new(AtomicU64::new(0));
    let stopped = Arc::clone(&stop);
    let (hang, artifacts) = (opts.hang, opts.artifacts.clone());
    std::thread::spawn(move || {
        while stopped.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(100));
            let since = current.since_ms.load(Ordering::Relaxed);
            let now = start.elapsed().as_millis() as u64;
            if since != 0 && now.saturating_sub(since) > hang.as_millis() as u64 {
                let input = current.input.lock().map(|i| i.clone()).unwrap_or_default();
                let path = save(&artifacts, target.name, "hang", &input);
                eprintln!(
                    "{}: HANG: one execution ran over {} ms; input written to {}",
                    target.name,
                    hang.as_millis(),
                    path.display()
                );
                std::process::exit(3);
            }
        }
    });
    Watchdog(stop)
}

/// Write `input` as `<dir>/<target>/<kind>-<hash>` and return the path
/// (the path is returned even if writing failed; the error is printed).
fn save(dir: &Path, target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let mut h = Fnv::new(0);
    input.iter().for_each(|&b| h.write(b));
    let dir = dir.join(target);
    let path = dir.join(format!("{kind}-{:016x}", h.finish()));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        eprintln!("could not write {}: {e}", path.display());
    }
    path
}

/// Run `target` on each file (exact inputs, as written by a crash).
pub fn replay(target: &Target, paths: &[PathBuf]) -> anyhow::Result<()> {
    for path in paths {
        let input = std::fs::read(path)?;
        let class = (target.run)(&input);
        eprintln!(
            "{}: {} ran (class {class:016x})",
            target.name,
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TARGETS;

    /// Every target runs its regressions and seeds, then a few mutations,
    /// without a crash (what `scripts/test` runs longer).
    #[test]
    fn every_target_replays_its_seeds_and_regressions() {
        weir_plugin_sdk::bindings::NATIVE_LOG.store(false, Ordering::Relaxed);
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        for target in TARGETS {
            let seeds = seeds(target, &root).unwrap();
            assert!(!seeds.is_empty(), "{} has no seeds", target.name);
            let opts = Options {
                runs: seeds.len() as u64 + 200,
                time: Duration::from_secs(60),
                seed: 1,
                hang: Duration::from_secs(60),
                root: root.clone(),
                artifacts: std::env::temp_dir().join("weir-fuzz-test"),
                max_corpus: 100,
                progress: None,
            };
            match fuzz(target, &opts).unwrap() {
                Ok(report) => assert_eq!(report.execs, opts.runs, "{}", target.name),
                Err(crash) => panic!("{crash:?}"),
            }
        }
    }

    /// The envelope regression: a JSON array taken for the common attributes.
    #[test]
    fn the_envelope_regression_is_refused() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = crate::targets::find("envelope").unwrap();
        let input =
            std::fs::read(root.join("tools/fuzz/regressions/envelope/common-attributes-array"))
                .unwrap();
        (target.run)(&input);
    }
}
