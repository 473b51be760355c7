//! Golden tests of the built-in plugins on real samples, run through the
//! real sandbox (the embedded wasm component, not the native code).
//!
//! `fixtures/plugins/<plugin>/<case>.in` → `<case>.out.ndjson`, one line
//! per record outcome (`weir plugin run` format). `<case>.in` is one record
//! (the file's bytes, as is); `<case>.lines.in` is one record per non-empty
//! line. An optional `<case>.config.json` is the plugin config (default `{}`).
//! Set `WEIR_UPDATE_GOLDEN=1` to rewrite the outputs, then review the diff.

use std::path::Path;

use weir::config::PluginLimits;
use weir::plugin::{BatchContext, Outcome, Runtime, builtin, outcome_json};
use weir_tests::fixtures;

fn records_of(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    if path.to_string_lossy().ends_with(".lines.in") {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        vec![bytes]
    }
}

/// Run every case of `fixtures/<dir>` through `builtin:<plugin>`; returns the outcomes per case.
fn run_golden(plugin: &str, dir: &str) -> Vec<(String, Vec<Outcome>)> {
    let runtime = Runtime::new(PluginLimits::default()).unwrap();
    let p = runtime
        .load(&format!("builtin:{plugin}"), builtin(plugin).unwrap())
        .unwrap();
    let update = std::env::var_os("WEIR_UPDATE_GOLDEN").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(fixtures().join("plugins").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".in"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases in {dir}");
    let mut mismatches = Vec::new();
    let mut all = Vec::new();
    for case in cases {
        let records = records_of(&case);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let stem = name
            .trim_end_matches(".in")
            .trim_end_matches(".lines")
            .to_string();
        let config = std::fs::read_to_string(case.with_file_name(format!("{stem}.config.json")))
            .unwrap_or_else(|_| "{}".to_string());
        let ctx = BatchContext {
            tenant: "t".into(),
            route: plugin.into(),
            request_id: "golden".into(),
            config,
            ..BatchContext::default()
        };
        let (outcomes, _) = p.transform(&ctx, &records).unwrap();
        let mut got = String::new();
        for (i, o) in outcomes.iter().enumerate() {
            got.push_str(&outcome_json(i, o).to_string());
            got.push('\n');
        }
        let golden = case.with_file_name(format!("{stem}.out.ndjson"));
        if update {
            std::fs::write(&golden, &got).unwrap();
        } else {
            let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
                panic!(
                    "missing {}; run with WEIR_UPDATE_GOLDEN=1",
                    golden.display()
                )
            });
            if want != got {
                mismatches.push(format!(
                    "{}:\n--- want\n{want}--- got\n{got}",
                    golden.display()
                ));
            }
        }
        all.push((stem, outcomes));
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatches:\n{}",
        mismatches.join("\n")
    );
    all
}

fn is_iso_millis(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit())
}

#[test]
fn waf_golden() {
    let cases = run_golden("waf", "waf");
    let mut docs = 0;
    for (case, outcomes) in cases {
        for o in outcomes {
            let Outcome::Ok(documents) = o else {
                panic!("{case}: every WAF sample is valid, got {o:?}");
            };
            for d in documents {
                docs += 1;
                let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
                let ts = body["timestamp"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{case}: timestamp not a string"));
                assert!(is_iso_millis(ts), "{case}: {ts}");
                assert_eq!(
                    weir_plugin_sdk_iso(d.timestamp_ms.unwrap()),
                    ts,
                    "{case}: timestamp_ms and the ISO string disagree"
                );
            }
        }
    }
    // 6 single-log samples + 4 lines of the Elastic file + the CloudFront sample.
    assert_eq!(docs, 11);
}

/// Independent check of the ISO conversion (via the host's humantime).
fn weir_plugin_sdk_iso(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[test]
fn waf_keeps_every_field_but_timestamp() {
    let runtime = Runtime::new(PluginLimits::default()).unwrap();
    let p = runtime
        .load("builtin:waf", builtin("waf").unwrap())
        .unwrap();
    let raw = std::fs::read(
        fixtures().join("plugins/waf/otel_valid_log_cloudfront_rate-based-labels.in"),
    )
    .unwrap();
    let (outcomes, _) = p
        .transform(
            &BatchContext {
                config: "{}".into(),
                ..Default::default()
            },
            std::slice::from_ref(&raw),
        )
        .unwrap();
    let Outcome::Ok(docs) = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    let mut got: serde_json::Value = serde_json::from_str(&docs[0].body).unwrap();
    let mut want: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    got.as_object_mut().unwrap().remove("timestamp");
    want.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(got, want);
    assert!(
        got["rateBasedRuleList"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(got["labels"].as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn waf_bad_records_fail_alone() {
    let runtime = Runtime::new(PluginLimits::default()).unwrap();
    let p = runtime
        .load("builtin:waf", builtin("waf").unwrap())
        .unwrap();
    let records: Vec<Vec<u8>> = vec![
        br#"{"timestamp":1576280412771,"action":"ALLOW"}"#.to_vec(),
        b"{not json".to_vec(),
        br#"{"action":"ALLOW"}"#.to_vec(),
        br#"{"timestamp":"yesterday"}"#.to_vec(),
        br#"{"timestamp":1576280412772}"#.to_vec(),
    ];
    let (o, _) = p
        .transform(
            &BatchContext {
                config: "{}".into(),
                ..Default::default()
            },
            &records,
        )
        .unwrap();
    assert!(matches!(&o[0], Outcome::Ok(d) if d.len() == 1));
    assert!(matches!(&o[1], Outcome::Failed(r) if r.contains("invalid JSON")));
    assert!(matches!(&o[2], Outcome::Failed(r) if r.contains("missing `timestamp`")));
    assert!(matches!(&o[3], Outcome::Failed(r) if r.contains("epoch milliseconds")));
    assert!(matches!(&o[4], Outcome::Ok(d) if d[0].body.contains("2019-12-13T23:40:12.772Z")));
}
