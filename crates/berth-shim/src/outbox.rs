//! One attached client's queue: the output copiers never write to a client themselves (a client that
//! reads slowly, or not at all, must not hold up the container's output, its log, the other clients,
//! or its exit). A thread per client writes the queued frames; a client that falls more than
//! [`LIMIT`] bytes behind is dropped (its stream ends), as is one whose connection fails.

use std::collections::VecDeque;
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How far a client may fall behind before it is dropped.
pub const LIMIT: usize = 1 << 20;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Arc<[u8]>>,
    bytes: usize,
    /// No more frames: the writer sends what is queued, then ends the stream.
    closing: bool,
    /// Dropped or broken: nothing more is written.
    dead: bool,
    /// The writer is finished.
    done: bool,
}

/// A client's queue and the connection its writer thread writes to.
pub struct Outbox {
    q: Mutex<Queue>,
    cv: Condvar,
    conn: UnixStream,
}

impl Outbox {
    /// Start the writer thread for `conn`.
    pub fn start(conn: UnixStream) -> std::io::Result<Arc<Outbox>> {
        let writer = conn.try_clone()?;
        let ob = Arc::new(Outbox {
            q: Mutex::default(),
            cv: Condvar::new(),
            conn,
        });
        let ob2 = ob.clone();
        std::thread::spawn(move || ob2.write_loop(writer));
        Ok(ob)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a frame; false if the client is gone (broken, or dropped now for being too far behind).
    pub fn push(&self, frame: &Arc<[u8]>) -> bool {
        let mut q = self.lock();
        if q.dead {
            return false;
        }
        if q.bytes + frame.len() > LIMIT {
            q.dead = true;
            q.frames.clear();
            drop(q);
            // Wakes a writer blocked on the client.
            let _ = self.conn.shutdown(Shutdown::Both);
            self.cv.notify_all();
            return false;
        }
        q.bytes += frame.len();
        q.frames.push_back(frame.clone());
        self.cv.notify_all();
        true
    }

    /// No more output: the queued frames go out, then the stream ends.
    pub fn close(&self) {
        self.lock().closing = true;
        self.cv.notify_all();
    }

    /// Wait until the writer is finished, at most until `deadline`; then the client is dropped.
    pub fn wait_done(&self, deadline: Instant) {
        let mut q = self.lock();
        while !q.done {
            let now = Instant::now();
            if now >= deadline {
                q.dead = true;
                drop(q);
                let _ = self.conn.shutdown(Shutdown::Both);
                return;
            }
            q = self
                .cv
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn write_loop(&self, mut w: UnixStream) {
        loop {
            let frame = {
                let mut q = self.lock();
                loop {
                    if q.dead {
                        break None;
                    }
                    if let Some(f) = q.frames.pop_front() {
                        q.bytes -= f.len();
                        break Some(f);
                    }
                    if q.closing {
                        break None;
                    }
                    q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            let Some(frame) = frame else { break };
            if w.write_all(&frame).is_err() {
                self.lock().dead = true;
                break;
            }
        }
        let _ = self.conn.shutdown(Shutdown::Both);
        let mut q = self.lock();
        q.done = true;
        q.dead = true;
        q.frames.clear();
        drop(q);
        self.cv.notify_all();
    }
}

/// How long the clients get, once the container is gone, to take what is queued for them.
pub const DRAIN: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_client_that_never_reads_is_dropped_and_never_blocks() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let ob = Outbox::start(ours).unwrap();
        let frame: Arc<[u8]> = vec![7u8; 64 * 1024].into();
        let t = Instant::now();
        let mut pushed = 0;
        while ob.push(&frame) {
            pushed += 1;
            assert!(pushed < 1000, "never dropped");
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        // Its stream ends after what the socket had taken.
        let mut theirs = theirs;
        let mut sink = Vec::new();
        let _ = theirs.read_to_end(&mut sink);
        assert!(sink.len() < pushed * frame.len());
        ob.wait_done(Instant::now() + Duration::from_secs(5));
    }

    #[test]
    fn a_reading_client_gets_everything_before_the_end() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let ob = Outbox::start(ours).unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            theirs.read_to_end(&mut all).unwrap();
            all
        });
        for i in 0..100u8 {
            assert!(ob.push(&Arc::from(vec![i; 1000])));
        }
        ob.close();
        ob.wait_done(Instant::now() + Duration::from_secs(5));
        let all = reader.join().unwrap();
        assert_eq!(all.len(), 100_000);
        assert_eq!(all[99_999], 99);
    }
}
