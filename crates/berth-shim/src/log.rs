//! Docker's json-file log: one JSON object per line, `{"log":"text\n","stream":"stdout","time":"..."}`.
//! A line is logged when its newline arrives (or when it reaches 16 KiB, or at end of stream, without
//! the newline, as Docker does with partial lines).
//!
//! Rotation (`max-size`, `max-file`) works as dockerd's: before an entry is written, a file that has
//! reached `max-size` is rotated: `<log>.1` becomes `<log>.2` and so on (the oldest beyond
//! `max-file - 1` is dropped), `<log>` becomes `<log>.1`, and a new empty `<log>` is started. With
//! `max-file` 1 the live file is truncated instead. Readers take `<log>.N` .. `<log>.1`, then `<log>`.
//! The `none` driver keeps no file at all ([`JsonLog::disabled`]).
//!
//! With attributes (the json-file driver's `labels`, `env`, `tag` options), each line carries them
//! as dockerd's do, between `stream` and `time`: `{"log":..,"stream":..,"attrs":{..},"time":..}`.
//! berthd computes the object once per start; a line copies it as it is.
//!
//! `mode=non-blocking` ([`JsonLog::non_blocking`]) is dockerd's: the copiers queue the lines, up to
//! `max-buffer-size` bytes, for a writer thread, and a line that finds the queue full is dropped
//! (as dockerd 20.10 drops it), so a container whose log cannot keep up (a slow or stalled disk)
//! loses lines instead of blocking on its output. The queue is drained before a `start` with held
//! output is answered and before the exit is recorded, as dockerd drains its buffer at close.

use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

const MAX_LINE: usize = 16 * 1024;

/// Bytes of one stream waiting for their newline.
#[derive(Default)]
pub struct LineBuffer(Vec<u8>);

/// The open file and how much it holds.
struct Sink {
    w: BufWriter<File>,
    size: u64,
}

/// The files of the log and their rotation.
struct Files {
    path: PathBuf,
    max_size: u64,
    max_file: u32,
    sink: Mutex<Sink>,
}

/// The lines queued for the writer thread (non-blocking mode).
struct Queue {
    state: Mutex<QueueState>,
    /// Lines arrived (the writer waits).
    ready: Condvar,
    /// The writer has written everything queued ([`JsonLog::flush`] waits).
    idle: Condvar,
    max_bytes: usize,
}

#[derive(Default)]
struct QueueState {
    lines: VecDeque<Entry>,
    /// Of the queued lines and those the writer is writing.
    bytes: usize,
    writing: bool,
}

/// One line of output on its way to the log.
struct Entry {
    stream: u8,
    /// As read, with its newline if it had one.
    text: Vec<u8>,
    time: std::time::SystemTime,
}

/// A remote log driver (syslog, gelf, ...), fed every line after the file.
struct Remote {
    driver: Mutex<Box<dyn berth_logdriver::Logger>>,
    name: String,
    /// The last send failed (its error was reported; the next ones are not, until one succeeds).
    failing: std::sync::atomic::AtomicBool,
}

/// The log file, shared by the stdout and stderr copiers.
pub struct JsonLog {
    /// `None`: the `none` driver, or a remote driver without its local copy.
    files: Option<Arc<Files>>,
    /// `,"attrs":{...}`, or empty.
    attrs: Arc<str>,
    /// Non-blocking mode's queue.
    queue: Option<Arc<Queue>>,
    /// A remote driver.
    remote: Option<Arc<Remote>>,
}

/// What writes an entry: the file (with the lines' attributes) and the remote driver.
#[derive(Clone)]
struct Writer {
    files: Option<Arc<Files>>,
    attrs: Arc<str>,
    remote: Option<Arc<Remote>>,
}

fn stream_name(stream: u8) -> &'static str {
    if stream == 2 {
        "stderr"
    } else {
        "stdout"
    }
}

fn open_append(path: &Path) -> Result<Sink> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Sink {
        w: BufWriter::new(f),
        size,
    })
}

