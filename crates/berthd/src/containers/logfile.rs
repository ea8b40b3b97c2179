//! Reading a container's json-file log as the shim writes it: the rotated files `<log>.N` .. `<log>.1`
//! (oldest first), then the live `<log>`; following the live file across rotations (a new inode
//! under the same name: the rest of the old file is `<log>.1` now).
//!
//! Memory stays bounded whatever the size of the log: [`replay`] streams the files through a
//! fixed buffer (one line at a time, lines being as long as the shim writes them), finds where a
//! `tail` starts by reading blocks backwards from the end, and [`Cursor::read_new`] reads at most
//! [`FOLLOW_CHUNK`] bytes (plus the rest of a line) per call.
//!
//! The live file stays open from [`Snapshot::open`] on: a follower reads on through its own handle
//! after a rotation renamed the file or a removal of the container unlinked it, so a client that
//! asked for the log before `rm` gets every line written before it (docker-py's
//! `containers.run(remove=True)` reads after the removal).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most a follower reads per call (more is left for the next call).
pub const FOLLOW_CHUNK: u64 = 1 << 20;

/// The block size of the streaming and backwards reads.
const BLOCK: usize = 64 << 10;

/// `<log>.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Where a reader is in the live file, which it keeps open.
#[derive(Clone)]
pub struct Cursor {
    path: PathBuf,
    file: Option<Arc<File>>,
    ino: Option<u64>,
    offset: u64,
}

/// One opened file of the log and how much of it holds complete lines.
struct Part {
    file: Arc<File>,
    len: u64,
}

/// The length of the complete lines in the first `len` bytes of `f` (up to its last newline).
fn complete_len(f: &File, len: u64) -> u64 {
    let mut end = len;
    let mut buf = vec![0u8; BLOCK];
    while end > 0 {
        let start = end.saturating_sub(BLOCK as u64);
        let chunk = &mut buf[..(end - start) as usize];
        if f.read_exact_at(chunk, start).is_err() {
            return 0;
        }
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return start + i as u64 + 1;
        }
        end = start;
    }
    0
}

impl Part {
    fn open(path: &Path) -> Option<(Part, u64)> {
        let file = File::open(path).ok()?;
        let m = file.metadata().ok()?;
        let len = complete_len(&file, m.len());
        Some((
            Part {
                file: Arc::new(file),
                len,
            },
            m.ino(),
        ))
    }
}

/// The log as it was when opened: its files, and a cursor after them in the live one.
pub struct Snapshot {
    parts: Vec<Part>,
    cursor: Cursor,
}

impl Snapshot {
    /// Open the log's files: the live file first, then the rotated ones newest first, so a
    /// rotation meanwhile shows a file twice (skipped by inode) rather than losing one. Blocking
    /// (a few opens): done before answering, so a removal that comes next loses nothing.
    pub fn open(path: &Path) -> Snapshot {
        let (parts, cursor) = snapshot(path);
        Snapshot { parts, cursor }
    }
}

fn snapshot(path: &Path) -> (Vec<Part>, Cursor) {
    let mut seen = Vec::new();
    let mut parts = Vec::new();
    let live = Part::open(path);
    let cursor = Cursor {
        path: path.to_path_buf(),
        file: live.as_ref().map(|(p, _)| p.file.clone()),
        ino: live.as_ref().map(|(_, ino)| *ino),
        offset: live.as_ref().map_or(0, |(p, _)| p.len),
    };
    if let Some((p, ino)) = live {
        seen.push(ino);
        parts.push(p);
    }
    for n in 1.. {
        let Some((p, ino)) = Part::open(&numbered(path, n)) else {
            break;
        };
        if !seen.contains(&ino) {
            seen.push(ino);
            parts.push(p);
        }
    }
    parts.reverse();
    (parts, cursor)
}

