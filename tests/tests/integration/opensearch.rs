//! Against the real OpenSearch node that `tests/services up` starts: what
//! Firehose is told, and what OpenSearch then holds.

use weir_tests::proxy::{Mode, Proxy};
use weir_tests::*;

/// Every WAF sample as published (one record each; the Elastic file gives
/// four), not the `derived_` wrappings of them (gzip, CloudWatch Logs).
fn waf_sample_records() -> Vec<Vec<u8>> {
    let dir = fixtures().join("plugins/waf");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".in"))
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("derived_")
        })
        .collect();
    files.sort();
    files.iter().flat_map(|f| fixture_records(f)).collect()
}

async fn post(
    p: &weir::pipeline::Pipeline,
    rid: &str,
    records: &[Vec<u8>],
) -> (u16, serde_json::Value) {
    post_records(p, "/os/waf", rid, records).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_waf_sample_is_searchable_with_timestamp_mapped_as_date() {
    let url = opensearch_url();
    let index = unique_index("waf");
    let (p, out) = opensearch_pipeline("os-waf", &url, &index, "bulk_max_age_ms = 0");
    let records = waf_sample_records();
    assert_eq!(records.len(), 11);
    let (status, json) = post(&p, "os-waf-1", &records).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["requestId"], "os-waf-1");

    let docs = os_documents(&url, &index).await;
    assert_eq!(docs.len(), 11);
    let expected_ids: Vec<String> = {
        let mut v: Vec<String> = (0..11).map(|i| format!("os-waf-1-{i}-0")).collect();
        v.sort();
        v
    };
    assert_eq!(
        docs.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        expected_ids
    );
    for (id, d) in &docs {
        let ts = d["timestamp"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: {d}"));
        assert!(ts.len() == 24 && ts.ends_with('Z'), "{id}: {ts}");
        assert!(d["httpRequest"]["clientIp"].is_string(), "{id}: {d}");
        assert!(d["action"].is_string(), "{id}");
    }
    let cf = docs
        .iter()
        .find(|(_, d)| d["timestamp"] == "2025-05-25T21:31:58.574Z")
        .expect("the CloudFront sample");
    assert!(
        cf.1["rateBasedRuleList"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(cf.1["labels"].as_array().is_some_and(|a| !a.is_empty()));

    let (status, mapping) = os_call("GET", &format!("{url}/{index}/_mapping"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        mapping[&index]["mappings"]["properties"]["timestamp"]["type"], "date",
        "{mapping}"
    );
    // A date range query works on it.
    let (_, hits) = os_call(
        "POST",
        &format!("{url}/{index}/_count"),
        Some(serde_json::json!({"query": {"range": {"timestamp": {"gte": "2020-01-01", "lt": "2021-01-01"}}}})),
    )
    .await;
    assert_eq!(
        hits["count"], 4,
        "two 2020 samples, each also in the Elastic file: {hits}"
    );
    assert!(dead_letters(&out, "demo", &index).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_conflict_is_dead_lettered_and_the_rest_indexed() {
    let url = opensearch_url();
    let index = unique_index("conflict");
    let (status, body) = os_call(
        "PUT",
        &format!("{url}/{index}"),
        Some(
            serde_json::json!({"mappings": {"properties": {"formatVersion": {"type": "integer"}}}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (p, out) = opensearch_pipeline("os-conflict", &url, &index, "bulk_max_age_ms = 0");
    let bad: &[u8] =
        br#"{"timestamp":1576280412772,"formatVersion":"not a number","action":"BLOCK"}"#;
    // A record of three logs (three documents), two of them refused.
    let three: &[u8] =
        b"{\"timestamp\":1576280412774,\"formatVersion\":\"x\",\"action\":\"BLOCK\"}\n\
        {\"timestamp\":1576280412775,\"formatVersion\":2,\"action\":\"ALLOW\"}\n\
        {\"timestamp\":1576280412776,\"formatVersion\":\"y\",\"action\":\"BLOCK\"}";
    let records = vec![
        br#"{"timestamp":1576280412771,"formatVersion":1,"action":"ALLOW"}"#.to_vec(),
        bad.to_vec(),
        br#"{"timestamp":1576280412773,"formatVersion":1,"action":"COUNT"}"#.to_vec(),
        three.to_vec(),
    ];
    let (status, json) = post(&p, "conflict-1", &records).await;
    assert_eq!(status, 200, "{json}");
    let docs = os_documents(&url, &index).await;
    assert_eq!(
        docs.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        vec!["conflict-1-0-0", "conflict-1-2-0", "conflict-1-3-1"]
    );
    let dls = dead_letters(&out, "demo", &index);
    // One dead letter per refused document, each with its own id and reason.
    assert_eq!(dls.len(), 3, "{dls:?}");
    let ids: Vec<&str> = dls
        .iter()
        .map(|d| d["document"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["conflict-1-1-0", "conflict-1-3-0", "conflict-1-3-2"]);
    for dl in &dls[1..] {
        assert_eq!(dl["record_index"], 3);
        assert_eq!(dead_letter_data(dl), three);
        assert!(
            dl["reason"].as_str().unwrap().contains("formatVersion"),
            "{dl}"
        );
    }
    assert_eq!(dls[0]["kind"], "opensearch-rejected");
    assert_eq!(dls[0]["record_index"], 1);
    assert_eq!(dead_letter_data(&dls[0]), bad);
    let reason = dls[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("mapper_parsing_exception (400)"),
        "{reason}"
    );
    assert!(reason.contains("formatVersion"), "{reason}");
    assert_eq!(dls[0]["document"]["id"], "conflict-1-1-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_twice_leaves_one_copy() {
    let url = opensearch_url();
    let index = unique_index("twice");
    let (p, _out) = opensearch_pipeline("os-twice", &url, &index, "bulk_max_age_ms = 0");
    let records = waf_sample_records();
    for _ in 0..2 {
        assert_eq!(post(&p, "twice-1", &records).await.0, 200);
    }
    assert_eq!(os_documents(&url, &index).await.len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_from_many_requests_share_bulk_requests() {
    let url = opensearch_url();
    let proxy = Proxy::start(&url, Mode::Forward).await;
    let index = unique_index("coalesce");
    let (p, _out) = opensearch_pipeline(
        "os-coalesce",
        &proxy.url(),
        &index,
        "bulk_max_age_ms = 300\nbulk_max_documents = 1000",
    );
    let rec = br#"{"timestamp":1576280412771}"#.to_vec();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (p, rec) = (p.clone(), rec.clone());
        tasks.push(tokio::spawn(async move {
            post(&p, &format!("many-{i}"), &[rec.clone(), rec]).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(os_documents(&url, &index).await.len(), 20);
    assert!(
        proxy.bulk_requests() < 10,
        "10 requests were coalesced into {} _bulk calls",
        proxy.bulk_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_answered_429_are_retried_until_indexed() {
    let url = opensearch_url();
    let proxy = Proxy::start(&url, Mode::Reject429Once).await;
    let index = unique_index("retry429");
    let (p, out) = opensearch_pipeline("os-429", &proxy.url(), &index, "bulk_max_age_ms = 0");
    let records = waf_sample_records();
    let (status, json) = post(&p, "r429-1", &records).await;
    assert_eq!(status, 200, "{json}");
    assert!(
        proxy.bulk_requests() >= 2,
        "the first _bulk was answered 429, so it was retried"
    );
    let docs = os_documents(&url, &index).await;
    assert_eq!(docs.len(), 11, "all indexed, no duplicates");
    assert!(dead_letters(&out, "demo", &index).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_unreachable_is_non_200_and_the_retry_stores_once() {
    let url = opensearch_url();
    let proxy = Proxy::start(&url, Mode::Down).await;
    let index = unique_index("down");
    let (p, out) = opensearch_pipeline(
        "os-down",
        &proxy.url(),
        &index,
        "bulk_max_age_ms = 0\nretry_max_elapsed_ms = 1500\nrequest_timeout_ms = 1000",
    );
    let records = waf_sample_records();
    let (status, json) = post(&p, "down-1", &records).await;
    assert_eq!(status, 500, "{json}");
    let msg = json["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("retry") && msg.contains("internal error") && !msg.contains("documents"),
        "{msg}"
    );
    assert!(
        os_documents(&url, &index).await.is_empty(),
        "nothing acknowledged, nothing stored"
    );
    assert!(
        dead_letters(&out, "demo", &index).is_empty(),
        "a transient failure is not a dead letter"
    );

    // The node is back: Firehose retries the same request.
    proxy.set(Mode::Forward);
    let (status, json) = post(&p, "down-1", &records).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(os_documents(&url, &index).await.len(), 11);
}

/// An OpenSearch behind TLS with a private CA: trusted through `ca_file`,
/// refused (non-200, nothing acknowledged) without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_custom_ca() {
    let url = opensearch_url();
    let dir = temp_dir("os-tls");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let acceptor = weir::server::tls_acceptor_from(
        vec![rustls_pki_types::CertificateDer::from(
            ck.cert.der().to_vec(),
        )],
        rustls_pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap(),
    )
    .unwrap();
    let front = Proxy::start_tls(&url, acceptor).await;
    let https = format!("https://localhost:{}", front.addr.port());

    let index = unique_index("tls-ca");
    let (p, _out) = opensearch_pipeline(
        "os-tls-ca",
        &https,
        &index,
        &format!(
            "bulk_max_age_ms = 0\nca_file = {:?}",
            ca.display().to_string()
        ),
    );
    let (status, json) = post(&p, "tls-1", &[br#"{"timestamp":1576280412771}"#.to_vec()]).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(os_documents(&url, &index).await.len(), 1);

    let index = unique_index("tls-noca");
    let (p, _out) = opensearch_pipeline(
        "os-tls-noca",
        &https,
        &index,
        "bulk_max_age_ms = 0\nretry_max_elapsed_ms = 500",
    );
    let (status, json) = post(&p, "tls-2", &[br#"{"timestamp":1576280412771}"#.to_vec()]).await;
    assert_eq!(
        status, 500,
        "an untrusted certificate is not accepted: {json}"
    );
    assert!(os_documents(&url, &index).await.is_empty());
}
