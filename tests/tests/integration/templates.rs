//! The Python and JavaScript plugin templates (`plugins/templates/<lang>`,
//! what `weir plugin new --lang python|js` writes) with their SDKs
//! (`sdk/python`, `sdk/js`): each is written by `weir plugin new`, built by its own
//! `build.sh` (componentize-py, ComponentizeJS; a missing toolchain fails the
//! test, it is never skipped), and run through the host: the plugin runtime
//! that `weir plugin run` uses, on the template's own golden cases and on
//! hostile records, and a Firehose request through the whole pipeline.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use weir::config::{Config, PluginLimits};
use weir::pipeline::Pipeline;
use weir::plugin::{BatchContext, Outcome, Plugin, Runtime, outcome_json};
use weir_load::config_toml::{directory_sink, route, tenant};
use weir_tests::{
    KEY, bulk_entries, dead_letters, fixture_records, post_records, repo_root, temp_dir,
    template_plugin,
};

/// The template's component, loaded with the host's load checks (world,
/// version, imports), compiled plugins cached as `weir serve` caches them.
fn load(lang: &str) -> (std::path::PathBuf, Plugin) {
    let (dir, wasm) = template_plugin(lang);
    let runtime = Runtime::new(PluginLimits {
        cache_dir: weir::config::default_plugin_cache_dir(),
        ..PluginLimits::default()
    })
    .unwrap();
    let bytes = std::fs::read(&wasm).unwrap();
    let p = runtime
        .load_checked(&wasm.display().to_string(), &bytes, None)
        .unwrap_or_else(|e| panic!("the {lang} template must pass the load checks: {e}"));
    (dir, p)
}