/// Where the last `n` lines that `keep` accepts start: (part, offset). Reads blocks backwards from
/// the end, holding one block and the line being assembled.
fn tail_start(parts: &[Part], n: usize, keep: &dyn Fn(&[u8]) -> bool) -> (usize, u64) {
    if n == 0 {
        return (parts.len(), 0);
    }
    let mut found = 0;
    let mut block = vec![0u8; BLOCK];
    for (idx, part) in parts.iter().enumerate().rev() {
        if part.len == 0 {
            continue;
        }
        // Lines end before `pos` (the last newline is left out); `cur` holds the bytes of the
        // line being assembled that lie after `pos`, once a block boundary split it.
        let mut pos = part.len - 1;
        let mut cur: Vec<u8> = Vec::new();
        loop {
            let start = pos.saturating_sub(BLOCK as u64);
            let chunk = &mut block[..(pos - start) as usize];
            if part.file.read_exact_at(chunk, start).is_err() {
                break;
            }
            let mut upto = chunk.len();
            while let Some(i) = chunk[..upto].iter().rposition(|b| *b == b'\n') {
                let line_start = start + i as u64 + 1;
                let accepted = if cur.is_empty() {
                    keep(&chunk[i + 1..upto])
                } else {
                    let mut l = chunk[i + 1..upto].to_vec();
                    l.extend_from_slice(&cur);
                    cur.clear();
                    keep(&l)
                };
                if accepted {
                    found += 1;
                    if found == n {
                        return (idx, line_start);
                    }
                }
                upto = i;
            }
            let mut l = chunk[..upto].to_vec();
            l.extend_from_slice(&cur);
            cur = l;
            pos = start;
            if pos == 0 {
                if keep(&cur) {
                    found += 1;
                    if found == n {
                        return (idx, 0);
                    }
                }
                break;
            }
        }
    }
    (0, 0)
}

/// Replays the log as it is now, oldest line first, into `emit` (each complete line without its
/// newline; `emit` returns false to stop). With `tail`, only the last `tail` lines that `keep`
/// accepts (and whatever `keep` refuses among them). Returns a cursor after what was replayed, or
/// `None` if `emit` stopped. Blocking: run it off the async workers.
pub fn replay(
    path: &Path,
    tail: Option<usize>,
    keep: &dyn Fn(&[u8]) -> bool,
    emit: &mut dyn FnMut(&[u8]) -> bool,
) -> Option<Cursor> {
    Snapshot::open(path).replay(tail, keep, emit)
}

impl Snapshot {
    /// [`replay`] of the files as they were opened.
    pub fn replay(
        self,
        tail: Option<usize>,
        keep: &dyn Fn(&[u8]) -> bool,
        emit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Option<Cursor> {
        replay_parts(self.parts, self.cursor, tail, keep, emit)
    }
}

fn replay_parts(
    parts: Vec<Part>,
    cursor: Cursor,
    tail: Option<usize>,
    keep: &dyn Fn(&[u8]) -> bool,
    emit: &mut dyn FnMut(&[u8]) -> bool,
) -> Option<Cursor> {
    let (first, offset) = match tail {
        Some(n) => tail_start(&parts, n, keep),
        None => (0, 0),
    };
    let mut line = Vec::new();
    for (idx, part) in parts.iter().enumerate().skip(first) {
        let from = if idx == first { offset } else { 0 };
        let mut f: &File = &part.file;
        if f.seek(SeekFrom::Start(from)).is_err() {
            continue;
        }
        let mut r = BufReader::with_capacity(BLOCK, f.take(part.len.saturating_sub(from)));
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if !emit(&line) {
                        return None;
                    }
                }
            }
            if line.capacity() > BLOCK * 4 {
                // One long line is no reason to keep its buffer for the rest.
                line = Vec::new();
            }
        }
    }
    Some(cursor)
}

/// Up to [`FOLLOW_CHUNK`] bytes (more to finish a line) of `f` from `offset`.
fn read_from(f: &File, offset: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut r = f.try_clone().ok();
    if let Some(f) = r.as_mut() {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.take(FOLLOW_CHUNK).read_to_end(&mut buf);
            if buf.len() as u64 == FOLLOW_CHUNK && !buf.contains(&b'\n') {
                // A line longer than the chunk: read on to its end.
                let _ = BufReader::new(f).read_until(b'\n', &mut buf);
            }
        }
    }
    buf
}

/// Keep the complete lines of `buf` (a line being written stays for the next read).
fn complete_lines(mut buf: Vec<u8>) -> Vec<u8> {
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    buf.truncate(end);
    buf
}

impl Cursor {
    /// Complete lines written since the last read (at most about [`FOLLOW_CHUNK`] bytes: an empty
    /// answer means nothing new), across a rotation and after the file was removed.
    pub async fn read_new(&mut self) -> Vec<u8> {
        let mut c = self.clone();
        match tokio::task::spawn_blocking(move || (c.read_new_blocking(), c)).await {
            Ok((out, c)) => {
                *self = c;
                out
            }
            Err(_) => Vec::new(),
        }
    }