/// `<log>.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl Files {
    /// Shift the numbered files up, move the live file to `.1` and start a new one (or truncate
    /// the live file when only one is kept).
    fn rotate(&self, sink: &mut Sink) -> Result<()> {
        sink.w.flush()?;
        if self.max_file >= 2 {
            let _ = std::fs::remove_file(numbered(&self.path, self.max_file - 1));
            for n in (1..self.max_file - 1).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        } else {
            sink.w.get_ref().set_len(0)?;
        }
        *sink = open_append(&self.path)?;
        Ok(())
    }

    /// Write one line, rotating first when the file is full.
    fn append(&self, line: &[u8]) {
        let mut s = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if self.max_size > 0 && s.size >= self.max_size {
            if let Err(e) = self.rotate(&mut s) {
                eprintln!("berth-shim: rotating {}: {e:#}", self.path.display());
            }
        }
        if s.w.write_all(line).is_ok() {
            s.size += line.len() as u64;
        }
    }

    fn flush(&self) {
        let mut s = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = s.w.flush();
    }
}

impl Queue {
    /// Queue a line, or drop it when the queue is full (a line bigger than the whole queue is
    /// taken when nothing else waits, as dockerd's ring takes it).
    fn push(&self, line: Entry) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = line.text.len();
        if st.bytes + n > self.max_bytes && (st.writing || !st.lines.is_empty()) {
            return;
        }
        st.bytes += n;
        st.lines.push_back(line);
        self.ready.notify_one();
    }

    /// The writer thread: everything queued, then a flush (readers see lines as they come).
    fn run(&self, w: &Writer) {
        loop {
            let batch = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                while st.lines.is_empty() {
                    st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                st.writing = true;
                std::mem::take(&mut st.lines)
            };
            let mut bytes = 0;
            for l in &batch {
                w.write(l);
                bytes += l.text.len();
            }
            if let Some(files) = &w.files {
                files.flush();
            }
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.bytes -= bytes;
            st.writing = false;
            if st.lines.is_empty() {
                self.idle.notify_all();
            }
        }
    }

    /// Wait until the writer has written every queued line, giving up at `deadline` if there is
    /// one: whether everything was written.
    fn drain_until(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !st.lines.is_empty() || st.writing {
            st = match deadline {
                None => self.idle.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.idle
                        .wait_timeout(st, left)
                        .map_or_else(|e| e.into_inner().0, |(g, _)| g)
                }
            };
        }
        true
    }
}

impl Remote {
    /// Send one line (its newline off); a failure is reported once until a send succeeds again.
    fn send(&self, stream: u8, text: &[u8], time: std::time::SystemTime) {
        use std::sync::atomic::Ordering;
        let (line, partial) = match text.strip_suffix(b"\n") {
            Some(l) => (l, false),
            None => (text, true),
        };
        let m = berth_logdriver::Message {
            line,
            stream: if stream == 2 {
                berth_logdriver::Stream::Stderr
            } else {
                berth_logdriver::Stream::Stdout
            },
            time,
            partial,
        };
        let r = self
            .driver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log(&m);
        match r {
            Ok(()) => self.failing.store(false, Ordering::Relaxed),
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "berth-shim: {} log driver: {e} (lines are dropped until a send succeeds)",
                        self.name
                    );
                }
            }
        }
    }
}

impl Writer {
    /// The entry's JSON line in the file, then the entry to the remote driver.
    fn write(&self, e: &Entry) {
        if let Some(files) = &self.files {
            files.append(&json_line(e.stream, &e.text, e.time, &self.attrs));
        }
        if let Some(r) = &self.remote {
            r.send(e.stream, &e.text, e.time);
        }
    }
}

/// `{"log":..,"stream":..[,"attrs":..],"time":..}` and its newline.
fn json_line(stream: u8, text: &[u8], time: std::time::SystemTime, attrs: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(text.len() + attrs.len() + 80);
    line.extend_from_slice(b"{\"log\":");
    // A string always serialises.
    let _ = serde_json::to_writer(&mut line, &String::from_utf8_lossy(text));
    line.extend_from_slice(b",\"stream\":\"");
    line.extend_from_slice(stream_name(stream).as_bytes());
    line.push(b'"');
    line.extend_from_slice(attrs.as_bytes());
    line.extend_from_slice(b",\"time\":\"");
    line.extend_from_slice(berth_time::rfc3339_nano(time).as_bytes());
    line.extend_from_slice(b"\"}\n");
    line
}

