//! Weir's integration tests, one test binary (each binary links the whole
//! host, wasmtime and the AWS SDK: one link instead of eleven saves minutes
//! of CI time and gigabytes of disk). Run one part with
//! `cargo test -p weir-tests --test integration <module>::`.

// The tests read the small answers of their own loopback servers (see
// clippy.toml for the host's bounds on body collection).
#![allow(clippy::disallowed_methods)]

mod bounds;
mod cloudtrail_variety;
mod connections;
mod dashboards;
mod durability;
mod geoip;
mod golden;
mod hostile;
mod intake;
mod memory;
mod opensearch;
mod opensearch_auth;
mod plugin_authoring;
mod plugin_bad_input;
mod reload;
mod s3;
mod s3_scope;
mod sources_e2e;
mod templates;
mod tenants;
mod tls;
