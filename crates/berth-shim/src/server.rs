//! The shim's unix socket. A client sends one line, then:
//!
//! - `wait\n`: gets `<exit code>\n` when the container exits, then `done\n` once the runtime's state
//!   is deleted (nothing if that failed), and the end of the stream;
//! - `attach <stdin> <stdout> <stderr>\n` (each `0` or `1`): gets the container's output from then on in
//!   Docker's multiplexed framing (`[stream, 0, 0, 0, u32 BE length]` + payload), and, with stdin, its
//!   further bytes go to the container's stdin (or terminal);
//! - `resize <rows> <cols>\n`: sets the terminal size of a tty container, answers `ok`;
//! - `start\n`: lets the output of a container started with `--start` flow (to the log and the
//!   attached clients), answers `ok` once what the container wrote before is in the log. A `wait` does the same: whoever waits for the exit needs the
//!   output drained first.
//!
//! An attach is answered `ok\n` once the client is registered; the shim closes the stream after the
//! last output. Each client is written to by its own thread from a bounded queue ([`crate::outbox`]):
//! one that does not keep up is dropped, and never holds up the container.

use crate::outbox::Outbox;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex};

struct Attacher {
    out: Arc<Outbox>,
    stdout: bool,
    stderr: bool,
}

#[derive(Default)]
struct Inner {
    attachers: Vec<Attacher>,
    waiters: Vec<UnixStream>,
    exit: Option<i32>,
    /// Whether `<runtime> delete` succeeded, once it ran.
    deleted: Option<bool>,
}

/// State shared by the output copiers, the socket server and the main thread.
pub struct Shared {
    inner: Mutex<Inner>,
    pty: Option<OwnedFd>,
    stdin: Mutex<Option<File>>,
    stdin_once: bool,
    /// Whether the output was held from the start (`--start`), and whether it still is (see
    /// [`Shared::wait_released`]).
    holds: bool,
    held: Mutex<bool>,
    released: Condvar,
    /// Output copiers that have not yet passed on what was waiting in their pipe at the release
    /// (see [`Shared::wait_drained`]).
    undrained: Mutex<usize>,
    drained: Condvar,
}

impl Shared {
    /// `stdin`: the write end of the container's stdin pipe, if it has one; `pty`: the terminal
    /// master of a tty container (its input goes there too); `held`: the output waits for
    /// [`Shared::release`].
    pub fn new(
        stdin: Option<OwnedFd>,
        stdin_once: bool,
        pty: Option<OwnedFd>,
        held: bool,
    ) -> Shared {
        let stdin = match (&pty, stdin) {
            (Some(m), _) => m.try_clone().ok().map(File::from),
            (None, s) => s.map(File::from),
        };
        Shared {
            inner: Mutex::new(Inner::default()),
            stdin: Mutex::new(stdin),
            // A terminal stays open for the container's life.
            stdin_once: stdin_once && pty.is_none(),
            pty,
            holds: held,
            held: Mutex::new(held),
            released: Condvar::new(),
            undrained: Mutex::new(0),
            drained: Condvar::new(),
        }
    }

    /// `n` output copiers will each call [`Shared::copier_drained`] once.
    pub fn expect_copiers(&self, n: usize) {
        *self.undrained.lock().unwrap_or_else(|e| e.into_inner()) = n;
    }

