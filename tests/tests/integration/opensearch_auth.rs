//! Authentication towards OpenSearch, seen on the wire (through the test
//! proxy, in front of the real node, which accepts any credentials since it
//! runs without the security plugin): AWS SigV4 with credentials from the
//! standard chain, and basic auth.

use weir::server::handle;
use weir_tests::proxy::{Mode, Proxy};
use weir_tests::*;

async fn post_one(p: &weir::pipeline::Pipeline, rid: &str) -> (u16, serde_json::Value) {
    let body = request_body(rid, &[br#"{"timestamp":1576280412771}"#]);
    let (status, _, json) =
        read_response(handle(p, firehose_request("/os/waf", Some(KEY), body)).await).await;
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_and_basic_auth_are_sent() {
    // The signer reads the standard chain: the test S3 server's keys here.
    let access_key = use_test_aws_credentials();
    let url = opensearch_url();
    let proxy = Proxy::start(&url, Mode::Forward).await;

    let index = unique_index("sigv4");
    let (p, _out) = opensearch_pipeline(
        "os-sigv4",
        &proxy.url(),
        &index,
        "bulk_max_age_ms = 0\naws_sigv4 = { region = \"eu-west-1\", service = \"es\" }",
    );
    let (status, json) = post_one(&p, "sigv4-1").await;
    assert_eq!(status, 200, "{json}");
    let auth = proxy.last_authorization().expect("an Authorization header");
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={access_key}/"))
            && auth.contains("/eu-west-1/es/aws4_request"),
        "{auth}"
    );
    assert!(
        auth.contains("SignedHeaders=") && auth.contains("host") && auth.contains("x-amz-date"),
        "{auth}"
    );
    assert_eq!(os_documents(&url, &index).await.len(), 1);

    let index = unique_index("basic");
    let (p, _out) = opensearch_pipeline(
        "os-basic",
        &proxy.url(),
        &index,
        "bulk_max_age_ms = 0\nusername = \"weir\"\npassword = \"s3cret\"",
    );
    let (status, json) = post_one(&p, "basic-1").await;
    assert_eq!(status, 200, "{json}");
    // base64("weir:s3cret")
    assert_eq!(
        proxy.last_authorization().as_deref(),
        Some("Basic d2VpcjpzM2NyZXQ=")
    );
    assert_eq!(os_documents(&url, &index).await.len(), 1);
}
