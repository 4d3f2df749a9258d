//! TLS client settings for `wss://` (OCPP security profiles 2 and 3): the central system's root
//! certificates, and for profile 3 the station's certificate chain and private key.

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Why TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM text held no usable certificate or key.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Client settings trusting the PEM certificates in `roots`, presenting `identity` (certificate
/// chain PEM, private key PEM) when given. TLS 1.2 and 1.3 only, as the OCPP security profiles
/// require.
pub fn client_config(
    roots: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots) {
        let cert = cert.map_err(|e| TlsError::Pem(e.to_string()))?;
        store.add(cert).map_err(|e| TlsError::Pem(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(TlsError::Pem("no root certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(store);
    let config = match identity {
        Some((chain, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Pem(e.to_string()))?;
            if chain.is_empty() {
                return Err(TlsError::Pem("no client certificate".into()));
            }
            let key =
                PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Pem(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Config(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Settings for a `wss://` URL when none were given: no trusted roots at all, so every server
/// certificate fails verification with a clear error instead of being trusted blindly.
pub(crate) fn platform_default() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
        // The ring provider supports the default protocol versions; this cannot fail.
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        });
    Arc::new(config)
}
