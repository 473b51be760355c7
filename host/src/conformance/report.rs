//! A [`Report`] as text (for people), JSON lines or JUnit XML (for CI).
//! Each starts with the plugin and its self-description, then one entry
//! per check naming the case, the record and the reason of every failure,
//! with the batch's time and memory against the route limits.

use std::fmt::Write as _;

use serde_json::json;

use super::{Check, Cost, Failure, Report};
use crate::plugin::BatchLimits;

/// Failures listed per check (the rest are counted).
pub const MAX_LISTED_FAILURES: usize = 20;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON object per line: `plugin`, then `check`s, then `summary`.
    Json,
    /// A JUnit XML test suite (one test case per check).
    Junit,
}

/// Render `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => json_lines(report),
        Format::Junit => junit(report),
    }
}

/// `record 3: reason` or `reason`.
fn failure_line(f: &Failure) -> String {
    match f.record {
        Some(r) => format!("record {r}: {}", f.reason),
        None => f.reason.clone(),
    }
}

/// `1.2 ms of 10000 ms, 1.1 MiB of 256 MiB`.
fn cost_text(cost: &Cost, limits: &BatchLimits) -> String {
    format!(
        "{:.1} ms of {} ms, {:.1} MiB of {} MiB",
        cost.time.as_secs_f64() * 1000.0,
        limits.timeout.as_millis(),
        cost.memory_bytes as f64 / (1024.0 * 1024.0),
        limits.memory_bytes / (1024 * 1024)
    )
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "plugin   {}", report.plugin);
    if let Some(digest) = &report.digest {
        let _ = writeln!(out, "sha256   {digest}");
    }
    if let Some(info) = &report.info {
        let _ = writeln!(
            out,
            "info     name {:?}, version {:?}, date fields {:?}, default index {}, config schema {}",
            info.name,
            info.version,
            info.date_fields,
            info.default_index.as_deref().unwrap_or("(none)"),
            info.config_schema.as_deref().unwrap_or("(none)")
        );
    }
    for check in &report.checks {
        let status = if check.passed() { "ok  " } else { "FAIL" };
        let mut line = format!("{status} {}", check.name);
        if check.records > 0 || check.cost.is_some() {
            let plural = if check.records == 1 { "" } else { "s" };
            let _ = write!(line, " ({} record{plural}", check.records);
            if let Some(cost) = &check.cost {
                let _ = write!(line, "; {}", cost_text(cost, &report.limits));
            }
            line.push(')');
        }
        if let Some(note) = &check.note {
            let _ = write!(line, " [{note}]");
        }
        let _ = writeln!(out, "{line}");
        for f in check.failures.iter().take(MAX_LISTED_FAILURES) {
            let _ = writeln!(out, "     {}: {}", check.name, failure_line(f));
        }
        if check.failures.len() > MAX_LISTED_FAILURES {
            let _ = writeln!(
                out,
                "     … and {} more failures",
                check.failures.len() - MAX_LISTED_FAILURES
            );
        }
    }
    let _ = writeln!(
        out,
        "{}: {} checks, {} failed",
        if report.passed() { "passed" } else { "FAILED" },
        report.checks.len(),
        report.failed()
    );
    out
}

fn json_lines(report: &Report) -> String {
    let mut out = String::new();
    let info = report.info.as_ref().map(|i| {
        json!({
            "name": i.name,
            "version": i.version,
            "date_fields": i.date_fields,
            "default_index": i.default_index,
            "config_schema": i.config_schema,
        })
    });
    let head = json!({
        "type": "plugin",
        "plugin": report.plugin,
        "sha256": report.digest,
        "info": info,
        "limits": {
            "timeout_ms": report.limits.timeout.as_millis() as u64,
            "memory_bytes": report.limits.memory_bytes,
            "max_output_bytes": report.limits.max_output_bytes,
        },
    });
    let _ = writeln!(out, "{head}");
    for check in &report.checks {
        let _ = writeln!(out, "{}", check_json(check));
    }
    let summary = json!({
        "type": "summary",
        "passed": report.passed(),
        "checks": report.checks.len(),
        "failed": report.failed(),
    });
    let _ = writeln!(out, "{summary}");
    out
}

fn check_json(check: &Check) -> serde_json::Value {
    json!({
        "type": "check",
        "name": check.name,
        "passed": check.passed(),
        "records": check.records,
        "time_ms": check.cost.map(|c| c.time.as_secs_f64() * 1000.0),
        "memory_bytes": check.cost.map(|c| c.memory_bytes),
        "note": check.note,
        "failures": check.failures.iter().map(|f| json!({
            "record": f.record,
            "reason": f.reason,
        })).collect::<Vec<_>>(),
    })
}

