//! Crash consistency of one appended file: whole records only.
//!
//! A `weir` killed in the middle of an append (or a disk that filled up
//! under it) leaves the file ending in part of a batch. Appending behind
//! that tail would glue the next request's first record to the torn line,
//! and that request would be acknowledged although its record no longer
//! parses. So before a file is appended to, its tail is checked
//! ([`check`]) and cut back to the last whole record, and an append that
//! fails is undone ([`append`]): the file goes back to its length before
//! the append, and the request fails for Firehose to retry.
//!
//! A whole record is a line for dead letters and backups. In `_bulk` files
//! it is a pair of lines (action, document): a tear right after an action
//! line leaves a file that ends in `\n` and is still mis-framed (the next
//! action line would be read as that action's document), so a dangling
//! action line is cut too ([`intact_length`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// How records are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// One record per line (dead letters, backups).
    Lines,
    /// `_bulk` form: an action line, then the document's line.
    BulkPairs,
}

/// Every action line starts with these bytes (see
/// [`super::super::opensearch::bulk::encode_one`]). A document may start
/// with them too; [`intact_length`] allows for that.
const ACTION_START: &[u8] = b"{\"index\":{\"_index\":";

/// Bytes read at a time when looking back for a line's start.
const CHUNK: u64 = 64 * 1024;

/// A file appended to: what [`check`] and [`append`] need, so that tests
/// can stand in a file that fails part way.
pub(super) trait Target {
    /// Its length now.
    fn size(&mut self) -> io::Result<u64>;
    /// Fill `buf` from offset `at`.
    fn read_exact_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()>;
    /// Append `bytes` (all of them, or an error, after which part of them
    /// may be in the file).
    fn append_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Cut it to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Make its data and length durable.
    fn sync(&mut self) -> io::Result<()>;
}

/// A file opened for append and read. Reads seek; appends go to the end
/// whatever the position (`O_APPEND`).
impl Target for &File {
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
        self.seek(SeekFrom::Start(at))?;
        self.read_exact(buf)
    }

    fn append_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// A torn tail that was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Repair {
    /// The file's length before.
    pub(super) from: u64,
    /// Its length after: the end of its last whole record.
    pub(super) to: u64,
}

/// Check the tail of `t` unless it is still `known` long (the length this
/// process left it at), cut a torn tail back to the last whole record and
/// make that durable. Afterwards `known` is the file's length.
pub(super) fn check<T: Target>(
    t: &mut T,
    known: &mut Option<u64>,
    framing: Framing,
) -> io::Result<Option<Repair>> {
    let len = t.size()?;
    if *known == Some(len) {
        return Ok(None);
    }
    *known = None;
    let good = intact_length(t, len, framing)?;
    let repair = if good < len {
        t.truncate(good)?;
        t.sync()?;
        Some(Repair {
            from: len,
            to: good,
        })
    } else {
        None
    };
    *known = Some(good);
    Ok(repair)
}

/// Append `bytes` and make them durable, or leave the file as it was: if
/// the write or the sync fails, the file is cut back to its length before
/// (`known`, after [`check`]) and the error returned. If even that fails,
/// `known` is cleared, so the next [`check`] looks at the tail again.
pub(super) fn append<T: Target>(
    t: &mut T,
    known: &mut Option<u64>,
    bytes: &[u8],
) -> io::Result<()> {
    let before = match known.take() {
        Some(len) => len,
        None => t.size()?,
    };
    match t.append_all(bytes).and_then(|()| t.sync()) {
        Ok(()) => {
            *known = Some(before + bytes.len() as u64);
            Ok(())
        }
        Err(e) => {
            if t.truncate(before).and_then(|()| t.sync()).is_ok() {
                *known = Some(before);
            }
            Err(e)
        }
    }
}

