//! The plugin runtime: one wasmtime [`Engine`], a compiled component and an
//! `InstancePre` per plugin, and a fresh `Store` per batch.
//!
//! Each batch gets a new instance from the pooling allocator with a memory
//! cap (a `ResourceLimiter`), a wall-time deadline (epoch interruption, ticked by a
//! background thread), a deny-all WASI context (no preopens, no env, no
//! args, no sockets, a frozen clock) and capped stdout/stderr captured into
//! the host's log. A trap, timeout or out-of-memory ends the batch with a
//! [`PluginError`]; the caller fails every record of it. wasmtime's own
//! types stay inside this module.

mod pipe;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config as WasmConfig, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::config::PluginLimits;

mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit",
    });
}

use bindings::weir::plugin::host::Level as WitLevel;
use bindings::weir::plugin::types as wit;

/// How often the epoch advances. Deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most core instances one component may create (a Rust `wasm32-wasip2`
/// component has a handful: the program, the WASI adapter, shims; a
/// componentize-py one has 38: CPython, its extension modules, shims).
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Most linear memories per component.
const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
/// Most tables per component.
const MAX_TABLES_PER_COMPONENT: u32 = 16;
/// Most elements in one table (function pointers of a large plugin).
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Bytes of each pooled linear memory kept resident (zeroed in place)
/// between batches. Measured (`cargo bench --bench sandbox`): 512 KiB made
/// every batch slower (empty 26.4 µs), 8 MiB made large batches 5–13 %
/// faster but the empty batch slower (23.0 µs) and would keep up to 8 MiB
/// per pool slot resident; 2 MiB gave 21.2 µs and most of the gain. With
/// PAGEMAP_SCAN (below) 8 MiB measured the same as 2 MiB end to end.
const KEEP_RESIDENT_BYTES: usize = 2 * 1024 * 1024;
/// Extra pooled instances beyond the batch budget, for config validation calls.
const SPARE_INSTANCES: u32 = 4;

/// The WIT package plugins target; this host runs every `0.1.x` version.
pub const WIT_PACKAGE: &str = "weir:plugin";
/// The version prefix of [`WIT_PACKAGE`] this host accepts.
pub const WIT_VERSION_PREFIX: &str = "0.1.";

/// Interfaces (name without `@version`) a plugin may import: the
/// `weir:plugin` world and the WASI pieces a Rust or Python standard library
/// needs to start (stdio, exit, an empty environment, frozen clocks,
/// random). Anything else (filesystem, sockets, HTTP, …) is refused at load.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "weir:plugin/host",
    "weir:plugin/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
];

pub use crate::config::BatchLimits;

/// Why a batch failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The plugin ran past its wall-time limit (for example an infinite loop).
    #[error("plugin {plugin} exceeded its time limit of {limit_ms} ms")]
    Timeout {
        /// Plugin name.
        plugin: String,
        /// The limit.
        limit_ms: u64,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin {plugin} exceeded its memory cap of {limit_bytes} bytes")]
    OutOfMemory {
        /// Plugin name.
        plugin: String,
        /// The cap.
        limit_bytes: usize,
    },
    /// The plugin burnt all its fuel.
    #[error("plugin {plugin} ran out of fuel ({fuel} units)")]
    OutOfFuel {
        /// Plugin name.
        plugin: String,
        /// The fuel it was given.
        fuel: u64,
    },
    /// The plugin returned more than the route's output cap.
    #[error("plugin {plugin} returned {bytes} bytes, over its output cap of {limit_bytes} bytes")]
    OutputTooLarge {
        /// Plugin name.
        plugin: String,
        /// What it returned.
        bytes: usize,
        /// The cap.
        limit_bytes: usize,
    },
    /// The plugin trapped (panic, `unreachable`, bad memory access, …).
    #[error("plugin {plugin} trapped: {detail}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// wasmtime's description, first lines.
        detail: String,
    },
    /// The plugin broke the WIT contract (wrong number of outcomes, …).
    #[error("plugin {plugin} broke the contract: {detail}")]
    Contract {
        /// Plugin name.
        plugin: String,
        /// What was wrong.
        detail: String,
    },
    /// The component could not be compiled, linked or instantiated.
    #[error("plugin {plugin} could not be loaded: {detail}")]
    Load {
        /// Plugin name.
        plugin: String,
        /// Why.
        detail: String,
    },
}

