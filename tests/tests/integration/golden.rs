//! Golden tests of the built-in plugins on real samples, run through the
//! real sandbox (the embedded wasm component, not the native code).
//!
//! `fixtures/plugins/<plugin>/<case>.in` → `<case>.out.ndjson`, one line
//! per record outcome (`weir plugin run` format). `<case>.in` is one record
//! (the file's bytes, as is); `<case>.lines.in` is one record per non-empty
//! line. An optional `<case>.config.json` is the plugin config (default `{}`).
//! Set `WEIR_UPDATE_GOLDEN=1` to rewrite the outputs, then review the diff.

use weir::builtin;
use weir::config::PluginLimits;
use weir::plugin::{BatchContext, Outcome, Plugin, Runtime, outcome_json};
use weir_tests::{fixture_records, fixtures, python_waf_plugin};

/// Run every case of `fixtures/<dir>` through `builtin:<plugin>`; returns the outcomes per case.
fn run_golden(plugin: &str, dir: &str) -> Vec<(String, Vec<Outcome>)> {
    let runtime = Runtime::new(PluginLimits::default()).unwrap();
    let p = runtime
        .load(
            &format!("builtin:{plugin}"),
            builtin::bytes(plugin).unwrap(),
        )
        .unwrap();
    run_golden_with(&p, plugin, dir)
}

/// Run every case of `fixtures/<dir>` through `p`.
fn run_golden_with(p: &Plugin, plugin: &str, dir: &str) -> Vec<(String, Vec<Outcome>)> {
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
        let records = fixture_records(&case);
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

/// Every built-in plugin has golden cases (`fixtures/plugins/<name>/`),
/// matches them, and describes itself under its own name: a new plugin
/// without them fails here.
#[test]
fn every_builtin_plugin_has_golden_cases_and_describes_itself() {
    let runtime = Runtime::new(PluginLimits::default()).unwrap();
    for name in builtin::names() {
        let p = runtime
            .load(&format!("builtin:{name}"), builtin::bytes(name).unwrap())
            .unwrap();
        let info = p.info();
        assert_eq!(
            info.name, name,
            "builtin:{name} describes itself as {info:?}"
        );
        assert!(!info.version.is_empty(), "builtin:{name} has no version");
        if let Some(schema) = &info.config_schema {
            serde_json::from_str::<serde_json::Value>(schema)
                .unwrap_or_else(|e| panic!("builtin:{name}: config schema is not JSON: {e}"));
        }
        let cases = run_golden_with(&p, name, name);
        assert!(!cases.is_empty());
    }
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
            if case == "derived_cwl_vector_control-message" {
                assert!(matches!(o, Outcome::Dropped), "{case}: {o:?}");
                continue;
            }
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
                    body["@timestamp"], ts,
                    "{case}: @timestamp is the timestamp"
                );
                assert_eq!(
                    body.as_object().unwrap().keys().next().map(String::as_str),
                    Some("@timestamp"),
                    "{case}: @timestamp first"
                );
                assert_eq!(
                    weir_plugin_sdk_iso(d.timestamp_ms.unwrap()),
                    ts,
                    "{case}: timestamp_ms and the ISO string disagree"
                );
            }
        }
    }
    // 6 single-log samples + 4 lines of the Elastic file + the CloudFront sample,
    // + the gzip copy of one sample + the 4 Elastic lines inside a CWL payload.
    assert_eq!(docs, 16);
}

/// Independent check of the ISO conversion (via the host's humantime).
fn weir_plugin_sdk_iso(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Every outcome of a plugin's goldens, counted: (documents, dropped, failed).
fn tally(cases: &[(String, Vec<Outcome>)]) -> (usize, usize, usize) {
    let mut t = (0, 0, 0);
    for (_, outcomes) in cases {
        for o in outcomes {
            match o {
                Outcome::Ok(d) => t.0 += d.len(),
                Outcome::Dropped => t.1 += 1,
                Outcome::Failed(_) => t.2 += 1,
            }
        }
    }
    t
}

fn outcomes_of<'a>(cases: &'a [(String, Vec<Outcome>)], case: &str) -> &'a [Outcome] {
    &cases
        .iter()
        .find(|(c, _)| c == case)
        .unwrap_or_else(|| panic!("no case {case}"))
        .1
}

fn docs_of(outcome: &Outcome) -> Vec<serde_json::Value> {
    match outcome {
        Outcome::Ok(d) => d
            .iter()
            .map(|d| serde_json::from_str(&d.body).unwrap())
            .collect(),
        other => panic!("expected documents, got {other:?}"),
    }
}

