//! Counters for Prometheus, per tenant and route, rendered by hand in the
//! text exposition format (`GET /metrics`). Counters outlive config reloads:
//! they are keyed by tenant and route name, not by the pipeline that counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::budget::BudgetSnapshot;

/// The counters of one route.
#[derive(Debug, Default)]
pub struct RouteCounters {
    /// Requests answered 200.
    pub requests_ok: AtomicU64,
    /// Requests answered otherwise (any error, including quota).
    pub requests_failed: AtomicU64,
    /// Requests refused over a quota (429).
    pub quota_rejections: AtomicU64,
    /// Records received (in requests that were admitted).
    pub records_in: AtomicU64,
    /// Request body bytes received (admitted requests).
    pub bytes_in: AtomicU64,
    /// Documents made durable in the sink.
    pub documents_out: AtomicU64,
    /// Records the plugin dropped on purpose.
    pub records_dropped: AtomicU64,
    /// Records dead-lettered (plugin failure or sink rejection).
    pub records_failed: AtomicU64,
    /// Plugin calls.
    pub plugin_batches: AtomicU64,
    /// Plugin calls that failed as a whole (trap, timeout, memory, fuel, output cap).
    pub plugin_failures: AtomicU64,
    /// Time in plugin calls (instantiate + call), nanoseconds.
    pub plugin_nanos: AtomicU64,
    /// Request durations (request received → response ready), per bucket of
    /// [`LATENCY_BUCKETS`] (not cumulative; the last is +Inf).
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of request durations, nanoseconds.
    pub latency_nanos: AtomicU64,
}

/// Upper bounds (seconds) of the request-duration histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 19] = [
    0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 5.0, 30.0,
];

impl RouteCounters {
    /// Add `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Count one request that took `took`, from received to answered.
    pub fn request_took(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        Self::add(&self.latency_buckets[i], 1);
        Self::add(&self.latency_nanos, took.as_nanos() as u64);
    }

    /// Count one plugin call of `took`.
    pub fn plugin_call(&self, took: Duration, failed: bool) {
        Self::add(&self.plugin_batches, 1);
        Self::add(&self.plugin_nanos, took.as_nanos() as u64);
        if failed {
            Self::add(&self.plugin_failures, 1);
        }
    }
}

/// Every route's counters, plus gauges the server sets.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String), Arc<RouteCounters>>>,
    /// Config reloads that took effect.
    pub reloads_ok: AtomicU64,
    /// Config reloads refused (the old config kept serving).
    pub reloads_failed: AtomicU64,
    /// Requests with no route or refused before a route was known.
    pub unrouted_requests: AtomicU64,
    /// GeoIP databases mapped again after their file changed.
    pub geoip_reloads_ok: AtomicU64,
    /// GeoIP database reloads that failed (the old one kept serving).
    pub geoip_reloads_failed: AtomicU64,
    /// Client connections open now on `server.listen` (a gauge).
    pub connections_open: AtomicU64,
    /// Client connections closed at once because `server.max_connections`
    /// were open.
    pub connections_refused: AtomicU64,
}

/// A sink's counters read at render time.
#[derive(Debug, Clone)]
pub struct SinkGauge {
    /// Sink name.
    pub name: String,
    /// `_bulk` retries so far (sinks that retry `_bulk`).
    pub bulk_retries: Option<u64>,
    /// Torn file tails cut back so far (sinks that append to files).
    pub torn_tails_repaired: Option<u64>,
}

impl Metrics {
    /// The counters of `tenant`/`route`, created on first use.
    pub fn route(&self, tenant: &str, route: &str) -> Arc<RouteCounters> {
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((tenant.to_string(), route.to_string()))
            .or_default()
            .clone()
    }

