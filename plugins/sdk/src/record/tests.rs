use std::borrow::Cow;

use super::*;
use crate::Document;
use crate::testing::{self, gzip};

#[test]
fn splits_lines() {
    let got: Vec<&[u8]> = lines(b"a b\r\n\n  \nc\n").collect();
    assert_eq!(got, vec![&b"a b"[..], &b"c"[..]]);
}

#[test]
fn record_text_gunzips_with_the_cap_and_checks_utf8() {
    let plain = record_text(b"{\"a\":1}", 4).unwrap();
    assert!(matches!(plain, Cow::Borrowed("{\"a\":1}")));
    let gz = gzip("é".as_bytes());
    assert!(matches!(record_text(&gz, 2).unwrap(), Cow::Owned(ref s) if s == "é"));
    assert!(record_text(&gz, 1).unwrap_err().contains("cap of 1 bytes"));
    assert!(
        record_text(b"\x1f\x8bnot gzip", 100)
            .unwrap_err()
            .starts_with("invalid gzip data")
    );
    for bad in [&b"a\xff"[..], &gzip(b"a\xff")] {
        assert_eq!(
            record_text(bad, 100).unwrap_err(),
            "record is not UTF-8: invalid utf-8 sequence of 1 bytes from index 1"
        );
    }
}

#[test]
fn transform_each_maps_or_fails_every_record() {
    let records = vec![b"a".to_vec(), b"bc".to_vec()];
    let len = |r: &[u8], add: &usize| Outcome::Failed((r.len() + add).to_string());
    let out = transform_each(Ok(10), &records, len);
    assert!(matches!(&out[..], [Outcome::Failed(a), Outcome::Failed(b)] if a == "11" && b == "12"));
    let out = transform_each(Err("bad".to_string()), &records, len);
    assert_eq!(out.len(), 2);
    for o in out {
        assert_eq!(testing::failed(o), "invalid plugin config: bad");
    }
}

#[test]
fn text_outcome_maps_documents_drops_and_failures() {
    let ok = text_outcome(&gzip(b"ab"), |t| {
        Ok(Some(vec![Document::new(t.to_string())]))
    });
    assert_eq!(testing::ok_docs(ok)[0].body, "ab");
    assert!(matches!(text_outcome(b"x", |_| Ok(None)), Outcome::Dropped));
    assert_eq!(
        testing::failed(text_outcome(b"x", |t| Err(format!("bad {t}")))),
        "bad x"
    );
    assert!(testing::failed(text_outcome(b"\xff", |_| Ok(None))).contains("not UTF-8"));
}