#[test]
fn cloudwatch_logs_golden() {
    let cases = run_golden("cloudwatch-logs", "cloudwatch-logs");
    // Control messages and the digest file are dropped, not failed.
    assert!(matches!(
        outcomes_of(&cases, "vector_control-message")[0],
        Outcome::Dropped
    ));
    assert!(matches!(
        outcomes_of(&cases, "otel_valid_cloudwatch_log_control")[0],
        Outcome::Dropped
    ));
    assert!(matches!(
        outcomes_of(&cases, "otel_cloudtrail_digest")[0],
        Outcome::Dropped
    ));
    // The gzip CWL payload (2 events) gives LogsToElasticsearch-shaped documents.
    let docs = docs_of(&outcomes_of(&cases, "aws-lambda-go_cloudwatch-logs-payload")[0]);
    assert_eq!(docs.len(), 2);
    for d in &docs {
        assert!(d["@id"].is_string(), "{d}");
        assert!(d["@timestamp"].as_str().unwrap().ends_with('Z'), "{d}");
        for f in ["@message", "@owner", "@log_group", "@log_stream"] {
            assert!(d.get(f).is_some(), "{f} missing in {d}");
        }
    }
    // CloudTrail inside CWL: the event's fields at the top level, eventTime kept.
    let cw = docs_of(&outcomes_of(&cases, "derived_otel_cloudtrail_log_cw")[0]);
    assert!(
        cw[0]["eventName"].is_string() && cw[0]["@timestamp"].is_string(),
        "{}",
        cw[0]
    );
    // The S3 object form: one document per record (7), ids from eventID.
    let s3 = match &outcomes_of(&cases, "otel_cloudtrail_log")[0] {
        Outcome::Ok(d) => d.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(s3.len(), 7);
    assert!(s3.iter().all(|d| d.id.is_some()));
    // The as-published broken sample fails with a reason.
    assert!(
        matches!(&outcomes_of(&cases, "awsdocs_records_iam-CreateRole-invalid-control-char")[0], Outcome::Failed(r) if !r.is_empty())
    );
    let (docs, dropped, _failed) = tally(&cases);
    assert!(
        docs > 20 && dropped == 3,
        "{docs} documents, {dropped} dropped"
    );
}

#[test]
fn vpc_flow_golden() {
    let cases = run_golden("vpc-flow", "vpc-flow");
    let default = outcomes_of(&cases, "awsdocs_v2-default-format");
    for o in default {
        for d in docs_of(o) {
            assert!(d["start"].as_str().unwrap().ends_with('Z'), "{d}");
            assert!(d["end"].as_str().unwrap().ends_with('Z'), "{d}");
            assert!(
                d["srcport"].is_number() || d.get("srcport").is_none(),
                "{d}"
            );
            assert!(d["bytes"].is_number(), "{d}");
        }
    }
    let nodata = docs_of(&outcomes_of(&cases, "awsdocs_v2-nodata")[0]);
    assert_eq!(nodata[0]["log-status"], "NODATA");
    assert!(
        nodata[0].get("srcaddr").is_none(),
        "`-` fields are absent: {}",
        nodata[0]
    );
    let skip = docs_of(&outcomes_of(&cases, "awsdocs_v2-skipdata")[0]);
    assert_eq!(skip[0]["log-status"], "SKIPDATA");
    let tgw = docs_of(&outcomes_of(&cases, "awsdocs_v5-traffic-path")[0]);
    assert!(
        tgw[0].get("traffic-path").is_some() || tgw[0].get("flow-direction").is_some(),
        "{}",
        tgw[0]
    );
    let msg = docs_of(&outcomes_of(&cases, "elastic_test-with-message-field")[0]);
    assert!(msg[0]["start"].is_string(), "{}", msg[0]);
}

#[test]
fn securityhub_golden() {
    let cases = run_golden("securityhub", "securityhub");
    let composite =
        match &outcomes_of(&cases, "derived_composite-multi-product-findings-imported")[0] {
            Outcome::Ok(d) => d.clone(),
            other => panic!("{other:?}"),
        };
    let indices: Vec<&str> = composite
        .iter()
        .map(|d| d.index.as_deref().unwrap())
        .collect();
    assert!(
        indices.contains(&"aws-securityhub-findings-securityhub"),
        "{indices:?}"
    );
    assert!(
        indices.contains(&"aws-securityhub-findings-config"),
        "{indices:?}"
    );
    assert!(
        indices.contains(&"aws-securityhub-findings-health"),
        "{indices:?}"
    );
    // The composite's config sends GuardDuty (whose ARN is malformed) elsewhere.
    assert!(
        indices
            .iter()
            .any(|i| i.contains("gd") || i.contains("guardduty")),
        "{indices:?}"
    );
    for d in &composite {
        let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(
            d.id.as_deref(),
            body["Id"].as_str(),
            "id from the finding Id"
        );
        assert!(body["CreatedAt"].is_string());
    }
    let multi = match &outcomes_of(&cases, "asr_CIS_1-6-multi-select")[0] {
        Outcome::Ok(d) => d.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(multi.len(), 2, "two findings in the custom-action event");
    for placeholder in [
        "awsdocs-securityhub_eventbridge-custom-action-template.as-published-placeholder",
        "awsdocs-securityhub_eventbridge-findings-imported-template.as-published-placeholder",
    ] {
        assert!(
            matches!(outcomes_of(&cases, placeholder)[0], Outcome::Failed(_)),
            "{placeholder}"
        );
    }
}

#[test]
fn route53_resolver_golden() {
    let cases = run_golden("route53-resolver", "route53-resolver");
    let (docs, dropped, failed) = tally(&cases);
    // 34 Elastic lines + the AWS docs sample + 3 Elastic lines inside a CWL payload.
    assert_eq!((docs, dropped, failed), (38, 0, 0));
    for o in outcomes_of(&cases, "elastic_test-route53") {
        for d in docs_of(o) {
            assert!(d["query_timestamp"].as_str().unwrap().ends_with('Z'), "{d}");
            assert!(d["query_name"].is_string(), "{d}");
        }
    }
}

#[test]
fn waf_keeps_every_field_but_timestamp() {
    let runtime = Runtime::new(PluginLimits::default()).unwrap();
    let p = runtime
        .load("builtin:waf", builtin::bytes("waf").unwrap())
        .unwrap();
    let raw = std::fs::read(
        fixtures().join("plugins/waf/otel_valid_log_cloudfront_rate-based-labels.in"),
    )
    .unwrap();
    let (outcomes, _) = p
        .transform(
            &BatchContext {
                config: r#"{"ecs":false}"#.into(),
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
    got.as_object_mut().unwrap().remove("@timestamp");
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
        .load("builtin:waf", builtin::bytes("waf").unwrap())
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

/// The contract is language-neutral: the WAF plugin written in Python
/// (componentize-py, `tests/plugins/python-waf`) against the same WIT gives
/// exactly the Rust plugin's outcomes with ECS off (`{"ecs": false}`: the
/// twin writes no ECS fields) for every WAF golden case, through the same
/// sandbox, and passes the host's load checks (world, version, imports).
#[test]
fn the_python_waf_plugin_matches_the_rust_plugin() {
    let path = python_waf_plugin();
    let runtime = Runtime::new(PluginLimits {
        cache_dir: weir::config::default_plugin_cache_dir(),
        ..PluginLimits::default()
    })
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let python = runtime
        .load_checked(&path.display().to_string(), &bytes, None)
        .unwrap_or_else(|e| panic!("the Python plugin must pass the load checks: {e}"));
    let rust = runtime
        .load("builtin:waf", builtin::bytes("waf").unwrap())
        .unwrap();
    let mut cases: Vec<_> = std::fs::read_dir(fixtures().join("plugins/waf"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".in"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 7, "every WAF sample");
    for case in cases {
        let records = fixture_records(&case);
        let ctx = |config: &str| BatchContext {
            tenant: "t".into(),
            route: "waf".into(),
            request_id: "golden".into(),
            config: config.into(),
            ..BatchContext::default()
        };
        let (want, _) = rust.transform(&ctx(r#"{"ecs":false}"#), &records).unwrap();
        let (got, _) = python.transform(&ctx("{}"), &records).unwrap();
        assert_eq!(got, want, "{}", case.display());
    }
}

/// A plugin built against the oldest supported contract (`weir:plugin@0.1.0`,
/// `wit/released/0.1.0`, no `metadata` export) still loads and runs on this
/// host; it describes nothing, so its info is empty.
#[test]
fn a_plugin_built_against_wit_0_1_0_still_loads() {
    let runtime = Runtime::new(PluginLimits::default()).unwrap();
    let bytes = std::fs::read(env!("WEIR_TEST_PLUGIN_OLD_VERSION")).unwrap();
    let p = runtime.load_checked("old-version", &bytes, None).unwrap();
    assert_eq!(p.info(), &weir::plugin::PluginInfo::default());
    let ctx = BatchContext {
        request_id: "old".into(),
        config: "{}".into(),
        ..BatchContext::default()
    };
    let (outcomes, _) = p.transform(&ctx, &[b"hello".to_vec()]).unwrap();
    let docs = docs_of(&outcomes[0]);
    assert_eq!(docs[0]["echo"], "hello", "{outcomes:?}");
}
