//! One batch in a fresh sandbox: a `Store` with a memory cap, a deadline,
//! fuel, a deny-all WASI context with frozen clocks and capped stdio, the
//! call, and the classification of its failures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::weir::plugin::host::Level as WitLevel;
use super::bindings::weir::plugin::types as wit;
use super::engine::{EPOCH_TICK, MAX_TABLE_ELEMENTS};
use super::pipe::CappedPipe;
use super::wasi::MAX_RANDOM_BYTES;
use super::{
    BatchContext, BatchLimits, BatchStats, Document, MetadataIndices, Outcome, Plugin, PluginError,
    PluginInfo, SchemaIndices, bindings,
};
use crate::geoip::GeoIp;

/// Store data of one batch.
pub(super) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    log: LogSink,
    geoip: Option<Arc<GeoIp>>,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The host's side of the plugin's `log` import, capped per batch.
struct LogSink {
    plugin: Arc<str>,
    tenant: String,
    route: String,
    request_id: String,
    budget: usize,
    dropped: usize,
}

impl bindings::weir::plugin::host::Host for StoreState {
    fn log(&mut self, level: WitLevel, message: String) {
        let l = &mut self.log;
        if message.len() > l.budget {
            l.dropped += 1;
            l.budget = 0;
            return;
        }
        l.budget -= message.len();
        let (plugin, tenant, route, rid) = (&*l.plugin, &l.tenant, &l.route, &l.request_id);
        match level {
            WitLevel::Trace => {
                tracing::trace!(plugin, tenant, route, request_id = rid, "{message}")
            }
            WitLevel::Debug => {
                tracing::debug!(plugin, tenant, route, request_id = rid, "{message}")
            }
            WitLevel::Info => tracing::info!(plugin, tenant, route, request_id = rid, "{message}"),
            WitLevel::Warn => tracing::warn!(plugin, tenant, route, request_id = rid, "{message}"),
            WitLevel::Error => {
                tracing::error!(plugin, tenant, route, request_id = rid, "{message}")
            }
        }
    }
}

impl wit::Host for StoreState {}

impl bindings::weir::plugin::enrich::Host for StoreState {
    fn geoip(&mut self, ip: String) -> Option<bindings::weir::plugin::enrich::Geo> {
        let geo = self.geoip.as_ref()?.lookup(&ip)?;
        Some(bindings::weir::plugin::enrich::Geo {
            country_iso_code: geo.country_iso_code,
            city_name: geo.city_name,
            location: geo
                .location
                .map(|(lat, lon)| bindings::weir::plugin::enrich::Location { lat, lon }),
            as_number: geo.as_number,
            as_organization: geo.as_organization,
        })
    }
}

/// Caps linear memory and tables of one store, remembers a hit so the
/// error names the cap instead of a bare trap, and counts the linear
/// memory the store's instances reached (for `weir plugin test`).
struct Limiter {
    memory_bytes: usize,
    hit: bool,
    /// Bytes of linear memory of every instance of the store, summed.
    grown: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            return Err(wasmtime::format_err!(
                "memory cap of {} bytes exceeded (wanted {desired})",
                self.memory_bytes
            ));
        }
        self.grown += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// A wall clock frozen at the Unix epoch: plugins get no clock beyond the WIT world.
struct FrozenWallClock;
impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A monotonic clock that never moves.
struct FrozenMonotonicClock;
impl wasmtime_wasi::HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// One batch's store, and the host's ends of its stdout and stderr.
struct Batch {
    store: Store<StoreState>,
    stdout: CappedPipe,
    stderr: CappedPipe,
}

