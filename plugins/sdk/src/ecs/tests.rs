use super::*;
use crate::testing::{sample_geo, set_geoip};

fn appended(ecs: &Ecs<'_>, body: &str, present: Roots) -> serde_json::Value {
    let mut body = body.to_string();
    ecs.append_to(&mut body, present);
    serde_json::from_str(&body).unwrap()
}

#[test]
fn renders_nested_roots_after_the_body() {
    let ecs = Ecs {
        kind: Some("event"),
        category: &["network"],
        types: &["connection", "allowed"],
        action: Some("accept"),
        outcome: Some("success"),
        dataset: Some("aws.vpcflow"),
        account_id: Some("123456789012"),
        region: Some("eu-north-1"),
        source: Endpoint {
            address: Some("10.0.0.1"),
            port: Some(443),
            country: None,
        },
        destination: Endpoint {
            address: Some("10.0.0.2"),
            port: Some(5000),
            country: None,
        },
        transport: Some("tcp"),
        iana_number: Some(6),
        bytes: Some(4249),
        packets: Some(20),
        ..Ecs::default()
    };
    let mut body = r#"{"@timestamp":"x","a":1}"#.to_string();
    ecs.append_to(&mut body, Roots::NONE);
    assert_eq!(
        body,
        concat!(
            r#"{"@timestamp":"x","a":1,"#,
            r#""event":{"kind":"event","category":["network"],"type":["connection","allowed"],"action":"accept","outcome":"success","dataset":"aws.vpcflow"},"#,
            r#""cloud":{"provider":"aws","account":{"id":"123456789012"},"region":"eu-north-1"},"#,
            r#""source":{"ip":"10.0.0.1","port":443},"#,
            r#""destination":{"ip":"10.0.0.2","port":5000},"#,
            r#""network":{"transport":"tcp","iana_number":"6","bytes":4249,"packets":20},"#,
            r#""related":{"ip":["10.0.0.1","10.0.0.2"]}}"#
        )
    );
}

