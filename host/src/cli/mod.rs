//! The `weir` commands.

mod dashboards;
mod demo;
mod plugin;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use weir::config::Config;
use weir::pipeline::{Pipeline, RoutePluginError, RoutePlugins};
use weir::plugin::Runtime;

/// Weir: a WebAssembly-plugin edge collector (Firehose HTTP endpoint → WASM plugin → sink).
#[derive(Debug, Parser)]
#[command(name = "weir", version)]
pub(crate) struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Firehose endpoint.
    Serve {
        /// Config file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Override `server.listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Send every route to this OpenSearch URL (overrides the routes' sinks;
        /// dead letters go to the config's first directory sink).
        #[arg(long)]
        opensearch: Option<String>,
    },
    /// Check a config file: syntax, every value, every plugin and its config. Exits non-zero on errors.
    Validate {
        /// Config file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Self-contained demo: start on loopback with a built-in config, send the
    /// bundled sample Firehose requests over HTTP, report what was written.
    Demo {
        /// Where the directory sink writes (default: a new temporary directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Index into this OpenSearch instead of the directory sink (dead
        /// letters still go to the directory).
        #[arg(long)]
        opensearch: Option<String>,
    },
    /// Re-drive dead letters through the pipeline after their cause is fixed.
    /// Documents keep their ids, so a replay never duplicates.
    Replay {
        /// Config file (routes, plugins, sinks), usually the one `serve` runs with.
        #[arg(long)]
        config: PathBuf,
        /// `s3://bucket/prefix`, or a directory of dead-letter files.
        #[arg(long)]
        from: String,
        /// Send every record to this route (by name) instead of its own.
        #[arg(long)]
        route: Option<String>,
        /// Only count what would be replayed.
        #[arg(long)]
        dry_run: bool,
        /// Send every route to this OpenSearch URL (as `serve --opensearch`).
        #[arg(long)]
        opensearch: Option<String>,
    },
    /// OpenSearch Dashboards index patterns for the config's routes.
    Dashboards {
        #[command(subcommand)]
        command: dashboards::DashboardsCommand,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
}

/// Run a parsed command line.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            opensearch,
        } => serve(config, listen, opensearch),
        Command::Validate { config } => validate(config),
        Command::Demo { out, opensearch } => demo::run(out, opensearch),
        Command::Replay {
            config,
            from,
            route,
            dry_run,
            opensearch,
        } => replay(config, &from, route.as_deref(), dry_run, opensearch),
        Command::Dashboards { command } => dashboards::run(command),
        Command::Plugin { command } => plugin::run(command),
    }
}

/// How often `serve` looks at the config file and plugin files for changes.
const CONFIG_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How long `serve` waits at exit for blocking tasks still running after
/// the drain (a plugin call abandoned by the pipeline's watchdog).
const BLOCKING_TASKS_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(1);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn serve(
    path: PathBuf,
    listen: Option<SocketAddr>,
    opensearch: Option<String>,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let source = weir::live::ConfigSource {
        path,
        opensearch,
        listen,
    };
    let config = source.load()?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let connections = connection_limits(&config);
    let tls = config
        .server
        .tls
        .as_ref()
        .map(weir::server::tls_acceptor)
        .transpose()?;
    let rt = runtime()?;
    rt.block_on(async move {
        weir::pipeline::fetch_plugins(&config).await?;
        let pipeline = Arc::new(Pipeline::build(&config)?);
        let live = Arc::new(weir::live::Live::with_source(pipeline, source));
        live.spawn_watchers(CONFIG_POLL_INTERVAL);
        let server = weir::server::Server::bind(config.server.listen, tls, live.clone())
            .await?
            .with_connection_limits(connections);
        if let Some(addr) = config.server.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (metrics): {e}"))?;
            tracing::info!(%addr, "metrics listening");
            tokio::spawn(weir::server::serve_metrics(listener, live.clone()));
        }
        let addr = server.local_addr()?;
        tracing::info!(
            %addr,
            tls = config.server.tls.is_some(),
            routes = config.routes.len(),
            max_connections = connections.max_connections.get(),
            ready_ms = started.elapsed().as_millis() as u64,
            "weir listening"
        );
        let (tx, rx) = tokio::sync::watch::channel(false);
        let signalled = live.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            signalled.set_ready(false);
            tracing::info!("shutting down: no new connections; finishing in-flight requests");
            let _ = tx.send(true);
        });
        server.run(rx).await;
        tracing::info!(
            "in-flight requests finished or drained; every acknowledged record is durable; bye"
        );
        anyhow::Ok(())
    })?;
    // Dropping the runtime would wait for every blocking task without end;
    // a plugin call abandoned by the watchdog may never finish.
    rt.shutdown_timeout(BLOCKING_TASKS_AT_EXIT);
    Ok(ExitCode::SUCCESS)
}

