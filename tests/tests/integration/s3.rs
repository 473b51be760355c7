//! Dead letters in a real S3-compatible server (s3s-fs, started by
//! `tests/services up`), with the real OpenSearch node: what S3 and
//! OpenSearch hold, and what Firehose is told.

use std::sync::Arc;

use weir::config::Config;
use weir::pipeline::Pipeline;
use weir::server::handle;
use weir_tests::proxy::{Mode, Proxy};
use weir_tests::*;

fn config(
    out: &std::path::Path,
    os_url: &str,
    s3_endpoint: &str,
    bucket: &str,
    prefix: &str,
    index: &str,
) -> Config {
    let mut text = config_text(out, "listen = \"127.0.0.1:0\"\nplain_http = true");
    text.push_str(&format!(
        r#"
[sinks.dlq]
type = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
region = "us-east-1"
endpoint = "{s3_endpoint}"

[sinks.search]
type = "opensearch"
urls = ["{os_url}"]
dead_letter_sink = "dlq"
bulk_max_age_ms = 0

[[routes]]
path = "/os/waf"
name = "waf-s3"
tenant = "demo"
plugin = "builtin:waf"
index = "{index}"
sink = "search"
"#
    ));
    Config::parse(&text).unwrap()
}

fn records() -> Vec<Vec<u8>> {
    vec![
        br#"{"timestamp":1576280412771,"formatVersion":1,"action":"ALLOW"}"#.to_vec(),
        b"this is not a WAF log".to_vec(),
        br#"{"timestamp":1576280412772,"formatVersion":"two","action":"BLOCK"}"#.to_vec(),
        br#"{"timestamp":1576280412773,"formatVersion":1,"action":"COUNT"}"#.to_vec(),
    ]
}

async fn post(p: &Pipeline, rid: &str) -> (u16, serde_json::Value) {
    post_records(p, "/os/waf", rid, &records()).await
}

