//! `sources`: every source end to end, each with plain and gzip request
//! bodies: flat out, then at half that rate; input records and output
//! documents per CPU-second of the host, latency at half the rate, peak RSS.
//!
//! The records are shaped the way each source reaches Firehose (issue #17):
//! WAF logs one per record; VPC flow log lines one per record (the version 2
//! default format, and a version 5 custom format with its `format`);
//! Route 53 Resolver query logs one per record; CloudTrail through a
//! CloudWatch Logs subscription as gzip payloads of 50 events each; Security
//! Hub as EventBridge events of 5 findings each. All are built from the
//! test fixtures (`tests/fixtures/plugins/<source>`).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::{Value, json};

use super::Setting;
use crate::args::{Args, workspace};
use crate::bodies::{build_bodies, fixture_records};
use crate::config::host_config;
use crate::drive::drive;
use crate::host::{Host, proc_cpu};
use crate::report::Report;
use weir_load::opensearch::{NodeStats, OpenSearch};

/// CloudTrail events per CloudWatch Logs payload.
const CWL_EVENTS: usize = 50;
/// Findings per Security Hub EventBridge event.
const FINDINGS: usize = 5;
/// Distinct CloudWatch Logs payloads / EventBridge events built.
const BUILT_RECORDS: usize = 16;
/// Distinct records made of the fixtures of a one-log-per-record source
/// (each with its own ports, ids and times), so that gzip request bodies
/// compress about as real ones do rather than as 14 records repeated.
const VARIANTS: usize = 1000;
/// A request carries at most this many bytes of records (before base64;
/// Firehose's HTTP endpoint buffers 1–64 MiB, 5 MiB by default).
const MAX_REQUEST_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// One source's records, and how its route is configured.
pub(crate) struct LoadSet {
    /// The name in the report.
    pub(crate) name: &'static str,
    /// The built-in plugin.
    source: &'static str,
    /// The route's `plugin_config` (inside of a TOML inline table).
    plugin_config: Option<String>,
    /// What one input unit is (a record, or the events/findings in one).
    unit: &'static str,
    /// Records per request, when not `--records` (sources whose records
    /// hold many events).
    per_request: Option<usize>,
    /// The records.
    pub(crate) records: Vec<Vec<u8>>,
}

/// What one source measured, with one kind of request body.
struct Row {
    name: &'static str,
    unit: &'static str,
    gzip: bool,
    per_request: usize,
    request_kb: f64,
    max: Report,
    half: Report,
    /// Documents written per record received (from Weir's counters).
    docs_per_record: f64,
    /// Records dead-lettered over both runs (a load set should have none).
    failed: f64,
    /// Against a real node (`--target URL`): what it and Weir did over the
    /// flat-out run, warm-up included.
    node: Option<NodeShare>,
}

/// Weir's CPU beside the real node's over one run.
struct NodeShare {
    /// Weir's CPU seconds.
    weir_cpu_s: f64,
    /// The node's, and the documents it indexed, over the same span.
    node: NodeStats,
    /// The span, in seconds.
    seconds: f64,
}

/// The node's statistics, Weir's CPU time and the time, at one instant.
struct NodeMark(NodeStats, std::time::Duration, std::time::Instant);

impl NodeMark {
    /// Now (`None` without a real node).
    async fn now(node: Option<&OpenSearch>, host: &Host) -> anyhow::Result<Option<NodeMark>> {
        let Some(node) = node else {
            return Ok(None);
        };
        let stats = node.node_stats().await?;
        Ok(Some(NodeMark(
            stats,
            proc_cpu(host.pid()),
            std::time::Instant::now(),
        )))
    }
}

impl NodeShare {
    /// What happened from one mark to the next.
    fn between(a: Option<NodeMark>, b: Option<NodeMark>) -> Option<NodeShare> {
        let (NodeMark(n0, w0, t0), NodeMark(n1, w1, t1)) = (a?, b?);
        Some(NodeShare {
            weir_cpu_s: w1.saturating_sub(w0).as_secs_f64(),
            node: NodeStats {
                cpu_s: n1.cpu_s - n0.cpu_s,
                indexed: n1.indexed - n0.indexed,
            },
            seconds: t1.duration_since(t0).as_secs_f64(),
        })
    }
}

