//! Shared helpers for Weir's integration tests.

// Test and load-tool code reads the small answers of its own loopback
// servers and the objects it wrote itself; the production bounds on body
// collection (clippy.toml) are for the host.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use weir::config::Config;
use weir::pipeline::Pipeline;
use weir_load::config_toml::{directory_sink, route, tenant};

/// The hostile test plugin (built by `build.rs`).
pub const HOSTILE_PLUGIN: &str = env!("WEIR_TEST_PLUGIN_HOSTILE");
/// Access key of tenant `demo` in [`config_text`].
pub const KEY: &str = "demo-access-key";
/// Access key of tenant `other` in [`config_text`].
pub const OTHER_KEY: &str = "other-tenant-key";

/// `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fresh, empty temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "weir-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config with tenants `demo` and `other`, a directory sink at `out`, the
/// WAF route `/firehose/waf`, and one route per hostile mode at
/// `/hostile/<mode>` (tenant `demo`, index `hostile-<mode>`).
/// `server` is the `[server]` table body.
pub fn config_text(out: &Path, server: &str) -> String {
    let entries = [
        directory_sink("local", out),
        tenant("demo", &[KEY]),
        tenant("other", &[OTHER_KEY]),
        route("/firehose/waf", "demo", "builtin:waf", "waf", "local"),
    ]
    .concat();
    let mut text = format!(
        r#"
[server]
{server}

[plugins]
memory_mib = 64
timeout_ms = 500
max_concurrent_batches = 8
{entries}
# Another tenant's WAF route, beside demo's hostile ones.
[[routes]]
path = "/other/waf"
name = "waf"
tenant = "other"
plugin = "builtin:waf"
index = "waf"
sink = "local"
"#
    );
    for (route, mode, extra) in [
        ("trap", "trap", ""),
        ("loop", "loop", ""),
        ("hog", "hog", ""),
        ("short", "short", ""),
        ("bad-body", "bad-body", ""),
        ("chatty", "chatty", ""),
        ("huge", "huge", "max_output_mib = 1"),
        ("other-index", "other-index", "allow_plugin_index = true"),
        // Fuel stops a loop deterministically, long before the wall clock.
        ("fuel", "loop", "fuel = 50000000\ntimeout_ms = 60000"),
        ("snoop", "snoop", ""),
        ("sleep", "sleep", ""),
        ("poll", "poll", ""),
        ("poll-list", "poll-list", ""),
        ("stdin", "stdin", ""),
        ("nap-loop", "nap-loop", ""),
        ("random", "random", ""),
        ("echo", "echo", ""),
    ] {
        text.push_str(&format!(
            r#"
[[routes]]
path = "/hostile/{route}"
tenant = "demo"
plugin = {HOSTILE_PLUGIN:?}
plugin_sha256 = "{digest}"
index = "hostile-{route}"
sink = "local"
plugin_config = {{ mode = "{mode}" }}
{extra}
"#,
            digest = hostile_digest()
        ));
    }
    // The same misbehaviours only in a call holding a record with "poison".
    for (route, mode) in [("trap-one", "trap"), ("hog-one", "hog")] {
        text.push_str(&format!(
            r#"
[[routes]]
path = "/hostile/{route}"
tenant = "demo"
plugin = {HOSTILE_PLUGIN:?}
plugin_sha256 = "{digest}"
index = "hostile-{route}"
sink = "local"
plugin_config = {{ mode = "{mode}", when = "poison" }}
"#,
            digest = hostile_digest()
        ));
    }
    text
}

/// The Python twin of the WAF plugin (`tests/plugins/python-waf`, built
/// with componentize-py by its `build.sh`), rebuilt when missing or older
/// than its sources or the WIT. The first build installs componentize-py
/// into `~/.cache/weir/tools` (PyPI), once.
pub fn python_waf_plugin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .to_path_buf();
            let src = root.join("tests/plugins/python-waf");
            let out = root.join("target/wasm-test-plugins/python-waf.wasm");
            let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let newest_source = [
                src.join("app.py"),
                src.join("build.sh"),
                root.join("wit/plugin.wit"),
            ]
            .iter()
            .filter_map(|p| mtime(p))
            .max();
            if mtime(&out).is_none() || mtime(&out) < newest_source {
                let status = std::process::Command::new(src.join("build.sh"))
                    .arg(&out)
                    .status()
                    .unwrap_or_else(|e| panic!("cannot run {}/build.sh: {e}", src.display()));
                assert!(
                    status.success(),
                    "building the Python plugin failed ({status})"
                );
            }
            out
        })
        .clone()
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The newest modification time of the files under `paths`.
fn newest_mtime(paths: &[PathBuf]) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.filter_map(Result::ok).map(|e| e.path()));
            }
        } else if let Ok(m) = meta.modified() {
            newest = newest.max(Some(m));
        }
    }
    newest
}

