//! The SDK's JSON scanner (`weir_plugin_sdk::json`): `scan`, `scan_visit`,
//! `json_str` and `push_json_string`, checked against `serde_json`.

use serde_json::Value;
use weir_plugin_sdk::json::{
    Member, Scanned, VisitAt, json_str, push_json_string, scan, scan_visit,
};

use super::{Fnv, Target, bucket};

/// The scanner.
pub const SCANNER: Target = Target {
    name: "scanner",
    about: "SDK JSON scanner: scan/scan_visit agree with each other and with serde_json; json_str, push_json_string round trip",
    run: scanner,
    fixtures: &[
        ("tests/fixtures/plugins/waf", ".in"),
        ("tests/fixtures/plugins/securityhub", ".in"),
        ("tests/fixtures/plugins/route53-resolver", ".in"),
    ],
    seed: scanner_seeds,
    dictionary: &[
        b"\"\\u0000\"",
        b"\"\\ud800\"",
        b"\"\\ud83d\\ude00\"",
        b"\\\"",
        b"{}",
        b"[]",
        b"null",
        b"true",
        b"-0.0e-0",
        b"\"timestamp\"",
        b"\"detail\"",
    ],
    max_len: 16 * 1024,
};

/// The keys looked for (by the first byte of an input).
pub const KEYS: &[&str] = &[
    "timestamp",
    "message",
    "a",
    "Id",
    "detail",
    "",
    "é",
    "\"",
    "findings",
];

/// The objects visited: the top level, `detail`, and the `Id` of the
/// objects in `detail.findings` (as the Security Hub plugin reads).
pub const INTO: &[VisitAt<'static>] = &[
    VisitAt::all(&[]),
    VisitAt::all(&[b"detail"]),
    VisitAt::only(&[b"detail", b"findings"], &[b"Id", b"UpdatedAt"]),
];

/// A fixture record as inputs, with several keys.
fn scanner_seeds(file: &[u8]) -> Vec<Vec<u8>> {
    [0u8, 3, 4]
        .iter()
        .map(|k| [&[*k][..], file].concat())
        .collect()
}

/// Input: a byte choosing the key ([`KEYS`]), then the record.
pub fn scanner(data: &[u8]) -> u64 {
    let Some((&k, record)) = data.split_first() else {
        return 0;
    };
    let key = KEYS[usize::from(k) % KEYS.len()];
    let scanned = scan(record, key);
    let mut visits = Vec::new();
    let visited = scan_visit(record, key, INTO, |v| {
        assert_eq!(
            v.raw.as_bytes(),
            &record[v.range.clone()],
            "raw is the range"
        );
        assert!(v.at < INTO.len());
        if let Some(plain) = v.plain {
            assert_eq!(
                v.raw,
                format!("\"{plain}\""),
                "plain is the unescaped string"
            );
        }
        visits.push(v.raw.to_string());
    });
    assert_eq!(scanned, visited, "scan and scan_visit disagree");
    let mut h = Fnv::new(u64::from(scanned.is_some()));
    if let Some(values) = &scanned {
        check_against_serde(record, key, values);
        for raw in &visits {
            let Ok(parsed) = serde_json::from_str::<Value>(raw) else {
                panic!("visited {raw:?} is not JSON in a record scanned as valid");
            };
            if let Value::String(s) = parsed {
                assert_eq!(json_str(raw).as_deref(), Some(s.as_str()), "json_str");
            }
        }
        h.write_u64(bucket(values.len()));
        for v in values {
            h.write(match v.member {
                Member::Absent => 0,
                Member::At(_) => 1,
                Member::Unclear => 2,
            });
        }
        h.write_u64(bucket(visits.len()));
    }
    // Any text written as a JSON string reads back the same.
    let text = String::from_utf8_lossy(record);
    let mut out = String::new();
    push_json_string(&mut out, &text);
    assert_eq!(
        serde_json::from_str::<String>(&out).ok().as_deref(),
        Some(&*text)
    );
    assert_eq!(serde_json::to_string(&*text).ok(), Some(out));
    h.finish()
}

/// A record `scan` calls valid is valid to `serde_json`, value by value,
/// and the member found is the one `serde_json` reads.
fn check_against_serde(record: &[u8], key: &str, values: &[Scanned<'_>]) {
    let stream: Result<Vec<Value>, _> = serde_json::Deserializer::from_slice(record)
        .into_iter::<Value>()
        .collect();
    let stream = match stream {
        Ok(s) => s,
        Err(e) => panic!("scanned as valid, serde_json says {e}"),
    };
    assert_eq!(stream.len(), values.len(), "value count");
    for (v, expected) in values.iter().zip(&stream) {
        assert_eq!(v.text, v.text.trim(), "value text has whitespace around it");
        let parsed: Value = match serde_json::from_str(v.text) {
            Ok(p) => p,
            Err(e) => panic!("value text {:?} does not parse: {e}", v.text),
        };
        assert_eq!(&parsed, expected, "value text is not the value");
        let field = expected.as_object().and_then(|o| o.get(key));
        match &v.member {
            Member::At(range) => {
                let Some(raw) = v.text.get(range.clone()) else {
                    panic!("member range {range:?} outside the value");
                };
                let Ok(member) = serde_json::from_str::<Value>(raw) else {
                    panic!("member text {raw:?} does not parse");
                };
                assert_eq!(Some(&member), field, "member {key:?} is not the value's");
            }
            Member::Absent => assert_eq!(field, None, "member {key:?} said absent"),
            Member::Unclear => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_records() {
        for record in [
            &br#"{"timestamp":1,"a":{"b":[1,2]}} {"timestamp":"x"}"#[..],
            br#"{"detail":{"findings":[{"Id":"i","UpdatedAt":"u"}]}}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"\u0061":1}"#,
            b"[1,2",
            b"\xff",
            b"",
        ] {
            for k in 0..KEYS.len() as u8 {
                scanner(&[&[k][..], record].concat());
            }
        }
    }
}
