//! [`Row`]: what one fault run found, as a row of the matrix.

/// What one run found: a row of the matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The fault's name.
    pub fault: String,
    /// Records sent (distinct markers).
    pub sent: usize,
    /// Records whose request was answered 200.
    pub acknowledged: usize,
    /// Markers indexed in OpenSearch.
    pub in_opensearch: usize,
    /// Markers in the directory sink's `_bulk` file.
    pub in_directory: usize,
    /// Markers dead-lettered.
    pub dead_lettered: usize,
    /// Markers the run means to be dead-lettered: conflicting records,
    /// and every record of a plugin call holding a poisoned one.
    pub dead_expected: usize,
    /// Markers found, but dead-lettered when they were to be stored or
    /// stored when they were to be dead-lettered.
    pub wrong_fate: usize,
    /// Acknowledged markers found nowhere.
    pub lost: usize,
    /// Markers with more than one document (or both stored and dead-lettered).
    pub duplicated: usize,
    /// Backup runs: markers found in the S3 backup objects.
    pub in_backup: Option<usize>,
    /// Backup runs: acknowledged markers in no backup object, plus
    /// markers backed up under two different request ids or record
    /// numbers (a record sent twice).
    pub backup_lost: usize,
    /// Backup runs: markers in more than one backup line (a retried
    /// request backed up again: allowed, see `backup`).
    pub backup_repeats: Option<usize>,
    /// Times the fault struck (kills, stops; requests the proxy faulted).
    pub faults_injected: usize,
    /// Attempts answered non-200 or broken, that the sender retried.
    pub retries: usize,
    /// Torn tails the directory sink found and cut back (from `weir`'s
    /// log): appends a kill or a full disk cut short.
    pub torn_tails: usize,
    /// Seconds from the first request to the last acknowledgement.
    pub seconds: f64,
}

impl Row {
    /// The Markdown table's header.
    pub const HEADER: &'static str = "| fault | sent | acknowledged | in OpenSearch | in directory | dead-lettered | dead letters expected | wrong fate | lost | duplicated | in S3 backup | backup lost | backup repeats | faults injected | retries | torn tails cut | seconds |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

    /// The row in the Markdown table.
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            self.fault,
            self.sent,
            self.acknowledged,
            self.in_opensearch,
            self.in_directory,
            self.dead_lettered,
            self.dead_expected,
            self.wrong_fate,
            self.lost,
            self.duplicated,
            dash(self.in_backup),
            self.backup_lost,
            dash(self.backup_repeats),
            self.faults_injected,
            self.retries,
            self.torn_tails,
            self.seconds
        )
    }

    /// No loss, no duplicate, everything acknowledged, and every record
    /// dead-lettered or stored as the run meant.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.acknowledged == self.sent
            && self.wrong_fate == 0
            && self.dead_lettered == self.dead_expected
            && self.backup_lost == 0
    }
}

/// A count, or `–` where it does not apply.
fn dash(n: Option<usize>) -> String {
    n.map_or_else(|| "–".to_string(), |n| n.to_string())
}
