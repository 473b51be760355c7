//! Every source's sample Firehose request, over a real socket to the server
//! `weir serve` runs, with the example config's routes, into the real
//! OpenSearch node: index names, document counts, and every time field
//! mapped as `date` (the seed's pain: `start` was a `long`).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir::config::{Config, SinkConfig};
use weir::pipeline::Pipeline;
use weir_tests::*;

fn fixture_request(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/firehose")
            .join(name),
    )
    .unwrap()
}

async fn mapping_type(url: &str, index: &str, field: &str) -> String {
    let (status, m) = os_call(
        "GET",
        &format!("{url}/{index}/_mapping/field/{field}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{m}");
    let leaf = field.rsplit('.').next().unwrap();
    m[index]["mappings"][field]["mapping"][leaf]["type"]
        .as_str()
        .unwrap_or("(unmapped)")
        .to_string()
}

async fn count(url: &str, index: &str) -> u64 {
    os_call("POST", &format!("{url}/{index}/_refresh"), None).await;
    let (status, c) = os_call("GET", &format!("{url}/{index}/_count"), None).await;
    assert_eq!(status, 200, "{index}: {c}");
    c["count"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_source_lands_in_its_indices_with_date_mappings() {
    let url = opensearch_url();
    // These index names are the example config's own (tenant `demo`, so
    // under its index prefix `demo-`); start clean.
    for pattern in [
        "demo-waf",
        "demo-cwl-*",
        "demo-vpc-flow-*",
        "demo-route53-resolver-*",
        "demo-aws-securityhub-findings-*",
    ] {
        os_call(
            "DELETE",
            &format!("{url}/{pattern}?ignore_unavailable=true"),
            None,
        )
        .await;
    }
    let out = temp_dir("sources");
    let mut config = Config::parse(include_str!("../../../examples/weir.toml")).unwrap();
    for s in config.sinks.values_mut() {
        if let SinkConfig::Directory { path } = s {
            *path = out.clone();
        }
    }
    config.use_opensearch(&url);
    if let Some(SinkConfig::OpenSearch(os)) = config.sinks.get_mut("opensearch") {
        os.bulk_max_age = std::time::Duration::ZERO;
    }
    // gzip `_bulk` bodies: OpenSearch accepts compressed requests.
    if let Some(SinkConfig::OpenSearch(os)) = config.sinks.get_mut("opensearch") {
        os.gzip = true;
    }
    let p = Arc::new(Pipeline::build(&config).unwrap());
    let server = weir::server::Server::bind(
        config.server.listen,
        None,
        Arc::new(weir::live::Live::new(p)),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(server.run(stopped));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for (path, file) in [
        ("/firehose/waf", "derived_request_waf-direct-put.json"),
        (
            "/firehose/cloudtrail",
            "derived_request_cwl-mixed-control-data.json",
        ),
        ("/firehose/vpc-flow", "derived_request_vpcflow-direct.json"),
        (
            "/firehose/securityhub",
            "derived_request_securityhub-eventbridge.json",
        ),
        (
            "/firehose/route53-resolver",
            "derived_request_route53-resolver-direct.json",
        ),
    ] {
        let mut req = firehose_request(path, Some(KEY), fixture_request(file));
        *req.uri_mut() = format!("http://{addr}{path}").parse().unwrap();
        let (status, _, json) = read_response(client.request(req).await.unwrap()).await;
        assert_eq!(status, 200, "{path}: {json}");
    }
    stop.send(true).unwrap();
    served.await.unwrap();

    assert_eq!(count(&url, "demo-waf").await, 5);
    assert_eq!(mapping_type(&url, "demo-waf", "timestamp").await, "date");

    assert_eq!(count(&url, "demo-cwl-2015.08.24").await, 2);
    // The OpenTelemetry samples in this request: two flow-log events
    // delivered on 2014-12-14 (log event ids "eventId1"/"eventId2") and a
    // CloudTrail event delivered then too, with the log event id "eventId1"
    // again. The CloudTrail event is keyed and dated by itself (its `eventID`
    // and `eventTime`, 2026-01-28), so it is its own document in its own day.
    assert_eq!(count(&url, "demo-cwl-2014.12.14").await, 2);
    assert_eq!(count(&url, "demo-cwl-2026.01.28").await, 1);
    assert_eq!(
        count(&url, "demo-cwl-*").await,
        5,
        "control messages dropped, the rest indexed"
    );
    assert_eq!(
        mapping_type(&url, "demo-cwl-2015.08.24", "@timestamp").await,
        "date"
    );

    assert_eq!(
        count(&url, "demo-vpc-flow-*").await,
        5,
        "v2 lines indexed; the other versions dead-lettered"
    );
    for index in [
        "demo-vpc-flow-2014.12.14",
        "demo-vpc-flow-2015.05.10",
        "demo-vpc-flow-2016.10.31",
    ] {
        assert_eq!(mapping_type(&url, index, "start").await, "date", "{index}");
        assert_eq!(mapping_type(&url, index, "end").await, "date", "{index}");
    }
    assert_eq!(dead_letters(&out, "demo", "vpc-flow").len(), 10);

    assert_eq!(count(&url, "demo-route53-resolver-2021.12.11").await, 5);
    assert_eq!(
        mapping_type(&url, "demo-route53-resolver-2021.12.11", "query_timestamp").await,
        "date"
    );

    // The composite event repeats the CIS 1.3 finding of the first event:
    // the document id is the finding `Id` (latest state wins), so 3 → 2.
    for (product, n) in [
        ("securityhub", 2),
        ("config", 1),
        ("health", 1),
        ("guardduty", 1),
    ] {
        let index = format!("demo-aws-securityhub-findings-{product}");
        assert_eq!(count(&url, &index).await, n, "{index}");
        assert_eq!(
            mapping_type(&url, &index, "CreatedAt").await,
            "date",
            "{index}"
        );
    }
}
