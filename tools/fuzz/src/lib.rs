//! Fuzzing of Weir's parsers on the pinned stable toolchain (issue #14).
//!
//! Each target ([`targets`]) is a plain function of bytes that calls a real
//! entry point (the Firehose envelope decoder, the capped gunzip, the SDK
//! JSON scanner, each built-in plugin's `transform` built natively, the
//! config parser, the dead-letter parser) and asserts invariants: a
//! violated invariant panics like a crash does. [`run`] feeds a target its
//! seeds (`tools/fuzz/regressions/<target>/`, `tools/fuzz/corpus/<target>/`,
//! the fixtures under `tests/fixtures/`) and then inputs made by
//! [`mutate`], from a fixed PRNG seed, so a run is reproducible.
//!
//! Why not `cargo fuzz`: it needs nightly and instruments every crate it
//! links, and the host links wasmtime and the AWS SDK: a fresh machine
//! would build a second, instrumented copy of both (many minutes on CI's
//! two cores) before the first execution, and CI would need nightly. This
//! runner builds with the same stable toolchain and the same dependency
//! builds as the tests. What it lacks is coverage feedback: it keeps the
//! inputs that produce a new *outcome class* (an error message with its
//! positions taken out, a record count bucket) instead, which walks the
//! decoders past their first checks. The bodies take any `&[u8]`, so
//! `cargo fuzz` targets can wrap them unchanged when coverage is wanted.
//!
//! `scripts/test` runs every target for a few seconds (`weir-fuzz all
//! --seconds 3`); the long run (`scripts/fuzz`) and its figures are in `RELIABILITY.md`
//! ("Fuzzing").

#![allow(clippy::panic)] // a fuzz target reports a broken invariant by panicking

pub mod mutate;
pub mod run;
pub mod targets;
