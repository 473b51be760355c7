//! Finding every marker again: in the run's OpenSearch index (every
//! document, scrolled), in the directory sink's `_bulk` file, and in the
//! dead letters; then counting what was lost and what was duplicated.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;

use super::Row;
use super::sender::{Plan, Progress, marker};
pub(super) use crate::opensearch::OpenSearch;

/// Documents per page of the scroll.
const PAGE: usize = 5000;

impl OpenSearch {
    /// Create `index` with `field` mapped as `long`.
    pub(super) async fn create_index_with_long_field(
        &self,
        index: &str,
        field: &str,
    ) -> anyhow::Result<()> {
        let mapping = serde_json::json!({"mappings": {"properties": {field: {"type": "long"}}}});
        let (status, v) = self
            .call(http::Method::PUT, &format!("/{index}"), Some(mapping))
            .await?;
        if status != 200 {
            bail!("creating {index}: {status} {v}");
        }
        Ok(())
    }

    /// Delete `index` (whatever the answer).
    pub(super) async fn delete_index(&self, index: &str) {
        let _ = self
            .call(http::Method::DELETE, &format!("/{index}"), None)
            .await;
    }

    /// Documents per `httpRequest.requestId` in `index` (none when it
    /// does not exist), read with a scroll after a refresh.
    async fn markers(&self, index: &str) -> anyhow::Result<HashMap<String, usize>> {
        let mut out = HashMap::new();
        let (status, _) = self
            .call(http::Method::POST, &format!("/{index}/_refresh"), None)
            .await?;
        if status == 404 {
            return Ok(out);
        }
        let query = serde_json::json!({
            "size": PAGE, "sort": ["_doc"], "_source": ["httpRequest.requestId"],
        });
        let path = format!("/{index}/_search?scroll=1m");
        let (status, mut page) = self.call(http::Method::POST, &path, Some(query)).await?;
        if status != 200 {
            bail!("searching {index}: {status} {page}");
        }
        loop {
            let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
            if hits.is_empty() {
                break;
            }
            for h in &hits {
                let m = h["_source"]["httpRequest"]["requestId"]
                    .as_str()
                    .unwrap_or("");
                *out.entry(m.to_string()).or_insert(0) += 1;
            }
            let scroll = serde_json::json!({"scroll": "1m", "scroll_id": page["_scroll_id"]});
            let (status, next) = self
                .call(http::Method::POST, "/_search/scroll", Some(scroll))
                .await?;
            if status != 200 {
                bail!("scrolling {index}: {status} {next}");
            }
            page = next;
        }
        let clear = serde_json::json!({"scroll_id": page["_scroll_id"]});
        let _ = self
            .call(http::Method::DELETE, "/_search/scroll", Some(clear))
            .await;
        Ok(out)
    }
}

/// Where each marker was found.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Documents per marker in OpenSearch.
    opensearch: HashMap<String, usize>,
    /// Distinct document ids per marker in the directory sink's file
    /// (a retried request appended again has the same id: replaying
    /// the file indexes it once).
    directory: HashMap<String, HashSet<String>>,
    /// Distinct (request id, record index) per dead-lettered marker.
    dead: HashMap<String, HashSet<(String, u64)>>,
}

/// Find every marker of the run: in `index` in OpenSearch, or (with
/// `directory`) in `<dir>/out/<index>.ndjson`; and in the dead letters
/// below `<dir>/dead` and `<dir>/out`.
pub(super) async fn find(
    os: &OpenSearch,
    index: &str,
    dir: &Path,
    directory: bool,
) -> anyhow::Result<Found> {
    let mut found = Found::default();
    if directory {
        found.directory = directory_markers(&dir.join("out").join(format!("{index}.ndjson")))?;
    } else {
        found.opensearch = os.markers(index).await?;
    }
    found.add_dead_letters(dir)?;
    Ok(found)
}

impl Found {
    /// Add the dead letters below `<dir>/dead` and `<dir>/out` (another
    /// replica's, when several hosts ran the same route).
    pub(super) fn add_dead_letters(&mut self, dir: &Path) -> anyhow::Result<()> {
        for d in [dir.join("dead"), dir.join("out")] {
            dead_letters(&d.join("dead-letters"), &mut self.dead)?;
        }
        Ok(())
    }
}