/// A document as the plugin returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Requested index, if any.
    pub index: Option<String>,
    /// Document id, if the source has one.
    pub id: Option<String>,
    /// Event time, ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// JSON object text.
    pub body: String,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Zero or more documents.
    Ok(Vec<Document>),
    /// Deliberately not indexed.
    Dropped,
    /// Could not be transformed; the reason.
    Failed(String),
}

/// The batch context given to the plugin.
#[derive(Debug, Clone, Default)]
pub struct BatchContext {
    /// Tenant id.
    pub tenant: String,
    /// Route name.
    pub route: String,
    /// Request id.
    pub request_id: String,
    /// Delivery stream ARN.
    pub source_arn: Option<String>,
    /// Firehose common attributes.
    pub common_attributes: Vec<(String, String)>,
    /// Plugin config, JSON text.
    pub config: String,
}

/// Per-batch figures.
#[derive(Debug, Clone, Default)]
pub struct BatchStats {
    /// Time to create the store and instantiate.
    pub instantiate: Duration,
    /// Time in the `transform` call.
    pub call: Duration,
}

/// Store data of one batch.
struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    log: LogSink,
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

/// Caps linear memory and tables of one store, and remembers a hit so the
/// error names the cap instead of a bare trap.
struct Limiter {
    memory_bytes: usize,
    hit: Arc<AtomicBool>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit.store(true, Ordering::Relaxed);
            return Err(wasmtime::format_err!(
                "memory cap of {} bytes exceeded (wanted {desired})",
                self.memory_bytes
            ));
        }
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