/// The template plugin of `lang` (`python` or `js`), written as a project
/// named `template-<lang>` in `target/wasm-test-plugins/template-<lang>/`
/// (by [`weir::scaffold::new_project`], as `weir plugin new` writes it) and built by its own `build.sh` (which
/// installs its pinned toolchain under `~/.cache/weir/tools` on first use):
/// (the project directory, the component). Rebuilt when missing or older
/// than the template, the SDK or the WIT; a failed build (a missing
/// toolchain included) panics, loudly.
pub fn template_plugin(lang: &str) -> (PathBuf, PathBuf) {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf, PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, dir, wasm)) = built.iter().find(|(l, _, _)| l == lang) {
        return (dir.clone(), wasm.clone());
    }
    let root = repo_root();
    let dir = root
        .join("target/wasm-test-plugins")
        .join(format!("template-{lang}"));
    let wasm = root
        .join("target/wasm-test-plugins")
        .join(format!("template-{lang}.wasm"));
    let sdk = root
        .join("sdk")
        .join(if lang == "js" { "js/src" } else { "python/src" });
    let sources = newest_mtime(&[
        root.join("plugins/templates").join(lang),
        sdk,
        root.join("wit/plugin.wit"),
    ]);
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let _ = std::fs::remove_dir_all(&dir);
    weir::scaffold::new_project(&format!("template-{lang}"), lang, &dir)
        .unwrap_or_else(|e| panic!("weir plugin new template-{lang} --lang {lang}: {e}"));
    if mtime(&wasm).is_none() || mtime(&wasm) < sources {
        let status = std::process::Command::new(dir.join("build.sh"))
            .arg(&wasm)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}/build.sh: {e}", dir.display()));
        assert!(
            status.success(),
            "building the {lang} template failed ({status}): is its toolchain (python3 with venv, \
             or node and npm) installed? scripts/test installs it"
        );
    }
    built.push((lang.to_string(), dir.clone(), wasm.clone()));
    (dir, wasm)
}

/// SHA-256 (hex) of the hostile test plugin, as a config pins it.
pub fn hostile_digest() -> String {
    use sha2::Digest;
    weir::digest::hex(&sha2::Sha256::digest(
        std::fs::read(HOSTILE_PLUGIN).unwrap(),
    ))
}

/// Test components that must be refused at load: (what, path, the error it must name).
pub const REFUSED_PLUGINS: &[(&str, &str, &str)] = &[
    (
        "wrong WIT version",
        env!("WEIR_TEST_PLUGIN_WRONG_VERSION"),
        "targets weir:plugin@0.2.0, but this host runs weir:plugin@0.1.x",
    ),
    (
        "wrong world",
        env!("WEIR_TEST_PLUGIN_WRONG_WORLD"),
        "wrong world: a plugin must export weir:plugin/transform@0.1.x",
    ),
    (
        "filesystem and sockets",
        env!("WEIR_TEST_PLUGIN_CAPABILITY"),
        "imports what the host does not give plugins: wasi:filesystem/types@",
    ),
];

/// A pipeline over [`config_text`] with plain HTTP, writing to a fresh directory.
pub fn pipeline(name: &str) -> (Arc<Pipeline>, PathBuf) {
    let out = temp_dir(name);
    let config = Config::parse(&config_text(
        &out,
        "listen = \"127.0.0.1:0\"\nplain_http = true",
    ))
    .unwrap();
    (Arc::new(Pipeline::build(&config).unwrap()), out)
}

/// The records of a fixture file: `<case>.lines.in` is one record per
/// non-empty line, any other file is one record.
pub fn fixture_records(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    if path.to_string_lossy().ends_with(".lines.in") {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        vec![bytes]
    }
}

/// POST these records as one Firehose request to `path` with the demo key:
/// (status, JSON body).
pub async fn post_records(
    p: &Pipeline,
    path: &str,
    rid: &str,
    records: &[Vec<u8>],
) -> (u16, serde_json::Value) {
    post_records_as(p, path, KEY, rid, records).await
}

