//! Delivering one batch: backup and plugin calls in parallel, documents and
//! dead letters to the sink, `Ok` only when every record is durable.

use std::ops::Range;
use std::sync::Arc;

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
        let (backed_up, delivered) = tokio::join!(backup, self.process(route, batch));
        backed_up?;
        delivered
    }

    async fn process(&self, route: &Arc<Route>, batch: Batch) -> Result<Delivery, DeliveryError> {
        let (batch, outcomes) = self.run_plugin(route, batch).await?;
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
    /// A call that fails as a whole (trap, timeout, memory, broken
    /// contract) fails its own records, with its reason.
    async fn run_plugin(
        &self,
        route: &Arc<Route>,
        batch: Batch,
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
            match self.call(route, &ctx, &batch, range.clone()).await? {
                Ok(out) => outcomes.extend(out),
                Err(e) => {
                    let reason = e.to_string();
                    outcomes.extend(range.map(|_| Outcome::Failed(reason.clone())));
                }
            }
        }
        Ok((unwrap(batch)?, outcomes))
    }

    /// One plugin call on `range` of the batch's records.
    async fn call(
        &self,
        route: &Arc<Route>,
        ctx: &Arc<BatchContext>,
        batch: &Arc<Batch>,
        range: Range<usize>,
    ) -> Result<Result<Vec<Outcome>, PluginError>, DeliveryError> {
        let tenant_slot = route.gate.batch_slot().await?;
        let pool_slot = self
            .batch_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DeliveryError::ShuttingDown)?;
        let (plugin, limits) = (route.plugin.clone(), route.config.limits.clone());
        let (batch, ctx) = (batch.clone(), ctx.clone());
        let result = tokio::task::spawn_blocking(move || {
            let r = plugin.transform_with(&ctx, &batch.records[range], &limits);
            drop((pool_slot, tenant_slot));
            r
        })
        .await
        .map_err(|e| DeliveryError::NotDurable(format!("plugin task failed: {e}")))?;
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

/// The batch back from the plugin calls (they have all finished).
fn unwrap(batch: Arc<Batch>) -> Result<Batch, DeliveryError> {
    Arc::try_unwrap(batch)
        .map_err(|_| DeliveryError::NotDurable("plugin task still holds the batch".into()))
}
