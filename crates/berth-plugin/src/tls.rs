//! TLS for plugins whose `.json` spec has an `https://` address or a `TLSConfig`: the plugin's
//! certificate checked against `CAFile` (or, as dockerd does without a CA file, not checked), and
//! the client certificate `CertFile`/`KeyFile` presented when given.

use crate::discovery::TlsConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no certificate in it"));
    }
    Ok(certs)
}

fn key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("{path}: {e}"))?
        .ok_or_else(|| format!("{path}: no private key in it"))
}

/// Accepts any server certificate (`InsecureSkipVerify`); signatures are still checked.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client config of a TLS plugin address.
pub(crate) fn client_config(t: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(&t.ca_file)? {
            roots.add(c).map_err(|e| format!("{}: {e}", t.ca_file))?;
        }
        builder.with_root_certificates(roots)
    };
    let cfg = if t.cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder
            .with_client_auth_cert(certs(&t.cert_file)?, key(&t.key_file)?)
            .map_err(|e| format!("{}: {e}", t.cert_file))?
    };
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use crate::discovery::{parse_addr, TlsConfig};
    use crate::transport::{HttpTransport, PluginTransport};
    use std::path::Path;
    use std::process::Command;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn openssl(dir: &Path, args: &[&str]) -> bool {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// A CA, a certificate for localhost it signs, and a second CA that signs nothing.
    fn make_certs(dir: &Path) -> bool {
        let ca = |name: &str| {
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "1",
                    "-subj",
                    &format!("/CN={name}"),
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.pem"),
                ],
            )
        };
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
        ca("ca")
            && ca("other")
            && openssl(
                dir,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=localhost",
                    "-keyout",
                    "srv.key",
                    "-out",
                    "srv.csr",
                ],
            )
            && openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "srv.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "1",
                    "-extfile",
                    "ext.cnf",
                    "-out",
                    "srv.pem",
                ],
            )
    }

    #[tokio::test]
    async fn plugins_over_tls_are_verified_against_the_ca_file() {
        let t = tempfile::tempdir().unwrap();
        if !make_certs(t.path()) {
            println!("skipped: plugins_over_tls_are_verified_against_the_ca_file: openssl failed or is missing");
            return;
        }
        let p = |f: &str| t.path().join(f).display().to_string();
        let server_cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            super::certs(&p("srv.pem")).unwrap(),
            super::key(&p("srv.key")).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(s).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{\"Implements\":[\"authz\"]}   ")
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        let call = |tls: Option<TlsConfig>| async move {
            let addr = parse_addr(&format!("https://localhost:{port}"), tls).unwrap();
            HttpTransport::new(addr)
                .post(
                    "/Plugin.Activate",
                    bytes::Bytes::new(),
                    Duration::from_secs(5),
                )
                .await
        };
        let with_ca = TlsConfig {
            ca_file: p("ca.pem"),
            ..Default::default()
        };
        let a = call(Some(with_ca)).await.unwrap();
        assert_eq!(a.status, 200);
        assert!(String::from_utf8_lossy(&a.body).contains("authz"));
        // No CA file: not verified, as dockerd does.
        assert_eq!(call(None).await.unwrap().status, 200);
        let wrong = TlsConfig {
            ca_file: p("other.pem"),
            ..Default::default()
        };
        let e = call(Some(wrong)).await.unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");
        let missing = TlsConfig {
            ca_file: p("absent.pem"),
            ..Default::default()
        };
        assert!(call(Some(missing)).await.is_err());
    }
}
