//! Docker's json-file log: one JSON object per line, `{"log":"text\n","stream":"stdout","time":"..."}`.
//! A line is logged when its newline arrives (or when it reaches 16 KiB, or at end of stream, without
//! the newline, as Docker does with partial lines).

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

const MAX_LINE: usize = 16 * 1024;

/// Bytes of one stream waiting for their newline.
#[derive(Default)]
pub struct LineBuffer(Vec<u8>);

/// The log file, shared by the stdout and stderr copiers.
pub struct JsonLog {
    w: Mutex<BufWriter<File>>,
}

fn stream_name(stream: u8) -> &'static str {
    if stream == 2 {
        "stderr"
    } else {
        "stdout"
    }
}

impl JsonLog {
    /// Open (appending; a restarted container continues its log).
    pub fn open(path: &Path) -> Result<JsonLog> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        Ok(JsonLog {
            w: Mutex::new(BufWriter::new(f)),
        })
    }

    fn entry(&self, stream: u8, bytes: &[u8]) {
        let v = serde_json::json!({
            "log": String::from_utf8_lossy(bytes),
            "stream": stream_name(stream),
            "time": crate::time::now_rfc3339_nano(),
        });
        let mut w = self.w.lock().unwrap_or_else(|e| e.into_inner());
        let _ = serde_json::to_writer(&mut *w, &v);
        let _ = w.write_all(b"\n");
    }

    /// Log the complete lines of `data`, keeping a trailing partial line in `buf`.
    pub fn write(&self, stream: u8, buf: &mut LineBuffer, data: &[u8]) {
        buf.0.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = buf.0[start..].iter().position(|&b| b == b'\n') {
            let end = start + i + 1;
            self.entry(stream, &buf.0[start..end]);
            start = end;
        }
        while buf.0.len() - start >= MAX_LINE {
            self.entry(stream, &buf.0[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.0.drain(..start);
        // Readers (`docker logs -f`) see lines as they come.
        if start > 0 {
            self.flush();
        }
    }

    /// End of stream: log what is left.
    pub fn finish(&self, stream: u8, buf: &mut LineBuffer) {
        if !buf.0.is_empty() {
            let rest = std::mem::take(&mut buf.0);
            self.entry(stream, &rest);
        }
        self.flush();
    }

    /// Flush to the file.
    pub fn flush(&self) {
        let mut w = self.w.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_partials() {
        let dir = std::env::temp_dir().join(format!("berth-shim-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.log");
        let l = JsonLog::open(&p).unwrap();
        let mut b = LineBuffer::default();
        l.write(1, &mut b, b"hel");
        l.write(1, &mut b, b"lo\nwor");
        l.finish(1, &mut b);
        let mut e = LineBuffer::default();
        l.write(2, &mut e, b"oops\n");
        let text = std::fs::read_to_string(&p).unwrap();
        let v: Vec<serde_json::Value> = text
            .lines()
            .map(|x| serde_json::from_str(x).unwrap())
            .collect();
        assert_eq!(v[0]["log"], "hello\n");
        assert_eq!(v[1]["log"], "wor");
        assert_eq!(v[2]["stream"], "stderr");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