impl JsonLog {
    /// Open (appending; a restarted container continues its log), rotating at `max_size` bytes
    /// (0: never) and keeping `max_file` files.
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> Result<JsonLog> {
        Ok(JsonLog {
            files: Some(Arc::new(Files {
                path: path.to_path_buf(),
                max_size,
                max_file: max_file.max(1),
                sink: Mutex::new(open_append(path)?),
            })),
            ..JsonLog::disabled()
        })
    }

    /// Every line carries `attrs` (a JSON object, as berthd passes it).
    pub fn with_attrs(mut self, attrs: Option<&str>) -> JsonLog {
        self.attrs = attrs
            .map(|a| format!(",\"attrs\":{a}"))
            .unwrap_or_default()
            .into();
        self
    }

    /// Every line goes to `driver` (named `name` in the shim's log) too, after the file.
    pub fn with_remote(mut self, name: &str, driver: Box<dyn berth_logdriver::Logger>) -> JsonLog {
        self.remote = Some(Arc::new(Remote {
            driver: Mutex::new(driver),
            name: name.to_string(),
            failing: Default::default(),
        }));
        self
    }

    fn writer(&self) -> Writer {
        Writer {
            files: self.files.clone(),
            attrs: self.attrs.clone(),
            remote: self.remote.clone(),
        }
    }

    /// Nothing is kept or sent.
    fn is_off(&self) -> bool {
        self.files.is_none() && self.remote.is_none()
    }

