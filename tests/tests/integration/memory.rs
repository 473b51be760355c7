//! Issue #13 finding 4, against a running Weir (a real socket) and the real
//! OpenSearch node and S3 server: request buffers come out of a memory
//! budget with per-tenant shares, taken before a body is read and as it
//! inflates; `bytes_per_second` counts inflated bytes; an `s3-notification`
//! route is charged for the objects it fetches.
//!
//! Tenant `demo` gets the smallest share allowed (3 × 64 MiB); two
//! "holders" (requests that declare a 64 MiB body and never send it) take
//! 128 MiB of it, deterministically, so what is left is known.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use weir::config::Config;
use weir::pipeline::Pipeline;
use weir_tests::*;

const MIB: usize = 1024 * 1024;
/// Demo's `memory_share_bytes`: the smallest allowed (3 × `max_body_bytes`).
const SHARE: usize = 192 * MIB;
/// What each holder declares: the largest body.
const HELD: usize = 64 * MIB;

/// `text` with tenant `demo`'s quotas extended by `extra` (TOML lines).
fn demo_quotas(text: &str, extra: &str) -> String {
    text.replace("id = \"demo\"\n", &format!("id = \"demo\"\n{extra}\n"))
}

/// A running Weir on `p`: its address and the switch that stops it.
async fn running(p: Arc<Pipeline>) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let live = Arc::new(weir::live::Live::new(p));
    let server = weir::server::Server::bind("127.0.0.1:0".parse().unwrap(), None, live)
        .await
        .unwrap()
        .with_drain(Duration::from_secs(1));
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(server.run(stopped));
    (addr, stop)
}

/// POST `body` (whose request id is `rid`) to a running Weir,
/// gzip-encoded when `gzip`: status, `Retry-After`, JSON body.
async fn post(
    addr: SocketAddr,
    path: &str,
    key: &str,
    (rid, body): (&str, Vec<u8>),
    gzip: bool,
) -> (u16, Option<String>, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = firehose_request(path, Some(key), Vec::new());
    let headers = req.headers_mut();
    headers.insert("x-amz-firehose-request-id", rid.parse().unwrap());
    if gzip {
        headers.insert("content-encoding", http::HeaderValue::from_static("gzip"));
        *req.body_mut() = Full::new(Bytes::from(weir::codec::gzip(&body)));
    } else {
        *req.body_mut() = Full::new(Bytes::from(body));
    }
    *req.uri_mut() = format!("http://{addr}{path}").parse().unwrap();
    let resp = client.request(req).await.unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, _, json) = read_response(resp).await;
    (status, retry_after, json)
}

/// A Firehose body of one record of zeros whose JSON is about `bytes`
/// long: its gzip is about a thousandth of that (the issue's 60 KB bodies
/// that inflate to 60 MiB).
fn zeros_body(request_id: &str, bytes: usize) -> Vec<u8> {
    format!(
        r#"{{"requestId":"{request_id}","timestamp":1700000000000,"records":[{{"data":"{}"}}]}}"#,
        "A".repeat(bytes / 4 * 4)
    )
    .into_bytes()
}

