//! The process-wide memory budget for request buffers, and each tenant's
//! share of it.
//!
//! Every intake reserves bytes here *before* it buffers them: a Firehose
//! request its `Content-Length` (or the body cap when it has none) before
//! the body is read, then what its gzip body inflates to as it inflates,
//! then its records as base64 decodes them; an S3 notification the object
//! it fetches as the chunks arrive, then the object's inflated size. The
//! [`Reservation`] is held until the request is answered and released when
//! it is dropped, whatever the way out (an answer, an error, a panic that
//! unwinds, a client that goes away).
//!
//! What can be known ahead is reserved ahead ([`Reservation::reserve_ahead`]:
//! the size a gzip trailer announces, the records a body can decode to),
//! so that concurrent requests do not each take part of a share as they
//! inflate and then all fail: a request gets what it needs at once or is
//! refused before it spends anything. Growth past the announced size is
//! still reserved as it happens.
//!
//! A reservation that does not fit is refused at once, never waited for:
//! the tenant gets 503 and retries (Firehose retries every non-200), so a
//! burst costs a retry instead of memory. Two bounds apply: the budget
//! itself (`[limits] memory_budget_bytes`, all tenants together) and the
//! tenant's `memory_share_bytes`, so that one tenant's requests cannot take
//! the whole budget while another tenant's still fit.
//!
//! The budget outlives config reloads (a reload sets its limit), so the
//! reservations of requests still running on an old config keep counting.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Why a reservation was refused (503: retry later).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The tenant's requests already hold its share.
    #[error(
        "tenant {tenant} holds {held} bytes of request buffers; {wanted} more would pass its \
         memory_share_bytes of {share}"
    )]
    OverShare {
        /// The tenant.
        tenant: String,
        /// Bytes its requests hold.
        held: usize,
        /// Bytes asked for.
        wanted: usize,
        /// Its share.
        share: usize,
    },
    /// All tenants' requests together hold the budget.
    #[error(
        "the memory budget of {limit} bytes is held by requests in flight ({held} bytes); \
         {wanted} more do not fit"
    )]
    OverBudget {
        /// Bytes all requests hold.
        held: usize,
        /// Bytes asked for.
        wanted: usize,
        /// The budget.
        limit: usize,
    },
}

impl BudgetError {
    /// What the caller is told: its own share in full; of the budget, only
    /// that it is full (how much other tenants hold is theirs).
    pub fn public_message(&self) -> String {
        match self {
            BudgetError::OverShare { .. } => format!("{self}; retry later"),
            BudgetError::OverBudget { .. } => {
                "the server's memory budget for requests is full; retry later".to_string()
            }
        }
    }
}

/// Bytes held, in total and per tenant, and refusals per tenant.
#[derive(Debug, Default)]
struct Usage {
    total: usize,
    tenants: BTreeMap<String, usize>,
    refusals: BTreeMap<String, u64>,
}

/// The budget: a limit and what reservations hold.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: AtomicUsize,
    usage: Mutex<Usage>,
}

