//! Golden cases: `<case>.in` (a Firehose request body, or one record per
//! line) → `<case>.out.ndjson` (one outcome per line, as
//! [`outcome_json`] writes it and `weir plugin run` prints it). Compared as
//! JSON values (member order and spacing do not matter); the update mode
//! rewrites the expected file from what the plugin gave.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{CASE_INPUT_EXT, CASE_OUTPUT_SUFFIX, Check, Failure};
use crate::plugin::{Outcome, outcome_json};

/// Longest excerpt of an outcome quoted in a failure.
const MAX_QUOTED_CHARS: usize = 300;

/// One golden case on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The file stem (`sample` for `sample.in`).
    pub name: String,
    /// `<case>.in`.
    pub input: PathBuf,
    /// `<case>.out.ndjson`.
    pub expected: PathBuf,
}

/// The cases of `dir`, sorted by name.
pub fn list(dir: &Path) -> Result<Vec<Case>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut cases: Vec<Case> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == CASE_INPUT_EXT))
        .filter_map(|input| {
            let name = input.file_stem()?.to_string_lossy().into_owned();
            let expected = dir.join(format!("{name}{CASE_OUTPUT_SUFFIX}"));
            Some(Case {
                name,
                input,
                expected,
            })
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// Records from a file: a Firehose request body (JSON with `records`,
/// gzip accepted), or one raw record per non-blank line.
pub fn read_records(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bytes = if crate::codec::is_gzip(&bytes) {
        crate::codec::gunzip_capped(&bytes, crate::firehose::FIREHOSE_MAX_BODY_BYTES)
            .map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        bytes
    };
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes)
        && value.get("records").is_some()
    {
        let headers = crate::firehose::RequestHeaders {
            request_id: None,
            gzip: false,
            source_arn: None,
            common_attributes: Vec::new(),
        };
        let req =
            crate::firehose::decode_body(&headers, &bytes, &crate::firehose::Limits::default())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(req.records);
    }
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(<[u8]>::to_vec)
        .collect())
}

/// The expected-file text of `outcomes`: one JSON line per outcome.
pub fn render(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{}\n", outcome_json(i, o)))
        .collect()
}

/// Compare `outcomes` with the expected text: one failure per record that
/// differs (naming the record, with both sides), or for a count that
/// differs, or for an expected line that is not JSON.
pub fn compare(expected: &str, outcomes: &[Outcome]) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut want = Vec::new();
    for (n, line) in expected.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => want.push(v),
            Err(e) => failures.push(Failure::case(format!(
                "line {} of the expected outcomes is not JSON: {e}",
                n + 1
            ))),
        }
    }
    if !failures.is_empty() {
        return failures;
    }
    if want.len() != outcomes.len() {
        failures.push(Failure::case(format!(
            "expected {} outcomes, the plugin gave {}",
            want.len(),
            outcomes.len()
        )));
    }
    for (i, (want, got)) in want.iter().zip(outcomes).enumerate() {
        let got = outcome_json(i, got);
        if *want != got {
            failures.push(Failure::record(
                i,
                format!("expected {}, got {}", quote(want), quote(&got)),
            ));
        }
    }
    failures
}