    /// Render in the Prometheus text format.
    pub fn render(
        &self,
        sinks: &[SinkGauge],
        plugins_loaded: usize,
        memory: &BudgetSnapshot,
    ) -> String {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut out = String::new();
        render_route_counters(&mut out, &routes);
        render_latency(&mut out, &routes);
        for (name, help, value) in [
            (
                "weir_bulk_retries_total",
                "OpenSearch _bulk attempts that were retries.",
                (|s| s.bulk_retries) as fn(&SinkGauge) -> Option<u64>,
            ),
            (
                "weir_directory_torn_tails_repaired_total",
                "Torn file tails (an append cut short by a crash or a full disk) cut back to the last whole record.",
                |s| s.torn_tails_repaired,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for s in sinks {
                if let Some(v) = value(s) {
                    let _ = writeln!(out, "{name}{{sink=\"{}\"}} {v}", escape(&s.name));
                }
            }
        }
        for (name, help, v) in [
            (
                "weir_config_reloads_total",
                "Config reloads that took effect.",
                &self.reloads_ok,
            ),
            (
                "weir_config_reload_failures_total",
                "Config reloads refused; the previous config kept serving.",
                &self.reloads_failed,
            ),
            (
                "weir_unrouted_requests_total",
                "Requests for no route.",
                &self.unrouted_requests,
            ),
            (
                "weir_geoip_reloads_total",
                "GeoIP databases mapped again after their file changed.",
                &self.geoip_reloads_ok,
            ),
            (
                "weir_geoip_reload_failures_total",
                "GeoIP database reloads that failed; the previous database kept serving.",
                &self.geoip_reloads_failed,
            ),
            (
                "weir_connections_refused_total",
                "Connections closed at once because server.max_connections were open.",
                &self.connections_refused,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let name = "weir_connections_open";
        let _ = writeln!(
            out,
            "# HELP {name} Client connections open on server.listen.\n# TYPE {name} gauge\n{name} {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP weir_plugins_loaded Plugins loaded in the serving config.\n# TYPE weir_plugins_loaded gauge\nweir_plugins_loaded {plugins_loaded}"
        );
        render_memory(&mut out, memory);
        out
    }
}

/// The counters of every route, by (tenant, route).
type Routes = BTreeMap<(String, String), Arc<RouteCounters>>;

/// A route counter family: name, help, the counter.
type Family = (&'static str, &'static str, fn(&RouteCounters) -> &AtomicU64);

/// Every per-route counter family, in the order they are rendered.
const ROUTE_FAMILIES: [Family; 10] = [
    ("weir_requests_ok_total", "Requests answered 200.", |c| {
        &c.requests_ok
    }),
    (
        "weir_requests_failed_total",
        "Requests answered with an error status.",
        |c| &c.requests_failed,
    ),
    (
        "weir_quota_rejections_total",
        "Requests refused with 429 over a tenant quota.",
        |c| &c.quota_rejections,
    ),
    (
        "weir_records_in_total",
        "Records received in admitted requests.",
        |c| &c.records_in,
    ),
    (
        "weir_bytes_in_total",
        "Request body bytes of admitted requests.",
        |c| &c.bytes_in,
    ),
    (
        "weir_documents_out_total",
        "Documents made durable in the sink.",
        |c| &c.documents_out,
    ),
    (
        "weir_records_dropped_total",
        "Records the plugin dropped on purpose.",
        |c| &c.records_dropped,
    ),
    ("weir_records_failed_total", "Records dead-lettered.", |c| {
        &c.records_failed
    }),
    ("weir_plugin_batches_total", "Plugin calls.", |c| {
        &c.plugin_batches
    }),
    (
        "weir_plugin_failures_total",
        "Plugin calls that failed as a whole.",
        |c| &c.plugin_failures,
    ),
];

/// The per-route counters and the plugin time.
fn render_route_counters(out: &mut String, routes: &Routes) {
    for (name, help, get) in ROUTE_FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for ((tenant, route), c) in routes {
            let _ = writeln!(
                out,
                "{name}{{tenant=\"{}\",route=\"{}\"}} {}",
                escape(tenant),
                escape(route),
                get(c).load(Ordering::Relaxed)
            );
        }
    }
    let name = "weir_plugin_seconds_total";
    let _ = writeln!(
        out,
        "# HELP {name} Time in plugin calls (instantiate and call).\n# TYPE {name} counter"
    );
    for ((tenant, route), c) in routes {
        let _ = writeln!(
            out,
            "{name}{{tenant=\"{}\",route=\"{}\"}} {:.6}",
            escape(tenant),
            escape(route),
            c.plugin_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
    }
}

/// The request-duration histogram of every route.
fn render_latency(out: &mut String, routes: &Routes) {
    let name = "weir_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Firehose requests, from received (headers read) to answered.\n# TYPE {name} histogram"
    );
    for ((tenant, route), c) in routes {
        let (tenant, route) = (escape(tenant), escape(route));
        let mut cumulative = 0;
        for (i, bucket) in c.latency_buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{tenant=\"{tenant}\",route=\"{route}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_sum{{tenant=\"{tenant}\",route=\"{route}\"}} {:.6}\n{name}_count{{tenant=\"{tenant}\",route=\"{route}\"}} {cumulative}",
            c.latency_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
    }
}

/// The memory budget: its limit, what is reserved (in all and per
/// tenant), and the requests it refused per tenant.
fn render_memory(out: &mut String, m: &BudgetSnapshot) {
    for (name, help, v) in [
        (
            "weir_memory_budget_bytes",
            "The memory budget for request buffers (limits.memory_budget_bytes).",
            m.limit,
        ),
        (
            "weir_memory_reserved_bytes",
            "Bytes of the memory budget reserved by requests in flight.",
            m.reserved,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    let name = "weir_memory_tenant_reserved_bytes";
    let _ = writeln!(
        out,
        "# HELP {name} Bytes of the memory budget reserved by the tenant's requests in flight.\n# TYPE {name} gauge"
    );
    for (tenant, v) in &m.tenants {
        let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {v}", escape(tenant));
    }
    let name = "weir_memory_budget_refusals_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests refused with 503: over the memory budget or the tenant's share.\n# TYPE {name} counter"
    );
    for (tenant, v) in &m.refusals {
        let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {v}", escape(tenant));
    }
}

/// Escape a label value (`\`, `"` and newlines).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_per_route() {
        let m = Metrics::default();
        let c = m.route("acme", "waf");
        RouteCounters::add(&c.records_in, 3);
        c.plugin_call(Duration::from_millis(1500), false);
        let memory = BudgetSnapshot {
            limit: 100,
            reserved: 40,
            tenants: [("acme".to_string(), 40)].into(),
            refusals: [("acme".to_string(), 3)].into(),
        };
        let text = m.render(
            &[
                SinkGauge {
                    name: "os".into(),
                    bulk_retries: Some(2),
                    torn_tails_repaired: None,
                },
                SinkGauge {
                    name: "local".into(),
                    bulk_retries: None,
                    torn_tails_repaired: Some(1),
                },
            ],
            1,
            &memory,
        );
        for line in [
            "weir_memory_budget_bytes 100",
            "weir_memory_reserved_bytes 40",
            "weir_memory_tenant_reserved_bytes{tenant=\"acme\"} 40",
            "weir_memory_budget_refusals_total{tenant=\"acme\"} 3",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(
            text.contains("weir_records_in_total{tenant=\"acme\",route=\"waf\"} 3"),
            "{text}"
        );
        assert!(text.contains("weir_plugin_seconds_total{tenant=\"acme\",route=\"waf\"} 1.500000"));
        assert!(text.contains("weir_bulk_retries_total{sink=\"os\"} 2"));
        assert!(text.contains("weir_directory_torn_tails_repaired_total{sink=\"local\"} 1"));
        assert!(!text.contains("weir_bulk_retries_total{sink=\"local\"}"));
        assert!(!text.contains("weir_directory_torn_tails_repaired_total{sink=\"os\"}"));
        c.request_took(Duration::from_micros(2500));
        c.request_took(Duration::from_secs(60));
        let text = m.render(&[], 1, &BudgetSnapshot::default());
        for line in [
            "weir_request_duration_seconds_bucket{tenant=\"acme\",route=\"waf\",le=\"0.002\"} 0",
            "weir_request_duration_seconds_bucket{tenant=\"acme\",route=\"waf\",le=\"0.003\"} 1",
            "weir_request_duration_seconds_bucket{tenant=\"acme\",route=\"waf\",le=\"30\"} 1",
            "weir_request_duration_seconds_bucket{tenant=\"acme\",route=\"waf\",le=\"+Inf\"} 2",
            "weir_request_duration_seconds_count{tenant=\"acme\",route=\"waf\"} 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text.contains("# TYPE weir_records_in_total counter"));
        RouteCounters::add(&m.connections_open, 3);
        RouteCounters::add(&m.connections_refused, 2);
        let text = m.render(&[], 1, &BudgetSnapshot::default());
        assert!(text.contains("# TYPE weir_connections_open gauge\nweir_connections_open 3\n"));
        assert!(
            text.contains("\nweir_connections_refused_total 2\n"),
            "{text}"
        );
        assert!(
            Arc::ptr_eq(&c, &m.route("acme", "waf")),
            "same counters after a reload"
        );
    }
}
