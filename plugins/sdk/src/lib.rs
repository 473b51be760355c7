#![doc = include_str!("../README.md")]

use std::borrow::Cow;
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

pub mod json;

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

/// The most bytes a gzip record may decompress to (64 MiB, the largest body
/// Firehose sends). Past it the record fails with a "cap" reason instead of
/// exhausting the plugin's memory.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// A record's text: gunzipped with [`gunzip_capped`] (at most `cap` bytes)
/// when it starts with the gzip magic ([`is_gzip`]), else the record itself,
/// borrowed; then checked to be UTF-8.
///
/// The `Err` is the record's failure reason: the [`GunzipError`]'s message,
/// or `record is not UTF-8: …`. Nothing is copied: the plain text borrows
/// the record, and the gunzipped buffer becomes the string in place.
pub fn record_text(record: &[u8], cap: usize) -> Result<Cow<'_, str>, String> {
    if is_gzip(record) {
        let data = gunzip_capped(record, cap).map_err(|e| e.to_string())?;
        String::from_utf8(data)
            .map(Cow::Owned)
            .map_err(|e| not_utf8(e.utf8_error()))
    } else {
        std::str::from_utf8(record)
            .map(Cow::Borrowed)
            .map_err(not_utf8)
    }
}

fn not_utf8(e: std::str::Utf8Error) -> String {
    format!("record is not UTF-8: {e}")
}

/// The body of a [`Guest::transform`] with a config: `f(record, &config)`
/// for every record, in order, when the route's config parsed; otherwise
/// every record fails with `invalid plugin config: <why>`.
///
/// ```
/// # use weir_plugin_sdk::Outcome;
/// # fn parse_config(_: &str) -> Result<u32, String> { Ok(1) }
/// # fn transform_record(_: &[u8], _: &u32) -> Outcome { Outcome::Dropped }
/// # let (config, records) = ("{}", vec![b"a".to_vec()]);
/// let outcomes = weir_plugin_sdk::transform_each(parse_config(config), &records, transform_record);
/// # assert_eq!(outcomes.len(), 1);
/// ```
pub fn transform_each<C>(
    config: Result<C, String>,
    records: &[Vec<u8>],
    f: impl Fn(&[u8], &C) -> Outcome,
) -> Vec<Outcome> {
    match config {
        Ok(config) => records.iter().map(|r| f(r, &config)).collect(),
        Err(e) => {
            let reason = format!("invalid plugin config: {e}");
            records
                .iter()
                .map(|_| Outcome::Failed(reason.clone()))
                .collect()
        }
    }
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
    let mut out = String::with_capacity(ISO_MS_LEN);
    push_epoch_ms_iso(&mut out, ms).then_some(out)
}

/// The length of [`epoch_ms_to_iso`]'s text.
pub const ISO_MS_LEN: usize = 24;

/// [`epoch_ms_to_iso`], appended to `out` without an allocation of its own
/// (digits written directly: `format!` took about 5 % of the host's CPU
/// time inside the WAF plugin at full rate). `false`, and `out` unchanged,
/// outside 1970-01-01..=9999-12-31.
pub fn push_epoch_ms_iso(out: &mut String, ms: i64) -> bool {
    if !(0..=MAX_EPOCH_MS).contains(&ms) {
        return false;
    }
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000) as u32;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, mo);
    put(8, 2, d);
    put(11, 2, sod / 3600);
    put(14, 2, sod % 3600 / 60);
    put(17, 2, sod % 60);
    put(20, 3, millis);
    out.extend(b.iter().map(|&c| c as char));
    true
}

