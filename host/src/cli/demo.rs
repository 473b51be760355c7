//! `weir demo`: the whole path on loopback, no set-up needed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir::config::Config;
use weir::pipeline::Pipeline;

/// The demo's access key (also in `examples/weir.toml`).
const DEMO_KEY: &str = "demo-access-key";

/// Sample Firehose requests bundled with the binary: (route path, what, body).
fn requests() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let waf_log = br#"{"timestamp":1576280412771,"formatVersion":1,"webaclId":"arn:aws:wafv2:ap-southeast-2:111122223333:regional/webacl/demo/1","terminatingRuleId":"Default_Action","action":"ALLOW","httpRequest":{"clientIp":"192.0.2.1","uri":"/","httpMethod":"GET","requestId":"demo-1"}}"#;
    let mixed = serde_json::json!({
        "requestId": "0b9c2c1e-demo-4a3f-9d7e-000000000002",
        "timestamp": 1_700_000_002_000i64,
        "records": [
            {"data": b64.encode(waf_log)},
            {"data": b64.encode(b"this record is not JSON")},
        ],
    });
    let mut out: Vec<(&'static str, &'static str, Vec<u8>)> = FIXTURES
        .iter()
        .map(|(path, what, body)| (*path, *what, body.to_vec()))
        .collect();
    out.insert(
        1,
        (
            "/firehose/waf",
            "1 good WAF log + 1 bad record",
            mixed.to_string().into_bytes(),
        ),
    );
    out
}

/// The demo's Firehose requests: (route path, what it holds, body), from
/// the test fixtures (`tests/fixtures/firehose/`, see its PROVENANCE.md).
const FIXTURES: &[(&str, &str, &[u8])] = &[
    (
        "/firehose/waf",
        "5 WAF logs",
        include_bytes!("../../../tests/fixtures/firehose/derived_request_waf-direct-put.json"),
    ),
    (
        "/firehose/waf",
        "a record with invalid base64",
        include_bytes!(
            "../../../tests/fixtures/firehose/derived_request_edge-empty-plain-invalid-base64.json"
        ),
    ),
    (
        "/firehose/cloudtrail",
        "CloudWatch Logs subscription payloads (gzip), CloudTrail inside",
        include_bytes!(
            "../../../tests/fixtures/firehose/derived_request_cwl-mixed-control-data.json"
        ),
    ),
    (
        "/firehose/vpc-flow",
        "VPC Flow Log lines, v2 to v10 (only v2 matches the default format)",
        include_bytes!("../../../tests/fixtures/firehose/derived_request_vpcflow-direct.json"),
    ),
    (
        "/firehose/securityhub",
        "Security Hub findings (EventBridge events)",
        include_bytes!(
            "../../../tests/fixtures/firehose/derived_request_securityhub-eventbridge.json"
        ),
    ),
    (
        "/firehose/route53-resolver",
        "Route 53 Resolver query logs",
        include_bytes!(
            "../../../tests/fixtures/firehose/derived_request_route53-resolver-direct.json"
        ),
    ),
];

/// The demo's config: `examples/weir.toml` on a free loopback port, writing under `out`.
fn demo_config(out: &Path) -> anyhow::Result<Config> {
    let mut config = Config::parse(include_str!("../../../examples/weir.toml"))?;
    config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    for sink in config.sinks.values_mut() {
        if let weir::config::SinkConfig::Directory { path } = sink {
            *path = out.to_path_buf();
        }
    }
    Ok(config)
}

