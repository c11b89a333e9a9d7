//! TLS trust the user grants: which extra certificate authorities a plugin
//! may add (`--allow-ca FILE`) and which endpoints it may connect to without
//! verification (`--allow-insecure-tls HOST:PORT`). Without a grant, a
//! plugin's TLS options cannot weaken verification: trust is the user's
//! choice, not the plugin's.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::policy::{Denial, Grant, HostPattern, Policy, Request, Wording};
use crate::transport::{TlsOptions, TransportError};

/// A CA the user allowed plugins to trust.
#[derive(Debug, Clone)]
struct AllowedCa {
    /// The canonical path of the file it was read from.
    path: PathBuf,
    /// Its certificates, DER.
    certs: Vec<CertificateDer<'static>>,
}

/// The TLS trust grants of a run. The default grants nothing.
#[derive(Debug, Clone, Default)]
pub struct TlsTrust {
    cas: Vec<AllowedCa>,
    insecure: Policy,
}

impl TlsTrust {
    /// No grants: only the system's (or Mozilla's) roots, always verified.
    pub fn none() -> Self {
        Self::default()
    }

    /// Allows plugins to add the certificates of the PEM file at `path` as
    /// trust anchors (by naming the file as `ca-file`, or passing the same
    /// certificates as `ca-pem`). The file is read now.
    ///
    /// # Errors
    /// When the file cannot be read or holds no PEM certificate.
    pub fn allow_ca(mut self, path: &Path) -> Result<Self, String> {
        let canonical = std::fs::canonicalize(path).map_err(|e| format!("--allow-ca {}: {e}", path.display()))?;
        let pem = std::fs::read(&canonical).map_err(|e| format!("--allow-ca {}: {e}", path.display()))?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--allow-ca {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("--allow-ca {}: no PEM certificate found", path.display()));
        }
        self.cas.push(AllowedCa { path: canonical, certs });
        Ok(self)
    }

    /// Allows `dangerously-accept-invalid-certs` for connections matching
    /// `pattern`.
    pub fn allow_insecure(mut self, pattern: HostPattern) -> Self {
        self.insecure = self.insecure.allow(pattern);
        self
    }

    /// The contents of a granted CA file whose canonical path is `path`.
    pub fn granted_ca_file(&self, path: &Path) -> Option<Vec<u8>> {
        let canonical = std::fs::canonicalize(path).ok()?;
        let ca = self.cas.iter().find(|ca| ca.path == canonical)?;
        let pem: String = ca
            .certs
            .iter()
            .map(|c| pem_block(c.as_ref()))
            .collect::<Vec<_>>()
            .concat();
        Some(pem.into_bytes())
    }

    /// Checks that `tls` asks for no trust the user did not grant for
    /// `host:port`: `dangerously-accept-invalid-certs` needs
    /// `--allow-insecure-tls`, and every certificate in `ca-pem` must be one
    /// of an `--allow-ca` file's. Denials are worded by `wording`.
    pub fn check(&self, host: &str, port: u16, tls: &TlsOptions, wording: Wording) -> Result<(), TransportError> {
        if tls.dangerously_accept_invalid_certs && self.insecure.check(&Request::ConnectTls { host, port }).is_err() {
            let endpoint = crate::policy::Endpoint::new(host, port);
            let denial = Denial::new(
                format!("accepting invalid certificates from {endpoint} not allowed"),
                Grant::InsecureTls(endpoint),
            );
            return Err(TransportError::denied(denial.worded(wording)));
        }
        if let Some(pem) = &tls.ca_pem {
            let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| TransportError::tls(format!("ca-pem: {e}"), None))?;
            let granted = |c: &CertificateDer<'_>| self.cas.iter().any(|ca| ca.certs.iter().any(|g| g == c));
            if certs.is_empty() || !certs.iter().all(granted) {
                let denial = Denial::new("trusting the certificates in ca-pem not allowed", Grant::Ca);
                return Err(TransportError::denied(denial.worded(wording)));
            }
        }
        Ok(())
    }
}

fn pem_block(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::denial::neutral;
    use crate::transport::ErrorKind;

    fn options() -> TlsOptions {
        TlsOptions::default()
    }

    #[test]
    fn insecure_tls_needs_a_grant_for_that_endpoint() {
        let tls = TlsOptions {
            dangerously_accept_invalid_certs: true,
            ..options()
        };
        let err = TlsTrust::none()
            .check("imap.example.org", 993, &tls, neutral)
            .unwrap_err();
        assert!(
            err.kind == ErrorKind::Denied
                && err
                    .message
                    .contains("no grant to accept invalid certificates from imap.example.org:993"),
            "{err:?}"
        );
        let trust = TlsTrust::none().allow_insecure("test.example.org:993".parse().unwrap());
        assert!(trust.check("test.example.org", 993, &tls, neutral).is_ok());
        assert!(trust.check("imap.example.org", 993, &tls, neutral).is_err());
        assert!(trust.check("imap.example.org", 993, &options(), neutral).is_ok());
    }

    #[test]
    fn ca_pem_needs_the_same_certificates_granted() {
        // Any DER bytes do for equality; the PEM encoding round-trips them.
        let der = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x05]);
        let pem = pem_block(der.as_ref());
        let dir = std::env::temp_dir().join(format!("wasimap-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ca.pem");
        std::fs::write(&file, &pem).unwrap();
        let tls = TlsOptions {
            ca_pem: Some(pem.clone().into_bytes()),
            ..options()
        };
        let err = TlsTrust::none().check("h", 993, &tls, neutral).unwrap_err();
        assert!(
            err.kind == ErrorKind::Denied && err.message.contains("no grant of a CA file"),
            "{err:?}"
        );
        let trust = TlsTrust::none().allow_ca(&file).unwrap();
        assert!(trust.check("h", 993, &tls, neutral).is_ok());
        assert_eq!(
            trust.granted_ca_file(&dir.join("../").join(dir.file_name().unwrap()).join("ca.pem")),
            Some(pem.into_bytes())
        );
        assert!(trust.granted_ca_file(&dir.join("other.pem")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