fn lines(body: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_go_to_s3_before_the_ack() {
    let (endpoint, bucket, access_key, secret_key) = s3_server();
    // Weir's S3 client uses the standard credential chain.
    use_test_aws_credentials();
    let os_url = opensearch_url();
    let s3 = s3_client(&endpoint, &access_key, &secret_key).await;

    // 1. A plugin failure and a mapping conflict in one request.
    let index = unique_index("s3dl");
    let (status, body) = os_call(
        "PUT",
        &format!("{os_url}/{index}"),
        Some(
            serde_json::json!({"mappings": {"properties": {"formatVersion": {"type": "integer"}}}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let prefix = format!("dl-{index}");
    let out = temp_dir("s3-dl");
    let p = Arc::new(
        Pipeline::build(&config(&out, &os_url, &endpoint, &bucket, &prefix, &index)).unwrap(),
    );
    let (status, json) = post(&p, "s3-one").await;
    assert_eq!(status, 200, "{json}");
    let docs = os_documents(&os_url, &index).await;
    assert_eq!(
        docs.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        vec!["s3-one-0-0", "s3-one-3-0"]
    );

    let objects = s3_objects(&s3, &bucket, &prefix).await;
    let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            format!("{prefix}/demo/waf-s3/opensearch-rejected/2023/11/14/22/s3-one-0.ndjson.gz"),
            format!("{prefix}/demo/waf-s3/processing-failed/2023/11/14/22/s3-one-0.ndjson.gz"),
        ],
        "keys dated by the request timestamp (1,700,000,000,000 ms)"
    );
    let rejected = lines(&objects[0].1);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["kind"], "opensearch-rejected");
    assert_eq!(rejected[0]["record_index"], 2);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("mapper_parsing_exception (400)")
    );
    assert_eq!(dead_letter_data(&rejected[0]), records()[2]);
    let failed = lines(&objects[1].1);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["kind"], "processing-failed");
    assert_eq!(failed[0]["record_index"], 1);
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    assert_eq!(dead_letter_data(&failed[0]), records()[1]);
    for l in [&rejected[0], &failed[0]] {
        assert_eq!(l["tenant"], "demo");
        assert_eq!(l["route"], "waf-s3");
        assert_eq!(l["request_id"], "s3-one");
        assert_eq!(l["request_timestamp"], 1_700_000_000_000i64);
        assert_eq!(l["attempt"], 1);
    }
    assert!(
        !out.join("dead-letters").exists(),
        "dead letters went to S3, not the directory"
    );

    // 1b. Replay after the cause is fixed: a route whose index has no
    // conflicting mapping. The rejected record is indexed with its original
    // id; the record no plugin can read fails again (and is a dead letter
    // again, under the new route). Twice: no duplicates.
    let fixed_index = unique_index("s3fixed");
    let mut cfg = config(&out, &os_url, &endpoint, &bucket, &prefix, &index);
    let mut fixed = cfg
        .routes
        .iter()
        .find(|r| r.name == "waf-s3")
        .unwrap()
        .clone();
    fixed.name = "waf-fixed".into();
    fixed.path = "/os/waf-fixed".into();
    fixed.index = weir::config::IndexPattern::new(&fixed_index).unwrap();
    fixed.index_patterns = vec![fixed_index.clone()];
    cfg.routes.push(fixed);
    let p_fixed = Pipeline::build(&cfg).unwrap();
    let source =
        weir::replay::ReplaySource::parse(&format!("s3://{bucket}/{prefix}/demo/waf-s3/")).unwrap();
    for round in 0..2 {
        let letters = weir::replay::read(&cfg, &source).await.unwrap();
        assert_eq!((letters.sources, letters.refused), (2, 0), "round {round}");
        let report = weir::replay::replay(&p_fixed, letters, Some("waf-fixed"), false)
            .await
            .unwrap();
        assert_eq!(
            (report.requests, report.documents, report.failed),
            (1, 1, 1),
            "round {round}: {report:?}"
        );
        let docs = os_documents(&os_url, &fixed_index).await;
        assert_eq!(docs.len(), 1, "round {round}");
        assert_eq!(docs[0].0, "s3-one-2-0", "the original id");
        assert_eq!(docs[0].1["formatVersion"], "two");
    }
    let again = s3_objects(&s3, &bucket, &format!("{prefix}/demo/waf-fixed/")).await;
    assert_eq!(again.len(), 1, "the record that failed again, once");
    let l = lines(&again[0].1);
    assert_eq!(
        (l.len(), l[0]["record_index"].as_u64()),
        (1, Some(1)),
        "original numbering kept"
    );

    // 2. S3 down while dead letters are needed → non-200; S3 back → one copy.
    let proxy = Proxy::start(&endpoint, Mode::Down).await;
    let index = unique_index("s3down");
    os_call(
        "PUT",
        &format!("{os_url}/{index}"),
        Some(
            serde_json::json!({"mappings": {"properties": {"formatVersion": {"type": "integer"}}}}),
        ),
    )
    .await;
    let prefix = format!("dl-{index}");
    let out = temp_dir("s3-down");
    let p = Arc::new(
        Pipeline::build(&config(
            &out,
            &os_url,
            &proxy.url(),
            &bucket,
            &prefix,
            &index,
        ))
        .unwrap(),
    );
    let (status, json) = post(&p, "s3-two").await;
    assert_eq!(status, 500, "S3 unreachable: not acknowledged: {json}");
    // Quiet: the caller gets the request id, not the key, the bucket or
    // the SDK's text (those are in the log).
    let msg = json["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("internal error") && msg.contains("\"s3-two\""),
        "{msg}"
    );
    for leak in ["s3://", "/", &bucket, &prefix, "dispatch", "S3", "aws"] {
        assert!(!msg.contains(leak), "{leak:?} in {msg}");
    }
    assert!(s3_objects(&s3, &bucket, &prefix).await.is_empty());

    proxy.set(Mode::Forward);
    let (status, json) = post(&p, "s3-two").await;
    assert_eq!(status, 200, "{json}");
    let objects = s3_objects(&s3, &bucket, &prefix).await;
    assert_eq!(
        objects.len(),
        2,
        "one object per kind: {:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (key, body) in &objects {
        assert_eq!(
            lines(body).len(),
            1,
            "{key}: exactly one copy of the dead letter"
        );
        assert_eq!(
            lines(body)[0]["attempt"],
            2,
            "{key}: the second attempt of this request"
        );
    }
    assert_eq!(
        os_documents(&os_url, &index).await.len(),
        2,
        "the good documents, once"
    );

    // 3. Backup mode: every raw record is in S3 before the ack; records of
    // concurrent requests share one object (batched by size and age).
    let index = unique_index("s3backup");
    let prefix = format!("bk-{index}");
    let out = temp_dir("s3-backup");
    let mut cfg = config(&out, &os_url, &endpoint, &bucket, &prefix, &index);
    let r = cfg.routes.iter_mut().find(|r| r.name == "waf-s3").unwrap();
    r.backup = Some("dlq".into());
    r.backup_max_age = std::time::Duration::from_millis(500);
    let p = Arc::new(Pipeline::build(&cfg).unwrap());
    let (a, b) = tokio::join!(post(&p, "s3-backup-a"), post(&p, "s3-backup-b"));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    let objects = s3_objects(&s3, &bucket, &format!("{prefix}/backup/")).await;
    assert_eq!(
        objects.len(),
        1,
        "{:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    assert!(
        objects[0]
            .0
            .starts_with(&format!("{prefix}/backup/demo/waf-s3/2023/11/14/22/"))
    );
    assert!(objects[0].0.contains("-s3-backup-"), "{}", objects[0].0);
    assert!(objects[0].0.ends_with("-2-8.ndjson.gz"), "{}", objects[0].0);
    let backed_up = lines(&objects[0].1);
    assert_eq!(backed_up.len(), 8);
    for rid in ["s3-backup-a", "s3-backup-b"] {
        let mine: Vec<_> = backed_up
            .iter()
            .filter(|l| l["request_id"] == rid)
            .collect();
        assert_eq!(mine.len(), 4, "{rid}");
        for (i, l) in mine.iter().enumerate() {
            assert_eq!(l["record_index"], i);
            assert_eq!(
                dead_letter_data(l),
                records()[i],
                "{rid} record {i} as received"
            );
        }
    }

    // 4. S3-object intake: a gzip CloudTrail trail file put into S3, its
    // notification posted to Weir → its records searchable; an object that
    // cannot be parsed → a dead letter naming bucket and key; a missing
    // object → 403, the answer for any object the route may not read
    // (`s3_scope.rs` tests the scope itself).
    let index = unique_index("trail");
    // s3s-fs keeps an object's metadata in a file named after the base64 of
    // its key, which must fit in 255 bytes (real S3 allows 1,024-byte keys):
    // this CloudTrail key is long, so its prefix stays short. With the index
    // in it, the length depended on the process id and the test count.
    let prefix = format!("in-{}", weir::firehose::now_ms());
    // The trail files are outside the dead-letter prefix: Weir's own
    // objects are never readable through a notification.
    let trails = format!("tr-{}", weir::firehose::now_ms());
    let out = temp_dir("s3-intake");
    let mut cfg = config(&out, &os_url, &endpoint, &bucket, &prefix, &index);
    let mut trail = cfg
        .routes
        .iter()
        .find(|r| r.name == "waf-s3")
        .unwrap()
        .clone();
    trail.name = "trail".into();
    trail.path = "/s3/cloudtrail".into();
    trail.plugin = weir::config::PluginRef::Builtin("cloudwatch-logs".into());
    trail.object_store = Some("dlq".into());
    trail.allow_objects =
        vec![weir::config::ObjectPrefix::parse(&format!("s3://{bucket}/{trails}/")).unwrap()];
    cfg.routes.push(trail);
    let p = Pipeline::build(&cfg).unwrap();
    let key = format!(
        "{trails}/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0000Z_a b.json.gz"
    );
    let trail_file =
        std::fs::read(fixtures().join("plugins/cloudwatch-logs/derived_otel_cloudtrail_log.in"))
            .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(trail_file.into())
        .send()
        .await
        .unwrap();
    let garbage_key = format!("{trails}/AWSLogs/garbage.json.gz");
    s3.put_object()
        .bucket(&bucket)
        .key(&garbage_key)
        .body(b"not a trail file".to_vec().into())
        .send()
        .await
        .unwrap();
    let notify = |body: serde_json::Value| {
        http::Request::post("/s3/cloudtrail")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {KEY}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .unwrap()
    };
    let s3_event = serde_json::json!({"Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key.replace(' ', "+")}}
    }]});
    let (status, _, json) = read_response(handle(&p, notify(s3_event.clone())).await).await;
    assert_eq!(status, 200, "{json}");
    let docs = os_documents(&os_url, &index).await;
    assert_eq!(docs.len(), 7, "one document per trail record");
    assert!(
        docs.iter()
            .all(|(id, d)| d["eventID"].as_str() == Some(id.as_str())),
        "ids are eventIDs"
    );
    // The same notification again (a retry): still 7.
    let (status, _, _) = read_response(handle(&p, notify(s3_event)).await).await;
    assert_eq!(status, 200);
    assert_eq!(os_documents(&os_url, &index).await.len(), 7);

    let eventbridge = serde_json::json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": bucket}, "object": {"key": garbage_key, "size": 16}}});
    let (status, _, json) = read_response(handle(&p, notify(eventbridge)).await).await;
    assert_eq!(status, 200, "{json}");
    let dl = s3_objects(
        &s3,
        &bucket,
        &format!("{prefix}/demo/trail/processing-failed/"),
    )
    .await;
    assert_eq!(dl.len(), 1);
    let l = lines(&dl[0].1);
    assert_eq!(
        l[0]["source_arn"],
        format!("arn:aws:s3:::{bucket}/{garbage_key}")
    );
    assert_eq!(dead_letter_data(&l[0]), b"not a trail file");

    let missing = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": format!("{trails}/nope.json.gz")}}}]});
    let (status, _, json) = read_response(handle(&p, notify(missing)).await).await;
    assert_eq!(status, 403, "{json}");
    assert!(
        json["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not available to this route"),
        "{json}"
    );
    let (status, _, _) = read_response(
        handle(
            &p,
            http::Request::post("/s3/cloudtrail")
                .header("authorization", "Bearer wrong-key-000")
                .body(http_body_util::Full::new(bytes::Bytes::from("{}")))
                .unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);

    // 6. A third-party plugin kept in S3, pinned by digest: fetched once
    // into the cache, then loaded from there (a restart needs no S3).
    let plugin_key = format!("{prefix}/plugins/hostile.wasm");
    s3.put_object()
        .bucket(&bucket)
        .key(&plugin_key)
        .body(std::fs::read(HOSTILE_PLUGIN).unwrap().into())
        .send()
        .await
        .unwrap();
    let cache = temp_dir("s3-plugin-cache");
    let plugin_config = |digest: &str| {
        let mut text = config_text(&out, "listen = \"127.0.0.1:0\"\nplain_http = true");
        text = text.replace(
            "[plugins]\n",
            &format!("[plugins]\ncache_dir = {:?}\n", cache.display().to_string()),
        );
        text.push_str(&format!(
            r#"
[sinks.store]
type = "s3"
bucket = "{bucket}"
region = "us-east-1"
endpoint = "{endpoint}"

[[routes]]
path = "/s3plugin/echo"
name = "s3-echo"
tenant = "demo"
plugin = "s3://{bucket}/{plugin_key}"
plugin_store = "store"
plugin_sha256 = "{digest}"
plugin_config = {{ mode = "echo" }}
index = "from-s3"
sink = "local"
"#
        ));
        Config::parse(&text).unwrap()
    };
    let wrong = plugin_config(&"0".repeat(64));
    let err = weir::pipeline::fetch_plugins(&wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(
        !cache
            .join("objects")
            .join(format!("{}.wasm", "0".repeat(64)))
            .exists()
    );
    let good = plugin_config(&hostile_digest());
    weir::pipeline::fetch_plugins(&good).await.unwrap();
    assert!(
        cache
            .join("objects")
            .join(format!("{}.wasm", hostile_digest()))
            .is_file()
    );
    // Gone from S3: the cached copy still loads.
    s3.delete_object()
        .bucket(&bucket)
        .key(&plugin_key)
        .send()
        .await
        .unwrap();
    weir::pipeline::fetch_plugins(&good).await.unwrap();
    let p = Pipeline::build(&good).unwrap();
    let (status, json) =
        post_records(&p, "/s3plugin/echo", "s3-plugin-1", &[b"hello".to_vec()]).await;
    assert_eq!(status, 200, "{json}");
    let docs = bulk_entries(&out, "demo-from-s3");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].1, serde_json::json!({"n": 5}));
}

