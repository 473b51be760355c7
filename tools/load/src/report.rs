//! What one run measured, and how it is printed.

use std::time::Duration;

use crate::args::Args;
use crate::drive::Tally;
use crate::host::Host;

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// The measured window (after the warm-up).
    pub(crate) window: Duration,
    /// What the connections counted within the window.
    pub(crate) tally: Tally,
    /// The host's CPU time over the window.
    pub(crate) cpu: Duration,
    /// The host's peak RSS at the window's end.
    pub(crate) peak_rss_kib: u64,
    /// The host's RSS at the window's end.
    pub(crate) rss_kib: u64,
    /// Requests per second offered (0: flat out).
    pub(crate) offered_rate: f64,
    /// Weir's own request-duration histogram over the window: (upper bound s, count).
    pub(crate) server_hist: Vec<(f64, u64)>,
}

impl Report {
    /// Records answered 200 per second of the window.
    pub(crate) fn records_per_s(&self) -> f64 {
        self.tally.records as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Records answered 200 per second of the host's CPU (user + sys) over
    /// the window.
    pub(crate) fn records_per_cpu_s(&self) -> f64 {
        self.tally.records as f64 / self.cpu.as_secs_f64().max(1e-9)
    }

    /// A percentile of the latencies seen by the generator, in ms.
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        if self.tally.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut v = self.tally.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    }

    /// A percentile of Weir's own histogram, interpolated within its bucket.
    pub(crate) fn server_percentile_ms(&self, p: f64) -> f64 {
        let total: u64 = self.server_hist.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return f64::NAN;
        }
        let want = (total as f64 * p).ceil();
        let (mut seen, mut lower) = (0u64, 0.0);
        for &(le, n) in &self.server_hist {
            if (seen + n) as f64 >= want && n > 0 {
                if le.is_infinite() {
                    return lower * 1000.0;
                }
                let frac = (want - seen as f64) / n as f64;
                return (lower + (le - lower) * frac) * 1000.0;
            }
            seen += n;
            lower = le;
        }
        lower * 1000.0
    }

    /// Print the run's figures under `== title`.
    pub(crate) fn print(&self, title: &str, args: &Args, host: &Host) {
        let rate = if self.offered_rate > 0.0 {
            format!("{:.0} requests/s offered", self.offered_rate)
        } else {
            "flat out".to_string()
        };
        println!(
            "\n== {title} ({rate}, {} connections, {} s measured)",
            args.connections,
            self.window.as_secs_f64()
        );
        println!(
            "  requests     {} answered 200, retried {} × 429 and {} × other, {} given up",
            self.tally.requests,
            self.tally.retries_429,
            self.tally.retries_other,
            self.tally.failed
        );
        println!(
            "  throughput   {:.0} records/s, {:.1} MB/s of records, {:.1} requests/s",
            self.records_per_s(),
            self.tally.record_bytes as f64 / 1e6 / self.window.as_secs_f64().max(1e-9),
            self.tally.requests as f64 / self.window.as_secs_f64().max(1e-9)
        );
        println!(
            "  latency      p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (request sent or due → 200 received)",
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0)
        );
        println!(
            "  in weir      p50 {:.2} ms, p99 {:.2} ms (request received → answered, from /metrics' histogram, interpolated in its buckets)",
            self.server_percentile_ms(0.50),
            self.server_percentile_ms(0.99)
        );
        let cpu = self.cpu.as_secs_f64();
        println!(
            "  host CPU     {cpu:.2} s user+sys in {:.1} s ({:.0}% of a core) → {:.0} records per CPU-second",
            self.window.as_secs_f64(),
            100.0 * cpu / self.window.as_secs_f64().max(1e-9),
            if cpu > 0.0 {
                self.records_per_cpu_s()
            } else {
                f64::NAN
            }
        );
        println!(
            "  host memory  RSS {:.1} MiB now, peak {:.1} MiB (ready after {:.0} ms)",
            self.rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0,
            host.ready_after.as_secs_f64() * 1000.0
        );
    }
}
