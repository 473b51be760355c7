//! Gzip detection and the capped gunzip: gzip is never decoded without a
//! cap, so a few KiB of input cannot exhaust memory.

use std::io::Read;

/// The gzip magic bytes (RFC 1952).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `data` starts like a gzip stream ([`GZIP_MAGIC`]).
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Why [`gunzip_capped`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    /// The decompressed data would exceed the cap (a gzip bomb, or a cap set too low).
    #[error("gzip data decompresses to more than the cap of {cap} bytes")]
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
    },
    /// The data is not a valid gzip stream.
    #[error("invalid gzip data: {0}")]
    Invalid(String),
}

/// Decompress gzip data (every member), refusing to produce more than `cap`
/// bytes. Memory use is bounded by `cap` whatever the input.
///
/// This is the only way Weir decompresses gzip: an uncapped decoder lets a
/// few KiB of input exhaust the memory of the host or of a plugin.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
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
        assert_eq!(
            GunzipError::TooLarge { cap: 1 }.to_string(),
            "gzip data decompresses to more than the cap of 1 bytes"
        );
        let invalid = gunzip_capped(b"\x1f\x8bnot gzip", 100).unwrap_err();
        assert!(matches!(invalid, GunzipError::Invalid(_)));
        assert!(invalid.to_string().starts_with("invalid gzip data: "));
        assert!(is_gzip(&gz));
        assert!(!is_gzip(b"{}"));
    }

    #[test]
    fn gunzip_reads_every_member() {
        let mut two = gzip(b"one\n");
        two.extend(gzip(b"two\n"));
        assert_eq!(gunzip_capped(&two, 100).unwrap(), b"one\ntwo\n");
    }
}
