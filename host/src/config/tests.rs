//! Whole-configuration tests: `Config::parse` on TOML text, checking the
//! problems it reports by their key paths.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

const GOOD: &str = r#"
    [server]
    listen = "127.0.0.1:8080"
    plain_http = true

    [sinks.local]
    type = "directory"
    path = "weir-data"

    [[tenants]]
    id = "demo"
    access_keys = ["demo-access-key"]

    [[routes]]
    path = "/firehose/waf"
    tenant = "demo"
    plugin = "builtin:waf"
    index = "waf"
    sink = "local"
"#;

#[test]
fn parses_the_good_config() {
    let c = Config::parse(GOOD).unwrap();
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].name, "waf");
    assert_eq!(c.routes[0].plugin_config, "{}");
    assert!(c.server.tls.is_none());
    assert_eq!(c.limits.max_body_bytes, FIREHOSE_MAX_BODY_BYTES);
    assert!(c.route_for_path("/firehose/waf").is_some());
    assert!(c.route_for_path("/firehose/other").is_none());
}

#[test]
fn the_example_config_is_valid() {
    let text = include_str!("../../../examples/weir.toml");
    Config::parse(text).unwrap();
}

#[test]
fn unknown_keys_are_errors() {
    let text = GOOD.replace("plain_http = true", "plain_http = true\nlisten_twice = 1");
    let e = Config::parse(&text).unwrap_err().to_string();
    assert!(e.contains("listen_twice"), "{e}");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let text = GOOD
        .replace("builtin:waf", "builtin:nope")
        .replace("index = \"waf\"", "index = \"WAF\"")
        .replace("sink = \"local\"", "sink = \"elsewhere\"")
        .replace("tenant = \"demo\"", "tenant = \"ghost\"");
    let e = Config::parse(&text).unwrap_err();
    let all = e.problems.join("\n");
    assert!(
        all.contains("routes[0].plugin: unknown built-in plugin `nope`"),
        "{all}"
    );
    assert!(all.contains("routes[0].index:"), "{all}");
    assert!(all.contains("routes[0].sink: unknown sink"), "{all}");
    assert!(
        all.contains("routes[0].tenant: unknown tenant ghost"),
        "{all}"
    );
}

#[test]
fn tls_or_explicit_plain_http() {
    let text = GOOD.replace("plain_http = true", "");
    let e = Config::parse(&text).unwrap_err().to_string();
    assert!(e.contains("no `tls` section"), "{e}");
}

#[test]
fn limits_below_firehose_are_refused() {
    let text = format!("{GOOD}\n[limits]\nmax_body_bytes = 1000\n");
    let e = Config::parse(&text).unwrap_err().to_string();
    assert!(e.contains("limits.max_body_bytes"), "{e}");
}

#[test]
fn plugin_config_becomes_json() {
    let text = format!("{GOOD}\n[routes.plugin_config]\nformat = \"x\"\nn = 3\n");
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.routes[0].plugin_config, r#"{"format":"x","n":3}"#);
}

#[test]
fn opensearch_sink_config() {
    let text = format!(
        "{GOOD}\n[sinks.search]\ntype = \"opensearch\"\nurls = [\"http://127.0.0.1:9200\"]\ndead_letter_sink = \"local\"\npassword = \"hunter2\"\nusername = \"admin\"\nbulk_max_age_ms = 0\n"
    );
    let c = Config::parse(&text).unwrap();
    let SinkConfig::OpenSearch(os) = &c.sinks["search"] else {
        panic!()
    };
    assert!(os.bulk_max_age.is_zero());
    assert!(
        !format!("{os:?}").contains("hunter2"),
        "secrets print as ***"
    );
    let bad = text
        .replace(
            "dead_letter_sink = \"local\"",
            "dead_letter_sink = \"search\"",
        )
        .replace("http://127.0.0.1:9200", "ftp://x");
    let e = Config::parse(&bad).unwrap_err().problems.join("\n");
    assert!(e.contains("sinks.search.dead_letter_sink"), "{e}");
    assert!(e.contains("sinks.search.urls[0]"), "{e}");
}

