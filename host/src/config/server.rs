//! `[server]`: where to listen, and TLS (or an explicit `plain_http`);
//! `[geoip]`: the process's GeoIP databases.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::raw::{RawGeoIp, RawServer};

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind.
    pub listen: SocketAddr,
    /// TLS, or `None` for plain HTTP (only when `plain_http = true`).
    pub tls: Option<TlsConfig>,
    /// `GET /metrics` wants `Authorization: Bearer <token>` when set (held
    /// as a SHA-256 digest). Metrics name every tenant and route.
    pub metrics_token: Option<crate::tenant::AccessKey>,
    /// When set, `/metrics` is served on this address (plain HTTP, with
    /// `/healthz` and `/readyz`) and not on `listen`.
    pub metrics_listen: Option<SocketAddr>,
}

/// TLS certificate chain and private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// `[server]`: a socket address, and TLS unless `plain_http = true` says
/// a TLS-terminating load balancer sits in front.
pub(super) fn validate_server(raw: RawServer, problems: &mut Vec<String>) -> ServerConfig {
    let listen = match raw.listen.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(e) => {
            problems.push(format!("server.listen: {e}: {:?}", raw.listen));
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    };
    let tls = match (raw.tls, raw.plain_http) {
        (Some(t), false) => Some(TlsConfig {
            cert: t.cert,
            key: t.key,
        }),
        (None, true) => None,
        (Some(_), true) => {
            problems
                .push("server: both `tls` and `plain_http = true` are set; choose one".to_string());
            None
        }
        (None, false) => {
            problems.push(
                "server: no `tls` section; set [server.tls] cert/key, or `plain_http = true` \
                 when a TLS-terminating load balancer sits in front"
                    .to_string(),
            );
            None
        }
    };
    let metrics_token = raw.metrics_token.and_then(|t| {
        crate::tenant::AccessKey::new(&t)
            .map_err(|e| problems.push(format!("server.metrics_token: {e}")))
            .ok()
    });
    let metrics_listen = raw
        .metrics_listen
        .and_then(|m| match m.parse::<SocketAddr>() {
            Ok(a) if a == listen => {
                problems.push("server.metrics_listen: the same address as server.listen".into());
                None
            }
            Ok(a) => Some(a),
            Err(e) => {
                problems.push(format!("server.metrics_listen: {e}: {m:?}"));
                None
            }
        });
    ServerConfig {
        listen,
        tls,
        metrics_token,
        metrics_listen,
    }
}

/// `[geoip]`: MaxMind-format databases the plugins' `enrich.geoip` answers
/// from, opened once per process and reloaded when their files change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoIpConfig {
    /// A City (or Country) database: `*.geo`.
    pub city: Option<PathBuf>,
    /// An ASN database: `*.as`.
    pub asn: Option<PathBuf>,
}

/// `[geoip]`: at least one database.
pub(super) fn validate_geoip(
    raw: Option<RawGeoIp>,
    problems: &mut Vec<String>,
) -> Option<GeoIpConfig> {
    let raw = raw?;
    if raw.city.is_none() && raw.asn.is_none() {
        problems.push("geoip: name a `city` database, an `asn` database, or both".to_string());
        return None;
    }
    Some(GeoIpConfig {
        city: raw.city,
        asn: raw.asn,
    })
}
