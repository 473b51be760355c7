//! Per-tenant admission: requests in flight, records and bytes per second,
//! and the tenant's share of the plugin pool.
//!
//! Over a quota the request is refused with 429 before anything is
//! processed, so nothing is lost: Firehose retries it with backoff (and
//! backs it up to S3 when its retry duration runs out, as for any error).
//! Rates use token buckets holding one second of tokens; a request may take
//! the bucket below zero (so a batch larger than one second of quota still
//! passes once the bucket is full), and the next requests are refused (429)
//! until the debt is paid back. The gates live as long as the tenant's quotas do:
//! a config reload that keeps them keeps their state.
//!
//! With `[quota_store]` the rate buckets are shared by every replica
//! ([`shared`], Redis); the gate's own buckets are then the fallback while
//! the store cannot be reached.

pub mod shared;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{OnUnreachable, TenantQuotas};
use shared::{Charge, SharedQuota, Verdict};

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// Over a quota or cooling down: retry later (429).
    #[error("{0}")]
    OverQuota(String),
    /// The host is shutting down (503).
    #[error("shutting down")]
    ShuttingDown,
}

/// A token bucket refilled at `rate` per second, holding at most one second of tokens.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            rate: rate as f64,
            tokens: rate as f64,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.last = now;
    }
}

/// The admission state of one tenant.
#[derive(Debug)]
pub struct TenantGate {
    tenant: String,
    quotas: TenantQuotas,
    in_flight: Arc<Semaphore>,
    batches: Arc<Semaphore>,
    rates: Mutex<(Option<Bucket>, Option<Bucket>)>,
    /// The shared store, if the config has one.
    store: Option<Arc<SharedQuota>>,
    /// Until when the shared buckets are in debt, as the store last said:
    /// requests are refused from their head until then without asking it.
    shared_debt_until: Mutex<Option<Instant>>,
}

/// Held while a request of the tenant is being processed.
#[derive(Debug)]
pub struct RequestPermit {
    _permit: OwnedSemaphorePermit,
}

impl TenantGate {
    /// A gate for `tenant` with `quotas`, its rates kept in this process.
    pub fn new(tenant: &str, quotas: &TenantQuotas) -> TenantGate {
        TenantGate::with_store(tenant, quotas, None)
    }

    /// A gate for `tenant` with `quotas`, its rates kept in `store` when
    /// there is one (and in this process while the store is unreachable,
    /// when its `on_unreachable` is `local`).
    pub fn with_store(
        tenant: &str,
        quotas: &TenantQuotas,
        store: Option<Arc<SharedQuota>>,
    ) -> TenantGate {
        TenantGate {
            tenant: tenant.to_string(),
            quotas: quotas.clone(),
            in_flight: Arc::new(Semaphore::new(quotas.max_requests_in_flight)),
            batches: Arc::new(Semaphore::new(quotas.max_concurrent_batches)),
            rates: Mutex::new((
                quotas.records_per_second.map(Bucket::new),
                quotas.bytes_per_second.map(Bucket::new),
            )),
            store,
            shared_debt_until: Mutex::new(None),
        }
    }

    /// The shared store this gate charges, if any.
    pub fn store(&self) -> Option<&Arc<SharedQuota>> {
        self.store.as_ref()
    }

    /// The quotas this gate enforces.
    pub fn quotas(&self) -> &TenantQuotas {
        &self.quotas
    }

    /// Take a request slot, or refuse: the tenant has
    /// `max_requests_in_flight` requests being processed already.
    pub fn enter(&self) -> Result<RequestPermit, QuotaError> {
        match self.in_flight.clone().try_acquire_owned() {
            Ok(p) => Ok(RequestPermit { _permit: p }),
            Err(_) => Err(QuotaError::OverQuota(format!(
                "tenant {} has {} requests in flight (max_requests_in_flight)",
                self.tenant, self.quotas.max_requests_in_flight
            ))),
        }
    }

    /// Refuse while a rate bucket is empty (a debt from earlier requests
    /// not yet paid back), charging nothing. Checked from the request head,
    /// before the body is read or decoded: a tenant over its rates costs
    /// the host a head per request, not a body to read and inflate.
    pub fn check_rates(&self) -> Result<(), QuotaError> {
        self.refuse_if_shared_debt(Instant::now())?;
        let mut rates = self
            .rates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (recs, byts) = &mut *rates;
        self.refuse_if_empty(recs, byts, Instant::now())
    }

