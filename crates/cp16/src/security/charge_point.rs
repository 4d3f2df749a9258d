//! The charge point's own certificate (security profile 3): the signing request with a fresh key
//! pair (SignCertificate, A02/A03), the signed chain (CertificateSigned), which certificate the
//! TLS client presents, the previous one kept as a fallback, and when to renew.

use super::store::CertificateStore;
use super::{hash, x509};
use chrono::{DateTime, TimeDelta, Utc};
use proto_ocpp::v16::{CertificateHashData, CertificateSignedStatusEnum};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Longest CSR SignCertificate carries, in characters.
const MAX_CSR: usize = 5500;
/// Longest common name or organisation name of X.509 (RFC 5280 upper bounds).
const MAX_NAME: usize = 64;

/// How long before its expiry the charge point asks for a new certificate (A03), and how long a
/// replaced certificate is kept as a fallback (A02.FR.10).
fn month() -> TimeDelta {
    TimeDelta::days(30)
}

/// The charge point certificate chain (leaf first) and its private key, both PEM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargePointCertificate {
    chain_pem: String,
    key_pem: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

impl fmt::Debug for ChargePointCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChargePointCertificate")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ChargePointCertificate {
    /// The chain, PEM: the charge point certificate, then any sub-CA certificates.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The private key, PKCS#8 PEM. It must never leave the charge point (A02.FR.05).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Start of the certificate's validity.
    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    /// End of the certificate's validity.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// Whether it is valid at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether `query` names the leaf certificate (its issuer is found in the chain or among
    /// `anchors`; without it, the issuer name and serial number decide).
    fn matches(&self, query: &CertificateHashData, anchors: &[Vec<u8>]) -> bool {
        let Ok(ders) = x509::certificates(&self.chain_pem) else {
            return false;
        };
        let Some(leaf) = ders.first().and_then(|der| x509::parse(der).ok()) else {
            return false;
        };
        let issuer_key = ders[1..]
            .iter()
            .chain(anchors)
            .filter_map(|der| x509::parse(der).ok())
            .find(|issuer| x509::signed_by(&leaf, issuer))
            .map(|issuer| x509::public_key(&issuer).to_vec());
        hash::matches(query, &leaf, issuer_key.as_deref())
    }
}

/// The certificate replaced by the newest CertificateSigned, kept until `keep_until`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Previous {
    pub(super) certificate: ChargePointCertificate,
    pub(super) keep_until: DateTime<Utc>,
}

/// The private key of the last signing request (PKCS#8 PEM), kept until its certificate arrives.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PendingKey {
    pub(super) key_pem: String,
}

/// Why no signing request was made (the station then sends no SignCertificate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// CpoName is not set (a prerequisite of A02 and A03).
    #[error("CpoName is not set")]
    MissingCpoName,
    /// The common name is empty, too long, or looks like a URL or an IP address (A00.FR.511).
    #[error("unusable common name {0:?}")]
    CommonName(String),
    /// The organisation name is empty or too long.
    #[error("unusable organisation name {0:?}")]
    Organization(String),
    /// Key generation or encoding failed.
    #[error("could not build the request: {0}")]
    Build(String),
    /// The request is longer than SignCertificate allows.
    #[error("the request has {0} characters, more than 5500")]
    TooLong(usize),
}

/// Why a certificate from CertificateSigned (or a provisioned one) was refused. Every reason
/// answers Rejected ([`SignedError::status`]) and should be logged as
/// InvalidChargePointCertificate (A02.FR.07).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignedError {
    /// Longer than CertificateSignedMaxChainSize.
    #[error("the chain has {length} characters, more than {max}")]
    TooLong {
        /// Characters received.
        length: usize,
        /// CertificateSignedMaxChainSize.
        max: usize,
    },
    /// Not PEM certificates.
    #[error("not PEM certificates: {0}")]
    NotPem(String),
    /// No certificate in the text.
    #[error("no certificate")]
    NoCertificate,
    /// A certificate does not parse as X.509.
    #[error("not an X.509 certificate: {0}")]
    NotX509(String),
    /// No signing request is waiting for a certificate.
    #[error("no certificate signing request is pending")]
    NoPendingRequest,
    /// A private key is unusable.
    #[error("unusable private key: {0}")]
    Key(String),
    /// The first certificate is not for the pending request's key.
    #[error("the certificate is not for the requested key")]
    KeyMismatch,
    /// The certificate's validity period is over.
    #[error("expired at {0}")]
    Expired(DateTime<Utc>),
    /// No CentralSystemRootCertificate is installed to check the chain against.
    #[error("no central system root certificate to check the chain against")]
    NoRoot,
    /// The chain does not lead to an installed CentralSystemRootCertificate, or a certificate
    /// in it is unfit (a CA as the leaf, a wrong key usage, a bad signature, dates).
    #[error("invalid chain: {0}")]
    Chain(String),
}

impl SignedError {
    /// The CertificateSigned answer.
    pub fn status(&self) -> CertificateSignedStatusEnum {
        CertificateSignedStatusEnum::Rejected
    }
}