/// Format seconds since the Unix epoch as ISO-8601 UTC (`2014-10-21T21:24:44Z`).
/// `None` outside 1970-01-01..=9999-12-31.
pub fn epoch_seconds_to_iso(secs: i64) -> Option<String> {
    let mut iso = epoch_ms_to_iso(secs.checked_mul(1000)?)?;
    // drop the ".000" of whole seconds
    iso.truncate(ISO_MS_LEN - 5);
    iso.push('Z');
    Some(iso)
}

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian);
/// the inverse of [`civil_from_days`] (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 }); // [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Whether `y` is a Gregorian leap year.
fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Read exactly `N` ASCII digits at `at` as a number.
fn digits<const N: usize>(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + N)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parse an RFC 3339 / ISO-8601 UTC-or-offset timestamp into milliseconds
/// since the Unix epoch: `2014-03-06T17:10:34Z`,
/// `2020-05-08T03:41:48.614Z`, `2021-02-04T17:51:55.123456+02:00`.
///
/// Accepted: a four-digit year, `T`/`t` or a space between date and time, an
/// optional fraction of any length (truncated to milliseconds), and `Z`/`z` or
/// a `±HH:MM` offset. The date must exist (leap years checked); seconds are
/// `00`–`59` (no leap second). `None` for anything else, and for instants
/// outside 1970-01-01T00:00:00Z..=9999-12-31T23:59:59.999Z (the range
/// [`epoch_ms_to_iso`] can write back).
pub fn iso_to_epoch_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits::<4>(b, 0)?;
    let month = digits::<2>(b, 5)?;
    let day = digits::<2>(b, 8)?;
    let hour = digits::<2>(b, 11)?;
    let minute = digits::<2>(b, 14)?;
    let second = digits::<2>(b, 17)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let year = i64::from(year);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        match at - start {
            0 => return None,
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset_minutes = match b.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits::<2>(&[*h1, *h2], 0)?;
            let om = digits::<2>(&[*m1, *m2], 0)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = i64::from(oh * 60 + om);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    let ms = secs * 1000 + millis;
    (0..=MAX_EPOCH_MS).contains(&ms).then_some(ms)
}

/// Check that `name` is an index name OpenSearch accepts, by the same rules
/// as the host's route `index`: not empty, at most 255 bytes, not `.` or
/// `..`, not starting with `-`, `_` or `+`, and no uppercase, whitespace,
/// control character or any of `\ / * ? " < > | , # :`.
pub fn check_index_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("index name is empty".to_string());
    }
    if name.len() > 255 {
        return Err(format!("index name is longer than 255 bytes: {name:?}"));
    }
    if name == "." || name == ".." {
        return Err(format!("index name cannot be {name:?}"));
    }
    if name.starts_with(['-', '_', '+']) {
        return Err(format!(
            "index name {name:?} cannot start with `-`, `_` or `+`"
        ));
    }
    if let Some(c) = name.chars().find(|&c| !is_index_name_char(c)) {
        return Err(format!(
            "index name {name:?} has a character OpenSearch refuses: {c:?}"
        ));
    }
    Ok(())
}

/// Whether `c` may appear in an index name (see [`check_index_name`]).
pub fn is_index_name_char(c: char) -> bool {
    !(c.is_uppercase()
        || c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':'
        ))
}

/// Append `s` to `out` as a JSON string literal (quoted and escaped), for
/// plugins that write their document bodies directly instead of building a
/// `serde_json::Value`. Escapes `"`, `\` and the control characters
/// U+0000–U+001F, exactly as `serde_json` does.
pub fn push_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, so `i` is on a char boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
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

/// Check the config of a plugin that takes no options: like
/// [`config_object`], and any key is refused with
/// ``unknown option `<key>`: the <plugin> plugin takes none``.
pub fn check_no_options(config: &str, plugin: &str) -> Result<(), String> {
    let map = config_object(config)?;
    match map.keys().next() {
        None => Ok(()),
        Some(key) => Err(format!(
            "unknown option `{key}`: the {plugin} plugin takes none"
        )),
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

/// What the JSON text at the start of `text` is, for "must be an object"
/// reasons: `invalid JSON: …` when it does not parse, else its kind as
/// [`json_kind`] names it (`an array`, `a string`, …).
pub fn json_kind_at(text: &str) -> String {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    if let Some(Err(e)) = stream.next() {
        return format!("invalid JSON: {e}");
    }
    match text.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
    .to_string()
}

/// A `serde_json` error as a failure reason: `<shape>: …` when the JSON is
/// well-formed but not of the expected shape (a field of the wrong type, a
/// duplicate field), else `invalid JSON: …`.
pub fn json_error(e: &serde_json::Error, shape: &str) -> String {
    match e.classify() {
        serde_json::error::Category::Data => format!("{shape}: {e}"),
        _ => format!("invalid JSON: {e}"),
    }
}

/// Deserialize the JSON value at the start of `text` (as [`json_values`]
/// would its first; `T` may borrow from `text`). Returns the value and the
/// number of bytes it took, so the caller can go on after it (NDJSON, or
/// values one after the other). `Err` is the failure reason, worded by
/// [`json_error`] with `shape`; an empty `text` is `empty record: no JSON value`.
pub fn json_value_at<'a, T: serde::Deserialize<'a>>(
    text: &'a str,
    shape: &str,
) -> Result<(T, usize), String> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<T>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, stream.byte_offset())),
        Some(Err(e)) => Err(json_error(&e, shape)),
        None => Err("empty record: no JSON value".to_string()),
    }
}