/// Every source, plain and gzip, one after the other (`--sets` picks some).
pub(crate) async fn sources(s: &Setting<'_>) -> anyhow::Result<()> {
    let sets = load_sets()?;
    let mut rows = Vec::new();
    for set in sets
        .into_iter()
        .filter(|set| s.args.sets.is_empty() || s.args.sets.iter().any(|n| n == set.name))
    {
        for gzip in [false, true] {
            rows.push(measure(s, &set, gzip).await?);
        }
    }
    print_table(&rows);
    Ok(())
}

/// Flat out, then half that rate, for one set and body kind.
async fn measure(s: &Setting<'_>, set: &LoadSet, gzip: bool) -> anyhow::Result<Row> {
    let kind = if gzip { "gzip" } else { "plain" };
    let mut args: Args = s.args.clone();
    args.source = set.source.to_string();
    args.plugin_config = match (&set.plugin_config, &s.args.plugin_config) {
        (Some(a), Some(b)) => Some(format!("{a}, {b}")),
        (a, b) => a.clone().or_else(|| b.clone()),
    };
    let per_request = records_per_request(&set.records, set.per_request.unwrap_or(args.records));
    let mut bodies = build_bodies(&set.records, per_request, 64, set.name);
    if gzip {
        for b in &mut bodies {
            b.json = Bytes::from(gzip_bytes(&b.json)?);
            b.gzip = true;
        }
    }
    let request_kb = bodies.iter().map(|b| b.json.len()).sum::<usize>() as f64
        / bodies.len().max(1) as f64
        / 1e3;
    let bodies = Arc::new(bodies);
    let name = format!("{}-{kind}", set.name);
    let dir = s.subdir(&name)?;
    let host = Host::start(
        s.weir,
        &dir,
        &name,
        &host_config(&args, &dir, &s.bulk, None),
    )
    .await?;
    let counters = |h: &Host| {
        let e = h.endpoint.clone();
        async move {
            (
                e.counter("weir_records_in_total").await,
                e.counter("weir_documents_out_total").await,
                e.counter("weir_records_failed_total").await,
            )
        }
    };
    let (r0, d0, f0) = counters(&host).await;
    let node = (args.target != "null").then(|| OpenSearch::new(&args.target));
    let before = NodeMark::now(node.as_ref(), &host).await?;
    let max = drive(&args, &host, &bodies, 0.0).await?;
    let node = NodeShare::between(before, NodeMark::now(node.as_ref(), &host).await?);
    max.print(&format!("{name}: maximum rate"), &args, &host);
    let half_rate = max.tally.requests as f64 / max.window.as_secs_f64() / 2.0;
    let half = drive(&args, &host, &bodies, half_rate).await?;
    half.print(&format!("{name}: half the maximum rate"), &args, &host);
    let (r1, d1, f1) = counters(&host).await;
    Ok(Row {
        name: set.name,
        unit: set.unit,
        gzip,
        per_request,
        request_kb,
        max,
        half,
        docs_per_record: if r1 > r0 {
            (d1 - d0) / (r1 - r0)
        } else {
            f64::NAN
        },
        failed: f1 - f0,
        node,
    })
}

/// The summary table (Markdown), one row per source and body kind.
fn print_table(rows: &[Row]) {
    println!(
        "\n== sources (records and documents per CPU-second of the host at the maximum rate; latency and RSS at half of it)\n"
    );
    println!(
        "| source | body | records/request | request KB | records/s | records per CPU-s | documents per CPU-s (what) | p50 / p99 ms at half | peak RSS MiB | dead letters |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let per_cpu = r.max.records_per_cpu_s();
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} ({}) | {:.1} / {:.1} | {:.0} | {:.0} |",
            r.name,
            if r.gzip { "gzip" } else { "plain" },
            r.per_request,
            r.request_kb,
            r.max.records_per_s(),
            per_cpu,
            per_cpu * r.docs_per_record,
            r.unit,
            r.half.percentile_ms(0.50),
            r.half.percentile_ms(0.99),
            r.max.peak_rss_kib.max(r.half.peak_rss_kib) as f64 / 1024.0,
            r.failed,
        );
    }
    print_node_table(rows);
}