/// `text` with the five XML special characters escaped, and the control
/// characters XML 1.0 cannot hold replaced.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let time: f64 = report
        .checks
        .iter()
        .filter_map(|c| c.cost.map(|c| c.time.as_secs_f64()))
        .sum();
    let _ = writeln!(
        out,
        "<testsuites><testsuite name=\"weir plugin test {}\" tests=\"{}\" failures=\"{}\" time=\"{time:.3}\">",
        xml(&report.plugin),
        report.checks.len(),
        report.failed()
    );
    out.push_str("<properties>");
    let mut props = vec![("plugin", report.plugin.clone())];
    if let Some(d) = &report.digest {
        props.push(("sha256", d.clone()));
    }
    if let Some(i) = &report.info {
        props.push(("name", i.name.clone()));
        props.push(("version", i.version.clone()));
        props.push(("date_fields", i.date_fields.join(",")));
        props.push(("default_index", i.default_index.clone().unwrap_or_default()));
    }
    for (k, v) in props {
        let _ = write!(out, "<property name=\"{k}\" value=\"{}\"/>", xml(&v));
    }
    out.push_str("</properties>\n");
    for check in &report.checks {
        let (class, name) = check
            .name
            .split_once('/')
            .unwrap_or(("plugin", &check.name));
        let secs = check.cost.map_or(0.0, |c| c.time.as_secs_f64());
        let _ = write!(
            out,
            "<testcase classname=\"{}\" name=\"{}\" time=\"{secs:.3}\">",
            xml(class),
            xml(name)
        );
        if let Some(first) = check.failures.first() {
            let body: Vec<String> = check
                .failures
                .iter()
                .take(MAX_LISTED_FAILURES)
                .map(failure_line)
                .collect();
            let _ = write!(
                out,
                "<failure message=\"{}\">{}</failure>",
                xml(&failure_line(first)),
                xml(&body.join("\n"))
            );
        }
        if let Some(cost) = &check.cost {
            let _ = write!(
                out,
                "<system-out>records: {}; {}</system-out>",
                check.records,
                xml(&cost_text(cost, &report.limits))
            );
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite></testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PluginLimits;
    use std::time::Duration;

    fn report() -> Report {
        Report {
            plugin: "p.wasm".into(),
            digest: Some("ab".into()),
            info: None,
            limits: BatchLimits::from_plugin_limits(&PluginLimits::default()),
            checks: vec![
                Check {
                    name: "golden/sample".into(),
                    records: 2,
                    failures: vec![Failure::record(1, "expected <a>, got \"b\"")],
                    cost: Some(Cost {
                        time: Duration::from_millis(3),
                        memory_bytes: 2 << 20,
                    }),
                    note: None,
                },
                Check::new("load"),
            ],
        }
    }

    #[test]
    fn text_names_case_record_and_reason() {
        let t = render(&report(), Format::Text);
        assert!(
            t.contains("FAIL golden/sample (2 records; 3.0 ms of 10000 ms, 2.0 MiB of 256 MiB)"),
            "{t}"
        );
        assert!(
            t.contains("golden/sample: record 1: expected <a>, got \"b\""),
            "{t}"
        );
        assert!(t.contains("ok   load"), "{t}");
        assert!(t.ends_with("FAILED: 2 checks, 1 failed\n"), "{t}");
    }

    #[test]
    fn json_lines_parse() {
        let j = render(&report(), Format::Json);
        let lines: Vec<serde_json::Value> = j
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["type"], "plugin");
        assert_eq!(lines[0]["sha256"], "ab");
        assert_eq!(lines[1]["name"], "golden/sample");
        assert_eq!(lines[1]["failures"][0]["record"], 1);
        assert_eq!(lines[3]["type"], "summary");
        assert_eq!(lines[3]["passed"], false);
    }

    #[test]
    fn junit_is_escaped() {
        let x = render(&report(), Format::Junit);
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(
            x.contains("<testcase classname=\"golden\" name=\"sample\""),
            "{x}"
        );
        assert!(
            x.contains("message=\"record 1: expected &lt;a&gt;, got &quot;b&quot;\""),
            "{x}"
        );
        assert!(!x.contains("<a>"), "{x}");
        assert_eq!(xml("a\u{1}b"), "a\u{FFFD}b");
    }
}
