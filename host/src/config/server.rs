//! `[server]`: where to listen, and TLS (or an explicit `plain_http`);
//! `[geoip]`: the process's GeoIP databases.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::limits::in_range;
use super::raw::{RawGeoIp, RawServer};

/// Default `server.max_connections`. Firehose keeps a few connections per
/// delivery stream, so hundreds of streams stay far below it; each idle
/// connection costs a descriptor and some tens of KiB (TLS state and read
/// buffer), so the cap also bounds that memory; and it fits well inside
/// the usual descriptor limits a service gets (systemd's hard limit of
/// 524,288, containerd's 1,048,576) with room left for sink files.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Largest `server.max_connections`.
pub const MAX_MAX_CONNECTIONS: usize = 1 << 20;
/// Default `server.handshake_timeout_ms`: a TLS handshake takes a few
/// round trips; a client that has not finished in 10 s is not a Firehose.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Default `server.header_read_timeout_ms`: from a new connection (after
/// TLS), or from the first byte of a request on a kept-alive one, to the
/// end of the request head. Firehose's head is under 1 KiB and sent at once.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default `server.idle_timeout_ms`: how long a kept-alive connection may
/// wait for its next request. 60 s is the idle timeout of AWS's own load
/// balancers, which Firehose endpoints commonly sit behind, so Firehose's
/// connection reuse works as well as there.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;
/// Largest `server.handshake_timeout_ms` and `server.header_read_timeout_ms`.
pub const MAX_HEADER_TIMEOUT_MS: u64 = 300_000;
/// Largest `server.idle_timeout_ms`.
pub const MAX_IDLE_TIMEOUT_MS: u64 = 3_600_000;

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
    /// Bounds on client connections.
    pub connections: ConnectionLimits,
}

/// Bounds on client connections (`[server]`): how many may be open at
/// once, and how long each phase of one may last, so that idle or slow
/// clients cannot hold the process's descriptors. Read at start only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once on `server.listen`; a connection over it is
    /// accepted and closed at once (and counted as refused).
    pub max_connections: NonZeroUsize,
    /// Time for a TLS handshake, from accept.
    pub handshake_timeout: Duration,
    /// Time for a request head: from the start of a connection (after TLS),
    /// or from the first byte of a later request, to its last header.
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may wait, after a response, for the
    /// first byte of its next request.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: NonZeroUsize::new(DEFAULT_MAX_CONNECTIONS)
                .unwrap_or(NonZeroUsize::MIN),
            handshake_timeout: Duration::from_millis(DEFAULT_HANDSHAKE_TIMEOUT_MS),
            header_read_timeout: Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS),
        }
    }
}

/// `[server]`'s connection limits, each within its range.
fn validate_connections(raw: &RawServer, problems: &mut Vec<String>) -> ConnectionLimits {
    let mut limits = ConnectionLimits::default();
    if let Some(n) = raw.max_connections {
        let key = "server.max_connections";
        if let Some(n) = in_range(n, 1, MAX_MAX_CONNECTIONS, key, problems)
            && let Some(n) = NonZeroUsize::new(n)
        {
            limits.max_connections = n;
        }
    }
    for (value, max, key, slot) in [
        (
            raw.handshake_timeout_ms,
            MAX_HEADER_TIMEOUT_MS,
            "server.handshake_timeout_ms",
            &mut limits.handshake_timeout,
        ),
        (
            raw.header_read_timeout_ms,
            MAX_HEADER_TIMEOUT_MS,
            "server.header_read_timeout_ms",
            &mut limits.header_read_timeout,
        ),
        (
            raw.idle_timeout_ms,
            MAX_IDLE_TIMEOUT_MS,
            "server.idle_timeout_ms",
            &mut limits.idle_timeout,
        ),
    ] {
        if let Some(ms) = value
            && let Some(ms) = in_range(ms, 1, max, key, problems)
        {
            *slot = Duration::from_millis(ms);
        }
    }
    limits
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
    let connections = validate_connections(&raw, problems);
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
        connections,
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
