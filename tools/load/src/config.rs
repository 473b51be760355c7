//! The config each scenario's `weir serve` runs with.

use std::path::Path;
use std::sync::Arc;

use weir_load::config_toml::{directory_sink, opensearch_sink, route, tenant};

use crate::args::{Args, KEY, METRICS_TOKEN};

/// A config's text, and the client TLS config that trusts its certificate.
pub(crate) struct HostConfig {
    /// The TOML.
    pub(crate) text: String,
    /// Set when the host serves HTTPS.
    pub(crate) client_tls: Option<Arc<rustls::ClientConfig>>,
}

/// Tenant `load` with route `/firehose/waf` (`builtin:<--source>`, WAF
/// by default, or the `--plugin` file → the OpenSearch sink,
/// with `--plugin-config`), `[geoip]` from `--geoip-city`/`--geoip-asn`,
/// plus `extra` TOML; TLS when asked.
pub(crate) fn host_config(
    args: &Args,
    dir: &Path,
    bulk_url: &str,
    extra: Option<&str>,
) -> HostConfig {
    let (server, client_tls) = if args.tls {
        match self_signed(dir) {
            Ok((server, client)) => (server, Some(client)),
            Err(e) => {
                eprintln!("cannot make a certificate ({e}); using plain HTTP");
                ("plain_http = true".to_string(), None)
            }
        }
    } else {
        ("plain_http = true".to_string(), None)
    };
    let cache = dir.join("cache").display().to_string();
    let mut text = format!(
        "\n[server]\nlisten = \"127.0.0.1:0\"\nmetrics_token = {METRICS_TOKEN:?}\n{server}\n\n[plugins]\ncache_dir = {cache:?}\nmax_concurrent_batches = 4\n"
    );
    text.push_str(&directory_sink("dead", &dir.join("dead-letters")));
    text.push_str(&opensearch_sink(
        "search",
        bulk_url,
        "dead",
        args.bulk_max_age_ms,
    ));
    text.push_str(&tenant("load", &[KEY]));
    text.push_str(&route(
        crate::drive::WAF_PATH,
        "load",
        &args.plugin.as_ref().map_or_else(
            || format!("builtin:{}", args.source),
            |p| p.display().to_string(),
        ),
        &args.source,
        "search",
    ));
    if let Some(options) = &args.plugin_config {
        text.push_str(&format!("plugin_config = {{ {options} }}\n"));
    }
    if args.geoip_city.is_some() || args.geoip_asn.is_some() {
        text.push_str("\n[geoip]\n");
        for (key, path) in [("city", &args.geoip_city), ("asn", &args.geoip_asn)] {
            if let Some(path) = path {
                text.push_str(&format!("{key} = {:?}\n", path.display().to_string()));
            }
        }
    }
    text.push_str(extra.unwrap_or(""));
    text.push('\n');
    HostConfig { text, client_tls }
}

/// A certificate for `localhost`: the `[server.tls]` lines and a client config trusting it.
fn self_signed(dir: &Path) -> anyhow::Result<(String, Arc<rustls::ClientConfig>)> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem())?;
    std::fs::write(&key, ck.signing_key.serialize_pem())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone())?;
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok((
        format!(
            "[server.tls]\ncert = {:?}\nkey = {:?}",
            cert.display().to_string(),
            key.display().to_string()
        ),
        Arc::new(client),
    ))
}
