//! Delivering one batch: backup and plugin calls in parallel, documents and
//! dead letters to the sink, `Ok` only when every record is durable.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::document::{assemble, header};
use super::{Batch, Delivery, DeliveryError, Pipeline, Route};
use crate::plugin::{BatchContext, Outcome, PluginError};
use crate::sink::backup;

/// Batches whose attempts are remembered at most (entries are removed when
/// a batch is acknowledged; past this, the map starts over).
const MAX_TRACKED_ATTEMPTS: usize = 100_000;

impl Pipeline {
    /// Transform and store one batch; `Ok` only when every record is durable.
    pub async fn deliver(
        &self,
        route: &Arc<Route>,
        batch: Batch,
    ) -> Result<Delivery, DeliveryError> {
        self.deliver_holding(route, batch, None).await
    }

    /// [`Pipeline::deliver`], holding `cpu_slot` (the intake's slot for
    /// large requests) until the plugin has run: the CPU-heavy part. The
    /// wait for the sink does not hold it, so a slow sink cannot keep other
    /// tenants' large requests from being processed.
    pub async fn deliver_holding(
        &self,
        route: &Arc<Route>,
        batch: Batch,
        cpu_slot: Option<tokio::sync::SemaphorePermit<'static>>,
    ) -> Result<Delivery, DeliveryError> {
        // The backup is written while the records are processed; both must
        // be durable before the ack.
        let backup = route.backup.as_ref().map(|b| {
            let lines = backup::lines(&header(route, &batch), &batch.records);
            b.write(
                lines,
                batch.id.clone(),
                batch.timestamp_ms,
                batch.records.len(),
            )
        });
        let backup = async move {
            match backup {
                Some(f) => f
                    .await
                    .map_err(|e| DeliveryError::NotDurable(format!("backup: {e}"))),
                None => Ok(()),
            }
        };
        let (backed_up, delivered) = tokio::join!(backup, self.process(route, batch, cpu_slot));
        backed_up?;
        delivered
    }