#[test]
fn date_fields_default_by_plugin() {
    // Unset: the plugin's own date fields (from its metadata, filled in by the pipeline).
    let c = Config::parse(GOOD).unwrap();
    assert_eq!(c.routes[0].date_fields, None);
    assert_eq!(c.routes[0].index_patterns, vec!["demo-waf"]);
    let set = GOOD.replace(
        "sink = \"local\"",
        "sink = \"local\"\ndate_fields = [\"at\", \"until\"]",
    );
    let c = Config::parse(&set).unwrap();
    assert_eq!(
        c.routes[0].date_fields,
        Some(vec!["at".to_string(), "until".to_string()])
    );
}

#[test]
fn every_index_is_inside_the_tenant_prefix() {
    assert_eq!(namespaced("acme-", "waf"), "acme-waf");
    assert_eq!(namespaced("acme-", "acme-waf"), "acme-waf", "idempotent");
    assert_eq!(namespaced("beta-", "acme-waf"), "beta-acme-waf");
    let c = Config::parse(GOOD).unwrap();
    assert_eq!(c.routes[0].index.as_str(), "demo-waf");
    assert_eq!(c.routes[0].index_prefix, "demo-");
    let own = GOOD.replace(
        "access_keys = [\"demo-access-key\"]",
        "access_keys = [\"demo-access-key\"]\nindex_prefix = \"siem-\"",
    );
    let c = Config::parse(&own).unwrap();
    assert_eq!(c.routes[0].index.as_str(), "siem-waf");
}

#[test]
fn overlapping_index_prefixes_are_refused() {
    let two =
        format!("{GOOD}\n[[tenants]]\nid = \"demo-eu\"\naccess_keys = [\"other-access-key\"]\n");
    // `demo-` is a prefix of `demo-eu-`: demo could write demo-eu's indices.
    let e = Config::parse(&two).unwrap_err().problems.join("\n");
    assert!(e.contains("overlap"), "{e}");
    let fixed = two.replace(
        "id = \"demo-eu\"",
        "id = \"demo-eu\"\nindex_prefix = \"eu-\"",
    );
    Config::parse(&fixed).unwrap();
    let empty = two.replace("id = \"demo-eu\"", "id = \"demo-eu\"\nindex_prefix = \"\"");
    assert!(
        Config::parse(&empty).is_err(),
        "an empty prefix overlaps every other"
    );
}

#[test]
fn plugins_from_a_directory_or_s3() {
    let text = GOOD
        .replace(
            "[sinks.local]",
            "[plugins]\ndir = \"/srv/weir/plugins\"\n\n[sinks.local]",
        )
        .replace("builtin:waf", "acme-waf.wasm");
    let c = Config::parse(&text).unwrap();
    assert_eq!(
        c.routes[0].plugin,
        PluginRef::File(PathBuf::from("/srv/weir/plugins/acme-waf.wasm"))
    );
    let digest = "ab".repeat(32);
    let s3 = GOOD
        .replace(
            "[sinks.local]",
            "[sinks.store]\ntype = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\n\n[sinks.local]",
        )
        .replace("builtin:waf", "s3://plugins/acme/waf.wasm");
    let e = Config::parse(&s3).unwrap_err().problems.join("\n");
    assert!(e.contains("routes[0].plugin_store"), "{e}");
    let pinned = s3.replace(
        "sink = \"local\"",
        &format!("sink = \"local\"\nplugin_store = \"store\"\nplugin_sha256 = \"{digest}\""),
    );
    let c = Config::parse(&pinned).unwrap();
    assert_eq!(
        c.routes[0].plugin,
        PluginRef::S3 {
            bucket: "plugins".into(),
            key: "acme/waf.wasm".into()
        }
    );
    let unpinned = s3.replace(
        "sink = \"local\"",
        "sink = \"local\"\nplugin_store = \"store\"",
    );
    let e = Config::parse(&unpinned).unwrap_err().problems.join("\n");
    assert!(e.contains("must be pinned"), "{e}");
    assert!(PluginRef::parse("s3://bucket").is_err());
}

#[test]
fn access_keys_as_digests() {
    // printf %s demo-access-key | sha256sum
    let digest = crate::digest::sha256_hex(b"demo-access-key");
    let text = GOOD.replace(
        "access_keys = [\"demo-access-key\"]",
        &format!("access_key_sha256 = [\"{digest}\"]"),
    );
    let c = Config::parse(&text).unwrap();
    let keys = &c.tenants.values().next().unwrap().access_keys;
    assert!(crate::tenant::any_key_matches(keys, b"demo-access-key"));
    assert!(!crate::tenant::any_key_matches(keys, b"demo-access-kez"));
    let bad = GOOD.replace(
        "access_keys = [\"demo-access-key\"]",
        "access_key_sha256 = [\"abc\"]",
    );
    let e = Config::parse(&bad).unwrap_err().problems.join("\n");
    assert!(e.contains("tenants[0].access_key_sha256[0]"), "{e}");
}

