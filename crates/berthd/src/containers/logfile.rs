//! Reading a container's json-file log as the shim writes it: the rotated files `<log>.N` .. `<log>.1`
//! (oldest first), then the live `<log>`; following the live file across rotations (a new inode
//! under the same name: the rest of the old file is `<log>.1` now).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// `<log>.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Every file of the log, oldest first (the live one last, even if it does not exist yet).
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..)
        .map(|n| numbered(path, n))
        .take_while(|p| p.exists())
        .collect();
    out.reverse();
    out.push(path.to_path_buf());
    out
}

/// Where a reader is in the live file.
pub struct Cursor {
    path: PathBuf,
    ino: Option<u64>,
    offset: u64,
}

async fn read_from(path: &Path, offset: u64) -> (Vec<u8>, Option<u64>) {
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return (Vec::new(), None);
    };
    let ino = f.metadata().await.ok().map(|m| m.ino());
    let mut buf = Vec::new();
    if f.seek(std::io::SeekFrom::Start(offset)).await.is_ok() {
        let _ = f.read_to_end(&mut buf).await;
    }
    (buf, ino)
}

/// Keep the complete lines of `buf` (a line being written stays for the next read).
fn complete_lines(mut buf: Vec<u8>) -> Vec<u8> {
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    buf.truncate(end);
    buf
}

impl Cursor {
    /// Everything logged so far (complete lines, oldest first), and a cursor after it.
    pub async fn read_all(path: &Path) -> (Vec<u8>, Cursor) {
        let mut data = Vec::new();
        let all = files(path);
        let (live, rotated) = all.split_last().expect("the live file is listed");
        for p in rotated {
            data.extend(complete_lines(tokio::fs::read(p).await.unwrap_or_default()));
        }
        let (buf, ino) = read_from(live, 0).await;
        let buf = complete_lines(buf);
        let offset = buf.len() as u64;
        data.extend(buf);
        let cur = Cursor {
            path: path.to_path_buf(),
            ino,
            offset,
        };
        (data, cur)
    }

    /// The complete lines written since the last read, across a rotation.
    pub async fn read_new(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let now = tokio::fs::metadata(&self.path).await.ok().map(|m| m.ino());
        if now != self.ino && self.ino.is_some() {
            // Rotated: the old file is `<log>.1` (or gone, when only one file is kept).
            let old = numbered(&self.path, 1);
            let (buf, ino) = read_from(&old, self.offset).await;
            if ino == self.ino {
                out.extend(complete_lines(buf));
            }
            self.offset = 0;
            self.ino = now;
        }
        let (buf, ino) = read_from(&self.path, self.offset).await;
        if self.ino.is_none() {
            self.ino = ino;
        }
        if ino == self.ino {
            let buf = complete_lines(buf);
            self.offset += buf.len() as u64;
            out.extend(buf);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_rotated_files_and_follows_a_rotation() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("c-json.log");
        std::fs::write(numbered(&log, 2), "a\n").unwrap();
        std::fs::write(numbered(&log, 1), "b\n").unwrap();
        std::fs::write(&log, "c\npart").unwrap();
        let (data, mut cur) = Cursor::read_all(&log).await;
        assert_eq!(data, b"a\nb\nc\n");
        // The partial line completes, then the shim rotates and writes on.
        std::fs::write(&log, "c\npartial\nd\n").unwrap();
        std::fs::rename(numbered(&log, 1), numbered(&log, 2)).unwrap();
        std::fs::rename(&log, numbered(&log, 1)).unwrap();
        std::fs::write(&log, "e\n").unwrap();
        assert_eq!(cur.read_new().await, b"partial\nd\ne\n");
        assert_eq!(cur.read_new().await, b"");
        assert_eq!(files(&log).len(), 3);
    }
}
