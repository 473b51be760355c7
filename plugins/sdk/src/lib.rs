#![doc = include_str!("../README.md")]

use std::io::Read;

// Lets the generated code name this crate by its public path from inside it too.
extern crate self as weir_plugin_sdk;

/// The generated bindings of `wit/plugin.wit` (`weir:plugin@0.1.0`).
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "::weir_plugin_sdk::bindings",
        runtime_path: "::weir_plugin_sdk::__rt::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __rt {
    pub use wit_bindgen;
}

pub use bindings::exports::weir::plugin::transform::Guest;
pub use bindings::weir::plugin::host::Level;
pub use bindings::weir::plugin::types::{Attribute, BatchContext, Document, Outcome};

/// Export a type implementing [`Guest`] as the plugin's `transform` interface.
///
/// Use it once per plugin crate: `weir_plugin_sdk::export!(MyPlugin);`
///
/// The exports exist only in the wasm build: natively (unit tests) the
/// crate is a plain library, and a native `cdylib` could not carry the
/// component-model export names (`weir:plugin/transform@0.1.0#…`) anyway.
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_plugin!($ty);
    };
}

impl Document {
    /// A document for the route's index with a host-derived id and no event time.
    pub fn new(body: String) -> Self {
        Document {
            index: None,
            id: None,
            timestamp_ms: None,
            body,
        }
    }

    /// Set the event time (milliseconds since the Unix epoch).
    pub fn with_timestamp_ms(mut self, ms: i64) -> Self {
        self.timestamp_ms = Some(ms);
        self
    }

    /// Set the document id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Ask for an index (the host may not honour it).
    pub fn with_index(mut self, index: impl Into<String>) -> Self {
        self.index = Some(index.into());
        self
    }
}

/// Write a line to the host's log. Natively (unit tests) it goes to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::weir::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// The gzip magic bytes (RFC 1952).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `data` starts like a gzip stream.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Why [`gunzip_capped`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GunzipError {
    /// The decompressed data would exceed the cap (a gzip bomb, or a cap set too low).
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
    },
    /// The data is not a valid gzip stream.
    Invalid(String),
}

impl std::fmt::Display for GunzipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GunzipError::TooLarge { cap } => {
                write!(
                    f,
                    "gzip data decompresses to more than the cap of {cap} bytes"
                )
            }
            GunzipError::Invalid(e) => write!(f, "invalid gzip data: {e}"),
        }
    }
}

impl std::error::Error for GunzipError {}

/// Decompress gzip data (all members), refusing to produce more than `cap` bytes.
///
/// This is the only way a plugin should decompress: an uncapped decoder lets
/// a few KiB of input exhaust the plugin's memory.
#[allow(clippy::disallowed_types)] // this is the capped helper
pub fn gunzip_capped(data: &[u8], cap: usize) -> Result<Vec<u8>, GunzipError> {
    let decoder = flate2::read::MultiGzDecoder::new(data);
    // Read one byte past the cap to tell "exactly cap" from "more than cap".
    let mut limited = decoder.take(cap as u64 + 1);
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(cap));
    limited
        .read_to_end(&mut out)
        .map_err(|e| GunzipError::Invalid(e.to_string()))?;
    if out.len() > cap {
        return Err(GunzipError::TooLarge { cap });
    }
    Ok(out)
}

/// Days from 1970-01-01 to the civil date (y, m, d); proleptic Gregorian.
/// Howard Hinnant's `days_from_civil` inverse, exact for the whole i64 day range we accept.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The largest epoch-millisecond value accepted: 9999-12-31T23:59:59.999Z.
/// Larger values cannot be written as a four-digit-year ISO-8601 date.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// Format milliseconds since the Unix epoch as ISO-8601 UTC with
/// milliseconds (`2019-12-13T23:40:12.771Z`), the form OpenSearch's dynamic
/// date detection maps as `date`. `None` outside 1970-01-01..=9999-12-31.
pub fn epoch_ms_to_iso(ms: i64) -> Option<String> {
    if !(0..=MAX_EPOCH_MS).contains(&ms) {
        return None;
    }
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    ))
}