/// `text` without leading JSON whitespace (space, tab, `\n`, `\r`).
pub fn trim_json_ws(text: &str) -> &str {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
}

/// A JSON value read loosely, for the fields a plugin checks itself: a
/// string (borrowed when it has no escapes) or a number is kept, anything
/// else is only named, and skipped without being built. So a field of the
/// wrong type gives a reason that names the field (with [`Loose::kind`])
/// instead of a bare serde error, and unused values cost nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Loose<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// A negative integer (or any that fits `i64`, as `serde_json` reads it).
    I64(i64),
    /// A non-negative integer.
    U64(u64),
    /// A number with a fraction or an exponent.
    F64(f64),
    /// Anything else, by its kind: `a boolean`, `null`, `an array`, `an object`.
    Other(&'static str),
}

impl Loose<'_> {
    /// The JSON type name of the value, for error messages (as [`json_kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Loose::Str(_) => "a string",
            Loose::I64(_) | Loose::U64(_) | Loose::F64(_) => "a number",
            Loose::Other(kind) => kind,
        }
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Loose::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Loose<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor(std::marker::PhantomData))
    }
}

struct LooseVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for LooseVisitor<'a> {
    type Value = Loose<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other("a boolean"))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::I64(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::U64(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::F64(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other("null"))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an array"))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Loose::Other("an object"))
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

/// Helpers for plugins' unit tests (the `testing` feature; enable it in a
/// plugin's `[dev-dependencies]`). Not part of the plugin API: they panic.
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
#[allow(clippy::panic, clippy::unwrap_used)]
pub mod testing {
    use super::{BatchContext, Document, Outcome};

    /// The documents of an `Outcome::Ok`; panics on any other outcome.
    pub fn ok_docs(outcome: Outcome) -> Vec<Document> {
        match outcome {
            Outcome::Ok(docs) => docs,
            other => panic!("expected ok, got {other:?}"),
        }
    }

    /// The reason of an `Outcome::Failed`; panics on any other outcome.
    pub fn failed(outcome: Outcome) -> String {
        match outcome {
            Outcome::Failed(reason) => reason,
            other => panic!("expected failed, got {other:?}"),
        }
    }

    /// A document's body, parsed; panics when it is not JSON.
    pub fn body(doc: &Document) -> serde_json::Value {
        serde_json::from_str(&doc.body).unwrap()
    }

    /// `data` gzipped (one member).
    pub fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// A batch context for `route` with the given plugin config.
    pub fn batch_context(route: &str, config: &str) -> BatchContext {
        BatchContext {
            tenant: "t".into(),
            route: route.into(),
            request_id: "r".into(),
            source_arn: None,
            common_attributes: vec![],
            config: config.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::gzip;
    use super::*;

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
    fn iso_to_epoch_ms_parses_rfc3339() {
        assert_eq!(iso_to_epoch_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            iso_to_epoch_ms("2019-12-13T23:40:12.771Z"),
            Some(1_576_280_412_771)
        );
        assert_eq!(
            iso_to_epoch_ms("2014-12-14T04:06:50Z"),
            Some(1_418_530_010_000)
        );
        // fractions of any length, truncated to ms
        assert_eq!(iso_to_epoch_ms("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(iso_to_epoch_ms("1970-01-01T00:00:01.05Z"), Some(1_050));
        assert_eq!(
            iso_to_epoch_ms("1970-01-01T00:00:01.123999999Z"),
            Some(1_123)
        );
        // offsets, lowercase and space separators
        assert_eq!(iso_to_epoch_ms("1970-01-01T02:00:00+02:00"), Some(0));
        assert_eq!(iso_to_epoch_ms("1969-12-31T23:30:00-00:30"), Some(0));
        assert_eq!(iso_to_epoch_ms("1970-01-01t00:00:00z"), Some(0));
        assert_eq!(iso_to_epoch_ms("1970-01-01 00:00:00Z"), Some(0));
        // leap days
        assert_eq!(
            iso_to_epoch_ms("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        assert_eq!(iso_to_epoch_ms("1900-02-29T00:00:00Z"), None);
        assert_eq!(iso_to_epoch_ms("2023-02-29T00:00:00Z"), None);
        assert_eq!(
            iso_to_epoch_ms("9999-12-31T23:59:59.999Z"),
            Some(MAX_EPOCH_MS)
        );
    }

    #[test]
    fn iso_to_epoch_ms_refuses_the_rest() {
        for bad in [
            "",
            "2014-03-06",
            "2014-03-06T17:10:34",
            "2014-03-06T17:10:34+0200",
            "2014-03-06T17:10:34.Z",
            "2014-03-06T17:10:34ZZ",
            "2014-03-06T17:10:34Z ",
            "2014-13-06T17:10:34Z",
            "2014-00-06T17:10:34Z",
            "2014-04-31T17:10:34Z",
            "2014-03-00T17:10:34Z",
            "2014-03-06T24:00:00Z",
            "2014-03-06T23:60:00Z",
            "2014-03-06T23:59:60Z",
            "2014-03-06T23:59:59+24:00",
            "2025-10-21TT00:52:27Z",
            "+2014-03-06T17:10:34Z",
            "14-03-06T17:10:34Z",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00+00:01",
            "Mar 24, 2014 9:11:59 PM",
            "２０１４-03-06T17:10:34Z",
        ] {
            assert_eq!(iso_to_epoch_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn epoch_ms_to_iso_writes_what_format_would() {
        let reference = |ms: i64| {
            let secs = ms.div_euclid(1000);
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            format!(
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                sod / 3600,
                (sod % 3600) / 60,
                sod % 60,
                ms.rem_euclid(1000)
            )
        };
        let mut ms = 0i64;
        while ms <= MAX_EPOCH_MS {
            assert_eq!(epoch_ms_to_iso(ms).unwrap(), reference(ms), "{ms}");
            ms += 86_399_999 * 7 + 12_345;
        }
        let mut out = "x".to_string();
        assert!(!push_epoch_ms_iso(&mut out, -1));
        assert_eq!(out, "x");
        assert!(push_epoch_ms_iso(&mut out, MAX_EPOCH_MS));
        assert_eq!(out, "x9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn iso_round_trips_with_epoch_ms_to_iso() {
        // every day of 1970..2100 at a varying time of day, plus the edges
        for day in 0..(130 * 366) {
            let ms = day * 86_400_000 + (day * 7_919_123) % 86_400_000;
            let iso = epoch_ms_to_iso(ms).unwrap();
            assert_eq!(iso_to_epoch_ms(&iso), Some(ms), "{iso}");
        }
        for ms in [0, 1, 999, MAX_EPOCH_MS - 1, MAX_EPOCH_MS] {
            assert_eq!(iso_to_epoch_ms(&epoch_ms_to_iso(ms).unwrap()), Some(ms));
        }
        let s = epoch_seconds_to_iso(1_418_530_010).unwrap();
        assert_eq!(iso_to_epoch_ms(&s), Some(1_418_530_010_000));
    }

    #[test]
    fn index_names_follow_the_host_rules() {
        assert!(check_index_name("cwl-2024.01.31").is_ok());
        assert!(check_index_name("aws-securityhub-findings-guardduty").is_ok());
        assert!(check_index_name(&"a".repeat(255)).is_ok());
        assert!(check_index_name("").unwrap_err().contains("empty"));
        assert!(
            check_index_name(&"a".repeat(256))
                .unwrap_err()
                .contains("255")
        );
        assert!(check_index_name("..").is_err());
        for bad in [
            "-a", "_a", "+a", "Abc", "a b", "a/b", "a:b", "a#b", "a*b", "a,b",
        ] {
            assert!(check_index_name(bad).is_err(), "{bad}");
        }
        assert!(is_index_name_char('-') && !is_index_name_char('\n'));
    }

    #[test]
    fn json_strings_match_serde_json() {
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "ctl \u{0} \u{1} \u{8} \u{c} \u{1f} \n\r\t",
            "unicode é ✓ 😀 \u{7f}",
            "\"",
        ] {
            let mut out = String::from("x");
            push_json_string(&mut out, s);
            assert_eq!(out, format!("x{}", serde_json::to_string(s).unwrap()));
        }
    }

    #[test]
    fn record_text_gunzips_with_the_cap_and_checks_utf8() {
        let plain = record_text(b"{\"a\":1}", 4).unwrap();
        assert!(matches!(plain, Cow::Borrowed("{\"a\":1}")));
        let gz = gzip("é".as_bytes());
        assert!(matches!(record_text(&gz, 2).unwrap(), Cow::Owned(ref s) if s == "é"));
        assert!(record_text(&gz, 1).unwrap_err().contains("cap of 1 bytes"));
        assert!(
            record_text(b"\x1f\x8bnot gzip", 100)
                .unwrap_err()
                .starts_with("invalid gzip data")
        );
        for bad in [&b"a\xff"[..], &gzip(b"a\xff")] {
            assert_eq!(
                record_text(bad, 100).unwrap_err(),
                "record is not UTF-8: invalid utf-8 sequence of 1 bytes from index 1"
            );
        }
    }

    #[test]
    fn transform_each_maps_or_fails_every_record() {
        let records = vec![b"a".to_vec(), b"bc".to_vec()];
        let len = |r: &[u8], add: &usize| Outcome::Failed((r.len() + add).to_string());
        let out = transform_each(Ok(10), &records, len);
        assert!(
            matches!(&out[..], [Outcome::Failed(a), Outcome::Failed(b)] if a == "11" && b == "12")
        );
        let out = transform_each(Err("bad".to_string()), &records, len);
        assert_eq!(out.len(), 2);
        for o in out {
            assert_eq!(testing::failed(o), "invalid plugin config: bad");
        }
    }

    #[test]
    fn no_options_means_none() {
        assert!(check_no_options("", "x").is_ok());
        assert!(check_no_options(" {} ", "x").is_ok());
        assert_eq!(
            check_no_options(r#"{"a":1}"#, "x").unwrap_err(),
            "unknown option `a`: the x plugin takes none"
        );
        assert!(
            check_no_options("[]", "x")
                .unwrap_err()
                .contains("an array")
        );
    }

    #[test]
    fn json_text_helpers() {
        for (text, kind) in [
            ("[1]", "an array"),
            ("\"s\"", "a string"),
            ("true", "a boolean"),
            ("null", "null"),
            ("-1.5", "a number"),
            ("{}", "an object"),
        ] {
            assert_eq!(json_kind_at(text), kind);
        }
        assert!(json_kind_at("nope").starts_with("invalid JSON: "));
        assert_eq!(trim_json_ws(" \t\r\n x \n"), "x \n");
        assert_eq!(trim_json_ws("\u{a0}x"), "\u{a0}x");

        #[derive(Debug, serde::Deserialize)]
        struct A<'a> {
            #[serde(borrow)]
            a: Option<Loose<'a>>,
        }
        let (v, used): (A<'_>, usize) = json_value_at(r#"{"a":"x"} {"a":2}"#, "bad").unwrap();
        assert_eq!((v.a, used), (Some(Loose::Str(Cow::Borrowed("x"))), 9));
        let shape = json_value_at::<A<'_>>(r#"{"a":1,"a":2}"#, "bad shape").unwrap_err();
        assert!(
            shape.starts_with("bad shape: duplicate field `a`"),
            "{shape}"
        );
        let syntax = json_value_at::<A<'_>>(r#"{"a":"#, "bad shape").unwrap_err();
        assert!(syntax.starts_with("invalid JSON: "), "{syntax}");
        assert_eq!(
            json_value_at::<A<'_>>(" ", "x").err().as_deref(),
            Some("empty record: no JSON value")
        );
    }

    #[test]
    fn loose_values_keep_strings_and_numbers() {
        let all: Vec<Loose<'_>> = serde_json::from_str(
            r#"["s", "e\u0073c", -1, 18446744073709551615, 1.5, true, null, [1], {"a": [2]}]"#,
        )
        .unwrap();
        assert_eq!(
            all,
            [
                Loose::Str(Cow::Borrowed("s")),
                Loose::Str(Cow::Owned("esc".to_string())),
                Loose::I64(-1),
                Loose::U64(u64::MAX),
                Loose::F64(1.5),
                Loose::Other("a boolean"),
                Loose::Other("null"),
                Loose::Other("an array"),
                Loose::Other("an object"),
            ]
        );
        let kinds: Vec<&str> = all.iter().map(Loose::kind).collect();
        assert_eq!(
            kinds,
            [
                "a string",
                "a string",
                "a number",
                "a number",
                "a number",
                "a boolean",
                "null",
                "an array",
                "an object"
            ]
        );
        assert_eq!(all[1].as_str(), Some("esc"));
        assert_eq!(all[2].as_str(), None);
    }

    #[test]
    fn config_must_be_an_object() {
        assert!(config_object("").unwrap().is_empty());
        assert!(config_object("{\"a\":1}").unwrap().contains_key("a"));
        assert!(config_object("[1]").unwrap_err().contains("an array"));
        assert!(config_object("{").unwrap_err().contains("not valid JSON"));
    }
}
