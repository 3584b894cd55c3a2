//! TLS client configuration: built once per protocol instance and shared by every connection,
//! so handshakes reuse one root store and one session-resumption cache.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use stampede_plan::HttpVersion;

use crate::Error;

/// ALPN protocol ids.
const H2: &[u8] = b"h2";
const HTTP11: &[u8] = b"http/1.1";

/// A rustls client configuration with the `ring` provider (explicitly, so that a process
/// where another crate enabled aws-lc-rs does not panic choosing a default provider).
///
/// With `insecure`, any certificate is accepted (`insecure_skip_tls_verify`); otherwise the
/// server is verified against the Mozilla roots of `webpki-roots`. `alpn` lists the protocols
/// offered, e.g. `[b"h2", b"http/1.1"]`.
pub fn client_tls_config(insecure: bool, alpn: &[&[u8]]) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The four configurations a plan can ask for (verify or not × offer h2 or not), each built
/// on first use and then shared.
#[derive(Debug, Default)]
pub(crate) struct TlsConfigs {
    cells: [OnceLock<Arc<ClientConfig>>; 4],
}

impl TlsConfigs {
    pub(crate) fn get(&self, insecure: bool, version: HttpVersion) -> Result<Arc<ClientConfig>, Error> {
        let offer_h2 = version != HttpVersion::Http1;
        let cell = &self.cells[usize::from(insecure) * 2 + usize::from(offer_h2)];
        if let Some(config) = cell.get() {
            return Ok(config.clone());
        }
        let alpn: &[&[u8]] = if offer_h2 { &[H2, HTTP11] } else { &[HTTP11] };
        let config = Arc::new(client_tls_config(insecure, alpn)?);
        // Two compiles racing build two configs; the first one stored wins for everyone.
        Ok(cell.get_or_init(|| config).clone())
    }
}

/// `insecure_skip_tls_verify`: accepts any certificate and any signature. Signature schemes
/// are still those the provider supports, so the handshake itself is well-formed.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
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
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_built_once_and_offer_the_right_alpn() {
        let configs = TlsConfigs::default();
        let a = configs.get(false, HttpVersion::Auto).unwrap();
        let b = configs.get(false, HttpVersion::Http2).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "auto and http2 share the h2-offering config");
        assert_eq!(a.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        let h1 = configs.get(true, HttpVersion::Http1).unwrap();
        assert_eq!(h1.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(!Arc::ptr_eq(&a, &h1));
    }
}
