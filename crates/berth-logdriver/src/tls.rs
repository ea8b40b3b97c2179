//! TLS client settings for a driver's `tcp+tls://` endpoint, as dockerd's `tlsconfig.Client` makes
//! them: the host's CA bundle plus a given CA file, a client certificate and key if given, and
//! no verification of the server at all with `skip-verify` (the user's explicit choice).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The host's CA bundle (Debian's; Go reads the same file).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "Could not read {what} {:?}: {e}",
            path.display().to_string()
        )
    })?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    let certs = certs.map_err(|e| format!("failed to parse {what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "failed to append certificates from PEM file: {:?}",
            path.display().to_string()
        ));
    }
    Ok(certs)
}

/// What the verifier accepts when verification is skipped: any certificate, with the handshake's
/// signatures still checked (so the session is at least with the certificate's key holder).
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
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

/// A client configuration: `ca` added to the host's roots, `cert` and `key` presented when both
/// are given, the server not verified with `skip_verify`.
pub fn client_config(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
    skip_verify: bool,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        if Path::new(SYSTEM_ROOTS).exists() {
            // A certificate of the bundle rustls cannot take is skipped, as Go skips it.
            let _ =
                roots.add_parsable_certificates(certs(Path::new(SYSTEM_ROOTS), "CA certificate")?);
        }
        if let Some(ca) = ca {
            for c in certs(ca, "CA certificate")? {
                roots
                    .add(c)
                    .map_err(|e| format!("bad CA certificate {}: {e}", ca.display()))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "client certificate")?;
            let pem = std::fs::read(key)
                .map_err(|e| format!("Could not read key {:?}: {e}", key.display().to_string()))?;
            let key = rustls_pemfile::private_key(&mut &pem[..])
                .map_err(|e| format!("failed to parse key {}: {e}", key.display()))?
                .ok_or_else(|| format!("no private key in {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("a client certificate needs both a certificate and a key".into()),
    };
    Ok(Arc::new(config))
}