impl Plugin {
    /// A fresh store for one batch under `limits`.
    fn new_store(&self, ctx: &BatchContext, limits: &BatchLimits) -> Batch {
        let stdout = CappedPipe::new(self.log_bytes);
        let stderr = CappedPipe::new(self.log_bytes);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock)
            // Unread: `wasi` serves the monotonic clock itself (frozen, every
            // timer due); set so that the context holds no real clock either.
            .monotonic_clock(FrozenMonotonicClock)
            .max_random_size(MAX_RANDOM_BYTES)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = StoreState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes: limits.memory_bytes,
                hit: false,
                grown: 0,
            },
            log: LogSink {
                plugin: self.name.clone(),
                tenant: ctx.tenant.clone(),
                route: ctx.route.clone(),
                request_id: ctx.request_id.clone(),
                budget: self.log_bytes,
                dropped: 0,
            },
            geoip: ctx.geoip.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        if self.consume_fuel {
            // Unlimited routes on a fuel-counting engine get all the fuel there is.
            let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
        }
        let ticks = limits.timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        Batch {
            store,
            stdout,
            stderr,
        }
    }

    /// The [`PluginError`] for a failed instantiation or call: the memory
    /// cap when the limiter refused a growth, else the trap's kind.
    fn classify(&self, e: wasmtime::Error, oom: bool, limits: &BatchLimits) -> PluginError {
        let plugin = self.name.to_string();
        if oom {
            return PluginError::OutOfMemory {
                plugin,
                limit_bytes: limits.memory_bytes,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return PluginError::Timeout {
                    plugin,
                    limit_ms: limits.timeout.as_millis() as u64,
                };
            }
            Some(Trap::OutOfFuel) => {
                return PluginError::OutOfFuel {
                    plugin,
                    fuel: limits.fuel.unwrap_or(u64::MAX),
                };
            }
            _ => {}
        }
        let full = format!("{e:#}");
        let detail: String = full.lines().take(6).collect::<Vec<_>>().join(" | ");
        PluginError::Trap { plugin, detail }
    }

    /// Log what the batch wrote to stdout and stderr, and the log lines it lost.
    fn flush_output(&self, ctx: &BatchContext, batch: &Batch) {
        for (stream, pipe) in [("stdout", &batch.stdout), ("stderr", &batch.stderr)] {
            let (text, dropped) = pipe.take();
            if !text.is_empty() {
                tracing::info!(
                    plugin = &*self.name,
                    tenant = ctx.tenant,
                    route = ctx.route,
                    request_id = ctx.request_id,
                    stream,
                    truncated_bytes = dropped,
                    "plugin output: {}",
                    String::from_utf8_lossy(&text).trim_end()
                );
            }
        }
        let dropped = batch.store.data().log.dropped;
        if dropped > 0 {
            tracing::warn!(
                plugin = &*self.name,
                request_id = ctx.request_id,
                dropped,
                "plugin log lines dropped: over the per-batch log budget"
            );
        }
    }

    /// Instantiate the plugin in a fresh store, run `call` on it, log its
    /// output and drop the store.
    fn call<T>(
        &self,
        ctx: &BatchContext,
        limits: &BatchLimits,
        call: impl FnOnce(&mut Store<StoreState>, &Instance) -> wasmtime::Result<T>,
    ) -> Result<(T, BatchStats), PluginError> {
        let started = Instant::now();
        let mut batch = self.new_store(ctx, limits);
        let result = self.pre.instantiate(&mut batch.store).and_then(|instance| {
            let instantiated = Instant::now();
            let fuel_before = batch.store.get_fuel().ok();
            let value = call(&mut batch.store, &instance)?;
            let stats = BatchStats {
                instantiate: instantiated - started,
                call: instantiated.elapsed(),
                memory_bytes: batch.store.data().limiter.grown,
                fuel: fuel_before
                    .zip(batch.store.get_fuel().ok())
                    .map(|(b, a)| b.saturating_sub(a)),
            };
            Ok((value, stats))
        });
        self.flush_output(ctx, &batch);
        result.map_err(|e| self.classify(e, batch.store.data().limiter.hit, limits))
    }

    /// Run `transform` on one batch in a fresh instance, under the
    /// runtime's default limits. Blocking: call it off the async executor
    /// (`spawn_blocking`).
    pub fn transform(
        &self,
        ctx: &BatchContext,
        records: &[Vec<u8>],
    ) -> Result<(Vec<Outcome>, BatchStats), PluginError> {
        self.transform_with(ctx, records, &self.limits)
    }

    /// [`Plugin::transform`] under a route's own limits.
    pub fn transform_with(
        &self,
        ctx: &BatchContext,
        records: &[Vec<u8>],
        limits: &BatchLimits,
    ) -> Result<(Vec<Outcome>, BatchStats), PluginError> {
        let (outcomes, stats) = self.call(ctx, limits, |store, instance| {
            self.transform.load(&mut *store, instance)?.call_transform(
                store,
                &wit_context(ctx),
                records,
            )
        })?;
        self.check_outcomes(&outcomes, records.len(), limits)?;
        Ok((outcomes.into_iter().map(outcome).collect(), stats))
    }

    /// The output cap, then one outcome per record.
    fn check_outcomes(
        &self,
        outcomes: &[wit::Outcome],
        records: usize,
        limits: &BatchLimits,
    ) -> Result<(), PluginError> {
        let bytes: usize = outcomes.iter().map(output_bytes).sum();
        if bytes > limits.max_output_bytes {
            return Err(PluginError::OutputTooLarge {
                plugin: self.name.to_string(),
                bytes,
                limit_bytes: limits.max_output_bytes,
            });
        }
        if outcomes.len() != records {
            return Err(PluginError::Contract {
                plugin: self.name.to_string(),
                detail: format!("returned {} outcomes for {records} records", outcomes.len()),
            });
        }
        Ok(())
    }

    /// Ask the plugin whether `config` (JSON text) is acceptable.
    pub fn validate_config(&self, config: &str) -> Result<Result<(), String>, PluginError> {
        let ctx = BatchContext {
            route: "(validate)".into(),
            ..BatchContext::default()
        };
        self.call(&ctx, &self.limits, |store, instance| {
            self.transform
                .load(&mut *store, instance)?
                .call_validate_config(store, config)
        })
        .map(|(verdict, _)| verdict)
    }

    /// Ask the plugin to describe itself (`metadata.info`, WIT 0.1.1), or
    /// `None` when it does not export `metadata` (a 0.1.0 plugin).
    pub(super) fn read_info(&self, metadata: &MetadataIndices) -> Result<PluginInfo, PluginError> {
        let ctx = BatchContext {
            route: "(metadata)".into(),
            ..BatchContext::default()
        };
        let (info, _) = self.call(&ctx, &self.limits, |store, instance| {
            metadata.load(&mut *store, instance)?.call_info(store)
        })?;
        Ok(PluginInfo {
            name: info.name,
            version: info.version,
            date_fields: info.date_fields,
            default_index: info.default_index,
            config_schema: info.config_schema,
            index_properties: None,
        })
    }

    /// Ask the plugin for the index mapping properties it suggests
    /// (`schema.index-properties`, WIT 0.1.2); text that is not a JSON
    /// object fails the load.
    pub(super) fn read_index_properties(
        &self,
        schema: &SchemaIndices,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, PluginError> {
        let ctx = BatchContext {
            route: "(schema)".into(),
            ..BatchContext::default()
        };
        let (text, _) = self.call(&ctx, &self.limits, |store, instance| {
            schema
                .load(&mut *store, instance)?
                .call_index_properties(store)
        })?;
        let Some(text) = text else { return Ok(None) };
        match serde_json::from_str(&text) {
            Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
            Ok(_) | Err(_) => Err(PluginError::Contract {
                plugin: self.name.to_string(),
                detail: "schema.index-properties is not a JSON object".into(),
            }),
        }
    }
}

