//! The pipeline: route → plugin → sink, and the acknowledgement rule.
//!
//! Every intake (a Firehose request, an S3 object, a replay) hands the
//! pipeline a neutral [`Batch`]. [`Pipeline::deliver`] runs its records
//! through the route's plugin (off the async executor, bounded by the
//! pool's and the tenant's slots), turns outcomes into documents and dead
//! letters, and returns only when the sink has made all of them durable.
//! Every record ends as documents, as dropped, or as a dead letter with its
//! reason; if that cannot be made durable, the [`DeliveryError`] makes the
//! intake answer so that the sender retries the same batch.
//!
//! - `build`: a pipeline from a config, reusing what a reload kept;
//! - `plugins`: plugin bytes (built in, file, S3 cache) and loading;
//! - `sinks`: opening the sinks and their index templates;
//! - `deliver`: one batch through plugin and sink;
//! - `document`: outcomes → documents (index, id) and dead letters;
//! - `window`: the distinct indices a route named over the last day.

mod batch;
mod build;
mod deliver;
mod document;
mod error;
mod plugins;
mod sinks;
mod window;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

pub use batch::{Batch, Origin};
pub use document::{MAX_DOCUMENT_ID_BYTES, compact_json_object, prepare_document};
pub use error::{BuildError, DeliveryError};
pub use plugins::{
    MAX_PLUGIN_BYTES, RoutePluginError, RoutePlugins, fetch_plugins, load_plugin, plugin_bytes,
};
pub use sinks::{date_fields, templates_for};
pub use window::{INDEX_WINDOW, IndexWindow};

use crate::budget::{BudgetError, MemoryBudget, Reservation};
use crate::config::{Config, PluginRef, RouteConfig, TenantConfig};
use crate::metrics::{Metrics, RouteCounters, SinkGauge};
use crate::plugin::Plugin;
use crate::quota::{PluginBreaker, QuotaError, RequestPermit, TenantGate};
use crate::sink::Sink;
use crate::sink::backup::BackupBatcher;
use crate::sink::s3::S3Sink;
use crate::tenant::TenantId;

/// A route, ready to serve.
#[derive(Debug)]
pub struct Route {
    /// Its config.
    pub config: RouteConfig,
    /// Its tenant.
    pub tenant: Arc<TenantConfig>,
    /// Its plugin.
    pub plugin: Arc<Plugin>,
    /// Its sink.
    pub sink: Arc<dyn Sink>,
    /// Where every raw record is backed up before the ack, if anywhere.
    pub backup: Option<Arc<BackupBatcher>>,
    /// For S3-notification routes: the store that fetches objects.
    pub object_store: Option<Arc<S3Sink>>,
    /// The tenant's admission state (shared by its routes).
    pub gate: Arc<TenantGate>,
    /// The route's counters.
    pub counters: Arc<RouteCounters>,
    /// Cool-down after batches that ran out of time.
    pub breaker: PluginBreaker,
    /// The process-wide memory budget (shared by every route and reload).
    pub memory: Arc<MemoryBudget>,
    /// The distinct indices the route named over the last day (kept by a
    /// reload that leaves the route's tenant, name and bound alone).
    pub indices: Arc<IndexWindow>,
}

impl Route {
    /// Admit a batch on this route: refused while the route cools down
    /// after a plugin timeout, or when the tenant has too many batches in
    /// flight. Hold the permit until the batch is answered.
    pub fn admit(&self) -> Result<RequestPermit, QuotaError> {
        self.breaker.check(&self.config.name)?;
        self.gate.enter()
    }

    /// Reserve `bytes` of the memory budget for a request of this route's
    /// tenant, within its `memory_share_bytes`. Hold the reservation (and
    /// grow it) until the request is answered.
    pub fn reserve_memory(&self, bytes: usize) -> Result<Reservation, BudgetError> {
        let share = self.tenant.quotas.memory_share_bytes;
        self.memory.reserve(self.tenant.id.as_str(), share, bytes)
    }
}

/// What happened to a delivered batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Records received.
    pub records: usize,
    /// Documents written.
    pub documents: usize,
    /// Records dropped by the plugin.
    pub dropped: usize,
    /// Records dead-lettered.
    pub failed: usize,
}

/// Routes, plugins and sinks, built from a [`Config`].
#[derive(Debug)]
pub struct Pipeline {
    config: Config,
    routes: HashMap<String, Arc<Route>>,
    batch_permits: Arc<Semaphore>,
    sinks: HashMap<String, Arc<dyn Sink>>,
    attempts: Arc<std::sync::Mutex<HashMap<String, u32>>>,
    runtime: Arc<crate::plugin::Runtime>,
    plugins: HashMap<PluginRef, Arc<Plugin>>,
    gates: HashMap<TenantId, Arc<TenantGate>>,
    metrics: Arc<Metrics>,
    geoip: Option<Arc<crate::geoip::GeoIp>>,
    memory: Arc<MemoryBudget>,
}

impl Pipeline {
    /// Load every plugin (compiled once, shared by routes that name the same
    /// one), check each route's plugin config with the plugin itself, and
    /// open the sinks. Must run inside a tokio runtime (the OpenSearch sink
    /// starts its batcher task).
    pub fn build(config: &Config) -> Result<Pipeline, BuildError> {
        build::rebuild(config, None)
    }

    /// Build a pipeline for `config`, reusing from `previous` what the new
    /// config did not change: the plugin runtime (same plugin limits),
    /// compiled plugins (same file digest), sinks (same settings, same
    /// index templates), tenant gates (same quotas), backup batchers and the
    /// counters. In-flight batches keep the `Arc`s of the old routes, so
    /// they finish on the old plugins; new ones get the new ones.
    pub fn rebuild(config: &Config, previous: Option<&Pipeline>) -> Result<Pipeline, BuildError> {
        build::rebuild(config, previous)
    }

    /// The GeoIP databases plugins' `enrich.geoip` answers from.
    pub fn geoip(&self) -> Option<&Arc<crate::geoip::GeoIp>> {
        self.geoip.as_ref()
    }

    /// The validated config it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The process-wide memory budget.
    pub fn memory_budget(&self) -> &Arc<MemoryBudget> {
        &self.memory
    }

    /// The plugins loaded, by reference.
    pub fn plugins(&self) -> impl Iterator<Item = (&PluginRef, &Arc<Plugin>)> {
        self.plugins.iter()
    }

    /// Render `/metrics`.
    pub fn render_metrics(&self) -> String {
        let mut sinks: Vec<SinkGauge> = self
            .sinks
            .iter()
            .map(|(name, s)| SinkGauge {
                name: name.clone(),
                bulk_retries: s.bulk_retries(),
                torn_tails_repaired: s.torn_tails_repaired(),
            })
            .filter(|g| g.bulk_retries.is_some() || g.torn_tails_repaired.is_some())
            .collect();
        sinks.sort_by(|a, b| a.name.cmp(&b.name));
        self.metrics
            .render(&sinks, self.plugins.len(), &self.memory.snapshot())
    }

    /// The route for a URL path.
    pub fn route(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.get(path)
    }

    /// Every route.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.values()
    }
}
