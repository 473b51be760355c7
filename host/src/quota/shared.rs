//! The shared quota store: tenants' rate buckets kept in Redis, so that
//! replicas behind a load balancer enforce one records/s and bytes/s quota
//! between them instead of one each (`[quota_store]`).
//!
//! One Lua script refills, checks and charges a tenant's buckets in one
//! round trip, atomically, on Redis's own clock (`TIME`), so replicas'
//! clocks do not matter. Its answer also says how long the tenant is in
//! debt, which the replica remembers: the next requests are refused from
//! their head without asking Redis again. When Redis cannot be reached
//! (connection refused, `timeout_ms` passed) the gate falls back as
//! `on_unreachable` says: the replica's own buckets (`"local"`, the
//! default: a tenant may then get up to one quota per replica), or 429 for
//! every request of a tenant with a rate quota (`"refuse"`). A replica tries
//! to connect again at most once per [`RECONNECT_EVERY`].

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use crate::config::{OnUnreachable, QuotaStoreConfig};

/// How often a replica tries to connect to Redis again after it could not.
pub const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Seconds a tenant's bucket stays in Redis after its last use (a full
/// bucket and a missing one are the same).
const KEY_TTL_SECS: u64 = 60;

/// Refill, check and charge the buckets `KEYS[i]` (rate `ARGV[2i-1]` per
/// second, holding one second; cost `ARGV[2i]`). A bucket at or below zero
/// refuses without charging anything. Returns `{refused, wait_ms}`:
/// `refused` is the 1-based index of the empty bucket (0: charged), and
/// `wait_ms` how long until every bucket is above zero again.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = #KEYS
local tokens = {}
local refused = 0
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'last')
  local tk = tonumber(v[1]) or rate
  local last = tonumber(v[2]) or now
  if now > last then tk = math.min(rate, tk + (now - last) * rate) end
  tokens[i] = tk
  if tk <= 0 and refused == 0 then refused = i end
end
local wait = 0
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  if refused == 0 then tokens[i] = tokens[i] - tonumber(ARGV[2 * i]) end
  if tokens[i] < 0 then wait = math.max(wait, -tokens[i] / rate) end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'last', tostring(now))
  redis.call('EXPIRE', KEYS[i], ARGV[2 * n + 1])
end
return {refused, math.ceil(wait * 1000)}
";

/// What the store said about a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Charged. The tenant is in debt for `wait` (zero: it is not).
    Charged {
        /// How long until its buckets are above zero.
        wait: Duration,
    },
    /// Refused, nothing charged: bucket `bucket` (an index into the
    /// charge's buckets) is empty for `wait` more.
    Refused {
        /// Which bucket.
        bucket: usize,
        /// How long until the buckets are above zero.
        wait: Duration,
    },
    /// Redis could not be reached or answered an error.
    Unreachable(String),
}

/// One rate bucket of a charge: its name, its rate per second, the cost.
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    /// `records` or `bytes` (part of the Redis key).
    pub what: &'static str,
    /// Per second (and the bucket's size).
    pub rate: u64,
    /// What this request costs.
    pub cost: u64,
}

/// A connection to the shared store, opened on first use and again (at
/// most once per [`RECONNECT_EVERY`]) after a failure.
pub struct SharedQuota {
    config: QuotaStoreConfig,
    client: redis::Client,
    script: redis::Script,
    conn: tokio::sync::Mutex<Conn>,
}

impl std::fmt::Debug for SharedQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedQuota")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The connection, if one is open, and when the last attempt was made.
#[derive(Default)]
struct Conn {
    live: Option<MultiplexedConnection>,
    last_attempt: Option<Instant>,
}

impl SharedQuota {
    /// A store for `config`; no connection is made yet.
    pub fn new(config: &QuotaStoreConfig) -> Result<SharedQuota, String> {
        let client = redis::Client::open(config.url.expose()).map_err(|e| e.to_string())?;
        Ok(SharedQuota {
            config: config.clone(),
            client,
            script: redis::Script::new(SCRIPT),
            conn: tokio::sync::Mutex::new(Conn::default()),
        })
    }

    /// The settings it was made from.
    pub fn config(&self) -> &QuotaStoreConfig {
        &self.config
    }

    /// What to do when Redis cannot be reached.
    pub fn on_unreachable(&self) -> OnUnreachable {
        self.config.on_unreachable
    }

    /// The open connection, or a new one (unless the last attempt failed
    /// less than [`RECONNECT_EVERY`] ago).
    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = &conn.live {
            return Ok(c.clone());
        }
        if conn
            .last_attempt
            .is_some_and(|t| t.elapsed() < RECONNECT_EVERY)
        {
            return Err("not connected (next attempt within a second)".into());
        }
        conn.last_attempt = Some(Instant::now());
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.timeout))
            .set_response_timeout(Some(self.config.timeout));
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, on_unreachable = ?self.config.on_unreachable, "cannot connect to the quota store");
                e.to_string()
            })?;
        conn.live = Some(c.clone());
        Ok(c)
    }

    /// Forget the connection after an error (the next charge reconnects).
    async fn drop_connection(&self) {
        self.conn.lock().await.live = None;
    }

    /// Refill, check and charge `tenant`'s `buckets` (non-empty).
    pub async fn charge(&self, tenant: &str, buckets: &[Charge]) -> Verdict {
        let mut conn = match self.connection().await {
            Ok(c) => c,
            Err(e) => return Verdict::Unreachable(e),
        };
        let mut call = self.script.prepare_invoke();
        for b in buckets {
            call.key(format!("{}{tenant}:{}", self.config.key_prefix, b.what));
        }
        for b in buckets {
            call.arg(b.rate).arg(b.cost);
        }
        call.arg(KEY_TTL_SECS);
        let answer = tokio::time::timeout(
            self.config.timeout,
            call.invoke_async::<(u64, u64)>(&mut conn),
        )
        .await;
        match answer {
            Ok(Ok((0, wait_ms))) => Verdict::Charged {
                wait: Duration::from_millis(wait_ms),
            },
            Ok(Ok((i, wait_ms))) => Verdict::Refused {
                bucket: (i as usize).saturating_sub(1),
                wait: Duration::from_millis(wait_ms),
            },
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "quota store error; connecting again");
                self.drop_connection().await;
                Verdict::Unreachable(e.to_string())
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.config.timeout.as_millis() as u64,
                    "quota store did not answer in time; connecting again"
                );
                self.drop_connection().await;
                Verdict::Unreachable(format!(
                    "no answer within {} ms",
                    self.config.timeout.as_millis()
                ))
            }
        }
    }
}
