//! Building a pipeline from a config, reusing what a reload did not change.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::plugins::RoutePlugins;
use super::{BuildError, IndexWindow, Pipeline, Route, sinks};
use crate::budget::MemoryBudget;
use crate::config::{Config, RouteConfig, SinkConfig};
use crate::geoip::GeoIp;
use crate::metrics::Metrics;
use crate::plugin::{Plugin, Runtime};
use crate::quota::shared::SharedQuota;
use crate::quota::{PluginBreaker, TenantGate};
use crate::sink::Sink;
use crate::sink::backup::BackupBatcher;
use crate::sink::s3::S3Sink;
use crate::tenant::TenantId;

/// What the routes of a new pipeline are built from.
struct Parts<'a> {
    config: &'a Config,
    previous: Option<&'a Pipeline>,
    sinks: HashMap<String, Arc<dyn Sink>>,
    gates: HashMap<TenantId, Arc<TenantGate>>,
    metrics: Arc<Metrics>,
    memory: Arc<MemoryBudget>,
}

/// See [`Pipeline::rebuild`].
pub(super) fn rebuild(
    config: &Config,
    previous: Option<&Pipeline>,
) -> Result<Pipeline, BuildError> {
    let runtime = match previous {
        Some(p) if p.config.plugins == config.plugins => p.runtime.clone(),
        _ => Arc::new(
            Runtime::new(config.plugins.clone()).map_err(|e| BuildError::at("plugins", e))?,
        ),
    };
    let same_runtime = previous.is_some_and(|p| Arc::ptr_eq(&p.runtime, &runtime));
    // Plugins first: their date fields shape the sinks' index templates.
    let mut route_plugins = RoutePlugins::new(runtime.clone());
    let mut plugins = Vec::with_capacity(config.routes.len());
    for (i, route) in config.routes.iter().enumerate() {
        let reusable = previous
            .filter(|_| same_runtime)
            .and_then(|p| p.plugins.get(&route.plugin));
        let plugin = route_plugins
            .for_route(route, reusable)
            .map_err(|e| BuildError::at(format!("routes[{i}].{}", e.field()), e))?;
        plugins.push(plugin);
    }
    let loaded = route_plugins.into_loaded();
    // One budget for the life of the process: requests still running on
    // the old config keep their reservations in it.
    let budget = config.limits.memory_budget_bytes;
    let memory = match previous {
        Some(p) => {
            p.memory.set_limit(budget);
            p.memory.clone()
        }
        None => MemoryBudget::new(budget),
    };
    let parts = Parts {
        config,
        previous,
        sinks: sinks::open_sinks(config, &loaded, previous)?,
        gates: gates(config, previous)?,
        metrics: previous.map_or_else(|| Arc::new(Metrics::default()), |p| p.metrics.clone()),
        memory,
    };
    let mut routes = HashMap::new();
    for (i, (route, plugin)) in config.routes.iter().zip(plugins).enumerate() {
        let built = parts.route(route, plugin, &|field| format!("routes[{i}].{field}"))?;
        routes.insert(route.path.clone(), Arc::new(built));
    }
    let batch_permits = match previous {
        Some(p)
            if p.config.plugins.max_concurrent_batches == config.plugins.max_concurrent_batches =>
        {
            p.batch_permits.clone()
        }
        _ => Arc::new(Semaphore::new(config.plugins.max_concurrent_batches.get())),
    };
    Ok(Pipeline {
        geoip: geoip(config, previous)?,
        config: config.clone(),
        routes,
        batch_permits,
        sinks: parts.sinks,
        attempts: previous.map_or_else(Default::default, |p| p.attempts.clone()),
        runtime,
        plugins: loaded,
        gates: parts.gates,
        metrics: parts.metrics,
        memory: parts.memory,
    })
}

/// The GeoIP databases: `previous`'s when the config names the same files
/// (one mapping per process, reloaded in place by the watcher), else opened.
fn geoip(config: &Config, previous: Option<&Pipeline>) -> Result<Option<Arc<GeoIp>>, BuildError> {
    let Some(g) = &config.geoip else {
        return Ok(None);
    };
    if let Some(p) = previous.filter(|p| p.config.geoip.as_ref() == Some(g)) {
        return Ok(p.geoip.clone());
    }
    let opened = GeoIp::open(g.city.as_deref(), g.asn.as_deref()).map_err(|e| {
        let key = if g.city.as_ref() == Some(&e.path) {
            "geoip.city"
        } else {
            "geoip.asn"
        };
        BuildError::at(key, e)
    })?;
    Ok(Some(Arc::new(opened)))
}