    /// Charge `records` and `bytes` to the tenant's rates (in the shared
    /// store when there is one), or refuse without charging anything when a
    /// bucket is empty.
    pub async fn charge(&self, records: usize, bytes: usize) -> Result<(), QuotaError> {
        let Some(store) = &self.store else {
            return self.charge_local(records, bytes);
        };
        let mut buckets = Vec::with_capacity(2);
        if let Some(rate) = self.quotas.records_per_second {
            buckets.push(Charge {
                what: "records",
                rate,
                cost: records as u64,
            });
        }
        if let Some(rate) = self.quotas.bytes_per_second {
            buckets.push(Charge {
                what: "bytes",
                rate,
                cost: bytes as u64,
            });
        }
        if buckets.is_empty() {
            return Ok(());
        }
        self.refuse_if_shared_debt(Instant::now())?;
        match store.charge(&self.tenant, &buckets).await {
            Verdict::Charged { wait } => {
                self.set_shared_debt(wait);
                Ok(())
            }
            Verdict::Refused { bucket, wait } => {
                self.set_shared_debt(wait);
                let b = buckets.get(bucket).copied().unwrap_or(buckets[0]);
                Err(QuotaError::OverQuota(format!(
                    "tenant {} is over its {} per second quota ({}, shared by every replica); \
                     about {} ms until it has room",
                    self.tenant,
                    b.what,
                    b.rate,
                    wait.as_millis().max(1)
                )))
            }
            Verdict::Unreachable(why) => match store.on_unreachable() {
                // Logged by the store, at most once a second.
                OnUnreachable::Local => self.charge_local(records, bytes),
                OnUnreachable::Refuse => Err(QuotaError::OverQuota(format!(
                    "tenant {}: the shared quota store cannot be reached ({why}); \
                     refusing until it can (quota_store.on_unreachable = \"refuse\")",
                    self.tenant
                ))),
            },
        }
    }

    /// Remember that the shared buckets are in debt for `wait`.
    fn set_shared_debt(&self, wait: std::time::Duration) {
        let mut until = self
            .shared_debt_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *until = (!wait.is_zero()).then(|| Instant::now() + wait);
    }

    /// Refuse while the shared buckets are in debt, as the store last said.
    fn refuse_if_shared_debt(&self, now: Instant) -> Result<(), QuotaError> {
        let until = *self
            .shared_debt_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match until {
            Some(t) if t > now => Err(QuotaError::OverQuota(format!(
                "tenant {} is over its per second quota (shared by every replica); \
                 about {} ms until it has room",
                self.tenant,
                t.saturating_duration_since(now).as_millis().max(1)
            ))),
            _ => Ok(()),
        }
    }

    /// Charge `records` and `bytes` to this process's buckets, or refuse
    /// without charging anything when a bucket is empty.
    fn charge_local(&self, records: usize, bytes: usize) -> Result<(), QuotaError> {
        let mut rates = self
            .rates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (recs, byts) = &mut *rates;
        self.refuse_if_empty(recs, byts, Instant::now())?;
        if let Some(b) = recs {
            b.tokens -= records as f64;
        }
        if let Some(b) = byts {
            b.tokens -= bytes as f64;
        }
        Ok(())
    }

    /// Refill both buckets to `now`; refuse when either is empty.
    fn refuse_if_empty(
        &self,
        recs: &mut Option<Bucket>,
        byts: &mut Option<Bucket>,
        now: Instant,
    ) -> Result<(), QuotaError> {
        for (bucket, what) in [(recs, "records"), (byts, "bytes")] {
            if let Some(b) = bucket {
                b.refill(now);
                if b.tokens <= 0.0 {
                    let wait_ms = (-b.tokens / b.rate * 1000.0).ceil().max(1.0);
                    return Err(QuotaError::OverQuota(format!(
                        "tenant {} is over its {what} per second quota ({}); \
                         about {wait_ms} ms until it has room",
                        self.tenant, b.rate
                    )));
                }
            }
        }
        Ok(())
    }

    /// Wait for a plugin-batch slot of the tenant's share of the pool.
    pub async fn batch_slot(&self) -> Result<OwnedSemaphorePermit, QuotaError> {
        self.batches
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| QuotaError::ShuttingDown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas() -> TenantQuotas {
        TenantQuotas {
            max_requests_in_flight: 1,
            records_per_second: Some(100),
            bytes_per_second: None,
            memory_share_bytes: 1 << 30,
            max_batch_records: 10,
            max_concurrent_batches: 1,
        }
    }

    #[test]
    fn in_flight_is_bounded_and_released() {
        let g = TenantGate::new("t", &quotas());
        let p = g.enter().unwrap();
        let e = g.enter().unwrap_err();
        assert!(matches!(e, QuotaError::OverQuota(_)));
        assert!(e.to_string().contains("max_requests_in_flight"), "{e}");
        drop(p);
        assert!(g.enter().is_ok());
    }

    #[test]
    fn a_big_request_passes_once_then_the_debt_refuses_the_next() {
        let g = TenantGate::new("t", &quotas());
        g.charge_local(500, 0).unwrap();
        let e = g.charge_local(1, 0).unwrap_err();
        assert!(e.to_string().contains("records per second"), "{e}");
        // Refill by hand: five seconds later the debt of 400 is paid.
        {
            let mut r = g.rates.lock().unwrap();
            if let Some(b) = &mut r.0 {
                b.last -= std::time::Duration::from_secs(5);
            }
        }
        g.charge_local(1, 0).unwrap();
    }

    /// A store on a port nothing listens on.
    fn unreachable_store(on_unreachable: OnUnreachable) -> Arc<SharedQuota> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = crate::config::QuotaStoreConfig {
            url: crate::secret::Secret::new(format!("redis://127.0.0.1:{port}/0")),
            on_unreachable,
            timeout: std::time::Duration::from_millis(200),
            key_prefix: "weir:quota:".into(),
        };
        Arc::new(SharedQuota::new(&config).unwrap())
    }