#[allow(clippy::disallowed_methods)] // bodies read through `limited`
pub(crate) fn run(out: Option<PathBuf>, opensearch: Option<String>) -> anyhow::Result<ExitCode> {
    let out = match out {
        Some(p) => p,
        None => std::env::temp_dir().join(format!(
            "weir-demo-{}-{}",
            std::process::id(),
            weir::firehose::now_ms()
        )),
    };
    let mut config = demo_config(&out)?;
    if let Some(url) = &opensearch {
        config.use_opensearch(url);
    }
    let rt = super::runtime()?;
    let shown = match &opensearch {
        Some(url) => format!("OpenSearch at {url} (dead letters under {})", out.display()),
        None => out.display().to_string(),
    };
    let search_url = opensearch.clone();
    rt.block_on(async move {
        let pipeline = Arc::new(Pipeline::build(&config)?);
        let server = weir::server::Server::bind(
            config.server.listen,
            None,
            Arc::new(weir::live::Live::new(pipeline)),
        )
        .await?;
        let addr = server.local_addr()?;
        println!("weir demo: listening on http://{addr}, writing to {shown}");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let served = tokio::spawn(server.run(rx));
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        for (path, what, body) in requests() {
            let request_id = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["requestId"].as_str().map(str::to_string))
                .unwrap_or_default();
            let req = http::Request::post(format!("http://{addr}{path}"))
                .header("content-type", "application/json")
                .header("x-amz-firehose-protocol-version", "1.0")
                .header("x-amz-firehose-request-id", &request_id)
                .header("x-amz-firehose-access-key", DEMO_KEY)
                .header(
                    "x-amz-firehose-source-arn",
                    "arn:aws:firehose:us-east-1:111122223333:deliverystream/weir-demo",
                )
                .body(Full::new(Bytes::from(body)))?;
            let resp = client
                .request(req)
                .await
                .context("sending a demo request")?;
            let status = resp.status();
            let body = limited(resp.into_body())
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
                .to_bytes();
            println!(
                "POST {path} [{what}] → {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        let _ = tx.send(true);
        let _ = served.await;
        if let Some(url) = &search_url {
            report_opensearch(&client, url).await?;
        }
        anyhow::Ok(())
    })?;
    report(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Print the document count of each index the demo wrote to.
#[allow(clippy::disallowed_methods)] // bodies read through `limited`
async fn report_opensearch(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let refresh = http::Request::post(format!("{base}/_refresh")).body(Full::new(Bytes::new()))?;
    let _ = limited(client.request(refresh).await?.into_body())
        .collect()
        .await;
    let req = http::Request::get(format!(
        "{base}/_cat/indices/waf?h=index,docs.count&format=json"
    ))
    .body(Full::new(Bytes::new()))?;
    let body = limited(client.request(req).await?.into_body())
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading _cat/indices: {e}"))?
        .to_bytes();
    let rows: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    println!("indexed in OpenSearch:");
    for row in rows
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !r["index"].as_str().unwrap_or(".").starts_with('.'))
    {
        println!(
            "  index {:<40} {:>4} documents  {base}/{}/_search",
            row["index"].as_str().unwrap_or_default(),
            row["docs.count"].as_str().unwrap_or_default(),
            row["index"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// Print, per index file and dead-letter file, how many entries it holds.
fn report(out: &Path) -> anyhow::Result<()> {
    println!("written under {}:", out.display());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    entries.sort();
    for p in entries {
        let lines = std::fs::read_to_string(&p)?.lines().count();
        println!(
            "  index {:<40} {:>4} documents  {}",
            p.file_stem().unwrap_or_default().to_string_lossy(),
            lines / 2,
            p.display()
        );
    }
    let dl_root = out.join("dead-letters");
    if dl_root.is_dir() {
        for tenant in std::fs::read_dir(&dl_root)? {
            let tenant = tenant?.path();
            for f in std::fs::read_dir(&tenant)? {
                let f = f?.path();
                let lines = std::fs::read_to_string(&f)?.lines().count();
                let route = f
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                println!(
                    "  dead letters {route:<34} {lines:>4} records    {}",
                    f.display()
                );
            }
        }
    }
    if out.join("waf.ndjson").exists() {
        println!(
            "replay into OpenSearch: curl -H 'Content-Type: application/x-ndjson' --data-binary @{}/waf.ndjson http://localhost:9200/_bulk",
            out.display()
        );
    }
    Ok(())
}

/// A response body read under a bound (the demo's own answers are small).
/// Collecting it is then bounded, hence the `allow`s at its callers.
fn limited<B>(body: B) -> http_body_util::Limited<B> {
    http_body_util::Limited::new(body, 16 * 1024 * 1024)
}
