use super::install::{FILE_NAME, multipart};
use super::*;

fn route(tenant: &str, name: &str, patterns: &[&str], dates: &[&str]) -> RouteIndices {
    RouteIndices {
        tenant: TenantId::new(tenant).unwrap(),
        route: name.to_string(),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        date_fields: dates.iter().map(|d| d.to_string()).collect(),
    }
}

fn routes() -> Vec<RouteIndices> {
    vec![
        route("acme", "cwl", &["acme-cwl-*"], &["@timestamp", "timestamp"]),
        route("acme", "waf", &["acme-waf"], &["@timestamp"]),
        route("acme", "custom", &["acme-custom-*"], &["eventTime"]),
        route("acme", "plain", &["acme-plain"], &[]),
        route("beta", "waf", &["beta-waf"], &["@timestamp"]),
    ]
}

/// `(id, title, time field)` of each object.
fn summary(objects: &[IndexPatternObject]) -> Vec<(&str, &str, Option<&str>)> {
    objects
        .iter()
        .map(|o| (o.id.as_str(), o.title.as_str(), o.time_field.as_deref()))
        .collect()
}

#[test]
fn one_pattern_per_route_and_one_over_every_timestamped_route() {
    let routes = routes();
    let all: Vec<&RouteIndices> = routes.iter().collect();
    let objects = index_patterns(&all).unwrap();
    assert_eq!(
        summary(&objects),
        [
            ("weir-acme-cwl", "acme-cwl-*", Some("@timestamp")),
            ("weir-acme-waf", "acme-waf", Some("@timestamp")),
            ("weir-acme-custom", "acme-custom-*", Some("eventTime")),
            ("weir-acme-plain", "acme-plain", None),
            ("weir-beta-waf", "beta-waf", Some("@timestamp")),
            // Not the routes whose documents have no `@timestamp` date.
            (
                "weir-all",
                "acme-cwl-*,acme-waf,beta-waf",
                Some("@timestamp")
            ),
        ]
    );
    let without = index_patterns(&[&routes[2], &routes[3]]).unwrap();
    assert!(
        without.iter().all(|o| o.id != CROSS_SOURCE_ID),
        "no route has @timestamp: no cross-source pattern"
    );
}

#[test]
fn every_line_is_an_index_pattern_saved_object() {
    let routes = routes();
    let all: Vec<&RouteIndices> = routes.iter().collect();
    let objects = index_patterns(&all).unwrap();
    let text = ndjson(&objects);
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), objects.len());
    for (line, object) in lines.iter().zip(&objects) {
        assert!(!line.is_empty());
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["type", "id", "attributes", "references", "migrationVersion"]
        );
        assert_eq!(v["type"], "index-pattern");
        assert_eq!(v["id"], object.id.as_str());
        assert_eq!(v["attributes"]["title"], object.title.as_str());
        assert_eq!(v["references"], serde_json::json!([]));
        assert_eq!(v["migrationVersion"]["index-pattern"], "7.6.0");
        match &object.time_field {
            Some(t) => assert_eq!(v["attributes"]["timeFieldName"], t.as_str()),
            None => assert!(v["attributes"].get("timeFieldName").is_none(), "{line}"),
        }
    }
    assert_eq!(
        lines[0],
        r#"{"type":"index-pattern","id":"weir-acme-cwl","attributes":{"title":"acme-cwl-*","timeFieldName":"@timestamp"},"references":[],"migrationVersion":{"index-pattern":"7.6.0"}}"#
    );
}

#[test]
fn ids_are_fixed_so_a_second_export_is_the_same_file() {
    let routes = routes();
    let all: Vec<&RouteIndices> = routes.iter().collect();
    assert_eq!(
        ndjson(&index_patterns(&all).unwrap()),
        ndjson(&index_patterns(&all).unwrap())
    );
}

