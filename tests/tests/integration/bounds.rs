//! Issue #13's bounds on what record content can make the sinks do: the
//! distinct indices of one request and of a route over a day, and a
//! `_bulk` the node refuses as too large (413) mixing tenants.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir::config::Config;
use weir::pipeline::Pipeline;
use weir_tests::proxy::{Mode, Proxy};
use weir_tests::*;

/// 2019-12-13 (ms); each record `day` days later names another daily index.
const DAY0_MS: i64 = 1_576_280_412_771;

fn waf_record(day: i64, uri: &str) -> Vec<u8> {
    let ts = DAY0_MS + day * 86_400_000;
    format!(r#"{{"timestamp":{ts},"action":"ALLOW","httpRequest":{{"uri":"{uri}"}}}}"#).into_bytes()
}

/// A route whose index is daily and whose requests may name 3 indices:
/// a request over five days has the records of the 4th and 5th day
/// dead-lettered with the reason, the rest written; another tenant's
/// request at the same time is answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_max_indices_per_request_are_dead_lettered_and_the_rest_written() {
    let out = temp_dir("bound-indices");
    let mut text = config_text(&out, "listen = \"127.0.0.1:0\"\nplain_http = true");
    text.push_str(
        r#"
[[routes]]
path = "/firehose/days"
name = "days"
tenant = "demo"
plugin = "builtin:waf"
index = "days-%Y.%m.%d"
sink = "local"
max_indices_per_request = 3
"#,
    );
    let p = Pipeline::build(&Config::parse(&text).unwrap()).unwrap();
    let records: Vec<Vec<u8>> = [0, 1, 2, 3, 4, 0, 1]
        .iter()
        .map(|&d| waf_record(d, "/"))
        .collect();
    let other = vec![waf_record(0, "/other")];
    let ((status, json), (other_status, other_json)) = tokio::join!(
        post_records(&p, "/firehose/days", "days-1", &records),
        post_records_as(&p, "/other/waf", OTHER_KEY, "other-1", &other),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(other_status, 200, "{other_json}");
    for (day, want) in [("13", 2), ("14", 2), ("15", 1), ("16", 0), ("17", 0)] {
        let got = bulk_entries(&out, &format!("demo-days-2019.12.{day}")).len();
        assert_eq!(got, want, "day {day}");
    }
    let dls = dead_letters(&out, "demo", "days");
    let refused: Vec<u64> = dls
        .iter()
        .map(|d| d["record_index"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, [3, 4], "{dls:?}");
    for d in &dls {
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("max_indices_per_request = 3"), "{reason}");
    }
    assert_eq!(bulk_entries(&out, "other-waf").len(), 1);
}

/// Two tenants' requests coalesced into one `_bulk` that the node refuses
/// as too large (413 above 4 KiB, from the proxy): the small tenant's
/// record is indexed and its request answered 200; the big tenant's
/// documents that fit are indexed, and those too large even alone are
/// dead-lettered, not retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_for_a_mixed_bulk_never_fails_the_other_tenants_records() {
    let url = opensearch_url();
    let proxy = Proxy::start(&url, Mode::Forward).await;
    proxy.refuse_bulk_above(4096);
    let index = unique_index("split");
    let other_index = index.replacen("demo-", "other-", 1);
    let out = temp_dir("bound-413");
    let mut text = opensearch_config(
        &out,
        &proxy.url(),
        &index,
        "bulk_max_age_ms = 300\nretry_max_elapsed_ms = 3000",
    );
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
    let p = Pipeline::build(&Config::parse(&text).unwrap()).unwrap();
    let mut big: Vec<Vec<u8>> = (0..10)
        .map(|i| waf_record(0, &format!("/ok/{i}")))
        .collect();
    let huge = format!("/{}", "a".repeat(6000));
    big.push(waf_record(0, &huge));
    big.push(waf_record(0, &huge));
    let small = vec![waf_record(0, "/small")];
    let ((status, json), (small_status, small_json)) = tokio::join!(
        post_records(&p, "/os/waf", "big-1", &big),
        post_records_as(&p, "/os/other", OTHER_KEY, "small-1", &small),
    );
    assert_eq!(small_status, 200, "{small_json}");
    assert_eq!(status, 200, "{json}");
    assert_eq!(os_documents(&url, &other_index).await.len(), 1);
    assert_eq!(os_documents(&url, &index).await.len(), 10);
    let dls = dead_letters(&out, "demo", &index);
    let refused: Vec<u64> = dls
        .iter()
        .map(|d| d["record_index"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, [10, 11], "{dls:?}");
    for d in &dls {
        assert_eq!(d["kind"], "opensearch-rejected");
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("weir_document_too_large"), "{reason}");
    }
    assert!(dead_letters(&out, "other", "other-waf").is_empty());
}

