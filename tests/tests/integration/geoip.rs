//! GeoIP end to end (issue #12): WAF logs through a route whose host has
//! `[geoip]` databases (MaxMind's test databases), into the real node:
//! `source.geo`/`source.as` for a public address, mapped so that a
//! `geo_distance` query finds it; nothing for private or invalid ones; the
//! databases refused at start when missing, and kept serving when a reload
//! finds a corrupt file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use weir::config::Config;
use weir::pipeline::Pipeline;
use weir_tests::*;

fn db(name: &str) -> PathBuf {
    fixtures().join("geoip").join(name)
}

fn waf_log(ms: u64, ip: &str) -> Vec<u8> {
    format!(
        r#"{{"timestamp":{ms},"formatVersion":1,"webaclId":"arn:aws:wafv2:eu-north-1:123456789012:regional/webacl/acl/1","action":"BLOCK","httpRequest":{{"clientIp":"{ip}","country":"SE","headers":[],"uri":"/","args":"","httpVersion":"HTTP/1.1","httpMethod":"GET","requestId":"r-{ms}"}}}}"#
    )
    .into_bytes()
}

/// A WAF route on OpenSearch `index`, with `[geoip]` from `city`/`asn` and
/// the route's `plugin_config` body.
fn config(
    out: &Path,
    index: &str,
    city: Option<&Path>,
    asn: Option<&Path>,
    options: &str,
) -> Config {
    let url = opensearch_url();
    let mut text = opensearch_config(out, &url, index, "bulk_max_age_ms = 0");
    text.push_str(&format!("plugin_config = {{ {options} }}\n[geoip]\n"));
    if let Some(c) = city {
        text.push_str(&format!("city = {:?}\n", c.display().to_string()));
    }
    if let Some(a) = asn {
        text.push_str(&format!("asn = {:?}\n", a.display().to_string()));
    }
    Config::parse(&text).unwrap()
}

