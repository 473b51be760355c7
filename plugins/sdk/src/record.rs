//! A record's text and the per-record shape of a batch: [`record_text`]
//! (capped gunzip, then UTF-8, without copying), [`text_outcome`],
//! [`lines`], and [`transform_each`].

use std::borrow::Cow;

use crate::gzip::{gunzip_capped, is_gzip};
use crate::{Document, Outcome};

/// The most bytes a gzip record may decompress to (64 MiB, the largest body
/// Firehose sends). Past it the record fails with a "cap" reason instead of
/// exhausting the plugin's memory.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// A record's text: gunzipped with [`gunzip_capped`] (at most `cap` bytes)
/// when it starts with the gzip magic ([`is_gzip`]), else the record itself,
/// borrowed; then checked to be UTF-8.
///
/// The `Err` is the record's failure reason: the [`GunzipError`](crate::GunzipError)'s message,
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

/// The outcome of a record whose text ([`record_text`], capped at
/// [`MAX_DECOMPRESSED_BYTES`]) `documents` turns into documents:
/// `Ok(Some(docs))` is `Outcome::Ok`, `Ok(None)` (the record is deliberately
/// not indexed) `Outcome::Dropped`, and an `Err` (or a record that is not
/// text) `Outcome::Failed` with the reason.
pub fn text_outcome(
    record: &[u8],
    documents: impl FnOnce(&str) -> Result<Option<Vec<Document>>, String>,
) -> Outcome {
    let text = match record_text(record, MAX_DECOMPRESSED_BYTES) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(e),
    };
    match documents(&text) {
        Ok(Some(docs)) => Outcome::Ok(docs),
        Ok(None) => Outcome::Dropped,
        Err(e) => Outcome::Failed(e),
    }
}

fn not_utf8(e: std::str::Utf8Error) -> String {
    format!("record is not UTF-8: {e}")
}

/// The body of a batch transform with a config: `f(record, &config)`
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

/// Split a record into its non-empty lines (`\n` or `\r\n`), for sources
/// that put several lines in one record.
pub fn lines(record: &[u8]) -> impl Iterator<Item = &[u8]> {
    record
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

#[cfg(test)]
mod tests;
