//! The plugin runtime: one wasmtime engine, a compiled component and an
//! `InstancePre` per plugin, and a fresh `Store` per batch.
//!
//! Each batch gets a new instance from the pooling allocator with a memory
//! cap (a `ResourceLimiter`), a wall-time deadline (epoch interruption, ticked by a
//! background thread), a deny-all WASI context (no preopens, no env, no
//! args, no sockets, a frozen clock, no call that waits: see `wasi`) and
//! capped stdout/stderr captured into the host's log. A trap, timeout or out-of-memory ends the batch with a
//! [`PluginError`]; the caller fails every record of it. wasmtime's own
//! types stay inside this module.
//!
//! - `engine`: the [`Runtime`] (engine, pooling allocator, epoch ticker, loader);
//! - `contract`: the contract check, on the names a binary imports and exports;
//! - `cache`: the precompiled-component cache and the digest pin;
//! - `sandbox`: one batch's store, limits, clocks and stdio, and the calls;
//! - `pipe`: the capped stdout/stderr pipe;
//! - `wasi`: the WASI interfaces a plugin is linked with, none of which waits.

mod cache;
mod contract;
mod engine;
mod pipe;
mod sandbox;
mod wasi;

use std::sync::Arc;
use std::time::Duration;

pub use cache::{PinMismatch, check_pin};
pub use engine::Runtime;

mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit",
    });
}

pub use crate::config::BatchLimits;

/// The typed `transform` export of a component (any `0.1.x`).
type TransformIndices = bindings::exports::weir::plugin::transform::GuestIndices;
/// The typed `metadata` export (since 0.1.1).
type MetadataIndices = bindings::exports::weir::plugin::metadata::GuestIndices;
/// The typed `schema` export (since 0.1.2).
type SchemaIndices = bindings::exports::weir::plugin::schema::GuestIndices;

/// What a plugin says about itself (`metadata.info`, WIT 0.1.1). A 0.1.0
/// plugin says nothing: its info is its name and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginInfo {
    /// Short name, e.g. `waf`.
    pub name: String,
    /// The plugin's own version (empty when it does not say).
    pub version: String,
    /// Date fields of its documents (mapped as `date` unless a route names its own).
    pub date_fields: Vec<String>,
    /// The index pattern it suggests.
    pub default_index: Option<String>,
    /// JSON Schema of its config (JSON text).
    pub config_schema: Option<String>,
    /// Index mapping `properties` it suggests (`schema.index-properties`,
    /// WIT 0.1.2), checked to be a JSON object when loaded.
    pub index_properties: Option<serde_json::Map<String, serde_json::Value>>,
}

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
    /// The GeoIP databases the plugin's `enrich.geoip` answers from (none:
    /// every lookup is `none`).
    pub geoip: Option<Arc<crate::geoip::GeoIp>>,
}

/// Per-batch figures.
#[derive(Debug, Clone, Default)]
pub struct BatchStats {
    /// Time to create the store and instantiate.
    pub instantiate: Duration,
    /// Time in the `transform` call.
    pub call: Duration,
    /// Linear memory the call's instances reached, bytes (all memories of
    /// the component summed; compared with the memory cap).
    pub memory_bytes: usize,
    /// Fuel the `transform` call burnt (about one unit per WebAssembly
    /// operator run), when the engine counts fuel: the plugin's work as a
    /// count that, unlike its time, is the same on every run.
    pub fuel: Option<u64>,
}

/// A loaded plugin, ready to instantiate per batch. Cheap to share (`Arc`).
pub struct Plugin {
    name: Arc<str>,
    digest: String,
    pre: wasmtime::component::InstancePre<sandbox::StoreState>,
    transform: TransformIndices,
    info: PluginInfo,
    engine: wasmtime::Engine,
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

    /// What the plugin says about itself (empty for a 0.1.0 plugin).
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }
}

/// One outcome as a JSON line, the form `weir plugin run` prints and the
/// golden tests store: `{"record": i, "outcome": "ok"|"dropped"|"failed", …}`.
/// Document bodies are embedded as JSON (not strings) when they parse.
/// It lives in the library, not the CLI, because the golden tests (the
/// `tests` crate) write the same form and must not keep their own copy.
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
