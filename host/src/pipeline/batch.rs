//! The pipeline's input: a neutral batch of records that every intake
//! builds (a Firehose request, an S3 object, a replay of dead letters).

/// Where a batch came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A Firehose HTTP endpoint request.
    Firehose,
    /// An S3 object named by a notification.
    S3Object {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// Dead letters re-driven by `weir replay`.
    Replay,
}

/// Records to transform and store as a unit: one acknowledgement.
#[derive(Debug, Clone)]
pub struct Batch {
    /// A unique id of the batch, stable across retries of the same batch
    /// (the Firehose request id). Derived document ids start with it.
    pub id: String,
    /// The batch's own time (ms since the epoch), stable across retries:
    /// it dates documents without an event time.
    pub timestamp_ms: i64,
    /// The ARN of the stream or bucket that sent it, when known.
    pub source_arn: Option<String>,
    /// Key/value pairs the sender attached (Firehose common attributes).
    pub attributes: Vec<(String, String)>,
    /// The records, decoded, in order.
    pub records: Vec<Vec<u8>>,
    /// Each record's number in its original batch, when this is not the
    /// original (a replay): document ids and dead letters keep the
    /// original numbering. `None`: positional.
    pub record_numbers: Option<Vec<usize>>,
    /// Where it came from.
    pub origin: Origin,
}

impl Batch {
    /// The original number of record `i`.
    pub fn record_number(&self, i: usize) -> usize {
        self.record_numbers
            .as_ref()
            .and_then(|n| n.get(i).copied())
            .unwrap_or(i)
    }
}
