//! The multi-tenant trust boundary of the S3 paths (issue #13, findings 1
//! and 8), against the real S3 server and OpenSearch node:
//!
//! - an `s3-notification` route reads only the objects its `allow_objects`
//!   lists, never Weir's own dead letters, and only keys in normal form;
//!   whatever the reason an object is not read (not allowed, missing,
//!   access denied), the caller gets the same answer;
//! - a route's s3 sink can fetch with its own credentials (`profile`);
//! - `weir replay` takes tenant and route from where the dead letters
//!   live, and refuses lines that say otherwise.

use std::path::Path;

use weir::config::{Config, ObjectPrefix};
use weir::pipeline::Pipeline;
use weir::server::handle;
use weir_tests::*;

/// Tenant `other` plays the victim ("beta" in the issue).
const VICTIM_EVENT: &str = "other-confidential-event-0001";

struct World {
    endpoint: String,
    bucket: String,
    /// A bucket of tenant `other` only.
    other_bucket: String,
    /// Key prefix of demo's trail files in `bucket`.
    demo_area: String,
    /// Key prefix of the dead letters (sink `dlq`) in `bucket`.
    dl_prefix: String,
    s3: aws_sdk_s3::Client,
}

fn config_text_for(w: &World, out: &Path, os_url: &str, index: &str, store_extra: &str) -> String {
    let World {
        endpoint,
        bucket,
        other_bucket,
        demo_area,
        dl_prefix,
        ..
    } = w;
    let mut text = config_text(out, "listen = \"127.0.0.1:0\"\nplain_http = true");
    text.push_str(&format!(
        r#"
[sinks.dlq]
type = "s3"
bucket = "{bucket}"
prefix = "{dl_prefix}"
region = "us-east-1"
endpoint = "{endpoint}"

[sinks.store]
type = "s3"
bucket = "{bucket}"
region = "us-east-1"
endpoint = "{endpoint}"
{store_extra}

[sinks.search]
type = "opensearch"
urls = ["{os_url}"]
dead_letter_sink = "dlq"
bulk_max_age_ms = 0

[[routes]]
path = "/s3/demo-trail"
name = "trail"
tenant = "demo"
plugin = "builtin:cloudwatch-logs"
index = "{index}"
sink = "local"
kind = "s3-notification"
object_store = "store"
allow_objects = ["s3://{bucket}/{demo_area}/"]

[[routes]]
path = "/other/os-waf"
name = "waf-os"
tenant = "other"
plugin = "builtin:waf"
index = "waf-os"
sink = "search"

[[routes]]
path = "/s3/other-trail"
name = "trail"
tenant = "other"
plugin = "builtin:cloudwatch-logs"
index = "trail"
sink = "local"
kind = "s3-notification"
object_store = "store"
allow_objects = ["s3://{other_bucket}/"]
"#
    ));
    text
}

fn notify(
    path: &str,
    key: &str,
    objects: &[(&str, &str)],
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let records: Vec<_> = objects
        .iter()
        .map(|(b, k)| {
            serde_json::json!({"eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": b}, "object": {"key": k}}})
        })
        .collect();
    http::Request::post(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .header("x-amz-firehose-request-id", "notification-1")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            serde_json::json!({ "Records": records }).to_string(),
        )))
        .unwrap()
}

/// Status and body of a notification, the body without its timestamp.
async fn send(
    p: &Pipeline,
    path: &str,
    key: &str,
    objects: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let (status, _, mut json) = read_response(handle(p, notify(path, key, objects)).await).await;
    json.as_object_mut().unwrap().remove("timestamp");
    (status, json)
}

fn trail_file(event_id: &str) -> Vec<u8> {
    serde_json::json!({"Records": [{
        "eventVersion": "1.08", "eventTime": "2024-01-02T03:04:05Z",
        "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "awsRegion": "us-east-1", "eventID": event_id,
        "requestParameters": {"bucketName": "secret-plans"}
    }]})
    .to_string()
    .into_bytes()
}

