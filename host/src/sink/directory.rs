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
//!
//! Crash consistency: a file holds whole records only, and no acknowledged
//! record is ever behind a torn one. Before a file is appended to (first
//! after it is opened, or after anyone else changed its length) a torn tail
//! is cut back to the last whole record (module `tail`), logged and counted
//! (`weir_directory_torn_tails_repaired_total`); an append that fails (disk
//! full) is cut back off and the request fails. Each append holds an
//! advisory lock (`flock`) on the file, so another handle or process (a
//! `weir replay` beside `weir serve`) never cuts an append in progress. A
//! file or directory created is made durable in its parent directory.

mod tail;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::{BackupObject, BoxFuture, Sink, SinkBatch, SinkError, WriteSummary};
use tail::Framing;

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

/// One open file and the length this process last left it at (`None`:
/// not known, so its tail is checked before the next append).
#[derive(Debug)]
struct Open {
    file: File,
    known: Option<u64>,
}

/// One open file, locked by its writer.
type Handle = Arc<Mutex<Open>>;

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
        let file = open_for_append(path).map_err(io_err(path))?;
        let handle = Arc::new(Mutex::new(Open { file, known: None }));
        self.open
            .insert(path.to_path_buf(), (handle.clone(), self.tick));
        Ok(handle)
    }
}

/// Open `path` to append and read; if it is created, make its directory
/// entry durable (fsync the directory).
fn open_for_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).read(true);
    match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let file = options.create(true).open(path)?;
            sync_parent(path)?;
            Ok(file)
        }
        opened => opened,
    }
}

