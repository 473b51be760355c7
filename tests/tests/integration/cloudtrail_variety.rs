//! CloudTrail at scale (issue #12): thousands of distinct CloudTrail events,
//! generated from the real samples (every event source, API names, and the
//! free-form `requestParameters`/`responseElements`/`additionalEventData`
//! with keys whose value is an object in one event and a string in
//! another), into one daily index of the real node.
//!
//! The control indexes the same events into an index with only the date
//! mapping (what Weir installed before): OpenSearch refuses some (total
//! fields over 1000, object↔string conflicts). Through Weir's
//! `builtin:cloudwatch-logs` route, with the template its plugin suggests
//! (`flat_object` for the free-form parts), none is refused.

use weir::config::Config;
use weir_tests::*;

/// How many events: enough to pass 1000 fields many times over under
/// dynamic mapping.
const EVENTS: usize = 3000;
/// Events per CloudWatch Logs payload (one Firehose record).
const PER_RECORD: usize = 100;
/// Records per Firehose request.
const PER_REQUEST: usize = 5;

/// A small deterministic generator (no randomness between runs).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// AWS services' event sources: the samples' own, and more (a real
/// account calls many).
const SERVICES: &[&str] = &[
    "ec2",
    "iam",
    "kms",
    "sts",
    "s3",
    "signin",
    "sns",
    "cloudtrail",
    "lambda",
    "rds",
    "dynamodb",
    "sqs",
    "ecs",
    "eks",
    "elasticloadbalancing",
    "autoscaling",
    "cloudformation",
    "logs",
    "monitoring",
    "events",
    "ssm",
    "secretsmanager",
    "route53",
    "cloudfront",
    "apigateway",
    "glue",
    "athena",
    "kinesis",
    "firehose",
    "es",
    "elasticache",
    "redshift",
    "sagemaker",
    "config",
    "guardduty",
    "securityhub",
    "organizations",
    "sso",
    "backup",
    "ecr",
];
const VERBS: &[&str] = &[
    "Create", "Delete", "Describe", "Get", "List", "Put", "Update", "Modify", "Attach", "Detach",
];
const NOUNS: &[&str] = &[
    "Instance",
    "Bucket",
    "Policy",
    "Role",
    "Key",
    "Subnet",
    "Endpoint",
    "Cluster",
    "Table",
    "Queue",
    "Topic",
    "Function",
    "Stack",
    "Trail",
    "Group",
    "User",
    "Snapshot",
    "Volume",
    "Rule",
    "Alias",
    "Grant",
    "Tag",
    "Parameter",
    "Secret",
    "Repository",
    "Image",
    "Job",
    "Workgroup",
    "Stream",
    "Domain",
    "Certificate",
    "Listener",
    "Target",
    "Vault",
    "Plan",
];
const SUFFIXES: &[&str] = &[
    "", "Id", "Name", "Arn", "Set", "Config", "Spec", "Status", "Details", "Info", "List",
];

/// The sample CloudTrail events the project keeps (every event source in
/// the shared samples).
fn base_events() -> Vec<serde_json::Value> {
    let dir = fixtures().join("plugins/cloudwatch-logs");
    let mut events = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("awsdocs_records_")
            || name.starts_with("otel_cloudtrail_log.")
            || name.starts_with("elastic_test-console-login"))
            || !name.ends_with(".in")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let values: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text)
        {
            Ok(v) => match v.get("Records") {
                Some(serde_json::Value::Array(records)) => records.clone(),
                _ => vec![v],
            },
            // one event per line, or invalid JSON (kept out)
            Err(_) => text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
        };
        events.extend(
            values
                .into_iter()
                .filter(|e| e.get("eventSource").is_some()),
        );
    }
    assert!(events.len() >= 10, "{} sample events", events.len());
    events
}

/// A value of a random shape: a string, a number, a flag, an object or a
/// list of objects (nested keys drawn from the same vocabulary).
fn value(rng: &mut Lcg, depth: usize) -> serde_json::Value {
    match rng.below(if depth > 1 { 3 } else { 5 }) {
        0 => serde_json::Value::String(format!("v-{}", rng.below(1000))),
        1 => serde_json::json!(rng.below(100_000)),
        2 => serde_json::Value::Bool(rng.below(2) == 0),
        3 => {
            let keys = 1 + rng.below(4);
            free_form(rng, depth + 1, keys)
        }
        _ => serde_json::Value::Array(vec![
            free_form(rng, depth + 1, 2),
            free_form(rng, depth + 1, 2),
        ]),
    }
}