/// The engine, linker and epoch ticker shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreState>,
    limits: PluginLimits,
    stop_ticker: Arc<AtomicBool>,
    engine_key: String,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Build the engine (pooling allocator sized for `limits`, epoch
    /// interruption), the linker (WASI deny-all + the `weir:plugin/host`
    /// import) and start the epoch ticker.
    pub fn new(limits: PluginLimits) -> Result<Runtime, PluginError> {
        let err = |detail: String| PluginError::Load {
            plugin: "(runtime)".to_string(),
            detail,
        };
        let instances = limits.max_concurrent_batches.get() as u32 + SPARE_INSTANCES;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances * MAX_CORE_INSTANCES_PER_COMPONENT)
            .total_memories(instances * MAX_MEMORIES_PER_COMPONENT)
            .total_tables(instances * MAX_TABLES_PER_COMPONENT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .table_elements(MAX_TABLE_ELEMENTS)
            .max_memory_size(limits.memory_bytes)
            // Reset the first pages of a returned memory with memset instead
            // of giving them back to the kernel: the next batch then does not
            // page-fault them in again (the kernel share of a batch was ~8%).
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES / 16)
            // ...and, where Linux has the PAGEMAP_SCAN ioctl (6.7 and
            // later), reset only the pages the batch touched: the memset of
            // the whole resident part was 40 % of an empty batch (21.3 µs
            // per empty batch before, 9.3 µs after). Older kernels memset.
            .pagemap_scan(Enabled::Auto);
        let mut cfg = WasmConfig::new();
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .consume_fuel(limits.consume_fuel)
            .wasm_component_model(true);
        let engine = Engine::new(&cfg).map_err(|e| err(format!("{e:#}")))?;
        let mut linker: Linker<StoreState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| err(format!("{e:#}")))?;
        bindings::Plugin::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)
            .map_err(|e| err(format!("{e:#}")))?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("weir-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| err(format!("cannot start the epoch thread: {e}")))?;
        let engine_key = {
            use std::hash::{Hash, Hasher};
            // Fixed keys: the same binary and engine settings give the same
            // key in every process, which is what a cache key needs.
            let mut h = std::hash::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            format!("{:016x}", h.finish())
        };
        Ok(Runtime {
            engine,
            linker,
            limits,
            stop_ticker,
            engine_key,
        })
    }

    /// The limits every batch runs under.
    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Compile a component and pre-link it. `name` is for messages.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        self.load_checked(name, bytes, None)
    }

    /// Load a plugin: check its SHA-256 against `pin` (hex) when given,
    /// compile it (or map it from the precompiled cache), check its type
    /// (it must export `weir:plugin/transform@0.1.x` and import nothing
    /// beyond [`ALLOWED_IMPORTS`]) before anything is instantiated, and
    /// pre-link it.
    pub fn load_checked(
        &self,
        name: &str,
        bytes: &[u8],
        pin: Option<&str>,
    ) -> Result<Plugin, PluginError> {
        let load_err = |detail: String| PluginError::Load {
            plugin: name.to_string(),
            detail,
        };
        let started = Instant::now();
        let digest = crate::digest::hex(&Sha256::digest(bytes));
        check_pin(pin, &digest).map_err(load_err)?;
        // The contract is checked on the binary's own import and export
        // names, before the (possibly long) compilation.
        check_contract_names(bytes).map_err(load_err)?;
        let (component, cached) = self.compile(name, bytes, &digest)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load_err(format!("{e:#}")))?;
        let pre = bindings::PluginPre::new(pre).map_err(|e| {
            load_err(format!(
                "not a weir:plugin@0.1.0 component (does it export weir:plugin/transform@0.1.0?): {e:#}"
            ))
        })?;
        tracing::debug!(plugin = name, %digest, cached, load_ms = started.elapsed().as_millis() as u64, "plugin loaded");
        Ok(Plugin {
            name: name.into(),
            digest,
            size: bytes.len(),
            pre,
            engine: self.engine.clone(),
            limits: BatchLimits::from_plugin_limits(&self.limits),
            consume_fuel: self.limits.consume_fuel,
            log_bytes: self.limits.log_bytes,
        })
    }

    /// The compiled component: mapped from `<cache_dir>/<digest>-<engine>.cwasm`
    /// when there, else compiled (and written there). `true` when it came from the cache.
    fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(Component, bool), PluginError> {
        let load_err = |detail: String| PluginError::Load {
            plugin: name.to_string(),
            detail,
        };
        let Some(dir) = &self.limits.cache_dir else {
            let c = Component::new(&self.engine, bytes).map_err(|e| load_err(format!("{e:#}")))?;
            return Ok((c, false));
        };
        let path = dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        if path.is_file() {
            // SAFETY: the file is one this host wrote (`serialize` below)
            // into its own cache directory, named by the plugin's digest and
            // the engine's compatibility hash; wasmtime checks the header and
            // engine compatibility again and refuses a mismatch. The cache
            // directory must be writable only by the user running Weir.
            #[allow(unsafe_code)]
            let mapped = unsafe { Component::deserialize_file(&self.engine, &path) };
            match mapped {
                Ok(c) => return Ok((c, true)),
                Err(e) => tracing::warn!(
                    plugin = name,
                    path = %path.display(),
                    error = %format!("{e:#}"),
                    "precompiled plugin unusable; compiling again"
                ),
            }
        }
        let c = Component::new(&self.engine, bytes).map_err(|e| load_err(format!("{e:#}")))?;
        if let Err(e) = write_cache(dir, &path, &c) {
            tracing::warn!(plugin = name, path = %path.display(), error = %e, "cannot write the precompiled plugin cache");
        }
        Ok((c, false))
    }
}

/// Check a plugin's SHA-256 (`digest`, hex) against the config's pin, if any.
pub fn check_pin(pin: Option<&str>, digest: &str) -> Result<(), String> {
    match pin {
        Some(pin) if !pin.eq_ignore_ascii_case(digest) => Err(format!(
            "digest mismatch: the config pins sha256 {pin}, the file has sha256 {digest}"
        )),
        _ => Ok(()),
    }
}

