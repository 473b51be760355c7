//! The rules the Weir host and every plugin must agree on, in one place so
//! that they cannot drift apart:
//!
//! - [`gzip`]: gzip detection and the one capped gunzip ([`gunzip_capped`]);
//!   `clippy.toml` bans the raw `flate2` decoders everywhere else;
//! - [`index`]: what an OpenSearch index name may be ([`check_index_name`]);
//! - [`time`]: epoch milliseconds or seconds ↔ ISO-8601 UTC text
//!   ([`epoch_ms_to_iso`], [`push_epoch_ms_iso`], [`iso_to_epoch_ms`]), over
//!   1970-01-01..=9999-12-31.
//!
//! Pure functions only, no I/O; it builds natively and for `wasm32-wasip2`.
//! Its only dependencies are `flate2` and `thiserror`.

pub mod gzip;
pub mod index;
pub mod time;

pub use gzip::{GZIP_MAGIC, GunzipError, gunzip_capped, is_gzip};
pub use index::{MAX_INDEX_NAME_BYTES, check_index_name, is_index_name_char};
pub use time::{
    ISO_MS_LEN, MAX_EPOCH_MS, civil_from_days, days_from_civil, epoch_ms_to_iso,
    epoch_seconds_to_iso, is_leap_year, iso_to_epoch_ms, push_epoch_ms_iso,
};