/// Against a real node: its indexing rate and Weir's share of the CPU both
/// used over the flat-out runs.
fn print_node_table(rows: &[Row]) {
    if rows.iter().all(|r| r.node.is_none()) {
        return;
    }
    println!(
        "\n== against the real node (flat-out run, warm-up included; CPU from /proc for Weir, from _nodes/stats for the node)\n"
    );
    println!(
        "| source | body | node documents/s | Weir CPU-s | node CPU-s | Weir's share of the CPU |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let Some(n) = &r.node else { continue };
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} % |",
            r.name,
            if r.gzip { "gzip" } else { "plain" },
            n.node.indexed / n.seconds.max(1e-9),
            n.weir_cpu_s,
            n.node.cpu_s,
            100.0 * n.weir_cpu_s / (n.weir_cpu_s + n.node.cpu_s).max(1e-9),
        );
    }
}

/// `want` records per request, fewer when they would pass
/// [`MAX_REQUEST_RECORD_BYTES`].
fn records_per_request(records: &[Vec<u8>], want: usize) -> usize {
    let mean = records.iter().map(Vec::len).sum::<usize>() / records.len().max(1);
    want.min(MAX_REQUEST_RECORD_BYTES / mean.max(1)).max(1)
}

/// `bytes`, gzip-compressed (default level).
fn gzip_bytes(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

/// The load sets, built from the fixtures.
pub(crate) fn load_sets() -> anyhow::Result<Vec<LoadSet>> {
    let fixtures = workspace().join("tests/fixtures/plugins");
    let mut sets = one_per_record_sets(&fixtures)?;
    sets.push(LoadSet {
        name: "cloudtrail-cwl",
        source: "cloudwatch-logs",
        plugin_config: None,
        unit: "events",
        per_request: Some(100),
        records: cwl_payloads(&fixtures.join("cloudwatch-logs"))?,
    });
    sets.push(LoadSet {
        name: "securityhub",
        source: "securityhub",
        plugin_config: None,
        unit: "findings",
        per_request: Some(50),
        records: securityhub_events(&fixtures.join("securityhub"))?,
    });
    for set in &sets {
        if set.records.is_empty() {
            bail!("no records for load set {}", set.name);
        }
    }
    Ok(sets)
}

/// The sources that send one log per record: WAF, VPC flow logs (v2 and
/// v5), Route 53 Resolver, each [`VARIANTS`] distinct records.
fn one_per_record_sets(fixtures: &Path) -> anyhow::Result<Vec<LoadSet>> {
    let json_logs = |source: &str, key: &str| -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(fixture_records(&fixtures.join(source))?
            .into_iter()
            .filter(|r| {
                r.first() == Some(&b'{') && contains(r, key) && !contains(r, "\"logEvents\"")
            })
            .collect())
    };
    let v5 = fixtures.join("vpc-flow/awsdocs_v5-traffic-path");
    let format: Value = serde_json::from_slice(&std::fs::read(v5.with_extension("config.json"))?)?;
    let format = format["format"]
        .as_str()
        .context("the v5 fixture's format")?;
    let set = |name, source, unit, records| LoadSet {
        name,
        source,
        plugin_config: None,
        unit,
        per_request: None,
        records,
    };
    let waf = vary_json(&json_logs("waf", "\"httpRequest\"")?, |v, n| {
        v["timestamp"] = json!(1_700_000_000_000i64 + 7 * n as i64);
        v["httpRequest"]["requestId"] = json!(format!("{n:08x}-req"));
        v["httpRequest"]["clientIp"] = json!(format!("198.51.{}.{}", n / 250 % 250, n % 250 + 1));
    })?;
    let v2 = lines(&fixtures.join("vpc-flow/awsdocs_v2-default-format.lines.in"))?;
    let route53 = vary_json(&json_logs("route53-resolver", "\"query_name\"")?, |v, n| {
        v["srcport"] = json!((1024 + n % 60_000).to_string());
        v["query_name"] = json!(format!("h{n}.example.com."));
    })?;
    Ok(vec![
        set("waf", "waf", "logs", waf),
        set(
            "vpc-flow-v2",
            "vpc-flow",
            "lines",
            vary_lines(&v2, [5, 9, 10, 11]),
        ),
        LoadSet {
            plugin_config: Some(format!("format = {format:?}")),
            ..set(
                "vpc-flow-v5",
                "vpc-flow",
                "lines",
                vary_lines(&lines(&v5.with_extension("lines.in"))?, [3, 10, 6, 7]),
            )
        },
        set("route53-resolver", "route53-resolver", "queries", route53),
    ])
}