/// Write a compiled component atomically (temp file + rename) into `dir`.
fn write_cache(dir: &std::path::Path, path: &std::path::Path, c: &Component) -> Result<(), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let image = c.serialize().map_err(|e| format!("{e:#}"))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(&image)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Check a component against the contract by the names of its top-level
/// imports and exports, read from the binary without compiling it: it must
/// export `weir:plugin/transform@0.1.x`, and import only
/// [`ALLOWED_IMPORTS`] (and `weir:plugin` interfaces of version 0.1.x).
pub fn check_contract_names(bytes: &[u8]) -> Result<(), String> {
    let (imports, exports) = top_level_names(bytes)?;
    let transform = format!("{WIT_PACKAGE}/transform@");
    let ours = exports
        .iter()
        .find_map(|n| n.strip_prefix(transform.as_str()));
    match ours {
        Some(v) if v.starts_with(WIT_VERSION_PREFIX) => {}
        Some(v) => {
            return Err(format!(
                "targets {WIT_PACKAGE}@{v}, but this host runs {WIT_PACKAGE}@{WIT_VERSION_PREFIX}x; \
                 rebuild the plugin against wit/plugin.wit of this release"
            ));
        }
        None => {
            return Err(format!(
                "wrong world: a plugin must export {WIT_PACKAGE}/transform@{WIT_VERSION_PREFIX}x \
                 (world `plugin` of wit/plugin.wit); this component exports [{}]",
                exports.join(", ")
            ));
        }
    }
    let refused: Vec<&str> = imports
        .iter()
        .map(String::as_str)
        .filter(|name| {
            let (iface, version) = name.split_once('@').unwrap_or((name, ""));
            !(ALLOWED_IMPORTS.contains(&iface)
                && (!iface.starts_with(WIT_PACKAGE) || version.starts_with(WIT_VERSION_PREFIX)))
        })
        .collect();
    if !refused.is_empty() {
        return Err(format!(
            "imports what the host does not give plugins: {} (a plugin gets only the \
             {WIT_PACKAGE} world: stdio, exit, clocks, random and its `host` import)",
            refused.join(", ")
        ));
    }
    Ok(())
}

/// The names of a component's own (top-level) imports and exports.
fn top_level_names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), String> {
    use wasmparser::{Parser, Payload};
    let not_component =
        || "not a WebAssembly component (a core module, or not wasm at all)".to_string();
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    // Nested modules and components are parsed inline; only depth 0 is ours.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("not a valid component: {e}"))?;
        match payload {
            Payload::Version { encoding, .. }
                if depth == 0 && encoding != wasmparser::Encoding::Component =>
            {
                return Err(not_component());
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth > 0 => depth -= 1,
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| format!("not a valid component: {e}"))?;
                    imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| format!("not a valid component: {e}"))?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// A loaded plugin, ready to instantiate per batch. Cheap to share (`Arc`).
pub struct Plugin {
    name: Arc<str>,
    digest: String,
    size: usize,
    pre: bindings::PluginPre<StoreState>,
    engine: Engine,
    limits: BatchLimits,
    consume_fuel: bool,
    log_bytes: usize,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish()
    }
}

impl Plugin {
    /// Plugin name (`builtin:waf` or the file path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Component size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The runtime-wide limits this plugin runs under by default.
    pub fn default_limits(&self) -> &BatchLimits {
        &self.limits
    }

    fn new_store(
        &self,
        ctx: &BatchContext,
        limits: &BatchLimits,
    ) -> (
        Store<StoreState>,
        pipe::CappedPipe,
        pipe::CappedPipe,
        Arc<AtomicBool>,
    ) {
        let stdout = pipe::CappedPipe::new(self.log_bytes);
        let stderr = pipe::CappedPipe::new(self.log_bytes);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock)
            .monotonic_clock(FrozenMonotonicClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let hit = Arc::new(AtomicBool::new(false));
        let state = StoreState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes: limits.memory_bytes,
                hit: hit.clone(),
            },
            log: LogSink {
                plugin: self.name.clone(),
                tenant: ctx.tenant.clone(),
                route: ctx.route.clone(),
                request_id: ctx.request_id.clone(),
                budget: self.log_bytes,
                dropped: 0,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        if self.consume_fuel {
            // Unlimited routes on a fuel-counting engine get all the fuel there is.
            let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
        }
        let ticks = limits.timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        (store, stdout, stderr, hit)
    }

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