/// The length of the longest prefix of `t` (`len` bytes) that ends with a
/// whole record: bytes after the last `\n` are a torn line; in `_bulk`
/// form, a last action line without its document goes too.
///
/// Which lines are actions is told by position, not content (a document
/// may look like an action): the file is pairs, so in the run of lines
/// that start like an action at its end, after the last line that does
/// not (a document) or from the file's start, actions and documents
/// alternate, beginning with an action. An odd run ends with an action.
pub(super) fn intact_length<T: Target>(t: &mut T, len: u64, framing: Framing) -> io::Result<u64> {
    let whole_lines = line_start(t, len)?;
    if framing == Framing::Lines {
        return Ok(whole_lines);
    }
    let mut run = 0u64;
    let mut last_start = whole_lines;
    let mut end = whole_lines;
    while end > 0 {
        // The line ending with the `\n` at `end - 1`.
        let start = line_start(t, end - 1)?;
        if !starts_like_action(t, start, end - 1)? {
            break;
        }
        if run == 0 {
            last_start = start;
        }
        run += 1;
        end = start;
    }
    Ok(if run % 2 == 1 {
        last_start
    } else {
        whole_lines
    })
}

/// The offset after the last `\n` before `end` (0 if there is none).
fn line_start<T: Target>(t: &mut T, end: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK.min(end) as usize];
    let mut hi = end;
    while hi > 0 {
        let lo = hi.saturating_sub(CHUNK);
        let chunk = &mut buf[..(hi - lo) as usize];
        t.read_exact_at(chunk, lo)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(lo + i as u64 + 1);
        }
        hi = lo;
    }
    Ok(0)
}

