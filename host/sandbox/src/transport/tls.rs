//! TLS with rustls: verified by default (system roots, or Mozilla's bundled
//! roots where the system has none, plus any extra CA), SNI and host-name
//! checks, client certificates, and an explicit opt-out for test servers.

use std::io;
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};

use super::TransportError;

/// What a plugin asks of a TLS connection (WIT `tls-options`): extra
/// trust anchors, the name to verify, a client certificate, or no
/// verification at all. [`crate::trust::TlsTrust::check`] decides whether the user
/// granted what it asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra trust anchors, PEM.
    pub ca_pem: Option<Vec<u8>>,
    /// A PEM file of extra trust anchors, read by the host under the
    /// policy's file grants.
    pub ca_file: Option<String>,
    /// The name to verify instead of the host's (SNI too).
    pub server_name: Option<String>,
    /// A client certificate chain, PEM.
    pub client_cert_pem: Option<Vec<u8>>,
    /// The client certificate's private key, PEM.
    pub client_key_pem: Option<Vec<u8>>,
    /// Skips certificate verification (only where the user allowed it).
    pub dangerously_accept_invalid_certs: bool,
}

/// A TLS stream over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The platform's trust anchors, loaded once; Mozilla's (webpki-roots)
/// when the system has none (e.g. no ca-certificates package).
fn base_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// A failure to set TLS up (certificates, keys, names): `tls-handshake`,
/// since no certificate of the server was looked at.
fn tls_error(what: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::tls(format!("{what}: {e}"), None)
}

fn pem_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(what, e))?;
    if certs.is_empty() {
        return Err(TransportError::tls(format!("{what}: no PEM certificate found"), None));
    }
    Ok(certs)
}

/// Accepts any certificate: `dangerously-accept-invalid-certs`. Signatures
/// are still checked so the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Builds the client configuration for `options`; `ca_file` holds the
/// contents of `options.ca_file`, already read by the caller (which checked
/// the permission).
pub fn client_config(options: &TlsOptions, ca_file: Option<&[u8]>) -> Result<Arc<ClientConfig>, TransportError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS setup", e))?;
    let builder = if options.dangerously_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = base_roots().clone();
        for (pem, what) in [(options.ca_pem.as_deref(), "ca-pem"), (ca_file, "ca-file")] {
            if let Some(pem) = pem {
                for cert in pem_certs(pem, what)? {
                    roots.add(cert).map_err(|e| tls_error(what, e))?;
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&options.client_cert_pem, &options.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain = pem_certs(cert, "client-cert-pem")?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| tls_error("client-key-pem", e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_error("client certificate", e))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(TransportError::tls(
                "client-cert-pem and client-key-pem go together",
                None,
            ))
        }
    };
    Ok(Arc::new(config))
}

/// Runs the TLS handshake over `tcp`, verifying the server as `host` (or
/// `options.server_name`).
pub fn handshake(
    tcp: TcpStream,
    host: &str,
    options: &TlsOptions,
    ca_file: Option<&[u8]>,
) -> Result<TlsStream, TransportError> {
    let config = client_config(options, ca_file)?;
    let conn = ClientConnection::new(config, server_name(host, options)?).map_err(|e| tls_error("TLS setup", e))?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| handshake_error(&e))?;
    }
    Ok(stream)
}

/// The name the server's certificate is verified for: `host`, or
/// `options.server_name` (SNI is sent for it too).
pub fn server_name(host: &str, options: &TlsOptions) -> Result<ServerName<'static>, TransportError> {
    let name = options.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string()).map_err(|e| tls_error(&format!("server name {name:?}"), e))
}

/// A handshake's I/O error: rustls's own error when it carries one, so the
/// plugin reads why verification failed.
pub(crate) fn handshake_error(e: &io::Error) -> TransportError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => TransportError::tls(format!("handshake failed: {tls}"), Some(tls)),
        None => TransportError::from_io(e),
    }
}