/// What `/metrics` shows of the budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetSnapshot {
    /// The budget, bytes.
    pub limit: usize,
    /// Bytes reserved now, all tenants.
    pub reserved: usize,
    /// Bytes reserved now, per tenant (tenants holding none are absent).
    pub tenants: BTreeMap<String, usize>,
    /// Reservations refused so far, per tenant.
    pub refusals: BTreeMap<String, u64>,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit: AtomicUsize::new(limit),
            usage: Mutex::new(Usage::default()),
        })
    }

    /// Change the limit (a config reload). Reservations held stay; new ones
    /// are checked against the new limit.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The limit, bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes reserved now.
    pub fn reserved(&self) -> usize {
        self.lock().total
    }

    /// The counters for `/metrics`.
    pub fn snapshot(&self) -> BudgetSnapshot {
        let u = self.lock();
        BudgetSnapshot {
            limit: self.limit(),
            reserved: u.total,
            tenants: u.tenants.clone(),
            refusals: u.refusals.clone(),
        }
    }

    /// Reserve `bytes` for a request of `tenant`, whose requests may hold
    /// `share` bytes at once; refused (and counted) when it does not fit.
    pub fn reserve(
        self: &Arc<Self>,
        tenant: &str,
        share: usize,
        bytes: usize,
    ) -> Result<Reservation, BudgetError> {
        let mut r = Reservation {
            budget: self.clone(),
            tenant: tenant.to_string(),
            share,
            bytes: 0,
            ahead: 0,
        };
        r.grow(bytes)?;
        Ok(r)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take `wanted` more bytes for `tenant`, or refuse without taking any.
    fn take(&self, tenant: &str, share: usize, wanted: usize) -> Result<(), BudgetError> {
        let limit = self.limit();
        let mut u = self.lock();
        let held = u.tenants.get(tenant).copied().unwrap_or(0);
        let refused = if held.saturating_add(wanted) > share {
            Some(BudgetError::OverShare {
                tenant: tenant.to_string(),
                held,
                wanted,
                share,
            })
        } else if u.total.saturating_add(wanted) > limit {
            Some(BudgetError::OverBudget {
                held: u.total,
                wanted,
                limit,
            })
        } else {
            None
        };
        if let Some(e) = refused {
            *u.refusals.entry(tenant.to_string()).or_insert(0) += 1;
            return Err(e);
        }
        u.total += wanted;
        *u.tenants.entry(tenant.to_string()).or_insert(0) += wanted;
        Ok(())
    }

    /// Give back `bytes` of `tenant`'s.
    fn give(&self, tenant: &str, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut u = self.lock();
        u.total = u.total.saturating_sub(bytes);
        if let Some(held) = u.tenants.get_mut(tenant) {
            *held = held.saturating_sub(bytes);
            if *held == 0 {
                u.tenants.remove(tenant);
            }
        }
    }
}

