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
//! - **Route** ([`config::RouteConfig`], [`pipeline::Route`]): a URL path
//!   (`/firehose/waf`) bound to a tenant, a plugin with its config, a
//!   default index and a sink.
//! - **Tenant** ([`tenant`]): an id and the access keys Firehose presents in
//!   `X-Amz-Firehose-Access-Key`, held as SHA-256 digests and compared in
//!   constant time.
//! - **Intake** ([`server`], [`firehose`]): hyper 1 with rustls; the Firehose
//!   protocol decoder is pure and owns the status table
//!   ([`firehose::RequestError::status`]). 413 is only sent above
//!   Firehose's own limits (64 MiB, 10,000 records) because Firehose never
//!   retries it.
//! - **Plugin** ([`plugin`]): a component targeting `weir:plugin@0.1.0`
//!   (`wit/plugin.wit`). One engine with a pooling allocator and epoch
//!   interruption; a fresh store per batch with a memory cap, a deadline, a
//!   deny-all WASI context and capped stdout/stderr. A trap, timeout or
//!   out-of-memory fails the batch's records, never the host.
//! - **Pipeline** ([`pipeline`]): runs the plugin off the async executor,
//!   turns outcomes into documents (deterministic ids) and dead letters,
//!   and hands them to the sink.
//! - **Sink** ([`sink`]): where documents and dead letters become durable.
//!   Today the local directory sink (`_bulk`-form NDJSON per index).
//!
//! ```text
//! Firehose ──POST──▶ server ─▶ firehose::decode ─▶ pipeline ─▶ plugin (wasm)
//!                      ▲                              │
//!                      └──── 200 only when durable ◀── sink (documents + dead letters)
//! ```

pub mod builtin;
pub mod codec;
pub mod config;
pub mod digest;
pub mod firehose;
pub mod index;
pub mod live;
pub mod metrics;
pub mod pipeline;
pub mod plugin;
pub mod quota;
pub mod replay;
pub mod s3intake;
pub mod secret;
pub mod server;
pub mod sink;
pub mod telemetry;
pub mod tenant;