#[test]
fn titles_come_from_the_route_index_with_its_tenant_prefix() {
    let text = r#"
        [server]
        listen = "127.0.0.1:8080"
        plain_http = true
        [sinks.local]
        type = "directory"
        path = "weir-data"
        [[tenants]]
        id = "acme"
        access_keys = ["acme-access-key"]
        index_prefix = "acme-"
        [[routes]]
        path = "/firehose/cwl"
        tenant = "acme"
        plugin = "builtin:cloudwatch-logs"
        index = "cwl-%Y.%m.%d"
        sink = "local"
        [[routes]]
        path = "/firehose/hourly"
        tenant = "acme"
        plugin = "builtin:waf"
        index = "waf-%Y%m%d%H"
        sink = "local"
        [[routes]]
        path = "/firehose/sh"
        tenant = "acme"
        plugin = "builtin:securityhub"
        index = "sh-unknown"
        allow_plugin_index = true
        index_patterns = ["sh-*", "findings-*"]
        sink = "local"
    "#;
    let config = Config::parse(text).unwrap();
    let routes: Vec<RouteIndices> = config
        .routes
        .iter()
        .map(|r| RouteIndices::new(r, vec!["@timestamp".into()]))
        .collect();
    let all: Vec<&RouteIndices> = routes.iter().collect();
    let objects = index_patterns(&all).unwrap();
    assert_eq!(
        summary(&objects),
        [
            ("weir-acme-cwl", "acme-cwl-*", Some("@timestamp")),
            ("weir-acme-hourly", "acme-waf-*", Some("@timestamp")),
            (
                "weir-acme-sh",
                "acme-sh-*,acme-findings-*",
                Some("@timestamp")
            ),
            (
                "weir-all",
                "acme-cwl-*,acme-waf-*,acme-sh-*,acme-findings-*",
                Some("@timestamp")
            ),
        ]
    );
}

#[test]
fn the_time_field_is_the_plugins_first_date_field_unless_the_route_names_its_own() {
    let text = include_str!("../../../examples/weir.toml").replace(
        "index = \"waf\"",
        "index = \"waf\"\ndate_fields = [\"timestamp\"]",
    );
    let config = Config::parse(&text).unwrap();
    let routes = route_indices(&config).unwrap();
    let by_name = |n: &str| routes.iter().find(|r| r.route == n).unwrap();
    assert_eq!(by_name("waf").date_fields, ["timestamp"]);
    assert_eq!(by_name("waf").patterns, ["demo-waf"]);
    for name in ["cloudtrail", "vpc-flow", "securityhub", "route53-resolver"] {
        assert_eq!(
            by_name(name).date_fields.first().map(String::as_str),
            Some("@timestamp"),
            "{name}"
        );
    }
    let space = spaces(&routes, None, false).unwrap();
    let all = space[0].objects.last().unwrap();
    assert_eq!(all.id, "weir-all");
    assert!(!all.title.contains("demo-waf"), "{}", all.title);
    assert!(all.title.contains("demo-cwl-*"), "{}", all.title);
}

#[test]
fn ids_that_would_collide_are_refused() {
    let a = route("a-b", "c", &["x"], &[]);
    let b = route("a", "b-c", &["y"], &[]);
    let e = index_patterns(&[&a, &b]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "routes a-b/c and a/b-c would both get the saved-object id weir-a-b-c; rename one"
    );
}

#[test]
fn each_tenant_space_holds_only_its_own_routes() {
    let routes = routes();
    let per_tenant = spaces(&routes, None, true).unwrap();
    assert_eq!(per_tenant.len(), 2);
    assert_eq!(per_tenant[0].tenant.as_ref().unwrap().as_str(), "acme");
    assert_eq!(per_tenant[1].tenant.as_ref().unwrap().as_str(), "beta");
    assert_eq!(
        summary(&per_tenant[1].objects),
        [
            ("weir-beta-waf", "beta-waf", Some("@timestamp")),
            ("weir-all", "beta-waf", Some("@timestamp")),
        ]
    );
    assert!(
        per_tenant[0]
            .objects
            .iter()
            .all(|o| !o.title.contains("beta-"))
    );
    let one = spaces(&routes, Some("beta"), false).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].tenant, None);
    assert_eq!(one[0].objects, per_tenant[1].objects);
    let shared = spaces(&routes, None, false).unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].objects.len(), 6);
    assert_eq!(
        spaces(&routes, Some("gamma"), false)
            .unwrap_err()
            .to_string(),
        "no route of the config belongs to tenant \"gamma\""
    );
}

#[test]
fn the_multipart_body_holds_the_file_as_part_file() {
    let file = "{\"a\":1}\n{\"b\":2}\n";
    let (boundary, body) = multipart(file);
    let body = String::from_utf8(body).unwrap();
    assert_eq!(
        body,
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{FILE_NAME}\"\r\nContent-Type: application/ndjson\r\n\r\n\
             {file}\r\n--{boundary}--\r\n"
        )
    );
    assert!(FILE_NAME.ends_with(".ndjson"));
    let (other, _) = multipart(file);
    assert_ne!(boundary, other, "a new boundary each time");
    assert!(boundary.len() >= 32 && boundary.len() <= 70, "RFC 2046");
}