/// Create `dir` and its missing ancestors, each made durable in its
/// parent (fsync of the parent directory after each creation).
fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durably(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => sync_parent(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// fsync the directory holding `path`, so that its entry survives a crash.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Appends NDJSON files under a root directory.
#[derive(Debug)]
pub struct DirectorySink {
    root: PathBuf,
    files: Arc<Mutex<Handles>>,
    torn_tails: Arc<AtomicU64>,
}

/// Bytes to append to one file, and how its records are framed.
#[derive(Debug)]
struct Piece {
    path: PathBuf,
    framing: Framing,
    bytes: Vec<u8>,
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
        create_dir_durably(root).map_err(io_err(root))?;
        Ok(DirectorySink {
            root: root.to_path_buf(),
            files: Arc::new(Mutex::new(Handles::default())),
            torn_tails: Arc::new(AtomicU64::new(0)),
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

    /// Append `out` off the executor and fsync every file.
    async fn append(&self, out: Vec<Piece>) -> Result<(), SinkError> {
        let files = self.files.clone();
        let torn_tails = self.torn_tails.clone();
        tokio::task::spawn_blocking(move || append_blocking(&files, &out, &torn_tails))
            .await
            .map_err(|e| SinkError::Task(e.to_string()))?
    }

    /// The files a batch appends to, with their bytes: `_bulk` form per
    /// index, and the dead letters of the tenant's route.
    fn render(&self, batch: &SinkBatch) -> Result<Vec<Piece>, SinkError> {
        let mut out: Vec<Piece> = Vec::new();
        for doc in &batch.documents {
            let path = self.root.join(file_name(doc.index.as_str()));
            let i = slot(&mut out, path, Framing::BulkPairs);
            super::opensearch::bulk::encode_one(
                doc.index.as_str(),
                &doc.id,
                &doc.body,
                &mut out[i].bytes,
            );
        }
        if !batch.dead_letters.is_empty() {
            let dir = self.root.join("dead-letters").join(&batch.tenant);
            create_dir_durably(&dir).map_err(io_err(&dir))?;
            let path = dir.join(format!("{}.ndjson", batch.route));
            let i = slot(&mut out, path, Framing::Lines);
            super::dead_letter::render(batch, batch.dead_letters.iter(), &mut out[i].bytes);
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
            create_dir_durably(&dir).map_err(io_err(&dir))?;
            let path = dir.join(format!("{}.ndjson", object.route));
            self.append(vec![Piece {
                path,
                framing: Framing::Lines,
                bytes: object.lines,
            }])
            .await
        })
    }

    fn torn_tails_repaired(&self) -> Option<u64> {
        Some(self.torn_tails.load(Ordering::Relaxed))
    }
}

/// Write each buffer to its file in one call and fsync it, holding that
/// file's lock only (the handle table's lock only to find the handle), and
/// the file's advisory lock against other handles and processes. A torn
/// tail is cut back first (counted in `torn_tails`); a failed append is
/// undone.
fn append_blocking(
    files: &Mutex<Handles>,
    out: &[Piece],
    torn_tails: &AtomicU64,
) -> Result<(), SinkError> {
    for piece in out {
        let path = &piece.path;
        let handle = files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)?;
        let mut open = handle.lock().unwrap_or_else(PoisonError::into_inner);
        let Open { file, known } = &mut *open;
        match file.lock() {
            // Where there are no advisory locks, this process's own lock
            // (above) still orders its writers.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {}
            locked => locked.map_err(io_err(path))?,
        }
        let _unlock = Unlock(file);
        let mut target: &File = file;
        if let Some(cut) = tail::check(&mut target, known, piece.framing).map_err(io_err(path))? {
            torn_tails.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                path = %path.display(),
                length = cut.from,
                cut_to = cut.to,
                "directory sink: a torn tail (an append cut short by a crash or a full disk) was cut back to the last whole record"
            );
        }
        tail::append(&mut target, known, &piece.bytes).map_err(io_err(path))?;
    }
    Ok(())
}

/// Releases a file's advisory lock when dropped.
struct Unlock<'a>(&'a File);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The buffer for `path` in `out`, added if new.
fn slot(out: &mut Vec<Piece>, path: PathBuf, framing: Framing) -> usize {
    match out.iter().position(|p| p.path == path) {
        Some(i) => i,
        None => {
            out.push(Piece {
                path,
                framing,
                bytes: Vec::new(),
            });
            out.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DeadLetter, DeadLetterKind, IndexedDocument};
    use super::*;
    use crate::config::IndexName;

    /// One document for `waf` and one dead letter (tenant `demo`, route `waf`).
    fn waf_batch() -> SinkBatch {
        SinkBatch {
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
        }
    }

    #[tokio::test]
    async fn writes_bulk_form_and_dead_letters() {
        let dir = std::env::temp_dir().join(format!("weir-dir-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sink = DirectorySink::open(&dir).unwrap();
        let batch = waf_batch();
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

    /// What a `weir` killed mid-append leaves: the `_bulk` file ends in
    /// an action line and half its document, the dead-letter file in half
    /// a line. Both are cut back before the next append, which then is
    /// whole: every line parses, actions and documents alternate.
    #[tokio::test]
    async fn a_torn_tail_is_cut_back_before_the_next_append() {
        let dir = std::env::temp_dir().join(format!("weir-dir-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pair = "{\"index\":{\"_index\":\"waf\",\"_id\":\"old\"}}\n{\"a\":0}\n";
        std::fs::create_dir_all(dir.join("dead-letters/demo")).unwrap();
        let torn = format!("{pair}{{\"index\":{{\"_index\":\"waf\",\"_id\":\"x\"}}}}\n{{\"a\":");
        std::fs::write(dir.join("waf.ndjson"), torn).unwrap();
        std::fs::write(dir.join("dead-letters/demo/waf.ndjson"), "{\"timesta").unwrap();
        let sink = DirectorySink::open(&dir).unwrap();
        sink.write(waf_batch()).await.unwrap();
        let bulk = std::fs::read_to_string(dir.join("waf.ndjson")).unwrap();
        let new = "{\"index\":{\"_index\":\"waf\",\"_id\":\"r1-0-0\"}}\n{\"a\":1}\n";
        assert_eq!(bulk, format!("{pair}{new}"));
        let dl = std::fs::read_to_string(dir.join("dead-letters/demo/waf.ndjson")).unwrap();
        assert_eq!(dl.lines().count(), 1, "{dl}");
        let line: serde_json::Value = serde_json::from_str(dl.trim_end()).unwrap();
        assert_eq!(line["reason"], "nope");
        assert_eq!(sink.torn_tails_repaired(), Some(2));
        // Whole files are left alone.
        sink.write(waf_batch()).await.unwrap();
        assert_eq!(sink.torn_tails_repaired(), Some(2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A file closed by the LRU and torn meanwhile (by another process) is
    /// checked again when reopened; a file changed under an open handle
    /// too (its length is not the one this process left).
    #[tokio::test]
    async fn a_file_changed_behind_the_sink_is_checked_again() {
        let dir = std::env::temp_dir().join(format!("weir-dir-again-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sink = DirectorySink::open(&dir).unwrap();
        let waf = waf_batch();
        sink.write(waf.clone()).await.unwrap();
        let path = dir.join("waf.ndjson");
        let whole = std::fs::read(&path).unwrap();
        let torn = |extra: &str| {
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            std::io::Write::write_all(&mut f, extra.as_bytes()).unwrap();
        };
        torn("{\"index\":{\"_ind");
        sink.write(waf.clone()).await.unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [&whole[..], &whole[..]].concat()
        );
        assert_eq!(sink.torn_tails_repaired(), Some(1));
        // Evicted by 64 other files, torn, reopened.
        let others: Vec<String> = (0..MAX_OPEN_FILES).map(|d| format!("other-{d}")).collect();
        sink.write(batch_of(&others)).await.unwrap();
        torn("{\"a\":");
        sink.write(waf).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), whole.repeat(3));
        assert_eq!(sink.torn_tails_repaired(), Some(2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Directories and files are created, their parents included.
    #[test]
    fn directories_are_created_with_their_parents() {
        let dir = std::env::temp_dir().join(format!("weir-dir-mk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let deep = dir.join("a/b/c");
        create_dir_durably(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_durably(&deep).unwrap();
        let file = deep.join("f.ndjson");
        drop(open_for_append(&file).unwrap());
        assert!(file.is_file());
        drop(open_for_append(&file).unwrap());
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
