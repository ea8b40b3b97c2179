//! The networking error type.

/// What can go wrong setting up container networking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid subnet {0:?}: use a.b.c.d/len with len 8-30")]
    BadSubnet(String),
    #[error("invalid address {0:?}")]
    BadAddress(String),
    #[error(
        "invalid MAC address {0:?}: want six hex pairs (aa:bb:cc:dd:ee:ff) of a unicast address"
    )]
    BadMac(String),
    #[error("address pool {subnet} is exhausted")]
    Exhausted { subnet: String },
    #[error("address {addr} is not in {subnet} or is reserved")]
    NotInSubnet { addr: String, subnet: String },
    #[error("address {0} is already in use")]
    InUse(String),
    /// A published port's host address is taken (dockerd's words for it).
    #[error("Error starting userland proxy: listen {protocol}{} {listen}: bind: address already in use", if listen.is_ipv4() { "4" } else { "6" })]
    PortInUse {
        protocol: String,
        listen: std::net::SocketAddr,
    },
    #[error("invalid port mapping {spec:?}: {why}")]
    BadPortMapping { spec: String, why: String },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The kernel or the host lacks what the network needs (a link kind, a parent interface).
    #[error("{0}")]
    Unsupported(String),
    #[error("network setup failed and cleanup also failed: {0}")]
    Cleanup(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
