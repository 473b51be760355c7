//! `soak`: the maximum rate measured first (flat out, over `--warmup` +
//! `--duration`), then `--soak-minutes` minutes at half that rate (or at
//! `--rate`) on the same `weir serve`, with its RSS and open file
//! descriptors sampled at the end of every minute; then the drift of
//! both after the first `--soak-warmup-minutes` minutes (goal: < 5 %):
//! from the last warm-up minute to the last minute, for the descriptors
//! other than sockets too, and as the trend of a least-squares line.

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;

use super::Setting;
use crate::bodies::Body;
use crate::drive::drive;
use crate::host::Host;

/// The drift the soak aims below, percent.
const DRIFT_GOAL_PERCENT: f64 = 5.0;

/// One minute of the soak.
#[derive(Debug, Clone, Copy)]
struct Minute {
    /// Requests answered 200 per second.
    requests_per_s: f64,
    /// Records answered 200 per second.
    records_per_s: f64,
    /// The generator's p99 latency, ms.
    p99_ms: f64,
    /// Attempts retried (429 and other), and requests given up.
    retries: u64,
    /// Requests given up.
    failed: u64,
    /// RSS at the minute's end, KiB.
    rss_kib: u64,
    /// Open file descriptors at the minute's end.
    fds: usize,
    /// Of which sockets (connections and listeners).
    sockets: usize,
}

