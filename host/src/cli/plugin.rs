//! `weir plugin run | test | new`: tools for plugin authors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use weir::config::PluginRef;
use weir::conformance::{self, report::Format};
use weir::plugin::{self, BatchContext, Runtime};

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Run a plugin on records and print each record's outcome as a JSON line.
    Run(RunOptions),
    /// Conformance harness: golden cases, the contract, hostile inputs,
    /// determinism, time and memory per batch against the route limits.
    /// Exits non-zero when any check fails.
    Test {
        /// `builtin:<name>` or a path to a component (`.wasm`).
        plugin: String,
        /// Directory of golden cases: `<case>.in` (a Firehose request body,
        /// or one record per line) and `<case>.out.ndjson` (the outcomes,
        /// as `weir plugin run` prints them). Default: `./cases` if it exists.
        #[arg(long)]
        cases: Option<PathBuf>,
        /// The plugin's config, as JSON text.
        #[arg(long, default_value = "{}")]
        plugin_config: String,
        /// Rewrite every `<case>.out.ndjson` from what the plugin gives.
        #[arg(long)]
        update: bool,
        /// Report format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Write a new plugin project (template, contract, SDK, sample cases).
    New {
        /// Plugin name, kebab-case (`my-plugin`).
        name: String,
        /// Language of the project.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Where to write it (default: `./<name>`); must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// `weir plugin test --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Lines for people.
    Text,
    /// JSON lines: `plugin`, one `check` per check, `summary`.
    Json,
    /// JUnit XML.
    Junit,
}

/// `weir plugin new --lang`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with the Weir SDK (vendored into the project).
    Rust,
    /// Python (componentize-py).
    Python,
    /// JavaScript (ComponentizeJS).
    Js,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// Run a `weir plugin` command.
pub(crate) fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Run(options) => plugin_run(&options),
        PluginCommand::Test {
            plugin,
            cases,
            plugin_config,
            update,
            format,
        } => {
            let report = conformance::run(&conformance::Options {
                plugin,
                cases,
                plugin_config,
                update,
            });
            let format = match format {
                ReportFormat::Text => Format::Text,
                ReportFormat::Json => Format::Json,
                ReportFormat::Junit => Format::Junit,
            };
            std::io::stdout().write_all(conformance::report::render(&report, format).as_bytes())?;
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        PluginCommand::New { name, lang, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = weir::scaffold::new_project(&name, lang.name(), &dir)?;
            println!(
                "wrote {} ({} files, {} project); next: cd {} and follow README.md",
                dir.display(),
                files.len(),
                lang.name(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `weir plugin run`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct RunOptions {
    /// `builtin:<name>` or a path to a component (`.wasm`).
    #[arg(long)]
    plugin: String,
    /// A Firehose request body (JSON with `records`), or one raw record per line.
    #[arg(long)]
    input: PathBuf,
    /// The plugin's config, as JSON text.
    #[arg(long, default_value = "{}")]
    plugin_config: String,
    /// Count the fuel the call burns (about one unit per WebAssembly
    /// operator) and print it: a measure of the plugin's work that does
    /// not vary from run to run, for comparing two builds of a plugin.
    #[arg(long)]
    count_fuel: bool,
    /// A MaxMind City (or Country) database answering the plugin's
    /// GeoIP lookups, as `geoip.city` does in a config.
    #[arg(long)]
    geoip_city: Option<PathBuf>,
    /// A MaxMind ASN database, as `geoip.asn` does in a config.
    #[arg(long)]
    geoip_asn: Option<PathBuf>,
}

fn plugin_run(o: &RunOptions) -> anyhow::Result<ExitCode> {
    let plugin_config = o.plugin_config.as_str();
    let pref = PluginRef::parse(&o.plugin).map_err(anyhow::Error::msg)?;
    let records = conformance::golden::read_records(&o.input).map_err(anyhow::Error::msg)?;
    let geoip = match (&o.geoip_city, &o.geoip_asn) {
        (None, None) => None,
        (city, asn) => Some(std::sync::Arc::new(weir::geoip::GeoIp::open(
            city.as_deref(),
            asn.as_deref(),
        )?)),
    };
    let runtime = Runtime::new(weir::config::PluginLimits {
        consume_fuel: o.count_fuel,
        ..weir::config::PluginLimits::default()
    })?;
    let plugin = weir::pipeline::load_plugin(&runtime, &pref).map_err(anyhow::Error::msg)?;
    if let Err(e) = plugin.validate_config(plugin_config)? {
        bail!("plugin config refused: {e}");
    }
    let ctx = BatchContext {
        tenant: "cli".into(),
        route: "plugin-run".into(),
        request_id: "plugin-run".into(),
        config: plugin_config.to_string(),
        geoip,
        ..BatchContext::default()
    };
    let (outcomes, stats) = plugin.transform(&ctx, &records)?;
    let mut out = std::io::stdout().lock();
    let (mut ok, mut dropped, mut failed) = (0, 0, 0);
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            plugin::Outcome::Ok(_) => ok += 1,
            plugin::Outcome::Dropped => dropped += 1,
            plugin::Outcome::Failed(_) => failed += 1,
        }
        writeln!(out, "{}", plugin::outcome_json(i, o))?;
    }
    let fuel = match stats.fuel {
        Some(fuel) => format!(
            ", fuel {fuel}: {} per record",
            fuel / records.len().max(1) as u64
        ),
        None => String::new(),
    };
    eprintln!(
        "{} records: {ok} ok, {dropped} dropped, {failed} failed (instantiate {:?}, call {:?}{fuel})",
        records.len(),
        stats.instantiate,
        stats.call
    );
    Ok(ExitCode::SUCCESS)
}
