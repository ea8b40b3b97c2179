//! The message channel between the runtime and the container's init while
//! the container is being created: a socketpair carrying small framed
//! messages (a tag byte, a length, a payload).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use crate::error::{Context, Error, Result};

/// What one side tells the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Runtime to init: carry on. Carries init's pid in the runtime's pid namespace.
    Continue(i32),
    /// Runtime to init: init's cgroups exist with their limits set, and it is
    /// in the cgroup2 one; init itself joins the v1 hierarchies through the
    /// `tasks` descriptors that follow (the count), see
    /// `berth_cgroups::CgroupManager::self_join_files`.
    CgroupsPlaced(u32),
    /// Init to runtime: the mounts are ready, run the prestart and createRuntime hooks.
    HooksReady,
    /// Init to runtime: set up, waiting on the exec fifo (or for `Start`).
    Ready,
    /// Runtime to init (`run`, no exec fifo): go on and exec.
    Start,
    /// Init to runtime: this step failed.
    Failed(String),
}

pub struct Channel(pub UnixStream);

impl Channel {
    pub fn send(&mut self, msg: &Msg) -> Result<()> {
        self.0
            .write_all(&Self::frame(msg))
            .ctx("sync with container init: write")
    }

    /// [`Channel::send`] without SIGPIPE when init has gone (a foreground
    /// `run` blocks the signal and would forward it to init): EPIPE instead.
    pub fn send_nosignal(&mut self, msg: &Msg) -> Result<()> {
        use nix::sys::socket::{send, MsgFlags};
        use std::os::fd::AsRawFd;
        let buf = Self::frame(msg);
        let mut done = 0;
        while done < buf.len() {
            match send(self.0.as_raw_fd(), &buf[done..], MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => done += n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).ctx("sync with container init: write"),
            }
        }
        Ok(())
    }

    fn frame(msg: &Msg) -> Vec<u8> {
        let (tag, payload): (u8, Vec<u8>) = match msg {
            Msg::Continue(pid) => (b'C', pid.to_le_bytes().to_vec()),
            Msg::CgroupsPlaced(n) => (b'G', n.to_le_bytes().to_vec()),
            Msg::HooksReady => (b'H', Vec::new()),
            Msg::Ready => (b'R', Vec::new()),
            Msg::Start => (b'S', Vec::new()),
            Msg::Failed(m) => (b'E', m.as_bytes().to_vec()),
        };
        let mut buf = Vec::with_capacity(5 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&payload);
        buf
    }

    /// Receive one message; `None` when the other side closed the channel.
    pub fn recv(&mut self) -> Result<Option<Msg>> {
        let mut head = [0u8; 5];
        match self.0.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e).ctx("sync with container init: read"),
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > 1 << 20 {
            return Err(Error::Init("sync message too large".into()));
        }
        let mut payload = vec![0u8; len];
        self.0
            .read_exact(&mut payload)
            .ctx("sync with container init: read")?;
        let msg = match head[0] {
            b'C' if len == 4 => Msg::Continue(i32::from_le_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ])),
            b'G' if len == 4 => Msg::CgroupsPlaced(u32::from_le_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ])),
            b'H' => Msg::HooksReady,
            b'R' => Msg::Ready,
            b'S' => Msg::Start,
            b'E' => Msg::Failed(String::from_utf8_lossy(&payload).into_owned()),
            t => return Err(Error::Init(format!("unexpected sync message {t:#x}"))),
        };
        Ok(Some(msg))
    }

    /// Receive, requiring a particular message; a failure report becomes an error.
    pub fn expect(&mut self, want: &Msg) -> Result<Msg> {
        match self.recv()? {
            Some(Msg::Failed(m)) => Err(Error::Init(m)),
            Some(m) if std::mem::discriminant(&m) == std::mem::discriminant(want) => Ok(m),
            Some(m) => Err(Error::Init(format!("expected {want:?}, got {m:?}"))),
            None => Err(Error::Init(
                "container init exited before finishing set-up".into(),
            )),
        }
    }
}

/// Pass descriptors (cgroup `tasks` files, idmapped mount trees) to init in
/// one message.
pub fn send_fds(sock: &UnixStream, fds: &[std::os::fd::OwnedFd]) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let iov = [std::io::IoSlice::new(b"F")];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&raw)],
        MsgFlags::empty(),
        None,
    )
    .ctx("pass descriptors to container init")?;
    Ok(())
}

/// Receive what [`send_fds`] sent.
pub fn recv_fds(sock: &UnixStream) -> Result<Vec<std::os::fd::OwnedFd>> {
    use std::os::fd::AsFd;
    let (fds, _) = berth_sys::recv_fds(sock.as_fd()).ctx("receive descriptors from the runtime")?;
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Channel(a), Channel(b));
        for m in [
            Msg::Continue(4242),
            Msg::CgroupsPlaced(9),
            Msg::HooksReady,
            Msg::Ready,
            Msg::Start,
            Msg::Failed("mount /proc: permission denied".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
