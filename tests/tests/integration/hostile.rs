//! Plugins that trap, loop, eat memory or break the contract: their records
//! are dead-lettered with a clear reason, and the host keeps serving.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, Instant};

use weir::config::Config;
use weir::pipeline::Pipeline;
use weir::server::handle;
use weir_tests::*;

async fn post_hostile(
    p: &weir::pipeline::Pipeline,
    mode: &str,
    rid: &str,
) -> (u16, serde_json::Value) {
    let body = request_body(rid, &[b"first", b"second"]);
    let (status, _, json) = read_response(
        handle(
            p,
            firehose_request(&format!("/hostile/{mode}"), Some(KEY), body),
        )
        .await,
    )
    .await;
    (status, json)
}

fn assert_dead_lettered(out: &std::path::Path, mode: &str, reason: &str) {
    let dls = dead_letters(out, "demo", mode);
    assert_eq!(dls.len(), 2, "{mode}: both records dead-lettered: {dls:?}");
    for (i, dl) in dls.iter().enumerate() {
        assert_eq!(dl["record_index"], i);
        let r = dl["reason"].as_str().unwrap();
        assert!(
            r.contains(reason),
            "{mode}: reason {r:?} should contain {reason:?}"
        );
    }
    assert_eq!(dead_letter_data(&dls[0]), b"first");
    assert_eq!(dead_letter_data(&dls[1]), b"second");
    assert!(bulk_entries(out, &format!("demo-hostile-{mode}")).is_empty());
}

#[tokio::test]
async fn trap_is_dead_lettered() {
    let (p, out) = pipeline("trap");
    let (status, json) = post_hostile(&p, "trap", "trap-1").await;
    assert_eq!(status, 200, "records are durable as dead letters: {json}");
    assert_dead_lettered(&out, "trap", "trapped");
}