/// [`VARIANTS`] records made of `records` in turn, each changed by `f`
/// with its number.
fn vary_json(records: &[Vec<u8>], f: impl Fn(&mut Value, usize)) -> anyhow::Result<Vec<Vec<u8>>> {
    (0..VARIANTS)
        .map(|n| {
            let mut v: Value = serde_json::from_slice(&records[n % records.len()])?;
            f(&mut v, n);
            Ok(v.to_string().into_bytes())
        })
        .collect()
}

/// [`VARIANTS`] lines made of `lines` in turn, with the fields at
/// `[srcport, bytes, start, end]` (space-separated, numbered from 0)
/// changed by the variant's number.
fn vary_lines(lines: &[Vec<u8>], [port, bytes, start, end]: [usize; 4]) -> Vec<Vec<u8>> {
    (0..VARIANTS)
        .map(|n| {
            let line = String::from_utf8_lossy(&lines[n % lines.len()]).into_owned();
            let mut fields: Vec<String> = line.split(' ').map(str::to_string).collect();
            let mut set = |i: usize, f: &dyn Fn(u64) -> u64| {
                if let Some(v) = fields
                    .get_mut(i)
                    .and_then(|x| Some((x.parse::<u64>().ok()?, x)))
                {
                    *v.1 = f(v.0).to_string();
                }
            };
            set(port, &|_| 1024 + n as u64 % 60_000);
            set(bytes, &|b| b + 13 * n as u64);
            set(start, &|t| t + n as u64);
            set(end, &|t| t + n as u64);
            fields.join(" ").into_bytes()
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The non-blank lines of a fixture.
fn lines(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(weir_load::non_blank_lines(&bytes).collect())
}

/// The JSON values of the fixtures in `dir` whose names start with `prefix`
/// (files that are not JSON are skipped: some fixtures are invalid on purpose).
fn json_fixtures(dir: &Path, prefix: &str) -> anyhow::Result<Vec<Value>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".in"))
        })
        .collect();
    files.sort();
    Ok(files
        .iter()
        .filter_map(|f| serde_json::from_slice(&std::fs::read(f).ok()?).ok())
        .collect())
}

/// CloudWatch Logs subscription payloads (gzip, as CloudWatch Logs sends
/// them) of [`CWL_EVENTS`] CloudTrail events each, the events taken in turn
/// from the CloudTrail fixtures, each with its own `eventID`.
fn cwl_payloads(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let events: Vec<Value> = json_fixtures(dir, "awsdocs_records_")?
        .into_iter()
        .filter_map(|v| v.get("Records")?.as_array().cloned())
        .flatten()
        .filter(|e| e.get("eventTime").is_some())
        .collect();
    if events.is_empty() {
        bail!("no CloudTrail events in {}", dir.display());
    }
    let mut out = Vec::new();
    for p in 0..BUILT_RECORDS {
        let log_events: Vec<Value> = (0..CWL_EVENTS)
            .map(|i| {
                let n = p * CWL_EVENTS + i;
                let mut event = events[n % events.len()].clone();
                event["eventID"] = json!(format!("{n:08x}-0000-4000-8000-000000000000"));
                json!({
                    "id": format!("{:056}", n),
                    "timestamp": 1_700_000_000_000i64 + n as i64,
                    "message": event.to_string(),
                })
            })
            .collect();
        let payload = json!({
            "messageType": "DATA_MESSAGE",
            "owner": "111111111111",
            "logGroup": "aws-cloudtrail-logs-111111111111",
            "logStream": "111111111111_CloudTrail_us-east-1",
            "subscriptionFilters": ["weir"],
            "logEvents": log_events,
        });
        out.push(gzip_bytes(payload.to_string().as_bytes())?);
    }
    Ok(out)
}

