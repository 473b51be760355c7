//! The hostile inputs the harness makes: records a sender may legally (or
//! by mistake) send that a plugin must answer with per-record outcomes
//! within the route limits, never by failing the whole batch.

use std::io::Write;

/// Firehose's largest record (1,000 KiB before base64).
pub const HUGE_RECORD_BYTES: usize = 1000 * 1024;
/// What the gzip bomb inflates to: past any plugin's decompression cap and
/// past the default memory cap of a batch (256 MiB), so a plugin that
/// gunzips without a cap runs out of memory.
pub const GZIP_BOMB_BYTES: usize = 512 * 1024 * 1024;
/// Nesting depth of the deep-nesting records (far past serde_json's 128).
pub const NESTING_DEPTH: usize = 100_000;
/// Records in the many-records batch (Firehose's most per request).
pub const MANY_RECORDS: usize = crate::firehose::FIREHOSE_MAX_RECORDS;

/// The hostile batches: (name, records).
pub fn inputs() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        ("empty", vec![Vec::new()]),
        ("empty-batch", Vec::new()),
        ("binary", vec![(0..=255u8).cycle().take(4096).collect()]),
        (
            "invalid-utf8",
            vec![
                b"\xff\xfe\xfd".to_vec(),
                b"{\"message\":\"\xc3\x28\"}".to_vec(),
            ],
        ),
        ("huge", vec![huge()]),
        ("gzip-bomb", vec![gzip_bomb().to_vec()]),
        ("truncated-gzip", vec![truncated_gzip()]),
        ("deep-nesting", deep_nesting()),
        ("many-records", vec![b"{}".to_vec(); MANY_RECORDS]),
    ]
}

/// One JSON object of [`HUGE_RECORD_BYTES`].
fn huge() -> Vec<u8> {
    let prefix = b"{\"message\":\"";
    let suffix = b"\"}";
    let mut out = Vec::with_capacity(HUGE_RECORD_BYTES);
    out.extend_from_slice(prefix);
    out.resize(HUGE_RECORD_BYTES - suffix.len(), b'x');
    out.extend_from_slice(suffix);
    out
}

/// Gzip of [`GZIP_BOMB_BYTES`] zero bytes (about 500 KiB), made once per
/// process (compressing 512 MiB takes a second).
fn gzip_bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(make_gzip_bomb)
}

fn make_gzip_bomb() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..GZIP_BOMB_BYTES / chunk.len() {
        if e.write_all(&chunk).is_err() {
            break;
        }
    }
    e.finish().unwrap_or_default()
}

/// The first half of a gzip of a JSON object.
fn truncated_gzip() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(huge().as_slice());
    let mut g = e.finish().unwrap_or_default();
    g.truncate(g.len() / 2);
    g
}

/// Arrays and objects nested [`NESTING_DEPTH`] deep.
fn deep_nesting() -> Vec<Vec<u8>> {
    let arrays = format!("{}{}", "[".repeat(NESTING_DEPTH), "]".repeat(NESTING_DEPTH));
    let objects = format!(
        "{}1{}",
        "{\"a\":".repeat(NESTING_DEPTH),
        "}".repeat(NESTING_DEPTH)
    );
    vec![arrays.into_bytes(), objects.into_bytes()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inputs_are_what_they_say() {
        let inputs = inputs();
        let get = |name: &str| &inputs.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(get("huge")[0].len(), HUGE_RECORD_BYTES);
        assert!(std::str::from_utf8(&get("invalid-utf8")[0]).is_err());
        assert!(std::str::from_utf8(&get("invalid-utf8")[1]).is_err());
        let bomb = &get("gzip-bomb")[0];
        assert!(crate::codec::is_gzip(bomb));
        assert!(bomb.len() < 4 << 20, "{}", bomb.len());
        // It inflates past a cap (the full size is not checked: 512 MiB).
        assert!(crate::codec::gunzip_capped(bomb, 1 << 20).is_err());
        assert_eq!(get("many-records").len(), MANY_RECORDS);
        assert!(get("deep-nesting")[0].len() == 2 * NESTING_DEPTH);
    }
}