    async fn process(
        &self,
        route: &Arc<Route>,
        batch: Batch,
        cpu_slot: Option<tokio::sync::SemaphorePermit<'static>>,
    ) -> Result<Delivery, DeliveryError> {
        // a large request's plugin calls run at a lower CPU priority
        let large = cpu_slot.is_some();
        let (batch, outcomes) = self.run_plugin(route, batch, large).await?;
        drop(cpu_slot);
        let (mut out, delivery) = assemble(route, batch, outcomes);
        let attempt_key = format!("{}/{}/{}", out.tenant, out.route, out.request_id);
        out.attempt = self.count_attempt(&attempt_key);
        if delivery.failed > 0 {
            tracing::warn!(
                tenant = out.tenant,
                route = out.route,
                request_id = out.request_id,
                failed = delivery.failed,
                first_reason = out.dead_letters.first().map(|d| d.reason.as_str()),
                "records dead-lettered"
            );
        }
        let request_id = out.request_id.clone();
        let summary = route
            .sink
            .write(out)
            .await
            .map_err(|e| DeliveryError::NotDurable(e.to_string()))?;
        self.attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&attempt_key);
        let rejected = summary.dead_letters.saturating_sub(delivery.failed);
        if rejected > 0 {
            tracing::warn!(
                request_id,
                rejected,
                "documents dead-lettered: refused by OpenSearch"
            );
        }
        Ok(Delivery {
            documents: summary.indexed,
            failed: summary.failed_records,
            ..delivery
        })
    }

    /// Count one more attempt at the batch `key`; returns the count.
    fn count_attempt(&self, key: &str) -> u32 {
        let mut a = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if a.len() >= MAX_TRACKED_ATTEMPTS {
            a.clear();
        }
        let n = a.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    /// Run the route's plugin over the batch's records, in calls of at
    /// most the tenant's `max_batch_records`, each off the async executor
    /// and holding a slot of the tenant's share and one of the whole pool.
    /// A call that traps or runs out of memory is split in halves and each
    /// half called again, down to the records that fail alone (at most
    /// [`MAX_SPLIT_CALLS`] more calls per call): one bad record does not
    /// take its neighbours to the dead letters. A call that fails otherwise
    /// (timeout or fuel: a loop, which the breaker bounds and a retry would
    /// only repeat; a broken contract, which is the call's, not a
    /// record's), or past the split budget, fails its own records with its
    /// reason. `large`: the calls run at a lower CPU priority
    /// ([`crate::lowprio`]).
    async fn run_plugin(
        &self,
        route: &Arc<Route>,
        batch: Batch,
        large: bool,
    ) -> Result<(Batch, Vec<Outcome>), DeliveryError> {
        let chunk = route.tenant.quotas.max_batch_records.max(1);
        let ctx = Arc::new(BatchContext {
            tenant: route.tenant.id.to_string(),
            route: route.config.name.clone(),
            request_id: batch.id.clone(),
            source_arn: batch.source_arn.clone(),
            common_attributes: batch.attributes.clone(),
            config: route.config.plugin_config.clone(),
            geoip: self.geoip.clone(),
        });
        let len = batch.records.len();
        let batch = Arc::new(batch);
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(len);
        // An empty batch still makes one (empty) call.
        for range in (0..len.max(1))
            .step_by(chunk)
            .map(|s| s..(s + chunk).min(len))
        {
            outcomes.extend(self.call_split(route, &ctx, &batch, range, large).await?);
        }
        // A call abandoned by the watchdog may still hold the batch: then
        // the pipeline goes on with a copy.
        Ok((Arc::unwrap_or_clone(batch), outcomes))
    }

    /// The outcomes of `range` of the batch's records: one call, and when
    /// it traps or runs out of memory, its halves called again (depth
    /// first, in order) until the failing records are alone or the split
    /// budget is spent (see `run_plugin`).
    async fn call_split(
        &self,
        route: &Arc<Route>,
        ctx: &Arc<BatchContext>,
        batch: &Arc<Batch>,
        range: Range<usize>,
        large: bool,
    ) -> Result<Vec<Outcome>, DeliveryError> {
        let mut outcomes = Vec::with_capacity(range.len());
        // ranges still to call, the next one last
        let mut todo = vec![range];
        let mut splits = 0;
        while let Some(range) = todo.pop() {
            match self.call(route, ctx, batch, range.clone(), large).await? {
                Ok(out) => outcomes.extend(out),
                Err(e) if range.len() > 1 && splits < MAX_SPLIT_CALLS && splittable(&e) => {
                    splits += 2;
                    let mid = range.start + range.len() / 2;
                    todo.push(mid..range.end);
                    todo.push(range.start..mid);
                }
                Err(e) => {
                    let reason = e.to_string();
                    outcomes.extend(range.map(|_| Outcome::Failed(reason.clone())));
                }
            }
        }
        Ok(outcomes)
    }

    /// One plugin call on `range` of the batch's records, under the
    /// watchdog (see [`off_executor`]); `large`: at a lower CPU priority.
    async fn call(
        &self,
        route: &Arc<Route>,
        ctx: &Arc<BatchContext>,
        batch: &Arc<Batch>,
        range: Range<usize>,
        large: bool,
    ) -> Result<Result<Vec<Outcome>, PluginError>, DeliveryError> {
        let tenant_slot = route.gate.batch_slot().await?;
        let pool_slot = self
            .batch_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DeliveryError::ShuttingDown)?;
        let (plugin, limits) = (route.plugin.clone(), route.config.limits.clone());
        let (limit_ms, name) = (limits.timeout.as_millis() as u64, plugin.name().to_string());
        let (batch, ctx) = (batch.clone(), ctx.clone());
        let watched = off_executor(
            (pool_slot, tenant_slot),
            limits.timeout + ABANDON_GRACE,
            large,
            move || plugin.transform_with(&ctx, &batch.records[range], &limits),
        )
        .await
        .map_err(|e| DeliveryError::NotDurable(format!("plugin task failed: {e}")))?;
        let result = watched.unwrap_or_else(|| {
            tracing::error!(
                plugin = name,
                tenant = route.tenant.id.to_string(),
                route = route.config.name,
                limit_ms,
                "plugin call abandoned past its deadline: its thread is still inside a host \
                 call; its records are dead-lettered and its pool slot is released"
            );
            Err(PluginError::Timeout {
                plugin: name,
                limit_ms,
            })
        });
        route.breaker.record(matches!(
            result,
            Err(PluginError::Timeout { .. } | PluginError::OutOfFuel { .. })
        ));
        Ok(match result {
            Ok((out, s)) => {
                route.counters.plugin_call(s.instantiate + s.call, false);
                Ok(out)
            }
            Err(e) => {
                route.counters.plugin_call(std::time::Duration::ZERO, true);
                Err(e)
            }
        })
    }
}