    /// An output copier has logged (and sent to the attached clients) what its pipe held when the
    /// output was released, or its stream ended.
    pub fn copier_drained(&self) {
        let mut n = self.undrained.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.drained.notify_all();
        }
    }

    /// Return once every copier has passed on what was held: a `start` is answered after the output
    /// the container wrote before it is in the log, so `docker start` then `docker logs` sees it.
    pub fn wait_drained(&self) {
        let mut n = self.undrained.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.drained.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Let the output flow.
    pub fn release(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.released.notify_all();
    }

    /// Return once the output may flow; whether it was held at all (`--start`), even if the
    /// release came before this call.
    pub fn wait_released(&self) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        while *held {
            held = self.released.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        self.holds
    }

    fn resize(&self, rows: u16, cols: u16) -> bool {
        match &self.pty {
            Some(m) => berth_sys::set_window_size(std::os::fd::AsFd::as_fd(m), rows, cols).is_ok(),
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue output for every client attached to that stream (dropping clients that went away or
    /// fell too far behind).
    pub fn broadcast(&self, stream: u8, data: &[u8]) {
        let mut g = self.lock();
        if g.attachers.is_empty() {
            return;
        }
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes();
        let mut frame = Vec::with_capacity(8 + data.len());
        frame.extend_from_slice(&[stream, 0, 0, 0]);
        frame.extend_from_slice(&len);
        frame.extend_from_slice(data);
        let frame: Arc<[u8]> = frame.into();
        g.attachers.retain(|a| {
            let wanted = if stream == 2 { a.stderr } else { a.stdout };
            !wanted || a.out.push(&frame)
        });
    }

    /// The container exited: answer waiters (their connections stay open until [`Shared::deleted`]),
    /// end attached streams (after what is queued for them); returns the attached clients' queues,
    /// to wait for.
    pub fn finish(&self, code: i32) -> Vec<Arc<Outbox>> {
        let mut g = self.lock();
        g.exit = Some(code);
        for w in g.waiters.iter_mut() {
            let _ = writeln!(w, "{code}");
        }
        g.attachers
            .drain(..)
            .map(|a| {
                a.out.close();
                a.out
            })
            .collect()
    }

    /// The runtime's state is deleted (`ok`) or could not be: tell the waiters and let them go.
    pub fn deleted(&self, ok: bool) {
        let mut g = self.lock();
        g.deleted = Some(ok);
        for mut w in g.waiters.drain(..) {
            if ok {
                let _ = w.write_all(b"done\n");
            }
        }
    }

    fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Accept clients forever (the process exits when the container is done).
pub fn serve(listener: UnixListener, shared: Arc<Shared>) {
    for conn in listener.incoming().flatten() {
        let shared = shared.clone();
        std::thread::spawn(move || handle(conn, &shared));
    }
}

fn handle(conn: UnixStream, shared: &Shared) {
    let mut reader = match conn.try_clone() {
        Ok(c) => BufReader::new(c),
        Err(_) => return,
    };
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["wait"] => {
            shared.release();
            let mut g = shared.lock();
            let mut c = conn;
            if let Some(code) = g.exit {
                let _ = writeln!(c, "{code}");
            }
            match g.deleted {
                Some(true) => {
                    let _ = c.write_all(b"done\n");
                }
                Some(false) => {}
                None => g.waiters.push(c),
            }
        }
        ["attach", i, o, e] => {
            {
                let mut g = shared.lock();
                if g.exit.is_some() {
                    let _ = conn.shutdown(Shutdown::Both);
                    return;
                }
                // The ack goes out before any frame: the client knows it is registered.
                let mut conn = conn;
                if conn.write_all(b"ok\n").is_err() {
                    return;
                }
                let Ok(out) = Outbox::start(conn) else {
                    return;
                };
                g.attachers.push(Attacher {
                    out,
                    stdout: *o == "1",
                    stderr: *e == "1",
                });
            }
            if *i == "1" {
                copy_stdin(&mut reader, shared);
            }
        }
        ["start"] => {
            shared.release();
            shared.wait_drained();
            let mut c = conn;
            let _ = c.write_all(b"ok\n");
        }
        ["resize", h, w] => {
            let mut c = conn;
            let ok = match (h.parse(), w.parse()) {
                (Ok(h), Ok(w)) => shared.resize(h, w),
                _ => false,
            };
            let _ = writeln!(c, "{}", if ok { "ok" } else { "error no terminal" });
        }
        _ => {
            let mut c = conn;
            let _ = writeln!(c, "error unknown request");
        }
    }
}

fn copy_stdin(from: &mut impl Read, shared: &Shared) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut g = shared.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let written = g.as_mut().map(|f| f.write_all(&buf[..n]).is_ok());
        if written != Some(true) {
            return;
        }
    }
    if shared.stdin_once {
        shared.close_stdin();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask_wait(shared: &Arc<Shared>) -> BufReader<UnixStream> {
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(b"wait\n").unwrap();
        let shared = shared.clone();
        std::thread::spawn(move || handle(server, &shared))
            .join()
            .unwrap();
        BufReader::new(client)
    }

    fn rest(mut r: BufReader<UnixStream>) -> String {
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn waiters_hear_the_exit_then_done_once_the_state_is_deleted() {
        let shared = Arc::new(Shared::new(None, false, None, false));
        let early = ask_wait(&shared);
        let _ = shared.finish(3);
        // One that asks between the exit and the delete gets the code at once, `done` later.
        let between = ask_wait(&shared);
        let mut first = String::new();
        let mut early = early;
        early.read_line(&mut first).unwrap();
        assert_eq!(first, "3\n");
        shared.deleted(true);
        assert_eq!(rest(early), "done\n");
        assert_eq!(rest(between), "3\ndone\n");
        assert_eq!(rest(ask_wait(&shared)), "3\ndone\n");
    }

    fn ask(shared: &Arc<Shared>, line: &[u8]) -> String {
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(line).unwrap();
        let shared = shared.clone();
        std::thread::spawn(move || handle(server, &shared));
        let mut answer = String::new();
        BufReader::new(client).read_line(&mut answer).unwrap();
        answer
    }

    fn copier(shared: &Arc<Shared>) -> std::sync::mpsc::Receiver<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = shared.clone();
        std::thread::spawn(move || {
            shared.wait_released();
            let _ = tx.send(());
        });
        rx
    }

    #[test]
    fn held_output_flows_after_start_or_wait() {
        let short = std::time::Duration::from_millis(100);
        let shared = Arc::new(Shared::new(None, false, None, true));
        let flowing = copier(&shared);
        assert!(
            flowing.recv_timeout(short).is_err(),
            "released before start"
        );
        // An attach does not release it: that is what the hold waits for.
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(b"attach 0 1 1\n").unwrap();
        let s2 = shared.clone();
        std::thread::spawn(move || handle(server, &s2))
            .join()
            .unwrap();
        assert!(
            flowing.recv_timeout(short).is_err(),
            "released by an attach"
        );
        assert_eq!(ask(&shared, b"start\n"), "ok\n");
        flowing
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        // A second start is harmless; a wait releases too.
        assert_eq!(ask(&shared, b"start\n"), "ok\n");
        let shared = Arc::new(Shared::new(None, false, None, true));
        let flowing = copier(&shared);
        let _waiter = {
            let (mut client, server) = UnixStream::pair().unwrap();
            client.write_all(b"wait\n").unwrap();
            let s2 = shared.clone();
            std::thread::spawn(move || handle(server, &s2))
                .join()
                .unwrap();
            client
        };
        flowing
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        // Not held at all without `--start`.
        let flowing = copier(&Arc::new(Shared::new(None, false, None, false)));
        flowing
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap();
    }

    #[test]
    fn a_failed_delete_ends_the_wait_without_done() {
        let shared = Arc::new(Shared::new(None, false, None, false));
        let w = ask_wait(&shared);
        let _ = shared.finish(0);
        shared.deleted(false);
        assert_eq!(rest(w), "0\n");
        assert_eq!(rest(ask_wait(&shared)), "0\n");
    }
}
