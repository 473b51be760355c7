//! `replicas`: throughput per CPU-second of one `weir serve` against two
//! with the same config, each behind HAProxy ([`weir_load::haproxy`]) so
//! the client's path is the same; `--rounds` alternating pairs of runs
//! (the machine is shared: a pair's ratio is the figure, not a run's
//! absolute). CPU is the replicas' user + sys (HAProxy's is printed apart).

use std::sync::Arc;

use weir_load::haproxy::HaProxy;

use super::Setting;
use crate::bodies::Body;
use crate::drive::{Target, WAF_PATH, Window, collect, spawn_connections};
use crate::host::{Endpoint, Host, proc_cpu};

/// One measured run with `n` replicas: (records/s, records per CPU-second
/// of the replicas, HAProxy's share of a core).
async fn run(
    s: &Setting<'_>,
    bodies: &Arc<Vec<Body>>,
    n: usize,
    round: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let dir = s.subdir(&format!("replicas-{round}-{n}"))?;
    let mut hosts = Vec::new();
    for r in 0..n {
        hosts
            .push(Host::start(s.weir, &dir, &format!("replica-{r}"), &s.config(&dir, None)).await?);
    }
    let servers: Vec<String> = hosts.iter().map(|h| h.endpoint.addr.clone()).collect();
    let lb = HaProxy::start(&dir, &servers).await?;
    let endpoint = Endpoint {
        addr: lb.addr.clone(),
        tls: None,
    };
    let target = Target {
        path: WAF_PATH.to_string(),
        key: crate::args::KEY.to_string(),
        addr: lb.addr.clone(),
    };
    let t0 = std::time::Instant::now();
    let w = Window {
        t0,
        start: t0 + std::time::Duration::from_secs_f64(s.args.warmup),
        end: t0 + std::time::Duration::from_secs_f64(s.args.warmup + s.args.duration),
    };
    let tasks = spawn_connections(&endpoint, &target, bodies, w, 0.0, s.args.connections).await?;
    tokio::time::sleep_until(w.start.into()).await;
    let cpu = |hosts: &[Host]| {
        hosts
            .iter()
            .map(|h| h.sample().cpu.as_secs_f64())
            .sum::<f64>()
    };
    let (before, lb_before) = (cpu(&hosts), proc_cpu(lb.pid()).as_secs_f64());
    tokio::time::sleep_until(w.end.into()).await;
    let (after, lb_after) = (cpu(&hosts), proc_cpu(lb.pid()).as_secs_f64());
    let tally = collect(tasks).await?;
    let secs = s.args.duration.max(1e-9);
    let records = tally.records as f64;
    Ok((
        records / secs,
        records / (after - before).max(1e-9),
        (lb_after - lb_before) / secs,
    ))
}

/// Alternate one replica and two, `--rounds` times, and print each pair.
pub(crate) async fn replicas(s: &Setting<'_>, bodies: &Arc<Vec<Body>>) -> anyhow::Result<()> {
    println!(
        "\n== replicas behind HAProxy: records per CPU-second of the replicas, flat out, {} connections, {} s measured",
        s.args.connections, s.args.duration
    );
    println!(
        "| round | 1 replica: records/s | per CPU-s | 2 replicas: records/s | per CPU-s | ratio (2 / 1) | HAProxy CPU (1 / 2) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for round in 0..s.args.rounds.max(1) {
        // Alternate which goes first, so that a drift in the machine's load
        // does not favour one side.
        let (one, two) = if round % 2 == 0 {
            let one = run(s, bodies, 1, round).await?;
            (one, run(s, bodies, 2, round).await?)
        } else {
            let two = run(s, bodies, 2, round).await?;
            (run(s, bodies, 1, round).await?, two)
        };
        let ratio = two.1 / one.1.max(1e-9);
        ratios.push(ratio);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {ratio:.3} | {:.0}% / {:.0}% |",
            round + 1,
            one.0,
            one.1,
            two.0,
            two.1,
            one.2 * 100.0,
            two.2 * 100.0
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio: {:.3}", ratios[ratios.len() / 2]);
    Ok(())
}
