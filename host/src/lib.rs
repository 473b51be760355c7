//! # Weir
//!
//! A WebAssembly-plugin edge collector for AWS security logs. Weir is an
//! Amazon Data Firehose *HTTP endpoint* destination: it receives Firehose
//! batches, runs each through a sandboxed WASM component plugin chosen by
//! the route, and writes the documents it returns to a sink, answering
//! Firehose `200` only once every record is durable.
//!
//! ## Core concepts
//!
//! - **Batch** ([`pipeline::Batch`]): records to transform and store as a
//!   unit, with one acknowledgement. Every intake builds one: a Firehose
//!   request ([`firehose`], [`server`]), an S3 object named by a
//!   notification ([`s3intake`]), dead letters re-driven ([`replay`]).
//! - **Route** ([`config::RouteConfig`], [`pipeline::Route`]): a URL path
//!   (`/firehose/waf`) bound to a tenant, a plugin with its config, a
//!   default index and a sink.
//! - **Tenant** ([`tenant`], [`quota`]): an id, the access keys Firehose
//!   presents (SHA-256 digests, compared in constant time), an index
//!   prefix, quotas answered with 429, and a share of the process's
//!   memory budget for request buffers ([`budget`]) answered with 503.
//! - **Plugin** ([`plugin`]): a component targeting `weir:plugin@0.1.x`
//!   (`wit/plugin.wit`). One engine with a pooling allocator and epoch
//!   interruption; a fresh store per call with a memory cap, a deadline, a
//!   deny-all WASI context and capped stdout/stderr. A trap, timeout or
//!   out-of-memory fails the call's records, never the host. Plugins
//!   describe themselves (name, version, date fields, default index,
//!   config schema) through the contract's `metadata` export.
//! - **Pipeline** ([`pipeline`]): runs the plugin off the async executor,
//!   turns outcomes into documents (deterministic ids) and dead letters,
//!   and hands them to the sink.
//! - **Sink** ([`sink`]): where documents, dead letters and backups become
//!   durable: OpenSearch `_bulk` (coalesced across requests, per-item
//!   results), a local directory, S3. Every sink implements
//!   [`sink::Sink`]; adding one is its module, its config variant and one
//!   arm in [`sink::open`].
//! - **Plugin authoring** ([`scaffold`], [`conformance`]): `weir plugin
//!   new` writes a project from the templates embedded in the binary;
//!   `weir plugin test` is the conformance harness (golden cases, the
//!   contract, hostile inputs, determinism, cost against the limits).
//! - **Dashboards** ([`dashboards`]): an OpenSearch Dashboards index
//!   pattern per route (and one over every source), exported as a
//!   saved-objects file or imported through the Dashboards API.
//!
//! ```text
//! Firehose ──POST──▶ server ─▶ firehose::decode ─▶ Batch ─▶ pipeline ─▶ plugin (wasm)
//!                      ▲                                       │
//!                      └──────── 200 only when durable ◀──── sink (documents, dead letters, backups)
//! ```
//!
//! ## Layers
//!
//! A module uses modules of its own layer or below, never above (the edge
//! speaks protocols, the core knows none of them, the data layer is plain
//! data). The Firehose wire types stay at the edge: only `server` and the
//! `cli` use [`firehose`]. `tests/layers.rs` checks this table against
//! every `crate::` path in the source.
//!
//! ```text
//! edge:  cli server firehose(server,cli,conformance) s3intake replay live dashboards conformance
//! core:  pipeline
//! parts: plugin sink quota
//! data:  config
//! leaf:  budget builtin codec digest geoip index lowprio metrics scaffold secret telemetry tenant
//! ```

pub mod budget;
pub mod builtin;
pub mod codec;
pub mod config;
pub mod conformance;
pub mod dashboards;
pub mod digest;
pub mod firehose;
pub mod geoip;
pub mod index;
pub mod live;
pub mod lowprio;
pub mod metrics;
pub mod pipeline;
pub mod plugin;
pub mod quota;
pub mod replay;
pub mod s3intake;
pub mod scaffold;
pub mod secret;
pub mod server;
pub mod sink;
pub mod telemetry;
pub mod tenant;
