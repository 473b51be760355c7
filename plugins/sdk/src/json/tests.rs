use std::borrow::Cow;

use super::*;

#[test]
fn json_values_reads_every_value() {
    assert_eq!(json_values(b"{\"a\":1}\n{\"b\":2}\n").unwrap().len(), 2);
    assert!(json_values(b"  \n").is_err());
    assert!(json_values(b"{\"a\":").is_err());
}

#[test]
fn json_strings_match_serde_json() {
    for s in [
        "",
        "plain",
        "quote \" backslash \\ slash /",
        "ctl \u{0} \u{1} \u{8} \u{c} \u{1f} \n\r\t",
        "unicode é ✓ 😀 \u{7f}",
        "\"",
        "a long plain run past eight bytes \" then more\u{1}and é✓ at the end\\",
        "12345678\"2345678\n",
    ] {
        let mut out = String::from("x");
        push_json_string(&mut out, s);
        assert_eq!(out, format!("x{}", serde_json::to_string(s).unwrap()));
    }
}

#[test]
fn json_text_helpers() {
    for (text, kind) in [
        ("[1]", "an array"),
        ("\"s\"", "a string"),
        ("true", "a boolean"),
        ("null", "null"),
        ("-1.5", "a number"),
        ("{}", "an object"),
    ] {
        assert_eq!(json_kind_at(text), kind);
    }
    assert!(json_kind_at("nope").starts_with("invalid JSON: "));
    assert_eq!(trim_json_ws(" \t\r\n x \n"), "x \n");
    assert_eq!(trim_json_ws("\u{a0}x"), "\u{a0}x");

    #[derive(Debug, serde::Deserialize)]
    struct A<'a> {
        #[serde(borrow)]
        a: Option<Loose<'a>>,
    }
    let (v, used): (A<'_>, usize) = json_value_at(r#"{"a":"x"} {"a":2}"#, "bad").unwrap();
    assert_eq!((v.a, used), (Some(Loose::Str(Cow::Borrowed("x"))), 9));
    let shape = json_value_at::<A<'_>>(r#"{"a":1,"a":2}"#, "bad shape").unwrap_err();
    assert!(
        shape.starts_with("bad shape: duplicate field `a`"),
        "{shape}"
    );
    let syntax = json_value_at::<A<'_>>(r#"{"a":"#, "bad shape").unwrap_err();
    assert!(syntax.starts_with("invalid JSON: "), "{syntax}");
    assert_eq!(
        json_value_at::<A<'_>>(" ", "x").err().as_deref(),
        Some("empty record: no JSON value")
    );
}

#[test]
fn loose_values_keep_strings_and_numbers() {
    let all: Vec<Loose<'_>> = serde_json::from_str(
        r#"["s", "e\u0073c", -1, 18446744073709551615, 1.5, true, null, [1], {"a": [2]}]"#,
    )
    .unwrap();
    assert_eq!(
        all,
        [
            Loose::Str(Cow::Borrowed("s")),
            Loose::Str(Cow::Owned("esc".to_string())),
            Loose::I64(-1),
            Loose::U64(u64::MAX),
            Loose::F64(1.5),
            Loose::Other("a boolean"),
            Loose::Other("null"),
            Loose::Other("an array"),
            Loose::Other("an object"),
        ]
    );
    let kinds: Vec<&str> = all.iter().map(Loose::kind).collect();
    assert_eq!(
        kinds,
        [
            "a string",
            "a string",
            "a number",
            "a number",
            "a number",
            "a boolean",
            "null",
            "an array",
            "an object"
        ]
    );
    assert_eq!(all[1].as_str(), Some("esc"));
    assert_eq!(all[2].as_str(), None);
}

#[test]
fn json_object_at_names_what_is_not_an_object() {
    let (v, used): (serde::de::IgnoredAny, usize) = json_object_at("{} x", "no", "bad").unwrap();
    let _ = v;
    assert_eq!(used, 2);
    let e = json_object_at::<serde::de::IgnoredAny>("[1]", "a log must be an object", "bad");
    assert_eq!(e.unwrap_err(), "a log must be an object, got an array");
}

#[test]
fn same_is_equality() {
    let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
    for n in 0..=base.len() {
        let a = &base[..n];
        assert!(same(a, a), "{n}");
        for at in 0..n {
            let mut b = a.to_vec();
            b[at] ^= 1;
            assert!(!same(a, &b), "{n} {at}");
        }
        if n > 0 {
            assert!(!same(a, &base[..n - 1]));
        }
    }
    assert!(same_str(None, None));
    assert!(!same_str(Some(""), None));
    assert!(same_str(Some("wafv2"), Some("wafv2")));
}

#[test]
fn push_u64_writes_what_format_writes() {
    for n in [
        0,
        1,
        9,
        10,
        99,
        100,
        65_535,
        1_234_567_890,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let mut out = "x".to_string();
        super::push_u64(&mut out, n);
        assert_eq!(out, format!("x{n}"));
    }
}
