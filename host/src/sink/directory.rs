//! The local directory sink, the embedded default when no OpenSearch is
//! configured.
//!
//! Layout under the root:
//! - `<index>.ndjson`: `_bulk` form, an action line
//!   `{"index":{"_index":…,"_id":…}}` then the document, so that
//!   `curl -H 'Content-Type: application/x-ndjson' --data-binary @waf.ndjson
//!   http://localhost:9200/_bulk` replays it. Ids are deterministic, so a
//!   retried request appended twice still indexes once.
//! - `dead-letters/<tenant>/<route>.ndjson`: one JSON line per failed
//!   record: `timestamp`, `tenant`, `route`, `request_id`, `source_arn`,
//!   `record_index`, `kind`, `reason`, and `data` (the original record, base64).
//!
//! A write returns only after every file it touched is `fsync`ed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{BackupObject, BoxFuture, Sink, SinkBatch, SinkError, WriteSummary};

/// Appends NDJSON files under a root directory.
#[derive(Debug)]
pub struct DirectorySink {
    root: PathBuf,
    files: Arc<Mutex<HashMap<PathBuf, File>>>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DirectorySink {
    /// Create the root if needed.
    pub fn open(root: &Path) -> Result<DirectorySink, SinkError> {
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        Ok(DirectorySink {
            root: root.to_path_buf(),
            files: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Append `out` (path → bytes) off the executor and fsync every file.
    async fn append(&self, out: Vec<(PathBuf, Vec<u8>)>) -> Result<(), SinkError> {
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || append_blocking(&files, &out))
            .await
            .map_err(|e| SinkError::Task(e.to_string()))?
    }

    /// The files a batch appends to, with their bytes: `_bulk` form per
    /// index, and the dead letters of the tenant's route.
    fn render(&self, batch: &SinkBatch) -> Result<Vec<(PathBuf, Vec<u8>)>, SinkError> {
        let mut out: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        for doc in &batch.documents {
            let i = slot(&mut out, self.root.join(format!("{}.ndjson", doc.index)));
            super::opensearch::bulk::encode_one(
                doc.index.as_str(),
                &doc.id,
                &doc.body,
                &mut out[i].1,
            );
        }
        if !batch.dead_letters.is_empty() {
            let dir = self.root.join("dead-letters").join(&batch.tenant);
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let i = slot(&mut out, dir.join(format!("{}.ndjson", batch.route)));
            super::dead_letter::render(batch, batch.dead_letters.iter(), &mut out[i].1);
        }
        Ok(out)
    }
}

impl Sink for DirectorySink {
    /// Append the batch and fsync every file touched.
    fn write(&self, batch: SinkBatch) -> BoxFuture<'_, Result<WriteSummary, SinkError>> {
        Box::pin(async move {
            let summary = WriteSummary::stored(&batch);
            let out = self.render(&batch)?;
            self.append(out).await?;
            Ok(summary)
        })
    }

    /// Append backup lines to `backup/<tenant>/<route>.ndjson` and fsync.
    fn write_backup(&self, object: BackupObject) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let dir = self.root.join("backup").join(&object.tenant);
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let path = dir.join(format!("{}.ndjson", object.route));
            self.append(vec![(path, object.lines)]).await
        })
    }
}

/// Write each buffer to its file in one call under the lock, then fsync.
fn append_blocking(
    files: &Mutex<HashMap<PathBuf, File>>,
    out: &[(PathBuf, Vec<u8>)],
) -> Result<(), SinkError> {
    let mut files = files.lock().unwrap_or_else(PoisonError::into_inner);
    for (path, bytes) in out {
        let file = match files.get_mut(path) {
            Some(f) => f,
            None => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(io_err(path))?;
                files.entry(path.clone()).or_insert(f)
            }
        };
        file.write_all(bytes).map_err(io_err(path))?;
    }
    for (path, _) in out {
        if let Some(f) = files.get(path) {
            f.sync_data().map_err(io_err(path))?;
        }
    }
    Ok(())
}

/// The buffer for `path` in `out`, added if new.
fn slot(out: &mut Vec<(PathBuf, Vec<u8>)>, path: PathBuf) -> usize {
    match out.iter().position(|(p, _)| *p == path) {
        Some(i) => i,
        None => {
            out.push((path, Vec::new()));
            out.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DeadLetter, DeadLetterKind, IndexedDocument};
    use super::*;
    use crate::config::IndexName;

    #[tokio::test]
    async fn writes_bulk_form_and_dead_letters() {
        let dir = std::env::temp_dir().join(format!("weir-dir-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sink = DirectorySink::open(&dir).unwrap();
        let batch = SinkBatch {
            tenant: "demo".into(),
            route: "waf".into(),
            request_id: "r1".into(),
            source_arn: None,
            request_timestamp_ms: 0,
            attempt: 1,
            record_numbers: None,
            records: vec![b"good".to_vec(), b"bad".to_vec()],
            documents: vec![IndexedDocument {
                record_index: 0,
                index: IndexName::new("waf").unwrap(),
                id: "r1-0-0".into(),
                body: r#"{"a":1}"#.into(),
            }],
            dead_letters: vec![DeadLetter {
                record_index: 1,
                kind: DeadLetterKind::ProcessingFailed,
                reason: "nope".into(),
                document: None,
            }],
        };
        sink.write(batch.clone()).await.unwrap();
        sink.write(batch).await.unwrap();
        let bulk = std::fs::read_to_string(dir.join("waf.ndjson")).unwrap();
        let first = "{\"index\":{\"_index\":\"waf\",\"_id\":\"r1-0-0\"}}\n{\"a\":1}\n";
        assert_eq!(bulk, format!("{first}{first}"));
        let dl = std::fs::read_to_string(dir.join("dead-letters/demo/waf.ndjson")).unwrap();
        let line: serde_json::Value = serde_json::from_str(dl.lines().next().unwrap()).unwrap();
        assert_eq!(line["kind"], "processing-failed");
        assert_eq!(line["reason"], "nope");
        assert_eq!(line["data"], "YmFk");
        assert_eq!(line["record_index"], 1);
        assert_eq!(line["request_id"], "r1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
