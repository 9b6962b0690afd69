//! TLS over any protocol, in any server mode: rustls is sans-IO (records in,
//! records out), so a TLS session is a [`crate::proto::Session`] wrapped
//! around another one ([`session`]), and every driver runs it unchanged.
//! This module makes the configurations: a server's certificate (PEM files,
//! or a self-signed one made at start for `localhost`, `127.0.0.1` and `::1`)
//! and a client's trust (the system's roots, a `--cacert` file, or none with
//! `--insecure`). The crypto is rustls' `ring` provider.

pub mod client;
mod narrate;
pub mod session;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;

pub use session::TlsServerSession;

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file that cannot be read or holds nothing usable.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: String,
        /// What was wrong.
        why: String,
    },
    /// rustls or rcgen refused the material.
    #[error("{0}")]
    Setup(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server's certificate chain and key, and what to tell the operator.
pub struct ServerIdentity {
    /// The rustls configuration every connection shares.
    pub config: Arc<rustls::ServerConfig>,
    /// The leaf certificate in PEM (for `--write-cert`).
    pub cert_pem: String,
    /// The leaf certificate's SHA-256 fingerprint, `AB:CD:...`.
    pub fingerprint: String,
}

/// The colon-separated SHA-256 of a certificate, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A server identity from PEM files, or a self-signed one when `files` is `None`;
/// `alpn` is what the protocol answers to (`http/1.1` for http and rpc; none
/// for protocols ALPN has no name for).
///
/// # Errors
/// [`TlsError`] for unreadable files or material rustls refuses.
pub fn server_identity(files: Option<(&Path, &Path)>, alpn: &[&[u8]]) -> Result<ServerIdentity, TlsError> {
    let (chain, key, cert_pem) = match files {
        Some((cert, key)) => {
            let file_err = |path: &Path, why: String| TlsError::File {
                path: path.display().to_string(),
                why,
            };
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| file_err(cert, e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| file_err(cert, e.to_string()))?;
            if chain.is_empty() {
                return Err(file_err(cert, "no certificate in it".into()));
            }
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e.to_string()))?;
            let pem = std::fs::read_to_string(cert).map_err(|e| file_err(cert, e.to_string()))?;
            (chain, key, pem)
        }
        None => {
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
            let made = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Setup(e.to_string()))?;
            let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
                .map_err(|e| TlsError::Setup(e.to_string()))?;
            (vec![made.cert.der().clone()], key, made.cert.pem())
        }
    };
    let fingerprint = chain.first().map(|c| fingerprint(c)).unwrap_or_default();
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(ServerIdentity {
        config: Arc::new(config),
        cert_pem,
        fingerprint,
    })
}

/// Whom a client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's root certificates.
    System,
    /// The certificates in this PEM file (a self-signed server's `--write-cert`).
    File(std::path::PathBuf),
    /// Nobody is checked (`--insecure`): encrypted, but to whoever answers.
    Insecure,
}

/// A client configuration for `trust`.
///
/// # Errors
/// [`TlsError`] when the roots cannot be loaded.
pub fn client_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    let config = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth(),
        Trust::System => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::File(path) => {
            let file_err = |why: String| TlsError::File {
                path: path.display().to_string(),
                why,
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| file_err(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| file_err(e.to_string()))?)
                    .map_err(|e| file_err(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(file_err("no certificate in it".into()));
            }
            let pinned: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| file_err(e.to_string()))?
                .filter_map(Result::ok)
                .collect();
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::Setup(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(FileTrust { webpki, pinned }))
                .with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// `--cacert FILE`: the usual chain check against the file's certificates,
/// and, as curl and OpenSSL do, a server certificate that is itself in the
/// file is trusted even when it says it is a CA (what plain `openssl req
/// -x509` makes); its names, dates and handshake signature are still checked.
#[derive(Debug)]
struct FileTrust {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl rustls::client::danger::ServerCertVerifier for FileTrust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as E;
        let checked = self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let ca_as_server = |e: &rustls::OtherError| {
            matches!(
                e.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            )
        };
        match checked {
            // webpki checks the dates before it finds the certificate is a CA
            // (so an expired one is refused as expired); this is the one
            // refusal a certificate found in the file itself is forgiven.
            Err(rustls::Error::InvalidCertificate(E::Other(e)))
                if ca_as_server(&e) && self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `--insecure`: accepts any certificate (signatures are still checked, so
/// the handshake itself is sound; who is on the other end is not).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier as _;

    /// A CA:TRUE certificate for localhost, valid from `from` to `until` (years).
    fn ca_cert(from: i32, until: i32) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn verify(cert: &CertificateDer<'static>, name: &str) -> Result<(), rustls::Error> {
        verify_with(cert, cert, name)
    }

    /// `server` presented to a client whose `--cacert` file holds `file`.
    fn verify_with(
        file: &CertificateDer<'static>,
        server: &CertificateDer<'static>,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let cert = file;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
        let trust = FileTrust {
            webpki,
            pinned: vec![cert.clone()],
        };
        let name = ServerName::try_from(name.to_string()).unwrap();
        trust
            .verify_server_cert(server, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_ca_certificate_not_itself_in_the_file_is_refused() {
        // The file's CA signs a server certificate that also says CA:TRUE:
        // only a certificate found in the file itself is forgiven that.
        let mut ca = rcgen::CertificateParams::new(vec!["ca.example".to_string()]).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap().der().clone();
        let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap().der().clone();
        assert!(verify_with(&ca_cert, &leaf_cert, "localhost").is_err());
        assert!(
            verify_with(&leaf_cert, &leaf_cert, "localhost").is_ok(),
            "the same certificate in the file is"
        );
    }

    #[test]
    fn a_self_made_ca_certificate_in_the_file_is_trusted_for_its_names_and_dates_only() {
        assert!(verify(&ca_cert(2020, 2090), "localhost").is_ok());
        assert!(
            matches!(
                verify(&ca_cert(2020, 2090), "example.org"),
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "a name it does not carry"
        );
        assert!(
            matches!(
                verify(&ca_cert(2001, 2002), "localhost"),
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
                ))
            ),
            "expired"
        );
    }
}
