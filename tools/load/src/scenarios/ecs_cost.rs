//! `ecs-cost`: what the ECS fields and GeoIP cost one source (issue #12's
//! check): `--rounds` alternating pairs of runs of one host binary, ECS
//! off (`ecs = false` in the route's `plugin_config`) against ECS on with
//! GeoIP, each a fresh host; records per CPU-second of the host, the ratio
//! of each pair, the median of those ratios and the ratio of the medians.
//! The machine is shared, so the pairs' spread is printed too: a ratio is
//! only as firm as the rounds agree.

use std::sync::Arc;

use super::Setting;
use crate::args::{Args, workspace};
use crate::bodies::Body;
use crate::drive::drive;

/// Records per CPU-second of the host of one run.
async fn run(s: &Setting<'_>, bodies: &Arc<Vec<Body>>, name: &str) -> anyhow::Result<f64> {
    let dir = s.subdir(name)?;
    let host = s.start(&dir, name, None).await?;
    let r = drive(s.args, &host, bodies, s.args.rate).await?;
    Ok(r.records_per_cpu_s())
}

/// The two settings' command lines: ECS off, and ECS on with GeoIP (the
/// MaxMind test databases unless `--geoip-city`/`--geoip-asn` name
/// others; the off runs load the same databases, so only the switch
/// differs).
fn modes(args: &Args) -> (Args, Args) {
    let mut on = args.clone();
    if on.geoip_city.is_none() && on.geoip_asn.is_none() {
        let geoip = workspace().join("tests/fixtures/geoip");
        on.geoip_city = Some(geoip.join("GeoIP2-City-Test.mmdb"));
        on.geoip_asn = Some(geoip.join("GeoLite2-ASN-Test.mmdb"));
    }
    let mut off = on.clone();
    off.plugin_config = Some(match &args.plugin_config {
        Some(options) => format!("{options}, ecs = false"),
        None => "ecs = false".to_string(),
    });
    (off, on)
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Alternate ECS off and on, `--rounds` times, and print each pair and
/// the summary.
pub(crate) async fn ecs_cost(s: &Setting<'_>, bodies: &Arc<Vec<Body>>) -> anyhow::Result<()> {
    // the options are the inside of a TOML inline table: `a = 1, ecs = true`
    let names_ecs = |options: &str| {
        options
            .split(',')
            .any(|kv| kv.split('=').next().is_some_and(|key| key.trim() == "ecs"))
    };
    if s.args.plugin_config.as_deref().is_some_and(names_ecs) {
        anyhow::bail!("--scenario ecs-cost switches `ecs` itself: leave it out of --plugin-config");
    }
    let (off_args, on_args) = modes(s.args);
    let setting = |args| Setting {
        args,
        weir: s.weir,
        dir: s.dir,
        bulk: s.bulk.clone(),
    };
    let (off, on) = (setting(&off_args), setting(&on_args));
    let rate = match s.args.rate {
        r if r > 0.0 => format!("{r} requests/s"),
        _ => "flat out".to_string(),
    };
    println!(
        "\n== ECS cost, {}: records per CPU-second of the host, ECS off against ECS on + GeoIP, {rate}, {} connections, {} s measured per run",
        s.args.source, s.args.connections, s.args.duration
    );
    println!("| round | ECS off | ECS on + GeoIP | ratio (on / off) |");
    println!("|---:|---:|---:|---:|");
    let (mut offs, mut ons, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..s.args.rounds.max(1) {
        // alternate which goes first, so that a drift in the machine's
        // load does not favour one side
        let name = |mode: &str| format!("ecs-cost-{round}-{mode}");
        let (a, b) = if round % 2 == 0 {
            let a = run(&off, bodies, &name("off")).await?;
            (a, run(&on, bodies, &name("on")).await?)
        } else {
            let b = run(&on, bodies, &name("on")).await?;
            (run(&off, bodies, &name("off")).await?, b)
        };
        let ratio = b / a.max(1e-9);
        println!("| {} | {a:.0} | {b:.0} | {ratio:.3} |", round + 1);
        offs.push(a);
        ons.push(b);
        ratios.push(ratio);
    }
    let (lo, hi) = ratios.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
        (lo.min(*r), hi.max(*r))
    });
    println!(
        "median of the pairs {:.3} (from {lo:.3} to {hi:.3}); ratio of the medians {:.3} ({:.0} / {:.0})",
        median(ratios),
        median(ons.clone()) / median(offs.clone()).max(1e-9),
        median(ons),
        median(offs)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
