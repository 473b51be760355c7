//! `startup`: from spawn to ready, with a cold and with a warm plugin cache.

use weir_load::config_toml::route;

use super::Setting;
use crate::host::Host;

/// Start the five built-ins once with an empty cache and five times with
/// a warm one, and print how long each took to be ready.
pub(crate) async fn startup(s: &Setting<'_>) -> anyhow::Result<()> {
    let sub = s.subdir("startup")?;
    // The five built-ins, as in the example config.
    let mut extra = String::new();
    for (path, plugin) in [
        ("cloudtrail", "cloudwatch-logs"),
        ("vpc-flow", "vpc-flow"),
        ("securityhub", "securityhub"),
        ("route53-resolver", "route53-resolver"),
    ] {
        let (url_path, plugin) = (format!("/firehose/{path}"), format!("builtin:{plugin}"));
        extra.push_str(&route(&url_path, "load", &plugin, path, "search"));
    }
    let config = s.config(&sub, Some(&extra));
    let cold = Host::start(s.weir, &sub, "cold", &config).await?;
    let cold_ms = cold.ready_after.as_secs_f64() * 1000.0;
    drop(cold);
    let mut warm = Vec::new();
    for i in 0..5 {
        let h = Host::start(s.weir, &sub, &format!("warm{i}"), &config).await?;
        warm.push(h.ready_after.as_secs_f64() * 1000.0);
    }
    warm.sort_by(f64::total_cmp);
    println!(
        "\n== start to ready (spawn → /readyz 200), five built-in plugins\n  cold cache   {cold_ms:.0} ms (compiles every plugin)\n  warm cache   median {:.0} ms, min {:.0} ms, max {:.0} ms over 5 starts",
        warm[2], warm[0], warm[4]
    );
    Ok(())
}