/// Security Hub EventBridge events ("Findings - Imported") of [`FINDINGS`]
/// findings each, the findings taken in turn from the fixtures (those in
/// events and the bare ASFF ones), each with its own `Id`.
fn securityhub_events(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut findings = Vec::new();
    for v in json_fixtures(dir, "")? {
        match v.pointer("/detail/findings").and_then(Value::as_array) {
            Some(f) => findings.extend(f.iter().cloned()),
            None if v.get("SchemaVersion").is_some() => findings.push(v),
            None => {}
        }
    }
    if findings.is_empty() {
        bail!("no Security Hub findings in {}", dir.display());
    }
    let mut out = Vec::new();
    for e in 0..BUILT_RECORDS {
        let batch: Vec<Value> = (0..FINDINGS)
            .map(|i| {
                let n = e * FINDINGS + i;
                let mut f = findings[n % findings.len()].clone();
                let id = f["Id"].as_str().unwrap_or("finding").to_string();
                f["Id"] = json!(format!("{id}/{n}"));
                f
            })
            .collect();
        let event = json!({
            "version": "0",
            "id": format!("{e:08x}-0000-4000-8000-000000000000"),
            "detail-type": "Security Hub Findings - Imported",
            "source": "aws.securityhub",
            "account": "111111111111",
            "time": "2026-12-03T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": { "findings": batch },
        });
        out.push(event.to_string().into_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_has_records_shaped_as_its_source_sends_them() {
        let sets = load_sets().expect("load sets");
        let names: Vec<_> = sets.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "waf",
                "vpc-flow-v2",
                "vpc-flow-v5",
                "route53-resolver",
                "cloudtrail-cwl",
                "securityhub"
            ]
        );
        for set in &sets {
            assert!(!set.records.is_empty(), "{}", set.name);
        }
        let cwl = &sets[4].records[0];
        assert_eq!(
            &cwl[..2],
            &[0x1f, 0x8b],
            "CloudWatch Logs payloads are gzip"
        );
        let mut text = String::new();
        // our own payload, of a known size: no cap needed
        #[allow(clippy::disallowed_types)]
        let mut gunzip = flate2::read::GzDecoder::new(&cwl[..]);
        std::io::Read::read_to_string(&mut gunzip, &mut text).expect("gunzip");
        let payload: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            payload["logEvents"].as_array().map(Vec::len),
            Some(CWL_EVENTS)
        );
        let event: Value =
            serde_json::from_str(payload["logEvents"][1]["message"].as_str().unwrap())
                .expect("an event");
        assert!(event.get("eventTime").is_some());
        let hub: Value = serde_json::from_slice(&sets[5].records[0]).expect("json");
        assert_eq!(
            hub["detail"]["findings"].as_array().map(Vec::len),
            Some(FINDINGS)
        );
        assert!(
            sets[2]
                .plugin_config
                .as_deref()
                .unwrap()
                .starts_with("format = \"${version}")
        );
    }

    #[test]
    fn requests_stay_under_the_byte_cap() {
        assert_eq!(records_per_request(&[vec![0; 1000]], 500), 500);
        assert_eq!(records_per_request(&[vec![0; 100_000]], 500), 41);
        assert_eq!(records_per_request(&[vec![0; 10_000_000]], 500), 1);
    }
}