/// Open a request on `path` that declares a `declared`-byte body and sends
/// none of it: it holds its reservation until the connection is dropped.
async fn holder(addr: SocketAddr, path: &str, key: &str, n: usize, declared: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: weir\r\ncontent-type: application/json\r\n\
         x-amz-firehose-protocol-version: 1.0\r\nx-amz-firehose-request-id: holder-{n}\r\n\
         x-amz-firehose-access-key: {key}\r\ncontent-length: {declared}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Wait (at most 10 s) until tenant `demo` holds `bytes` of the budget.
async fn demo_holds(p: &Pipeline, bytes: usize) {
    let started = Instant::now();
    loop {
        let held = p
            .memory_budget()
            .snapshot()
            .tenants
            .get("demo")
            .copied()
            .unwrap_or(0);
        if held == bytes {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "demo holds {held} bytes, not {bytes}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (a) Demo, with 128 MiB of its 192 MiB share held, sends three gzip
/// requests of ~60 KB at once that inflate to ~60 MiB each: each is
/// refused with 503 and `Retry-After` as it inflates (it would hold the body
/// inflated and its records decoded, ~105 MiB), while tenant `other`'s WAF
/// request beside them is answered 200 and indexed in OpenSearch, and a
/// small request of demo's still fits. The refusals are counted per tenant,
/// and everything is given back once the holders go away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_share_is_refused_while_another_tenant_is_served() {
    let url = opensearch_url();
    let index = unique_index("mem");
    let other_index = index.replacen("demo-", "other-", 1);
    let out = temp_dir("mem-share");
    let mut text = opensearch_config(&out, &url, &index, "bulk_max_age_ms = 0");
    text = demo_quotas(&text, &format!("memory_share_bytes = {SHARE}"));
    text.push_str(&format!(
        r#"
[[routes]]
path = "/os/other"
name = "other-waf"
tenant = "other"
plugin = "builtin:waf"
index = "{other_index}"
sink = "search"
"#
    ));
    let config = Config::parse(&text).unwrap();
    let demo = &config.tenants[&weir::tenant::TenantId::new("demo").unwrap()];
    assert_eq!(demo.quotas.memory_share_bytes, SHARE);
    let p = Arc::new(Pipeline::build(&config).unwrap());
    let (addr, stop) = running(p.clone()).await;

    let holders = vec![
        holder(addr, "/firehose/waf", KEY, 1, HELD).await,
        holder(addr, "/firehose/waf", KEY, 2, HELD).await,
    ];
    demo_holds(&p, 2 * HELD).await;

    let big: Vec<_> = (0..3)
        .map(|i| {
            let rid = format!("big-{i}");
            let body = zeros_body(&rid, 60 * MIB);
            tokio::spawn(async move { post(addr, "/firehose/waf", KEY, (&rid, body), true).await })
        })
        .collect();
    let waf = br#"{"timestamp":1576280412771,"action":"ALLOW","httpRequest":{"uri":"/beside"}}"#;
    let (status, _, json) = post(
        addr,
        "/os/other",
        OTHER_KEY,
        ("other-1", request_body("other-1", &[waf])),
        false,
    )
    .await;
    assert_eq!(status, 200, "the other tenant is served: {json}");
    for b in big {
        let (status, retry_after, json) = b.await.unwrap();
        assert_eq!(status, 503, "{json}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        let message = json["errorMessage"].as_str().unwrap();
        assert!(message.contains("memory_share_bytes"), "{message}");
        assert!(json["requestId"].as_str().unwrap().starts_with("big-"));
    }
    let docs = os_documents(&url, &other_index).await;
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0].1["httpRequest"]["uri"], "/beside");

    // A small request of demo's fits in what is left of its share.
    let (status, _, json) = post(
        addr,
        "/firehose/waf",
        KEY,
        ("small-1", request_body("small-1", &[waf])),
        true,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(bulk_entries(&out, "demo-waf").len(), 1);

    let metrics = p.render_metrics();
    assert!(
        metrics.contains("weir_memory_budget_refusals_total{tenant=\"demo\"} 3"),
        "{metrics}"
    );
    assert!(!metrics.contains("weir_memory_budget_refusals_total{tenant=\"other\"}"));
    assert!(metrics.contains(&format!(
        "weir_memory_tenant_reserved_bytes{{tenant=\"demo\"}} {}",
        2 * HELD
    )));
    // The holders go away: their reservations are given back.
    drop(holders);
    demo_holds(&p, 0).await;
    assert_eq!(p.memory_budget().reserved(), 0);
    stop.send(true).unwrap();
}

/// (b) `bytes_per_second` charges what a gzip body inflates to: on a tenant
/// allowed 100 KB/s, a ~20 KB gzip body of 600 KB of WAF records passes
/// (a request may overdraw a full bucket) and the next request, sent at
/// once, gets 429. Charged as sent, both would have passed. While the
/// debt lasts, a request is refused from its head, its body never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_per_second_counts_inflated_bytes() {
    let out = temp_dir("mem-rate");
    let text = config_text(&out, "listen = \"127.0.0.1:0\"\nplain_http = true");
    let text = demo_quotas(&text, "bytes_per_second = 100000");
    let p = Arc::new(Pipeline::build(&Config::parse(&text).unwrap()).unwrap());
    let (addr, stop) = running(p).await;
    let records: Vec<Vec<u8>> = (0..450)
        .map(|i| {
            format!(
                r#"{{"timestamp":1576280412771,"action":"ALLOW","httpRequest":{{"uri":"/{i:04}/{}"}}}}"#,
                "a".repeat(900)
            )
            .into_bytes()
        })
        .collect();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let body = request_body("rate-1", &refs);
    let sent = weir::codec::gzip(&body).len();
    assert!(body.len() > 500_000, "{}", body.len());
    assert!(
        sent < 50_000,
        "the gzip body is under half the quota: {sent}"
    );
    let (status, _, json) = post(addr, "/firehose/waf", KEY, ("rate-1", body), true).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(bulk_entries(&out, "demo-waf").len(), 450);
    let one = [records[0].as_slice()];
    let (status, _, json) = post(
        addr,
        "/firehose/waf",
        KEY,
        ("rate-2", request_body("rate-2", &one)),
        true,
    )
    .await;
    assert_eq!(status, 429, "{json}");
    let message = json["errorMessage"].as_str().unwrap();
    assert!(message.contains("bytes per second"), "{message}");
    // While the tenant is in debt, a request is refused from its head: one
    // that declares 64 MiB and sends none of it is answered 429 at once,
    // without its body being read (nor any memory reserved for it).
    let mut head_only = holder(addr, "/firehose/waf", KEY, 3, HELD).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::io::AsyncReadExt::read(&mut head_only, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer before the body was sent");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    stop.send(true).unwrap();
}

/// The S3 set-up of (c): a bucket area for demo's trail files and a config
/// whose route `/s3/demo-trail` reads it. `demo_extra`: demo's quotas.
async fn s3_world(
    name: &str,
    demo_extra: &str,
) -> (Arc<Pipeline>, aws_sdk_s3::Client, String, String) {
    let (endpoint, bucket, access_key, secret_key) = s3_server();
    use_test_aws_credentials();
    let s3 = s3_client(&endpoint, &access_key, &secret_key).await;
    let area = format!(
        "mem-{name}-{}-{}",
        std::process::id(),
        weir::firehose::now_ms()
    );
    let out = temp_dir(name);
    let mut text = config_text(&out, "listen = \"127.0.0.1:0\"\nplain_http = true");
    text = demo_quotas(&text, demo_extra);
    text.push_str(&format!(
        r#"
[sinks.store]
type = "s3"
bucket = "{bucket}"
region = "us-east-1"
endpoint = "{endpoint}"

[[routes]]
path = "/s3/demo-trail"
name = "trail"
tenant = "demo"
plugin = "builtin:cloudwatch-logs"
index = "trail"
sink = "local"
kind = "s3-notification"
object_store = "store"
allow_objects = ["s3://{bucket}/{area}/"]
"#
    ));
    let p = Arc::new(Pipeline::build(&Config::parse(&text).unwrap()).unwrap());
    (p, s3, bucket, area)
}

/// An S3 notification naming `bucket`/`key`, to a running Weir: status and JSON.
async fn notify(addr: SocketAddr, bucket: &str, key: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]});
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::post(format!("http://{addr}/s3/demo-trail"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let (status, _, json) = read_response(client.request(req).await.unwrap()).await;
    (status, json)
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// (c) An `s3-notification` route is charged for the object it fetches,
/// inflated: on a tenant allowed 100 KB/s, a ~10 KB gzip trail file of
/// ~400 KB is delivered, and the next notification gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects_are_charged_to_the_rate_inflated() {
    let (p, s3, bucket, area) = s3_world("mem-s3-rate", "bytes_per_second = 100000").await;
    let (addr, stop) = running(p).await;
    let events: Vec<serde_json::Value> = (0..400)
        .map(|i| {
            serde_json::json!({"eventVersion": "1.08", "eventTime": "2024-01-02T03:04:05Z",
                "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                "awsRegion": "us-east-1", "eventID": format!("mem-event-{i:04}"),
                "requestParameters": {"bucketName": "b", "pad": "p".repeat(900)}})
        })
        .collect();
    let file = serde_json::json!({ "Records": events })
        .to_string()
        .into_bytes();
    let gz = weir::codec::gzip(&file);
    assert!(
        file.len() > 350_000 && gz.len() < 50_000,
        "{} {}",
        file.len(),
        gz.len()
    );
    let key = format!("{area}/AWSLogs/111111111111/CloudTrail/trail.json.gz");
    put(&s3, &bucket, &key, gz).await;
    let (status, json) = notify(addr, &bucket, &key).await;
    assert_eq!(status, 200, "{json}");
    let (status, json) = notify(addr, &bucket, &key).await;
    assert_eq!(status, 429, "{json}");
    let message = json["errorMessage"].as_str().unwrap();
    assert!(message.contains("bytes per second"), "{message}");
    stop.send(true).unwrap();
}

/// (c) ... and against the memory budget: with 128 MiB of demo's 192 MiB
/// share held, a 64 KB gzip object that inflates to 64 MiB is refused with
/// 503 while it is counted, and a small object still fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects_are_charged_to_the_memory_share() {
    let extra = format!("memory_share_bytes = {SHARE}");
    let (p, s3, bucket, area) = s3_world("mem-s3-share", &extra).await;
    let (addr, stop) = running(p.clone()).await;
    let big = format!("{area}/AWSLogs/111111111111/CloudTrail/big.json.gz");
    put(&s3, &bucket, &big, weir::codec::gzip(&vec![b' '; 64 * MIB])).await;
    let small = format!("{area}/AWSLogs/111111111111/CloudTrail/small.json.gz");
    let file = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"small-0001"}]}"#;
    put(&s3, &bucket, &small, weir::codec::gzip(file)).await;
    let holders = vec![
        holder(addr, "/firehose/waf", KEY, 1, HELD).await,
        holder(addr, "/firehose/waf", KEY, 2, HELD).await,
    ];
    demo_holds(&p, 2 * HELD).await;
    let (status, json) = notify(addr, &bucket, &big).await;
    assert_eq!(status, 503, "{json}");
    let message = json["errorMessage"].as_str().unwrap();
    assert!(message.contains("memory_share_bytes"), "{message}");
    let (status, json) = notify(addr, &bucket, &small).await;
    assert_eq!(status, 200, "{json}");
    drop(holders);
    demo_holds(&p, 0).await;
    // With the share free again, the big object is read (and dead-lettered
    // by the plugin: 64 MiB of spaces are no trail file).
    let (status, json) = notify(addr, &bucket, &big).await;
    assert_eq!(status, 200, "{json}");
    assert!(
        p.render_metrics()
            .contains("weir_memory_budget_refusals_total{tenant=\"demo\"} 1")
    );
    stop.send(true).unwrap();
}