    fn read_new_blocking(&mut self) -> Vec<u8> {
        if self.file.is_none() {
            // Not there yet when the reader came.
            let Ok(f) = File::open(&self.path) else {
                return Vec::new();
            };
            self.ino = f.metadata().ok().map(|m| m.ino());
            self.file = Some(Arc::new(f));
            self.offset = 0;
        }
        if let Some(f) = &self.file {
            // The file this reader has open: the live one, or the rest of it after a rotation
            // renamed it (`<log>.1`) or a removal unlinked it.
            let buf = complete_lines(read_from(f, self.offset));
            if !buf.is_empty() {
                self.offset += buf.len() as u64;
                return buf;
            }
        }
        let now = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        if now.is_some() && now != self.ino {
            // Rotated, and the old file is read to its end: on with the new one.
            self.file = None;
            return self.read_new_blocking();
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(log: &Path, tail: Option<usize>, keep: &dyn Fn(&[u8]) -> bool) -> (Vec<u8>, Cursor) {
        let mut out = Vec::new();
        let cur = replay(log, tail, keep, &mut |l| {
            out.extend_from_slice(l);
            out.push(b'\n');
            true
        })
        .expect("not stopped");
        (out, cur)
    }

    #[tokio::test]
    async fn reads_rotated_files_and_follows_a_rotation() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("c-json.log");
        std::fs::write(numbered(&log, 2), "a\n").unwrap();
        std::fs::write(numbered(&log, 1), "b\n").unwrap();
        std::fs::write(&log, "c\npart").unwrap();
        let (data, mut cur) = all(&log, None, &|_| true);
        assert_eq!(data, b"a\nb\nc\n");
        // The partial line completes, then the shim rotates and writes on.
        std::fs::write(&log, "c\npartial\nd\n").unwrap();
        std::fs::rename(numbered(&log, 1), numbered(&log, 2)).unwrap();
        std::fs::rename(&log, numbered(&log, 1)).unwrap();
        std::fs::write(&log, "e\n").unwrap();
        let mut got = Vec::new();
        loop {
            let b = cur.read_new().await;
            if b.is_empty() {
                break;
            }
            got.extend(b);
        }
        assert_eq!(got, b"partial\nd\ne\n");
    }

    #[test]
    fn tail_reads_backwards_across_blocks_and_files() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("c-json.log");
        // Lines of many lengths (some longer than a block), spread over three files.
        let lines: Vec<String> = (0..600)
            .map(|i| format!("{i}:{}", "x".repeat((i * 7919) % (BLOCK + 300))))
            .collect();
        let text = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        std::fs::write(numbered(&log, 2), text(&lines[..200])).unwrap();
        std::fs::write(numbered(&log, 1), text(&lines[200..201])).unwrap();
        std::fs::write(&log, text(&lines[201..]) + "partial").unwrap();
        let even = |l: &[u8]| {
            let n: usize = std::str::from_utf8(l)
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            n.is_multiple_of(2)
        };
        for n in [0, 1, 2, 3, 50, 399, 400, 401, 1000] {
            let (data, _) = all(&log, Some(n), &|_| true);
            let want = text(&lines[lines.len().saturating_sub(n)..]);
            assert!(data == want.as_bytes(), "tail {n}");
            // With a filter, the tail starts at the n-th accepted line from the end.
            let (data, _) = all(&log, Some(n), &even);
            let accepted: Vec<usize> = (0..lines.len()).filter(|i| i.is_multiple_of(2)).collect();
            let from = if n == 0 {
                lines.len()
            } else {
                accepted[accepted.len().saturating_sub(n).min(accepted.len() - 1)]
            };
            let from = if n > accepted.len() { 0 } else { from };
            assert!(data == text(&lines[from..]).as_bytes(), "filtered tail {n}");
        }
    }

    #[test]
    fn a_stopped_emit_stops_the_replay() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("c-json.log");
        std::fs::write(&log, "a\nb\n").unwrap();
        let mut n = 0;
        assert!(replay(&log, None, &|_| true, &mut |_| {
            n += 1;
            false
        })
        .is_none());
        assert_eq!(n, 1);
    }
}