/// Bytes of the budget held by one request; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    tenant: String,
    share: usize,
    bytes: usize,
    /// Reserved ahead and not yet claimed by [`Reservation::grow`].
    ahead: usize,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Hold `more` bytes too, taken first from what was reserved ahead,
    /// or refuse (keeping what is held).
    pub fn grow(&mut self, more: usize) -> Result<(), BudgetError> {
        let covered = more.min(self.ahead);
        self.ahead -= covered;
        self.take(more - covered)
    }

    /// Hold `bytes` now for growth that is expected (a size announced
    /// ahead): the next [`Reservation::grow`] calls draw on it before they
    /// ask the budget again.
    pub fn reserve_ahead(&mut self, bytes: usize) -> Result<(), BudgetError> {
        self.take(bytes)?;
        self.ahead += bytes;
        Ok(())
    }

    /// Hold `bytes` in all: more (which may be refused) or fewer. What was
    /// reserved ahead is settled: nothing is left ahead.
    pub fn resize(&mut self, bytes: usize) -> Result<(), BudgetError> {
        self.ahead = 0;
        if bytes >= self.bytes {
            return self.take(bytes - self.bytes);
        }
        self.budget.give(&self.tenant, self.bytes - bytes);
        self.bytes = bytes;
        Ok(())
    }

    fn take(&mut self, more: usize) -> Result<(), BudgetError> {
        if more == 0 {
            return Ok(());
        }
        self.budget.take(&self.tenant, self.share, more)?;
        self.bytes += more;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(&self.tenant, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_grow_shrink_and_release() {
        let b = MemoryBudget::new(1000);
        let mut r = b.reserve("a", 1000, 300).unwrap();
        assert_eq!(b.reserved(), 300);
        r.grow(200).unwrap();
        assert_eq!((r.bytes(), b.reserved()), (500, 500));
        r.resize(100).unwrap();
        assert_eq!((r.bytes(), b.reserved()), (100, 100));
        r.resize(900).unwrap();
        assert_eq!(b.reserved(), 900);
        assert!(r.resize(1001).is_err());
        assert_eq!(r.bytes(), 900, "a refused grow keeps what was held");
        drop(r);
        assert_eq!(b.reserved(), 0);
        assert!(
            b.snapshot().tenants.is_empty(),
            "no entry left for a tenant holding none"
        );
    }

    #[test]
    fn growth_draws_on_what_was_reserved_ahead() {
        let b = MemoryBudget::new(1000);
        let mut r = b.reserve("a", 1000, 100).unwrap();
        r.reserve_ahead(500).unwrap();
        assert_eq!(b.reserved(), 600);
        let other = b.reserve("b", 1000, 400).unwrap();
        // The budget is full, but growth within what was reserved ahead passes.
        r.grow(300).unwrap();
        r.grow(200).unwrap();
        assert_eq!((r.bytes(), b.reserved()), (600, 1000));
        assert!(r.grow(1).is_err(), "past it, the budget is asked again");
        assert!(r.reserve_ahead(1).is_err());
        r.reserve_ahead(0).unwrap();
        drop(other);
        r.reserve_ahead(100).unwrap();
        r.resize(650).unwrap();
        assert_eq!(r.bytes(), 650);
        r.grow(10).unwrap();
        assert_eq!(r.bytes(), 660, "resize settled what was ahead");
        drop(r);
        assert_eq!(b.reserved(), 0);
    }

    #[test]
    fn the_budget_bounds_all_tenants_together() {
        let b = MemoryBudget::new(1000);
        let _a = b.reserve("a", 1000, 600).unwrap();
        let e = b.reserve("b", 1000, 500).unwrap_err();
        assert_eq!(
            e,
            BudgetError::OverBudget {
                held: 600,
                wanted: 500,
                limit: 1000
            }
        );
        assert!(
            !e.public_message().contains("600"),
            "others' usage is not told"
        );
        let _b = b.reserve("b", 1000, 400).unwrap();
        assert_eq!(b.reserved(), 1000);
        assert_eq!(b.snapshot().refusals.get("b"), Some(&1));
    }

    #[test]
    fn a_tenant_over_its_share_is_refused_while_another_fits() {
        let b = MemoryBudget::new(1000);
        let mut a = b.reserve("a", 250, 200).unwrap();
        let e = a.grow(100).unwrap_err();
        assert!(matches!(e, BudgetError::OverShare { held: 200, .. }), "{e}");
        assert!(e.public_message().contains("memory_share_bytes"), "{e}");
        assert!(b.reserve("a", 250, 51).is_err());
        let other = b.reserve("b", 250, 250).unwrap();
        let snap = b.snapshot();
        assert_eq!(snap.tenants.get("a"), Some(&200));
        assert_eq!(snap.tenants.get("b"), Some(&250));
        assert_eq!(snap.refusals.get("a"), Some(&2));
        assert_eq!(snap.refusals.get("b"), None);
        drop((a, other));
        assert_eq!(b.reserved(), 0);
    }

    #[test]
    fn released_when_the_holder_errs_or_panics() {
        let b = MemoryBudget::new(1000);
        let failing = |b: &Arc<MemoryBudget>| -> Result<(), BudgetError> {
            let mut r = b.reserve("a", 1000, 400)?;
            r.grow(700)?; // refused: the `?` returns, dropping `r`
            Ok(())
        };
        assert!(failing(&b).is_err());
        assert_eq!(b.reserved(), 0);
        let b2 = b.clone();
        let panicked = std::thread::spawn(move || {
            let _r = b2.reserve("a", 1000, 500).unwrap();
            panic!("a handler panics while holding its reservation");
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(b.reserved(), 0, "unwinding released it");
        assert!(b.snapshot().tenants.is_empty());
    }

    #[test]
    fn a_lower_limit_after_a_reload_keeps_what_is_held() {
        let b = MemoryBudget::new(1000);
        let r = b.reserve("a", 1000, 800).unwrap();
        b.set_limit(500);
        assert_eq!(b.reserved(), 800);
        assert!(b.reserve("b", 1000, 1).is_err());
        drop(r);
        assert!(b.reserve("b", 1000, 500).is_ok());
    }
}
