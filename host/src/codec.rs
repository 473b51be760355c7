//! Capped decoding helpers. Gzip is never decoded without a cap in Weir;
//! `clippy.toml` forbids the raw decoders everywhere else.

use std::io::Read;

/// Why [`gunzip_capped`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    /// The data decompresses to more than the cap (a gzip bomb, or an oversized body).
    #[error("gzip data decompresses to more than {cap} bytes")]
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
    },
    /// Not a valid gzip stream.
    #[error("invalid gzip data: {0}")]
    Invalid(String),
}

/// Decompress gzip data (every member), refusing to produce more than `cap` bytes.
/// Memory use is bounded by `cap` whatever the input.
#[allow(clippy::disallowed_types)] // this is the capped helper
pub fn gunzip_capped(data: &[u8], cap: usize) -> Result<Vec<u8>, GunzipError> {
    let decoder = flate2::read::MultiGzDecoder::new(data);
    // One byte past the cap tells "exactly cap" from "more than cap".
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

/// Gzip `data` (level 6): S3 objects, gzip `_bulk` bodies, tests and the demo.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_cap() {
        let data = b"hello hello hello".repeat(100);
        let gz = gzip(&data);
        assert_eq!(gunzip_capped(&gz, data.len()).unwrap(), data);
        assert_eq!(
            gunzip_capped(&gz, data.len() - 1),
            Err(GunzipError::TooLarge {
                cap: data.len() - 1
            })
        );
        assert!(matches!(
            gunzip_capped(b"not gzip", 10),
            Err(GunzipError::Invalid(_))
        ));
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        // 64 MiB of zeros compresses to ~64 KiB; with a 1 MiB cap it must stop early.
        let gz = gzip(&vec![0u8; 64 << 20]);
        assert!(gz.len() < 128 << 10);
        assert_eq!(
            gunzip_capped(&gz, 1 << 20),
            Err(GunzipError::TooLarge { cap: 1 << 20 })
        );
    }
}
