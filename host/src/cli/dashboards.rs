//! `weir dashboards export|install`: OpenSearch Dashboards index patterns
//! for the config's routes (see `weir::dashboards`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use weir::config::{Config, Secret};
use weir::dashboards::{self, Space, install};

/// The environment variable `install` reads the basic-auth password from.
const PASSWORD_ENV: &str = "WEIR_DASHBOARDS_PASSWORD";

#[derive(Debug, Subcommand)]
pub(crate) enum DashboardsCommand {
    /// Write a saved-objects file (NDJSON): an index pattern per route, with
    /// its time field, and `weir-all` over every route with `@timestamp`.
    Export {
        /// Config file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Only this tenant's routes.
        #[arg(long)]
        tenant: Option<String>,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import the same objects through the Dashboards saved-objects API
    /// (overwriting earlier imports).
    Install {
        /// Config file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Dashboards base URL (`https://host:5601`, or `…/_dashboards` on
        /// Amazon OpenSearch Service).
        #[arg(long)]
        url: String,
        /// Only this tenant's routes.
        #[arg(long)]
        tenant: Option<String>,
        /// One Dashboards tenant per Weir tenant (security plugin
        /// multi-tenancy: header `securitytenant`), each with only its own
        /// routes' patterns. Without it, everything goes to the caller's
        /// current Dashboards tenant.
        #[arg(long)]
        tenant_space: bool,
        /// Basic auth user; the password comes from `--password` or
        /// `WEIR_DASHBOARDS_PASSWORD`.
        #[arg(long)]
        user: Option<String>,
        /// Basic auth password (prefer `WEIR_DASHBOARDS_PASSWORD`: a
        /// command line is visible to other users).
        #[arg(long)]
        password: Option<String>,
        /// Sign requests with AWS SigV4 (service `es`) for this region,
        /// credentials from the standard AWS chain.
        #[arg(long, conflicts_with = "user")]
        sigv4_region: Option<String>,
        /// Extra CA certificate(s) to trust (PEM).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Time to wait for each answer, in milliseconds.
        #[arg(long, default_value_t = install::DEFAULT_TIMEOUT.as_millis() as u64)]
        timeout_ms: u64,
    },
}

/// Run a `weir dashboards` command.
pub(crate) fn run(command: DashboardsCommand) -> anyhow::Result<ExitCode> {
    match command {
        DashboardsCommand::Export {
            config,
            tenant,
            out,
        } => export(&config, tenant.as_deref(), out),
        DashboardsCommand::Install {
            config,
            url,
            tenant,
            tenant_space,
            user,
            password,
            sigv4_region,
            ca_file,
            timeout_ms,
        } => {
            let password = password.or_else(|| std::env::var(PASSWORD_ENV).ok());
            if user.is_some() && password.is_none() {
                bail!("--user needs --password or {PASSWORD_ENV}");
            }
            let target = install::Target {
                url,
                username: user,
                password: password.map(Secret::new),
                sigv4_region,
                ca_file,
                timeout: std::time::Duration::from_millis(timeout_ms),
            };
            let spaces = spaces(&config, tenant.as_deref(), tenant_space)?;
            run_install(&target, &spaces)
        }
    }
}

/// The config's routes, their plugins loaded (as `weir validate` does), as spaces to import.
fn spaces(path: &Path, tenant: Option<&str>, per_tenant: bool) -> anyhow::Result<Vec<Space>> {
    let config = Config::load(path).with_context(|| path.display().to_string())?;
    super::runtime()?
        .block_on(weir::pipeline::fetch_plugins(&config))
        .with_context(|| path.display().to_string())?;
    let routes = dashboards::route_indices(&config).with_context(|| path.display().to_string())?;
    Ok(dashboards::spaces(&routes, tenant, per_tenant)?)
}

fn export(path: &Path, tenant: Option<&str>, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let spaces = spaces(path, tenant, false)?;
    let objects: Vec<_> = spaces.into_iter().flat_map(|s| s.objects).collect();
    let text = dashboards::ndjson(&objects);
    match &out {
        Some(file) => {
            std::fs::write(file, &text).with_context(|| format!("writing {}", file.display()))?;
            eprintln!(
                "{}: {} index patterns (import with Dashboards' saved objects import, or `weir dashboards install`)",
                file.display(),
                objects.len()
            );
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_install(target: &install::Target, spaces: &[Space]) -> anyhow::Result<ExitCode> {
    let done = super::runtime()?.block_on(install::install(target, spaces))?;
    for d in done {
        println!(
            "imported {} index patterns into {} at {}",
            d.success_count,
            d.tenant.map_or_else(
                || "the current tenant".to_string(),
                |t| format!("tenant {t:?}")
            ),
            target.url
        );
    }
    Ok(ExitCode::SUCCESS)
}
