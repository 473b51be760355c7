//! The intake's decoders: the Firehose envelope decoder
//! (`weir::firehose::decode_body_metered`, with the common-attributes
//! header parser) and the capped gunzip (`weir::codec`'s
//! `gunzip_capped`, `gunzip_metered` and `inflated_len_metered`).

use base64::Engine as _;
use http::StatusCode;
use weir::codec::{self, GunzipError, MeteredError};
use weir::firehose::{self, Limits, RequestError, RequestHeaders};

use super::{Fnv, Target, bucket, class};

/// The envelope decoder.
pub const ENVELOPE: Target = Target {
    name: "envelope",
    about: "Firehose request body: gunzip (capped, metered), envelope JSON, base64 records, limits; common-attributes header",
    run: envelope,
    fixtures: &[("tests/fixtures/firehose", ".json")],
    seed: envelope_seeds,
    dictionary: &[
        b"\"requestId\"",
        b"\"timestamp\"",
        b"\"records\"",
        b"\"data\"",
        b"\"commonAttributes\"",
        b"\"aGVsbG8=\"",
        b"\"\"",
        b"\"=\"",
        b"\"AA==\"",
        b"[{\"data\":\"e30=\"}]",
    ],
    max_len: 16 * 1024,
};

/// The limits an envelope input runs under (bits 4–5 of its first byte):
/// Firehose's own, and small ones that the other branches reach.
pub const ENVELOPE_LIMITS: [(usize, usize); 4] = [
    (
        firehose::FIREHOSE_MAX_BODY_BYTES,
        firehose::FIREHOSE_MAX_RECORDS,
    ),
    (1024, 2),
    (64 * 1024, 500),
    (200, 10_000),
];

/// With bit 6 of the first byte, the memory meter refuses past this many bytes.
pub const ENVELOPE_BUDGET: usize = 4096;

/// A fixture request as inputs: plain, gzipped, under small limits, with
/// a mismatching header request id.
fn envelope_seeds(file: &[u8]) -> Vec<Vec<u8>> {
    [0x00u8, 0x01, 0x10, 0x04, 0x41, 0x80]
        .iter()
        .map(|flags| [&[*flags][..], file].concat())
        .collect()
}

/// Input: a flags byte, then the body. Flags: bit 0 gzip the body first
/// (a valid gzip body), bit 1 send it as gzip without compressing it
/// (bad or mutated gzip), bit 2 a header request id `other-id`, bits 4–5
/// the limits ([`ENVELOPE_LIMITS`]), bit 6 a memory meter that refuses
/// past [`ENVELOPE_BUDGET`], bit 7 also parse the body as an
/// `X-Amz-Firehose-Common-Attributes` value.
pub fn envelope(data: &[u8]) -> u64 {
    let Some((&flags, rest)) = data.split_first() else {
        return 0;
    };
    let gzip = flags & 0b11 != 0;
    let body = if flags & 1 != 0 {
        codec::gzip(rest)
    } else {
        rest.to_vec()
    };
    let header_id = (flags & 4 != 0).then(|| "other-id".to_string());
    let headers = RequestHeaders {
        request_id: header_id.clone(),
        gzip,
        source_arn: None,
        common_attributes: Vec::new(),
    };
    let (max_body_bytes, max_records) = ENVELOPE_LIMITS[usize::from(flags >> 4) & 3];
    let limits = Limits {
        max_body_bytes,
        max_records,
        ..Limits::default()
    };
    let metered = flags & 0x40 != 0;
    let mut granted = 0usize;
    let result = firehose::decode_body_metered(&headers, &body, &limits, &mut |n| {
        if metered && granted + n > ENVELOPE_BUDGET {
            return Err(RequestError::Unavailable("fuzz budget".into()));
        }
        granted += n;
        Ok(())
    });
    let mut h = Fnv::new(u64::from(flags & 0x7f));
    match result {
        Ok(req) => {
            // The JSON the decoder read: ours, or what the gzip sent holds.
            let json = if flags & 1 != 0 || !gzip {
                Some(rest.to_vec())
            } else {
                codec::gunzip_capped(rest, limits.max_body_bytes).ok()
            };
            let id = header_id.as_deref();
            check_request(&req, json.as_deref(), gzip, id, &limits, granted);
            h.write_u64(bucket(req.records.len()));
        }
        Err(e) => {
            check_error(&e, &body, &limits, metered);
            h.write_u64(class(1, &e.to_string()));
        }
    }
    if flags & 0x80 != 0 {
        h.write_u64(common_attributes(rest));
    }
    h.finish()
}