fn key(rng: &mut Lcg) -> String {
    let noun = NOUNS[rng.below(NOUNS.len())];
    let suffix = SUFFIXES[rng.below(SUFFIXES.len())];
    let mut k = format!("{noun}{suffix}");
    k[..1].make_ascii_lowercase();
    k
}

fn free_form(rng: &mut Lcg, depth: usize, keys: usize) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for _ in 0..keys {
        map.insert(key(rng), value(rng, depth));
    }
    serde_json::Value::Object(map)
}

/// Turn some of an object's values object↔string, as APIs do.
fn mutate(rng: &mut Lcg, v: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = v {
        for (_, inner) in map.iter_mut() {
            if rng.below(3) != 0 {
                continue;
            }
            *inner = match inner.take() {
                o @ serde_json::Value::Object(_) => serde_json::Value::String(o.to_string()),
                serde_json::Value::String(s) => serde_json::json!({ "value": s }),
                other => other,
            };
        }
    }
}

/// `n` distinct events, all on 2026-11-30 (one daily index).
fn variety(n: usize) -> Vec<serde_json::Value> {
    let bases = base_events();
    let mut rng = Lcg(12);
    (0..n)
        .map(|i| {
            let mut e = bases[i % bases.len()].clone();
            let service = SERVICES[i % SERVICES.len()];
            let name = format!(
                "{}{}",
                VERBS[rng.below(VERBS.len())],
                NOUNS[rng.below(NOUNS.len())]
            );
            e["eventSource"] = format!("{service}.amazonaws.com").into();
            e["eventName"] = name.into();
            e["eventID"] = format!("00000000-0000-4000-8000-{i:012}").into();
            e["eventTime"] = format!(
                "2026-11-30T{:02}:{:02}:{:02}Z",
                i % 24,
                i % 60,
                (i / 60) % 60
            )
            .into();
            for field in [
                "requestParameters",
                "responseElements",
                "additionalEventData",
            ] {
                let mut v = match e.get(field) {
                    Some(serde_json::Value::Object(m)) => serde_json::Value::Object(m.clone()),
                    _ => serde_json::json!({}),
                };
                mutate(&mut rng, &mut v);
                let keys = 2 + rng.below(6);
                if let serde_json::Value::Object(extra) = free_form(&mut rng, 0, keys) {
                    v.as_object_mut().unwrap().extend(extra);
                }
                e[field] = v;
            }
            e
        })
        .collect()
}

/// CloudWatch Logs payloads of the events, `PER_RECORD` per record.
fn cwl_records(events: &[serde_json::Value]) -> Vec<Vec<u8>> {
    events
        .chunks(PER_RECORD)
        .enumerate()
        .map(|(r, chunk)| {
            let log_events: Vec<serde_json::Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    serde_json::json!({
                        "id": format!("{r}-{i}"),
                        "timestamp": 1_764_460_800_000i64,
                        "message": e.to_string(),
                    })
                })
                .collect();
            serde_json::json!({
                "messageType": "DATA_MESSAGE", "owner": "111122223333",
                "logGroup": "aws-cloudtrail-logs", "logStream": "111122223333_CloudTrail_us-east-1",
                "subscriptionFilters": ["weir"], "logEvents": log_events,
            })
            .to_string()
            .into_bytes()
        })
        .collect()
}

/// Leaf fields of an index mapping (what `total_fields` counts, roughly:
/// every property, objects included).
fn mapped_fields(mapping: &serde_json::Value) -> usize {
    mapping
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map_or(0, |props| {
            props
                .values()
                .map(|p| {
                    1 + mapped_fields(p)
                        + p.get("fields")
                            .and_then(|f| f.as_object())
                            .map_or(0, |f| f.len())
                })
                .sum()
        })
}

