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
    /// The live file as the reader opened it: read on after a rotation renamed it or a removal of
    /// the container unlinked it, so no line written before is lost to a reader that asked for it.
    file: Option<tokio::fs::File>,
    ino: Option<u64>,
    offset: u64,
}

async fn open(path: &Path) -> (Option<tokio::fs::File>, Option<u64>) {
    let Ok(f) = tokio::fs::File::open(path).await else {
        return (None, None);
    };
    let ino = f.metadata().await.ok().map(|m| m.ino());
    (Some(f), ino)
}

/// The complete lines of `f` from `offset` on.
async fn read_from(f: &mut tokio::fs::File, offset: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    if f.seek(std::io::SeekFrom::Start(offset)).await.is_ok() {
        let _ = f.read_to_end(&mut buf).await;
    }
    complete_lines(buf)
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
        let (mut file, ino) = open(live).await;
        let mut offset = 0;
        if let Some(f) = file.as_mut() {
            let buf = read_from(f, 0).await;
            offset = buf.len() as u64;
            data.extend(buf);
        }
        let cur = Cursor {
            path: path.to_path_buf(),
            file,
            ino,
            offset,
        };
        (data, cur)
    }

    /// The complete lines written since the last read, across a rotation (and after a removal).
    pub async fn read_new(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let now = tokio::fs::metadata(&self.path).await.ok().map(|m| m.ino());
        if self.file.is_none() {
            // Not there yet when the reader came.
            (self.file, self.ino) = open(&self.path).await;
            self.offset = 0;
        }
        if let Some(f) = self.file.as_mut() {
            let buf = read_from(f, self.offset).await;
            self.offset += buf.len() as u64;
            out.extend(buf);
        }
        if now.is_some() && now != self.ino {
            // Rotated: the rest of the old file (`<log>.1` now) was read above; on with the new one.
            (self.file, self.ino) = open(&self.path).await;
            self.offset = 0;
            if let Some(f) = self.file.as_mut() {
                let buf = read_from(f, 0).await;
                self.offset = buf.len() as u64;
                out.extend(buf);
            }
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