/// [`post_records`] with another tenant's access key.
pub async fn post_records_as(
    p: &Pipeline,
    path: &str,
    key: &str,
    rid: &str,
    records: &[Vec<u8>],
) -> (u16, serde_json::Value) {
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let req = firehose_request(path, Some(key), request_body(rid, &refs));
    let (status, _, json) = read_response(weir::server::handle(p, req).await).await;
    (status, json)
}

/// A Firehose request body with these records.
pub fn request_body(request_id: &str, records: &[&[u8]]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::json!({
        "requestId": request_id,
        "timestamp": 1_700_000_000_000i64,
        "records": records.iter().map(|r| serde_json::json!({"data": b64.encode(r)})).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes()
}

/// The request id in a body.
pub fn body_request_id(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["requestId"].as_str().unwrap().to_string()
}

/// A Firehose-shaped POST, with the headers Firehose sends.
pub fn firehose_request(
    path: &str,
    key: Option<&str>,
    body: Vec<u8>,
) -> http::Request<Full<Bytes>> {
    let request_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["requestId"].as_str().map(str::to_string))
        .unwrap_or_else(|| "no-id-in-body".to_string());
    let mut b = http::Request::post(path)
        .header("content-type", "application/json")
        .header("x-amz-firehose-protocol-version", "1.0")
        .header("x-amz-firehose-request-id", request_id)
        .header(
            "x-amz-firehose-source-arn",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/test",
        );
    if let Some(k) = key {
        b = b.header("x-amz-firehose-access-key", k);
    }
    b.body(Full::new(Bytes::from(body))).unwrap()
}

/// Status, content type and JSON body of a response.
pub async fn read_response<B>(resp: http::Response<B>) -> (u16, String, serde_json::Value)
where
    B: hyper::body::Body,
    B::Error: std::fmt::Debug,
{
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "response is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, ct, json)
}

/// (action, document) pairs of index `index` in the directory sink at
/// `out` (`<index>.ndjson`, or its capped name); empty when absent.
pub fn bulk_entries(out: &Path, index: &str) -> Vec<(serde_json::Value, serde_json::Value)> {
    let file = weir::sink::directory::file_name(index);
    let Ok(text) = std::fs::read_to_string(out.join(file)) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() % 2, 0, "bulk file has an odd number of lines");
    lines
        .chunks(2)
        .map(|c| {
            (
                serde_json::from_str(c[0]).unwrap(),
                serde_json::from_str(c[1]).unwrap(),
            )
        })
        .collect()
}

/// Dead-letter lines of a tenant's route; empty when absent.
pub fn dead_letters(out: &Path, tenant: &str, route: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(
        out.join("dead-letters")
            .join(tenant)
            .join(format!("{route}.ndjson")),
    )
    .map(|t| {
        t.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    })
    .unwrap_or_default()
}

/// Decode a dead letter's `data`.
pub fn dead_letter_data(dl: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(dl["data"].as_str().unwrap())
        .unwrap()
}

pub mod proxy;

/// The assignments `tests/services up` prints (`OPENSEARCH_URL=…`,
/// `S3_ENDPOINT=…`, …). Run once per test process when the environment
/// does not already carry them (`scripts/test` sets them); it starts what
/// is not running (`tests/services down` stops it).
fn services() -> &'static std::collections::HashMap<String, String> {
    static VARS: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    VARS.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("services");
        let out = std::process::Command::new(&script)
            .arg("up")
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "tests/services up failed; these tests need the real OpenSearch and S3 servers"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

/// A service variable: from the environment, else from `tests/services up`.
pub fn service_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        services()
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("tests/services up printed no {name}"))
    })
}

/// The real OpenSearch node's URL.
pub fn opensearch_url() -> String {
    service_var("OPENSEARCH_URL")
}

/// The real S3 server: (endpoint, bucket, access key, secret key).
pub fn s3_server() -> (String, String, String, String) {
    (
        service_var("S3_ENDPOINT"),
        service_var("S3_BUCKET"),
        service_var("AWS_ACCESS_KEY_ID"),
        service_var("AWS_SECRET_ACCESS_KEY"),
    )
}

