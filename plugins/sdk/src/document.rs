//! Building a [`Document`]: a body, and optionally an event time, an id and
//! an index.

use crate::Document;

impl Document {
    /// A document for the route's index with a host-derived id and no event time.
    pub fn new(body: String) -> Self {
        Document {
            index: None,
            id: None,
            timestamp_ms: None,
            body,
        }
    }

    /// Set the event time (milliseconds since the Unix epoch).
    pub fn with_timestamp_ms(mut self, ms: i64) -> Self {
        self.timestamp_ms = Some(ms);
        self
    }

    /// Set the document id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Ask for an index (the host may not honour it).
    pub fn with_index(mut self, index: impl Into<String>) -> Self {
        self.index = Some(index.into());
        self
    }
}
