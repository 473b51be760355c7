//! Capped decoding helpers. Gzip is never decoded without a cap in Weir;
//! `clippy.toml` forbids the raw decoders everywhere else.

pub use weir_common::gzip::{GunzipError, gunzip_capped, is_gzip};

/// The size gzip `data` announces in its trailer (ISIZE: the last member's
/// input size, mod 2^32), if it looks like gzip. A claim, not a bound: use
/// it to reserve ahead, and keep the cap and the meter.
pub fn gzip_announced_len(data: &[u8]) -> Option<usize> {
    if !is_gzip(data) || data.len() < 18 {
        return None;
    }
    let t = data.get(data.len() - 4..)?;
    Some(u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize)
}

/// [`gunzip_metered`] asks for this many bytes at a time (a lock of the
/// memory budget per MiB inflated, not per read).
pub const METER_STEP: usize = 1024 * 1024;

/// Why [`gunzip_metered`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeteredError<E> {
    /// As [`gunzip_capped`].
    Gunzip(GunzipError),
    /// `grant` refused the next step.
    Refused(E),
}

/// [`gunzip_capped`] that asks `grant` for every [`METER_STEP`] bytes
/// before it inflates them, so a memory budget is taken as the output
/// grows, not after. The steps granted may exceed the output by less than
/// one step; the caller knows the output's length and settles.
#[allow(clippy::disallowed_types)] // capped like `gunzip_capped`
pub fn gunzip_metered<E>(
    data: &[u8],
    cap: usize,
    mut grant: impl FnMut(usize) -> Result<(), E>,
) -> Result<Vec<u8>, MeteredError<E>> {
    use std::io::Read;
    let mut decoder = flate2::read::MultiGzDecoder::new(data);
    let mut out = Vec::new();
    loop {
        // One byte past the cap tells "exactly cap" from "more than cap".
        let step = METER_STEP.min(cap + 1 - out.len());
        grant(step).map_err(MeteredError::Refused)?;
        let read = (&mut decoder)
            .take(step as u64)
            .read_to_end(&mut out)
            .map_err(|e| MeteredError::Gunzip(GunzipError::Invalid(e.to_string())))?;
        if out.len() > cap {
            return Err(MeteredError::Gunzip(GunzipError::TooLarge { cap }));
        }
        if read < step {
            return Ok(out);
        }
    }
}

/// How many bytes gzip `data` inflates to, at most `cap + 1` (past the
/// cap it stops), counted through a small buffer without keeping the
/// output, with [`gunzip_metered`]'s `grant` per step. Invalid gzip counts
/// what inflated before the error.
#[allow(clippy::disallowed_types)] // capped: stops past `cap`
pub fn inflated_len_metered<E>(
    data: &[u8],
    cap: usize,
    mut grant: impl FnMut(usize) -> Result<(), E>,
) -> Result<usize, E> {
    use std::io::Read;
    let mut decoder = flate2::read::MultiGzDecoder::new(data);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut granted) = (0usize, 0usize);
    while total <= cap {
        if total >= granted {
            let step = METER_STEP.min(cap + 1 - granted);
            grant(step)?;
            granted += step;
        }
        let want = buf.len().min(granted - total);
        match decoder.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    Ok(total)
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
    fn metered_gunzip_asks_before_it_inflates() {
        let data = vec![b'x'; 5 * METER_STEP / 2];
        let gz = gzip(&data);
        let mut asked = Vec::new();
        let out = gunzip_metered(&gz, 10 * METER_STEP, |n| {
            asked.push(n);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(out, data);
        assert_eq!(asked, [METER_STEP; 3]);
        // Refused at the third step: stops with what the meter said.
        let mut left = 2;
        let refused = gunzip_metered(&gz, 10 * METER_STEP, |_| {
            if left == 0 {
                return Err("full");
            }
            left -= 1;
            Ok(())
        });
        assert_eq!(refused, Err(MeteredError::Refused("full")));
        // The cap as `gunzip_capped`'s, with the steps up to it asked.
        let mut total = 0;
        let capped = gunzip_metered(&gz, METER_STEP + 10, |n| {
            total += n;
            Ok::<(), ()>(())
        });
        assert_eq!(
            capped,
            Err(MeteredError::Gunzip(GunzipError::TooLarge {
                cap: METER_STEP + 10
            }))
        );
        assert_eq!(total, METER_STEP + 11);
        assert!(matches!(
            gunzip_metered(b"not gzip", 10, |_| Ok::<(), ()>(())),
            Err(MeteredError::Gunzip(GunzipError::Invalid(_)))
        ));
    }

    #[test]
    fn the_trailer_announces_the_size() {
        let gz = gzip(&vec![b'z'; 123_456]);
        assert_eq!(gzip_announced_len(&gz), Some(123_456));
        assert_eq!(gzip_announced_len(b"{}"), None);
        assert_eq!(gzip_announced_len(&gz[..10]), None);
    }

    #[test]
    fn inflated_len_counts_without_keeping() {
        let data = vec![b'y'; 3 * METER_STEP + 5];
        let gz = gzip(&data);
        let mut asked = 0;
        let n = inflated_len_metered(&gz, 64 * METER_STEP, |s| {
            asked += s;
            Ok::<(), ()>(())
        });
        assert_eq!(n, Ok(data.len()));
        assert_eq!(asked, 4 * METER_STEP);
        assert_eq!(
            inflated_len_metered(&gz, 100, |_| Ok::<(), ()>(())),
            Ok(101),
            "stops past the cap"
        );
        assert_eq!(inflated_len_metered(&gz, 1 << 30, |_| Err("no")), Err("no"));
        assert_eq!(
            inflated_len_metered(b"\x1f\x8bbroken", 100, |_| Ok::<(), ()>(())),
            Ok(0)
        );
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