async fn bodies(index: &str) -> Vec<serde_json::Value> {
    os_documents(&opensearch_url(), index)
        .await
        .into_iter()
        .map(|(_, body)| body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_address_gets_geo_and_as_and_a_geo_point() {
    let url = opensearch_url();
    let index = unique_index("geoip");
    let out = temp_dir("geoip");
    let c = config(
        &out,
        &index,
        Some(&db("GeoIP2-City-Test.mmdb")),
        Some(&db("GeoLite2-ASN-Test.mmdb")),
        "",
    );
    let p = Pipeline::build(&c).unwrap();
    let records = vec![
        waf_log(1_576_280_412_001, "89.160.20.156"),
        waf_log(1_576_280_412_002, "10.1.2.3"),
        waf_log(1_576_280_412_003, "not-an-address"),
    ];
    let (status, json) = post_records(&p, "/os/waf", "geo-1", &records).await;
    assert_eq!(status, 200, "{json}");
    let docs = bodies(&index).await;
    assert_eq!(docs.len(), 3, "{docs:?}");
    let public = &docs[0]["source"];
    assert_eq!(public["ip"], "89.160.20.156");
    assert_eq!(public["geo"]["country_iso_code"], "SE");
    assert_eq!(public["geo"]["city_name"], "Linköping");
    assert_eq!(public["geo"]["location"]["lat"], 58.4167);
    assert_eq!(public["as"]["number"], 29518);
    assert_eq!(public["as"]["organization"]["name"], "Bredband2 AB");
    // private: the address, nothing from the databases (the country is
    // WAF's own `httpRequest.country`, which the plugin falls back to)
    assert_eq!(docs[1]["source"]["ip"], "10.1.2.3");
    assert_eq!(
        docs[1]["source"]["geo"],
        serde_json::json!({"country_iso_code": "SE"}),
        "{}",
        docs[1]
    );
    assert!(docs[1]["source"].get("as").is_none(), "{}", docs[1]);
    // not an address: indexed, without source.ip or anything from the databases
    assert!(docs[2]["source"].get("ip").is_none(), "{}", docs[2]);
    assert!(docs[2]["source"].get("as").is_none(), "{}", docs[2]);
    assert!(
        docs[2]["source"]["geo"].get("location").is_none(),
        "{}",
        docs[2]
    );

    // mapped as geo_point and ip: a distance query and a CIDR query find it
    let (status, hits) = os_call(
        "POST",
        &format!("{url}/{index}/_search"),
        Some(serde_json::json!({"query": {"bool": {"filter": [
            {"geo_distance": {"distance": "50km", "source.geo.location": {"lat": 58.41, "lon": 15.62}}},
            {"term": {"source.ip": "89.160.20.0/24"}},
        ]}}})),
    )
    .await;
    assert_eq!(status, 200, "{hits}");
    assert_eq!(hits["hits"]["total"]["value"], 1, "{hits}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_off_for_a_route_writes_no_ecs_fields() {
    let index = unique_index("geoip-off");
    let out = temp_dir("geoip-off");
    let c = config(
        &out,
        &index,
        Some(&db("GeoIP2-City-Test.mmdb")),
        None,
        "ecs = false",
    );
    let p = Pipeline::build(&c).unwrap();
    let (status, json) = post_records(
        &p,
        "/os/waf",
        "geo-off",
        &[waf_log(1_576_280_412_001, "89.160.20.156")],
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let docs = bodies(&index).await;
    assert_eq!(docs.len(), 1);
    for root in ["source", "event", "cloud", "http", "url", "related"] {
        assert!(docs[0].get(root).is_none(), "{root}: {}", docs[0]);
    }
    assert_eq!(docs[0]["httpRequest"]["clientIp"], "89.160.20.156");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_corrupt_database_is_a_config_error_at_start() {
    let out = temp_dir("geoip-missing");
    let c = config(
        &out,
        "demo-x",
        Some(Path::new("/nonexistent/GeoLite2-City.mmdb")),
        None,
        "",
    );
    let e = Pipeline::build(&c).err().unwrap().to_string();
    assert!(
        e.contains("geoip.city") && e.contains("/nonexistent/GeoLite2-City.mmdb"),
        "{e}"
    );
    let corrupt = out.join("asn.mmdb");
    std::fs::write(&corrupt, b"not a database").unwrap();
    let c = config(&out, "demo-x", None, Some(&corrupt), "");
    let e = Pipeline::build(&c).err().unwrap().to_string();
    assert!(e.contains("geoip.asn"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_database_at_reload_is_counted_and_the_old_one_serves() {
    let index = unique_index("geoip-reload");
    let out = temp_dir("geoip-reload");
    let asn = out.join("asn.mmdb");
    std::fs::copy(db("GeoLite2-ASN-Test.mmdb"), &asn).unwrap();
    let c = config(&out, &index, None, Some(&asn), "");
    let live = weir::live::Live::new(Arc::new(Pipeline::build(&c).unwrap()));
    // replaced (by rename, as geoipupdate does) with a corrupt file
    let tmp = out.join("asn.tmp");
    std::fs::write(&tmp, b"corrupt, and of another length than the database").unwrap();
    std::fs::rename(&tmp, &asn).unwrap();
    live.reload_geoip();
    let metrics = live.current().metrics().clone();
    assert_eq!(metrics.geoip_reloads_failed.load(Ordering::Relaxed), 1);
    assert_eq!(metrics.geoip_reloads_ok.load(Ordering::Relaxed), 0);
    let rendered = live.current().render_metrics();
    assert!(
        rendered.contains("weir_geoip_reload_failures_total 1"),
        "{rendered}"
    );
    let (status, json) = post_records(
        &live.current(),
        "/os/waf",
        "geo-r",
        &[waf_log(1_576_280_412_001, "89.160.20.156")],
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let docs = bodies(&index).await;
    assert_eq!(docs[0]["source"]["as"]["number"], 29518, "{}", docs[0]);
    // a good file again: reloaded
    std::fs::copy(db("GeoLite2-ASN-Test.mmdb"), &tmp).unwrap();
    std::fs::rename(&tmp, &asn).unwrap();
    live.reload_geoip();
    assert_eq!(metrics.geoip_reloads_ok.load(Ordering::Relaxed), 1);
}
