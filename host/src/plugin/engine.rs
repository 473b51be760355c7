//! The [`Runtime`]: one wasmtime engine with a pooling allocator and epoch
//! interruption, the linker every plugin is linked with, and the loader.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config as WasmConfig, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy,
};

use super::cache::{Cache, check_pin};
use super::contract::check_contract_names;
use super::sandbox::StoreState;
use super::{
    BatchLimits, MetadataIndices, Plugin, PluginError, PluginInfo, SchemaIndices, TransformIndices,
    bindings,
};
use crate::config::PluginLimits;
use crate::digest::hex;

/// How often the epoch advances. Deadlines are rounded up to this.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most core instances one component may create (a Rust `wasm32-wasip2`
/// component has a handful: the program, the WASI adapter, shims; a
/// componentize-py one has 38: CPython, its extension modules, shims).
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Most linear memories per component.
const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
/// Most tables per component.
const MAX_TABLES_PER_COMPONENT: u32 = 16;
/// Most elements in one table (function pointers of a large plugin).
pub(super) const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Bytes of each pooled linear memory kept resident (zeroed in place)
/// between batches. Measured (`cargo bench --bench sandbox`): 512 KiB made
/// every batch slower (empty 26.4 µs), 8 MiB made large batches 5–13 %
/// faster but the empty batch slower (23.0 µs) and would keep up to 8 MiB
/// per pool slot resident; 2 MiB gave 21.2 µs and most of the gain. With
/// PAGEMAP_SCAN (below) 8 MiB measured the same as 2 MiB end to end, with
/// bare WAF logs. With ECS fields the documents of a batch are 50 % larger
/// (500 WAF logs in, about 0.9 MB of documents out: past 2 MiB with the
/// heap's other contents, an estimate), and 4 MiB made ECS-on runs faster
/// in alternating runs (`weir-load`, BENCHMARKS.md).
const KEEP_RESIDENT_BYTES: usize = 4 * 1024 * 1024;
/// Extra pooled instances beyond the batch budget, for config validation calls.
const SPARE_INSTANCES: u32 = 4;

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

/// The pooling allocator, sized for `limits.max_concurrent_batches` batches.
fn pool_config(limits: &PluginLimits) -> PoolingAllocationConfig {
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
    pool
}

/// The engine (pooling allocator, epoch interruption, fuel when asked) and
/// its linker (the WASI the contract allows, none of it waiting: see
/// `wasi`; and the `weir:plugin` imports).
fn engine_and_linker(limits: &PluginLimits) -> wasmtime::Result<(Engine, Linker<StoreState>)> {
    let mut cfg = WasmConfig::new();
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(limits)))
        .epoch_interruption(true)
        .consume_fuel(limits.consume_fuel)
        .wasm_component_model(true);
    if profile_with_perf() {
        // `perf` names plugin functions from /tmp/perf-<pid>.map
        cfg.profiler(ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&cfg)?;
    let mut linker: Linker<StoreState> = Linker::new(&engine);
    super::wasi::add_to_linker(&mut linker)?;
    bindings::Plugin::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)?;
    Ok((engine, linker))
}

/// Whether `WEIR_WASM_PROFILER=perfmap` asks for a perf map of the
/// compiled plugins (for profiling with `perf`; see BENCHMARKS.md).
fn profile_with_perf() -> bool {
    std::env::var("WEIR_WASM_PROFILER").is_ok_and(|v| v == "perfmap")
}

/// Start the thread that advances `engine`'s epoch every [`EPOCH_TICK`]
/// until `stop` is set.
fn start_ticker(engine: Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("weir-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
}

/// A key naming `engine`'s compiled-code compatibility, for cache file names.
fn engine_key(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same binary and engine settings give the same
    // key in every process, which is what a cache key needs.
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
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
        let (engine, linker) = engine_and_linker(&limits).map_err(|e| err(format!("{e:#}")))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        start_ticker(engine.clone(), stop_ticker.clone())
            .map_err(|e| err(format!("cannot start the epoch thread: {e}")))?;
        Ok(Runtime {
            engine_key: engine_key(&engine),
            engine,
            linker,
            limits,
            stop_ticker,
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
    /// beyond stdio, exit, an empty environment, frozen clocks, random and
    /// the `weir:plugin` world) before anything is instantiated, and
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
        let digest = hex(&Sha256::digest(bytes));
        check_pin(pin, &digest).map_err(|e| load_err(e.to_string()))?;
        // The contract is checked on the binary's own import and export
        // names, before the (possibly long) compilation.
        check_contract_names(bytes).map_err(|e| load_err(e.to_string()))?;
        let cache = Cache {
            engine: &self.engine,
            dir: self.limits.cache_dir.as_deref(),
            engine_key: &self.engine_key,
        };
        let (component, cached) = cache
            .compile(name, bytes, &digest)
            .map_err(|e| load_err(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load_err(format!("{e:#}")))?;
        let transform = TransformIndices::new(&pre).map_err(|e| {
            load_err(format!(
                "not a weir:plugin@0.1.x component (does it export weir:plugin/transform@0.1.x?): {e:#}"
            ))
        })?;
        // `metadata` is optional: plugins built against 0.1.0 lack it;
        // `schema` too: plugins built against 0.1.0 or 0.1.1 lack it.
        let metadata = MetadataIndices::new(&pre).ok();
        let schema = SchemaIndices::new(&pre).ok();
        let mut plugin = Plugin {
            name: name.into(),
            digest,
            pre,
            transform,
            info: PluginInfo::default(),
            engine: self.engine.clone(),
            limits: BatchLimits::from_plugin_limits(&self.limits),
            consume_fuel: self.limits.consume_fuel,
            log_bytes: self.limits.log_bytes,
        };
        if let Some(metadata) = metadata {
            plugin.info = plugin.read_info(&metadata)?;
        }
        if let Some(schema) = schema {
            plugin.info.index_properties = plugin.read_index_properties(&schema)?;
        }
        tracing::debug!(plugin = name, digest = plugin.digest, cached, load_ms = started.elapsed().as_millis() as u64, info = ?plugin.info, "plugin loaded");
        Ok(plugin)
    }
}
