//! The distinct indices a route has named over the last day
//! (`routes[].max_indices_per_day`).
//!
//! Index names come from record content (dated patterns, a plugin's own
//! index), and every index a sink writes to is kept by it: a file in the
//! directory sink, an index with its shards and mapping in OpenSearch. The
//! per-request bound (`max_indices_per_request`) stops one request naming
//! thousands; this window stops a tenant reaching the same over many
//! requests. It holds each name with when it was last named; names not
//! named for [`INDEX_WINDOW`] leave it, so a daily pattern keeps about one
//! new name a day (plus the late records' days) and never runs out.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::index::IndexName;

/// How long an index name stays counted after a document last named it.
pub const INDEX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The names one route's documents named within [`INDEX_WINDOW`], at most
/// `max` of them (so its memory is bounded too).
#[derive(Debug)]
pub struct IndexWindow {
    max: usize,
    seen: Mutex<HashMap<IndexName, Instant>>,
}

impl IndexWindow {
    /// An empty window that holds at most `max` names.
    pub fn new(max: usize) -> IndexWindow {
        IndexWindow {
            max,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The most names it holds (`routes[].max_indices_per_day`).
    pub fn max(&self) -> usize {
        self.max
    }

    /// Names counted now (those named within the window before `now`).
    pub fn len(&self, now: Instant) -> usize {
        let mut seen = self.lock();
        expire(&mut seen, now);
        seen.len()
    }

    /// Whether no name is counted at `now`.
    pub fn is_empty(&self, now: Instant) -> bool {
        self.len(now) == 0
    }

    /// Admit all of `names` (one record's indices) at `now`, or none: names
    /// already counted are refreshed and always pass; new ones pass while
    /// the window has room for every one of them. Refused: the new names
    /// that did not fit.
    pub fn admit<'a>(
        &self,
        names: &[&'a IndexName],
        now: Instant,
    ) -> Result<(), Vec<&'a IndexName>> {
        let mut seen = self.lock();
        let mut new: Vec<&IndexName> = names
            .iter()
            .copied()
            .filter(|n| !seen.contains_key(*n))
            .collect();
        new.sort();
        new.dedup();
        if !new.is_empty() && seen.len() + new.len() > self.max {
            // Only expire when the window looks full: most calls name
            // indices already counted and stay O(names).
            expire(&mut seen, now);
            if seen.len() + new.len() > self.max {
                return Err(new);
            }
        }
        for n in names {
            seen.insert((*n).clone(), now);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IndexName, Instant>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drop the names last named more than [`INDEX_WINDOW`] before `now`.
fn expire(seen: &mut HashMap<IndexName, Instant>, now: Instant) {
    seen.retain(|_, at| now.saturating_duration_since(*at) < INDEX_WINDOW);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<IndexName> {
        list.iter().map(|n| IndexName::new(n).unwrap()).collect()
    }

    #[test]
    fn new_names_pass_while_there_is_room_and_known_ones_always() {
        let w = IndexWindow::new(3);
        let t0 = Instant::now();
        let n = names(&["a", "b", "c", "d", "e"]);
        w.admit(&[&n[0], &n[1], &n[0]], t0).unwrap();
        assert_eq!(w.len(t0), 2);
        let refused = w.admit(&[&n[0], &n[3], &n[4]], t0).unwrap_err();
        assert_eq!(refused, [&n[3], &n[4]], "two new do not fit in one place");
        assert_eq!(w.len(t0), 2, "a refused record admits none of its names");
        w.admit(&[&n[2], &n[1]], t0).unwrap();
        assert_eq!(w.admit(&[&n[3]], t0).unwrap_err(), [&n[3]]);
        w.admit(&[&n[0], &n[1], &n[2]], t0).unwrap();
        assert_eq!(w.len(t0), 3);
    }

    #[test]
    fn names_leave_a_day_after_they_were_last_named() {
        let w = IndexWindow::new(2);
        let t0 = Instant::now();
        let n = names(&["a", "b", "c"]);
        w.admit(&[&n[0], &n[1]], t0).unwrap();
        let hour = Duration::from_secs(3600);
        // `b` is named again later: it stays counted after `a` leaves.
        w.admit(&[&n[1]], t0 + 12 * hour).unwrap();
        assert!(w.admit(&[&n[2]], t0 + 23 * hour).is_err());
        w.admit(&[&n[2]], t0 + 24 * hour).unwrap();
        assert!(
            w.admit(&[&n[0]], t0 + 30 * hour).is_err(),
            "b and c are counted"
        );
        assert_eq!(w.len(t0 + 36 * hour), 1, "b left at 36 h");
        assert!(!w.is_empty(t0 + 36 * hour));
        assert!(w.is_empty(t0 + 48 * hour));
    }
}