/// The marker of a WAF document (or record).
fn doc_marker(doc: &serde_json::Value) -> Option<String> {
    doc["httpRequest"]["requestId"].as_str().map(str::to_string)
}

/// Document ids per marker in a directory sink's `_bulk` file. A line
/// that is not a whole action followed by a whole document (a torn tail
/// with a record glued behind it) is skipped and reported: replaying the
/// file would not index what is in it, so its markers count as lost.
fn directory_markers(file: &Path) -> anyhow::Result<HashMap<String, HashSet<String>>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let mut unreadable = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let action: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let Some(id) = action["index"]["_id"].as_str() else {
            unreadable += 1;
            continue;
        };
        let doc = lines
            .next()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok());
        match doc.as_ref().and_then(doc_marker) {
            Some(m) => {
                out.entry(m).or_default().insert(id.to_string());
            }
            None => unreadable += 1,
        }
    }
    if unreadable > 0 {
        eprintln!(
            "{}: {unreadable} lines are not a whole action and document",
            file.display()
        );
    }
    Ok(out)
}

/// Add the markers of every dead letter below `dir` (every `*.ndjson`).
fn dead_letters(
    dir: &Path,
    out: &mut HashMap<String, HashSet<(String, u64)>>,
) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            dead_letters(&path, out)?;
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            // A torn line is no dead letter: its marker counts as lost.
            let dl: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            let data = b64
                .decode(dl["data"].as_str().unwrap_or(""))
                .unwrap_or_default();
            let record: serde_json::Value = serde_json::from_slice(&data).unwrap_or_default();
            if let Some(m) = doc_marker(&record) {
                let key = (
                    dl["request_id"].as_str().unwrap_or("").to_string(),
                    dl["record_index"].as_u64().unwrap_or(0),
                );
                out.entry(m).or_default().insert(key);
            }
        }
    }
    Ok(())
}

impl Found {
    /// The row of the run of `plan`: every marker of `progress`, looked
    /// up, and each one's fate held against the plan's (a dead letter for
    /// a conflicting record and the records of a plugin call of at most
    /// `call_records` holding a poisoned one; stored for every other).
    pub(super) fn row(
        &self,
        fault: &str,
        plan: &Plan,
        call_records: usize,
        progress: &Progress,
        injected: usize,
    ) -> Row {
        let run_id = plan.run_id.as_str();
        let mut row = Row {
            fault: fault.to_string(),
            sent: progress.total,
            acknowledged: progress.acknowledged(),
            faults_injected: injected,
            retries: progress.retries.load(std::sync::atomic::Ordering::SeqCst),
            seconds: progress.seconds(),
            ..Row::default()
        };
        for m in 0..progress.total {
            let key = marker(run_id, m);
            let os = self.opensearch.get(&key).copied().unwrap_or(0);
            let dir = self.directory.get(&key).map_or(0, HashSet::len);
            let dead = self.dead.get(&key).map_or(0, HashSet::len);
            row.in_opensearch += usize::from(os > 0);
            row.in_directory += usize::from(dir > 0);
            row.dead_lettered += usize::from(dead > 0);
            if os + dir + dead > 1 {
                row.duplicated += 1;
            }
            if os + dir + dead == 0 && progress.is_acknowledged(m) {
                row.lost += 1;
            }
            let expected = plan.dead_letter_expected(m, call_records);
            row.dead_expected += usize::from(expected);
            if os + dir + dead > 0 && expected != (dead > 0) {
                row.wrong_fate += 1;
            }
        }
        row
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_torn_pair_is_not_counted() {
        let dir = std::env::temp_dir().join(format!("weir-faults-checker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("i.ndjson");
        let pair = |id: &str, m: &str| {
            format!(
                "{{\"index\":{{\"_id\":\"{id}\"}}}}\n{{\"httpRequest\":{{\"requestId\":\"{m}\"}}}}\n"
            )
        };
        // a, then a torn document with b's action glued behind it, then a
        // again under the same id (a retry) and c under a second id of a.
        let text = format!(
            "{}{{\"index\":{{\"_id\":\"x\"}}}}\n{{\"httpRe{}{}",
            pair("1", "a"),
            pair("2", "b"),
            pair("1", "a") + &pair("3", "a"),
        );
        std::fs::write(&file, text).unwrap();
        let found = super::directory_markers(&file).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(found.get("a").map(|ids| ids.len()), Some(2));
        assert!(!found.contains_key("b"), "{found:?}");
    }
}
