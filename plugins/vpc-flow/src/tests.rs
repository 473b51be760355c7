use super::*;
use serde_json::json;
use weir_plugin_sdk::testing::{body, failed, gzip, ok_docs};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/plugins/vpc-flow/", $name))
    };
}

/// A parsed config, without ECS fields (the bodies as before them) unless
/// it says otherwise.
fn config(json: &str) -> Config {
    let mut config = parse_config(json).unwrap();
    config.ecs &= json.contains("\"ecs\"");
    config
}

/// The default config without ECS fields.
fn plain() -> Config {
    Config {
        ecs: false,
        ..Config::default()
    }
}

/// Each non-empty line of a `.lines.in` fixture as its own record.
fn each_line(text: &str, config: &Config) -> Vec<Outcome> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| transform_record(l.as_bytes(), config))
        .collect()
}

#[test]
fn default_format_line() {
    let d = ok_docs(transform_record(
        b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
        &plain(),
    ));
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].body,
        r#"{"@timestamp":"2014-12-14T04:06:50Z","version":2,"account-id":"123456789010","interface-id":"eni-1235b8ca123456789","srcaddr":"172.31.16.139","dstaddr":"172.31.16.21","srcport":20641,"dstport":22,"protocol":6,"packets":20,"bytes":4249,"start":"2014-12-14T04:06:50Z","end":"2014-12-14T04:07:50Z","action":"ACCEPT","log-status":"OK"}"#
    );
    assert_eq!(d[0].timestamp_ms, Some(1_418_530_010_000));
    assert_eq!((d[0].id.as_deref(), d[0].index.as_deref()), (None, None));
}

