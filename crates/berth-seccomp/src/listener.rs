//! Handing the seccomp notify listener to a seccomp agent.
//!
//! The runtime-spec says: when a rule uses `SCMP_ACT_NOTIFY`, the runtime
//! connects to the UNIX socket at `linux.seccomp.listenerPath` and sends, in
//! one message, the container process state (`ociVersion`, `fds`, `pid`,
//! `metadata` from `listenerMetadata`, and the container `state`) as JSON
//! together with the listener fd as `SCM_RIGHTS` ancillary data. `fds` names
//! the passed descriptors in order, here `["seccompFd"]`.
//!
//! [`send_listener_fd`] is the runtime side, [`receive_listener_fd`] the
//! agent side (used by the tests, and by a future agent in the daemon).

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME, VERSION};

use crate::error::{Error, Result};
use crate::fd::NotifyFd;

/// Builds the state message the spec requires for the listener: `ociVersion`
/// of this spec version, `fds` = `["seccompFd"]`, `pid` of the container
/// process as seen by the runtime, `metadata` from `listenerMetadata`.
pub fn container_process_state(
    state: State,
    pid: i32,
    metadata: Option<String>,
) -> ContainerProcessState {
    let mut process_state = ContainerProcessState::default();
    process_state
        .set_version(VERSION.to_owned())
        .set_fds(vec![SECCOMP_FD_NAME.to_owned()])
        .set_pid(pid)
        .set_metadata(metadata)
        .set_state(state);
    process_state
}

/// Connects to `listener_path` and sends `process_state` as JSON with
/// `notify_fd` attached (`SCM_RIGHTS`), then closes the connection.
///
/// `notify_fd` stays owned by the caller (the receiver gets a duplicate).
/// Typically called by the runtime's parent process, which can still see
/// `listener_path`, after the container process passed the fd up to it.
/// To send from inside the container instead, connect before `pivot_root`
/// and use [`send_listener_fd_on`].
pub fn send_listener_fd(
    listener_path: &Path,
    notify_fd: RawFd,
    process_state: &ContainerProcessState,
) -> Result<()> {
    let stream = UnixStream::connect(listener_path).map_err(|source| Error::ListenerConnect {
        path: listener_path.to_owned(),
        source,
    })?;
    send_listener_fd_on(stream, notify_fd, process_state).map_err(|e| match e {
        Error::ListenerSend { source, .. } => Error::ListenerSend {
            path: listener_path.to_owned(),
            source,
        },
        other => other,
    })
}

/// Like [`send_listener_fd`], on a stream already connected to the
/// listener; closes it when done.
///
/// Mind that a process running under the filter must not have `connect`,
/// `sendmsg`, `write` or `close` routed to `SCMP_ACT_NOTIFY`: it would wait
/// for an agent that has not received the listener yet.
pub fn send_listener_fd_on(
    stream: UnixStream,
    notify_fd: RawFd,
    process_state: &ContainerProcessState,
) -> Result<()> {
    let payload = serde_json::to_vec(process_state).map_err(Error::EncodeState)?;
    let send_err = |source: std::io::Error| Error::ListenerSend {
        path: stream_peer(&stream),
        source,
    };
    let fds = [notify_fd];
    let sent = sendmsg::<UnixAddr>(
        stream.as_raw_fd(),
        &[IoSlice::new(&payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| send_err(e.into()))?;
    // A stream socket may take the payload in parts; the fd went with the first.
    (&stream).write_all(&payload[sent..]).map_err(send_err)?;
    Ok(())
}

fn stream_peer(stream: &UnixStream) -> std::path::PathBuf {
    stream
        .peer_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf))
        .unwrap_or_else(|| "<connected socket>".into())
}

/// The agent side: reads one message sent by [`send_listener_fd`] from an
/// accepted connection, until the sender closes it.
///
/// Returns the decoded state and the received listener (close-on-exec).
pub fn receive_listener_fd(stream: &mut UnixStream) -> Result<(ContainerProcessState, NotifyFd)> {
    let recv_err = Error::ListenerReceive;
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg_space = nix::cmsg_space!([RawFd; 4]);
    let (len, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| recv_err(e.into()))?;
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs().map_err(|e| recv_err(e.into()))? {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                fds.extend(received);
            }
        }
        (msg.bytes, fds)
    };
    // Own every received fd at once so none leaks on an error below.
    let mut owned: Vec<NotifyFd> = fds.into_iter().map(NotifyFd::from_raw_owned).collect();
    let mut payload = buf[..len].to_vec();
    stream.read_to_end(&mut payload).map_err(recv_err)?;

    let state: ContainerProcessState =
        serde_json::from_slice(&payload).map_err(Error::DecodeState)?;
    let index = state
        .fds()
        .iter()
        .position(|name| name == SECCOMP_FD_NAME)
        .filter(|&i| i < owned.len())
        .ok_or_else(|| {
            recv_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "message carries no seccompFd",
            ))
        })?;
    let fd = owned.swap_remove(index);
    Ok((state, fd))
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use oci_spec::runtime::ContainerState;

    use super::*;

    #[test]
    fn state_and_fd_arrive_at_the_listener() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();

        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"passed along").unwrap();
        let mut state = State::default();
        state
            .set_id("c1".to_owned())
            .set_status(ContainerState::Creating)
            .set_pid(Some(42));
        let sent = container_process_state(state, 42, Some("meta".to_owned()));
        send_listener_fd(&path, file.as_raw_fd(), &sent).unwrap();

        let (mut conn, _) = listener.accept().unwrap();
        let (received, fd) = receive_listener_fd(&mut conn).unwrap();
        assert_eq!(received, sent);
        assert_eq!(received.version(), VERSION);
        assert_eq!(received.fds(), &[SECCOMP_FD_NAME]);
        assert_eq!(received.metadata().as_deref(), Some("meta"));
        assert_ne!(fd.as_raw_fd(), file.as_raw_fd());

        // Same open file description: it shares the offset after the write.
        let offset = nix::unistd::lseek(fd.as_raw_fd(), 0, nix::unistd::Whence::SeekCur).unwrap();
        assert_eq!(offset, 12);

        // The wire format is the spec's camelCase JSON.
        let json = serde_json::to_value(&sent).unwrap();
        assert_eq!(json["ociVersion"], VERSION);
        assert_eq!(json["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(json["state"]["id"], "c1");
    }

    #[test]
    fn missing_listener_is_an_error_naming_the_path() {
        let state = container_process_state(State::default(), 1, None);
        let e = send_listener_fd(Path::new("/nonexistent/agent.sock"), 0, &state)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/agent.sock"), "{e}");
    }
}
