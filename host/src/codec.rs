//! Capped decoding helpers. Gzip is never decoded without a cap in Weir;
//! `clippy.toml` forbids the raw decoders everywhere else.

pub use weir_common::gzip::{GunzipError, gunzip_capped, is_gzip};

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