/// Raise the open-file limit to its hard limit (logged), and the config's
/// connection limits with the cap lowered to fit inside it.
fn connection_limits(config: &Config) -> weir::config::ConnectionLimits {
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    let soft = match weir::server::raise_open_files_limit() {
        Ok(l) => {
            tracing::info!(
                before = %show(l.before),
                now = %show(l.now),
                hard = %show(l.hard),
                "open-file limit (RLIMIT_NOFILE)"
            );
            l.now
        }
        Err((l, e)) => {
            tracing::warn!(
                error = %e,
                soft = %show(l.now),
                hard = %show(l.hard),
                "cannot raise the open-file limit (RLIMIT_NOFILE); keeping it"
            );
            l.now
        }
    };
    let mut limits = config.server.connections;
    let configured = limits.max_connections.get();
    let fitted = weir::server::connections_within(configured, soft);
    if fitted < configured {
        tracing::warn!(
            configured,
            used = fitted,
            open_files = %show(soft),
            "server.max_connections lowered to three quarters of the open-file limit \
             (the rest is for sinks, plugins and outgoing connections); raise the hard \
             limit (LimitNOFILE, ulimit -Hn) to allow more"
        );
        if let Some(n) = std::num::NonZeroUsize::new(fitted) {
            limits.max_connections = n;
        }
    }
    limits
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn replay(
    path: PathBuf,
    from: &str,
    route: Option<&str>,
    dry_run: bool,
    opensearch: Option<String>,
) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(&path)?;
    if let Some(url) = &opensearch {
        config.use_opensearch(url);
    }
    let source = weir::replay::ReplaySource::parse(from).map_err(anyhow::Error::msg)?;
    let report = runtime()?.block_on(async move {
        weir::pipeline::fetch_plugins(&config).await?;
        let pipeline = Pipeline::build(&config)?;
        let letters = weir::replay::read(&config, &source)
            .await
            .map_err(anyhow::Error::msg)?;
        let report = weir::replay::replay(&pipeline, letters, route, dry_run)
            .await
            .map_err(anyhow::Error::msg)?;
        anyhow::Ok(report)
    })?;
    println!(
        "{} {} dead letters from {} files/objects ({} original requests): \
         {} documents indexed, {} dropped, {} failed again, {} skipped (no such route), \
         {} refused (tenant, route or request id not those of the place they were read from)",
        if dry_run { "would replay" } else { "replayed" },
        report.records,
        report.sources,
        report.requests,
        report.documents,
        report.dropped,
        report.failed,
        report.skipped,
        report.refused
    );
    Ok(
        if report.failed > 0 || report.skipped > 0 || report.refused > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        },
    )
}

fn validate(path: PathBuf) -> anyhow::Result<ExitCode> {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in config.warnings() {
        eprintln!("{}: warning: {warning}", path.display());
    }
    if let Err(e) = self::runtime()?.block_on(weir::pipeline::fetch_plugins(&config)) {
        eprintln!("{}: {e}", path.display());
        return Ok(ExitCode::FAILURE);
    }
    let mut plugins = RoutePlugins::new(Arc::new(Runtime::new(config.plugins.clone())?));
    let mut failed = false;
    for (i, route) in config.routes.iter().enumerate() {
        match plugins.for_route(route, None) {
            Ok(plugin) => {
                println!(
                    "ok  {} → {} (sha256 {}…) index {}",
                    route.path,
                    route.plugin,
                    &plugin.digest()[..12],
                    route.index
                );
                let info = plugin.info();
                if !info.name.is_empty() {
                    println!(
                        "    plugin {} {}, date fields [{}], suggests index {}",
                        info.name,
                        info.version,
                        info.date_fields.join(", "),
                        info.default_index.as_deref().unwrap_or("(none)")
                    );
                }
            }
            Err(e) => {
                let message = match &e {
                    RoutePluginError::Config { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                eprintln!("{}: routes[{i}].{}: {message}", path.display(), e.field());
                failed = true;
            }
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    println!("{}: valid ({} routes)", path.display(), config.routes.len());
    Ok(ExitCode::SUCCESS)
}