/// Calls a failed call may be split into, in all (see
/// `run_plugin`): enough to find a few bad records among
/// hundreds (about 2 log2(n) calls each), few enough that a plugin failing
/// every record costs a bounded number of extra calls.
const MAX_SPLIT_CALLS: usize = 64;

/// Whether a failed call is split to find the records that fail alone: a
/// trap or the memory cap (a record's doing, found quickly); not a timeout
/// or fuel (a loop: each half would run to the deadline again), a broken
/// contract, an output over the cap or a plugin that does not load.
fn splittable(e: &PluginError) -> bool {
    matches!(
        e,
        PluginError::Trap { .. } | PluginError::OutOfMemory { .. }
    )
}

/// How long past its deadline (`timeout_ms`) a plugin call may take before
/// the pipeline stops waiting for it. Epoch interruption stops wasm code at
/// the deadline, and no host call a plugin can make waits (see
/// `plugin::wasi`), so a call normally ends within a few epoch ticks of its
/// deadline; the grace is for a loaded machine, not for the plugin.
const ABANDON_GRACE: Duration = Duration::from_secs(5);

/// Run `work` on the blocking pool (or, `low`, on a thread of its own at a
/// lower CPU priority: [`crate::lowprio`]), holding `slots` (pool and
/// tenant permits) while it runs; `Ok(None)` when it has not finished
/// within `limit`.
///
/// The watchdog behind the sandbox: a thread blocked inside a host call is
/// beyond epoch interruption and fuel, and a thread cannot be killed. So the
/// caller stops waiting at `limit` (the batch then fails as a timeout) and
/// the slots are released then, by whichever of the two ends first: a
/// stuck call never keeps its pool or tenant slot, so it cannot starve other
/// batches or tenants. What it keeps is its thread and its pooled instance;
/// the pool has spare instances beyond `max_concurrent_batches`, and once
/// they are all stuck an instantiation fails at once (its records are
/// dead-lettered), so stuck calls cannot multiply without bound either.
pub(super) async fn off_executor<T, S>(
    slots: S,
    limit: Duration,
    low: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Option<T>, String>
where
    T: Send + 'static,
    S: Send + 'static,
{
    let slots = Arc::new(Mutex::new(Some(slots)));
    let held = slots.clone();
    let work = move || {
        let out = work();
        drop(held.lock().unwrap_or_else(PoisonError::into_inner).take());
        out
    };
    match tokio::time::timeout(limit, crate::lowprio::run_blocking(low, work)).await {
        Ok(joined) => joined.map(Some),
        Err(_) => {
            drop(slots.lock().unwrap_or_else(PoisonError::into_inner).take());
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_finishes_gives_back_its_value_and_its_slot() {
        let pool = Arc::new(tokio::sync::Semaphore::new(1));
        let slot = pool.clone().acquire_owned().await.unwrap();
        let out = off_executor(slot, Duration::from_secs(60), false, || 7).await;
        assert_eq!(out.unwrap(), Some(7));
        assert_eq!(pool.available_permits(), 1);
    }

    /// A call stuck beyond any deadline (here: on a channel nobody sends
    /// on until the end) is abandoned at its limit, and its slot is free
    /// while its thread is still stuck.
    #[tokio::test]
    async fn a_stuck_call_is_abandoned_and_its_slot_released() {
        let pool = Arc::new(tokio::sync::Semaphore::new(1));
        let slot = pool.clone().acquire_owned().await.unwrap();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let (finished_tx, finished) = std::sync::mpsc::channel::<()>();
        let out = off_executor(slot, Duration::from_millis(50), false, move || {
            let _ = stuck.recv();
            let _ = finished_tx.send(());
        })
        .await;
        assert!(matches!(out, Ok(None)), "abandoned");
        assert_eq!(pool.available_permits(), 1, "the slot is back");
        assert!(finished.try_recv().is_err(), "its thread is still stuck");
        let next = pool.clone().try_acquire_owned();
        assert!(next.is_ok(), "another batch gets the slot");
        drop(next);
        release.send(()).unwrap();
        finished.recv().unwrap();
        assert_eq!(pool.available_permits(), 1);
    }
}
