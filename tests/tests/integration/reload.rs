//! Live operation: a plugin swapped under load (file change), a bad new
//! config refused while the old one serves, graceful shutdown, and the
//! operations endpoints over a real socket.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use weir::live::{ConfigSource, Live};
use weir::pipeline::Pipeline;
use weir::server::handle_live;
use weir_tests::*;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    weir::digest::hex(&sha2::Sha256::digest(bytes))
}

/// A one-route config: `/swap` runs the plugin at `plugin` (pinned).
fn swap_config(out: &Path, plugin: &Path, plugin_config: &str) -> String {
    use weir_load::config_toml::{directory_sink, route, tenant};
    let digest = sha256_hex(&std::fs::read(plugin).unwrap());
    let plugin = plugin.display().to_string();
    let entries = [
        directory_sink("local", out),
        tenant("demo", &[KEY]),
        route("/swap", "demo", &plugin, "swap", "local"),
    ]
    .concat();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
plain_http = true
{entries}plugin_sha256 = "{digest}"
{plugin_config}
"#
    )
}

/// Write `text` as the config, atomically (as a deploy tool would).
fn write_config(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn counter(live: &Live, name: &str) -> u64 {
    live.current()
        .render_metrics()
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// v1 (the echo plugin: `{"n": <len>}`) is replaced by v2 (the WAF plugin:
/// the record with an ISO timestamp) by rewriting the config file while
/// four clients keep sending. Every request gets 200; every record is
/// stored exactly once; requests sent after the swap use v2. Then a config
/// naming a plugin of the wrong WIT version is refused and v2 keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_load_loses_and_duplicates_nothing() {
    let dir = temp_dir("swap");
    let out = dir.join("out");
    let v1 = dir.join("v1.wasm");
    let v2 = dir.join("v2.wasm");
    std::fs::copy(HOSTILE_PLUGIN, &v1).unwrap();
    std::fs::write(&v2, weir::builtin::bytes("waf").unwrap()).unwrap();
    let v2_digest = sha256_hex(&std::fs::read(&v2).unwrap());
    let config_path = dir.join("weir.toml");
    write_config(
        &config_path,
        &swap_config(&out, &v1, "plugin_config = { mode = \"echo\" }"),
    );

    let source = ConfigSource {
        path: config_path.clone(),
        opensearch: None,
        listen: None,
    };
    let live = Arc::new(Live::with_source(
        Arc::new(Pipeline::build(&source.load().unwrap()).unwrap()),
        source,
    ));
    live.spawn_watchers(Duration::from_millis(50));

    let stop = Arc::new(AtomicBool::new(false));
    let swapped_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (live, stop) = (live.clone(), stop.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let rid = format!("c{c}-{n}");
                    let started = Instant::now();
                    let body = request_body(
                        &rid,
                        &[
                            br#"{"timestamp":1576280412771,"r":0}"#,
                            br#"{"timestamp":1576280412772,"r":1}"#,
                            br#"{"timestamp":1576280412773,"r":2}"#,
                        ],
                    );
                    let (status, _, json) = read_response(
                        handle_live(&live, firehose_request("/swap", Some(KEY), body)).await,
                    )
                    .await;
                    assert_eq!(status, 200, "{rid}: {json}");
                    sent.push((rid, started));
                    n += 1;
                }
                sent
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    write_config(&config_path, &swap_config(&out, &v2, ""));
    {
        let live = live.clone();
        wait_for("the swap to v2", move || {
            live.current()
                .plugins()
                .any(|(_, p)| p.digest() == v2_digest)
        })
        .await;
    }
    *swapped_at.lock().unwrap() = Some(Instant::now());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A bad new config (a plugin of the wrong WIT version) is refused; v2 keeps serving.
    let wrong = dir.join("v3.wasm");
    std::fs::copy(REFUSED_PLUGINS[0].1, &wrong).unwrap();
    write_config(&config_path, &swap_config(&out, &wrong, ""));
    {
        let live = live.clone();
        wait_for("the bad reload to be refused", move || {
            counter(&live, "weir_config_reload_failures_total") >= 1
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for c in clients {
        sent.extend(c.await.unwrap());
    }
    let swapped_at = swapped_at.lock().unwrap().unwrap();

    // Exactly one document per record, by id; which version made it.
    let docs = bulk_entries(&out, "demo-swap");
    let mut seen = HashSet::new();
    let mut version: BTreeMap<String, HashSet<&str>> = BTreeMap::new();
    for (action, doc) in &docs {
        let id = action["index"]["_id"].as_str().unwrap().to_string();
        assert!(seen.insert(id.clone()), "duplicate document {id}");
        let rid = id.rsplitn(3, '-').nth(2).unwrap().to_string();
        let v = if doc.get("n").is_some() { "v1" } else { "v2" };
        version.entry(rid).or_default().insert(v);
    }
    assert_eq!(
        docs.len(),
        sent.len() * 3,
        "every record of every 200 stored once"
    );
    for (rid, started) in &sent {
        let vs = &version[rid];
        assert_eq!(vs.len(), 1, "{rid}: one plugin version per request: {vs:?}");
        if *started > swapped_at {
            assert!(
                vs.contains("v2"),
                "{rid} was sent after the swap but ran on {vs:?}"
            );
        }
    }
    let ran: HashSet<&str> = version.values().flatten().copied().collect();
    assert_eq!(
        ran,
        HashSet::from(["v1", "v2"]),
        "the load ran on both versions"
    );
    assert_eq!(counter(&live, "weir_config_reloads_total"), 1);
    assert!(
        live.current()
            .plugins()
            .any(|(_, p)| p.digest() == sha256_hex(&std::fs::read(&v2).unwrap())),
        "v2 still serves after the refused reload"
    );
}

async fn get(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: String,
) -> (u16, String) {
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Over a real socket: `/healthz`, `/readyz` and `/metrics` answer; on
/// shutdown the server stops accepting, a request already in flight (a
/// plugin stuck until its 500 ms deadline) still gets its 200 with its
/// records durable, and only then does `run` return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let out = temp_dir("shutdown");
    // Two tenants: `/metrics` on the Firehose listener wants the token.
    let token = "metrics-token-0123456789";
    let text = config_text(
        &out,
        &format!("listen = \"127.0.0.1:0\"\nplain_http = true\nmetrics_token = \"{token}\""),
    );
    let p = Arc::new(Pipeline::build(&weir::config::Config::parse(&text).unwrap()).unwrap());
    let live = Arc::new(Live::new(p));
    let server = weir::server::Server::bind("127.0.0.1:0".parse().unwrap(), None, live.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(server.run(stopped));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    assert_eq!(
        get(&client, format!("http://{addr}/healthz")).await,
        (200, "ok\n".into())
    );
    assert_eq!(
        get(&client, format!("http://{addr}/readyz")).await,
        (200, "ready\n".into())
    );
    let req = http::Request::get(format!("http://{addr}/metrics"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let metrics = resp.into_body().collect().await.unwrap().to_bytes();
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("# TYPE weir_records_in_total counter"),
        "{metrics}"
    );
    assert!(metrics.contains("weir_plugins_loaded 2"), "{metrics}");

    let in_flight = {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        tokio::spawn(async move {
            let mut req = firehose_request(
                "/hostile/loop",
                Some(KEY),
                request_body("in-flight", &[b"a", b"b"]),
            );
            *req.uri_mut() = format!("http://{addr}/hostile/loop").parse().unwrap();
            read_response(client.request(req).await.unwrap()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(true).unwrap();
    let (status, _, json) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the in-flight request finished: {json}");
    assert_eq!(
        dead_letters(&out, "demo", "loop").len(),
        2,
        "its records are durable"
    );
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("run returns once in-flight requests are done")
        .unwrap();
    assert!(!live.is_ready(), "/readyz says 503 from shutdown on");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

/// With `server.metrics_listen`, `/metrics` is served there, over a real
/// socket, and not on the Firehose listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_listener() {
    let out = temp_dir("metrics-listen");
    let text = config_text(
        &out,
        "listen = \"127.0.0.1:0\"\nplain_http = true\nmetrics_listen = \"127.0.0.1:1\"",
    );
    let cfg = weir::config::Config::parse(&text).unwrap();
    let live = Arc::new(Live::new(Arc::new(Pipeline::build(&cfg).unwrap())));
    let req = http::Request::get("/metrics")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = handle_live(&live, req).await;
    assert_ne!(resp.status().as_u16(), 200, "not on the public listener");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(weir::server::serve_metrics(listener, live.clone()));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let (status, metrics) = get(&client, format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE weir_records_in_total counter"),
        "{metrics}"
    );
    let (status, _) = get(&client, format!("http://{addr}/firehose/waf")).await;
    assert_eq!(status, 404);
}
