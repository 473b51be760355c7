//! The common case without a `serde_json::Value` tree of the event: one
//! EventBridge event with `detail.findings`, on one line, each finding's document made
//! of its own text (`@timestamp` spliced in first, the ECS fields
//! appended), and only the fields the document needs parsed. One scan
//! ([`scan_visit`]) checks the whole event and reports each finding's
//! top-level members, so the event's bytes are read once. Anything
//! unusual (several values, a finding with its own `@timestamp`, escaped
//! keys, a key twice, an error) is left to the full parse
//! ([`crate::text_documents`]), which gives the same documents and words
//! the errors; a test checks both give the same documents.

use std::ops::Range;

use serde_json::{Map, Value};
use weir_plugin_sdk::Document;
use weir_plugin_sdk::ecs::Roots;
use weir_plugin_sdk::json::{Member, Visit, VisitAt, scan_visit};

use crate::Config;

/// The members of a finding its document needs (the id, the index, the
/// times and the ECS fields); the rest is only checked.
const FIELDS: [&str; 12] = [
    "Id",
    "ProductArn",
    "CreatedAt",
    "UpdatedAt",
    "ProductName",
    "AwsAccountId",
    "Region",
    "GeneratorId",
    "Title",
    "Types",
    "Network",
    "ProductFields",
];

/// What the scan reports: the event's `detail-type` and `detail`,
/// `detail.findings`, and every top-level member of each finding.
const INTO: [VisitAt<'static>; 3] = [
    VisitAt::only(&[], &[b"detail-type", b"detail"]),
    VisitAt::only(&[b"detail"], &[b"findings"]),
    VisitAt::all(&[b"detail", b"findings"]),
];

/// One finding as the scan saw it.
struct Found<'a> {
    /// The offset of its `{` in the event.
    object: usize,
    /// The end of its last member's value.
    end: usize,
    /// The ECS roots (and `@timestamp`) among its keys.
    roots: Roots,
    /// The values of [`FIELDS`], as text (and the string when it has no
    /// escapes).
    fields: [Option<(&'a str, Option<&'a str>)>; 12],
}

/// What one scan of an event found; `unusual`: leave it to the full parse.
#[derive(Default)]
struct Seen<'a> {
    detail_type: bool,
    findings: Option<Range<usize>>,
    found: Vec<Found<'a>>,
    unusual: bool,
}

impl<'a> Seen<'a> {
    fn visit(&mut self, v: &Visit<'_, 'a>) {
        if v.escaped || v.value != 0 {
            self.unusual = true;
            return;
        }
        match v.at {
            0 => self.detail_type |= v.key == b"detail-type",
            1 => {
                self.unusual |= self.findings.is_some();
                self.findings = Some(v.range.clone());
            }
            _ => self.member(v),
        }
    }

    /// A top-level member of a finding.
    fn member(&mut self, v: &Visit<'_, 'a>) {
        let found = match self.found.last_mut() {
            Some(f) if f.object == v.object => f,
            _ => {
                self.found.push(Found {
                    object: v.object,
                    end: 0,
                    roots: Roots::NONE,
                    fields: [None; 12],
                });
                let Some(f) = self.found.last_mut() else {
                    return;
                };
                f
            }
        };
        found.end = v.range.end;
        found.roots.mark_bytes(v.key);
        if let Some(i) = FIELDS.iter().position(|f| f.as_bytes() == v.key) {
            // a key twice: the full parse keeps the last, as `serde_json` does
            self.unusual |= found.fields[i].is_some();
            found.fields[i] = Some((v.raw, v.plain));
        }
    }
}

/// The documents of `text` when it is one EventBridge event with
/// `detail.findings` and every finding is usual; `None`: take the full
/// parse.
pub(crate) fn documents(text: &str, config: &Config) -> Option<Vec<Document>> {
    let text = text.trim_ascii();
    // A document body is its finding's text: one line, as EventBridge
    // writes events (a pretty-printed event takes the full parse, which
    // writes compact bodies).
    if !text.starts_with('{') || has_line_break(text.as_bytes()) {
        return None;
    }
    let mut seen = Seen::default();
    let scanned = scan_visit(text.as_bytes(), "detail", &INTO, |v| seen.visit(v))?;
    let [only] = scanned.as_slice() else {
        return None;
    };
    let Member::At(detail) = &only.member else {
        return None;
    };
    if seen.unusual || !seen.detail_type || !text.get(detail.clone())?.starts_with('{') {
        return None;
    }
    let spans = finding_spans(text.as_bytes(), seen.findings?, &seen.found)?;
    seen.found
        .iter()
        .zip(spans)
        .map(|(found, span)| finding_document(text.get(span)?, found, config))
        .collect()
}

