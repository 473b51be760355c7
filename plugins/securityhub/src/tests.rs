use super::*;
use serde_json::json;
use weir_plugin_sdk::testing::{body, failed, gzip, iso_time, ok_docs};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            "../../../tests/fixtures/plugins/securityhub/",
            $name
        ))
    };
}

fn ids_and_indices(d: &[Document]) -> Vec<(&str, &str)> {
    d.iter()
        .map(|d| (d.id.as_deref().unwrap(), d.index.as_deref().unwrap()))
        .collect()
}

#[test]
fn imported_event_gives_its_finding_unchanged() {
    let raw = fixture!("asr_CIS-1.3.in");
    let no_ecs = parse_config(r#"{"ecs":false}"#).unwrap();
    let d = ok_docs(transform_record(raw, &no_ecs));
    assert_eq!(d.len(), 1);
    let event: Value = serde_json::from_slice(raw).unwrap();
    let finding = &event["detail"]["findings"][0];
    // body is `@timestamp` (its UpdatedAt), then the finding, every field in order
    let rest = serde_json::to_string(finding).unwrap();
    assert_eq!(
        d[0].body,
        format!(
            r#"{{"@timestamp":"2020-05-27T03:37:35.834Z",{}"#,
            &rest[1..]
        )
    );
    assert_eq!(d[0].id.as_deref(), finding["Id"].as_str());
    assert_eq!(
        d[0].index.as_deref(),
        Some("aws-securityhub-findings-securityhub")
    );
    assert_eq!(iso_time(&d[0]), "2020-05-08T03:41:48.614Z");
}

#[test]
fn custom_action_event_with_two_findings() {
    let raw = fixture!("asr_CIS_1-6-multi-select.in");
    let d = ok_docs(transform_record(raw, &Config::default()));
    assert_eq!(d.len(), 2);
    assert!(
        d[0].id
            .as_deref()
            .unwrap()
            .ends_with("/finding/3fe13eb6-b093-48b2-ba3b-b975347c3183")
    );
    // keep_history: the golden config of this sample
    let cfg = parse_config(
        std::str::from_utf8(fixture!("asr_CIS_1-6-multi-select.config.json")).unwrap(),
    )
    .unwrap();
    assert!(cfg.keep_history);
    let d = ok_docs(transform_record(raw, &cfg));
    assert!(
        d[0].id
            .as_deref()
            .unwrap()
            .ends_with("3fe13eb6-b093-48b2-ba3b-b975347c3183@2020-06-02T16:00:52.989Z")
    );
    assert!(
        d[1].id
            .as_deref()
            .unwrap()
            .ends_with("@2020-06-02T15:36:24.745Z")
    );
}

#[test]
fn bare_findings_route_by_product() {
    let cases: [(&[u8], &str); 3] = [
        (
            fixture!("awsdocs-securityhub_config-typical-asff-finding.in"),
            "aws-securityhub-findings-config",
        ),
        (
            fixture!("awsdocs-guardduty_typical-asff-finding.in"),
            "aws-securityhub-findings-guardduty",
        ),
        (
            fixture!("asr_afsbp-ec2.7.in"),
            "aws-securityhub-findings-securityhub",
        ),
    ];
    for (raw, index) in cases {
        let d = ok_docs(transform_record(raw, &Config::default()));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].index.as_deref(), Some(index));
        assert!(d[0].timestamp_ms.is_some());
    }
}

#[test]
fn health_sample_with_trailing_brackets_is_accepted() {
    let raw = fixture!(
        "awsdocs-securityhub_health-typical-asff-finding.as-published-trailing-garbage.in"
    );
    let d = ok_docs(transform_record(raw, &Config::default()));
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].index.as_deref(),
        Some("aws-securityhub-findings-health")
    );
    assert_eq!(iso_time(&d[0]), "2022-01-07T16:34:04.000Z");
    let (values, ignored) = json_values_lenient(std::str::from_utf8(raw).unwrap()).unwrap();
    assert_eq!((values.len(), ignored), (1, 3)); // "]\n}"
}

