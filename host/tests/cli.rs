//! The `weir` binary's commands, run as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weir-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn validate_accepts_the_example_config() {
    let out = weir()
        .args(["validate", "--config"])
        .arg(repo().join("examples/weir.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok  /firehose/waf → builtin:waf"),
        "{stdout}"
    );
    assert!(stdout.contains("valid (5 routes)"), "{stdout}");
    for route in [
        "/firehose/cloudtrail",
        "/firehose/vpc-flow",
        "/firehose/securityhub",
        "/firehose/route53-resolver",
    ] {
        assert!(
            stdout.contains(&format!("ok  {route} → builtin:")),
            "{route}: {stdout}"
        );
    }
}

#[test]
fn validate_names_the_bad_keys() {
    let dir = temp("validate");
    let example = std::fs::read_to_string(repo().join("examples/weir.toml")).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        example
            .replace("builtin:waf", "builtin:nope")
            .replace("index = \"waf\"", "index = \"W A F\""),
    )
    .unwrap();
    let out = weir()
        .args(["validate", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("routes[0].plugin: unknown built-in plugin `nope`"),
        "{stderr}"
    );
    assert!(stderr.contains("routes[0].index:"), "{stderr}");

    // Valid TOML, valid keys, but the plugin refuses its config.
    let refused = dir.join("refused.toml");
    std::fs::write(
        &refused,
        format!("{example}\n[routes.plugin_config]\nsurprise = 1\n"),
    )
    .unwrap();
    let out = weir()
        .args(["validate", "--config"])
        .arg(&refused)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("routes[4].plugin_config: unknown option `surprise`"),
        "{stderr}"
    );
    assert!(stderr.contains("surprise"), "{stderr}");

    // A plugin file that is not a component.
    let not_wasm = dir.join("not.wasm");
    std::fs::write(&not_wasm, b"\0asm garbage").unwrap();
    let file_cfg = dir.join("file.toml");
    std::fs::write(
        &file_cfg,
        example.replace(
            "\"builtin:waf\"",
            &format!("{:?}", not_wasm.display().to_string()),
        ),
    )
    .unwrap();
    let out = weir()
        .args(["validate", "--config"])
        .arg(&file_cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("routes[0].plugin: plugin"), "{stderr}");
}

#[test]
fn demo_runs_and_reports() {
    let dir = temp("demo");
    let out = weir().args(["demo", "--out"]).arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("→ 200 OK"), "{stdout}");
    assert!(stdout.contains("→ 400 Bad Request"), "{stdout}");
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(
        line("index demo-waf ").starts_with("index demo-waf 6 documents"),
        "{stdout}"
    );
    assert!(
        line("dead letters waf ").starts_with("dead letters waf 1 records"),
        "{stdout}"
    );
    assert!(
        line("index demo-cwl-2015.08.24").starts_with("index demo-cwl-2015.08.24 2 documents"),
        "{stdout}"
    );
    assert!(
        line("index demo-aws-securityhub-findings-securityhub").contains(" 3 documents"),
        "{stdout}"
    );
    assert!(
        line("index demo-route53-resolver-2021.12.11").contains(" 5 documents"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("→ 200 OK").count(), 6, "{stdout}");
    let bulk = std::fs::read_to_string(dir.join("demo-waf.ndjson")).unwrap();
    assert_eq!(bulk.lines().count(), 12);
}

#[test]
fn plugin_run_prints_outcomes() {
    let out = weir()
        .args(["plugin", "run", "--plugin", "builtin:waf", "--input"])
        .arg(repo().join("tests/fixtures/plugins/waf/elastic_test-waf.lines.in"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["outcome"], "ok");
    assert_eq!(
        lines[0]["documents"][0]["body"]["timestamp"],
        "2019-12-13T23:40:12.771Z"
    );

    // A Firehose request body works too.
    let out = weir()
        .args(["plugin", "run", "--plugin", "builtin:waf", "--input"])
        .arg(repo().join("examples/firehose/waf.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 records: 5 ok, 0 dropped, 0 failed"));
}

#[test]
fn replay_re_drives_directory_dead_letters() {
    let dir = temp("replay");
    let out = weir().args(["demo", "--out"]).arg(&dir).output().unwrap();
    assert!(out.status.success());
    let example = std::fs::read_to_string(repo().join("examples/weir.toml")).unwrap();
    let cfg = dir.join("weir.toml");
    std::fs::write(
        &cfg,
        example.replace(
            "path = \"weir-data\"",
            &format!("path = {:?}", dir.display().to_string()),
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        weir()
            .args(["replay", "--config"])
            .arg(&cfg)
            .arg("--from")
            .arg(dir.join("dead-letters"))
            .args(extra)
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        stdout.contains("would replay 11 dead letters from 2 files/objects (2 original requests)"),
        "{stdout}"
    );
    // Nothing about the causes changed: every record fails again, exit code 2.
    let real = run(&[]);
    let stdout = String::from_utf8_lossy(&real.stdout);
    assert_eq!(real.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("replayed 11 dead letters")
            && stdout.contains("0 documents indexed, 0 dropped, 11 failed again"),
        "{stdout}"
    );
}
