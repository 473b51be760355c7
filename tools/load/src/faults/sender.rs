//! A sender that behaves like Firehose: each request is retried with the
//! same request id and body, after a doubling backoff, until it is
//! answered 200 (a non-200 or a broken connection alike); a new
//! connection is opened when one breaks. Records are WAF logs whose
//! `httpRequest.requestId` is a unique marker; the markers of requests
//! answered 200 are the acknowledged ones.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::task::JoinHandle;

/// First wait before a retry; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long one attempt may wait for its answer (Firehose's default
/// buffer of retries is longer; an attempt past this is retried).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// What to send, and where.
#[derive(Debug)]
pub(super) struct Plan {
    /// Eight hex digits unique to the run: markers and request ids start with it.
    pub(super) run_id: String,
    /// Records (markers) in all.
    pub(super) records: usize,
    /// Records per request.
    pub(super) per_request: usize,
    /// Every how many records one has a string `faultCode` (a mapping
    /// conflict where the index maps it as `long`); `None`: none.
    pub(super) conflict_every: Option<usize>,
    /// Every how many records one is poisoned: its `httpRequest.uri` is
    /// `/poison/<m>` (which the hostile plugin of the plugin runs fails
    /// on), not `/item/<m>`; `None`: none.
    pub(super) poison_every: Option<usize>,
    /// `127.0.0.1:<port>` of Weir.
    pub(super) addr: String,
    /// The tenant's access key.
    pub(super) key: String,
    /// The route's path.
    pub(super) path: String,
}

impl Plan {
    /// Requests in all.
    fn requests(&self) -> usize {
        self.records.div_ceil(self.per_request)
    }

    /// The request id of request `i` (36 bytes, GUID-shaped).
    fn request_id(&self, i: usize) -> String {
        format!("{}-0000-4000-8000-{i:012x}", self.run_id)
    }

    /// The body of request `i` and the markers' range it carries.
    fn body(&self, i: usize) -> (Bytes, std::ops::Range<usize>) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let range = i * self.per_request..((i + 1) * self.per_request).min(self.records);
        let records: Vec<serde_json::Value> = range
            .clone()
            .map(|m| serde_json::json!({ "data": b64.encode(self.record(m)) }))
            .collect();
        let json = serde_json::json!({
            "requestId": self.request_id(i),
            "timestamp": 1_700_000_000_000i64 + i as i64,
            "records": records,
        });
        (Bytes::from(json.to_string()), range)
    }

    /// Whether record `m` is poisoned (see [`Plan::poison_every`]).
    pub(super) fn poisoned(&self, m: usize) -> bool {
        self.poison_every.is_some_and(|k| m % k == k / 2)
    }

    /// Whether record `m` has a value that conflicts with the index's mapping.
    pub(super) fn conflicts(&self, m: usize) -> bool {
        self.conflict_every.is_some_and(|k| m.is_multiple_of(k))
    }

    /// Whether record `m` is meant to end as a dead letter: it conflicts
    /// with the mapping, or a poisoned record shares its failed plugin call
    /// (a call is at most `call_records` records of one request: the host
    /// fails a call that times out as a whole, and splits one that traps
    /// or runs out of memory until the poisoned record fails alone, which
    /// is `call_records` = 1).
    pub(super) fn dead_letter_expected(&self, m: usize, call_records: usize) -> bool {
        if self.conflicts(m) {
            return true;
        }
        if self.poison_every.is_none() {
            return false;
        }
        let request = m / self.per_request * self.per_request;
        let end = (request + self.per_request).min(self.records);
        let call = request + (m - request) / call_records.max(1) * call_records.max(1);
        (call..(call + call_records.max(1)).min(end)).any(|r| self.poisoned(r))
    }

    /// Record `m`: a WAF log with marker `m` as `httpRequest.requestId`.
    fn record(&self, m: usize) -> String {
        let code = match self.conflicts(m) {
            true => serde_json::json!("not-a-number"),
            false => serde_json::json!(m),
        };
        serde_json::json!({
            "timestamp": 1_700_000_000_000i64 + m as i64,
            "formatVersion": 1,
            "webaclId": "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/faults/1",
            "terminatingRuleId": "Default_Action",
            "terminatingRuleType": "REGULAR",
            "action": "ALLOW",
            "httpSourceName": "ALB",
            "faultCode": code,
            "httpRequest": {
                "clientIp": "192.0.2.7",
                "country": "NL",
                "headers": [{"name": "Host", "value": "faults.example"}],
                "uri": if self.poisoned(m) { format!("{POISON}{m}") } else { format!("/item/{m}") },
                "args": "",
                "httpVersion": "HTTP/1.1",
                "httpMethod": "GET",
                "requestId": marker(&self.run_id, m),
            },
        })
        .to_string()
    }
}

