//! `weir plugin test`: the conformance harness a plugin author runs before
//! shipping. It loads the plugin the way a route does and checks, each as a
//! named case:
//!
//! - `load`, `config`, `metadata`: the component loads (contract, WIT
//!   version, imports), accepts the given plugin config, and describes
//!   itself sensibly (a valid default index, a config schema that is a
//!   JSON object);
//! - `golden/<case>`: each `<case>.in` of the cases directory (a Firehose
//!   request body, or one record per line) gives the outcomes of
//!   `<case>.out.ndjson` (the JSON lines `weir plugin run` prints), with an
//!   update mode that rewrites them ([`golden`]);
//! - `hostile/<input>`: inputs made by the harness (empty, binary, invalid
//!   UTF-8, huge, gzip bomb, deep nesting, many records) give per-record
//!   outcomes within the route limits, never a failed batch ([`hostile`]);
//! - `determinism/<case>`: every batch run twice gives the same outcomes.
//!
//! Every batch is also held to the contract the pipeline enforces (one
//! outcome per record, in order; every body one JSON object; ids and
//! indices the host accepts), through the host's own checks
//! ([`prepare_document`]), and its time and memory are reported against the
//! route limits (the defaults of `[plugins]`). [`report`] renders the result
//! as text, JSON lines or JUnit XML.

pub mod golden;
pub mod hostile;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{IndexPattern, PluginLimits, PluginRef, RouteConfig};
use crate::pipeline::prepare_document;
use crate::plugin::{BatchContext, BatchLimits, Outcome, Plugin, PluginInfo, Runtime};

/// The cases directory used when none is given (`weir plugin new` writes it).
pub const DEFAULT_CASES_DIR: &str = "cases";
/// Extension of a golden case's input.
pub const CASE_INPUT_EXT: &str = "in";
/// Suffix of a golden case's expected outcomes.
pub const CASE_OUTPUT_SUFFIX: &str = ".out.ndjson";
/// The index documents go to when the plugin suggests none (for the id and
/// index checks only).
const FALLBACK_INDEX: &str = "weir-plugin-test";
/// A batch over this share of a limit (time or memory) is flagged in the
/// report: a slower machine or a larger batch may hit the limit.
const NEAR_LIMIT_PERCENT: u128 = 50;

/// What to test.
#[derive(Debug, Clone)]
pub struct Options {
    /// `builtin:<name>` or a component file.
    pub plugin: String,
    /// Directory of golden cases; `None`: `./cases` when it exists.
    pub cases: Option<PathBuf>,
    /// The plugin's config, as JSON text.
    pub plugin_config: String,
    /// Rewrite the expected outcomes of the golden cases instead of comparing.
    pub update: bool,
}

/// Why a case failed, and at which record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The record (index in the batch), `None` for the batch or the case.
    pub record: Option<usize>,
    /// What was wrong.
    pub reason: String,
}

impl Failure {
    /// A failure of the whole case or batch.
    pub fn case(reason: impl Into<String>) -> Failure {
        Failure {
            record: None,
            reason: reason.into(),
        }
    }

    /// A failure of one record.
    pub fn record(record: usize, reason: impl Into<String>) -> Failure {
        Failure {
            record: Some(record),
            reason: reason.into(),
        }
    }
}

/// Time and memory of one batch, against the route limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Instantiation and call.
    pub time: Duration,
    /// Linear memory reached, bytes.
    pub memory_bytes: usize,
}

/// One named check and its result.
#[derive(Debug, Clone)]
pub struct Check {
    /// `load`, `golden/<case>`, `hostile/<input>`, `determinism/<case>`, …
    pub name: String,
    /// Records in the batch (0 when no batch ran).
    pub records: usize,
    /// Empty: passed.
    pub failures: Vec<Failure>,
    /// The batch's time and memory, when one ran.
    pub cost: Option<Cost>,
    /// Something worth saying that is not a failure (updated, near a limit).
    pub note: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            records: 0,
            failures: Vec::new(),
            cost: None,
            note: None,
        }
    }

    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Everything `weir plugin test` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plugin as given.
    pub plugin: String,
    /// SHA-256 of the component (a route's `plugin_sha256`), when it loaded.
    pub digest: Option<String>,
    /// Its self-description, when it loaded.
    pub info: Option<PluginInfo>,
    /// The limits each batch ran under.
    pub limits: BatchLimits,
    /// The checks, in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }

    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed()).count()
    }
}

/// A loaded plugin with what each batch is checked against.
struct Harness {
    plugin: Plugin,
    route: RouteConfig,
    limits: BatchLimits,
    config: String,
}

impl Harness {
    /// The batch context every call of the harness gets.
    fn context(&self) -> BatchContext {
        BatchContext {
            tenant: "plugin-test".into(),
            route: "plugin-test".into(),
            request_id: "plugin-test".into(),
            config: self.config.clone(),
            ..BatchContext::default()
        }
    }
}