/// Points the standard AWS credential chain, which Weir's S3 client and its
/// SigV4 signer read, at the test S3 server's keys, and returns the access
/// key id. The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`) then
/// holds two profiles for s3 sinks' `profile`: [`TEST_PROFILE`] with the
/// server's keys and [`WRONG_PROFILE`] with a secret the server refuses. The integration tests share one process, so this happens once and
/// only where the environment differs (`scripts/test` already exports them,
/// so there it changes nothing).
pub fn use_test_aws_credentials() -> String {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let (_, _, access_key, secret_key) = s3_server();
    ONCE.call_once(|| {
        let wanted = [
            ("AWS_ACCESS_KEY_ID", access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", secret_key.as_str()),
        ];
        for (name, value) in wanted {
            if std::env::var(name).ok().as_deref() != Some(value) {
                // SAFETY: once per process, before the first AWS client is built.
                unsafe { std::env::set_var(name, value) };
            }
        }
        let dir = std::env::temp_dir().join(format!("weir-test-aws-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("credentials");
        std::fs::write(
            &file,
            format!(
                "[{TEST_PROFILE}]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n\n\
                 [{WRONG_PROFILE}]\naws_access_key_id = {access_key}\naws_secret_access_key = not-the-secret\n"
            ),
        )
        .unwrap();
        // SAFETY: as above.
        unsafe { std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &file) };
        for name in ["AWS_SESSION_TOKEN", "AWS_PROFILE"] {
            if std::env::var_os(name).is_some() {
                // SAFETY: as above.
                unsafe { std::env::remove_var(name) };
            }
        }
    });
    access_key
}

/// A profile of the shared credentials file with the test server's keys.
pub const TEST_PROFILE: &str = "weir-test";
/// A profile whose secret the test server refuses (403 to every request).
pub const WRONG_PROFILE: &str = "weir-test-wrong";

/// An S3 client for the test server (path style, static credentials).
pub async fn s3_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let creds =
        aws_sdk_s3::config::Credentials::new(access_key, secret_key, None, None, "weir-tests");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .http_client(http)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Every object under `prefix`: (key, gunzipped body).
pub async fn s3_objects(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Vec<(String, Vec<u8>)> {
    let list = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for obj in list.contents() {
        let key = obj.key().unwrap().to_string();
        let body = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let plain = weir::codec::gunzip_capped(&body, 64 << 20).unwrap_or_else(|_| body.to_vec());
        out.push((key, plain));
    }
    out.sort();
    out
}

/// A config like [`config_text`] plus an OpenSearch sink `search` at `url`
/// (dead letters to `local`), with `route` (a WAF route) on it indexing to
/// `index`. `sink_extra` is added to the `[sinks.search]` table.
pub fn opensearch_config(out: &Path, url: &str, index: &str, sink_extra: &str) -> String {
    let mut text = config_text(out, "listen = \"127.0.0.1:0\"\nplain_http = true");
    text.push_str(&format!(
        r#"
[sinks.search]
type = "opensearch"
urls = ["{url}"]
dead_letter_sink = "local"
{sink_extra}

[[routes]]
path = "/os/waf"
name = "{index}"
tenant = "demo"
plugin = "builtin:waf"
index = "{index}"
sink = "search"
"#
    ));
    text
}

/// A pipeline over [`opensearch_config`].
pub fn opensearch_pipeline(
    name: &str,
    url: &str,
    index: &str,
    sink_extra: &str,
) -> (Arc<Pipeline>, PathBuf) {
    let out = temp_dir(name);
    let config = Config::parse(&opensearch_config(&out, url, index, sink_extra)).unwrap();
    (Arc::new(Pipeline::build(&config).unwrap()), out)
}

/// A unique, valid index name for one test.
pub fn unique_index(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "demo-weir-test-{name}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        weir::firehose::now_ms()
    )
}

/// A plain HTTP call to OpenSearch: (status, JSON body).
pub async fn os_call(
    method: &str,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Refresh `index` and return every document (`_source` and `_id`), sorted by id.
pub async fn os_documents(url: &str, index: &str) -> Vec<(String, serde_json::Value)> {
    let (status, _) = os_call("POST", &format!("{url}/{index}/_refresh"), None).await;
    if status == 404 {
        return Vec::new();
    }
    let (status, body) = os_call(
        "POST",
        &format!("{url}/{index}/_search"),
        Some(serde_json::json!({"size": 10000, "query": {"match_all": {}}, "sort": [{"_id": "asc"}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["_id"].as_str().unwrap().to_string(), h["_source"].clone()))
        .collect()
}
