//! Tests of the scanner against `serde_json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

/// What serde_json makes of a record: its values, or `None` if it refuses.
fn serde_values(record: &[u8]) -> Option<Vec<serde_json::Value>> {
    let values: Result<Vec<serde_json::Value>, _> = serde_json::Deserializer::from_slice(record)
        .into_iter()
        .collect();
    values.ok().filter(|v| !v.is_empty())
}

/// Whatever the scanner accepts, serde_json accepts with the same
/// values, and the member's range holds the member's value.
fn agrees(record: &[u8], key: &str) -> bool {
    let Some(scanned) = scan(record, key) else {
        return false;
    };
    let values = serde_values(record)
        .unwrap_or_else(|| panic!("scan accepted what serde_json refuses: {record:?}"));
    assert_eq!(scanned.len(), values.len(), "{record:?}");
    for (s, v) in scanned.iter().zip(&values) {
        let parsed: serde_json::Value = serde_json::from_str(s.text).unwrap();
        assert_eq!(&parsed, v);
        let expected = v.as_object().and_then(|o| o.get(key));
        match &s.member {
            Member::At(r) => {
                let got: serde_json::Value = serde_json::from_str(&s.text[r.clone()]).unwrap();
                assert_eq!(Some(&got), expected, "{record:?}");
            }
            Member::Absent => assert_eq!(expected, None, "{record:?}"),
            Member::Unclear => {}
        }
    }
    true
}