/// One admission gate per tenant, kept from `previous` when its quotas and
/// the shared quota store are unchanged. A new store is one shared by every
/// gate of this pipeline (it connects on first use).
fn gates(
    config: &Config,
    previous: Option<&Pipeline>,
) -> Result<HashMap<TenantId, Arc<TenantGate>>, BuildError> {
    let same_store = |g: &TenantGate| g.store().map(|s| s.config()) == config.quota_store.as_ref();
    let store = match &config.quota_store {
        Some(c) => {
            let kept = previous
                .and_then(|p| p.gates.values().find_map(|g| g.store().cloned()))
                .filter(|s| s.config() == c);
            match kept {
                Some(s) => Some(s),
                None => Some(Arc::new(
                    SharedQuota::new(c).map_err(|e| BuildError::at("quota_store.url", e))?,
                )),
            }
        }
        None => None,
    };
    Ok(config
        .tenants
        .iter()
        .map(|(id, t)| {
            let gate = previous
                .and_then(|p| p.gates.get(id))
                .filter(|g| g.quotas() == &t.quotas && same_store(g))
                .cloned()
                .unwrap_or_else(|| {
                    Arc::new(TenantGate::with_store(
                        id.as_str(),
                        &t.quotas,
                        store.clone(),
                    ))
                });
            (id.clone(), gate)
        })
        .collect())
}

impl Parts<'_> {
    fn route(
        &self,
        route: &RouteConfig,
        plugin: Arc<Plugin>,
        at: &dyn Fn(&str) -> String,
    ) -> Result<Route, BuildError> {
        let unknown = |field: &str, what: &str, name: &str| {
            BuildError::at(at(field), format!("unknown {what} {name}"))
        };
        let tenant = self
            .config
            .tenants
            .get(&route.tenant)
            .cloned()
            .map(Arc::new)
            .ok_or_else(|| unknown("tenant", "tenant", route.tenant.as_str()))?;
        let gate = self
            .gates
            .get(&route.tenant)
            .cloned()
            .ok_or_else(|| unknown("tenant", "tenant", route.tenant.as_str()))?;
        let sink = self
            .sinks
            .get(&route.sink)
            .cloned()
            .ok_or_else(|| unknown("sink", "sink", &route.sink))?;
        Ok(Route {
            backup: self.backup(route, at)?,
            object_store: self.object_store(route, at)?,
            config: route.clone(),
            tenant,
            plugin,
            sink,
            gate,
            counters: self.metrics.route(route.tenant.as_str(), &route.name),
            breaker: PluginBreaker::default(),
            memory: self.memory.clone(),
            indices: self.index_window(route),
        })
    }

    /// The route's window of indices: the previous pipeline's when the route
    /// kept its path, tenant, name and bound (a reload does not reset it),
    /// else a new one.
    fn index_window(&self, route: &RouteConfig) -> Arc<IndexWindow> {
        self.previous
            .and_then(|p| p.routes.get(&route.path))
            .filter(|old| {
                let c = &old.config;
                c.tenant == route.tenant
                    && c.name == route.name
                    && c.max_indices_per_day == route.max_indices_per_day
            })
            .map(|old| old.indices.clone())
            .unwrap_or_else(|| Arc::new(IndexWindow::new(route.max_indices_per_day)))
    }

    /// The route's backup batcher, kept from the previous pipeline when the
    /// route and its backup sink did not change.
    fn backup(
        &self,
        route: &RouteConfig,
        at: &dyn Fn(&str) -> String,
    ) -> Result<Option<Arc<BackupBatcher>>, BuildError> {
        let Some(b) = &route.backup else {
            return Ok(None);
        };
        let sink = self
            .sinks
            .get(b)
            .cloned()
            .ok_or_else(|| BuildError::at(at("backup"), format!("unknown sink {b}")))?;
        let previous = self.previous;
        let kept = previous
            .and_then(|p| p.routes.get(&route.path))
            .filter(|old| {
                let c = &old.config;
                c.tenant == route.tenant
                    && c.name == route.name
                    && c.backup_max_bytes == route.backup_max_bytes
                    && c.backup_max_age == route.backup_max_age
                    && previous
                        .and_then(|p| p.sinks.get(b))
                        .is_some_and(|s| Arc::ptr_eq(s, &sink))
            })
            .and_then(|old| old.backup.clone());
        Ok(Some(kept.unwrap_or_else(|| {
            Arc::new(BackupBatcher::start(
                sink,
                route.tenant.to_string(),
                route.name.clone(),
                route.backup_max_bytes,
                route.backup_max_age,
            ))
        })))
    }

    /// For an S3-notification route: the client of its object store.
    fn object_store(
        &self,
        route: &RouteConfig,
        at: &dyn Fn(&str) -> String,
    ) -> Result<Option<Arc<S3Sink>>, BuildError> {
        let Some(o) = &route.object_store else {
            return Ok(None);
        };
        match self.config.sinks.get(o) {
            Some(SinkConfig::S3(s3)) => Ok(Some(Arc::new(S3Sink::new(s3.clone())))),
            Some(_) => Err(BuildError::at(
                at("object_store"),
                format!("{o:?} is not an s3 sink"),
            )),
            None => Err(BuildError::at(
                at("object_store"),
                format!("unknown sink {o}"),
            )),
        }
    }
}