async fn index_fields(url: &str, index: &str) -> usize {
    let (status, m) = os_call("GET", &format!("{url}/{index}/_mapping"), None).await;
    assert_eq!(status, 200, "{m}");
    mapped_fields(&m[index]["mappings"])
}

/// The control: the events `_bulk`-indexed straight into an index with
/// only the date mapping. Returns (refused, a reason of each kind).
async fn control_refusals(url: &str, events: &[serde_json::Value]) -> (usize, Vec<String>) {
    let index = unique_index("variety-control");
    let (status, body) = os_call(
        "PUT",
        &format!("{url}/{index}"),
        Some(serde_json::json!({"mappings": {"properties": {"eventTime": {"type": "date"}}}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (mut refused, mut kinds) = (0, Vec::<String>::new());
    for chunk in events.chunks(500) {
        let mut bulk = String::new();
        for e in chunk {
            bulk.push_str(&serde_json::json!({"index": {"_id": e["eventID"]}}).to_string());
            bulk.push('\n');
            bulk.push_str(&e.to_string());
            bulk.push('\n');
        }
        let (status, resp) = os_bulk(url, &index, bulk).await;
        assert_eq!(status, 200, "{resp}");
        for item in resp["items"].as_array().unwrap() {
            if let Some(err) = item["index"].get("error") {
                refused += 1;
                let kind = err["type"].as_str().unwrap_or("?").to_string();
                if !kinds.iter().any(|k| k.starts_with(&kind)) {
                    kinds.push(format!("{kind}: {}", err["reason"].as_str().unwrap_or("")));
                }
            }
        }
    }
    os_call("DELETE", &format!("{url}/{index}"), None).await;
    (refused, kinds)
}

async fn os_bulk(url: &str, index: &str, body: String) -> (u16, serde_json::Value) {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("{url}/{index}/_bulk"))
        .header("content-type", "application/x-ndjson")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_distinct_cloudtrail_events_fill_one_daily_index_without_a_refusal() {
    let url = opensearch_url();
    let events = variety(EVENTS);
    let distinct: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e["eventID"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), EVENTS);

    let (refused_before, kinds) = control_refusals(&url, &events).await;
    eprintln!(
        "variety: {EVENTS} events; control (date mapping only): {refused_before} refused; {kinds:?}"
    );
    // The control must fail, or this test shows nothing.
    assert!(
        refused_before > 0,
        "the variety set no longer overflows dynamic mapping"
    );

    let base = unique_index("variety");
    let out = temp_dir("variety");
    let mut text = opensearch_config(&out, &url, &format!("{base}-waf"), "bulk_max_age_ms = 0");
    text.push_str(&format!(
        "\n[[routes]]\npath = \"/os/cloudtrail\"\nname = \"variety\"\ntenant = \"demo\"\n\
         plugin = \"builtin:cloudwatch-logs\"\nindex = \"{base}-%Y.%m.%d\"\nsink = \"search\"\n"
    ));
    let config = Config::parse(&text).unwrap();
    let p = weir::pipeline::Pipeline::build(&config).unwrap();
    let records = cwl_records(&events);
    for (n, chunk) in records.chunks(PER_REQUEST).enumerate() {
        let (status, json) =
            post_records(&p, "/os/cloudtrail", &format!("variety-{n}"), chunk).await;
        assert_eq!(status, 200, "{json}");
    }
    let index = format!("{base}-2026.11.30");
    let docs = os_documents_count(&url, &index).await;
    let dls = dead_letters(&out, "demo", "variety");
    let fields = index_fields(&url, &index).await;
    eprintln!(
        "variety: through weir: {docs} indexed, {} refused (dead letters); {fields} mapped fields in {index}",
        dls.len()
    );
    assert!(dls.is_empty(), "{:?}", dls.first());
    assert_eq!(docs, EVENTS as u64);
    assert!(fields < 1000, "{fields} fields");
}

async fn os_documents_count(url: &str, index: &str) -> u64 {
    os_call("POST", &format!("{url}/{index}/_refresh"), None).await;
    let (status, c) = os_call("GET", &format!("{url}/{index}/_count"), None).await;
    assert_eq!(status, 200, "{index}: {c}");
    c["count"].as_u64().unwrap()
}