/// Each finding's text, when the `findings` array at `array` holds the
/// `found` objects and nothing else (an empty object or a value that is
/// not an object is not visited: the full parse takes those).
fn finding_spans(b: &[u8], array: Range<usize>, found: &[Found<'_>]) -> Option<Vec<Range<usize>>> {
    let ws = |mut i: usize| {
        while let Some(b' ' | b'\t') = b.get(i) {
            i += 1;
        }
        i
    };
    if b.get(array.start) != Some(&b'[') || found.is_empty() {
        return None;
    }
    let mut i = ws(array.start + 1);
    let mut spans = Vec::with_capacity(found.len());
    for (n, f) in found.iter().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b',') {
                return None;
            }
            i = ws(i + 1);
        }
        let close = ws(f.end);
        if i != f.object || b.get(close) != Some(&b'}') {
            return None;
        }
        spans.push(f.object..close + 1);
        i = ws(close + 1);
    }
    (i + 1 == array.end && b.get(i) == Some(&b']')).then_some(spans)
}

/// Whether `b` holds a `\n` or `\r`, eight bytes at a time (`b < 0x0E`
/// flags those; in valid JSON the only other such byte is a tab, checked
/// apart).
fn has_line_break(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            return true;
        };
        let w = u64::from_le_bytes(bytes);
        if (w.wrapping_sub(LO * 0x0E) & !w & HI) != 0
            && chunk.iter().any(|&c| c == b'\n' || c == b'\r')
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| c == b'\n' || c == b'\r')
}

/// The fields as a (small) map, for the functions the full parse uses;
/// `null` is left out (every use reads these as strings, arrays or
/// objects).
fn field_map(found: &Found<'_>) -> Option<Map<String, Value>> {
    let mut map = Map::with_capacity(12);
    for (name, field) in FIELDS.iter().zip(&found.fields) {
        let value = match field {
            None => continue,
            Some((_, Some(plain))) => Value::String((*plain).to_string()),
            Some((raw, None)) => serde_json::from_str(raw).ok()?,
        };
        if !value.is_null() {
            map.insert((*name).to_string(), value);
        }
    }
    Some(map)
}

/// The document of one finding's text, as [`crate::finding_document`]
/// makes it; `None` for anything it would do otherwise or refuse.
fn finding_document(raw: &str, found: &Found<'_>, config: &Config) -> Option<Document> {
    if found.roots.has_timestamp() {
        return None;
    }
    let map = field_map(found)?;
    let id = crate::finding_id(&map, config.keep_history).ok()?;
    let index = crate::index_for(map.get("ProductArn").and_then(Value::as_str), config);
    let (created, at_timestamp) = crate::finding_times(&map);
    let mut body = match at_timestamp {
        Some(iso) => {
            // `{"@timestamp":"<iso>",` + the finding after its `{` (it has
            // members: `Id` at least)
            let mut body = String::with_capacity(raw.len() + iso.len() + 256);
            body.push_str("{\"@timestamp\":");
            weir_plugin_sdk::push_json_string(&mut body, &iso);
            body.push(',');
            body.push_str(raw.get(1..)?);
            body
        }
        None => raw.to_string(),
    };
    if config.ecs {
        weir_plugin_sdk::ecs::append_members(
            &mut body,
            &crate::ecs::members_with(&map, found.roots),
        );
    }
    let mut doc = Document::new(body).with_id(id).with_index(index);
    if let Some(ms) = created {
        doc = doc.with_timestamp_ms(ms);
    }
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::has_line_break;

    #[test]
    fn line_breaks_are_found_anywhere_and_tabs_are_not_ones() {
        assert!(!has_line_break(b""));
        assert!(!has_line_break(b"{\"a\":\t1}\t\t\t\t\t\t\t\t\t"));
        for n in 0..20 {
            for c in [b'\n', b'\r'] {
                let mut text = vec![b'x'; 20];
                text[n] = c;
                assert!(has_line_break(&text), "{n} {c}");
            }
        }
    }
}