/// What every decoded request must be.
fn check_request(
    req: &firehose::FirehoseRequest,
    json: Option<&[u8]>,
    gzip: bool,
    header_id: Option<&str>,
    limits: &Limits,
    granted: usize,
) {
    assert!(req.records.len() <= limits.max_records, "over max_records");
    assert!(
        req.json_bytes <= limits.max_body_bytes,
        "over max_body_bytes"
    );
    assert!(
        (1..=firehose::MAX_REQUEST_ID_LEN).contains(&req.request_id.len())
            && req
                .request_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
        "request id {:?} accepted",
        req.request_id
    );
    assert!(firehose::TIMESTAMP_RANGE_MS.contains(&req.timestamp_ms));
    if let Some(h) = header_id {
        assert_eq!(h, req.request_id, "header and body ids differ");
    }
    // The meter was asked for everything that grew with the request.
    let decoded: usize = req.records.iter().map(Vec::len).sum();
    let inflated = if gzip { req.json_bytes } else { 0 };
    assert!(
        granted >= decoded + inflated,
        "granted {granted} < decoded {decoded} + inflated {inflated}"
    );
    // Each record is exactly its `data`: strict, canonical base64.
    let Some(json) = json else {
        panic!("accepted a body that does not gunzip");
    };
    assert_eq!(json.len(), req.json_bytes, "json_bytes");
    let value: serde_json::Value = match serde_json::from_slice(json) {
        Ok(v) => v,
        Err(e) => panic!("accepted invalid JSON: {e}"),
    };
    let Some(records) = value.get("records").and_then(|r| r.as_array()) else {
        panic!("accepted without a records array");
    };
    assert_eq!(records.len(), req.records.len(), "record count");
    for (r, decoded) in records.iter().zip(&req.records) {
        let data = r.get("data").and_then(|d| d.as_str());
        let encoded = base64::engine::general_purpose::STANDARD.encode(decoded);
        assert_eq!(data, Some(encoded.as_str()), "record data round trip");
    }
}

/// What every refusal must be: the caller's fault (4xx; Firehose does not
/// retry 413, so only above the limits), or the meter's refusal.
fn check_error(e: &RequestError, body: &[u8], limits: &Limits, metered: bool) {
    let status = e.status();
    assert!(
        [
            StatusCode::BAD_REQUEST,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(&status),
        "{e:?} answers {status}"
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(metered, "503 without a meter: {e:?}");
    }
    match e {
        RequestError::BodyTooLarge { limit } => assert!(body.len() > *limit),
        RequestError::TooManyRecords { count, limit } => assert!(count > limit),
        RequestError::DecompressedTooLarge { limit } => {
            assert_eq!(*limit, limits.max_body_bytes);
        }
        _ => {}
    }
    assert!(!e.public_message(Some("r")).is_empty());
}

/// `X-Amz-Firehose-Common-Attributes`: pairs in order, or a 400.
fn common_attributes(raw: &[u8]) -> u64 {
    match firehose::parse_common_attributes(raw) {
        Ok(pairs) => {
            let value: serde_json::Value = match serde_json::from_slice(raw) {
                Ok(v) => v,
                Err(e) => panic!("attributes accepted from invalid JSON: {e}"),
            };
            let map = value.get("commonAttributes").and_then(|m| m.as_object());
            let Some(map) = map else {
                panic!("attributes accepted without a commonAttributes object");
            };
            // In order; a repeated key: the last value, as a JSON object reads.
            for (i, (k, v)) in pairs.iter().enumerate() {
                if pairs[i + 1..].iter().all(|(later, _)| later != k) {
                    assert_eq!(map.get(k).and_then(|v| v.as_str()), Some(v.as_str()));
                }
            }
            let mut keys: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), map.len(), "attributes lost or made up");
            bucket(pairs.len())
        }
        Err(e) => {
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            class(2, &e.to_string())
        }
    }
}

/// The capped gunzip.
pub const GUNZIP: Target = Target {
    name: "gunzip",
    about: "capped gunzip: gunzip_capped, gunzip_metered, inflated_len_metered agree and never exceed the cap",
    run: gunzip,
    fixtures: &[("tests/fixtures/firehose", ".gz")],
    seed: gunzip_seeds,
    dictionary: &[
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
        b"\x03\x00",
        b"\x00\x00\xff\xff",
    ],
    max_len: 16 * 1024,
};

