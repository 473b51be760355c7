//! A plugin author's path: `weir plugin new` writes a Rust project from
//! the templates embedded in `weir`, it builds offline for
//! `wasm32-wasip2`, and `weir plugin test` passes it; the same harness
//! fails the hostile plugin, naming the case, the record and the reason;
//! `--update` rewrites a golden file.

use std::path::{Path, PathBuf};
use std::process::Command;

use weir::conformance::{self, Options, Report, report};

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Variables of the outer `cargo test` that must not reach the nested build.
const SCRUBBED_ENV: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_MAKEFLAGS",
    "RUSTUP_TOOLCHAIN",
];

/// `weir plugin new x --lang rust` into a fixed directory (so the build
/// below reuses its target directory from run to run), built for wasm.
fn new_rust_plugin() -> (PathBuf, PathBuf) {
    static BUILT: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let base = repo().join("target").join("plugin-new-test");
            let dir = base.join("x");
            let _ = std::fs::remove_dir_all(&dir);
            let files = weir::scaffold::new_project("x", "rust", &dir).unwrap();
            assert!(files.iter().any(|f| f == Path::new("wit/plugin.wit")));
            let target = base.join("target");
            let mut cmd = Command::new("cargo");
            cmd.args([
                "build",
                "--offline",
                "--release",
                "--target",
                "wasm32-wasip2",
            ])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(&dir);
            for var in SCRUBBED_ENV {
                cmd.env_remove(var);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "the generated project does not build: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let wasm = target.join("wasm32-wasip2/release/x.wasm");
            assert!(wasm.is_file(), "{}", wasm.display());
            (dir, wasm)
        })
        .clone()
}

fn test(plugin: &Path, cases: Option<PathBuf>, config: &str, update: bool) -> Report {
    conformance::run(&Options {
        plugin: plugin.display().to_string(),
        cases,
        plugin_config: config.into(),
        update,
    })
}

fn text(r: &Report) -> String {
    report::render(r, report::Format::Text)
}

#[test]
fn the_rust_template_builds_and_passes_its_own_tests() {
    let (dir, wasm) = new_rust_plugin();
    let r = test(&wasm, Some(dir.join("cases")), "{}", false);
    assert!(r.passed(), "{}", text(&r));
    let info = r.info.as_ref().unwrap();
    assert_eq!(info.name, "x");
    assert_eq!(info.default_index.as_deref(), Some("x-%Y.%m.%d"));
    assert_eq!(info.date_fields, ["@timestamp"]);
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "load",
        "config",
        "metadata",
        "golden/sample",
        "determinism/sample",
        "hostile/empty",
        "hostile/binary",
        "hostile/invalid-utf8",
        "hostile/huge",
        "hostile/gzip-bomb",
        "hostile/deep-nesting",
        "hostile/many-records",
        "determinism/gzip-bomb",
    ] {
        assert!(names.contains(&want), "{want} not run: {names:?}");
    }
    // Every batch reports its cost, within the limits.
    for c in r.checks.iter().filter(|c| c.name.starts_with("hostile/")) {
        let cost = c.cost.unwrap();
        assert!(
            cost.memory_bytes > 0 && cost.memory_bytes < r.limits.memory_bytes,
            "{c:?}"
        );
        assert!(cost.time < r.limits.timeout, "{c:?}");
    }
    // The plugin's config is checked strictly, by the plugin.
    let r = test(&wasm, Some(dir.join("cases")), r#"{"tga":"x"}"#, false);
    assert!(!r.passed());
    assert!(text(&r).contains("FAIL config"), "{}", text(&r));
    // Machine-readable forms of the same report.
    let r = test(&wasm, Some(dir.join("cases")), "{}", false);
    let junit = report::render(&r, report::Format::Junit);
    assert!(junit.contains("failures=\"0\""), "{junit}");
    let last = report::render(&r, report::Format::Json);
    let summary: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(summary["passed"], true);
}