/// Run every check on `options.plugin`. Never fails: what goes wrong is a
/// failed check in the report.
pub fn run(options: &Options) -> Report {
    let limits = BatchLimits::from_plugin_limits(&PluginLimits::default());
    let mut report = Report {
        plugin: options.plugin.clone(),
        digest: None,
        info: None,
        limits: limits.clone(),
        checks: Vec::new(),
    };
    let harness = match load(options, &limits, &mut report) {
        Some(h) => h,
        None => return report,
    };
    report.checks.push(metadata_check(harness.plugin.info()));
    for (name, records, outcomes) in golden_cases(options, &harness, &mut report) {
        determinism(&harness, &name, &records, Some(outcomes), &mut report);
    }
    for (name, records) in hostile::inputs() {
        let name = format!("hostile/{name}");
        let outcomes = run_checked(&harness, &name, &records, &mut report);
        determinism(&harness, &name, &records, outcomes, &mut report);
    }
    report
}

/// The `load` and `config` checks; the harness when both pass.
fn load(options: &Options, limits: &BatchLimits, report: &mut Report) -> Option<Harness> {
    let mut check = Check::new("load");
    let runtime = PluginRef::parse(&options.plugin)
        .map_err(|e| e.to_string())
        .and_then(|pref| {
            let runtime = Runtime::new(PluginLimits {
                cache_dir: crate::config::default_plugin_cache_dir(),
                ..PluginLimits::default()
            })
            .map_err(|e| e.to_string())?;
            crate::pipeline::load_plugin(&runtime, &pref).map(|p| (p, pref))
        });
    let (plugin, pref) = match runtime {
        Ok(p) => p,
        Err(e) => {
            check.failures.push(Failure::case(e));
            report.checks.push(check);
            return None;
        }
    };
    report.digest = Some(plugin.digest().to_string());
    report.info = Some(plugin.info().clone());
    report.checks.push(check);
    let mut check = Check::new("config");
    match plugin.validate_config(&options.plugin_config) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => check.failures.push(Failure::case(format!(
            "the plugin refuses --plugin-config {}: {e}",
            options.plugin_config
        ))),
        Err(e) => check.failures.push(Failure::case(e.to_string())),
    }
    let route = test_route(pref, plugin.info(), limits, &options.plugin_config);
    if let Err(e) = &route {
        check.failures.push(Failure::case(e.clone()));
    }
    let passed = check.passed();
    report.checks.push(check);
    let route = route.ok()?;
    passed.then(|| Harness {
        plugin,
        route,
        limits: limits.clone(),
        config: options.plugin_config.clone(),
    })
}

/// The route documents are checked against: the plugin's default index
/// (or a fallback), plugin indices allowed (and checked), no prefix.
fn test_route(
    plugin: PluginRef,
    info: &PluginInfo,
    limits: &BatchLimits,
    config: &str,
) -> Result<RouteConfig, String> {
    let index = match info
        .default_index
        .as_deref()
        .and_then(|i| IndexPattern::new(i).ok())
    {
        Some(index) => index,
        None => IndexPattern::new(FALLBACK_INDEX).map_err(|e| e.to_string())?,
    };
    Ok(RouteConfig {
        name: "plugin-test".into(),
        path: "/plugin-test".into(),
        tenant: crate::tenant::TenantId::new("plugin-test")?,
        // A file plugin's bodies are parsed, not only framed: check as
        // strictly as a third party's route does.
        plugin: match plugin {
            PluginRef::Builtin(name) => PluginRef::File(PathBuf::from(name)),
            other => other,
        },
        plugin_config: config.to_string(),
        index,
        allow_plugin_index: true,
        date_fields: None,
        index_patterns: Vec::new(),
        sink: String::new(),
        backup: None,
        backup_max_bytes: 0,
        backup_max_age: Duration::ZERO,
        object_store: None,
        allow_objects: Vec::new(),
        plugin_sha256: None,
        plugin_store: None,
        limits: limits.clone(),
        index_prefix: String::new(),
        max_indices_per_request: usize::MAX,
        max_indices_per_day: usize::MAX,
    })
}

/// The plugin's self-description, checked: a name, a default index that
/// is a valid pattern, a config schema that is a JSON object.
fn metadata_check(info: &PluginInfo) -> Check {
    let mut check = Check::new("metadata");
    if info == &PluginInfo::default() {
        check.note = Some("no metadata export (a weir:plugin@0.1.0 plugin)".into());
        return check;
    }
    if info.name.is_empty() {
        check.failures.push(Failure::case("metadata: empty name"));
    }
    if let Some(index) = &info.default_index
        && let Err(e) = IndexPattern::new(index)
    {
        check.failures.push(Failure::case(format!(
            "metadata: default index {index:?}: {e}"
        )));
    }
    if let Some(schema) = &info.config_schema
        && !matches!(
            serde_json::from_str::<serde_json::Value>(schema),
            Ok(serde_json::Value::Object(_))
        )
    {
        check.failures.push(Failure::case(
            "metadata: config schema is not a JSON object",
        ));
    }
    if info.date_fields.iter().any(String::is_empty) {
        check
            .failures
            .push(Failure::case("metadata: an empty date field name"));
    }
    check
}