fn ctx(config: &str) -> BatchContext {
    BatchContext {
        tenant: "t".into(),
        route: "template".into(),
        request_id: "template-test".into(),
        config: config.into(),
        ..BatchContext::default()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Every `cases/<case>.in` of the project gives its `<case>.out.ndjson`
/// (the `weir plugin run` format), through the sandbox.
fn golden_cases(lang: &str, dir: &Path, p: &Plugin) {
    let mut cases: Vec<_> = std::fs::read_dir(dir.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "in"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "the {lang} template has no cases");
    for case in cases {
        // `<case>.in` is one record per line (a `.lines.in` for the fixture reader).
        let text = std::fs::read(&case).unwrap();
        let lines = temp_dir("template-case").join("case.lines.in");
        std::fs::write(&lines, text).unwrap();
        let records = fixture_records(&lines);
        let (outcomes, _) = p.transform(&ctx("{}"), &records).unwrap();
        let got: Vec<serde_json::Value> = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| outcome_json(i, o))
            .collect();
        let want: Vec<serde_json::Value> =
            std::fs::read_to_string(case.with_extension("out.ndjson"))
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        assert_eq!(got, want, "{lang}: {}", case.display());
    }
}

/// What every template must do in the host: describe itself, refuse an
/// unknown config key, pass its golden cases, and fail hostile records
/// alone (a gzip bomb stops at the SDK's 64 MiB cap, deep nesting and
/// binary give reasons), with the index option honoured.
fn template_runs_in_the_host(lang: &str) {
    let (dir, p) = load(lang);
    let name = format!("template-{lang}");
    let info = p.info();
    assert_eq!(info.name, name);
    assert_eq!(info.version, "0.1.0");
    assert_eq!(info.date_fields, ["@timestamp", "timestamp"]);
    assert_eq!(
        info.default_index.as_deref(),
        Some(format!("{name}-%Y.%m.%d").as_str())
    );
    let schema: serde_json::Value =
        serde_json::from_str(info.config_schema.as_deref().unwrap()).unwrap();
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    assert!(schema["properties"]["index"].is_object(), "{schema}");

    assert_eq!(p.validate_config("{}").unwrap(), Ok(()));
    let refused = p.validate_config(r#"{"indx":"a"}"#).unwrap().unwrap_err();
    assert!(refused.contains("unknown option `indx`"), "{refused}");
    let refused = p
        .validate_config(r#"{"index":"UPPER"}"#)
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("`index`"), "{refused}");

    golden_cases(lang, &dir, &p);

    let waf = br#"{"timestamp":1576280412771,"action":"BLOCK","httpRequest":{"requestId":"r-9"}}"#;
    let bomb = gzip(&vec![0u8; 65 << 20]);
    assert!(bomb.len() < 200_000);
    let records = vec![
        gzip(waf),
        bomb,
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        b"\xff\xfe\x00binary".to_vec(),
        Vec::new(),
        waf.to_vec(),
    ];
    let (o, _) = p.transform(&ctx(r#"{"index":"waf-x"}"#), &records).unwrap();
    assert_eq!(o.len(), records.len());
    let Outcome::Ok(docs) = &o[0] else {
        panic!("{lang}: a gzip record: {:?}", o[0])
    };
    assert_eq!(docs[0].index.as_deref(), Some("waf-x"));
    assert_eq!(docs[0].id.as_deref(), Some("r-9"));
    assert_eq!(docs[0].timestamp_ms, Some(1_576_280_412_771));
    assert!(
        docs[0].body.starts_with(
            r#"{"@timestamp":"2019-12-13T23:40:12.771Z","timestamp":"2019-12-13T23:40:12.771Z""#
        ),
        "{}",
        docs[0].body
    );
    let reason = |i: usize| match &o[i] {
        Outcome::Failed(r) => r.clone(),
        other => panic!("{lang}: record {i} must fail alone: {other:?}"),
    };
    assert!(
        reason(1).contains("more than the cap of 67108864 bytes"),
        "{}",
        reason(1)
    );
    assert!(reason(2).contains("deeper than 128"), "{}", reason(2));
    assert!(reason(3).contains("not UTF-8"), "{}", reason(3));
    assert!(reason(4).contains("invalid JSON"), "{}", reason(4));
    assert!(matches!(&o[5], Outcome::Ok(d) if d.len() == 1));

    // Deterministic: the same batch twice gives the same outcomes.
    let again = p
        .transform(&ctx(r#"{"index":"waf-x"}"#), &records)
        .unwrap()
        .0;
    assert_eq!(again, o);
}

/// `weir plugin test` (the conformance harness: load, config, metadata,
/// the project's golden cases, the harness's hostile inputs, determinism)
/// passes the template as `weir plugin new` writes it.
fn template_passes_the_harness(lang: &str) {
    let (dir, wasm) = template_plugin(lang);
    let r = weir::conformance::run(&weir::conformance::Options {
        plugin: wasm.display().to_string(),
        cases: Some(dir.join("cases")),
        plugin_config: "{}".into(),
        update: false,
    });
    let text = weir::conformance::report::render(&r, weir::conformance::report::Format::Text);
    assert!(r.passed(), "{lang}: {text}");
    assert!(text.contains("golden/sample"), "{lang}: {text}");
    assert!(text.contains("hostile/gzip-bomb"), "{lang}: {text}");
}

#[test]
fn the_python_template_passes_weir_plugin_test() {
    template_passes_the_harness("python");
}

#[test]
fn the_js_template_passes_weir_plugin_test() {
    template_passes_the_harness("js");
}

#[test]
fn the_python_template_builds_and_runs_in_the_host() {
    template_runs_in_the_host("python");
}

#[test]
fn the_js_template_builds_and_runs_in_the_host() {
    template_runs_in_the_host("js");
}

/// A Firehose request to a route running the template's component: the
/// good records are stored with ISO `@timestamp` and the plugin's ids, the
/// bad one is dead-lettered with the plugin's reason, and the request is
/// acknowledged.
async fn firehose_through(lang: &str) {
    let (_, wasm) = template_plugin(lang);
    let out = temp_dir(&format!("template-{lang}-e2e"));
    let cache = weir::config::default_plugin_cache_dir()
        .map(|d| format!("cache_dir = {:?}\n", d.display().to_string()))
        .unwrap_or_default();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nplain_http = true\n\n[plugins]\n{cache}{}{}{}",
        directory_sink("local", &out),
        tenant("demo", &[KEY]),
        route(
            "/firehose/tmpl",
            "demo",
            &wasm.display().to_string(),
            "tmpl",
            "local"
        ),
    );
    let config = Config::parse(&text).unwrap();
    let p = Arc::new(Pipeline::build(&config).unwrap());
    let records = vec![
        br#"{"timestamp":1576280412771,"action":"BLOCK","httpRequest":{"requestId":"rid-1"}}"#
            .to_vec(),
        br#"{"action":"ALLOW"}"#.to_vec(),
        gzip(br#"{"timestamp":1576280412772,"action":"ALLOW"}"#),
    ];
    let (status, body) = post_records(&p, "/firehose/tmpl", "tmpl-req-1", &records).await;
    assert_eq!(status, 200, "{lang}: {body}");
    // A route's index is under its tenant's prefix.
    let stored = bulk_entries(&out, "demo-tmpl");
    assert_eq!(stored.len(), 2, "{lang}: {stored:?}");
    assert_eq!(stored[0].0["index"]["_id"], "rid-1", "{:?}", stored[0].0);
    assert_eq!(stored[0].1["@timestamp"], "2019-12-13T23:40:12.771Z");
    assert_eq!(stored[1].1["timestamp"], "2019-12-13T23:40:12.772Z");
    let dead = dead_letters(&out, "demo", "tmpl");
    assert_eq!(dead.len(), 1, "{lang}: {dead:?}");
    assert_eq!(dead[0]["record_index"], 1, "{lang}: {}", dead[0]);
    assert!(
        dead[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("missing `timestamp`")),
        "{lang}: {}",
        dead[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firehose_request_through_the_python_template() {
    firehose_through("python").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firehose_request_through_the_js_template() {
    firehose_through("js").await;
}

/// The templates follow the layout contract: no WIT of their own (the host
/// writes its copy), placeholders used, and every `VENDOR` entry exists (the
/// SDK the template imports).
#[test]
fn templates_vendor_their_sdk_and_ship_no_wit() {
    let root = repo_root();
    for (lang, sdk) in [
        ("python", "sdk/python/src/weir_plugin_sdk"),
        ("js", "sdk/js/src"),
    ] {
        let t = root.join("plugins/templates").join(lang);
        assert!(!t.join("wit").exists(), "{lang}: the host writes wit/");
        let vendor = std::fs::read_to_string(t.join("VENDOR")).unwrap();
        assert!(
            vendor.lines().any(|l| l.starts_with(&format!("{sdk} "))),
            "{vendor}"
        );
        for line in vendor
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let from = line.split_whitespace().next().unwrap();
            assert!(root.join(from).exists(), "{lang}: VENDOR names {from}");
        }
        let build = std::fs::read_to_string(t.join("build.sh")).unwrap();
        assert!(build.contains("__NAME_SNAKE__.wasm") && build.contains("/wit"));
        let readme = std::fs::read_to_string(t.join("README.md")).unwrap();
        let commands = readme
            .split("```sh")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        assert!(commands <= 5, "{lang}: {commands} commands in the README");
    }
}