    #[tokio::test]
    async fn an_unreachable_store_falls_back_to_local_buckets_or_refuses() {
        let local = TenantGate::with_store(
            "t",
            &quotas(),
            Some(unreachable_store(OnUnreachable::Local)),
        );
        // Fail open: the replica's own bucket (100 records/s) decides.
        local.charge(150, 0).await.unwrap();
        let e = local.charge(1, 0).await.unwrap_err();
        assert!(
            e.to_string().contains("records per second quota (100)"),
            "{e}"
        );
        let refuse = TenantGate::with_store(
            "t",
            &quotas(),
            Some(unreachable_store(OnUnreachable::Refuse)),
        );
        // Fail closed: 429 while the store cannot be reached.
        let e = refuse.charge(1, 0).await.unwrap_err();
        assert!(e.to_string().contains("cannot be reached"), "{e}");
        // A tenant without rate quotas never asks the store.
        let free = TenantQuotas {
            records_per_second: None,
            ..quotas()
        };
        let g = TenantGate::with_store("t", &free, Some(unreachable_store(OnUnreachable::Refuse)));
        g.charge(1_000_000, 0).await.unwrap();
    }

    #[test]
    fn a_tenant_in_debt_is_refused_from_the_head_without_a_charge() {
        let g = TenantGate::new("t", &quotas());
        g.check_rates().unwrap();
        g.charge_local(150, 0).unwrap();
        let e = g.check_rates().unwrap_err();
        assert!(e.to_string().contains("records per second"), "{e}");
        // The check charged nothing: half a second pays the debt of 50.
        {
            let mut r = g.rates.lock().unwrap();
            if let Some(b) = &mut r.0 {
                b.last -= std::time::Duration::from_millis(510);
            }
        }
        g.check_rates().unwrap();
    }
}

/// After a batch of a route runs out of time (or fuel), the route refuses
/// requests with 429 for a cool-down that doubles with each further such
/// batch (1 s, 2 s, 4 s … up to a minute) and resets on the first batch
/// that finishes. A plugin that loops then costs one deadline per cool-down
/// instead of a core: its neighbours keep the CPU, and Firehose keeps the
/// refused requests and retries them (backing them up to S3 if its retry
/// duration runs out). A hot swap builds a new route, with a clean slate.
#[derive(Debug, Default)]
pub struct PluginBreaker {
    state: Mutex<(u32, Option<Instant>)>,
}

/// The first cool-down after an expensive failure.
pub const BREAKER_BASE: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest cool-down.
pub const BREAKER_MAX: std::time::Duration = std::time::Duration::from_secs(60);

impl PluginBreaker {
    /// Refuse while cooling down.
    pub fn check(&self, route: &str) -> Result<(), QuotaError> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.1 {
            Some(until) if until > Instant::now() => Err(QuotaError::OverQuota(format!(
                "route {route}: its plugin ran out of time on {} batch(es) in a row; \
                 refusing for {} ms more so it cannot starve other routes",
                state.0,
                until.saturating_duration_since(Instant::now()).as_millis()
            ))),
            _ => Ok(()),
        }
    }

    /// Record how a batch ended: `expensive` for a timeout or fuel exhaustion.
    pub fn record(&self, expensive: bool) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if expensive {
            state.0 = state.0.saturating_add(1);
            let factor = 1u32 << (state.0 - 1).min(6);
            state.1 = Some(Instant::now() + (BREAKER_BASE * factor).min(BREAKER_MAX));
        } else {
            *state = (0, None);
        }
    }
}

#[cfg(test)]
mod breaker_tests {
    use super::*;

    #[test]
    fn cools_down_doubling_and_resets() {
        let b = PluginBreaker::default();
        b.check("r").unwrap();
        b.record(true);
        let e = b.check("r").unwrap_err();
        assert!(matches!(e, QuotaError::OverQuota(_)));
        assert!(e.to_string().contains("ran out of time on 1 batch"), "{e}");
        b.record(true);
        let until = b.state.lock().unwrap().1.unwrap();
        assert!(
            until > Instant::now() + std::time::Duration::from_millis(1500),
            "doubled"
        );
        b.record(false);
        b.check("r").unwrap();
    }
}