async fn put(w: &World, bucket: &str, key: &str, body: Vec<u8>) {
    w.s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// Every byte demo's trail route stored: documents and dead letters.
fn demo_output(out: &Path, index: &str) -> String {
    let mut all = String::new();
    for path in [
        out.join(format!("{index}.ndjson")),
        out.join("dead-letters/demo/trail.ndjson"),
    ] {
        all.push_str(&std::fs::read_to_string(path).unwrap_or_default());
    }
    all
}

async fn world() -> World {
    let (endpoint, bucket, access_key, secret_key) = s3_server();
    use_test_aws_credentials();
    let s3 = s3_client(&endpoint, &access_key, &secret_key).await;
    let n = weir::firehose::now_ms();
    let other_bucket = format!("other-{}-{n}", std::process::id());
    s3.create_bucket()
        .bucket(&other_bucket)
        .send()
        .await
        .unwrap();
    World {
        endpoint,
        bucket,
        other_bucket,
        demo_area: format!("demo-{n}"),
        dl_prefix: format!("dl-{n}"),
        s3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_notifications_read_only_the_routes_objects() {
    let w = world().await;
    let os_url = opensearch_url();
    let out = temp_dir("s3-scope");
    let index = "trail";
    let cfg = Config::parse(&config_text_for(&w, &out, &os_url, index, "")).unwrap();
    let p = Pipeline::build(&cfg).unwrap();
    let demo_index = "demo-trail";

    // Tenant other's confidential trail file, in its own bucket; demo's own.
    let other_key = "AWSLogs/222222222222/CloudTrail/us-east-1/2024/01/02/secret.json";
    put(&w, &w.other_bucket, other_key, trail_file(VICTIM_EVENT)).await;
    let demo_key = format!("{}/AWSLogs/111111111111/CloudTrail/demo.json", w.demo_area);
    put(&w, &w.bucket, &demo_key, trail_file("demo-event-0001")).await;
    // Tenant other's dead letter, written by Weir into the dead-letter sink.
    let (status, json) = post_records_as(
        &p,
        "/other/os-waf",
        OTHER_KEY,
        "other-dl",
        &[format!("not waf {VICTIM_EVENT}").into_bytes()],
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let dl = s3_objects(&w.s3, &w.bucket, &format!("{}/other/waf-os/", w.dl_prefix)).await;
    assert_eq!(dl.len(), 1, "other's dead letter is in S3");
    let other_dl_key = dl[0].0.clone();

    // (a) Another tenant's bucket, beside an allowed object: the allowed one
    // is indexed, the other refused, and the answer is the uniform 403.
    let (status, refused) = send(
        &p,
        "/s3/demo-trail",
        KEY,
        &[(&w.other_bucket, other_key), (&w.bucket, &demo_key)],
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["errorMessage"],
        "an object the notification names is not available to this route (not allowed, missing or access denied)"
    );
    assert_eq!(refused["requestId"], "notification-1");
    let docs = bulk_entries(&out, demo_index);
    assert_eq!(docs.len(), 1, "demo's own object only");
    assert_eq!(docs[0].1["eventID"], "demo-event-0001");

    // (b) The dead-letter sink's objects: other's dead letter.
    let (status, json) = send(&p, "/s3/demo-trail", KEY, &[(&w.bucket, &other_dl_key)]).await;
    assert_eq!((status, &json), (403, &refused));

    // (c) Missing (allowed prefix, allowed bucket without the object, a
    // bucket that does not exist) vs not allowed: identical answers.
    let missing_key = format!("{}/AWSLogs/nope.json", w.demo_area);
    for objects in [
        vec![(w.bucket.as_str(), missing_key.as_str())],
        vec![(w.other_bucket.as_str(), "AWSLogs/nope.json")],
        vec![("no-such-bucket-weir", "AWSLogs/x.json")],
        vec![(w.other_bucket.as_str(), other_key)],
    ] {
        let (status, json) = send(&p, "/s3/demo-trail", KEY, &objects).await;
        assert_eq!((status, &json), (403, &refused), "{objects:?}");
    }

    // (d) Keys not in normal form, even under the allowed prefix: `..`
    // (plain and URL-encoded), `//`, a leading `/`, control characters.
    let escape = format!("{}/../{}/other/waf-os/x", w.demo_area, w.dl_prefix);
    let encoded = format!("{}/%2E%2E/{}", w.demo_area, other_dl_key);
    let doubled = format!("{}//AWSLogs/111111111111/CloudTrail/demo.json", w.demo_area);
    let slash = format!("/{demo_key}");
    let control = format!("{}/AWSLogs/a%0Ab.json", w.demo_area);
    for key in [&escape, &encoded, &doubled, &slash, &control] {
        let (status, json) = send(&p, "/s3/demo-trail", KEY, &[(&w.bucket, key)]).await;
        assert_eq!((status, &json), (403, &refused), "{key}");
    }

    // Nothing of tenant other reached demo's documents or dead letters.
    let stored = demo_output(&out, demo_index);
    assert!(
        !stored.contains(VICTIM_EVENT) && !stored.contains("not waf"),
        "{stored}"
    );
    assert_eq!(bulk_entries(&out, demo_index).len(), 1);
    assert!(dead_letters(&out, "demo", "trail").is_empty());

    // Tenant other reads its own bucket through its own route.
    let (status, json) = send(
        &p,
        "/s3/other-trail",
        OTHER_KEY,
        &[(&w.other_bucket, other_key)],
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        bulk_entries(&out, "other-trail")[0].1["eventID"],
        VICTIM_EVENT
    );

    // Listing the dead-letter area is a config error, and if a config is
    // changed after validation the intake still refuses Weir's own objects.
    let text = config_text_for(&w, &out, &os_url, index, "").replace(
        &format!("allow_objects = [\"s3://{}/{}/\"]", w.bucket, w.demo_area),
        &format!("allow_objects = [\"s3://{}\"]", w.bucket),
    );
    let e = Config::parse(&text).unwrap_err().to_string();
    assert!(
        e.contains(&format!("overlaps s3://{}/{}/", w.bucket, w.dl_prefix)),
        "{e}"
    );
    let mut wide = cfg.clone();
    let r = wide
        .routes
        .iter_mut()
        .find(|r| r.path == "/s3/demo-trail")
        .unwrap();
    r.allow_objects = vec![ObjectPrefix::parse(&format!("s3://{}", w.bucket)).unwrap()];
    let p_wide = Pipeline::build(&wide).unwrap();
    let (status, json) = send(
        &p_wide,
        "/s3/demo-trail",
        KEY,
        &[(&w.bucket, &other_dl_key)],
    )
    .await;
    assert_eq!((status, &json), (403, &refused));
    let (status, json) = send(&p_wide, "/s3/demo-trail", KEY, &[(&w.bucket, &demo_key)]).await;
    assert_eq!(status, 200, "the rest of the bucket is readable: {json}");
    assert!(!demo_output(&out, demo_index).contains(VICTIM_EVENT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_object_store_fetches_with_its_own_profile() {
    let w = world().await;
    let out = temp_dir("s3-profile");
    let demo_key = format!("{}/AWSLogs/111111111111/CloudTrail/p.json", w.demo_area);
    put(&w, &w.bucket, &demo_key, trail_file("profile-event-0001")).await;
    let os_url = opensearch_url();
    // The environment holds keys the server accepts; a profile must win.
    let wrong = Config::parse(&config_text_for(
        &w,
        &out,
        &os_url,
        "trail",
        &format!("profile = \"{WRONG_PROFILE}\""),
    ))
    .unwrap();
    let p = Pipeline::build(&wrong).unwrap();
    let (status, json) = send(&p, "/s3/demo-trail", KEY, &[(&w.bucket, &demo_key)]).await;
    assert_eq!(status, 403, "access denied is the uniform answer: {json}");
    assert!(
        json["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not available"),
        "{json}"
    );
    assert!(bulk_entries(&out, "demo-trail").is_empty());

    let right = Config::parse(&config_text_for(
        &w,
        &out,
        &os_url,
        "trail",
        &format!("profile = \"{TEST_PROFILE}\""),
    ))
    .unwrap();
    let p = Pipeline::build(&right).unwrap();
    let (status, json) = send(&p, "/s3/demo-trail", KEY, &[(&w.bucket, &demo_key)]).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        bulk_entries(&out, "demo-trail")[0].1["eventID"],
        "profile-event-0001"
    );
}

/// A dead-letter line as the sinks write it.
fn dead_letter_line(tenant: &str, route: &str, request_id: &str, data: &[u8]) -> String {
    use base64::Engine as _;
    serde_json::json!({
        "timestamp": "2023-11-14T22:13:20Z", "request_timestamp": 1_700_000_000_000i64,
        "attempt": 1, "tenant": tenant, "route": route, "request_id": request_id,
        "source_arn": null, "record_index": 0, "kind": "processing-failed",
        "reason": "x", "document": null,
        "data": base64::engine::general_purpose::STANDARD.encode(data),
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_directory_replay_trust_the_place_not_the_line() {
    let w = world().await;
    let out = temp_dir("s3-replay-forged");
    let cfg = Config::parse(&config_text_for(&w, &out, &opensearch_url(), "trail", "")).unwrap();
    let p = Pipeline::build(&cfg).unwrap();
    // Tenant other's document, id `other-rid-0-0`.
    let original = br#"{"timestamp":1576280412771,"formatVersion":1,"action":"ALLOW"}"#.to_vec();
    let (status, json) =
        post_records_as(&p, "/other/waf", OTHER_KEY, "other-rid", &[original]).await;
    assert_eq!(status, 200, "{json}");
    let before = bulk_entries(&out, "other-waf");
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].0["index"]["_id"], "other-rid-0-0");

    // Demo's dead-letter file (its own tenant directory) holds one real
    // line and three forged ones: tenant other's route and request id, a
    // request id that is not one, and another route of demo.
    let forged = br#"{"timestamp":1576280412771,"formatVersion":1,"action":"FORGED"}"#;
    let legit = br#"{"timestamp":1576280412771,"formatVersion":1,"action":"COUNT"}"#;
    let dir = out.join("dead-letters/demo");
    std::fs::create_dir_all(&dir).unwrap();
    let lines = [
        dead_letter_line("demo", "waf", "demo-rid", legit),
        dead_letter_line("other", "waf", "other-rid", forged),
        dead_letter_line("demo", "waf", "../other-rid", forged),
        dead_letter_line("demo", "echo", "demo-rid", forged),
    ];
    std::fs::write(dir.join("waf.ndjson"), lines.join("\n") + "\n").unwrap();
    let source = weir::replay::ReplaySource::Dir(out.join("dead-letters"));
    let read = weir::replay::read(&cfg, &source).await.unwrap();
    let report = weir::replay::replay(&p, read, None, false).await.unwrap();
    assert_eq!(
        (
            report.records,
            report.refused,
            report.requests,
            report.documents
        ),
        (4, 3, 1, 1),
        "{report:?}"
    );
    let after = bulk_entries(&out, "other-waf");
    assert_eq!(after.len(), 1, "other's document untouched: {after:?}");
    assert_eq!(after[0].1["action"], "ALLOW");
    let demo = bulk_entries(&out, "demo-waf");
    assert_eq!(demo.len(), 1);
    assert_eq!(
        (
            demo[0].0["index"]["_id"].as_str(),
            demo[0].1["action"].as_str()
        ),
        (Some("demo-rid-0-0"), Some("COUNT"))
    );

    // The same in S3: a forged line in demo's area of the dead-letter sink,
    // and a key that nests a tenant inside demo's area.
    let at = |middle: &str, file: &str| {
        format!(
            "{}/{middle}/processing-failed/2023/11/14/22/{file}",
            w.dl_prefix
        )
    };
    let objects = [
        (
            at("demo/waf", "demo-s3-0.ndjson.gz"),
            dead_letter_line("demo", "waf", "demo-s3", legit),
        ),
        (
            at("demo/waf", "other-rid-0.ndjson.gz"),
            dead_letter_line("other", "waf", "other-rid", forged),
        ),
        (
            at("demo/waf", "demo-s3b-0.ndjson.gz"),
            dead_letter_line("demo", "waf", "other-rid", forged),
        ),
        (
            at("demo/x/other/waf", "other-rid-0.ndjson.gz"),
            dead_letter_line("other", "waf", "other-rid", forged),
        ),
    ];
    for (key, line) in &objects {
        put(&w, &w.bucket, key, weir::codec::gzip(line.as_bytes())).await;
    }
    let source =
        weir::replay::ReplaySource::parse(&format!("s3://{}/{}/demo/", w.bucket, w.dl_prefix))
            .unwrap();
    let read = weir::replay::read(&cfg, &source).await.unwrap();
    assert_eq!((read.sources, read.letters.len(), read.refused), (4, 1, 3));
    let report = weir::replay::replay(&p, read, None, false).await.unwrap();
    assert_eq!((report.refused, report.documents), (3, 1), "{report:?}");
    let after = bulk_entries(&out, "other-waf");
    assert_eq!(
        (after.len(), after[0].1["action"].as_str()),
        (1, Some("ALLOW"))
    );
    assert!(
        bulk_entries(&out, "demo-waf")
            .iter()
            .any(|(a, _)| a["index"]["_id"] == "demo-s3-0-0")
    );
}
