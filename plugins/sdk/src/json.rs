//! JSON helpers for plugins: reasons that name what is wrong ([`json_kind`],
//! [`json_kind_at`], [`json_error`]), values read one after the other
//! ([`json_value_at`], [`json_values`]), fields read loosely ([`Loose`]),
//! bodies written directly ([`push_json_string`]), and [`scan`], a strict
//! single-pass scanner for plugins that rewrite a field or two of a record
//! and keep every other byte as it came.

mod loose;
mod members;
mod scan;
mod visit_at;

pub use loose::Loose;
pub use members::{array_object_members, name_value};
pub use scan::{MAX_VISIT_DEPTH, Member, Paths, Scanned, Visit, VisitAt, scan, scan_visit};

/// Append the decimal digits of `n` to `out` (what `write!(out, "{n}")`
/// writes, without `core::fmt`, which showed in profiles of plugins that
/// write numbers per document).
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
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
    loop {
        // the next byte to escape, eight bytes at a time
        let i = scan::skip_plain(bytes, start);
        // `bytes[i]` is ASCII (or the end), so `i` is on a char boundary.
        out.push_str(s.get(start..i).unwrap_or_default());
        let Some(&b) = bytes.get(i) else {
            break;
        };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push('"');
}

/// The string a JSON string literal (`raw`, quotes included, as
/// [`scan_visit`] gives a value's range) holds: borrowed when it has no
/// escapes. `None` when `raw` is not a string literal.
pub fn json_str(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    // the common case: nothing to decode (eight bytes at a time)
    if scan::skip_plain(inner.as_bytes(), 0) == inner.len() {
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    if !inner.contains('\\') {
        return (!inner.contains('"')).then_some(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw)
        .ok()
        .map(std::borrow::Cow::Owned)
}

/// `a == b`, eight bytes at a time and inline: for the short strings
/// plugins compare per log (keys, actions, ARNs), cheaper than `==`, which
/// calls `memcmp` (in WebAssembly, a loop over bytes behind a call).
#[inline]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok());
    let half = |s: &[u8], at: usize| s.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok());
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        // the first and last four (or eight) bytes, overlapping
        4..8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => {
            // eight at a time, then the last eight (overlapping)
            let mut at = 0;
            while at + 8 < n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        }
    }
}

/// [`same`] for optional strings.
#[inline]
pub fn same_str(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a.as_bytes(), b.as_bytes()),
        (None, None) => true,
        _ => false,
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

/// [`json_value_at`] for a value that must be a JSON object: when `text`
/// does not start with `{`, the reason is `<not_object>, got <kind>` (the
/// kind as [`json_kind_at`] names it, or why it is not JSON).
pub fn json_object_at<'a, T: serde::Deserialize<'a>>(
    text: &'a str,
    not_object: &str,
    shape: &str,
) -> Result<(T, usize), String> {
    if !text.starts_with('{') {
        return Err(format!("{not_object}, got {}", json_kind_at(text)));
    }
    json_value_at(text, shape)
}

/// `text` without leading JSON whitespace (space, tab, `\n`, `\r`).
pub fn trim_json_ws(text: &str) -> &str {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
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
mod tests;
