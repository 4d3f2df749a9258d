//! The built-in certificate authority that answers SignCertificate (OCPP 1.6 security whitepaper,
//! OCPP 2.x A02/A03): it signs a station's certificate signing request when the request's common
//! name is the station's id, and the central system then sends the chain in CertificateSigned.
//!
//! The authority is made on first start and kept in the database, so every central system on one
//! database signs with the same key.

use crate::store::{Store, StoreError};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

/// The settings key under which the authority is stored (certificate and key, PEM).
const SETTING: &str = "certificate_authority";

/// How long a station certificate is valid.
const VALIDITY_DAYS: i64 = 2 * 365;

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The CSR is not a valid PEM PKCS#10 request.
    #[error("invalid certificate signing request: {0}")]
    InvalidRequest(String),
    /// The CSR's common name is not the station's id.
    #[error("the request is for {found:?}, not for station {station:?}")]
    WrongSubject {
        /// The station asking.
        station: String,
        /// The common name in the request.
        found: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The stored authority could not be read or saved.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// A certificate authority with its signing key.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    certificate_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// The authority stored in `store`, made and stored first if there is none.
    pub async fn load_or_create(store: &Store) -> Result<Self, CaError> {
        if let Some(stored) = store.setting(SETTING).await? {
            return Self::from_stored(&stored);
        }
        let fresh = Self::generate("joule central system CA")?;
        let stored = store
            .setting_or_insert(SETTING, &fresh.to_stored()?)
            .await?;
        // Another instance may have stored its own first; use whichever is in force.
        Self::from_stored(&stored)
    }

    /// A new self-signed authority named `name`.
    pub fn generate(name: &str) -> Result<Self, CaError> {
        let key = KeyPair::generate().map_err(|e| CaError::Signing(e.to_string()))?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| CaError::Signing(e.to_string()))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params
            .self_signed(&key)
            .map_err(|e| CaError::Signing(e.to_string()))?;
        Ok(Self {
            certificate_pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The authority's certificate, PEM (what stations install as their trust anchor).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    fn to_stored(&self) -> Result<String, CaError> {
        Ok(format!(
            "{}{}",
            self.certificate_pem,
            self.issuer.key().serialize_pem()
        ))
    }

    /// Reads what [`Self::to_stored`] wrote: the certificate's PEM block, then the key's.
    fn from_stored(stored: &str) -> Result<Self, CaError> {
        const END: &str = "-----END CERTIFICATE-----";
        let end = stored
            .find(END)
            .map(|i| i + END.len())
            .ok_or_else(|| CaError::Signing("stored certificate missing".into()))?;
        let (certificate, key) = stored.split_at(end);
        let key = KeyPair::from_pem(key.trim_start())
            .map_err(|e| CaError::Signing(format!("stored key: {e}")))?;
        let certificate_pem = format!("{certificate}\n");
        let issuer = Issuer::from_ca_cert_pem(&certificate_pem, key)
            .map_err(|e| CaError::Signing(e.to_string()))?;
        Ok(Self {
            issuer,
            certificate_pem,
        })
    }

    /// Signs `csr_pem` from `station`, valid from `now_ms` for two years; returns the chain (the
    /// station certificate, then this authority's), PEM.
    pub fn sign(&self, csr_pem: &str, station: &str, now_ms: i64) -> Result<String, CaError> {
        let mut request = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| CaError::InvalidRequest(e.to_string()))?;
        let found = request
            .params
            .distinguished_name
            .get(&DnType::CommonName)
            .map(text)
            .unwrap_or_default();
        if found != station {
            return Err(CaError::WrongSubject {
                station: station.to_string(),
                found,
            });
        }
        let now = OffsetDateTime::from_unix_timestamp(now_ms / 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let params = &mut request.params;
        params.not_before = now;
        params.not_after = now + time::Duration::days(VALIDITY_DAYS);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyAgreement,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let certificate = request
            .signed_by(&self.issuer)
            .map_err(|e| CaError::Signing(e.to_string()))?;
        Ok(format!("{}{}", certificate.pem(), self.certificate_pem))
    }
}

/// The text of a distinguished-name value.
fn text(value: &DnValue) -> String {
    match value {
        DnValue::Utf8String(s) => s.clone(),
        DnValue::PrintableString(s) => s.as_str().to_string(),
        DnValue::Ia5String(s) => s.as_str().to_string(),
        DnValue::TeletexString(s) => s.as_str().to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(cn: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "joule CPO");
        let key = KeyPair::generate().expect("key");
        params
            .serialize_request(&key)
            .expect("CSR")
            .pem()
            .expect("PEM")
    }

    #[test]
    fn signs_a_station_s_own_request() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        let chain = ca
            .sign(&csr("CP-1"), "CP-1", 1_790_000_000_000)
            .expect("signed");
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
        let leaf = rustls_pki_types::pem::PemObject::from_pem_slice(chain.as_bytes())
            .map(|c: rustls_pki_types::CertificateDer<'static>| c)
            .expect("leaf");
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).expect("X.509");
        assert_eq!(
            parsed
                .subject()
                .iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok()),
            Some("CP-1")
        );
        assert_eq!(
            parsed
                .issuer()
                .iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok()),
            Some("test CA")
        );
        assert_eq!(parsed.validity().not_before.timestamp(), 1_790_000_000);
    }

    #[test]
    fn refuses_requests_for_another_station_or_garbage() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        assert!(matches!(
            ca.sign(&csr("CP-2"), "CP-1", 0),
            Err(CaError::WrongSubject { .. })
        ));
        assert!(matches!(
            ca.sign("not a CSR", "CP-1", 0),
            Err(CaError::InvalidRequest(_))
        ));
    }

    #[test]
    fn survives_storage() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        let restored =
            CertificateAuthority::from_stored(&ca.to_stored().expect("stored")).expect("restored");
        assert_eq!(restored.certificate_pem(), ca.certificate_pem());
        restored
            .sign(&csr("CP-1"), "CP-1", 0)
            .expect("the restored key signs");
    }
}