/// One bad record among good ones: the call that traps (or hits its
/// memory cap) is split until that record fails alone; only it is
/// dead-lettered, with the plugin's reason, and its neighbours are stored.
#[tokio::test]
async fn a_record_that_traps_or_hogs_fails_alone() {
    for (route, reason) in [
        ("trap-one", "trapped"),
        ("hog-one", "memory cap of 67108864 bytes"),
    ] {
        let (p, out) = pipeline(&format!("split-{route}"));
        let records: Vec<Vec<u8>> = (0..7)
            .map(|i| match i {
                4 => br#"{"poison":4}"#.to_vec(),
                _ => format!(r#"{{"good":{i}}}"#).into_bytes(),
            })
            .collect();
        let path = format!("/hostile/{route}");
        let (status, json) = post_records(&p, &path, &format!("{route}-1"), &records).await;
        assert_eq!(status, 200, "{route}: {json}");
        let dls = dead_letters(&out, "demo", route);
        assert_eq!(dls.len(), 1, "{route}: only the bad record: {dls:?}");
        assert_eq!(dls[0]["record_index"], 4, "{route}: {}", dls[0]);
        let r = dls[0]["reason"].as_str().unwrap();
        assert!(r.contains(reason), "{route}: {r}");
        assert_eq!(dead_letter_data(&dls[0]), br#"{"poison":4}"#);
        let stored = bulk_entries(&out, &format!("demo-hostile-{route}"));
        assert_eq!(
            stored.len(),
            6,
            "{route}: the neighbours are stored: {stored:?}"
        );
    }
}

#[tokio::test]
async fn memory_hog_is_stopped_at_its_cap() {
    let (p, out) = pipeline("hog");
    let (status, json) = post_hostile(&p, "hog", "hog-1").await;
    assert_eq!(status, 200, "{json}");
    assert_dead_lettered(&out, "hog", "memory cap of 67108864 bytes");
}

#[tokio::test]
async fn contract_violations_are_dead_lettered() {
    let (p, out) = pipeline("contract");
    assert_eq!(post_hostile(&p, "short", "short-1").await.0, 200);
    assert_dead_lettered(&out, "short", "returned 1 outcomes for 2 records");
    assert_eq!(post_hostile(&p, "bad-body", "bad-body-1").await.0, 200);
    assert_dead_lettered(
        &out,
        "bad-body",
        "contract violation: body is not a JSON object",
    );
}

#[tokio::test]
async fn chatty_plugin_is_capped_not_failed() {
    let (p, out) = pipeline("chatty");
    let (status, json) = post_hostile(&p, "chatty", "chatty-1").await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(bulk_entries(&out, "demo-hostile-chatty").len(), 2);
    assert!(dead_letters(&out, "demo", "chatty").is_empty());
}

/// An infinite loop is stopped at the deadline, while a good route on the
/// same host keeps answering 200 during it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_times_out_while_a_good_route_keeps_answering() {
    let (p, out) = pipeline("loop");
    let looping = {
        let p = p.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = post_hostile(&p, "loop", "loop-1").await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut good = 0;
    while !looping.is_finished() {
        let body = request_body(
            &format!("good-{good}"),
            &[br#"{"timestamp":1576280412771}"#],
        );
        let (status, _, json) =
            read_response(handle(&p, firehose_request("/firehose/waf", Some(KEY), body)).await)
                .await;
        assert_eq!(status, 200, "{json}");
        good += 1;
        if good > 10_000 {
            break;
        }
    }
    let ((status, json), elapsed) = looping.await.unwrap();
    assert_eq!(status, 200, "{json}");
    assert!(good >= 1, "the good route answered while the loop ran");
    assert!(
        elapsed < Duration::from_secs(30),
        "the loop was stopped (took {elapsed:?})"
    );
    assert_dead_lettered(&out, "loop", "exceeded its time limit of 500 ms");
    assert_eq!(bulk_entries(&out, "demo-waf").len(), good);

    // The route now cools down: its next request is refused with 429 (which
    // Firehose retries) instead of burning another 500 ms of CPU.
    let (status, json) = post_hostile(&p, "loop", "loop-2").await;
    assert_eq!(status, 429, "{json}");
    let msg = json["errorMessage"].as_str().unwrap();
    assert!(msg.contains("ran out of time on 1 batch"), "{msg}");
    assert_eq!(
        dead_letters(&out, "demo", "loop").len(),
        2,
        "nothing of loop-2 was taken"
    );
}

#[tokio::test]
async fn the_host_serves_after_every_hostile_plugin() {
    let (p, out) = pipeline("after");
    for mode in ["trap", "hog", "short", "trap"] {
        post_hostile(&p, mode, &format!("{mode}-x")).await;
    }
    let (status, json) = post_hostile(&p, "echo", "echo-1").await;
    assert_eq!(status, 200, "{json}");
    let docs = bulk_entries(&out, "demo-hostile-echo");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].1, serde_json::json!({"n": 5}));
}

/// Pooled memories are reset between batches (only the pages a batch
/// touched, with PAGEMAP_SCAN where the kernel has it): a batch of the same
/// plugin, in the same pool slot, never sees what an earlier batch was
/// given. The control shows the scan finds the secret when it is there.
#[tokio::test]
async fn a_batch_never_sees_an_earlier_batchs_records() {
    let (p, out) = pipeline("snoop");
    let post = async |rid: &str, records: &[&[u8]]| {
        let records: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
        let (status, json) = post_records(&p, "/hostile/snoop", rid, &records).await;
        assert_eq!(status, 200, "{rid}: {json}");
    };
    for i in 0..3 {
        post(
            &format!("secret-{i}"),
            &[b"weir-secret-one", b"weir-secret-two"],
        )
        .await;
        post(&format!("probe-{i}"), &[b"probe"]).await;
    }
    post("control", &[b"weir-secret-three", b"probe"]).await;

    let found: Vec<u64> = bulk_entries(&out, "demo-hostile-snoop")
        .iter()
        .filter_map(|(_, doc)| doc["found"].as_u64())
        .collect();
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(
        &found[..3],
        &[0, 0, 0],
        "a probe saw an earlier batch's records"
    );
    assert!(
        found[3] >= 1,
        "the control probe must see its own batch's secret"
    );
}

#[tokio::test]
async fn huge_output_is_dead_lettered_at_the_output_cap() {
    let (p, out) = pipeline("huge");
    let (status, json) = post_hostile(&p, "huge", "huge-1").await;
    assert_eq!(status, 200, "{json}");
    assert_dead_lettered(&out, "huge", "over its output cap of 1048576 bytes");
}

#[tokio::test]
async fn fuel_stops_a_loop() {
    let (p, out) = pipeline("fuel");
    let (status, json) = post_hostile(&p, "fuel", "fuel-1").await;
    assert_eq!(status, 200, "{json}");
    assert_dead_lettered(&out, "fuel", "ran out of fuel (50000000 units)");
}

/// The plugin asks for `other-hostile`, which is inside tenant `other`'s
/// index space (`other-`): the host keeps it inside `demo-`.
#[tokio::test]
async fn a_plugin_cannot_write_into_another_tenants_index() {
    let (p, out) = pipeline("other-index");
    let (status, json) = post_hostile(&p, "other-index", "oi-1").await;
    assert_eq!(status, 200, "{json}");
    assert!(
        bulk_entries(&out, "other-hostile").is_empty(),
        "nothing in tenant other's index"
    );
    let docs = bulk_entries(&out, "demo-other-hostile");
    assert_eq!(docs.len(), 2, "both documents inside demo's own space");
    assert_eq!(docs[0].0["index"]["_index"], "demo-other-hostile");
}

/// Each component that breaks the contract is refused at load with an
/// error naming the problem; the same config is refused by a reload while
/// the running config keeps answering 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plugins_are_refused_at_load_and_on_reload() {
    let (p, out) = pipeline("refused");
    let good = Config::parse(&config_text(
        &out,
        "listen = \"127.0.0.1:0\"\nplain_http = true",
    ))
    .unwrap();
    let live = weir::live::Live::new(p);
    let mut cases: Vec<(String, String, String)> = REFUSED_PLUGINS
        .iter()
        .map(|(what, path, err)| (what.to_string(), path.to_string(), err.to_string()))
        .collect();
    cases.push((
        "wrong digest".into(),
        HOSTILE_PLUGIN.into(),
        format!(
            "digest mismatch: the config pins sha256 {}, the file has sha256 {}",
            "0".repeat(64),
            hostile_digest()
        ),
    ));
    for (n, (what, path, expected)) in cases.iter().enumerate() {
        let mut config = good.clone();
        let route = config.routes.iter_mut().find(|r| r.name == "echo").unwrap();
        route.plugin = weir::config::PluginRef::File(path.into());
        route.plugin_sha256 = (what == "wrong digest").then(|| "0".repeat(64));
        let err = Pipeline::build(&config).unwrap_err().to_string();
        assert!(err.contains(expected), "{what}: {err}");
        assert!(err.starts_with("routes["), "{what}: names the route: {err}");

        let refused = live.reload(config).await.unwrap_err().to_string();
        assert!(refused.contains(expected), "{what}: {refused}");
        let body = request_body(&format!("after-{n}"), &[b"still here"]);
        let (status, _, json) = read_response(
            weir::server::handle_live(&live, firehose_request("/hostile/echo", Some(KEY), body))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{what}: the old config keeps serving: {json}");
    }
    assert_eq!(bulk_entries(&out, "demo-hostile-echo").len(), cases.len());
}

/// Another tenant keeps getting 200s while every hostile plugin of `demo`
/// runs beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_tenant_is_served_while_hostile_plugins_run() {
    let (p, out) = pipeline("neighbour");
    let hostile: Vec<_> = [
        "trap", "loop", "hog", "short", "huge", "fuel", "chatty", "sleep", "poll", "stdin",
        "nap-loop", "random",
    ]
    .into_iter()
    .map(|mode| {
        let p = p.clone();
        tokio::spawn(async move { post_hostile(&p, mode, &format!("{mode}-n")).await })
    })
    .collect();
    let mut good = 0;
    while hostile.iter().any(|h| !h.is_finished()) && good < 10_000 {
        let body = request_body(
            &format!("good-{good}"),
            &[br#"{"timestamp":1576280412771}"#],
        );
        let (status, _, json) =
            read_response(handle(&p, firehose_request("/other/waf", Some(OTHER_KEY), body)).await)
                .await;
        assert_eq!(status, 200, "{json}");
        good += 1;
    }
    for h in hostile {
        let (status, json) = h.await.unwrap();
        assert_eq!(status, 200, "{json}");
    }
    assert!(good >= 1);
    assert_eq!(bulk_entries(&out, "other-waf").len(), good);
}

/// The issue #13 set-up: a pool of 2 (`max_concurrent_batches = 2`), all of
/// it open to tenant `demo`, whose hostile routes may take both slots.
fn small_pool(name: &str) -> (Arc<Pipeline>, std::path::PathBuf) {
    let out = temp_dir(name);
    let text = config_text(&out, "listen = \"127.0.0.1:0\"\nplain_http = true")
        .replace("max_concurrent_batches = 8", "max_concurrent_batches = 2")
        .replace(
            "id = \"demo\"\n",
            "id = \"demo\"\nmax_concurrent_batches = 2\n",
        );
    let config = Config::parse(&text).unwrap();
    assert_eq!(config.plugins.max_concurrent_batches.get(), 2);
    (Arc::new(Pipeline::build(&config).unwrap()), out)
}

/// An answer at all, instead of one an hour later (the hostile plugins wait
/// an hour; the routes' `timeout_ms` is 500). Not a speed check.
const ANSWERED_WITHIN: Duration = Duration::from_secs(30);

/// A running Weir (a real socket) on `p`: its address, the switch that
/// stops it, and its task.
async fn running(
    p: Arc<Pipeline>,
) -> (
    std::net::SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let live = Arc::new(weir::live::Live::new(p));
    let server = weir::server::Server::bind("127.0.0.1:0".parse().unwrap(), None, live)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    (addr, stop, tokio::spawn(server.run(stopped)))
}

/// POST a Firehose request to a running Weir.
async fn post_to(
    addr: std::net::SocketAddr,
    path: &str,
    key: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = firehose_request(path, Some(key), body);
    *req.uri_mut() = format!("http://{addr}{path}").parse().unwrap();
    let (status, _, json) = read_response(client.request(req).await.unwrap()).await;
    (status, json)
}

/// Against a running Weir: two requests of `mode` on `demo`'s hostile
/// route, started together so that they take the whole pool of 2, and
/// tenant `other`'s WAF request beside them: every one is answered 200.
/// Returns each hostile answer's time.
async fn two_hostile_and_a_neighbour(addr: std::net::SocketAddr, mode: &str) -> Vec<Duration> {
    let hostile: Vec<_> = (0..2)
        .map(|i| {
            let (path, mode) = (format!("/hostile/{mode}"), mode.to_string());
            tokio::spawn(async move {
                let started = Instant::now();
                let body = request_body(&format!("{mode}-{i}"), &[b"first", b"second"]);
                let answer = post_to(addr, &path, KEY, body).await;
                (answer, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let body = request_body(
        &format!("beside-{mode}"),
        &[br#"{"timestamp":1576280412771}"#],
    );
    let neighbour = post_to(addr, "/other/waf", OTHER_KEY, body);
    let answered = tokio::time::timeout(ANSWERED_WITHIN, neighbour).await;
    let (status, json) = answered.expect("the neighbour is answered");
    assert_eq!(
        status, 200,
        "{mode}: the other tenant's WAF request: {json}"
    );
    let mut took = Vec::new();
    for h in hostile {
        let joined = tokio::time::timeout(ANSWERED_WITHIN, h).await;
        let ((status, json), elapsed) = joined.expect("the hostile request is answered").unwrap();
        assert_eq!(status, 200, "{mode}: {json}");
        took.push(elapsed);
    }
    took
}

/// Stop a running Weir; it must stop.
async fn stop(stop: tokio::sync::watch::Sender<bool>, served: tokio::task::JoinHandle<()>) {
    stop.send(true).unwrap();
    let stopped = tokio::time::timeout(ANSWERED_WITHIN, served).await;
    assert!(stopped.is_ok(), "the server stops");
}

/// Sleeping, blocking on a timer, polling timers (one that never fires) and
/// reading stdin all return at once in the sandbox (its clock is frozen, so
/// every timer is due; stdin is closed): the plugin then does its work, its
/// documents are stored, and the other tenant is answered although both of
/// the pool's slots went to these plugins. Before, `sleep` held both slots
/// for an hour and the other tenant's request was never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_cannot_wait_in_wasi_calls() {
    let (p, out) = small_pool("no-waiting");
    let (addr, switch, served) = running(p).await;
    for mode in ["sleep", "poll", "poll-list", "stdin"] {
        let took = two_hostile_and_a_neighbour(addr, mode).await;
        assert!(
            took.iter().all(|t| *t < ANSWERED_WITHIN),
            "{mode}: {took:?}"
        );
        let docs = bulk_entries(&out, &format!("demo-hostile-{mode}"));
        assert_eq!(docs.len(), 4, "{mode}: both requests' documents stored");
        assert!(dead_letters(&out, "demo", mode).is_empty(), "{mode}");
    }
    assert_eq!(bulk_entries(&out, "other-waf").len(), 4);
    stop(switch, served).await;
}

/// A plugin that sleeps in a loop spins in wasm (every sleep returns at
/// once) and is stopped at its deadline like any loop: its records are
/// dead-lettered with the time limit, and the neighbour is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_napping_in_a_loop_is_stopped_at_its_deadline() {
    let (p, out) = small_pool("nap-loop");
    let (addr, switch, served) = running(p).await;
    let took = two_hostile_and_a_neighbour(addr, "nap-loop").await;
    assert!(took.iter().all(|t| *t < ANSWERED_WITHIN), "{took:?}");
    let dls = dead_letters(&out, "demo", "nap-loop");
    assert_eq!(dls.len(), 4, "{dls:?}");
    for dl in &dls {
        let reason = dl["reason"].as_str().unwrap();
        assert!(
            reason.contains("exceeded its time limit of 500 ms"),
            "{reason}"
        );
    }
    assert!(bulk_entries(&out, "demo-hostile-nap-loop").is_empty());
    assert_eq!(bulk_entries(&out, "other-waf").len(), 1);
    stop(switch, served).await;
}

/// `wasi:random` gives at most 1 MiB a call (wasmtime's default, 64 MiB,
/// is a long pause in a host call the deadline cannot interrupt).
#[tokio::test]
async fn random_bytes_are_capped_per_call() {
    let (p, out) = pipeline("random");
    let (status, json) = post_hostile(&p, "random", "random-1").await;
    assert_eq!(status, 200, "{json}");
    assert_dead_lettered(&out, "random", "exceeds limit 1048576");
}

/// `weir serve`'s shutdown has a deadline: a request that does not finish
/// (its OpenSearch accepts the connection and never answers; the sink's
/// request timeout is 10 minutes) does not hold the server past the drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_for_a_bounded_time() {
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", black_hole.local_addr().unwrap());
    let (p, _out) = opensearch_pipeline("drain", &url, "drain", "request_timeout_ms = 600000");
    let live = Arc::new(weir::live::Live::new(p));
    let server = weir::server::Server::bind("127.0.0.1:0".parse().unwrap(), None, live)
        .await
        .unwrap()
        .with_drain(Duration::from_millis(200));
    let addr = server.local_addr().unwrap();
    let (switch, stopped) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(server.run(stopped));
    let body = request_body("never-durable", &[br#"{"timestamp":1576280412771}"#]);
    let in_flight = tokio::spawn(async move { post_to(addr, "/os/waf", KEY, body).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.is_finished(), "the request hangs in the sink");
    stop(switch, served).await;
    in_flight.abort();
    drop(black_hole);
}