#[test]
fn update_rewrites_a_golden_file_that_no_longer_matches() {
    let (dir, wasm) = new_rust_plugin();
    let cases = weir_tests::temp_dir("golden-update");
    std::fs::copy(dir.join("cases/sample.in"), cases.join("sample.in")).unwrap();
    let good = std::fs::read_to_string(dir.join("cases/sample.out.ndjson")).unwrap();
    // The second record's expected user changed: the case fails at record 1.
    let stale = good.replacen("\"bob\"", "\"mallory\"", 1);
    assert_ne!(stale, good);
    std::fs::write(cases.join("sample.out.ndjson"), &stale).unwrap();
    let r = test(&wasm, Some(cases.clone()), "{}", false);
    assert!(!r.passed());
    let t = text(&r);
    assert!(t.contains("golden/sample: record 1: expected {"), "{t}");
    assert!(t.contains("mallory") && t.contains("bob"), "{t}");
    // --update rewrites it from the plugin's outcomes, and it passes again.
    let r = test(&wasm, Some(cases.clone()), "{}", true);
    assert!(r.passed(), "{}", text(&r));
    assert_eq!(
        std::fs::read_to_string(cases.join("sample.out.ndjson")).unwrap(),
        good
    );
    assert!(test(&wasm, Some(cases.clone()), "{}", false).passed());
    // A case without expected outcomes fails until --update writes them.
    std::fs::write(cases.join("new.in"), "{\"time\":0}\n").unwrap();
    let r = test(&wasm, Some(cases.clone()), "{}", false);
    assert!(text(&r).contains("no expected outcomes"), "{}", text(&r));
    assert!(test(&wasm, Some(cases.clone()), "{}", true).passed());
    assert!(cases.join("new.out.ndjson").is_file());
}

/// The hostile plugin, misbehaving as `mode` asks, on the template's cases.
fn hostile(mode: &str) -> Report {
    let (dir, _) = new_rust_plugin();
    test(
        Path::new(weir_tests::HOSTILE_PLUGIN),
        Some(dir.join("cases")),
        &format!(r#"{{"mode":"{mode}"}}"#),
        false,
    )
}

#[test]
fn the_harness_names_the_case_record_and_reason_of_a_hostile_plugin() {
    // A body that is not JSON: every record of every batch, by the host's own check.
    let r = hostile("bad-body");
    let t = text(&r);
    assert!(!r.passed());
    assert!(
        t.contains(
            "hostile/empty: record 0: document 0: contract violation: body is not a JSON object"
        ),
        "{t}"
    );
    // Fewer outcomes than records: the batch, with the count.
    let t = text(&hostile("short"));
    assert!(
        t.contains("golden/sample: the batch failed as a whole (every record would be dead-lettered): plugin")
            && t.contains("returned 4 outcomes for 5 records"),
        "{t}"
    );
    // A trap, named as such, on every case; the host carries on.
    let r = hostile("trap");
    let t = text(&r);
    assert!(t.contains("FAIL hostile/gzip-bomb"), "{t}");
    assert!(t.contains("trapped"), "{t}");
    assert!(r.failed() >= 10, "{t}");
    // An index the host refuses, per record.
    let (dir, _) = new_rust_plugin();
    let r = test(
        Path::new(weir_tests::HOSTILE_PLUGIN),
        Some(dir.join("cases")),
        r#"{"mode":"other-index","index":"Bad/Index"}"#,
        false,
    );
    let t = text(&r);
    assert!(
        t.contains("record 0: document 0: plugin asked for a bad index"),
        "{t}"
    );
    // The well-behaved mode passes every generated input (no golden cases).
    let r = test(
        Path::new(weir_tests::HOSTILE_PLUGIN),
        None,
        r#"{"mode":"echo"}"#,
        false,
    );
    assert!(r.passed(), "{}", text(&r));
}

#[test]
fn plugins_of_every_released_wit_pass_the_harness() {
    let r = test(
        Path::new(env!("WEIR_TEST_PLUGIN_OLD_VERSION")),
        None,
        "{}",
        false,
    );
    assert!(r.passed(), "{}", text(&r));
    let metadata = r.checks.iter().find(|c| c.name == "metadata").unwrap();
    assert!(metadata.note.as_deref().unwrap().contains("0.1.0"));
    // 0.1.1: metadata, but no schema export and no enrich import.
    let r = test(
        Path::new(env!("WEIR_TEST_PLUGIN_WIT_0_1_1")),
        None,
        "{}",
        false,
    );
    assert!(r.passed(), "{}", text(&r));
    let info = r.info.unwrap();
    assert_eq!(info.name, "wit-0-1-1");
    assert_eq!(info.default_index.as_deref(), Some("echo-%Y.%m.%d"));
    assert_eq!(info.index_properties, None);
}

#[test]
fn refused_components_fail_the_load_check() {
    for (what, path, error) in weir_tests::REFUSED_PLUGINS {
        let r = test(Path::new(path), None, "{}", false);
        assert!(!r.passed(), "{what}");
        let t = text(&r);
        assert!(t.contains("FAIL load") && t.contains(error), "{what}: {t}");
    }
}