    /// Non-blocking mode: lines go through a queue of at most `max_bytes` (of output, as dockerd
    /// counts them) to a writer thread.
    pub fn non_blocking(mut self, max_bytes: usize) -> JsonLog {
        if self.is_off() {
            return self;
        }
        let q = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
            idle: Condvar::new(),
            max_bytes,
        });
        let writer = q.clone();
        let w = self.writer();
        std::thread::spawn(move || writer.run(&w));
        self.queue = Some(q);
        self
    }

    /// The `none` driver: every write is dropped.
    pub fn disabled() -> JsonLog {
        JsonLog {
            files: None,
            attrs: Arc::from(""),
            queue: None,
            remote: None,
        }
    }

    fn entry(&self, stream: u8, bytes: &[u8]) {
        let time = std::time::SystemTime::now();
        match &self.queue {
            Some(q) => q.push(Entry {
                stream,
                text: bytes.to_vec(),
                time,
            }),
            None => {
                if let Some(files) = &self.files {
                    files.append(&json_line(stream, bytes, time, &self.attrs));
                }
                if let Some(r) = &self.remote {
                    r.send(stream, bytes, time);
                }
            }
        }
    }

    /// Log the complete lines of `data`, keeping a trailing partial line in `buf`.
    pub fn write(&self, stream: u8, buf: &mut LineBuffer, data: &[u8]) {
        if self.is_off() {
            return;
        }
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
        // Readers (`docker logs -f`) see lines as they come (the writer thread flushes its own).
        if start > 0 && self.queue.is_none() {
            if let Some(files) = &self.files {
                files.flush();
            }
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

    /// Everything logged so far to the file (non-blocking mode: once the writer wrote the queue).
    pub fn flush(&self) {
        self.flush_until(None);
    }

    /// [`JsonLog::flush`], giving up on the queue at `deadline`: whether it was all written.
    pub fn flush_until(&self, deadline: Option<std::time::Instant>) -> bool {
        let drained = self.queue.as_ref().is_none_or(|q| q.drain_until(deadline));
        if let Some(files) = &self.files {
            files.flush();
        }
        drained
    }

    /// The output ended: a batching remote driver sends what it holds (waiting a while). Not
    /// when a copier is still inside the driver (an endpoint that never answers): the exit is not
    /// held up for it.
    pub fn close_remote(&self) {
        if let Some(r) = &self.remote {
            match r.driver.try_lock() {
                Ok(mut d) => d.close(),
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().close(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
    }

    /// Whether a remote driver takes the lines too.
    pub fn has_remote(&self) -> bool {
        self.remote.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|x| serde_json::from_str(x).unwrap())
            .collect()
    }

    #[test]
    fn lines_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let l = JsonLog::open(&p, 0, 1).unwrap();
        let mut b = LineBuffer::default();
        l.write(1, &mut b, b"hel");
        l.write(1, &mut b, b"lo\nwor");
        l.finish(1, &mut b);
        let mut e = LineBuffer::default();
        l.write(2, &mut e, b"oops\n");
        let v = entries(&p);
        assert_eq!(v[0]["log"], "hello\n");
        assert_eq!(v[1]["log"], "wor");
        assert_eq!(v[2]["stream"], "stderr");
    }

    #[test]
    fn lines_carry_the_attributes_as_dockerd_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let l = JsonLog::open(&p, 0, 1)
            .unwrap()
            .with_attrs(Some(r#"{"a":"1","tag":"web"}"#));
        let mut b = LineBuffer::default();
        l.write(2, &mut b, b"x \"q\"\n");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with(
                r#"{"log":"x \"q\"\n","stream":"stderr","attrs":{"a":"1","tag":"web"},"time":""#
            ),
            "{text}"
        );
        let v = entries(&p);
        assert_eq!(v[0]["attrs"]["tag"], "web");
        assert!(v[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn non_blocking_drops_what_the_queue_cannot_hold() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.log");
        // Each line is 7 bytes of output: three fit.
        let l = JsonLog::open(&p, 0, 1).unwrap().non_blocking(25);
        let mut b = LineBuffer::default();
        {
            // A stalled disk: the writer waits for the file.
            let _stall = l.files.as_ref().unwrap().sink.lock().unwrap();
            for i in 0..10 {
                l.write(1, &mut b, format!("line {i}\n").as_bytes());
            }
        }
        // Once the writer caught up, lines are taken again.
        l.flush();
        l.write(1, &mut b, b"after\n");
        l.flush();
        let logs: Vec<String> = entries(&p)
            .iter()
            .map(|v| v["log"].as_str().unwrap().to_string())
            .collect();
        let kept = logs.len() - 1;
        assert!((2..=4).contains(&kept), "{logs:?}");
        let want: Vec<String> = (0..kept).map(|i| format!("line {i}\n")).collect();
        assert_eq!(logs[..kept], want[..]);
        assert_eq!(logs[kept], "after\n");
    }

    #[test]
    fn rotates_and_keeps_max_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.log");
        // Each entry is ~80 bytes: a 100-byte limit rotates after every second line.
        let l = JsonLog::open(&p, 100, 3).unwrap();
        let mut b = LineBuffer::default();
        for i in 0..10 {
            l.write(1, &mut b, format!("line {i}\n").as_bytes());
        }
        l.finish(1, &mut b);
        let logs: Vec<String> = [numbered(&p, 2), numbered(&p, 1), p.clone()]
            .iter()
            .flat_map(|f| entries(f))
            .map(|v| v["log"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            logs,
            ["line 4\n", "line 5\n", "line 6\n", "line 7\n", "line 8\n", "line 9\n"]
        );
        assert!(!numbered(&p, 3).exists());
    }

    #[test]
    fn one_file_truncates_and_none_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.log");
        let l = JsonLog::open(&p, 100, 1).unwrap();
        let mut b = LineBuffer::default();
        for i in 0..5 {
            l.write(1, &mut b, format!("line {i}\n").as_bytes());
        }
        let v = entries(&p);
        assert_eq!(v.last().unwrap()["log"], "line 4\n");
        assert!(v.len() <= 2 && !numbered(&p, 1).exists());
        let n = JsonLog::disabled();
        n.write(1, &mut b, b"dropped\n");
        n.finish(1, &mut b);
    }
}
