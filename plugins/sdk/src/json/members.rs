//! [`array_object_members`]: the members of the objects in an array, read
//! from a text a scan has already checked.

use super::scan::skip_plain;

/// Call `f(object, key, value)` with each member of the objects in `raw`,
/// a JSON array (and in arrays within it; `raw` may also be one object),
/// in order, until `f` returns `false`: `object` is the offset in `raw` of
/// the object's `{` (members with the same `object` are of the same
/// object), `key` the key as written (escapes not decoded), `value` the
/// member's value as text. Objects inside members' values are not looked
/// into.
///
/// `raw` must be valid JSON, as [`scan_visit`](super::scan_visit) has
/// checked it (a [`Visit::raw`](super::Visit::raw)): it is read without
/// checking it again, so that this costs little. On text that is not
/// valid JSON the members found are unspecified (it never panics).
pub fn array_object_members<'a>(raw: &'a str, mut f: impl FnMut(usize, &'a str, &'a str) -> bool) {
    let b = raw.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i = match c {
            b'{' => match object_members(raw, i, &mut f) {
                Some(Some(end)) => end,
                _ => return,
            },
            b'"' => match string_end(b, i) {
                Some(end) => end,
                None => return,
            },
            // brackets, commas, whitespace, numbers and literals
            _ => i + 1,
        };
    }
}

/// In `raw`, an array of `{"name":…,"value":"…"}` objects, as AWS writes
/// HTTP headers (WAF's `httpRequest.headers`), compactly or with whitespace
/// between the tokens (pretty-printed): the `value` (as written, quoted) of
/// the first object whose `name` (as written, quoted) `wanted` accepts;
/// `Some(None)` when none does. `None` when `raw` is not in exactly that
/// shape (other members, another order, a value that is not a string):
/// read it with [`array_object_members`] then. One pass over each name and
/// value, no other parsing: the fast path of a header lookup.
///
/// `raw` must be valid JSON, as for [`array_object_members`].
pub fn name_value<'a>(raw: &'a str, wanted: impl Fn(&'a str) -> bool) -> Option<Option<&'a str>> {
    let b = raw.as_bytes();
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return (ws(b, i + 1) == b.len()).then_some(None);
    }
    loop {
        if b.get(i) != Some(&b'{') {
            return None;
        }
        let name_start = key(b, ws(b, i + 1), b"\"name\"")?;
        if b.get(name_start) != Some(&b'"') {
            return None;
        }
        let name_end = string_end(b, name_start)?;
        i = ws(b, name_end);
        if b.get(i) != Some(&b',') {
            return None;
        }
        let value_start = key(b, ws(b, i + 1), b"\"value\"")?;
        if b.get(value_start) != Some(&b'"') {
            return None;
        }
        let value_end = string_end(b, value_start)?;
        if wanted(raw.get(name_start..name_end)?) {
            return Some(Some(raw.get(value_start..value_end)?));
        }
        i = ws(b, value_end);
        if b.get(i) != Some(&b'}') {
            return None;
        }
        i = ws(b, i + 1);
        match b.get(i)? {
            b',' => i = ws(b, i + 1),
            b']' => return (ws(b, i + 1) == b.len()).then_some(None),
            _ => return None,
        }
    }
}

/// Past `key` (quoted, as written) at `b[i]`, its colon and the whitespace
/// around it: where its value starts.
fn key<const N: usize>(b: &[u8], i: usize, key: &[u8; N]) -> Option<usize> {
    // a fixed-size compare, inline (`starts_with` calls `memcmp`, slow in
    // WebAssembly)
    if <[u8; N]>::try_from(b.get(i..i + N)?).ok()? != *key {
        return None;
    }
    let i = ws(b, i + N);
    (b.get(i) == Some(&b':')).then(|| ws(b, i + 1))
}