/// What the `httpRequest.uri` of a poisoned record starts with.
pub(super) const POISON: &str = "/poison/";

/// The marker of record `m` of run `run_id`.
pub(super) fn marker(run_id: &str, m: usize) -> String {
    format!("{run_id}-{m:08}")
}

/// The sender's state, shared by its connections and the fault.
#[derive(Debug)]
pub(super) struct Progress {
    /// Records in all.
    pub(super) total: usize,
    /// Per marker: its request was answered 200.
    acknowledged: Vec<AtomicBool>,
    /// How many are.
    acknowledged_count: AtomicUsize,
    /// Attempts answered non-200 or broken.
    pub(super) retries: AtomicUsize,
    /// The next request to send.
    next: AtomicUsize,
    /// Set to make every connection give up.
    pub(super) stop: AtomicBool,
    /// When sending started, and when the last acknowledgement came.
    times: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Progress {
    /// Nothing sent yet, of `total` records.
    pub(super) fn new(total: usize) -> Progress {
        Progress {
            total,
            acknowledged: (0..total).map(|_| AtomicBool::new(false)).collect(),
            acknowledged_count: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            times: Mutex::new((None, None)),
        }
    }

    /// Whether marker `m` was acknowledged.
    pub(super) fn is_acknowledged(&self, m: usize) -> bool {
        self.acknowledged
            .get(m)
            .is_some_and(|a| a.load(Ordering::SeqCst))
    }

    /// Markers acknowledged so far.
    pub(super) fn acknowledged(&self) -> usize {
        self.acknowledged_count.load(Ordering::SeqCst)
    }

    /// Seconds from the first request to the last acknowledgement.
    pub(super) fn seconds(&self) -> f64 {
        let times = self.times.lock().map_or((None, None), |t| *t);
        match times {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn started(&self) {
        if let Ok(mut t) = self.times.lock() {
            t.0.get_or_insert_with(Instant::now);
        }
    }

    fn acknowledge(&self, range: std::ops::Range<usize>) {
        for m in range {
            if let Some(a) = self.acknowledged.get(m)
                && !a.swap(true, Ordering::SeqCst)
            {
                self.acknowledged_count.fetch_add(1, Ordering::SeqCst);
            }
        }
        if let Ok(mut t) = self.times.lock() {
            t.1 = Some(Instant::now());
        }
    }

    /// Wait until at least `n` records are acknowledged; false at `deadline`.
    pub(super) async fn wait_acknowledged(&self, n: usize, deadline: Instant) -> bool {
        while self.acknowledged() < n {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Wait until every record is acknowledged, or `deadline`.
    pub(super) async fn wait_done(&self, deadline: Instant) {
        self.wait_acknowledged(self.total, deadline).await;
    }
}

/// Start `connections` connections sending the plan's requests, each
/// taking the next request not yet taken.
pub(super) fn spawn(
    plan: Arc<Plan>,
    progress: Arc<Progress>,
    connections: usize,
) -> Vec<JoinHandle<()>> {
    progress.started();
    (0..connections)
        .map(|_| {
            let (plan, progress) = (plan.clone(), progress.clone());
            tokio::spawn(async move { connection(&plan, &progress).await })
        })
        .collect()
}

/// One connection's loop: take a request, send it until it is answered
/// 200 (or the run stops), take the next.
async fn connection(plan: &Plan, progress: &Progress) {
    let mut send: Option<Sender> = None;
    loop {
        let i = progress.next.fetch_add(1, Ordering::SeqCst);
        if i >= plan.requests() {
            return;
        }
        let (body, range) = plan.body(i);
        let id = plan.request_id(i);
        let mut backoff = FIRST_BACKOFF;
        loop {
            if progress.stop.load(Ordering::SeqCst) {
                return;
            }
            if attempt(plan, &mut send, &id, &body).await == Some(200) {
                progress.acknowledge(range);
                break;
            }
            progress.retries.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// A client connection's request half.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One attempt: the status, or `None` when the connection could not be
/// opened or broke (it is then dropped, and the next attempt opens one).
async fn attempt(plan: &Plan, send: &mut Option<Sender>, id: &str, body: &Bytes) -> Option<u16> {
    if send.as_ref().is_none_or(|s| s.is_closed()) {
        *send = connect(&plan.addr).await;
    }
    let s = send.as_mut()?;
    if s.ready().await.is_err() {
        *send = None;
        return None;
    }
    let req = http::Request::post(&plan.path)
        .header("host", &plan.addr)
        .header("content-type", "application/json")
        .header("x-amz-firehose-protocol-version", "1.0")
        .header("x-amz-firehose-request-id", id)
        .header("x-amz-firehose-access-key", &plan.key)
        .body(Full::new(body.clone()))
        .ok()?;
    let answered = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
        let resp = s.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        resp.into_body().collect().await.ok()?;
        Some(status)
    })
    .await;
    match answered {
        Ok(Some(status)) => Some(status),
        _ => {
            *send = None;
            None
        }
    }
}

/// A new keep-alive connection to `addr`.
async fn connect(addr: &str) -> Option<Sender> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    tcp.set_nodelay(true).ok()?;
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(send)
}

#[cfg(test)]
mod tests {
    use super::Plan;

    fn plan(
        per_request: usize,
        poison_every: Option<usize>,
        conflict_every: Option<usize>,
    ) -> Plan {
        Plan {
            run_id: "0000abcd".to_string(),
            records: 2000,
            per_request,
            conflict_every,
            poison_every,
            addr: String::new(),
            key: String::new(),
            path: String::new(),
        }
    }

    #[test]
    fn a_poisoned_record_takes_its_call_and_nothing_else() {
        let p = plan(100, Some(1000), None);
        assert!(p.poisoned(500) && p.poisoned(1500) && !p.poisoned(0));
        let dead: Vec<usize> = (0..2000)
            .filter(|&m| p.dead_letter_expected(m, 10))
            .collect();
        let want: Vec<usize> = (500..510).chain(1500..1510).collect();
        assert_eq!(dead, want);
        assert!(p.record(500).contains("\"uri\":\"/poison/500\""));
        assert!(p.record(499).contains("\"uri\":\"/item/499\""));
    }

    #[test]
    fn a_call_never_spans_two_requests() {
        // Requests of 25 in calls of 10: 0..10, 10..20, 20..25 of each.
        let p = plan(25, Some(1000), None);
        let dead: Vec<usize> = (0..2000)
            .filter(|&m| p.dead_letter_expected(m, 10))
            .collect();
        let want: Vec<usize> = (500..510).chain(1500..1510).collect();
        assert_eq!(dead, want, "500 opens request 20's first call");
        let p = Plan {
            poison_every: Some(23),
            records: 30,
            ..plan(25, None, None)
        };
        // Only 11 is poisoned (m % 23 == 11; 34 is past the end): call 10..20.
        let dead: Vec<usize> = (0..30).filter(|&m| p.dead_letter_expected(m, 10)).collect();
        assert_eq!(dead, (10..20).collect::<Vec<_>>());
    }

    #[test]
    fn conflicting_records_are_meant_to_be_dead_letters() {
        let p = plan(100, None, Some(50));
        let dead: Vec<usize> = (0..200)
            .filter(|&m| p.dead_letter_expected(m, 10))
            .collect();
        assert_eq!(dead, [0, 50, 100, 150]);
    }
}
