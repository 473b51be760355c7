//! Crash consistency of the directory sink (issue #14): what a `weir`
//! killed in the middle of an append leaves behind is repaired before the
//! next request is acknowledged.

use weir_tests::*;

fn waf_records(marker: &str) -> Vec<Vec<u8>> {
    ["ALLOW", "BLOCK", "COUNT"]
        .iter()
        .enumerate()
        .map(|(i, action)| {
            format!(
                r#"{{"timestamp":{},"formatVersion":1,"action":"{action}","terminatingRuleId":"{marker}"}}"#,
                1_576_280_412_771u64 + i as u64
            )
            .into_bytes()
        })
        .collect()
}

/// The index file of route `/firehose/waf` ends as a SIGKILL in the middle
/// of an append leaves it: a whole pair, then an action line and half its
/// document. The next request gets 200, every line of the file parses,
/// actions and documents alternate, the new records are all there, and the
/// repair is counted on `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_left_by_a_crash_is_cut_before_the_next_ack() {
    let (p, out) = pipeline("torn-tail");
    let file = out.join(weir::sink::directory::file_name("demo-waf"));
    let whole = concat!(
        r#"{"index":{"_index":"demo-waf","_id":"before-crash-0-0"}}"#,
        "\n",
        r#"{"action":"ALLOW","marker":"before"}"#,
        "\n",
    );
    let torn = concat!(
        r#"{"index":{"_index":"demo-waf","_id":"cut-0-0"}}"#,
        "\n",
        r#"{"action":"BLO"#
    );
    std::fs::write(&file, format!("{whole}{torn}")).unwrap();

    let (status, json) =
        post_records(&p, "/firehose/waf", "after-crash", &waf_records("m-after")).await;
    assert_eq!(status, 200, "{json}");

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with(whole),
        "the whole records before the tear stay:\n{text}"
    );
    assert!(!text.contains("cut-0-0"), "the torn pair is gone:\n{text}");
    for (n, line) in text.lines().enumerate() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("line {} does not parse ({e}): {line}", n + 1));
    }
    let entries = bulk_entries(&out, "demo-waf");
    assert_eq!(entries.len(), 4, "{text}");
    for (action, _) in &entries {
        assert!(
            action["index"]["_id"].is_string(),
            "an action line: {action}"
        );
    }
    let new: Vec<_> = entries[1..]
        .iter()
        .map(|(_, doc)| doc.to_string())
        .collect();
    for (i, want) in ["ALLOW", "BLOCK", "COUNT"].iter().enumerate() {
        assert!(
            new[i].contains(want) && new[i].contains("m-after"),
            "{}",
            new[i]
        );
    }
    let metrics = p.render_metrics();
    assert!(
        metrics.contains("weir_directory_torn_tails_repaired_total{sink=\"local\"} 1"),
        "{metrics}"
    );
}
