//! The Firehose protocol end to end through `server::handle`, called as a
//! service (no sockets): responses as Firehose sees them, and what was
//! written to the directory sink.

use weir::server::handle;
use weir_tests::*;

const WAF_REQUEST: &str = "firehose/derived_request_waf-direct-put.json";

fn waf_body() -> Vec<u8> {
    std::fs::read(fixtures().join(WAF_REQUEST)).unwrap()
}

#[tokio::test]
async fn waf_request_is_acknowledged_after_its_documents_are_written() {
    let (p, out) = pipeline("waf-ok");
    let body = waf_body();
    let rid = body_request_id(&body);
    let resp = handle(&p, firehose_request("/firehose/waf", Some(KEY), body)).await;
    let (status, ct, json) = read_response(resp).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(ct, "application/json");
    assert_eq!(json["requestId"], rid.as_str());
    assert!(json["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(
        json.as_object().unwrap().len(),
        2,
        "200 body is exactly requestId + timestamp"
    );

    let docs = bulk_entries(&out, "demo-waf");
    assert_eq!(docs.len(), 5);
    for (i, (action, doc)) in docs.iter().enumerate() {
        assert_eq!(action["index"]["_index"], "demo-waf");
        assert_eq!(action["index"]["_id"], format!("{rid}-{i}-0"));
        let ts = doc["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    }
    assert_eq!(docs[0].1["timestamp"], "2019-12-13T23:40:12.771Z");
    assert!(dead_letters(&out, "demo", "waf").is_empty());
}

#[tokio::test]
async fn a_retried_request_keeps_its_document_ids() {
    let (p, out) = pipeline("waf-retry");
    for _ in 0..2 {
        let resp = handle(&p, firehose_request("/firehose/waf", Some(KEY), waf_body())).await;
        assert_eq!(read_response(resp).await.0, 200);
    }
    let docs = bulk_entries(&out, "demo-waf");
    assert_eq!(
        docs.len(),
        10,
        "the directory sink appends; _bulk replay dedups by id"
    );
    let ids: std::collections::BTreeSet<String> = docs
        .iter()
        .map(|(a, _)| a["index"]["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5, "a retry produces the same 5 ids");
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let (p, out) = pipeline("gzip");
    let rid = body_request_id(&waf_body());
    let mut req = firehose_request("/firehose/waf", Some(KEY), weir::codec::gzip(&waf_body()));
    req.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    req.headers_mut()
        .insert("x-amz-firehose-request-id", rid.parse().unwrap());
    let (status, _, json) = read_response(handle(&p, req).await).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(bulk_entries(&out, "demo-waf").len(), 5);
}

#[tokio::test]
async fn a_bad_record_is_dead_lettered_and_the_rest_indexed() {
    let (p, out) = pipeline("mixed");
    let body = request_body(
        "mixed-1",
        &[
            br#"{"timestamp":1576280412771,"action":"ALLOW"}"#,
            b"not json at all",
            br#"{"action":"no timestamp"}"#,
            br#"{"timestamp":1576280412999,"action":"BLOCK"}"#,
        ],
    );
    let (status, _, json) =
        read_response(handle(&p, firehose_request("/firehose/waf", Some(KEY), body)).await).await;
    assert_eq!(status, 200, "{json}");
    let docs = bulk_entries(&out, "demo-waf");
    let ids: Vec<&str> = docs
        .iter()
        .map(|(a, _)| a["index"]["_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["mixed-1-0-0", "mixed-1-3-0"]);
    let dls = dead_letters(&out, "demo", "waf");
    assert_eq!(dls.len(), 2);
    assert_eq!(dls[0]["record_index"], 1);
    assert_eq!(dead_letter_data(&dls[0]), b"not json at all");
    assert!(dls[0]["reason"].as_str().unwrap().contains("invalid JSON"));
    assert_eq!(dls[1]["record_index"], 2);
    assert!(
        dls[1]["reason"]
            .as_str()
            .unwrap()
            .contains("missing `timestamp`")
    );
    for dl in &dls {
        assert_eq!(dl["kind"], "processing-failed");
        assert_eq!(dl["tenant"], "demo");
        assert_eq!(dl["route"], "waf");
        assert_eq!(dl["request_id"], "mixed-1");
        assert_eq!(
            dl["source_arn"],
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/test"
        );
    }
}

/// Each refused request: its status, an `errorMessage` that says why, the
/// request id echoed, and nothing written.
#[tokio::test]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let (p, out) = pipeline("refused");
    let good = waf_body;
    let edge = std::fs::read(
        fixtures().join("firehose/derived_request_edge-empty-plain-invalid-base64.json"),
    )
    .unwrap();
    let doc_example = std::fs::read(
        fixtures().join("firehose/awsdocs_request-body-example.as-published-invalid-json.json"),
    )
    .unwrap();

    let mut cases: Vec<(&str, http::Request<_>, u16, &str)> = vec![
        (
            "wrong key",
            firehose_request("/firehose/waf", Some("not-the-key"), good()),
            401,
            "access key",
        ),
        (
            "missing key",
            firehose_request("/firehose/waf", None, good()),
            401,
            "access denied",
        ),
        (
            "other tenant's key",
            firehose_request("/firehose/waf", Some(OTHER_KEY), good()),
            401,
            "access key",
        ),
        (
            "malformed JSON (the AWS doc example)",
            firehose_request("/firehose/waf", Some(KEY), doc_example),
            400,
            "malformed request body",
        ),
        (
            "bad base64",
            firehose_request("/firehose/waf", Some(KEY), edge),
            400,
            "base64",
        ),
        (
            "unknown route",
            firehose_request("/firehose/nope", Some(KEY), good()),
            401,
            "access denied",
        ),
    ];
    let mut r = firehose_request("/firehose/waf", Some(KEY), good());
    r.headers_mut()
        .insert("x-amz-firehose-protocol-version", "2.0".parse().unwrap());
    cases.push(("wrong protocol version", r, 400, "Protocol-Version"));
    let mut r = firehose_request("/firehose/waf", Some(KEY), good());
    r.headers_mut().remove("x-amz-firehose-protocol-version");
    cases.push(("missing protocol version", r, 400, "Protocol-Version"));
    let mut r = firehose_request("/firehose/waf", Some(KEY), good());
    *r.method_mut() = http::Method::GET;
    cases.push(("GET", r, 405, "POST"));
    // A gzip bomb: 200 MiB of zeros, ~200 KiB on the wire.
    let mut r = firehose_request(
        "/firehose/waf",
        Some(KEY),
        weir::codec::gzip(&vec![0u8; 200 << 20]),
    );
    r.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    cases.push(("gzip bomb", r, 413, "decompresses to more than"));
    // A body over Firehose's 64 MiB.
    let big = vec![b' '; weir::firehose::FIREHOSE_MAX_BODY_BYTES + 1];
    cases.push((
        "body over 64 MiB",
        firehose_request("/firehose/waf", Some(KEY), big),
        413,
        "exceeds",
    ));
    let mut r = firehose_request("/firehose/waf", Some(KEY), good());
    r.headers_mut()
        .insert("content-encoding", "br".parse().unwrap());
    cases.push(("unsupported encoding", r, 415, "Content-Encoding"));

    for (what, req, want_status, want_msg) in cases {
        let rid_header = req
            .headers()
            .get("x-amz-firehose-request-id")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap();
        let (status, ct, json) = read_response(handle(&p, req).await).await;
        assert_eq!(status, want_status, "{what}: {json}");
        assert_eq!(ct, "application/json", "{what}");
        let msg = json["errorMessage"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no errorMessage: {json}"));
        assert!(
            msg.contains(want_msg),
            "{what}: {msg:?} should mention {want_msg:?}"
        );
        assert_eq!(json["requestId"], rid_header.as_str(), "{what}");
        assert!(json["timestamp"].is_i64(), "{what}");
    }
    assert!(
        bulk_entries(&out, "demo-waf").is_empty(),
        "refused requests wrote documents"
    );
    assert!(
        !out.join("dead-letters").exists(),
        "refused requests wrote dead letters"
    );
}

#[tokio::test]
async fn record_count_over_firehose_limit_is_413_and_at_limit_is_fine() {
    let (p, out) = pipeline("count");
    let rec: &[u8] = br#"{"timestamp":1576280412771}"#;
    let at_limit: Vec<&[u8]> = vec![rec; weir::firehose::FIREHOSE_MAX_RECORDS];
    let (status, _, json) = read_response(
        handle(
            &p,
            firehose_request(
                "/firehose/waf",
                Some(KEY),
                request_body("at-limit", &at_limit),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(bulk_entries(&out, "demo-waf").len(), 10_000);
    let over: Vec<&[u8]> = vec![rec; weir::firehose::FIREHOSE_MAX_RECORDS + 1];
    let (status, _, json) = read_response(
        handle(
            &p,
            firehose_request("/firehose/waf", Some(KEY), request_body("over", &over)),
        )
        .await,
    )
    .await;
    assert_eq!(status, 413, "{json}");
}

#[tokio::test]
async fn sink_write_failure_is_non_200_so_firehose_retries() {
    let (p, out) = pipeline("sink-fail");
    // Make the index file impossible to open: a directory where the file goes.
    std::fs::create_dir_all(out.join("demo-waf.ndjson")).unwrap();
    let (status, _, json) =
        read_response(handle(&p, firehose_request("/firehose/waf", Some(KEY), waf_body())).await)
            .await;
    assert_eq!(status, 500, "{json}");
    assert!(json["errorMessage"].as_str().unwrap().contains("retry"));
    // Fixed: the same request now succeeds.
    std::fs::remove_dir(out.join("demo-waf.ndjson")).unwrap();
    let (status, _, _) =
        read_response(handle(&p, firehose_request("/firehose/waf", Some(KEY), waf_body())).await)
            .await;
    assert_eq!(status, 200);
    assert_eq!(bulk_entries(&out, "demo-waf").len(), 5);
}

/// An unknown path and a wrong key get the same status and body (bar the
/// timestamp), so the answer does not tell which paths are routes; the
/// body names neither the path nor the key.
#[tokio::test]
async fn unknown_routes_and_wrong_keys_read_the_same() {
    let (p, _out) = pipeline("enumerate");
    let answer = |path: &'static str, key: Option<&'static str>| {
        let p = p.clone();
        async move {
            let req = firehose_request(path, key, waf_body());
            let (status, ct, mut json) = read_response(handle(&p, req).await).await;
            json["timestamp"] = serde_json::Value::Null;
            (status, ct, json)
        }
    };
    let wrong_key = answer("/firehose/waf", Some("not-the-key")).await;
    let no_key = answer("/firehose/waf", None).await;
    let other_tenant = answer("/firehose/waf", Some(OTHER_KEY)).await;
    let no_route = answer("/firehose/nope", Some(KEY)).await;
    let no_route_no_key = answer("/firehose/nope", None).await;
    assert_eq!(wrong_key.0, 401, "{wrong_key:?}");
    for other in [&no_key, &other_tenant, &no_route, &no_route_no_key] {
        assert_eq!(other, &wrong_key);
    }
    let msg = wrong_key.2["errorMessage"].as_str().unwrap();
    assert!(!msg.contains("/firehose") && !msg.contains("nope"), "{msg}");
}

/// With `server.metrics_token`, `GET /metrics` wants it as a Bearer token.
#[tokio::test]
async fn metrics_want_the_token_when_one_is_set() {
    let out = temp_dir("metrics-token");
    let token = "metrics-token-0123456789";
    let text = config_text(
        &out,
        &format!("listen = \"127.0.0.1:0\"\nplain_http = true\nmetrics_token = \"{token}\""),
    );
    let cfg = weir::config::Config::parse(&text).unwrap();
    let live = weir::live::Live::new(std::sync::Arc::new(
        weir::pipeline::Pipeline::build(&cfg).unwrap(),
    ));
    let get = |auth: Option<String>| {
        let mut b = http::Request::get("/metrics");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let req = b
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let live = &live;
        async move {
            let resp = weir::server::handle_live(live, req).await;
            let status = resp.status().as_u16();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789".into()),
        Some(token.into()),
    ] {
        let (status, body) = get(auth.clone()).await;
        assert_eq!(status, 401, "{auth:?}");
        assert!(!body.contains("weir_"), "{auth:?}: {body}");
    }
    let (status, body) = get(Some(format!("Bearer {token}"))).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE weir_records_in_total counter"),
        "{body}"
    );
}