/// Run the soak; an error when a request was given up.
pub(crate) async fn soak(s: &Setting<'_>, bodies: &Arc<Vec<Body>>) -> anyhow::Result<()> {
    let host = s.start(s.dir, "soak", None).await?;
    let max = drive(s.args, &host, bodies, 0.0).await?;
    max.print("maximum rate", s.args, &host);
    let rate = match s.args.rate {
        r if r > 0.0 => r,
        _ => max.tally.requests as f64 / max.window.as_secs_f64() / 2.0,
    };
    if rate <= 0.0 {
        bail!(
            "no request was answered 200 at the maximum rate; a longer --warmup lets a slow sink start"
        );
    }
    let mut minute_args = s.args.clone();
    minute_args.warmup = 0.0;
    minute_args.duration = 60.0;
    println!(
        "\n== soak: {} minutes at {rate:.1} requests/s ({:.0} records/s), sampled every minute",
        s.args.soak_minutes,
        rate * s.args.records as f64
    );
    println!(
        "| minute | requests/s | records/s | p99 ms | retries | given up | RSS MiB | open fds | of which sockets |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut minutes = Vec::new();
    for n in 1..=s.args.soak_minutes {
        let r = drive(&minute_args, &host, bodies, rate).await?;
        let m = Minute {
            requests_per_s: r.tally.requests as f64 / r.window.as_secs_f64(),
            records_per_s: r.records_per_s(),
            p99_ms: r.percentile_ms(0.99),
            retries: r.tally.retries_429 + r.tally.retries_other,
            failed: r.tally.failed,
            rss_kib: host.sample().rss_kib,
            fds: 0,
            sockets: 0,
        };
        let (fds, sockets) = open_fds(&host);
        let m = Minute { fds, sockets, ..m };
        println!(
            "| {n} | {:.1} | {:.0} | {:.1} | {} | {} | {:.1} | {} | {} |",
            m.requests_per_s,
            m.records_per_s,
            m.p99_ms,
            m.retries,
            m.failed,
            m.rss_kib as f64 / 1024.0,
            m.fds,
            m.sockets
        );
        minutes.push(m);
    }
    report_drift(&minutes, s.args.soak_warmup_minutes);
    let failed: u64 = minutes.iter().map(|m| m.failed).sum();
    if failed > 0 {
        bail!("{failed} requests were given up during the soak");
    }
    Ok(())
}

/// Print the drift of RSS and descriptors from the last warm-up minute
/// (or the first, with no warm-up) to the last minute, and the largest
/// value after the warm-up against the same base.
fn report_drift(minutes: &[Minute], warmup: usize) {
    let base_at = warmup.clamp(1, minutes.len().max(1)) - 1;
    let (Some(base), Some(last)) = (minutes.get(base_at), minutes.last()) else {
        return;
    };
    let after = &minutes[base_at..];
    let drift = |b: f64, x: f64| (x - b) / b.max(1.0) * 100.0;
    let rss_max = after.iter().map(|m| m.rss_kib).max().unwrap_or(0);
    let fds_max = after.iter().map(|m| m.fds).max().unwrap_or(0);
    let rss = drift(base.rss_kib as f64, last.rss_kib as f64);
    let fds = drift(base.fds as f64, last.fds as f64);
    let verdict = |d: f64| {
        if d.abs() < DRIFT_GOAL_PERCENT {
            "within"
        } else {
            "OVER"
        }
    };
    println!(
        "\ndrift after the warm-up (minute {} → minute {}): RSS {:.1} → {:.1} MiB = {rss:+.1} % ({} the {DRIFT_GOAL_PERCENT} % goal; largest {:.1} MiB, {:+.1} %); open fds {} → {} = {fds:+.1} % ({}; largest {fds_max})",
        base_at + 1,
        minutes.len(),
        base.rss_kib as f64 / 1024.0,
        last.rss_kib as f64 / 1024.0,
        verdict(rss),
        rss_max as f64 / 1024.0,
        drift(base.rss_kib as f64, rss_max as f64),
        base.fds,
        last.fds,
        verdict(fds),
    );
    // Sockets come and go with the connections (the generator's and the
    // sink's pool); what leaks shows in the other descriptors and in the
    // trend, which one minute's count does not swing.
    let others = |m: &Minute| (m.fds - m.sockets.min(m.fds)) as f64;
    let series = |f: &dyn Fn(&Minute) -> f64| after.iter().map(f).collect::<Vec<f64>>();
    let sockets = series(&|m| m.sockets as f64);
    println!(
        "descriptors other than sockets {} → {} ({:+.1} %); sockets {}–{} after the warm-up",
        others(base),
        others(last),
        drift(others(base), others(last)),
        sockets.iter().copied().fold(f64::INFINITY, f64::min),
        sockets.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "trend after the warm-up (least squares over minutes {} to {}, start to end of the fitted line): RSS {:+.1} %, open fds {:+.1} %, descriptors other than sockets {:+.1} %",
        base_at + 1,
        minutes.len(),
        trend_percent(&series(&|m| m.rss_kib as f64)),
        trend_percent(&series(&|m| m.fds as f64)),
        trend_percent(&series(&others)),
    );
}

/// The change from the start to the end of the least-squares line through
/// `values` (one per minute), in percent of its start (0 for fewer than
/// two values or a line starting at or below 0).
fn trend_percent(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in values.iter().enumerate() {
        let dx = x as f64 - mean_x;
        sxy += dx * (y - mean_y);
        sxx += dx * dx;
    }
    let slope = sxy / sxx;
    let start = mean_y - slope * mean_x;
    if start <= 0.0 {
        return 0.0;
    }
    slope * (n - 1.0) / start * 100.0
}

/// The open file descriptors of the host's process (`/proc/<pid>/fd`),
/// and how many of them are sockets.
fn open_fds(host: &Host) -> (usize, usize) {
    let dir = Path::new("/proc").join(host.pid().to_string()).join("fd");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let (mut fds, mut sockets) = (0, 0);
    for e in entries.flatten() {
        fds += 1;
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        sockets += usize::from(target.to_string_lossy().starts_with("socket:"));
    }
    (fds, sockets)
}

#[cfg(test)]
mod tests {
    use super::trend_percent;

    #[test]
    fn the_trend_is_the_fitted_lines_change() {
        let line: Vec<f64> = (0..11).map(|x| 100.0 + x as f64).collect();
        assert!((trend_percent(&line) - 10.0).abs() < 1e-9);
        assert_eq!(trend_percent(&[16.0, 16.0, 16.0]), 0.0);
        // one step up at the very end moves the line less than the step
        let step = [16.0, 16.0, 16.0, 16.0, 17.0];
        assert!(trend_percent(&step) > 0.0 && trend_percent(&step) < 100.0 / 16.0);
        assert_eq!(trend_percent(&[5.0]), 0.0);
    }
}