/// A request timestamp past the year 9999 (which `humantime` refuses to
/// format, and which once killed the route's backup task) or at `i64::MAX`
/// is refused with 400, and the route's S3 backup keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_timestamps_are_refused_and_backups_go_on() {
    let (endpoint, bucket, access_key, secret_key) = s3_server();
    use_test_aws_credentials();
    let os_url = opensearch_url();
    let s3 = s3_client(&endpoint, &access_key, &secret_key).await;
    let index = unique_index("s3ts");
    let prefix = format!("ts-{index}");
    let out = temp_dir("s3-ts");
    let mut cfg = config(&out, &os_url, &endpoint, &bucket, &prefix, &index);
    let r = cfg.routes.iter_mut().find(|r| r.name == "waf-s3").unwrap();
    r.backup = Some("dlq".into());
    r.backup_max_age = std::time::Duration::from_millis(0);
    let p = Pipeline::build(&cfg).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = |rid: &str, ts: i64| {
        serde_json::json!({
            "requestId": rid,
            "timestamp": ts,
            "records": records().iter().map(|r| serde_json::json!({"data": base64::Engine::encode(&b64, r)})).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes()
    };
    for (rid, ts) in [("ts-10000", 253_402_300_800_000i64), ("ts-max", i64::MAX)] {
        let req = firehose_request("/os/waf", Some(KEY), body(rid, ts));
        let (status, _, json) = read_response(handle(&p, req).await).await;
        assert_eq!(status, 400, "{json}");
        assert_eq!(json["requestId"], rid);
        let msg = json["errorMessage"].as_str().unwrap();
        assert!(msg.contains("timestamp"), "{msg}");
    }
    let req = firehose_request("/os/waf", Some(KEY), body("ts-good", 1_700_000_000_000));
    let (status, _, json) = read_response(handle(&p, req).await).await;
    assert_eq!(status, 200, "{json}");
    let objects = s3_objects(&s3, &bucket, &format!("{prefix}/backup/")).await;
    let keys: Vec<_> = objects.iter().map(|o| &o.0).collect();
    assert_eq!(objects.len(), 1, "{keys:?}");
    assert!(
        objects[0]
            .0
            .starts_with(&format!("{prefix}/backup/demo/waf-s3/2023/11/14/22/")),
        "{keys:?}"
    );
    assert!(objects[0].0.ends_with("-ts-good-1-4.ndjson.gz"), "{keys:?}");
    assert_eq!(lines(&objects[0].1).len(), 4);
}

/// Issue #14: backup names repeated (`<first-request-id>-<requests>-<records>`),
/// so a retried request first again in a batch of the same size replaced
/// an acknowledged backup. Two backups with the same first request id and
/// counts are two objects in the real S3, each with its own records; the
/// same request retried through the pipeline is two objects too; and an
/// object is never replaced: a put under an existing name fails
/// (`If-None-Match: *`, which s3s-fs honours) and the object stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_never_replace_each_other() {
    use weir::sink::{BackupObject, Sink, backup::object_name, s3::S3Sink};
    let (endpoint, bucket, access_key, secret_key) = s3_server();
    use_test_aws_credentials();
    let s3 = s3_client(&endpoint, &access_key, &secret_key).await;
    let prefix = format!("uniq-{}", unique_index("bk"));
    let sink = S3Sink::new(weir::config::S3Config {
        bucket: bucket.clone(),
        prefix: prefix.clone(),
        region: "us-east-1".into(),
        endpoint: Some(endpoint.clone()),
        force_path_style: true,
        profile: None,
        role_arn: None,
        external_id: None,
    });
    let object = |lines: &str| BackupObject {
        tenant: "demo".into(),
        route: "waf".into(),
        // Same first request id, requests and records, same millisecond.
        name: object_name(std::time::SystemTime::UNIX_EPOCH, "rid-1", 2, 1),
        at_ms: 1_700_000_000_000,
        lines: lines.as_bytes().to_vec(),
    };
    let (first, second) = (object("{\"n\":1}\n"), object("{\"n\":2}\n"));
    assert_ne!(first.name, second.name);
    sink.write_backup(first.clone()).await.unwrap();
    sink.write_backup(second).await.unwrap();
    let objects = s3_objects(&s3, &bucket, &format!("{prefix}/backup/")).await;
    let bodies: Vec<_> = objects
        .iter()
        .map(|(_, b)| lines(b)[0]["n"].clone())
        .collect();
    assert_eq!(bodies, [1, 2], "{objects:?}");

    // A name that exists already is refused, and the object stays as it was.
    let clash = BackupObject {
        lines: b"{\"n\":3}\n".to_vec(),
        ..first.clone()
    };
    let err = sink.write_backup(clash).await.unwrap_err().to_string();
    assert!(err.contains("PreconditionFailed"), "{err}");
    let key = sink.backup_key(&first);
    let now = s3_objects(&s3, &bucket, &key).await;
    assert_eq!(lines(&now[0].1)[0]["n"], 1);

    // Through the pipeline: one request delivered twice (a Firehose retry
    // after a lost 200) is backed up in two objects, both whole.
    let index = unique_index("s3bkretry");
    let prefix = format!("retry-{index}");
    let out = temp_dir("s3-backup-retry");
    let mut cfg = config(&out, &opensearch_url(), &endpoint, &bucket, &prefix, &index);
    let r = cfg.routes.iter_mut().find(|r| r.name == "waf-s3").unwrap();
    r.backup = Some("dlq".into());
    r.backup_max_age = std::time::Duration::from_millis(0);
    let p = Pipeline::build(&cfg).unwrap();
    for _ in 0..2 {
        let (status, json) = post(&p, "bk-retry").await;
        assert_eq!(status, 200, "{json}");
    }
    let objects = s3_objects(&s3, &bucket, &format!("{prefix}/backup/")).await;
    let keys: Vec<_> = objects.iter().map(|o| &o.0).collect();
    assert_eq!(objects.len(), 2, "{keys:?}");
    for (key, body) in &objects {
        assert!(key.ends_with("-bk-retry-1-4.ndjson.gz"), "{key}");
        assert_eq!(lines(body).len(), 4, "{key}");
    }
}