/// `value` as one line, cut at [`MAX_QUOTED_CHARS`].
fn quote(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Judge one case's outcomes into `check`: compare with the expected file,
/// or (update) rewrite it.
pub(super) fn judge(case: &Case, outcomes: &[Outcome], update: bool, check: &mut Check) {
    if update {
        match std::fs::write(&case.expected, render(outcomes)) {
            Ok(()) => check.note = Some(format!("updated {}", case.expected.display())),
            Err(e) => check.failures.push(Failure::case(format!(
                "cannot write {}: {e}",
                case.expected.display()
            ))),
        }
        return;
    }
    match std::fs::read_to_string(&case.expected) {
        Ok(text) => check.failures.extend(compare(&text, outcomes)),
        Err(e) => check.failures.push(Failure::case(format!(
            "no expected outcomes {} ({e}); write them with --update",
            case.expected.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Document;

    fn doc(body: &str) -> Outcome {
        Outcome::Ok(vec![Document {
            index: None,
            id: Some("a".into()),
            timestamp_ms: Some(1),
            body: body.into(),
        }])
    }

    #[test]
    fn rendered_outcomes_compare_equal() {
        let outcomes = vec![
            doc(r#"{"a":1,"b":[true]}"#),
            Outcome::Dropped,
            Outcome::Failed("bad".into()),
        ];
        let text = render(&outcomes);
        assert_eq!(text.lines().count(), 3);
        assert_eq!(compare(&text, &outcomes), Vec::new());
    }

    #[test]
    fn member_order_and_blank_lines_do_not_matter() {
        let expected = "\n{\"outcome\":\"ok\",\"record\":0,\"documents\":[{\"body\":{\"b\":[true],\"a\":1},\"timestamp_ms\":1,\"id\":\"a\",\"index\":null}]}\n\n";
        assert_eq!(
            compare(expected, &[doc(r#"{"a":1,"b":[true]}"#)]),
            Vec::new()
        );
    }

    #[test]
    fn a_different_record_is_named_with_both_sides() {
        let expected = render(&[Outcome::Dropped, doc(r#"{"a":1}"#)]);
        let failures = compare(&expected, &[Outcome::Dropped, doc(r#"{"a":2}"#)]);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].record, Some(1));
        assert!(failures[0].reason.contains(r#""a":1"#), "{failures:?}");
        assert!(failures[0].reason.contains(r#""a":2"#), "{failures:?}");
        // An outcome of another kind.
        let failures = compare(&expected, &[Outcome::Failed("x".into()), doc(r#"{"a":1}"#)]);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].record, Some(0));
        assert!(failures[0].reason.starts_with("expected {"), "{failures:?}");
        assert!(failures[0].reason.contains(r#""dropped""#), "{failures:?}");
        assert!(
            failures[0].reason.contains(r#""reason":"x""#),
            "{failures:?}"
        );
    }

    #[test]
    fn counts_and_bad_lines_fail() {
        let expected = render(&[Outcome::Dropped, Outcome::Dropped]);
        let failures = compare(&expected, &[Outcome::Dropped]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].record, None);
        assert!(
            failures[0]
                .reason
                .contains("expected 2 outcomes, the plugin gave 1")
        );
        let failures = compare("{not json\n", &[Outcome::Dropped]);
        assert!(
            failures[0]
                .reason
                .contains("line 1 of the expected outcomes is not JSON")
        );
        // Nothing expected, something given.
        assert_eq!(compare("", &[Outcome::Dropped]).len(), 1);
    }

    #[test]
    fn long_outcomes_are_cut_in_the_reason() {
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(5000));
        let failures = compare(&render(&[doc(&long)]), &[doc(r#"{"a":"y"}"#)]);
        assert!(failures[0].reason.len() < 2 * MAX_QUOTED_CHARS + 100);
        assert!(failures[0].reason.contains('…'));
    }

    #[test]
    fn cases_are_listed_and_records_read() {
        let dir = std::env::temp_dir().join(format!("weir-golden-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.in"), "one\n\n two \n").unwrap();
        std::fs::write(
            dir.join("a.in"),
            r#"{"requestId":"r","timestamp":1,"records":[{"data":"aGk="}]}"#,
        )
        .unwrap();
        std::fs::write(dir.join("a.out.ndjson"), "").unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        let cases = list(&dir).unwrap();
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(cases[0].expected, dir.join("a.out.ndjson"));
        assert_eq!(read_records(&cases[0].input).unwrap(), vec![b"hi".to_vec()]);
        assert_eq!(
            read_records(&cases[1].input).unwrap(),
            vec![b"one".to_vec(), b" two ".to_vec()]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