#[test]
fn access_keys_from_a_file() {
    let dir = std::env::temp_dir().join(format!("weir-key-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, config) = (dir.join("demo.sha256"), dir.join("weir.toml"));
    let digest = crate::digest::sha256_hex(b"mounted-secret-key");
    let text = GOOD.replace(
        "access_keys = [\"demo-access-key\"]",
        &format!("access_key_sha256_file = {:?}", file.display().to_string()),
    );
    std::fs::write(&config, &text).unwrap();
    // Parsing is pure: the file is named, not read.
    let parsed = Config::parse(&text).unwrap();
    assert!(
        parsed
            .tenants
            .values()
            .next()
            .unwrap()
            .access_keys
            .is_empty()
    );
    std::fs::write(&file, format!("# rotated 2026-12\n\n{digest}\n")).unwrap();
    let c = Config::load(&config).unwrap();
    let tenant = c.tenants.values().next().unwrap();
    assert!(crate::tenant::any_key_matches(
        &tenant.access_keys,
        b"mounted-secret-key"
    ));
    assert!(!crate::tenant::any_key_matches(
        &tenant.access_keys,
        b"demo-access-key"
    ));
    assert_eq!(tenant.access_key_file.as_deref(), Some(file.as_path()));
    // A bad line is named by its number; a missing file, or one without a
    // digest, is a config error.
    std::fs::write(&file, format!("{digest}\nnot-a-digest\n")).unwrap();
    let e = Config::load(&config).unwrap_err().problems.join("\n");
    assert!(
        e.contains("tenant demo: access_key_sha256_file") && e.contains("line 2"),
        "{e}"
    );
    std::fs::write(&file, "# none yet\n").unwrap();
    let e = Config::load(&config).unwrap_err().problems.join("\n");
    assert!(e.contains("no digest, and no other key"), "{e}");
    std::fs::remove_file(&file).unwrap();
    assert!(Config::load(&config).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn quota_store() {
    assert!(Config::parse(GOOD).unwrap().quota_store.is_none());
    let text = format!("{GOOD}\n[quota_store]\nurl = \"redis://:hunter22@redis:6379/0\"\n");
    let c = Config::parse(&text).unwrap();
    let q = c.quota_store.unwrap();
    assert_eq!(q.on_unreachable, OnUnreachable::Local);
    assert_eq!(
        q.timeout,
        std::time::Duration::from_millis(DEFAULT_QUOTA_STORE_TIMEOUT_MS)
    );
    assert_eq!(q.key_prefix, DEFAULT_QUOTA_KEY_PREFIX);
    assert!(
        !format!("{q:?}").contains("hunter22"),
        "the URL prints as ***"
    );
    let bad = format!(
        "{GOOD}\n[quota_store]\nurl = \"rediss://redis\"\non_unreachable = \"open\"\ntimeout_ms = 0\n"
    );
    let e = Config::parse(&bad).unwrap_err().problems.join("\n");
    assert!(e.contains("quota_store.url"), "{e}");
    assert!(e.contains("quota_store.on_unreachable"), "{e}");
    assert!(e.contains("quota_store.timeout_ms"), "{e}");
    let refuse =
        format!("{GOOD}\n[quota_store]\nurl = \"redis://redis\"\non_unreachable = \"refuse\"\n");
    assert_eq!(
        Config::parse(&refuse)
            .unwrap()
            .quota_store
            .unwrap()
            .on_unreachable,
        OnUnreachable::Refuse
    );
}

#[test]
fn quotas_and_route_limits() {
    let text = GOOD
        .replace(
            "access_keys = [\"demo-access-key\"]",
            "access_keys = [\"demo-access-key\"]\nrecords_per_second = 1000\nmax_batch_records = 50\nmax_requests_in_flight = 3",
        )
        .replace(
            "sink = \"local\"",
            "sink = \"local\"\nmemory_mib = 32\ntimeout_ms = 200\nfuel = 1000000\nmax_output_mib = 2",
        );
    let c = Config::parse(&text).unwrap();
    let q = &c.tenants.values().next().unwrap().quotas;
    assert_eq!(
        (
            q.records_per_second,
            q.max_batch_records,
            q.max_requests_in_flight
        ),
        (Some(1000), 50, 3)
    );
    assert_eq!(
        q.max_concurrent_batches, DEFAULT_MAX_CONCURRENT_BATCHES,
        "alone: the whole pool"
    );
    let l = &c.routes[0].limits;
    assert_eq!(l.memory_bytes, 32 << 20);
    assert_eq!(l.timeout, Duration::from_millis(200));
    assert_eq!(l.fuel, Some(1_000_000));
    assert_eq!(l.max_output_bytes, 2 << 20);
    assert!(
        c.plugins.consume_fuel,
        "a route with fuel turns fuel counting on"
    );
    assert!(!Config::parse(GOOD).unwrap().plugins.consume_fuel);
    let too_big = text.replace("memory_mib = 32", "memory_mib = 100000");
    let e = Config::parse(&too_big).unwrap_err().problems.join("\n");
    assert!(e.contains("routes[0].memory_mib"), "{e}");
    let pinned_builtin = GOOD.replace(
        "sink = \"local\"",
        &format!("sink = \"local\"\nplugin_sha256 = \"{}\"", "a".repeat(64)),
    );
    let e = Config::parse(&pinned_builtin)
        .unwrap_err()
        .problems
        .join("\n");
    assert!(e.contains("routes[0].plugin_sha256"), "{e}");
}

#[test]
fn index_bounds_default_and_parse() {
    let c = Config::parse(GOOD).unwrap();
    assert_eq!(
        (
            c.routes[0].max_indices_per_request,
            c.routes[0].max_indices_per_day
        ),
        (DEFAULT_MAX_INDICES_PER_REQUEST, DEFAULT_MAX_INDICES_PER_DAY)
    );
    let set = GOOD.replace(
        "sink = \"local\"",
        "sink = \"local\"\nmax_indices_per_day = 7",
    );
    assert_eq!(
        Config::parse(&set).unwrap().routes[0].max_indices_per_day,
        7
    );
    let zero = GOOD.replace(
        "sink = \"local\"",
        "sink = \"local\"\nmax_indices_per_day = 0\nmax_indices_per_request = 0",
    );
    let e = Config::parse(&zero).unwrap_err().problems;
    assert_eq!(
        e,
        [
            "routes[0].max_indices_per_request: must be at least 1",
            "routes[0].max_indices_per_day: must be at least 1"
        ]
    );
}

#[test]
fn unknown_keys_in_sinks_and_routes_are_errors() {
    let sink = GOOD.replace("path = \"weir-data\"", "path = \"weir-data\"\nflush = 1");
    let e = Config::parse(&sink).unwrap_err().to_string();
    assert!(e.contains("flush"), "{e}");
    let os = format!(
        "{GOOD}\n[sinks.search]\ntype = \"opensearch\"\nurls = [\"http://127.0.0.1:9200\"]\ndead_letter_sink = \"local\"\nbulk_max_docs = 1\n"
    );
    let e = Config::parse(&os).unwrap_err().to_string();
    assert!(e.contains("bulk_max_docs"), "{e}");
    let s3 = format!(
        "{GOOD}\n[sinks.store]\ntype = \"s3\"\nbucket = \"b\"\nregion = \"r\"\nacl = \"x\"\n"
    );
    let e = Config::parse(&s3).unwrap_err().to_string();
    assert!(e.contains("acl"), "{e}");
    let route = GOOD.replace("sink = \"local\"", "sink = \"local\"\nmemory = 3");
    let e = Config::parse(&route).unwrap_err().to_string();
    assert!(e.contains("memory"), "{e}");
}

#[test]
fn geoip_names_at_least_one_database() {
    assert_eq!(Config::parse(GOOD).unwrap().geoip, None);
    let c = Config::parse(&format!("{GOOD}\n[geoip]\ncity = \"c.mmdb\"\n")).unwrap();
    assert_eq!(
        c.geoip,
        Some(GeoIpConfig {
            city: Some(PathBuf::from("c.mmdb")),
            asn: None
        })
    );
    let e = Config::parse(&format!("{GOOD}\n[geoip]\n")).unwrap_err();
    assert!(
        e.problems[0].starts_with("geoip: name a `city` database"),
        "{e}"
    );
    let e = Config::parse(&format!("{GOOD}\n[geoip]\ncountry = \"x\"\n")).unwrap_err();
    assert!(e.to_string().contains("unknown field `country`"), "{e}");
}

/// [`GOOD`] plus an s3 dead-letter store and an s3-notification route with `extra`.
fn notification_route(extra: &str) -> String {
    let base = GOOD.replace(
        "[sinks.local]",
        "[sinks.dlq]\ntype = \"s3\"\nbucket = \"weir-store\"\nprefix = \"weir\"\nregion = \"us-east-1\"\n\n\
         [sinks.search]\ntype = \"opensearch\"\nurls = [\"http://h:9200\"]\ndead_letter_sink = \"dlq\"\n\n\
         [sinks.local]",
    );
    format!(
        "{base}\n[[routes]]\npath = \"/s3/trail\"\ntenant = \"demo\"\nplugin = \"builtin:cloudwatch-logs\"\n\
         index = \"cwl\"\nsink = \"local\"\nkind = \"s3-notification\"\nobject_store = \"dlq\"\n{extra}\n"
    )
}

#[test]
fn s3_notification_routes_list_what_they_may_read() {
    let route = notification_route;
    // Default deny is a config error: a route that may read nothing.
    let e = Config::parse(&route("")).unwrap_err().problems.join("\n");
    assert!(
        e.contains("routes[1].allow_objects: an s3-notification route reads only"),
        "{e}"
    );
    let e = Config::parse(&route("allow_objects = []"))
        .unwrap_err()
        .problems
        .join("\n");
    assert!(e.contains("routes[1].allow_objects: empty"), "{e}");
    let c = Config::parse(&route(
        "allow_objects = [\"s3://trail-bucket/AWSLogs/\", \"s3://weir-store/trails/\"]",
    ))
    .unwrap();
    assert_eq!(
        c.routes[1].allow_objects,
        vec![
            ObjectPrefix::parse("s3://trail-bucket/AWSLogs/").unwrap(),
            ObjectPrefix::parse("s3://weir-store/trails/").unwrap()
        ]
    );
    assert_eq!(
        c.own_objects(),
        vec![ObjectPrefix::parse("s3://weir-store/weir/").unwrap()]
    );
    // Weir's own dead letters can never be listed.
    for own in [
        "s3://weir-store",
        "s3://weir-store/we",
        "s3://weir-store/weir/demo/",
    ] {
        let e = Config::parse(&route(&format!("allow_objects = [\"{own}\"]")))
            .unwrap_err()
            .problems
            .join("\n");
        assert!(
            e.contains("routes[1].allow_objects[0]")
                && e.contains("overlaps s3://weir-store/weir/"),
            "{own}: {e}"
        );
    }
    for bad in ["trail-bucket", "s3://Trail", "s3://trail-bucket/a/../b"] {
        let e = Config::parse(&route(&format!("allow_objects = [\"{bad}\"]")))
            .unwrap_err()
            .problems
            .join("\n");
        assert!(e.contains("routes[1].allow_objects[0]"), "{bad}: {e}");
    }
    let firehose = GOOD.replace(
        "sink = \"local\"",
        "sink = \"local\"\nallow_objects = [\"s3://trail-bucket\"]",
    );
    let e = Config::parse(&firehose).unwrap_err().problems.join("\n");
    assert!(e.contains("routes[0].allow_objects: only for"), "{e}");
}

#[test]
fn s3_sinks_take_their_own_credentials() {
    let route = notification_route;
    // Per-tenant credentials on the s3 sink.
    let creds = route("allow_objects = [\"s3://trail-bucket\"]").replace(
        "prefix = \"weir\"",
        "prefix = \"weir\"\nprofile = \"tenant-demo\"\n\
         role_arn = \"arn:aws:iam::123456789012:role/weir-reader\"\nexternal_id = \"demo\"",
    );
    let c = Config::parse(&creds).unwrap();
    let SinkConfig::S3(s3) = &c.sinks["dlq"] else {
        panic!("{:?}", c.sinks)
    };
    assert_eq!(s3.profile.as_deref(), Some("tenant-demo"));
    assert_eq!(s3.external_id.as_deref(), Some("demo"));
    let e = Config::parse(&creds.replace(":role/", ":user/"))
        .unwrap_err()
        .problems
        .join("\n");
    assert!(e.contains("sinks.dlq.role_arn"), "{e}");
}

/// Two routes of one tenant with one name (replay, dead-letter places and
/// index templates key routes by it) are refused; other tenants may reuse it.
#[test]
fn route_names_are_unique_per_tenant() {
    let twice = format!(
        "{GOOD}\n[[routes]]\npath = \"/other/waf\"\ntenant = \"demo\"\nplugin = \"builtin:waf\"\nindex = \"waf2\"\nsink = \"local\"\n"
    );
    let err = Config::parse(&twice).unwrap_err().to_string();
    assert!(
        err.contains("routes[1].name: tenant \"demo\" already has a route named \"waf\""),
        "{err}"
    );
    let renamed = twice.replace(
        "path = \"/other/waf\"",
        "path = \"/other/waf\"\nname = \"waf2\"",
    );
    Config::parse(&renamed).unwrap();
}

#[test]
fn connection_limits_default_and_parse() {
    let c = Config::parse(GOOD).unwrap();
    let d = c.server.connections;
    assert_eq!(d, ConnectionLimits::default());
    assert_eq!(d.max_connections.get(), DEFAULT_MAX_CONNECTIONS);
    assert_eq!(d.handshake_timeout, Duration::from_secs(10));
    assert_eq!(d.header_read_timeout, Duration::from_secs(10));
    assert_eq!(d.idle_timeout, Duration::from_secs(60));
    let text = GOOD.replace(
        "plain_http = true",
        "plain_http = true\nmax_connections = 8\nhandshake_timeout_ms = 250\n\
         header_read_timeout_ms = 300\nidle_timeout_ms = 900",
    );
    let l = Config::parse(&text).unwrap().server.connections;
    assert_eq!(l.max_connections.get(), 8);
    assert_eq!(l.handshake_timeout, Duration::from_millis(250));
    assert_eq!(l.header_read_timeout, Duration::from_millis(300));
    assert_eq!(l.idle_timeout, Duration::from_millis(900));
}

#[test]
fn connection_limits_out_of_range_are_problems() {
    let text = GOOD.replace(
        "plain_http = true",
        "plain_http = true\nmax_connections = 0\nhandshake_timeout_ms = 0\n\
         header_read_timeout_ms = 300001\nidle_timeout_ms = 3600001",
    );
    let e = Config::parse(&text).unwrap_err();
    assert_eq!(
        e.problems,
        [
            "server.max_connections: 0 is outside 1..=1048576",
            "server.handshake_timeout_ms: 0 is outside 1..=300000",
            "server.header_read_timeout_ms: 300001 is outside 1..=300000",
            "server.idle_timeout_ms: 3600001 is outside 1..=3600000",
        ]
    );
    let text = GOOD.replace(
        "plain_http = true",
        "plain_http = true\nmax_connections = -1",
    );
    assert!(Config::parse(&text).is_err(), "negative is a type error");
}

/// `GOOD` with a second tenant and `server_extra` in `[server]`.
fn two_tenants(server_extra: &str) -> Config {
    let text = GOOD.replace(
        "plain_http = true",
        &format!("plain_http = true\n{server_extra}"),
    ) + r#"
    [[tenants]]
    id = "beta"
    access_keys = ["beta-access-key-1"]
"#;
    Config::parse(&text).unwrap()
}

#[test]
fn metrics_on_the_main_listener_only_when_safe() {
    let single = Config::parse(GOOD).unwrap();
    assert!(single.metrics_on_listen(), "one tenant: open, as before");
    assert!(single.warnings().is_empty());
    let multi = two_tenants("");
    assert!(!multi.metrics_on_listen(), "two tenants, no token: hidden");
    let warnings = multi.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("2 tenants and neither `metrics_token` nor `metrics_listen`"),
        "{warnings:?}"
    );
    let token = two_tenants("metrics_token = \"metrics-token-0123456789\"");
    assert!(token.metrics_on_listen(), "behind the token");
    assert!(token.warnings().is_empty());
    let listen = two_tenants("metrics_listen = \"127.0.0.1:9102\"");
    assert!(!listen.metrics_on_listen(), "on its own listener");
    assert!(listen.warnings().is_empty());
}
