//! `wrk`: the same Firehose request sent by `wrk` (an independent, public
//! HTTP load generator; Debian's `wrk`) and by `weir-load`'s own
//! connections, alternating, against one `weir serve`: records per
//! CPU-second of the host and latency from each client (issue #17 item 1).
//!
//! `wrk` sends one fixed body (the first of the run's bodies, with its
//! request id) over `--connections` keep-alive connections as fast as it is
//! answered, with the headers Firehose sends (`wrk.lua` in the run's
//! directory: reuse it to drive any Weir by hand). `weir-load` then sends
//! the very same body the same way, so the two runs differ only in the
//! client.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::Setting;
use crate::args::KEY;
use crate::bodies::Body;
use crate::drive::{WAF_PATH, drive};

/// Rounds of (wrk, weir-load).
const ROUNDS: usize = 2;

/// What `wrk` printed that the comparison uses.
#[derive(Debug, Default, PartialEq)]
struct WrkOutput {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// "Non-2xx or socket errors" (0 when the line is absent).
    errors: u64,
}

/// Alternate `wrk` and `weir-load` on one body against one host.
pub(crate) async fn wrk(s: &Setting<'_>, bodies: &Arc<Vec<Body>>) -> anyhow::Result<()> {
    let wrk = which_wrk()?;
    let body = bodies.first().context("no request body")?.clone();
    let dir = s.subdir("wrk")?;
    let script = write_script(&dir, &body)?;
    let host = s.start(&dir, "wrk", None).await?;
    let url = format!("http://{}{WAF_PATH}", host.endpoint.addr);
    let one = Arc::new(vec![body.clone()]);
    println!(
        "\n== wrk against weir-load: one body of {} records ({:.0} KB), {} connections, {} s per run; wrk script: {}",
        body.records,
        body.json.len() as f64 / 1e3,
        s.args.connections,
        s.args.duration,
        script.display()
    );
    for round in 1..=ROUNDS {
        // warm-up, then the measured run
        run_wrk(&wrk, &script, &url, s.args.connections, s.args.warmup).await?;
        let before = host.sample();
        let out = run_wrk(&wrk, &script, &url, s.args.connections, s.args.duration).await?;
        let cpu = host.sample().cpu.saturating_sub(before.cpu).as_secs_f64();
        let records = out.requests_per_s * s.args.duration * body.records as f64;
        println!(
            "  round {round} wrk        {:.0} records/s, {:.0} records per CPU-second, p50 {:.2} ms, p99 {:.2} ms, {} non-2xx or socket errors",
            out.requests_per_s * body.records as f64,
            records / cpu.max(1e-9),
            out.p50_ms,
            out.p99_ms,
            out.errors
        );
        let r = drive(s.args, &host, &one, 0.0).await?;
        println!(
            "  round {round} weir-load  {:.0} records/s, {:.0} records per CPU-second, p50 {:.2} ms, p99 {:.2} ms, {} given up",
            r.records_per_s(),
            r.records_per_cpu_s(),
            r.percentile_ms(0.50),
            r.percentile_ms(0.99),
            r.tally.failed
        );
    }
    Ok(())
}

/// `wrk` on the PATH, or a clear error saying how to get it.
fn which_wrk() -> anyhow::Result<String> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok("wrk".to_string()),
        Err(_) => bail!("wrk not found: install it (Debian: apt-get install wrk)"),
    }
}

/// The body and a `wrk` Lua script that sends it with Firehose's headers.
fn write_script(dir: &Path, body: &Body) -> anyhow::Result<std::path::PathBuf> {
    let body_path = dir.join("body.json");
    std::fs::write(&body_path, &body.json)?;
    let encoding = if body.gzip {
        "wrk.headers[\"Content-Encoding\"] = \"gzip\"\n"
    } else {
        ""
    };
    let script = format!(
        "-- Weir: one Firehose request, sent again and again.\n\
         wrk.method = \"POST\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"X-Amz-Firehose-Protocol-Version\"] = \"1.0\"\n\
         wrk.headers[\"X-Amz-Firehose-Request-Id\"] = {id:?}\n\
         wrk.headers[\"X-Amz-Firehose-Access-Key\"] = {KEY:?}\n\
         {encoding}\
         local f = assert(io.open({path:?}, \"rb\"))\n\
         wrk.body = f:read(\"*a\")\n\
         f:close()\n",
        id = body.id,
        path = body_path.display().to_string(),
    );
    let script_path = dir.join("wrk.lua");
    std::fs::write(&script_path, script)?;
    Ok(script_path)
}

/// One `wrk` run of `seconds` (at least 1), on a blocking thread: this
/// runtime's thread keeps serving the null `_bulk` endpoint meanwhile.
async fn run_wrk(
    wrk: &str,
    script: &Path,
    url: &str,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<WrkOutput> {
    let secs = Duration::from_secs_f64(seconds.max(1.0)).as_secs().max(1);
    let mut cmd = Command::new(wrk);
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{secs}s"),
        "--latency",
        "-s",
    ])
    .arg(script)
    .arg(url);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text).with_context(|| format!("reading wrk's output:\n{text}"))
}

/// Requests/s, the 50 % and 99 % latencies, and the error count of `wrk
/// --latency`'s output.
fn parse_wrk(text: &str) -> Option<WrkOutput> {
    let mut out = WrkOutput::default();
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(v)) => out.requests_per_s = v.parse().ok()?,
            (Some("50%"), Some(v)) => out.p50_ms = millis(v)?,
            (Some("99%"), Some(v)) => out.p99_ms = millis(v)?,
            (Some("Non-2xx"), _) => out.errors = line.rsplit(' ').next()?.parse().ok()?,
            _ => {}
        }
    }
    (out.requests_per_s > 0.0).then_some(out)
}

/// A `wrk` duration (`812.00us`, `3.42ms`, `1.20s`) in ms.
fn millis(v: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    Some(number.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let text = "Running 8s test @ http://127.0.0.1:1/firehose/waf\n  1 threads and 4 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency    15.51ms    4.10ms  40.46ms   76.71%\n  Latency Distribution\n     50%   14.99ms\n     75%   17.29ms\n     90%   20.33ms\n     99%    1.02s\n  2058 requests in 8.00s, 253.27KB read\n  Non-2xx or socket errors: 3\nRequests/sec:    257.15\nTransfer/sec:     31.65KB\n";
        assert_eq!(
            parse_wrk(text),
            Some(WrkOutput {
                requests_per_s: 257.15,
                p50_ms: 14.99,
                p99_ms: 1020.0,
                errors: 3
            })
        );
        assert_eq!(millis("812.00us"), Some(0.812));
        assert_eq!(parse_wrk("nothing"), None);
    }
}
