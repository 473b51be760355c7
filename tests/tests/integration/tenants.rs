//! Two (three) tenants on one host against the real OpenSearch node: each
//! sees only its own indices, keys do not cross tenants, a plugin cannot
//! write into another tenant's index, and a quota breach is a 429 that a
//! later retry of the same request turns into a 200 with nothing lost or
//! doubled.

use std::sync::Arc;

use weir::config::Config;
use weir::live::Live;
use weir::pipeline::Pipeline;
use weir_tests::*;

const ACME_KEY: &str = "acme-key-2025";
const ACME_ROTATED_KEY: &str = "acme-key-2026";
const ACME_DIGEST_KEY: &str = "acme-key-kept-as-a-digest";
const BETA_KEY: &str = "beta-key-2025";
const SLOW_KEY: &str = "slow-key-2025";

fn waf_records(n: usize, tag: &str) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(r#"{{"timestamp":1576280412771,"action":"ALLOW","tag":"{tag}","i":{i}}}"#)
                .into_bytes()
        })
        .collect()
}

async fn post(
    live: &Live,
    path: &str,
    key: &str,
    rid: &str,
    records: &[Vec<u8>],
) -> (u16, serde_json::Value) {
    post_records_as(&live.current(), path, key, rid, records).await
}

/// Index names of the node under `prefix`.
async fn indices(url: &str, prefix: &str) -> Vec<String> {
    let (status, body) = os_call(
        "GET",
        &format!("{url}/_cat/indices/{prefix}*?format=json"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_and_quotas_answer_429_until_the_retry_fits() {
    let url = opensearch_url();
    let out = temp_dir("tenants");
    // Unique prefixes: the node is shared by every test run.
    let run = unique_index("t").trim_start_matches("demo-").to_string();
    let (acme, beta, slow) = (
        format!("acme-{run}-"),
        format!("beta-{run}-"),
        format!("slow-{run}-"),
    );
    let digest = {
        use sha2::Digest;
        weir::digest::hex(&sha2::Sha256::digest(ACME_DIGEST_KEY.as_bytes()))
    };
    let sinks = weir_load::config_toml::directory_sink("local", &out)
        + &weir_load::config_toml::opensearch_sink("search", &url, "local", 0);
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
plain_http = true

[plugins]
max_concurrent_batches = 4
{sinks}
[[tenants]]
id = "acme"
index_prefix = "{acme}"
access_keys = ["{ACME_KEY}", "{ACME_ROTATED_KEY}"]
access_key_sha256 = ["{digest}"]

[[tenants]]
id = "beta"
index_prefix = "{beta}"
access_keys = ["{BETA_KEY}"]

[[tenants]]
id = "slow"
index_prefix = "{slow}"
access_keys = ["{SLOW_KEY}"]
records_per_second = 20

[[routes]]
path = "/acme/waf"
tenant = "acme"
plugin = "builtin:waf"
index = "waf"
sink = "search"

[[routes]]
path = "/beta/waf"
tenant = "beta"
plugin = "builtin:waf"
index = "waf"
sink = "search"

# Beta's plugin asks for acme's index.
[[routes]]
path = "/beta/sneaky"
tenant = "beta"
plugin = {HOSTILE_PLUGIN:?}
index = "sneaky"
allow_plugin_index = true
plugin_config = {{ mode = "other-index", index = "{acme}waf" }}
sink = "search"

[[routes]]
path = "/slow/waf"
tenant = "slow"
plugin = "builtin:waf"
index = "waf"
sink = "search"
"#
    );
    let config = Config::parse(&text).unwrap();
    let live = Live::new(Arc::new(Pipeline::build(&config).unwrap()));

    // Each tenant with each of its keys: plain, rotated, kept as a digest.
    for (n, key) in [ACME_KEY, ACME_ROTATED_KEY, ACME_DIGEST_KEY]
        .iter()
        .enumerate()
    {
        let (status, json) = post(
            &live,
            "/acme/waf",
            key,
            &format!("acme-{n}"),
            &waf_records(2, "acme"),
        )
        .await;
        assert_eq!(status, 200, "{key}: {json}");
    }
    let (status, json) = post(
        &live,
        "/beta/waf",
        BETA_KEY,
        "beta-0",
        &waf_records(3, "beta"),
    )
    .await;
    assert_eq!(status, 200, "{json}");

    // Keys do not cross tenants.
    for (path, key) in [
        ("/beta/waf", ACME_KEY),
        ("/acme/waf", BETA_KEY),
        ("/acme/waf", SLOW_KEY),
    ] {
        let (status, json) = post(&live, path, key, "crossed", &waf_records(1, "x")).await;
        assert_eq!(status, 401, "{path} with another tenant's key: {json}");
        assert!(
            json["errorMessage"]
                .as_str()
                .unwrap()
                .contains("access key"),
            "{json}"
        );
    }

    // Beta's plugin asks for acme's index; the documents stay in beta's space.
    let (status, json) = post(
        &live,
        "/beta/sneaky",
        BETA_KEY,
        "sneaky-0",
        &waf_records(4, "sneaky"),
    )
    .await;
    assert_eq!(status, 200, "{json}");

    let acme_waf = format!("{acme}waf");
    let acme_docs = os_documents(&url, &acme_waf).await;
    assert_eq!(
        acme_docs.len(),
        6,
        "acme's index holds acme's documents only"
    );
    assert!(
        acme_docs.iter().all(|(_, d)| d["tag"] == "acme"),
        "{acme_docs:?}"
    );
    assert_eq!(indices(&url, &acme).await, vec![acme_waf.clone()]);
    assert_eq!(
        indices(&url, &beta).await,
        vec![format!("{beta}{acme}waf"), format!("{beta}waf")],
        "beta's documents, including what its plugin aimed at acme, are under beta's prefix"
    );
    assert_eq!(
        os_documents(&url, &format!("{beta}{acme}waf")).await.len(),
        4
    );
    assert_eq!(os_documents(&url, &format!("{beta}waf")).await.len(), 3);

    // Quota: 20 records per second. The first request (100 records) empties
    // the bucket and leaves it 4 s in debt; the next is refused with 429 and
    // an errorMessage, before any processing.
    let first = waf_records(100, "slow-1");
    let second = waf_records(3, "slow-2");
    let (status, json) = post(&live, "/slow/waf", SLOW_KEY, "slow-1", &first).await;
    assert_eq!(status, 200, "{json}");
    let (status, json) = post(&live, "/slow/waf", SLOW_KEY, "slow-2", &second).await;
    assert_eq!(status, 429, "{json}");
    let msg = json["errorMessage"].as_str().unwrap();
    assert!(msg.contains("records per second quota"), "{msg}");
    assert_eq!(json["requestId"], "slow-2", "the request id is echoed");
    // Other tenants are not affected by slow's quota.
    let (status, json) = post(
        &live,
        "/beta/waf",
        BETA_KEY,
        "beta-1",
        &waf_records(1, "beta"),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    // Firehose retries the same request with backoff; once the bucket has
    // refilled it goes through. Nothing was lost, nothing doubled.
    let mut retries = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let (status, json) = post(&live, "/slow/waf", SLOW_KEY, "slow-2", &second).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{json}");
        retries += 1;
        assert!(retries < 120, "the retry never fit the quota");
    }
    let slow_docs = os_documents(&url, &format!("{slow}waf")).await;
    assert_eq!(slow_docs.len(), 103, "both requests, once each");

    // The counters say the same, per tenant and route.
    let metrics = live.current().render_metrics();
    for line in [
        "weir_quota_rejections_total{tenant=\"slow\",route=\"waf\"} ",
        "weir_records_in_total{tenant=\"acme\",route=\"waf\"} 6",
        "weir_documents_out_total{tenant=\"beta\",route=\"sneaky\"} 4",
        "weir_requests_failed_total{tenant=\"beta\",route=\"waf\"} 1",
        "weir_documents_out_total{tenant=\"slow\",route=\"waf\"} 103",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    let rejected: u64 = metrics
        .lines()
        .find(|l| l.starts_with("weir_quota_rejections_total{tenant=\"slow\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(rejected, 1 + retries);
}