#[test]
fn nothing_to_write_leaves_the_body_unchanged() {
    for body in [r#"{"a":1}"#, "{}", "{\"a\":1} \n", "not json", "[1]"] {
        let mut got = body.to_string();
        Ecs::default().append_to(&mut got, Roots::NONE);
        assert_eq!(got, body);
    }
    let mut empty = "{ }".to_string();
    let ecs = Ecs {
        user_name: Some("bob"),
        ..Ecs::default()
    };
    ecs.append_to(&mut empty, Roots::NONE);
    assert_eq!(empty, r#"{ "user":{"name":"bob"}}"#);
}

#[test]
fn strings_are_escaped() {
    let ecs = Ecs {
        user_agent: Some("a \"b\"\\\n\u{1}"),
        url_path: Some("/é"),
        url_query: Some(""),
        ..Ecs::default()
    };
    let v = appended(&ecs, r#"{"a":1}"#, Roots::NONE);
    assert_eq!(v["user_agent"]["original"], "a \"b\"\\\n\u{1}");
    assert_eq!(v["url"], serde_json::json!({"path": "/é"}));
}

#[test]
fn unparseable_addresses_are_address_only() {
    let ecs = Ecs {
        source: Endpoint {
            address: Some("ec2.amazonaws.com"),
            ..Endpoint::default()
        },
        destination: Endpoint {
            address: Some("300.1.1.1"),
            ..Endpoint::default()
        },
        related_ip: vec!["nope", "2001:db8::1", "2001:DB8::1", "2001:db8::1"],
        ..Ecs::default()
    };
    let v = appended(&ecs, r#"{"a":1}"#, Roots::NONE);
    assert_eq!(
        v["source"],
        serde_json::json!({"address": "ec2.amazonaws.com"})
    );
    assert_eq!(
        v["destination"],
        serde_json::json!({"address": "300.1.1.1"})
    );
    // the same address written twice is one entry
    assert_eq!(v["related"]["ip"], serde_json::json!(["2001:db8::1"]));
}

/// GeoIP knows two public addresses: one in full, one without a country
/// (and with a location out of range).
fn known_addresses() {
    set_geoip(
        "81.2.69.142",
        sample_geo("GB", "London", 51.5142, -0.0931, 20712, "Andrews & Arnold"),
    );
    set_geoip(
        "2a02:cf40::1",
        crate::Geo {
            country_iso_code: None,
            city_name: None,
            location: Some(crate::Location {
                lat: 91.0,
                lon: 0.0,
            }),
            as_number: Some(1),
            as_organization: None,
        },
    );
}

#[test]
fn geoip_of_public_addresses() {
    known_addresses();
    // a private address is never looked up, even when the table knows it
    set_geoip("10.1.1.1", sample_geo("SE", "X", 1.0, 1.0, 1, "x"));
    let ecs = Ecs {
        source: Endpoint {
            address: Some("81.2.69.142"),
            port: Some(1),
            country: Some("US"),
        },
        destination: Endpoint {
            address: Some("2a02:cf40::1"),
            country: Some("DE"),
            ..Endpoint::default()
        },
        ..Ecs::default()
    };
    let v = appended(&ecs, r#"{"a":1}"#, Roots::NONE);
    assert_eq!(
        v["source"],
        serde_json::json!({
            "ip": "81.2.69.142", "port": 1,
            "geo": {"country_iso_code": "GB", "city_name": "London",
                    "location": {"lat": 51.5142, "lon": -0.0931}},
            "as": {"number": 20712, "organization": {"name": "Andrews & Arnold"}},
        })
    );
    // out-of-range location left out; the log's own country when GeoIP has none
    assert_eq!(
        v["destination"],
        serde_json::json!({
            "ip": "2a02:cf40::1",
            "geo": {"country_iso_code": "DE"}, "as": {"number": 1},
        })
    );
    let private = Ecs {
        source: Endpoint {
            address: Some("10.1.1.1"),
            ..Endpoint::default()
        },
        ..Ecs::default()
    };
    let v = appended(&private, r#"{"a":1}"#, Roots::NONE);
    assert_eq!(v["source"], serde_json::json!({"ip": "10.1.1.1"}));
}

#[test]
fn public_addresses() {
    for public in ["8.8.8.8", "2a00:1450::1", "::ffff:8.8.8.8", "100.128.0.1"] {
        assert!(is_public(&public.parse().unwrap()), "{public}");
    }
    for not in [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "192.0.2.1",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:10.0.0.1",
    ] {
        assert!(!is_public(&not.parse().unwrap()), "{not}");
    }
}

#[test]
fn roots_the_log_has_are_skipped() {
    let ecs = Ecs {
        kind: Some("event"),
        user_name: Some("bob"),
        source: Endpoint {
            address: Some("10.0.0.1"),
            ..Endpoint::default()
        },
        ..Ecs::default()
    };
    let body = r#"{"event":"x","source":{"a":1}}"#;
    let roots = Roots::of_json(body);
    assert!(roots.contains("event") && roots.contains("source") && !roots.contains("user"));
    let v = appended(&ecs, body, roots);
    assert_eq!(
        v,
        serde_json::json!({"event": "x", "source": {"a": 1}, "user": {"name": "bob"},
                           "related": {"ip": ["10.0.0.1"]}})
    );
    // escaped keys are read as what they spell
    assert!(Roots::of_json(r#"{"\u0065vent":1}"#).contains("event"));
    assert_eq!(Roots::of_json("[1]"), Roots::ALL);
    assert_eq!(Roots::of_keys(["eventName", "Event", "dns"]), {
        let mut r = Roots::NONE;
        r.mark("dns");
        r
    });
    let mut body = r#"{"a":1}"#.to_string();
    ecs.append_to(&mut body, Roots::ALL);
    assert_eq!(body, r#"{"a":1}"#);
}

#[test]
fn scan_reports_the_roots() {
    let scanned = crate::json::scan(
        br#"{"timestamp":1,"rule":{"event":1}} {"dns":1}"#,
        "timestamp",
    )
    .unwrap();
    assert_eq!(scanned[0].roots, Roots::of_keys(["rule"]));
    assert_eq!(scanned[1].roots, Roots::of_keys(["dns"]));
    let escaped = crate::json::scan(br#"{"\u0061":1}"#, "timestamp").unwrap();
    assert_eq!(escaped[0].roots, Roots::ALL);
}

#[test]
fn scan_tells_a_top_level_timestamp() {
    let scanned = crate::json::scan(
        br#"{"@timestamp":"x","a":1} {"a":{"@timestamp":1},"b":"\"@timestamp\""} {"@timestampx":1}"#,
        "a",
    )
    .unwrap();
    let has: Vec<bool> = scanned.iter().map(|s| s.roots.has_timestamp()).collect();
    // only a top-level key counts, not one nested or inside a string
    assert_eq!(has, [true, false, false]);
    assert!(!scanned[0].roots.contains("event"));
    // keys that cannot be told may hold one
    let escaped = crate::json::scan(br#"{"\u0040timestamp":1}"#, "a").unwrap();
    assert!(escaped[0].roots.has_timestamp());
    assert!(!Roots::NONE.has_timestamp());
}

#[test]
fn arns_and_protocols() {
    assert_eq!(
        arn_region_account("arn:aws:wafv2:us-east-1:123456789012:regional/webacl/a/b"),
        Some((Some("us-east-1"), Some("123456789012")))
    );
    assert_eq!(
        arn_region_account("arn:aws:securityhub:::ruleset/cis"),
        Some((None, None))
    );
    assert_eq!(arn_region_account("arn:aws:iam"), None);
    assert_eq!(arn_region_account("rslvr-frg-1"), None);
    assert_eq!(
        [1, 6, 17, 58, 50].map(transport_of_iana),
        [
            Some("icmp"),
            Some("tcp"),
            Some("udp"),
            Some("ipv6-icmp"),
            None
        ]
    );
}

#[test]
fn index_properties_cover_every_field_written() {
    let props: serde_json::Value = serde_json::from_str(INDEX_PROPERTIES).unwrap();
    let roots: Vec<&str> = props
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(roots.len(), ROOTS.len());
    for root in ROOTS {
        assert!(props.get(root).is_some(), "{root}");
    }
    set_geoip("8.8.4.4", sample_geo("US", "A", 1.0, 2.0, 15169, "Google"));
    let ecs = Ecs {
        kind: Some("event"),
        category: &["web"],
        types: &["access"],
        action: Some("ALLOW"),
        outcome: Some("success"),
        provider: Some("wafv2"),
        dataset: Some("aws.waf"),
        id: Some("1"),
        account_id: Some("1"),
        region: Some("r"),
        source: Endpoint {
            address: Some("8.8.4.4"),
            port: Some(1),
            country: None,
        },
        destination: Endpoint {
            address: Some("8.8.4.4"),
            port: Some(1),
            country: None,
        },
        transport: Some("tcp"),
        protocol: Some("http"),
        iana_number: Some(6),
        bytes: Some(1),
        packets: Some(1),
        direction: Some("ingress"),
        user_name: Some("u"),
        user_agent: Some("ua"),
        http_method: Some("GET"),
        url_path: Some("/"),
        url_query: Some("a=1"),
        dns_name: Some("a."),
        dns_type: Some("A"),
        dns_rcode: Some("NOERROR"),
        rule_id: Some("r"),
        rule_name: Some("n"),
        ruleset: Some("s"),
        related_ip: vec!["1.1.1.1"],
        verbatim: true,
    };
    let v = appended(&ecs, r#"{"a":1}"#, Roots::NONE);
    let mut missing = Vec::new();
    leaves("", &v, &mut |path| {
        let mut parts = path.split('.').filter(|p| !p.is_empty());
        let mut at = &props[parts.next().unwrap()];
        for part in parts {
            at = &at["properties"][part];
        }
        if at.get("type").is_none() {
            missing.push(path.to_string());
        }
    });
    assert_eq!(missing, vec![".a".to_string()]);
}

/// Call `f` with the dotted path of every leaf (arrays and geo points are leaves).
fn leaves(path: &str, v: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match v.as_object() {
        Some(map) if !path.ends_with("location") => {
            for (k, v) in map {
                leaves(&format!("{path}.{k}"), v, f);
            }
        }
        _ => f(path),
    }
}

#[test]
fn members_alone_and_spliced() {
    let ecs = Ecs {
        user_name: Some("bob"),
        dataset: Some("aws.waf"),
        ..Ecs::default()
    };
    let members = ecs.to_members(Roots::NONE);
    assert_eq!(
        members,
        r#""event":{"dataset":"aws.waf"},"user":{"name":"bob"}"#
    );
    let mut body = r#"{"a":1}"#.to_string();
    append_members(&mut body, &members);
    let mut direct = r#"{"a":1}"#.to_string();
    ecs.append_to(&mut direct, Roots::NONE);
    assert_eq!(body, direct);
    let mut empty = "{}".to_string();
    append_members(&mut empty, &members);
    assert_eq!(empty, format!("{{{members}}}"));
    append_members(&mut empty, "");
    assert_eq!(Ecs::default().to_members(Roots::NONE), "");
}

#[test]
fn geoip_answers_are_cached_per_address() {
    let ecs = Ecs {
        source: Endpoint {
            address: Some("9.9.9.9"),
            ..Endpoint::default()
        },
        ..Ecs::default()
    };
    // unknown, then cached as unknown
    assert!(
        appended(&ecs, "{}", Roots::NONE)["source"]
            .get("geo")
            .is_none()
    );
    crate::enrich::native::TABLE.with(|t| {
        t.borrow_mut().insert(
            "9.9.9.9".into(),
            sample_geo("CH", "Zürich", 47.4, 8.5, 19281, "Quad9"),
        )
    });
    assert!(
        appended(&ecs, "{}", Roots::NONE)["source"]
            .get("geo")
            .is_none()
    );
    // set_geoip forgets the cache
    set_geoip(
        "9.9.9.9",
        sample_geo("CH", "Zürich", 47.4, 8.5, 19281, "Quad9"),
    );
    assert_eq!(
        appended(&ecs, "{}", Roots::NONE)["source"]["geo"]["country_iso_code"],
        "CH"
    );
}

/// The renderings kept for repeating fields ([`memo`]) give exactly what a
/// first rendering gives, whatever came before and after (more distinct
/// keys than are kept, repeats, fields that differ in one byte).
#[test]
fn kept_renderings_equal_fresh_ones() {
    let actions: Vec<String> = (0..40).map(|i| format!("ACTION{i:02}")).collect();
    let ecs = |i: usize| Ecs {
        kind: Some("event"),
        category: if i.is_multiple_of(2) {
            &["web"]
        } else {
            &["network"]
        },
        types: &["access"],
        action: Some(&actions[i % actions.len()]),
        outcome: Some("success"),
        provider: Some(if i.is_multiple_of(3) {
            "wafv2"
        } else {
            "wafv3"
        }),
        dataset: Some("aws.waf"),
        id: Some("id"),
        account_id: Some(if i.is_multiple_of(5) {
            "123456789012"
        } else {
            "123456789013"
        }),
        region: (!i.is_multiple_of(7)).then_some("us-east-1"),
        rule_id: Some(&actions[(i * 7) % actions.len()]),
        ruleset: i.is_multiple_of(4).then_some("acl"),
        ..Ecs::default()
    };
    // the first renderings of each, kept aside
    let first: Vec<String> = (0..80).map(|i| ecs(i).to_members(Roots::NONE)).collect();
    for round in 0..3 {
        for i in (0..80)
            .rev()
            .chain(0..80)
            .chain((0..80).map(|i| (i * 13) % 80))
        {
            let members = ecs(i).to_members(Roots::NONE);
            assert_eq!(members, first[i], "round {round}, {i}");
            let v: serde_json::Value = serde_json::from_str(&format!("{{{members}}}")).unwrap();
            assert_eq!(v["event"]["action"], actions[i % actions.len()]);
            assert_eq!(v["rule"]["id"], actions[(i * 7) % actions.len()]);
            assert_eq!(
                v["cloud"]["region"].as_str(),
                (!i.is_multiple_of(7)).then_some("us-east-1")
            );
        }
    }
}

#[test]
fn verbatim_strings_are_written_as_escaping_writes_them() {
    let escaped = Ecs {
        action: Some("ALLOW"),
        id: Some("GINMHHUgoAMFxug="),
        source: Endpoint {
            address: Some("72.21.198.65"),
            port: None,
            country: Some("US"),
        },
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) é"),
        url_path: Some("/a b/<script>"),
        url_query: Some("q=1&r=%22"),
        rule_id: Some("Default_Action"),
        ..Ecs::default()
    };
    let verbatim = Ecs {
        verbatim: true,
        ..escaped.clone()
    };
    let text = escaped.to_members(Roots::NONE);
    assert_eq!(verbatim.to_members(Roots::NONE), text);
    assert!(text.contains(r#""user_agent":{"original":"Mozilla/5.0 (X11; Linux x86_64) é"}"#));
    // not verbatim (the default): what needs escaping is escaped
    let quoted = Ecs {
        user_agent: Some("a\"b\\c\n\u{1}"),
        ..Ecs::default()
    };
    assert_eq!(
        quoted.to_members(Roots::NONE),
        r#""user_agent":{"original":"a\"b\\c\n\u0001"}"#
    );
}

/// The log's own country, per log, for an address seen before (its answer
/// cached): one GeoIP has no country for, one it does not know.
#[test]
fn the_logs_own_country_for_a_cached_address() {
    known_addresses();
    let iso = |c: &str| serde_json::json!({ "country_iso_code": c });
    let london = serde_json::json!({"country_iso_code": "GB", "city_name": "London",
        "location": {"lat": 51.5142, "lon": -0.0931}});
    for (address, country, want) in [
        ("2a02:cf40::1", Some("DE"), iso("DE")),
        ("2a02:cf40::1", Some("FR"), iso("FR")),
        ("2a02:cf40::1", Some("FR"), iso("FR")),
        ("2a02:cf40::1", Some("DE"), iso("DE")),
        ("2a02:cf40::1", None, serde_json::Value::Null),
        ("198.51.100.7", Some("NL"), iso("NL")),
        ("8.8.8.8", Some("NL"), iso("NL")),
        ("8.8.8.8", Some("BE"), iso("BE")),
        ("8.8.8.8", None, serde_json::Value::Null),
        ("81.2.69.142", Some("US"), london),
    ] {
        let ecs = Ecs {
            source: Endpoint {
                address: Some(address),
                country,
                ..Endpoint::default()
            },
            ..Ecs::default()
        };
        let v = appended(&ecs, "{}", Roots::NONE);
        assert_eq!(v["source"]["ip"], address, "{address} {country:?}");
        assert_eq!(v["source"]["geo"], want, "{address} {country:?}");
    }
}