#[test]
fn valid_json_is_accepted_and_members_found() {
    let accepted: &[&[u8]] = &[
        br#"{"timestamp":1576280412771,"a":"b"}"#,
        b" {\"a\" : [1, -2.5, 3e10, 0, -0, 1E+2, 4e-07], \"timestamp\" : \"x\\\"y\"}\n",
        br#"{"t":{"timestamp":1}}"#,
        br#"{"a":"\u00e9\ud83d\ude00 \\ \/ \b\f\n\r\t","b":[],"c":{},"d":[true,false,null]}"#,
        "{\"h\":\"caf\u{e9} \u{1f600} long string past eight bytes\"}".as_bytes(),
        b"{\"a\":1}\n{\"timestamp\":2}\r\n[1]\t\"s\" 3 true",
        b"\"a string\"",
        b"[[[[[[[[[[]]]]]]]]]]",
    ];
    for record in accepted {
        assert!(agrees(record, "timestamp"), "refused {record:?}");
    }
    let s = scan(br#"{"a":{"timestamp":1},"timestamp" : 12 }"#, "timestamp").unwrap();
    assert_eq!(s[0].member, Member::At(35..37));
}

#[test]
fn unclear_members() {
    for record in [
        &br#"{"t":1,"t":2}"#[..],
        br#"{"\u0074":1}"#,
        br#"{"a\n":1,"t":2}"#,
    ] {
        assert_eq!(scan(record, "t").unwrap()[0].member, Member::Unclear);
    }
    assert_eq!(scan(b"[1]", "t").unwrap()[0].member, Member::Absent);
}

#[test]
fn invalid_or_unusual_json_is_left_to_the_full_parse() {
    let refused: &[&[u8]] = &[
        b"",
        b"  \n",
        b"{",
        br#"{"a":}"#,
        br#"{"a":1,}"#,
        b"[1,]",
        br#"{"a" 1}"#,
        br#"{a:1}"#,
        b"{\"a\":\"tab\there\"}",
        br#"{"a":"\x"}"#,
        br#"{"a":"\u12"}"#,
        br#"{"a":"\ud800"}"#,
        br#"{"a":"\udc00"}"#,
        br#"{"a":"\ud800\u0041"}"#,
        b"{\"a\":\"\xff\"}",
        b"01",
        b"1.",
        b"-",
        b".5",
        b"1e",
        b"1e400",
        b"tru",
        b"nul",
        b"{}{}",
        b"{} x",
        b"\"unterminated",
    ];
    for record in refused {
        assert_eq!(scan(record, "t"), None, "accepted {record:?}");
    }
    let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    assert_eq!(scan(deep.as_bytes(), "t"), None);
    let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(scan(ok.as_bytes(), "t").is_some());
}

#[test]
fn every_position_of_a_special_byte_is_found() {
    // The eight-byte skip must stop at a quote, backslash or control
    // byte wherever it falls in a word.
    for len in 0..20 {
        for special in [b'"', b'\\', 0x01, 0x1f] {
            let mut s = vec![b'a'; len];
            s.push(special);
            s.extend_from_slice(b"tail");
            assert_eq!(skip_plain(&s, 0), len);
        }
        let mut s = "\u{e9}".repeat(len).into_bytes();
        s.push(b'"');
        assert_eq!(skip_plain(&s, 0), 2 * len);
    }
}

/// Every WAF sample, and thousands of single-byte mutations of them:
/// the scanner never accepts what serde_json refuses, and accepts every
/// sample as it came.
#[test]
fn mutations_of_the_samples_agree_with_serde_json() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/plugins/waf");
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "in") {
            samples.push(std::fs::read(&path).unwrap());
        }
    }
    assert!(samples.len() >= 5, "samples in {}", dir.display());
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"{}[]:,\"\\ \t\n0123456789-+.eEtrufalsn/u\x01\x7fa\xc3\xa9";
    let (mut accepted, mut refused) = (0, 0);
    for sample in &samples {
        if serde_values(sample).is_some() {
            assert!(agrees(sample, "timestamp"), "a sample was refused");
        }
        for _ in 0..2_000 {
            let mut m = sample.clone();
            let at = (next() as usize) % m.len().max(1);
            let byte = alphabet[(next() as usize) % alphabet.len()];
            match next() % 3 {
                0 if !m.is_empty() => m[at] = byte,
                1 => m.insert(at, byte),
                _ if !m.is_empty() => {
                    m.remove(at);
                }
                _ => {}
            }
            if agrees(&m, "timestamp") {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
    }
    // Both sides are exercised.
    assert!(accepted > 100 && refused > 100, "{accepted} {refused}");
}

#[test]
fn visits_members_of_the_chosen_objects() {
    let record = br#"{"a":1,"h":{"x":"y","hs":[{"name":"UA","value":"c\"u"},{"name":"b"}]},"t":2}
{"\u0061":{"k":true}}"#;
    let mut seen: Vec<(usize, Vec<String>, String, bool, usize, String)> = Vec::new();
    let text = std::str::from_utf8(record).unwrap();
    let into: Paths<'_> = &[
        VisitAt::all(&[]),
        VisitAt::all(&[b"h"]),
        VisitAt::all(&[b"h", b"hs"]),
        VisitAt::all(&[br"\u0061"]),
    ];
    let scanned = scan_visit(record, "t", into, |v: &Visit<'_, '_>| {
        seen.push((
            v.value,
            v.path
                .iter()
                .map(|p| String::from_utf8(p.to_vec()).unwrap())
                .collect(),
            String::from_utf8(v.key.to_vec()).unwrap(),
            v.escaped,
            v.object,
            text[v.range.clone()].to_string(),
        ));
    })
    .unwrap();
    assert_eq!(scanned.len(), 2);
    let Member::At(t) = scanned[0].member.clone() else {
        panic!("t not found")
    };
    assert_eq!(&scanned[0].text[t], "2");
    let h = &text[text.find(r#"{"x""#).unwrap()..text.find(r#","t""#).unwrap()];
    let brief: Vec<(usize, String, &str, bool, &str)> = seen
        .iter()
        .map(|(v, p, k, e, _, r)| (*v, p.join("."), k.as_str(), *e, r.as_str()))
        .collect();
    assert_eq!(
        brief,
        [
            (0, String::new(), "a", false, "1"),
            (0, "h".into(), "x", false, r#""y""#),
            (0, "h.hs".into(), "name", false, r#""UA""#),
            (0, "h.hs".into(), "value", false, r#""c\"u""#),
            (0, "h.hs".into(), "name", false, r#""b""#),
            (
                0,
                "h".into(),
                "hs",
                false,
                r#"[{"name":"UA","value":"c\"u"},{"name":"b"}]"#
            ),
            (0, String::new(), "h", false, h),
            (0, String::new(), "t", false, "2"),
            (1, r"\u0061".into(), "k", true, "true"),
            (1, String::new(), r"\u0061", true, r#"{"k":true}"#),
        ]
    );
    // the two headers are two objects
    assert_eq!(seen[2].4, seen[3].4);
    assert_ne!(seen[2].4, seen[4].4);
    // top-level members only
    let mut top = Vec::new();
    scan_visit(record, "t", &[VisitAt::all(&[])], |v: &Visit<'_, '_>| {
        assert!(v.path.is_empty());
        top.push((v.raw, v.plain));
    })
    .unwrap();
    assert_eq!(top.len(), 4);
    assert_eq!(top[0], ("1", None));
    assert_eq!(top[2], ("2", None));
    // an invalid record: None
    assert!(scan_visit(b"{\"a\":{\"b\":1}", "t", into, |_: &Visit<'_, '_>| {}).is_none());
}

#[test]
fn visited_strings_are_plain_without_escapes() {
    let mut strings = Vec::new();
    scan_visit(
        br#"{"a":"x","b":"\u0079","c":{"d":"z"}}"#,
        "t",
        &[VisitAt::all(&[])],
        |v: &Visit<'_, '_>| {
            strings.push((v.raw, v.plain));
        },
    )
    .unwrap();
    assert_eq!(
        strings,
        [
            (r#""x""#, Some("x")),
            (r#""\u0079""#, None),
            (r#"{"d":"z"}"#, None)
        ]
    );
}

#[test]
fn string_literals() {
    use crate::json::json_str;
    assert_eq!(json_str(r#""abc""#).as_deref(), Some("abc"));
    assert!(matches!(
        json_str(r#""abc""#),
        Some(std::borrow::Cow::Borrowed(_))
    ));
    assert_eq!(json_str(r#""a\"b\u00e9""#).as_deref(), Some("a\"bé"));
    assert_eq!(json_str("12"), None);
    assert_eq!(json_str(r#""a"#), None);
}

#[test]
fn visits_only_the_named_members() {
    let record =
        br#"{"a":1,"g":{"k":2,"x":3},"h":{"x":{"k":4},"hs":[{"k":5},[{"k":6}]],"k":7},"t":8}"#;
    let into: Paths<'_> = &[
        VisitAt::only(&[], &[b"h", b"t", b"missing"]),
        VisitAt::only(&[b"h"], &[b"hs"]),
        VisitAt::only(&[b"h", b"hs"], &[b"k"]),
    ];
    let mut seen = Vec::new();
    let scanned = scan_visit(record, "t", into, |v: &Visit<'_, '_>| {
        let path: Vec<&[u8]> = v.path.to_vec();
        seen.push((path.concat(), v.key.to_vec(), v.raw.to_string()));
    })
    .unwrap();
    assert!(matches!(scanned[0].member, Member::At(_)));
    let seen: Vec<(String, String, String)> = seen
        .into_iter()
        .map(|(p, k, r)| {
            (
                String::from_utf8(p).unwrap(),
                String::from_utf8(k).unwrap(),
                r,
            )
        })
        .collect();
    let s = |p: &str, k: &str, r: &str| (p.to_string(), k.to_string(), r.to_string());
    assert_eq!(
        seen,
        [
            s("hhs", "k", "5"),
            s("hhs", "k", "6"),
            s("h", "hs", r#"[{"k":5},[{"k":6}]]"#),
            s("", "h", r#"{"x":{"k":4},"hs":[{"k":5},[{"k":6}]],"k":7}"#),
            s("", "t", "8"),
        ]
    );
    // a name sharing another's mask bit is still told apart
    let names: &[&[u8]] = &[b"ab", b"bb"];
    let at = VisitAt::only(&[], names);
    assert_eq!(
        (at.wants(b"ab"), at.wants(b"bb")),
        (Some(Some(0)), Some(Some(1)))
    );
    assert!(at.wants(b"cb").is_none() && at.wants(b"a").is_none() && at.wants(b"").is_none());
    assert_eq!(VisitAt::all(&[]).wants(b"anything"), Some(None));
    let names: &[&[u8]] = &[b"abcd", b"abcdefgh", b"abcdefghijklmnopq", b"abcdefghijkl"];
    let at = VisitAt::only(&[], names);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(at.wants(name), Some(Some(i)));
    }
    for name in [
        &b"abce"[..],
        b"abcdefgi",
        b"abcdefghijklmnopr",
        b"abcdefghijkm",
        b"xbcdefghijkl",
    ] {
        assert_eq!(at.wants(name), None);
    }
}