/// The batch context as the WIT world spells it.
fn wit_context(ctx: &BatchContext) -> wit::BatchContext {
    wit::BatchContext {
        tenant: ctx.tenant.clone(),
        route: ctx.route.clone(),
        request_id: ctx.request_id.clone(),
        source_arn: ctx.source_arn.clone(),
        common_attributes: ctx
            .common_attributes
            .iter()
            .map(|(k, v)| wit::Attribute {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        config: ctx.config.clone(),
    }
}

/// Bytes of one outcome counted against the output cap: document bodies,
/// ids and indices, and failure reasons.
fn output_bytes(outcome: &wit::Outcome) -> usize {
    match outcome {
        wit::Outcome::Ok(docs) => docs
            .iter()
            .map(|d| {
                d.body.len()
                    + d.id.as_ref().map_or(0, String::len)
                    + d.index.as_ref().map_or(0, String::len)
            })
            .sum(),
        wit::Outcome::Failed(reason) => reason.len(),
        wit::Outcome::Dropped => 0,
    }
}

/// A WIT outcome as the host's [`Outcome`].
fn outcome(o: wit::Outcome) -> Outcome {
    match o {
        wit::Outcome::Ok(docs) => Outcome::Ok(
            docs.into_iter()
                .map(|d| Document {
                    index: d.index,
                    id: d.id,
                    timestamp_ms: d.timestamp_ms,
                    body: d.body,
                })
                .collect(),
        ),
        wit::Outcome::Dropped => Outcome::Dropped,
        wit::Outcome::Failed(reason) => Outcome::Failed(reason),
    }
}