impl CertificateStore {
    /// Makes a certificate signing request for SignCertificate (A02 on ExtendedTriggerMessage
    /// SignChargePointCertificate, A03 on [`CertificateStore::needs_renewal`]): a new EC P-256 key
    /// pair, subject CN = `common_name` (the charge point's identity or serial number) and
    /// O = `cpo_name` (CpoName). Returns the PKCS#10 PEM; the key waits in the store for
    /// CertificateSigned and replaces any earlier pending one.
    pub fn create_csr(
        &mut self,
        common_name: &str,
        cpo_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, CsrError> {
        let organization = cpo_name.ok_or(CsrError::MissingCpoName)?;
        if !usable_common_name(common_name) {
            return Err(CsrError::CommonName(common_name.to_string()));
        }
        if organization.is_empty() || organization.chars().count() > MAX_NAME {
            return Err(CsrError::Organization(organization.to_string()));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CsrError::Build(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, common_name);
        subject.push(DnType::OrganizationName, organization);
        params.distinguished_name = subject;
        let csr = params
            .serialize_request(&key)
            .and_then(|request| request.pem())
            .map_err(|e| CsrError::Build(e.to_string()))?;
        if csr.len() > MAX_CSR {
            return Err(CsrError::TooLong(csr.len()));
        }
        self.pending = Some(PendingKey {
            key_pem: key.serialize_pem(),
        });
        self.last_request = Some(now);
        Ok(csr)
    }

    /// Whether a signing request waits for its certificate.
    pub fn has_pending_csr(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets the pending request's key (the central system rejected SignCertificate). Returns
    /// whether there was one.
    pub fn cancel_csr(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// CertificateSigned: checks `chain_pem` (at most `max_chain_size` characters,
    /// CertificateSignedMaxChainSize) and installs it with the pending request's key. The first
    /// certificate must carry that key and must not have expired; the chain must lead to an
    /// installed CentralSystemRootCertificate (or the fallback root) and suit TLS client
    /// authentication, checked at `now`, or at its notBefore when that is later (it is used from
    /// then on, A02.FR.08). The certificate it replaces is kept for a month as a fallback. On
    /// error nothing changes and the pending key stays for a corrected chain.
    pub fn certificate_signed(
        &mut self,
        chain_pem: &str,
        max_chain_size: u32,
        now: DateTime<Utc>,
    ) -> Result<(), SignedError> {
        let length = chain_pem.chars().count();
        let max = max_chain_size as usize;
        if length > max {
            return Err(SignedError::TooLong { length, max });
        }
        let key_pem = match &self.pending {
            Some(pending) => pending.key_pem.clone(),
            None => return Err(SignedError::NoPendingRequest),
        };
        let key = KeyPair::from_pem(&key_pem).map_err(|e| SignedError::Key(e.to_string()))?;
        let (ders, not_before, not_after) = self.check_chain(chain_pem, &key, now)?;
        let certificate = ChargePointCertificate {
            chain_pem: ders.iter().map(|der| x509::pem(der)).collect(),
            key_pem,
            not_before,
            not_after,
        };
        if let Some(old) = self.charge_point.replace(certificate) {
            self.previous = Some(Previous {
                certificate: old,
                keep_until: now.checked_add_signed(month()).unwrap_or(now),
            });
        }
        self.pending = None;
        Ok(())
    }

    /// Installs factory credentials: a charge point certificate chain and its private key, both
    /// PEM (A00.FR.801; PKCS#8, SEC1 or PKCS#1 keys). The key must belong to the first
    /// certificate, which must not have expired; the chain is not checked against the roots, since
    /// a manufacturer may have signed it (A00.FR.804). It replaces the current certificate without
    /// keeping it.
    pub fn provision(
        &mut self,
        chain_pem: &str,
        key_pem: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SignedError> {
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| SignedError::Key(e.to_string()))?;
        let label = match &key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        let key_pem = x509::pem_section(label, key.secret_der());
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| SignedError::Key(e.to_string()))?;
        let spki = signing
            .public_key()
            .ok_or_else(|| SignedError::Key("no public key".into()))?;
        let (_, info) = SubjectPublicKeyInfo::from_der(spki.as_ref())
            .map_err(|e| SignedError::Key(e.to_string()))?;
        let (ders, not_before, not_after) =
            leaf_for_key(chain_pem, &info.subject_public_key.data, now)?;
        self.charge_point = Some(ChargePointCertificate {
            chain_pem: ders.iter().map(|der| x509::pem(der)).collect(),
            key_pem,
            not_before,
            not_after,
        });
        self.previous = None;
        Ok(())
    }

    /// The certificate the TLS client presents at `now` (security profile 3): of the current and
    /// the previous one, the valid one with the latest notBefore (A02.FR.09).
    pub fn identity(&self, now: DateTime<Utc>) -> Option<&ChargePointCertificate> {
        // On equal notBefore the later one wins: the current certificate.
        self.previous
            .iter()
            .map(|p| &p.certificate)
            .chain(self.charge_point.iter())
            .filter(|c| c.is_valid_at(now))
            .max_by_key(|c| c.not_before)
    }

    /// The other certificate to try when the central system refuses [`identity`]: the previous
    /// one, while it is kept and valid.
    ///
    /// [`identity`]: CertificateStore::identity
    pub fn fallback_identity(&self, now: DateTime<Utc>) -> Option<&ChargePointCertificate> {
        let primary = self.identity(now)?;
        self.charge_point
            .iter()
            .chain(self.previous.iter().map(|p| &p.certificate))
            .find(|c| !std::ptr::eq(*c, primary) && c.is_valid_at(now))
    }

    /// Drops the previous certificate once its month is over and the current one is in use, or
    /// once it expired. Returns whether the store changed.
    pub fn expire(&mut self, now: DateTime<Utc>) -> bool {
        let current_in_use = self
            .charge_point
            .as_ref()
            .is_some_and(|c| c.is_valid_at(now));
        let drop = self.previous.as_ref().is_some_and(|p| {
            (p.keep_until <= now && current_in_use) || p.certificate.not_after < now
        });
        if drop {
            self.previous = None;
        }
        drop
    }

    /// When the charge point should ask for a new certificate: a month before the current one
    /// expires (A03). `None` without a certificate.
    pub fn renewal_time(&self) -> Option<DateTime<Utc>> {
        self.charge_point.as_ref().map(|c| {
            c.not_after
                .checked_sub_signed(month())
                .unwrap_or(c.not_after)
        })
    }

    /// Whether to send SignCertificate on its own now (A03): the renewal time has come and no
    /// request was made since. A request that got no certificate is not repeated automatically
    /// (the whitepaper advises against retries); ExtendedTriggerMessage can always ask again.
    pub fn needs_renewal(&self, now: DateTime<Utc>) -> bool {
        self.renewal_time()
            .is_some_and(|due| now >= due && self.last_request.is_none_or(|asked| asked < due))
    }

    /// Whether `query` names the current or the previous charge point certificate.
    pub(super) fn charge_point_matches(&self, query: &CertificateHashData) -> bool {
        let anchors = self.central_system_anchors();
        self.charge_point
            .iter()
            .chain(self.previous.iter().map(|p| &p.certificate))
            .any(|c| c.matches(query, &anchors))
    }

    /// Checks a CertificateSigned chain for `key`; returns its certificates (DER) and the first
    /// one's validity.
    fn check_chain(
        &self,
        chain_pem: &str,
        key: &KeyPair,
        now: DateTime<Utc>,
    ) -> Result<Chain, SignedError> {
        let (ders, not_before, not_after) = leaf_for_key(chain_pem, key.public_key_raw(), now)?;
        let mut anchors = RootCertStore::empty();
        for der in self.central_system_anchors() {
            // A root rustls cannot use as an anchor only narrows the trust.
            let _ = anchors.add(CertificateDer::from(der));
        }
        if anchors.is_empty() {
            return Err(SignedError::NoRoot);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(anchors), provider)
            .build()
            .map_err(|e| SignedError::Chain(e.to_string()))?;
        let leaf = CertificateDer::from(ders[0].as_slice());
        let intermediates: Vec<CertificateDer<'_>> = ders[1..]
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        let at = now.max(not_before).timestamp().max(0) as u64;
        verifier
            .verify_client_cert(
                &leaf,
                &intermediates,
                UnixTime::since_unix_epoch(Duration::from_secs(at)),
            )
            .map_err(|e| SignedError::Chain(e.to_string()))?;
        Ok((ders, not_before, not_after))
    }
}

/// A chain's certificates (DER, leaf first) and the leaf's notBefore and notAfter.
type Chain = (Vec<Vec<u8>>, DateTime<Utc>, DateTime<Utc>);

/// The chain's certificates (DER), checked to parse, the first one carrying the public key
/// `key` (subjectPublicKey contents) and not expired at `now`; with that certificate's validity.
fn leaf_for_key(chain_pem: &str, key: &[u8], now: DateTime<Utc>) -> Result<Chain, SignedError> {
    let ders = x509::certificates(chain_pem).map_err(SignedError::NotPem)?;
    let Some(first) = ders.first() else {
        return Err(SignedError::NoCertificate);
    };
    for der in &ders {
        x509::parse(der).map_err(SignedError::NotX509)?;
    }
    let leaf = x509::parse(first).map_err(SignedError::NotX509)?;
    if x509::public_key(&leaf) != key {
        return Err(SignedError::KeyMismatch);
    }
    let (not_before, not_after) = (x509::not_before(&leaf), x509::not_after(&leaf));
    if not_after < now {
        return Err(SignedError::Expired(not_after));
    }
    Ok((ders, not_before, not_after))
}

/// A00.FR.511: the serial number, not a URL or an IP address.
fn usable_common_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && !name.contains("://")
        && name.parse::<std::net::IpAddr>().is_err()
}