#[test]
fn default_format_string_matches_the_default() {
    assert_eq!(Format::parse(DEFAULT_FORMAT).unwrap(), default_format());
    assert_eq!(parse_config("{}").unwrap(), Config::default());
    assert_eq!(parse_config("").unwrap(), Config::default());
    assert!(Config::default().ecs);
    assert!(!parse_config(r#"{"ecs":false}"#).unwrap().ecs);
}

#[test]
fn nodata_and_skipdata_keep_their_status() {
    for (text, status, eni) in [
        (
            fixture!("awsdocs_v2-nodata.in"),
            "NODATA",
            "eni-1235b8ca123456789",
        ),
        (
            fixture!("awsdocs_v2-skipdata.in"),
            "SKIPDATA",
            "eni-11111111aaaaaaaaa",
        ),
    ] {
        let d = ok_docs(transform_record(text.as_bytes(), &plain()));
        assert_eq!(d.len(), 1);
        assert_eq!(
            body(&d[0]),
            json!({"@timestamp": "2015-05-10T18:01:16Z",
                   "version": 2, "account-id": "123456789010", "interface-id": eni,
                   "start": "2015-05-10T18:01:16Z", "end": "2015-05-10T18:02:14Z",
                   "log-status": status})
        );
        assert_eq!(d[0].timestamp_ms, Some(1_431_280_876_000));
    }
}

#[test]
fn at_timestamp_is_start_first_and_absent_without_a_start() {
    let d = ok_docs(transform_record(
        b"2 1 eni-a - - - - - - - 1418530010 1418530070 - NODATA",
        &plain(),
    ));
    assert!(
        d[0].body
            .starts_with(r#"{"@timestamp":"2014-12-14T04:06:50Z","version":2,"#)
    );
    let d = ok_docs(transform_record(
        b"2 1 eni-a - - - - - - - - - - SKIPDATA",
        &plain(),
    ));
    assert_eq!(
        d[0].body,
        r#"{"version":2,"account-id":"1","interface-id":"eni-a","log-status":"SKIPDATA"}"#
    );
    assert_eq!(d[0].timestamp_ms, None);
    // an `end` alone dates the document but gives no `@timestamp`
    let d = ok_docs(transform_record(
        b"2 1418530070",
        &config(r#"{"format":"version end"}"#),
    ));
    assert_eq!(d[0].body, r#"{"version":2,"end":"2014-12-14T04:07:50Z"}"#);
    assert_eq!(d[0].timestamp_ms, Some(1_418_530_070_000));
}

#[test]
fn v2_fixtures_all_parse() {
    for text in [
        fixture!("awsdocs_v2-default-format.lines.in"),
        fixture!("elastic_test-extra-samples.lines.in"),
    ] {
        for o in each_line(text, &plain()) {
            let d = ok_docs(o);
            assert_eq!(d.len(), 1);
            assert_eq!(body(&d[0])["version"], 2);
        }
    }
    // the IPv6 line
    let d = ok_docs(transform_record(
        fixture!("awsdocs_v2-default-format.lines.in").as_bytes(),
        &plain(),
    ));
    assert_eq!(d.len(), 5);
    assert_eq!(
        body(&d[4])["srcaddr"],
        "2001:db8:1234:a100:8d6e:3477:df66:f105"
    );
    assert_eq!(body(&d[2])["srcport"], 0);
}

#[test]
fn custom_formats_from_the_format_files() {
    for (format_txt, config_json, text, lines) in [
        (
            fixture!("awsdocs_v3-tcp-flags.format.txt"),
            fixture!("awsdocs_v3-tcp-flags.config.json"),
            fixture!("awsdocs_v3-tcp-flags.in"),
            8,
        ),
        (
            fixture!("awsdocs_v3-transit-gateway.format.txt"),
            fixture!("awsdocs_v3-transit-gateway.config.json"),
            fixture!("awsdocs_v3-transit-gateway.lines.in"),
            4,
        ),
        (
            fixture!("awsdocs_custom-nat-gateway.format.txt"),
            fixture!("awsdocs_custom-nat-gateway.config.json"),
            fixture!("awsdocs_custom-nat-gateway.lines.in"),
            4,
        ),
        (
            fixture!("awsdocs_v5-traffic-path.format.txt"),
            fixture!("awsdocs_v5-traffic-path.config.json"),
            fixture!("awsdocs_v5-traffic-path.lines.in"),
            2,
        ),
    ] {
        // the bare names of the .format.txt and the ${…} form of the config agree
        let cfg = config(config_json);
        assert_eq!(Format::parse(format_txt).unwrap(), cfg.format);
        // the whole file as one record, and line by line
        assert_eq!(
            ok_docs(transform_record(text.as_bytes(), &cfg)).len(),
            lines
        );
        for o in each_line(text, &cfg) {
            let d = ok_docs(o);
            let b = body(&d[0]);
            assert_eq!(b.get("@timestamp"), b.get("start"));
            let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
            let keys = keys.strip_prefix(&["@timestamp"]).unwrap_or(&keys);
            let names: Vec<&str> = cfg.format.names().collect();
            // keys follow the format order, minus `-` fields
            assert!(keys.iter().all(|k| names.contains(k)));
            let mut pos = keys
                .iter()
                .map(|k| names.iter().position(|n| n == k).unwrap());
            let first = pos.next().unwrap();
            pos.try_fold(first, |a, b| (b > a).then_some(b)).unwrap();
        }
    }
}

#[test]
fn tcp_flags_sample_with_its_double_space() {
    let cfg = config(fixture!("awsdocs_v3-tcp-flags.config.json"));
    let d = ok_docs(transform_record(
        fixture!("awsdocs_v3-tcp-flags.in").as_bytes(),
        &cfg,
    ));
    let last = body(&d[7]);
    assert_eq!(last["dstport"], 43638);
    assert_eq!(last["pkt-srcaddr"], "10.0.0.62");
    assert_eq!(last["tcp-flags"], 19);
    assert_eq!(last["type"], "IPv4");
    assert_eq!(last["start"], "2019-08-27T19:12:13Z");
    assert_eq!(d[7].timestamp_ms, Some(1_566_933_133_000));
}

#[test]
fn nat_gateway_format_without_version_or_time() {
    let cfg = config(fixture!("awsdocs_custom-nat-gateway.config.json"));
    let d = ok_docs(transform_record(
        b"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
        &cfg,
    ));
    assert_eq!(
        d[0].body,
        r#"{"interface-id":"eni-1235b8ca123456789","srcaddr":"10.0.1.5","dstaddr":"10.0.0.220","pkt-srcaddr":"10.0.1.5","pkt-dstaddr":"203.0.113.5"}"#
    );
    assert_eq!(d[0].timestamp_ms, None);
}

#[test]
fn traffic_path_and_flow_direction() {
    let cfg = config(fixture!("awsdocs_v5-traffic-path.config.json"));
    let d = ok_docs(transform_record(
        fixture!("awsdocs_v5-traffic-path.lines.in").as_bytes(),
        &cfg,
    ));
    let (a, b) = (body(&d[0]), body(&d[1]));
    assert_eq!(a["pkt-src-aws-service"], "S3");
    assert_eq!(a.get("traffic-path"), None);
    assert_eq!(a["flow-direction"], "ingress");
    assert_eq!(b["traffic-path"], 8);
    assert_eq!(b["flow-direction"], "egress");
    assert_eq!(b["region"], "ap-southeast-2");
    assert_eq!(b.get("sublocation-type"), None);
}

#[test]
fn elastic_all_fields_samples() {
    let cfg = config(fixture!("elastic_test-v5-all-fields.config.json"));
    let d = ok_docs(transform_record(
        fixture!("elastic_test-v5-all-fields.in").as_bytes(),
        &cfg,
    ));
    let b = body(&d[0]);
    assert_eq!(b["start"], "1975-03-14T03:34:26Z"); // a 9-digit start
    assert_eq!(b["pkt-dst-aws-service"], "CLOUDFRONT");
    assert_eq!(b["traffic-path"], 1);

    let cfg = config(fixture!("elastic_test-v8-samples.config.json"));
    let d = ok_docs(transform_record(
        fixture!("elastic_test-v8-samples.in").as_bytes(),
        &cfg,
    ));
    let b = body(&d[0]);
    assert_eq!(b["version"], 3);
    assert_eq!(b["account-id"], "000000000000"); // stays a string
    assert_eq!(b["action"], "REJECT");
    assert_eq!(b["log-status"], "NODATA");
    assert_eq!(b["reject-reason"], "BPA");
    assert_eq!(b["ecs-task-id"], "e504f037-35c");
    assert_eq!(b["flow-direction"], "ingress");
    assert_eq!(b.get("interface-id"), None);
    assert_eq!(b["@timestamp"], b["start"]);
    assert_eq!(b.as_object().unwrap().len(), 26);
}

#[test]
fn message_field_json_lines() {
    let d = ok_docs(transform_record(
        fixture!("elastic_test-with-message-field.in").as_bytes(),
        &plain(),
    ));
    assert_eq!(d.len(), 1);
    assert_eq!(body(&d[0])["log-status"], "NODATA");
    assert_eq!(body(&d[0])["account-id"], "428961148399");

    // several JSON lines in one record, and a message with a trailing newline
    let two = "{\"message\":\"2 1 eni-a - - - - - - - 1 2 - NODATA\\n\"}\n{\"message\":\"2 1 eni-b - - - - - - - 1 2 - SKIPDATA\"}\n";
    let d = ok_docs(transform_record(two.as_bytes(), &plain()));
    assert_eq!(d.len(), 2);
    assert_eq!(body(&d[1])["interface-id"], "eni-b");
}

#[test]
fn firehose_payloads_default_format_keeps_v2_and_fails_the_rest() {
    let outcomes = each_line(
        fixture!("elastic-awsfirehose_firehose-record-payloads.lines.in"),
        &plain(),
    );
    assert_eq!(outcomes.len(), 15);
    let ok = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Ok(_)))
        .count();
    assert_eq!(ok, 5);
    for o in outcomes.into_iter().skip(5) {
        let reason = failed(o);
        assert!(reason.contains("fields but the format has 14"), "{reason}");
        assert!(reason.contains("set `format`"), "{reason}");
    }
}

#[test]
fn firehose_payloads_with_their_own_formats() {
    // line `n` of the payloads fixture, read with `format`
    let line_body = |format: &str, n: usize| {
        let cfg = Config {
            ecs: false,
            format: Format::parse(format).unwrap(),
        };
        let line = fixture!("elastic-awsfirehose_firehose-record-payloads.lines.in")
            .lines()
            .nth(n)
            .unwrap();
        body(&ok_docs(transform_record(line.as_bytes(), &cfg))[0])
    };
    // the v7 line is the "all fields up to version 7" layout
    let v7 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id";
    let b = line_body(v7, 10);
    assert_eq!(b["version"], 7);
    assert_eq!(b["ecs-service-name"], "payments-service");
    assert_eq!(b["traffic-path"], 1);

    // a Transit Gateway (version 6) line with the TGW field list
    let tgw = "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service";
    let b = line_body(tgw, 8);
    assert_eq!(b["resource-type"], "TransitGateway");
    assert_eq!(b["log-status"], "SKIPDATA");
    assert_eq!(b["packets-lost-no-route"], 0);
    assert_eq!(b["dstaddr"], "2a02:cf40::");
}

#[test]
fn cloudwatch_logs_payloads() {
    let raw = fixture!("otel_valid_vpc_flow_cw.in");
    for record in [raw.as_bytes().to_vec(), gzip(raw.as_bytes())] {
        let d = ok_docs(transform_record(&record, &plain()));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].id.as_deref(), Some("eventId1"));
        assert_eq!(d[1].id.as_deref(), Some("eventId2"));
        assert_eq!(body(&d[1])["action"], "REJECT");
        assert_eq!(d[1].timestamp_ms, Some(1_418_530_010_000));
    }
    let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1600110003794,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    assert!(matches!(
        transform_record(control.as_bytes(), &plain()),
        Outcome::Dropped
    ));
    let bad = r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"2 x"}]}"#;
    assert!(
        failed(transform_record(bad.as_bytes(), &plain()))
            .starts_with("logEvents[0]: the line has 2 fields")
    );
    let odd = r#"{"messageType":"OTHER"}"#;
    assert!(
        failed(transform_record(odd.as_bytes(), &plain()))
            .contains("unknown CloudWatch Logs messageType")
    );
}

