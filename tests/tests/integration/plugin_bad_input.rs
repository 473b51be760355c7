//! Bad input for every built-in plugin, through the real sandbox: each bad
//! record fails alone with a reason, the good record of the same batch is
//! fine, and a gzip bomb stops at the plugin's decompression cap (not at
//! its memory cap, which would fail the whole batch).

use std::io::Write;

use weir::config::PluginLimits;
use weir::plugin::{BatchContext, Outcome, Runtime};
use weir_tests::fixtures;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A good record of each plugin: `fixtures/plugins/<name>/good.record`.
/// Every built-in plugin must have one (a new plugin without it fails here).
fn good(plugin: &str) -> Vec<u8> {
    let path = fixtures().join("plugins").join(plugin).join("good.record");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "built-in plugin {plugin} has no bad-input case: {} ({e})",
            path.display()
        )
    })
}

#[test]
fn every_plugin_fails_bad_records_alone() {
    // 64 MiB plugin memory would be blown by a naive decoder: the bomb
    // inflates to 512 MiB of zeros.
    let bomb = gzip(&vec![0u8; 512 << 20]);
    assert!(bomb.len() < 1 << 20);
    let runtime = Runtime::new(PluginLimits {
        memory_bytes: 256 << 20,
        ..PluginLimits::default()
    })
    .unwrap();
    for plugin in weir::builtin::names() {
        let p = runtime
            .load(plugin, weir::builtin::bytes(plugin).unwrap())
            .unwrap();
        check_bad_records(plugin, &p, &bomb);
    }
}

/// The Python twin of the WAF plugin fails the same bad records alone.
#[test]
fn the_python_waf_plugin_fails_bad_records_alone() {
    let bomb = gzip(&vec![0u8; 512 << 20]);
    let runtime = Runtime::new(PluginLimits {
        memory_bytes: 256 << 20,
        cache_dir: weir::config::default_plugin_cache_dir(),
        ..PluginLimits::default()
    })
    .unwrap();
    let path = weir_tests::python_waf_plugin();
    let p = runtime
        .load_checked("python-waf", &std::fs::read(&path).unwrap(), None)
        .unwrap();
    check_bad_records("waf", &p, &bomb);
}

/// Each bad record fails alone; the good ones around it are fine.
fn check_bad_records(plugin: &str, p: &weir::plugin::Plugin, bomb: &[u8]) {
    {
        let good = good(plugin);
        let truncated_gzip = {
            let g = gzip(&good);
            g[..g.len() / 2].to_vec()
        };
        let records: Vec<(&str, Vec<u8>)> = vec![
            ("good", good.clone()),
            ("invalid JSON", b"{\"a\": [1, 2".to_vec()),
            ("truncated gzip", truncated_gzip),
            ("gzip bomb", bomb.to_vec()),
            (
                "wrong types",
                br#"{"timestamp":"soon","message":42,"detail":7,"query_timestamp":5,"Records":3}"#
                    .to_vec(),
            ),
            ("a JSON array", b"[1,2,3]".to_vec()),
            ("empty", Vec::new()),
            ("binary", vec![0xff, 0xfe, 0x00, 0x01]),
            ("good again", good),
        ];
        let data: Vec<Vec<u8>> = records.iter().map(|(_, r)| r.clone()).collect();
        let ctx = BatchContext {
            config: "{}".into(),
            ..BatchContext::default()
        };
        let (outcomes, _) = p
            .transform(&ctx, &data)
            .unwrap_or_else(|e| panic!("{plugin}: the batch itself failed: {e}"));
        for ((what, _), o) in records.iter().zip(&outcomes) {
            match (*what, o) {
                ("good" | "good again", Outcome::Ok(d)) => {
                    assert!(!d.is_empty(), "{plugin}: {what}")
                }
                ("good" | "good again", other) => panic!("{plugin}: {what}: {other:?}"),
                (_, Outcome::Failed(reason)) => {
                    assert!(!reason.is_empty(), "{plugin}: {what}");
                    if *what == "gzip bomb" {
                        assert!(
                            reason.contains("cap"),
                            "{plugin}: bomb reason {reason:?} should name the cap"
                        );
                    }
                }
                (_, other) => panic!("{plugin}: {what} should fail, got {other:?}"),
            }
        }
    }
}