/// Whether the line `start..end` (`end` at its `\n`) starts like an action.
fn starts_like_action<T: Target>(t: &mut T, start: u64, end: u64) -> io::Result<bool> {
    if end - start < ACTION_START.len() as u64 {
        return Ok(false);
    }
    let mut head = [0u8; ACTION_START.len()];
    t.read_exact_at(&mut head, start)?;
    Ok(head == ACTION_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in memory that takes `accept` more bytes, then fails with
    /// "no space left" (after keeping the part it took, as `write` does).
    #[derive(Default)]
    struct Fake {
        data: Vec<u8>,
        accept: Option<usize>,
        syncs: usize,
    }

    impl Target for Fake {
        fn size(&mut self) -> io::Result<u64> {
            Ok(self.data.len() as u64)
        }
        fn read_exact_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
            let at = at as usize;
            buf.copy_from_slice(&self.data[at..at + buf.len()]);
            Ok(())
        }
        fn append_all(&mut self, bytes: &[u8]) -> io::Result<()> {
            match self.accept {
                Some(n) if n < bytes.len() => {
                    self.data.extend_from_slice(&bytes[..n]);
                    self.accept = Some(0);
                    Err(io::Error::new(io::ErrorKind::StorageFull, "no space"))
                }
                _ => {
                    self.data.extend_from_slice(bytes);
                    Ok(())
                }
            }
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            self.syncs += 1;
            Ok(())
        }
    }

    fn fake(text: &str) -> Fake {
        Fake {
            data: text.as_bytes().to_vec(),
            ..Fake::default()
        }
    }

    const PAIR: &str = "{\"index\":{\"_index\":\"waf\",\"_id\":\"a\"}}\n{\"x\":1}\n";
    const ACTION: &str = "{\"index\":{\"_index\":\"waf\",\"_id\":\"b\"}}\n";

    fn intact(text: &str, framing: Framing) -> usize {
        let mut f = fake(text);
        intact_length(&mut f, text.len() as u64, framing).unwrap() as usize
    }

    #[test]
    fn a_torn_line_is_cut_back_to_the_last_newline() {
        assert_eq!(intact("", Framing::Lines), 0);
        assert_eq!(intact("{\"a\":1}\n", Framing::Lines), 8);
        assert_eq!(intact("{\"a\":1}\n{\"b\"", Framing::Lines), 8);
        assert_eq!(intact("{\"b\"", Framing::Lines), 0, "no whole line at all");
        // Longer than one chunk: the look-back crosses chunks.
        let long = format!("{{\"a\":1}}\n{}", "x".repeat(3 * CHUNK as usize + 7));
        assert_eq!(intact(&long, Framing::Lines), 8);
    }

    #[test]
    fn a_dangling_action_line_is_cut_in_bulk_files() {
        let n = PAIR.len();
        assert_eq!(intact(PAIR, Framing::BulkPairs), n);
        assert_eq!(intact(&format!("{PAIR}{ACTION}"), Framing::BulkPairs), n);
        assert_eq!(
            intact(&format!("{PAIR}{ACTION}{{\"x\""), Framing::BulkPairs),
            n
        );
        assert_eq!(
            intact(&format!("{PAIR}{ACTION}"), Framing::Lines),
            n + ACTION.len()
        );
        assert_eq!(intact(ACTION, Framing::BulkPairs), 0);
        assert_eq!(intact(&format!("{PAIR}{{\"ind"), Framing::BulkPairs), n);
    }

    /// Documents that look like action lines: position, not content,
    /// tells them apart.
    #[test]
    fn documents_shaped_like_actions_are_told_apart_by_position() {
        let lookalike = format!("{ACTION}{ACTION}");
        let two = format!("{PAIR}{lookalike}");
        assert_eq!(intact(&two, Framing::BulkPairs), two.len(), "whole");
        let torn = format!("{two}{ACTION}");
        assert_eq!(intact(&torn, Framing::BulkPairs), two.len(), "dangling");
        // From the file's start.
        let all = lookalike.repeat(3);
        assert_eq!(intact(&all, Framing::BulkPairs), all.len());
        assert_eq!(
            intact(&format!("{all}{ACTION}"), Framing::BulkPairs),
            all.len()
        );
    }

    #[test]
    fn check_repairs_once_and_then_trusts_the_known_length() {
        let mut f = fake(&format!("{PAIR}{ACTION}{{\"x"));
        let mut known = None;
        let r = check(&mut f, &mut known, Framing::BulkPairs).unwrap();
        let want = PAIR.len() as u64;
        assert_eq!(r.map(|r| r.to), Some(want));
        assert_eq!(f.data, PAIR.as_bytes());
        assert_eq!(known, Some(want));
        assert_eq!(f.syncs, 1, "the cut is made durable");
        assert_eq!(check(&mut f, &mut known, Framing::BulkPairs).unwrap(), None);
        // Someone else changed the file: looked at again.
        f.data.extend_from_slice(b"{\"ind");
        let r = check(&mut f, &mut known, Framing::BulkPairs).unwrap();
        assert_eq!(
            r,
            Some(Repair {
                from: want + 5,
                to: want
            })
        );
    }

    #[test]
    fn a_failed_append_leaves_the_file_at_its_previous_length() {
        let mut f = fake(PAIR);
        let mut known = None;
        check(&mut f, &mut known, Framing::BulkPairs).unwrap();
        let batch = format!("{ACTION}{{\"y\":2}}\n").repeat(10);
        // The disk fills up after a whole pair and half a line.
        f.accept = Some(ACTION.len() + 8 + ACTION.len() + 5);
        let err = append(&mut f, &mut known, batch.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(
            f.data,
            PAIR.as_bytes(),
            "nothing of the failed batch is left"
        );
        assert_eq!(known, Some(PAIR.len() as u64));
        // The retry (space freed) appends behind the whole records.
        f.accept = None;
        append(&mut f, &mut known, batch.as_bytes()).unwrap();
        assert_eq!(f.data, format!("{PAIR}{batch}").as_bytes());
        assert_eq!(known, Some((PAIR.len() + batch.len()) as u64));
    }

    /// A sync that fails is a failed append too (the data may not be on
    /// disk): undone the same way.
    #[test]
    fn a_failed_sync_undoes_the_append() {
        struct NoSync(Fake);
        impl Target for NoSync {
            fn size(&mut self) -> io::Result<u64> {
                self.0.size()
            }
            fn read_exact_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
                self.0.read_exact_at(buf, at)
            }
            fn append_all(&mut self, bytes: &[u8]) -> io::Result<()> {
                self.0.append_all(bytes)
            }
            fn truncate(&mut self, len: u64) -> io::Result<()> {
                self.0.truncate(len)
            }
            fn sync(&mut self) -> io::Result<()> {
                Err(io::Error::other("EIO"))
            }
        }
        let mut f = NoSync(fake(PAIR));
        let mut known = Some(PAIR.len() as u64);
        assert!(append(&mut f, &mut known, PAIR.as_bytes()).is_err());
        assert_eq!(f.0.data, PAIR.as_bytes());
        assert_eq!(known, None, "the cut was not made durable: look again");
    }
}