/// Format seconds since the Unix epoch as ISO-8601 UTC (`2014-10-21T21:24:44Z`).
/// `None` outside 1970-01-01..=9999-12-31.
pub fn epoch_seconds_to_iso(secs: i64) -> Option<String> {
    let ms = secs.checked_mul(1000)?;
    let iso = epoch_ms_to_iso(ms)?;
    // drop the ".000" of whole seconds
    Some(format!("{}Z", &iso[..iso.len() - 5]))
}

/// Parse a plugin's config JSON text into an object (`{}` when empty).
pub fn config_object(config: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if config.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_str::<serde_json::Value>(config) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "plugin config must be a JSON object, got {}",
            json_kind(&other)
        )),
        Err(e) => Err(format!("plugin config is not valid JSON: {e}")),
    }
}

/// The JSON type name of a value, for error messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Split a record into its non-empty lines (`\n` or `\r\n`), for sources
/// that put several lines in one record.
pub fn lines(record: &[u8]) -> impl Iterator<Item = &[u8]> {
    record
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

/// Parse every JSON value in a record (one, or several separated by
/// whitespace/newlines, as NDJSON). An empty record is an error.
pub fn json_values(record: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let mut out = Vec::new();
    for value in serde_json::Deserializer::from_slice(record).into_iter::<serde_json::Value>() {
        out.push(value.map_err(|e| format!("invalid JSON: {e}"))?);
    }
    if out.is_empty() {
        return Err("empty record: no JSON value".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[allow(clippy::disallowed_types)]
    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn iso_from_epoch_ms() {
        assert_eq!(epoch_ms_to_iso(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            epoch_ms_to_iso(1_576_280_412_771).unwrap(),
            "2019-12-13T23:40:12.771Z"
        );
        // leap day
        assert_eq!(
            epoch_ms_to_iso(951_782_400_000).unwrap(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            epoch_ms_to_iso(MAX_EPOCH_MS).unwrap(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(epoch_ms_to_iso(MAX_EPOCH_MS + 1), None);
        assert_eq!(epoch_ms_to_iso(-1), None);
    }

    #[test]
    fn iso_matches_a_day_by_day_walk() {
        // Walk day by day over 1970..2100 with a naive calendar and compare.
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for day in 0..(130 * 366) {
            let expect = format!("{y:04}-{m:02}-{d:02}T00:00:00.000Z");
            assert_eq!(epoch_ms_to_iso(day * 86_400_000).unwrap(), expect);
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][m as usize - 1];
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn iso_from_epoch_seconds() {
        assert_eq!(
            epoch_seconds_to_iso(1_418_530_010).unwrap(),
            "2014-12-14T04:06:50Z"
        );
        assert_eq!(epoch_seconds_to_iso(i64::MAX), None);
    }

    #[test]
    fn gunzip_within_and_over_the_cap() {
        let data = vec![b'a'; 10_000];
        let gz = gzip(&data);
        assert_eq!(gunzip_capped(&gz, 10_000).unwrap(), data);
        assert_eq!(
            gunzip_capped(&gz, 9_999),
            Err(GunzipError::TooLarge { cap: 9_999 })
        );
        assert!(matches!(
            gunzip_capped(b"\x1f\x8bnot gzip", 100),
            Err(GunzipError::Invalid(_))
        ));
        assert!(is_gzip(&gz));
        assert!(!is_gzip(b"{}"));
    }

    #[test]
    fn gunzip_reads_every_member() {
        let mut two = gzip(b"one\n");
        two.extend(gzip(b"two\n"));
        assert_eq!(gunzip_capped(&two, 100).unwrap(), b"one\ntwo\n");
    }

    #[test]
    fn splits_lines_and_json_values() {
        let got: Vec<&[u8]> = lines(b"a b\r\n\n  \nc\n").collect();
        assert_eq!(got, vec![&b"a b"[..], &b"c"[..]]);
        assert_eq!(json_values(b"{\"a\":1}\n{\"b\":2}\n").unwrap().len(), 2);
        assert!(json_values(b"  \n").is_err());
        assert!(json_values(b"{\"a\":").is_err());
    }

    #[test]
    fn config_must_be_an_object() {
        assert!(config_object("").unwrap().is_empty());
        assert!(config_object("{\"a\":1}").unwrap().contains_key("a"));
        assert!(config_object("[1]").unwrap_err().contains("an array"));
        assert!(config_object("{").unwrap_err().contains("not valid JSON"));
    }
}