/// The members of the object at `raw[start]`; `Some(Some(end))`: past its
/// `}`, `Some(None)`: `f` asked to stop.
fn object_members<'a>(
    raw: &'a str,
    start: usize,
    f: &mut impl FnMut(usize, &'a str, &'a str) -> bool,
) -> Option<Option<usize>> {
    let b = raw.as_bytes();
    let mut i = ws(b, start + 1);
    if b.get(i) == Some(&b'}') {
        return Some(Some(i + 1));
    }
    loop {
        let key_end = string_end(b, i)?;
        let key = raw.get(i + 1..key_end - 1)?;
        i = ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let value_start = ws(b, i + 1);
        i = value_end(b, value_start)?;
        if !f(start, key, raw.get(value_start..i)?) {
            return Some(None);
        }
        i = ws(b, i);
        match b.get(i)? {
            b',' => i = ws(b, i + 1),
            b'}' => return Some(Some(i + 1)),
            _ => return None,
        }
    }
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// Past the closing quote of the string whose opening quote is `b[i]`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut i = i + 1;
    loop {
        i = skip_plain(b, i);
        match b.get(i)? {
            b'"' => return Some(i + 1),
            // an escape: the escaped byte is never the closing quote
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// Past the value starting at `b[i]`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = i;
            loop {
                match b.get(i)? {
                    b'"' => i = string_end(b, i)?,
                    c => {
                        match c {
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => depth -= 1,
                            _ => {}
                        }
                        i += 1;
                        if depth == 0 {
                            return Some(i);
                        }
                    }
                }
            }
        }
        _ => {
            let mut i = i;
            while !matches!(
                b.get(i),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                i += 1;
            }
            Some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(raw: &str) -> Vec<(usize, &str, &str)> {
        let mut out = Vec::new();
        array_object_members(raw, |o, k, v| {
            out.push((o, k, v));
            true
        });
        out
    }

    #[test]
    fn name_values() {
        let ua = |n: &str| n.eq_ignore_ascii_case("\"user-agent\"");
        let raw = r#"[{"name":"Host","value":"a\"b"},{"name":"user-Agent","value":"curl/8 \u0041"},{"name":"User-Agent","value":"second"}]"#;
        assert_eq!(name_value(raw, ua), Some(Some(r#""curl/8 \u0041""#)));
        assert_eq!(
            name_value(r#"[{"name":"Host","value":"x"}]"#, ua),
            Some(None)
        );
        assert_eq!(name_value("[]", ua), Some(None));
        assert_eq!(name_value(" [ \n ] ", ua), Some(None));
        // pretty-printed, as AWS's documentation shows logs
        let pretty = "[\n  {\n    \"name\": \"Host\",\n    \"value\": \"x\"\n  },\n  {\n    \"name\" : \"User-Agent\" ,\n    \"value\" :\t\"curl\"\n  }\n]";
        assert_eq!(name_value(pretty, ua), Some(Some("\"curl\"")));
        assert_eq!(
            name_value(r#"[ {"name":"User-Agent","value":"x"}]"#, ua),
            Some(Some("\"x\""))
        );
        assert_eq!(
            name_value(
                r#"[{"name":"A","value":"x"}, {"name":"User-Agent","value":"y"}]"#,
                ua
            ),
            Some(Some("\"y\""))
        );
        assert_eq!(
            name_value(
                r#"[{"name":"A","value":"x"} ,{"name":"B","value":"y"} ]"#,
                ua
            ),
            Some(None)
        );
        // not that shape: the caller reads it another way
        for other in [
            r#"[{"value":"x","name":"User-Agent"}]"#,
            r#"[{"name":"User-Agent","value":1}]"#,
            r#"[{"name":1,"value":"x"}]"#,
            r#"[{"name":"A","value":"x","b":1}]"#,
            r#"[{"name":"A","value":"x","z":2},{"name":"User-Agent","value":"y"}]"#,
            r#"[{"name":"A","value":"x"}] 1"#,
            r#"[{"names":"A","value":"x"}]"#,
            r#"{"name":"User-Agent","value":"x"}"#,
            r#"[1]"#,
            // not JSON: no panic
            r#"[{"name":"A","value":"x"#,
            r#"[{"name":"#,
            r#"[{"name" "A"}]"#,
            r#"[{"name":"A","value":"x"}"#,
            "[",
            "",
        ] {
            assert_eq!(name_value(other, ua), None, "{other}");
        }
    }

    #[test]
    fn members_of_the_objects_of_an_array() {
        let raw = r#"[ {"name" : "A\"}{", "value":{"x":[1,"]"]}}, "s{", 1, true, [{"k\u0061":null}], {} ,{"a":-1.5e3,"b":[]}]"#;
        let got = members(raw);
        let o = |s: &str| raw.find(s).unwrap();
        assert_eq!(
            got,
            [
                (2, "name", r#""A\"}{""#),
                (2, "value", r#"{"x":[1,"]"]}"#),
                (o(r#"{"k"#), r"k\u0061", "null"),
                (o(r#"{"a""#), "a", "-1.5e3"),
                (o(r#"{"a""#), "b", "[]"),
            ]
        );
        assert_eq!(members(r#"{"a":"b"}"#), [(0, "a", r#""b""#)]);
        assert!(members(r#""[{\"a\":1}]""#).is_empty());
        assert!(members("12").is_empty());
        // stops when asked
        let mut n = 0;
        array_object_members(r#"[{"a":1,"b":2},{"c":3}]"#, |_, _, _| {
            n += 1;
            n < 2
        });
        assert_eq!(n, 2);
        // not JSON: no panic
        for bad in [
            r#"[{"a"#,
            r#"[{"a":"#,
            r#"[{"a":1"#,
            r#"[{"a":{"#,
            r#"[{"a" 1}]"#,
            r#"[{1:2}]"#,
            "[\"\\",
        ] {
            let _ = members(bad);
        }
    }
}