#[test]
fn header_lines_are_skipped() {
    let text = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 1 eni-a - - - - - - - 1 2 - NODATA\n";
    let d = ok_docs(transform_record(text.as_bytes(), &plain()));
    assert_eq!(d.len(), 1);
    // a header alone is dropped, not failed: plain, as `{"message": …}`, twice
    let header = text.lines().next().unwrap();
    for record in [
        header.to_string(),
        format!("{header}\n"),
        format!("{header}\n{header}\n"),
        format!(r#"{{"message":"{header}"}}"#),
    ] {
        assert!(
            matches!(
                transform_record(record.as_bytes(), &plain()),
                Outcome::Dropped
            ),
            "{record}"
        );
    }
    // a gzip header-only record too
    let gz = weir_plugin_sdk::testing::gzip(header.as_bytes());
    assert!(matches!(transform_record(&gz, &plain()), Outcome::Dropped));
}

#[test]
fn bad_lines_fail_with_a_reason() {
    let cfg = Config::default();
    let ok = "2 1 eni-a - - - - - - - 1 2 - NODATA";
    assert!(failed(transform_record(b"", &cfg)).contains("empty record"));
    assert!(failed(transform_record(b"\n \r\n", &cfg)).contains("empty record"));
    assert!(failed(transform_record(b"\xff", &cfg)).contains("not UTF-8"));
    assert!(
        failed(transform_record(b"2 1 eni-a", &cfg)).contains("has 3 fields but the format has 14")
    );
    let long = format!("{ok} extra");
    assert!(failed(transform_record(long.as_bytes(), &cfg)).contains("has 15 fields"));
    assert!(
        failed(transform_record(
            b"2 1 eni-a - - http - - - - 1 2 - NODATA",
            &cfg
        ))
        .contains("`srcport` must be a number or `-`, got \"http\"")
    );
    assert!(
        failed(transform_record(
            b"2 1 eni-a - - -1 - - - - 1 2 - NODATA",
            &cfg
        ))
        .contains("`srcport`")
    );
    assert!(
        failed(transform_record(
            b"2 1 eni-a - - 99999999999999999999999 - - - - 1 2 - NODATA",
            &cfg
        ))
        .contains("`srcport`")
    );
    assert!(
        failed(transform_record(
            b"2 1 eni-a - - - - - - - 1.5 2 - NODATA",
            &cfg
        ))
        .contains("`start` must be Unix seconds")
    );
    assert!(
        failed(transform_record(
            b"2 1 eni-a - - - - - - - 1 999999999999 - NODATA",
            &cfg
        ))
        .contains("`end` must be Unix seconds")
    );
    let second = format!("{ok}\n2 1\n");
    assert!(failed(transform_record(second.as_bytes(), &cfg)).starts_with("line 2 of the record"));
    assert!(failed(transform_record(b"{\"message\":", &cfg)).contains("invalid JSON"));
    assert!(failed(transform_record(b"{\"message\":5}", &cfg)).contains("unexpected JSON shape"));
    assert!(failed(transform_record(b"{\"other\":\"x\"}", &cfg)).contains("string `message`"));
    let two = format!("{{\"message\":\"{ok}\"}} [1]");
    assert!(
        failed(transform_record(two.as_bytes(), &cfg)).starts_with("JSON object 2 of the record")
    );
    // a gzip bomb hits the cap
    let bomb = gzip(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1]);
    assert!(failed(transform_record(&bomb, &cfg)).contains("cap"));
}