#[test]
fn placeholder_templates_fail() {
    for raw in [
        &fixture!(
            "awsdocs-securityhub_eventbridge-custom-action-template.as-published-placeholder.in"
        )[..],
        &fixture!(
            "awsdocs-securityhub_eventbridge-findings-imported-template.as-published-placeholder.in"
        )[..],
    ] {
        assert!(failed(transform_record(raw, &Config::default())).starts_with("invalid JSON"));
    }
}

#[test]
fn composite_event_routes_each_finding() {
    let raw = fixture!("derived_composite-multi-product-findings-imported.in");
    let d = ok_docs(transform_record(raw, &Config::default()));
    let indices: Vec<&str> = ids_and_indices(&d).into_iter().map(|(_, i)| i).collect();
    assert_eq!(
        indices,
        [
            "aws-securityhub-findings-securityhub",
            "aws-securityhub-findings-config",
            "aws-securityhub-findings-health",
            "aws-securityhub-findings-guardduty",
        ]
    );
    let cfg = parse_config(
        std::str::from_utf8(fixture!(
            "derived_composite-multi-product-findings-imported.config.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let d = ok_docs(transform_record(raw, &cfg));
    assert_eq!(d[3].index.as_deref(), Some("security-guardduty"));
    assert_eq!(
        d[1].index.as_deref(),
        Some("aws-securityhub-findings-config")
    );
    // the same event gzipped
    assert_eq!(ok_docs(transform_record(&gzip(raw), &cfg)).len(), 4);
}

#[test]
fn product_arns() {
    assert_eq!(
        product_of_arn("arn:aws:securityhub:us-east-1::product/aws/guardduty"),
        Some(("aws", "guardduty"))
    );
    assert_eq!(
        product_of_arn("arn:aws::securityhub:us-east-1::product/aws/guardduty"),
        Some(("aws", "guardduty"))
    );
    assert_eq!(
        product_of_arn("arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/inspector"),
        Some(("aws", "inspector"))
    );
    assert_eq!(
        product_of_arn(
            "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
        ),
        Some(("123456789012", "default"))
    );
    assert_eq!(
        product_of_arn("product/crowdstrike/crowdstrike-falcon"),
        Some(("crowdstrike", "crowdstrike-falcon"))
    );
    for bad in [
        "",
        "arn:aws:securityhub:us-east-1::product/aws",
        "arn:aws:securityhub:us-east-1::product//x",
        "arn:aws:securityhub:us-east-1::hub/default",
        "guardduty",
    ] {
        assert_eq!(product_of_arn(bad), None, "{bad}");
    }
}

#[test]
fn index_names_are_sanitized_and_overridable() {
    let cfg = Config::default();
    assert_eq!(index_for(None, &cfg), DEFAULT_INDEX);
    assert_eq!(index_for(Some("nonsense"), &cfg), DEFAULT_INDEX);
    assert_eq!(
        index_for(
            Some("arn:aws:securityhub:us-east-1::product/Prowler/Prowler Pro#1"),
            &cfg
        ),
        "aws-securityhub-findings-prowler-pro-1"
    );
    assert_eq!(
        index_for(
            Some("arn:aws:securityhub:us-east-1::product/x/Ünïcode"),
            &cfg
        ),
        "aws-securityhub-findings--n-code"
    );
    let long = format!(
        "arn:aws:securityhub:us-east-1::product/x/{}",
        "p".repeat(400)
    );
    let name = index_for(Some(&long), &cfg);
    assert_eq!(name.len(), 255);
    assert!(weir_plugin_sdk::check_index_name(&name).is_ok());
    assert_eq!(product_index(""), None);

    let cfg = parse_config(
        r#"{"indices":{"GuardDuty":"gd","aws/inspector":"insp","inspector":"other"},"default_index":"sh-misc"}"#,
    )
    .unwrap();
    assert_eq!(
        index_for(
            Some("arn:aws:securityhub:eu-west-1::product/aws/guardduty"),
            &cfg
        ),
        "gd"
    );
    assert_eq!(
        index_for(
            Some("arn:aws:securityhub:eu-west-1::product/aws/inspector"),
            &cfg
        ),
        "insp"
    );
    assert_eq!(
        index_for(
            Some("arn:aws:securityhub:eu-west-1::product/acme/inspector"),
            &cfg
        ),
        "other"
    );
    assert_eq!(
        index_for(
            Some("arn:aws:securityhub:eu-west-1::product/aws/macie"),
            &cfg
        ),
        "aws-securityhub-findings-macie"
    );
    assert_eq!(index_for(None, &cfg), "sh-misc");
}

#[test]
fn findings_without_product_arn_go_to_the_default_index() {
    let f = json!({"SchemaVersion": "2018-10-08", "Id": "f-1", "CreatedAt": "not a date"});
    let d = ok_docs(transform_record(
        f.to_string().as_bytes(),
        &Config::default(),
    ));
    assert_eq!(ids_and_indices(&d), [("f-1", DEFAULT_INDEX)]);
    assert_eq!(d[0].timestamp_ms, None);
}

#[test]
fn at_timestamp_is_updated_at_else_created_at_first() {
    let cfg = Config::default();
    let doc = |f: serde_json::Value| ok_docs(transform_record(f.to_string().as_bytes(), &cfg));
    let d = doc(json!({"SchemaVersion": "2018-10-08", "Id": "f-1",
        "CreatedAt": "2020-01-01T00:00:00Z", "UpdatedAt": "2021-02-03T04:05:06.7+01:00"}));
    assert!(
        d[0].body
            .starts_with(r#"{"@timestamp":"2021-02-03T03:05:06.700Z","SchemaVersion""#)
    );
    assert_eq!(
        d[0].timestamp_ms,
        weir_plugin_sdk::iso_to_epoch_ms("2020-01-01T00:00:00Z")
    );
    let d = doc(json!({"SchemaVersion": "2018-10-08", "Id": "f-1",
        "CreatedAt": "2020-01-01T00:00:00Z", "UpdatedAt": "not a date"}));
    assert_eq!(body(&d[0])["@timestamp"], "2020-01-01T00:00:00.000Z");
    assert_eq!(body(&d[0])["UpdatedAt"], "not a date");
    let d = doc(json!({"SchemaVersion": "2018-10-08", "Id": "f-1", "CreatedAt": "x"}));
    assert_eq!(body(&d[0]).get("@timestamp"), None);
}

#[test]
fn insight_results_are_dropped() {
    let ev = json!({"version": "0", "detail-type": INSIGHT_RESULTS, "source": "aws.securityhub",
                    "detail": {"actionName": "a", "insightName": "i", "resultType": "ResourceAwsIamAccessKeyUserName",
                               "insightResults": [{"Admin": 4}]}});
    assert!(matches!(
        transform_record(ev.to_string().as_bytes(), &Config::default()),
        Outcome::Dropped
    ));
}

#[test]
fn several_values_in_one_record() {
    let a = json!({"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
                   "detail": {"findings": [{"Id": "a", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/macie"}]}});
    let b = json!({"SchemaVersion": "2018-10-08", "Id": "b"});
    let text = format!("{a}\n{b}\n");
    let d = ok_docs(transform_record(text.as_bytes(), &Config::default()));
    assert_eq!(
        ids_and_indices(&d),
        [
            ("a", "aws-securityhub-findings-macie"),
            ("b", DEFAULT_INDEX)
        ]
    );
    let empty =
        json!({"detail-type": "Security Hub Findings - Imported", "detail": {"findings": []}});
    assert!(
        ok_docs(transform_record(
            empty.to_string().as_bytes(),
            &Config::default()
        ))
        .is_empty()
    );
}

#[test]
fn bad_records_fail_with_a_reason() {
    let cfg = Config::default();
    let f = |s: &str| failed(transform_record(s.as_bytes(), &cfg));
    assert!(f("").contains("empty record"));
    assert!(failed(transform_record(b"\xff", &cfg)).contains("not UTF-8"));
    assert!(f("{").contains("invalid JSON"));
    assert!(f("[1]").contains("got an array"));
    assert!(f(r#"{"a":1}"#).contains("neither a Security Hub EventBridge event"));
    assert!(
        f(r#"{"detail-type":"Security Hub Findings - Imported","detail":{}}"#)
            .contains("has no `detail.findings`")
    );
    assert!(f(r#"{"detail-type":"x","detail":5}"#).contains("`detail` must be an object"));
    assert!(f(r#"{"detail-type":"x","detail":{"findings":{}}}"#).contains("must be an array"));
    assert!(
        f(r#"{"detail-type":"x","detail":{"findings":[1]}}"#)
            .contains("detail.findings[0]: a finding must be a JSON object")
    );
    assert!(
        f(r#"{"detail-type":"x","detail":{"findings":[{"Id":"a"},{"SchemaVersion":"1"}]}}"#)
            .contains("detail.findings[1]: missing `Id`")
    );
    assert!(f(r#"{"SchemaVersion":"1","Id":5}"#).contains("`Id` must be a string, got a number"));
    assert!(f(r#"{"SchemaVersion":"1","Id":""}"#).contains("empty `Id`"));
    assert!(f(r#"{"SchemaVersion":"1","Id":"a"} {"x":"#).contains("invalid JSON after value 1"));
    assert!(f(r#"{"SchemaVersion":"1","Id":"a"} junk"#).contains("invalid JSON after value 1"));
    assert!(f(r#"{"SchemaVersion":"1","Id":"a"} 7"#).starts_with("JSON value 2 of the record"));
    let hist = parse_config(r#"{"keep_history":true}"#).unwrap();
    assert!(
        failed(transform_record(
            br#"{"SchemaVersion":"1","Id":"a"}"#,
            &hist
        ))
        .contains("`UpdatedAt`")
    );
    let bomb = gzip(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1]);
    assert!(failed(transform_record(&bomb, &cfg)).contains("cap"));
}

#[test]
fn stray_closers_only_after_a_value() {
    assert_eq!(json_values_lenient("{} ]}, \n").unwrap().1, 3);
    assert_eq!(json_values_lenient("{}\n").unwrap().1, 0);
    assert!(json_values_lenient("]}").is_err());
    assert!(json_values_lenient("   ").is_err());
}

#[test]
fn config_is_checked() {
    assert_eq!(parse_config("{}").unwrap(), Config::default());
    assert!(
        weir_plugin_sdk::testing::validate_config::<SecurityHub>(
            r#"{"indices":{"guardduty":"gd"},"default_index":"x","keep_history":false}"#
        )
        .is_ok()
    );
    for (config, want) in [
        (r#"{"index":"x"}"#, "unknown option `index`"),
        (r#"{"indices":[]}"#, "`indices`: invalid type"),
        (r#"{"indices":{"gd":1}}"#, "must be a string"),
        (r#"{"indices":{"gd":"GD"}}"#, "`indices.gd`"),
        (r#"{"indices":{"a/b/c":"x"}}"#, "company/product"),
        (r#"{"indices":{"":"x"}}"#, "company/product"),
        (r#"{"indices":{"GD":"x","gd":"y"}}"#, "twice"),
        (r#"{"default_index":"_x"}"#, "`default_index`"),
        (r#"{"default_index":1}"#, "`default_index`: invalid type"),
        (r#"{"keep_history":"yes"}"#, "`keep_history`: invalid type"),
    ] {
        let reason = weir_plugin_sdk::testing::validate_config::<SecurityHub>(config).unwrap_err();
        assert!(reason.contains(want), "{config}: {reason}");
    }
}

#[test]
fn info() {
    let (info, schema) = weir_plugin_sdk::testing::checked_info::<SecurityHub>();
    let dates = [
        "@timestamp",
        "CreatedAt",
        "UpdatedAt",
        "FirstObservedAt",
        "LastObservedAt",
    ];
    assert_eq!(
        (info.date_fields, info.default_index),
        (&dates[..], Some(DEFAULT_INDEX))
    );
    assert_eq!(schema["properties"]["keep_history"]["type"], "boolean");
    assert_eq!(schema["properties"]["ecs"]["default"], true);
    assert_eq!(
        info.index_properties,
        [weir_plugin_sdk::ecs::INDEX_PROPERTIES]
    );
}

#[test]
fn ecs_fields_of_findings() {
    let raw = fixture!("awsdocs-guardduty_typical-asff-finding.in");
    let b = body(&ok_docs(transform_record(raw, &Config::default()))[0]);
    assert_eq!(
        b["event"],
        json!({"kind": "alert", "category": ["intrusion_detection"], "type": ["info"],
            "provider": "guardduty", "dataset": "aws.securityhub_findings",
            "id": "arn:aws::guardduty:us-east-1:193043430472:detector/d4b040365221be2b54a6264dc9a4bc64/finding/46ba0ac2845071e23ccdeb2ae03bfdea"})
    );
    assert_eq!(
        b["cloud"],
        json!({"provider": "aws", "account": {"id": "193043430472"}, "region": "us-east-1"})
    );
    assert_eq!(
        b["rule"]["id"],
        "arn:aws::guardduty:us-east-1:193043430472:detector/d4b040365221be2b54a6264dc9a4bc64"
    );
    assert_eq!(
        b["related"],
        json!({"ip": ["199.241.229.197", "172.31.43.6"]})
    );
    // ecs off: the body as before, the ECS roots aside
    let off = parse_config(r#"{"ecs":false}"#).unwrap();
    let off = body(&ok_docs(transform_record(raw, &off))[0]);
    let mut on = b.clone();
    for root in weir_plugin_sdk::ecs::ROOTS {
        on.as_object_mut().unwrap().shift_remove(root);
    }
    assert_eq!(on.to_string(), off.to_string());
}

#[test]
fn ecs_network_of_a_finding() {
    let finding = json!({
        "Id": "f1", "ProductArn": "arn:aws:securityhub:eu-west-1::product/acme/ids",
        "ProductName": "ACME IDS", "Types": ["Effects/Data Exfiltration"],
        "Network": {"Direction": "OUT", "Protocol": "TCP", "SourceIpV4": "10.0.0.5",
                    "SourcePort": 51000, "DestinationIpV6": "2a00:1450::1",
                    "DestinationPort": 99999, "DestinationDomain": "x.example"},
        "event": "theirs",
    });
    let b = body(
        &ok_docs(transform_record(
            finding.to_string().as_bytes(),
            &Config::default(),
        ))[0],
    );
    assert_eq!(b["event"], "theirs");
    assert_eq!(b["cloud"]["region"], "eu-west-1");
    assert_eq!(b["source"], json!({"ip": "10.0.0.5", "port": 51000}));
    assert_eq!(b["destination"], json!({"ip": "2a00:1450::1"}));
    assert_eq!(
        b["network"],
        json!({"transport": "tcp", "direction": "outbound"})
    );
    assert_eq!(b["related"], json!({"ip": ["10.0.0.5", "2a00:1450::1"]}));
    // a source that is not an IP: address only, the finding still indexed
    let mut odd = finding.clone();
    odd["Network"]["SourceIpV4"] = json!("10.0.0.300");
    let b = body(
        &ok_docs(transform_record(
            odd.to_string().as_bytes(),
            &Config::default(),
        ))[0],
    );
    assert_eq!(b["source"], json!({"address": "10.0.0.300", "port": 51000}));
}

weir_plugin_sdk::golden_test!(SecurityHub, "securityhub");

/// A document as (id, index, time, body as JSON).
type Comparable = (Option<String>, Option<String>, Option<i64>, Value);

/// The documents of a record, comparable.
fn comparable(docs: Vec<Document>) -> Vec<Comparable> {
    docs.into_iter()
        .map(|d| {
            let body: Value = serde_json::from_str(&d.body).unwrap();
            (d.id, d.index, d.timestamp_ms, body)
        })
        .collect()
}

#[test]
fn the_fast_path_gives_the_full_parses_documents() {
    let composite = fixture!("derived_composite-multi-product-findings-imported.in");
    let custom = json!({
        "detail-type": "Security Hub Findings - Custom Action",
        "source": "aws.securityhub",
        "detail": {"findings": [
            {"Id": "a", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
             "UpdatedAt": "2024-01-02T03:04:05.678Z", "CreatedAt": "2024-01-01T00:00:00Z",
             "Network": {"SourceIpV4": "8.8.8.8", "SourcePort": 53, "Protocol": "UDP", "Direction": "IN"},
             "ProductFields": {"x/ipAddressV4": "1.1.1.1"}, "Types": ["TTPs/Discovery"],
             "source": {"kept": true}, "Title": 5, "Region": null},
            {"Id": "b", "CreatedAt": "not a date", "Nested": {"@timestamp": "x"}}
        ]}
    })
    .to_string();
    // one line each, as EventBridge writes events (the fixtures are
    // pretty-printed: the fast path leaves those to the full parse)
    let one_line = |raw: &[u8]| serde_json::from_slice::<Value>(raw).unwrap().to_string();
    let records = [
        one_line(composite),
        one_line(fixture!("asr_CIS-1.3.in")),
        one_line(fixture!("asr_afsbp-ec2.7.in")),
        custom,
        // spaces and tabs between the findings are kept out of their texts
        "{\"detail-type\": \"x\", \"detail\": {\"findings\": [ {\"Id\": \"a\", \"Region\": \"eu-west-1\"} ,\t{\"Id\":\"b\",\"Types\":[\"T\"]} ]}}".to_string(),
    ];
    let pretty = std::str::from_utf8(composite).unwrap();
    assert!(fast::documents(pretty, &Config::default()).is_none());
    for config in [
        Config::default(),
        Config {
            ecs: false,
            ..Config::default()
        },
        Config {
            keep_history: true,
            ..Config::default()
        },
    ] {
        for text in &records {
            let Some(fast) = fast::documents(text, &config) else {
                // keep_history needs `UpdatedAt` everywhere: the custom
                // record's second finding has none, so it takes the full parse
                assert!(config.keep_history, "fast path not taken: {text}");
                continue;
            };
            let full = full_documents(text, &config).unwrap().unwrap();
            assert!(!fast.is_empty());
            assert_eq!(comparable(fast), comparable(full), "{text}");
        }
    }
    // what it leaves to the full parse
    for unusual in [
        r#"{"detail-type":"x","detail":{"findings":[{"Id":"a","@timestamp":"t"}]}}"#,
        r#"{"detail-type":"x","detail":{"findings":[{"\u0049d":"a"}]}}"#,
        r#"{"detail-type":"x","detail":{"findings":[{"Id":5}]}}"#,
        r#"{"detail-type":"x","detail":[[{"Id":"a"}]]}"#,
        r#"{"detail-type":"x","detail":{"findings":[{"Id":"a"}]}} {"Id":"b"}"#,
        r#"["x",{"findings":[{"Id":"a"}]}]"#,
        r#"{"Id":"a","SchemaVersion":"2018-10-08"}"#,
        r#"{"detail-type":"x","detail":{"findings":[{"Id":"a"},{}]}}"#,
        r#"{"detail-type":"x","detail":{"findings":[{"Id":"a"},5]}}"#,
        r#"{"detail-type":"x","detail":{"findings":[[{"Id":"a"}]]}}"#,
        r#"{"detail-type":"x","detail":{"findings":[]}}"#,
        r#"{"detail-type":"x","detail":{"findings":[{"Id":"a","Id":"b"}]}}"#,
        r#"{"detail-type":"x","detail":{"findings":[{"Id":"a"}],"findings":[{"Id":"b"}]}}"#,
        r#"{"detail":{"findings":[{"Id":"a"}]}}"#,
        r#"{"detail-type":"x","detail":{"findings":{"Id":"a"}}}"#,
    ] {
        assert!(
            fast::documents(unusual, &Config::default()).is_none(),
            "{unusual}"
        );
    }
}
