//! TCP listeners with mutual TLS (dockerd's `--tlsverify --tlscacert --tlscert --tlskey`): the server
//! presents its certificate and accepts only clients whose certificate chains to the CA. Plain TCP is
//! never offered: the Engine API is root on the host.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors loading the TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// A PEM file held nothing usable.
    #[error("{0}: no {1} found")]
    Empty(PathBuf, &'static str),
    /// rustls refused the material.
    #[error("{0}")]
    Rustls(String),
}

/// The files of `--tlscacert`, `--tlscert`, `--tlskey`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA certificates that sign the clients' certificates.
    pub ca: PathBuf,
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::Read(path.into(), e))?;
    let list = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read(path.into(), e))?;
    if list.is_empty() {
        return Err(TlsError::Empty(path.into(), "certificate"));
    }
    Ok(list)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::Read(path.into(), e))?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| TlsError::Read(path.into(), e))?
        .ok_or_else(|| TlsError::Empty(path.into(), "private key"))
}

/// The server side: our certificate, and client certificates required and verified against the CA.
pub fn server_config(f: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in certs(&f.ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError::Rustls(format!("{}: {e}", f.ca.display())))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Rustls(format!("client verifier: {e}")))?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&f.cert)?, key(&f.key)?)
        .map_err(|e| TlsError::Rustls(format!("{}: {e}", f.cert.display())))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A listen address from `-H tcp://host[:port]` (dockerd's TLS port 2376 when none is given).
pub fn parse_tcp(h: &str) -> Option<String> {
    let rest = h.strip_prefix("tcp://")?.trim_end_matches('/');
    if rest.is_empty() {
        return None;
    }
    let has_port = match rest.rfind(']') {
        Some(i) => rest[i..].contains(':'),
        None => rest.contains(':'),
    };
    Some(if has_port {
        rest.to_string()
    } else {
        format!("{rest}:2376")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_addresses() {
        assert_eq!(
            parse_tcp("tcp://127.0.0.1:2999").as_deref(),
            Some("127.0.0.1:2999")
        );
        assert_eq!(parse_tcp("tcp://0.0.0.0").as_deref(), Some("0.0.0.0:2376"));
        assert_eq!(parse_tcp("tcp://[::1]").as_deref(), Some("[::1]:2376"));
        assert_eq!(parse_tcp("tcp://[::1]:5").as_deref(), Some("[::1]:5"));
        assert_eq!(parse_tcp("tcp://"), None);
        assert_eq!(parse_tcp("unix:///x"), None);
    }

    #[test]
    fn missing_files_are_named() {
        let f = TlsFiles {
            ca: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let e = server_config(&f).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
