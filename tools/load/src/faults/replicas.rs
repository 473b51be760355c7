//! The fault run with replicas: `replicas` `weir serve` processes with the
//! same config (OpenSearch sink, the real node) behind HAProxy
//! ([`crate::haproxy`]), the Firehose-like sender sending to HAProxy, and
//! each replica in turn SIGKILLed mid-run and started again. Deterministic
//! document ids make a request retried on another replica overwrite what
//! the first one may have indexed, so nothing is duplicated; Firehose's
//! retries make nothing acknowledged lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::process::Weir;
use super::sender::{self, Progress};
use super::{KEY, Options, PATH, Row, Sinks, TENANT, checker, config_text, now_ms};
use crate::haproxy::HaProxy;

/// Run the replicas' fault once and check every marker, with the dead
/// letters of every replica (none are expected: no record here is one a
/// plugin or OpenSearch refuses).
pub async fn kill_replicas(o: &Options, replicas: usize) -> anyhow::Result<Row> {
    let name = format!("kill-replica-of-{replicas}");
    let run_id = format!(
        "{:08x}",
        (u64::from(std::process::id()) << 20 ^ now_ms()) & 0xffff_ffff
    );
    let route_index = format!("faults-{run_id}-replicas");
    let index = format!("{TENANT}-{route_index}");
    let base = o.dir.join(&name);
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    let sinks = Sinks {
        opensearch: o.opensearch.clone(),
        backup: None,
        directory: false,
        plugin: None,
    };
    let mut weirs = Vec::new();
    for r in 0..replicas.max(1) {
        let dir = base.join(format!("replica-{r}"));
        std::fs::create_dir_all(&dir)?;
        let config = config_text(&o.dir, &dir, &sinks, &route_index);
        weirs.push(Weir::start(&o.weir, &dir, &config).await?);
    }
    let servers: Vec<String> = weirs.iter().map(|w| w.addr.clone()).collect();
    let lb = HaProxy::start(&base, &servers).await?;

    let plan = Arc::new(sender::Plan {
        run_id: run_id.clone(),
        records: o.records,
        per_request: o.per_request.max(1),
        conflict_every: None,
        poison_every: None,
        addr: lb.addr.clone(),
        key: KEY.to_string(),
        path: PATH.to_string(),
    });
    let progress = Arc::new(Progress::new(o.records));
    let senders = sender::spawn(plan.clone(), progress.clone(), o.connections.max(1));
    let deadline = Instant::now() + o.deadline;
    // Replica k is killed when k/(n+1) of the records are acknowledged.
    let mut kills = 0;
    let n = weirs.len();
    for (k, weir) in weirs.iter_mut().enumerate() {
        let at = progress.total * (k + 1) / (n + 1);
        if !progress.wait_acknowledged(at, deadline).await {
            break;
        }
        weir.kill()?;
        kills += 1;
        weir.restart().await?;
    }
    progress.wait_done(deadline).await;
    progress.stop.store(true, Ordering::SeqCst);
    for s in senders {
        let _ = s.await;
    }
    drop(lb);
    for w in &mut weirs {
        w.stop().await;
    }
    let os = checker::OpenSearch::new(&o.opensearch);
    let found = checker::find(&os, &index, &base.join("replica-0"), false)
        .await
        .and_then(|mut f| {
            for r in 1..n {
                f.add_dead_letters(&base.join(format!("replica-{r}")))?;
            }
            Ok(f)
        });
    // no plugin faults here: the call size does not matter
    let row = found.map(|f| f.row(&name, &plan, 1, &progress, kills));
    if !o.keep {
        os.delete_index(&index).await;
        let _ = std::fs::remove_dir_all(&base);
    }
    row
}
