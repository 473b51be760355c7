//! `throughput` (one run at `--rate`) and `sweep` (flat out, then half
//! that rate with a `_bulk` per request).

use std::sync::Arc;

use super::Setting;
use crate::bodies::Body;
use crate::drive::drive;

/// One run at `--rate` (0: flat out).
pub(crate) async fn throughput(s: &Setting<'_>, bodies: &Arc<Vec<Body>>) -> anyhow::Result<()> {
    let host = s.start(s.dir, "throughput", None).await?;
    let r = drive(s.args, &host, bodies, s.args.rate).await?;
    r.print("throughput", s.args, &host);
    Ok(())
}

/// Flat out, then at half the rate reached.
pub(crate) async fn sweep(s: &Setting<'_>, bodies: &Arc<Vec<Body>>) -> anyhow::Result<()> {
    let host = s.start(s.dir, "sweep", None).await?;
    let max = drive(s.args, &host, bodies, 0.0).await?;
    max.print("maximum rate", s.args, &host);
    let half = max.tally.requests as f64 / max.window.as_secs_f64() / 2.0;
    let r = drive(s.args, &host, bodies, half).await?;
    r.print("half the maximum rate, a _bulk per request", s.args, &host);
    Ok(())
}