/// A running Weir (a real socket) on `p`: its address, and the switch that
/// stops it when dropped.
async fn running(p: Arc<Pipeline>) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let live = Arc::new(weir::live::Live::new(p));
    let server = weir::server::Server::bind("127.0.0.1:0".parse().unwrap(), None, live)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(server.run(stopped));
    (addr, stop)
}

/// POST `records` as one Firehose request (id `rid`) to a running Weir.
async fn post_over_socket(
    addr: std::net::SocketAddr,
    path: &str,
    key: &str,
    rid: &str,
    records: &[Vec<u8>],
) -> (u16, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let mut req = firehose_request(path, Some(key), request_body(rid, &refs));
    *req.uri_mut() = format!("http://{addr}{path}").parse().unwrap();
    let (status, _, json) = read_response(client.request(req).await.unwrap()).await;
    (status, json)
}

/// Against a running Weir and the real OpenSearch node: a route with a
/// daily index and `max_indices_per_day = 3`. Each request stays far under
/// the per-request bound (100), but together they name five days: the
/// first request's two days and the second's next one are indexed, the
/// records of the 4th and 5th day are dead-lettered with the reason, and
/// another tenant's request at the same time is answered 200 and indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_max_indices_per_day_are_dead_lettered_across_requests() {
    let url = opensearch_url();
    let base = unique_index("per-day");
    let other_index = base.replacen("demo-", "other-", 1);
    let out = temp_dir("bound-per-day");
    let mut text = opensearch_config(&out, &url, &base, "bulk_max_age_ms = 0");
    text.push_str(&format!(
        r#"
[[routes]]
path = "/os/days"
name = "days"
tenant = "demo"
plugin = "builtin:waf"
index = "{base}-%Y.%m.%d"
sink = "search"
max_indices_per_day = 3

[[routes]]
path = "/os/other"
name = "other-waf"
tenant = "other"
plugin = "builtin:waf"
index = "{other_index}"
sink = "search"
"#
    ));
    let p = Arc::new(Pipeline::build(&Config::parse(&text).unwrap()).unwrap());
    let (addr, _stop) = running(p).await;
    let first: Vec<Vec<u8>> = [0, 1].iter().map(|&d| waf_record(d, "/first")).collect();
    let (status, json) = post_over_socket(addr, "/os/days", KEY, "day-1", &first).await;
    assert_eq!(status, 200, "{json}");
    let second: Vec<Vec<u8>> = [1, 2, 3, 4, 2]
        .iter()
        .map(|&d| waf_record(d, "/second"))
        .collect();
    let other = vec![waf_record(0, "/other")];
    let ((status, json), (other_status, other_json)) = tokio::join!(
        post_over_socket(addr, "/os/days", KEY, "day-2", &second),
        post_over_socket(addr, "/os/other", OTHER_KEY, "other-1", &other),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(other_status, 200, "{other_json}");
    for (day, want) in [("13", 1), ("14", 2), ("15", 2), ("16", 0), ("17", 0)] {
        let got = os_documents(&url, &format!("{base}-2019.12.{day}"))
            .await
            .len();
        assert_eq!(got, want, "day {day}");
    }
    let dls = dead_letters(&out, "demo", "days");
    let refused: Vec<(&str, u64)> = dls
        .iter()
        .map(|d| {
            (
                d["request_id"].as_str().unwrap(),
                d["record_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(refused, [("day-2", 2), ("day-2", 3)], "{dls:?}");
    for d in &dls {
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("max_indices_per_day = 3"), "{reason}");
    }
    assert_eq!(os_documents(&url, &other_index).await.len(), 1);
    // A day already counted still takes records.
    let again = vec![waf_record(2, "/again")];
    let (status, json) = post_over_socket(addr, "/os/days", KEY, "day-3", &again).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        os_documents(&url, &format!("{base}-2019.12.15"))
            .await
            .len(),
        3
    );
}
