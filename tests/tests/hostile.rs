//! Plugins that trap, loop, eat memory or break the contract: their records
//! are dead-lettered with a clear reason, and the host keeps serving.

use std::time::{Duration, Instant};

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
