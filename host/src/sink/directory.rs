//! The local directory sink, the embedded default when no OpenSearch is
//! configured.
//!
//! Layout under the root:
//! - `<index>.ndjson`: `_bulk` form, an action line
//!   `{"index":{"_index":…,"_id":…}}` then the document, so that
//!   `curl -H 'Content-Type: application/x-ndjson' --data-binary @waf.ndjson
//!   http://localhost:9200/_bulk` replays it. Ids are deterministic, so a
//!   retried request appended twice still indexes once. An index name too
//!   long for a file name (`<index>.ndjson` over [`MAX_FILE_NAME_BYTES`])
//!   is written to `<first 200 bytes>#<hash>.ndjson` (see [`file_name`]);
//!   its action lines still carry the full name.
//! - `dead-letters/<tenant>/<route>.ndjson`: one JSON line per failed
//!   record: `timestamp`, `tenant`, `route`, `request_id`, `source_arn`,
//!   `record_index`, `kind`, `reason`, and `data` (the original record, base64).
//!
//! A write returns only after every file it touched is `fsync`ed. At most
//! [`MAX_OPEN_FILES`] files stay open (the least recently used is closed
//! first), and each file has its own lock: writers of different files
//! (tenants, routes, indices) do not wait for each other.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::{BackupObject, BoxFuture, Sink, SinkBatch, SinkError, WriteSummary};

/// Files the sink keeps open between writes. Index names come from record
/// content, so the number of files is not the operator's to bound; the
/// process's descriptors (often 1,024) are shared with every connection.
/// A file in use is never closed under its writer, so the count may pass
/// this briefly by the number of concurrent writers.
pub const MAX_OPEN_FILES: usize = 64;

/// The longest file name the common filesystems take (ext4, XFS, btrfs,
/// APFS: 255 bytes). OpenSearch takes index names of up to 255 bytes, so
/// `<index>.ndjson` may not fit.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Bytes of the index name kept in a capped file name (then `#`, 32 hex
/// digits of its SHA-256 and `.ndjson`: 240 bytes at most).
const CAPPED_NAME_BYTES: usize = 200;

/// The file (under the root) that holds index `index`: `<index>.ndjson`,
/// or, when that is longer than [`MAX_FILE_NAME_BYTES`],
/// `<first 200 bytes of index>#<SHA-256 of index, 32 hex>.ndjson`. `#` is
/// not allowed in index names, so a capped name never is another index's
/// file.
pub fn file_name(index: &str) -> String {
    let plain = format!("{index}.ndjson");
    if plain.len() <= MAX_FILE_NAME_BYTES {
        return plain;
    }
    let mut cut = CAPPED_NAME_BYTES.min(index.len());
    while !index.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = crate::digest::hex(&Sha256::digest(index.as_bytes()));
    format!("{}#{}.ndjson", &index[..cut], &hash[..32])
}

/// One open file, locked by its writer.
type Handle = Arc<Mutex<File>>;

/// The open files, least recently used closed first.
#[derive(Debug, Default)]
struct Handles {
    open: HashMap<PathBuf, (Handle, u64)>,
    tick: u64,
}

impl Handles {
    /// The handle of `path`, opened (append, create) if it is not open;
    /// idle handles are closed to keep at most [`MAX_OPEN_FILES`].
    fn get(&mut self, path: &Path) -> Result<Handle, SinkError> {
        self.tick += 1;
        if let Some((handle, used)) = self.open.get_mut(path) {
            *used = self.tick;
            return Ok(handle.clone());
        }
        while self.open.len() >= MAX_OPEN_FILES {
            // Only an idle handle (nobody holds a clone) is closed: one
            // path never has two handles.
            let idle = self
                .open
                .iter()
                .filter(|(_, (h, _))| Arc::strong_count(h) == 1)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(p, _)| p.clone());
            match idle {
                Some(p) => drop(self.open.remove(&p)),
                None => break,
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        let handle = Arc::new(Mutex::new(file));
        self.open
            .insert(path.to_path_buf(), (handle.clone(), self.tick));
        Ok(handle)
    }
}

/// Appends NDJSON files under a root directory.
#[derive(Debug)]
pub struct DirectorySink {
    root: PathBuf,
    files: Arc<Mutex<Handles>>,
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
            files: Arc::new(Mutex::new(Handles::default())),
        })
    }

    /// Files open now (at most [`MAX_OPEN_FILES`] between writes).
    pub fn open_files(&self) -> usize {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .len()
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
            let i = slot(&mut out, self.root.join(file_name(doc.index.as_str())));
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

/// Write each buffer to its file in one call and fsync it, holding that
/// file's lock only (the handle table's lock only to find the handle).
fn append_blocking(files: &Mutex<Handles>, out: &[(PathBuf, Vec<u8>)]) -> Result<(), SinkError> {
    for (path, bytes) in out {
        let handle = files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)?;
        let mut file = handle.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(bytes).map_err(io_err(path))?;
        file.sync_data().map_err(io_err(path))?;
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

    fn batch_of(indices: &[String]) -> SinkBatch {
        SinkBatch {
            tenant: "demo".into(),
            route: "cwl".into(),
            request_id: "r".into(),
            records: vec![b"r".to_vec()],
            documents: indices
                .iter()
                .enumerate()
                .map(|(i, ix)| IndexedDocument {
                    record_index: 0,
                    index: IndexName::new(ix).unwrap(),
                    id: format!("r-0-{i}"),
                    body: format!("{{\"i\":{i}}}"),
                })
                .collect(),
            ..SinkBatch::default()
        }
    }

    /// 300 distinct indices (a record spanning 300 days): every document
    /// is written, and the files left open stay within the bound.
    #[tokio::test]
    async fn open_files_stay_bounded_and_everything_is_written() {
        let dir = std::env::temp_dir().join(format!("weir-dir-lru-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sink = DirectorySink::open(&dir).unwrap();
        let indices: Vec<String> = (0..300).map(|d| format!("cwl-day-{d}")).collect();
        sink.write(batch_of(&indices)).await.unwrap();
        assert!(sink.open_files() <= MAX_OPEN_FILES, "{}", sink.open_files());
        sink.write(batch_of(&indices[..10])).await.unwrap();
        assert!(sink.open_files() <= MAX_OPEN_FILES);
        for (i, ix) in indices.iter().enumerate() {
            let text = std::fs::read_to_string(dir.join(file_name(ix))).unwrap();
            let want = if i < 10 { 4 } else { 2 };
            assert_eq!(text.lines().count(), want, "{ix}");
            assert!(text.contains(&format!("{{\"i\":{i}}}")), "{ix}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A valid 250-byte index name: `<index>.ndjson` would be 257 bytes,
    /// too long for a file name; it is written to a capped name and the
    /// action lines keep the full index.
    #[tokio::test]
    async fn an_index_name_too_long_for_a_file_is_written_under_a_capped_name() {
        let dir = std::env::temp_dir().join(format!("weir-dir-long-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sink = DirectorySink::open(&dir).unwrap();
        let long = format!("sh-{}", "p".repeat(247));
        let other = format!("sh-{}q", "p".repeat(246));
        assert_eq!(long.len(), 250);
        sink.write(batch_of(&[long.clone(), other.clone()]))
            .await
            .unwrap();
        let name = file_name(&long);
        assert!(name.len() <= MAX_FILE_NAME_BYTES, "{}", name.len());
        assert_ne!(name, file_name(&other), "same prefix, different files");
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let action: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(action["index"]["_index"], long.as_str());
        assert_eq!(file_name("waf"), "waf.ndjson", "short names unchanged");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