/// A gzip fixture as inputs: as is with a cap above, at and below its
/// size; and its bytes compressed again (round trip).
fn gunzip_seeds(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (flags, cap) in [(0u8, 60_000u16), (0, 100), (2, 40), (1, 5000), (5, 200)] {
        let mut input = vec![flags];
        input.extend_from_slice(&cap.to_le_bytes());
        input.extend_from_slice(file);
        out.push(input);
    }
    out
}

/// Input: a flags byte, a cap (`u16`, little-endian), then the data.
/// Flags: bit 0 compress the data first (a round trip), bit 1 the cap
/// times 256, bit 2 with bit 0, two gzip members (split in the middle).
pub fn gunzip(data: &[u8]) -> u64 {
    let [flags, c0, c1, rest @ ..] = data else {
        return 0;
    };
    let mut cap = usize::from(u16::from_le_bytes([*c0, *c1]));
    if flags & 2 != 0 {
        cap <<= 8;
    }
    let round_trip = flags & 1 != 0;
    let gz = if !round_trip {
        rest.to_vec()
    } else if flags & 4 != 0 {
        let (a, b) = rest.split_at(rest.len() / 2);
        [codec::gzip(a), codec::gzip(b)].concat()
    } else {
        codec::gzip(rest)
    };
    let capped = codec::gunzip_capped(&gz, cap);
    let mut asked = Vec::new();
    let metered = codec::gunzip_metered(&gz, cap, |n| {
        asked.push(n);
        Ok::<(), ()>(())
    });
    let len = codec::inflated_len_metered(&gz, cap, |_| Ok::<(), ()>(()));
    let _ = codec::gzip_announced_len(&gz);
    // Metered asks before it inflates: never less than it inflated.
    if let Ok(out) = &metered {
        assert!(asked.iter().sum::<usize>() >= out.len(), "inflated unasked");
    }
    let len = len.unwrap_or(0); // the grant never refuses
    assert!(len <= cap + 1, "counted {len} past cap {cap}");
    if round_trip {
        let expected = if rest.len() <= cap {
            Ok(rest.to_vec())
        } else {
            Err(GunzipError::TooLarge { cap })
        };
        assert_eq!(capped, expected, "round trip");
        assert_eq!(len, rest.len().min(cap + 1));
    }
    match (&capped, metered) {
        (Ok(a), Ok(b)) => {
            assert!(a.len() <= cap, "{} bytes past cap {cap}", a.len());
            assert_eq!(a, &b, "capped and metered differ");
            assert_eq!(len, a.len(), "inflated_len");
        }
        (
            Err(GunzipError::TooLarge { cap: c }),
            Err(MeteredError::Gunzip(GunzipError::TooLarge { cap: d })),
        ) => {
            assert_eq!((*c, d), (cap, cap));
            assert_eq!(len, cap + 1, "inflated_len past the cap");
        }
        (Err(GunzipError::Invalid(_)), Err(MeteredError::Gunzip(GunzipError::Invalid(_)))) => {}
        (a, b) => panic!("capped {a:?} and metered {b:?} disagree"),
    }
    match capped {
        Ok(out) => Fnv::new(u64::from(round_trip)).finish() ^ bucket(out.len()),
        Err(e) => class(3, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAF: &[u8] =
        include_bytes!("../../../../tests/fixtures/firehose/derived_request_waf-direct-put.json");

    #[test]
    fn a_fixture_request_decodes_under_every_flag() {
        for input in envelope_seeds(WAF) {
            envelope(&input);
        }
        // different classes for a good request and a mismatching id
        assert_ne!(
            envelope(&[&[0u8][..], WAF].concat()),
            envelope(&[&[4u8][..], WAF].concat())
        );
    }

    #[test]
    fn gunzip_round_trips_around_the_cap() {
        for cap in [0u16, 1, 9, 10, 11, 4000] {
            let mut input = vec![1u8];
            input.extend_from_slice(&cap.to_le_bytes());
            input.extend_from_slice(b"0123456789");
            gunzip(&input);
            input[0] = 5;
            gunzip(&input);
        }
        gunzip(b"\x00\x10\x00\x1f\x8bnot gzip");
    }
}