    fn flush_output(
        &self,
        ctx: &BatchContext,
        store: &Store<StoreState>,
        stdout: &pipe::CappedPipe,
        stderr: &pipe::CappedPipe,
    ) {
        for (stream, pipe) in [("stdout", stdout), ("stderr", stderr)] {
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
        if store.data().log.dropped > 0 {
            tracing::warn!(
                plugin = &*self.name,
                request_id = ctx.request_id,
                dropped = store.data().log.dropped,
                "plugin log lines dropped: over the per-batch log budget"
            );
        }
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
        let t0 = Instant::now();
        let (mut store, stdout, stderr, hit) = self.new_store(ctx, limits);
        let instance = match self.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => {
                let err = self.classify(e, hit.load(Ordering::Relaxed), limits);
                self.flush_output(ctx, &store, &stdout, &stderr);
                return Err(err);
            }
        };
        let t1 = Instant::now();
        let wit_ctx = wit::BatchContext {
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
        };
        let result = instance
            .weir_plugin_transform()
            .call_transform(&mut store, &wit_ctx, records);
        let t2 = Instant::now();
        self.flush_output(ctx, &store, &stdout, &stderr);
        let outcomes = result.map_err(|e| self.classify(e, hit.load(Ordering::Relaxed), limits))?;
        drop(store);
        let output_bytes: usize = outcomes
            .iter()
            .map(|o| match o {
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
            })
            .sum();
        if output_bytes > limits.max_output_bytes {
            return Err(PluginError::OutputTooLarge {
                plugin: self.name.to_string(),
                bytes: output_bytes,
                limit_bytes: limits.max_output_bytes,
            });
        }
        if outcomes.len() != records.len() {
            return Err(PluginError::Contract {
                plugin: self.name.to_string(),
                detail: format!(
                    "returned {} outcomes for {} records",
                    outcomes.len(),
                    records.len()
                ),
            });
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| match o {
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
            })
            .collect();
        Ok((
            outcomes,
            BatchStats {
                instantiate: t1 - t0,
                call: t2 - t1,
            },
        ))
    }

    /// Ask the plugin whether `config` (JSON text) is acceptable.
    pub fn validate_config(&self, config: &str) -> Result<Result<(), String>, PluginError> {
        let ctx = BatchContext {
            route: "(validate)".into(),
            ..BatchContext::default()
        };
        let (mut store, stdout, stderr, hit) = self.new_store(&ctx, &self.limits);
        let result = self.pre.instantiate(&mut store).and_then(|i| {
            i.weir_plugin_transform()
                .call_validate_config(&mut store, config)
        });
        self.flush_output(&ctx, &store, &stdout, &stderr);
        result.map_err(|e| self.classify(e, hit.load(Ordering::Relaxed), &self.limits))
    }
}

/// One outcome as a JSON line, the form `weir plugin run` prints and the
/// golden tests store: `{"record": i, "outcome": "ok"|"dropped"|"failed", …}`.
/// Document bodies are embedded as JSON (not strings) when they parse.
pub fn outcome_json(record: usize, outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Ok(docs) => serde_json::json!({
            "record": record,
            "outcome": "ok",
            "documents": docs.iter().map(|d| serde_json::json!({
                "index": d.index,
                "id": d.id,
                "timestamp_ms": d.timestamp_ms,
                "body": serde_json::from_str::<serde_json::Value>(&d.body)
                    .unwrap_or_else(|_| serde_json::Value::String(d.body.clone())),
            })).collect::<Vec<_>>(),
        }),
        Outcome::Dropped => serde_json::json!({"record": record, "outcome": "dropped"}),
        Outcome::Failed(reason) => {
            serde_json::json!({"record": record, "outcome": "failed", "reason": reason})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_is_read_from_the_binary() {
        for name in crate::builtin::names() {
            check_contract_names(crate::builtin::bytes(name).unwrap()).unwrap();
        }
        // A core module (the wasm header with version 1) is not a component.
        let core = b"\0asm\x01\0\0\0";
        assert!(
            check_contract_names(core)
                .unwrap_err()
                .contains("not a WebAssembly component")
        );
        assert!(
            check_contract_names(b"plainly not wasm")
                .unwrap_err()
                .contains("not a valid component")
        );
    }
}
