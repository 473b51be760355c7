//! `idle-plugins`: the RSS each loaded, idle plugin adds.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use weir_load::config_toml::route;

use super::Setting;
use crate::args::{Args, hostile_plugin};
use crate::host::ProcSample;

/// `bytes` with a custom section appended: the same program, another digest.
fn with_custom_section(bytes: &[u8], tag: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let name = b"weir-load-copy";
    let payload = tag.to_le_bytes();
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0);
    leb(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// Write `--plugins` + 1 distinct copies of `bytes` into `sub`: the routes
/// of the first one alone, and of all of them.
fn write_copies(args: &Args, sub: &Path, bytes: &[u8]) -> anyhow::Result<(String, String)> {
    let idle_route = |i: usize, path: &Path| {
        let (url_path, index) = (format!("/idle/{i}"), format!("idle-{i}"));
        let plugin = path.display().to_string();
        route(&url_path, "load", &plugin, &index, "search")
            + "plugin_config = { mode = \"echo\" }\n"
    };
    let mut one = String::new();
    let mut many = String::new();
    for i in 0..=args.plugins {
        let p = sub.join(format!("copy-{i}.wasm"));
        std::fs::write(&p, with_custom_section(bytes, i))?;
        if i == 0 {
            one.push_str(&idle_route(i, &p));
        }
        many.push_str(&idle_route(i, &p));
    }
    Ok((one, many))
}

/// Start a host with `routes`, let it settle, and sample it: its memory,
/// and how long it took to be ready.
async fn settled_sample(
    s: &Setting<'_>,
    sub: &Path,
    name: &str,
    routes: &str,
) -> anyhow::Result<(ProcSample, Duration)> {
    let host = s.start(sub, name, Some(routes)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((host.sample(), host.ready_after))
}

/// RSS with WAF and one plugin loaded, then with `--plugins` more (distinct
/// copies, so none is shared), and the difference per plugin.
pub(crate) async fn idle_plugins(s: &Setting<'_>) -> anyhow::Result<()> {
    let args = s.args;
    let plugin = args.idle_plugin.clone().unwrap_or_else(hostile_plugin);
    let bytes = std::fs::read(&plugin).with_context(|| {
        format!(
            "reading {} (build it with `cargo test -p weir-tests --no-run`, or pass --idle-plugin)",
            plugin.display()
        )
    })?;
    let sub = s.subdir("idle")?;
    let (one, many) = write_copies(args, &sub, &bytes)?;
    // Warm the cache first so both starts only map compiled code.
    drop(s.start(&sub, "idle-warm", Some(&many)).await?);
    let (s1, _) = settled_sample(s, &sub, "idle-1", &one).await?;
    let (sn, ready_n) = settled_sample(s, &sub, "idle-n", &many).await?;
    let per = (sn.rss_kib as f64 - s1.rss_kib as f64) / args.plugins as f64 / 1024.0;
    println!(
        "\n== idle loaded plugins ({} B component, {} distinct copies)\n  RSS with WAF + 1 plugin     {:.1} MiB\n  RSS with WAF + {} plugins  {:.1} MiB (ready after {:.0} ms, warm cache)\n  per additional plugin       {per:.2} MiB",
        bytes.len(),
        args.plugins + 1,
        s1.rss_kib as f64 / 1024.0,
        args.plugins + 1,
        sn.rss_kib as f64 / 1024.0,
        ready_n.as_secs_f64() * 1000.0
    );
    Ok(())
}