/// The golden cases: each compared (or rewritten). Returns the batches that
/// ran, for the determinism checks.
fn golden_cases(
    options: &Options,
    harness: &Harness,
    report: &mut Report,
) -> Vec<(String, Vec<Vec<u8>>, Vec<Outcome>)> {
    let dir = match &options.cases {
        Some(dir) => dir.clone(),
        None if Path::new(DEFAULT_CASES_DIR).is_dir() => PathBuf::from(DEFAULT_CASES_DIR),
        None => return Vec::new(),
    };
    let cases = match golden::list(&dir) {
        Ok(cases) if !cases.is_empty() => cases,
        Ok(_) => {
            let mut check = Check::new("golden");
            check.failures.push(Failure::case(format!(
                "no cases (<case>.{CASE_INPUT_EXT}) in {}",
                dir.display()
            )));
            report.checks.push(check);
            return Vec::new();
        }
        Err(e) => {
            let mut check = Check::new("golden");
            check.failures.push(Failure::case(e));
            report.checks.push(check);
            return Vec::new();
        }
    };
    let mut ran = Vec::new();
    for case in cases {
        let name = format!("golden/{}", case.name);
        let records = match golden::read_records(&case.input) {
            Ok(r) => r,
            Err(e) => {
                let mut check = Check::new(&name);
                check.failures.push(Failure::case(e));
                report.checks.push(check);
                continue;
            }
        };
        let Some(outcomes) = run_checked(harness, &name, &records, report) else {
            continue;
        };
        if let Some(check) = report.checks.last_mut() {
            golden::judge(&case, &outcomes, options.update, check);
        }
        ran.push((name, records, outcomes));
    }
    ran
}

/// Run one batch as a check named `name`: the contract and the limits.
/// Returns the outcomes when the batch ran to its end.
fn run_checked(
    harness: &Harness,
    name: &str,
    records: &[Vec<u8>],
    report: &mut Report,
) -> Option<Vec<Outcome>> {
    let mut check = Check::new(name);
    check.records = records.len();
    let ctx = harness.context();
    let result = harness
        .plugin
        .transform_with(&ctx, records, &harness.limits);
    let outcomes = match result {
        Ok((outcomes, stats)) => {
            let cost = Cost {
                time: stats.instantiate + stats.call,
                memory_bytes: stats.memory_bytes,
            };
            check.cost = Some(cost);
            check.note = near_limit(cost, &harness.limits);
            check.failures = contract(&harness.route, &outcomes);
            Some(outcomes)
        }
        Err(e) => {
            check.failures.push(Failure::case(format!(
                "the batch failed as a whole (every record would be dead-lettered): {e}"
            )));
            None
        }
    };
    report.checks.push(check);
    outcomes
}

/// The contract the pipeline holds each outcome to, with the host's own
/// document checks: bodies, ids, indices; and a reason for every failure.
pub fn contract(route: &RouteConfig, outcomes: &[Outcome]) -> Vec<Failure> {
    let mut failures = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Outcome::Ok(docs) => {
                for (j, doc) in docs.iter().enumerate() {
                    if let Err(e) = prepare_document(route, "plugin-test", 0, i, j, doc.clone()) {
                        failures.push(Failure::record(i, e));
                    }
                }
            }
            Outcome::Failed(reason) if reason.trim().is_empty() => {
                failures.push(Failure::record(i, "failed without a reason"));
            }
            Outcome::Failed(_) | Outcome::Dropped => {}
        }
    }
    failures
}

/// A note when a batch used more than [`NEAR_LIMIT_PERCENT`] of a limit.
fn near_limit(cost: Cost, limits: &BatchLimits) -> Option<String> {
    let time = cost.time.as_micros() * 100 / limits.timeout.as_micros().max(1);
    let memory = cost.memory_bytes as u128 * 100 / (limits.memory_bytes as u128).max(1);
    let mut parts = Vec::new();
    if time > NEAR_LIMIT_PERCENT {
        parts.push(format!("{time} % of the time limit"));
    }
    if memory > NEAR_LIMIT_PERCENT {
        parts.push(format!("{memory} % of the memory cap"));
    }
    (!parts.is_empty()).then(|| format!("near a limit: {}", parts.join(", ")))
}

/// Run `records` again and compare with `first` (the outcomes of the first run).
fn determinism(
    harness: &Harness,
    name: &str,
    records: &[Vec<u8>],
    first: Option<Vec<Outcome>>,
    report: &mut Report,
) {
    let Some(first) = first else { return };
    let case = name.split_once('/').map_or(name, |(_, c)| c);
    let mut check = Check::new(format!("determinism/{case}"));
    check.records = records.len();
    let ctx = harness.context();
    match harness
        .plugin
        .transform_with(&ctx, records, &harness.limits)
    {
        Ok((second, _)) => {
            if let Some(i) =
                (0..first.len().max(second.len())).find(|&i| first.get(i) != second.get(i))
            {
                check.failures.push(Failure::record(
                    i,
                    "the same batch run twice gave different outcomes",
                ));
            }
        }
        Err(e) => check.failures.push(Failure::case(format!(
            "the same batch failed on its second run: {e}"
        ))),
    }
    report.checks.push(check);
}