#[test]
fn values_are_json_escaped() {
    let cfg = Config {
        ecs: false,
        format: Format::parse("account-id action").unwrap(),
    };
    let d = ok_docs(transform_record(br#"a"b c\d"#, &cfg));
    assert_eq!(d[0].body, r#"{"account-id":"a\"b","action":"c\\d"}"#);
    // leading zeros of numbers are dropped (JSON forbids them)
    let cfg = Config {
        ecs: false,
        format: Format::parse("version srcport").unwrap(),
    };
    let d = ok_docs(transform_record(b"02 0080", &cfg));
    assert_eq!(d[0].body, r#"{"version":2,"srcport":80}"#);
    let d = ok_docs(transform_record(b"0 000", &cfg));
    assert_eq!(d[0].body, r#"{"version":0,"srcport":0}"#);
}

#[test]
fn config_is_checked() {
    assert!(
        weir_plugin_sdk::testing::validate_config::<VpcFlow>(
            r#"{"format":"${version} ${srcaddr}"}"#
        )
        .is_ok()
    );
    assert!(
        weir_plugin_sdk::testing::validate_config::<VpcFlow>(r#"{"format":"version srcaddr"}"#)
            .is_ok()
    );
    for (config, want) in [
        (r#"{"format":""}"#, "no fields"),
        (r#"{"format":"${version} ${srcadr}"}"#, "`srcadr` is not"),
        (r#"{"format":"${version} ${version}"}"#, "twice"),
        (r#"{"format":"${version"}"#, "placeholder"),
        (r#"{"format":5}"#, "`format`: invalid type"),
        (r#"{"fmt":"x"}"#, "unknown option `fmt`"),
        ("[]", "must be a JSON object"),
    ] {
        let reason = weir_plugin_sdk::testing::validate_config::<VpcFlow>(config).unwrap_err();
        assert!(reason.contains(want), "{config}: {reason}");
    }
    // every known field parses, and the list has no duplicates
    let all: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
    let f = Format::parse(&all.join(" ")).unwrap();
    assert_eq!(f.len(), FIELDS.len());
    assert!(!f.is_empty());
}

#[test]
fn info() {
    let (info, schema) = weir_plugin_sdk::testing::checked_info::<VpcFlow>();
    assert_eq!(info.date_fields, ["@timestamp", "start", "end"]);
    assert_eq!(schema["properties"]["format"]["type"], "string");
    assert_eq!(schema["properties"]["ecs"]["default"], true);
    assert_eq!(
        info.index_properties,
        [weir_plugin_sdk::ecs::INDEX_PROPERTIES]
    );
}

const ACCEPT: &str = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 81.2.69.142 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";

#[test]
fn ecs_fields_of_a_line() {
    weir_plugin_sdk::testing::set_geoip(
        "81.2.69.142",
        weir_plugin_sdk::testing::sample_geo("GB", "London", 51.5, -0.09, 20712, "AAISP"),
    );
    let d = ok_docs(transform_record(ACCEPT.as_bytes(), &Config::default()));
    let b = body(&d[0]);
    assert_eq!(
        b["event"],
        json!({"kind": "event", "category": ["network"], "type": ["connection", "allowed"],
               "action": "accept", "outcome": "success", "dataset": "aws.vpcflow"})
    );
    assert_eq!(
        b["cloud"],
        json!({"provider": "aws", "account": {"id": "123456789010"}})
    );
    assert_eq!(b["source"], json!({"ip": "172.31.16.139", "port": 20641}));
    assert_eq!(b["destination"]["geo"]["country_iso_code"], "GB");
    assert_eq!(b["destination"]["as"]["organization"]["name"], "AAISP");
    assert_eq!(
        b["network"],
        json!({"transport": "tcp", "iana_number": "6", "bytes": 4249, "packets": 20})
    );
    assert_eq!(
        b["related"],
        json!({"ip": ["172.31.16.139", "81.2.69.142"]})
    );
    // without ECS: exactly the body as before
    let off = ok_docs(transform_record(
        ACCEPT.as_bytes(),
        &config(r#"{"ecs":false}"#),
    ));
    let mut on = b.clone();
    for root in weir_plugin_sdk::ecs::ROOTS {
        on.as_object_mut().unwrap().shift_remove(root);
    }
    assert_eq!(on.to_string(), off[0].body);
}

#[test]
fn ecs_of_reject_nodata_and_odd_values() {
    let reject = ACCEPT.replace("ACCEPT", "REJECT").replace(" 6 ", " 50 ");
    let b = body(&ok_docs(transform_record(reject.as_bytes(), &Config::default()))[0]);
    assert_eq!(b["event"]["type"], json!(["connection", "denied"]));
    assert_eq!(b["event"]["outcome"], "failure");
    assert_eq!(b["network"]["iana_number"], "50");
    assert!(b["network"].get("transport").is_none());
    let nodata =
        "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA";
    let b = body(&ok_docs(transform_record(nodata.as_bytes(), &Config::default()))[0]);
    assert_eq!(b["event"]["type"], json!(["connection"]));
    assert!(b.get("source").is_none() && b.get("network").is_none());
    // an address that is not an IP, a port past 65535: left out, never failed
    let odd = ACCEPT
        .replace("172.31.16.139", "not-an-ip")
        .replace("20641", "70000");
    let b = body(&ok_docs(transform_record(odd.as_bytes(), &Config::default()))[0]);
    assert_eq!(b["source"], json!({"address": "not-an-ip"}));
    assert_eq!(b["related"], json!({"ip": ["81.2.69.142"]}));
}

weir_plugin_sdk::golden_test!(VpcFlow, "vpc-flow");
