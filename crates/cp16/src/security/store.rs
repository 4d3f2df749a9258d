//! The root certificates: InstallCertificate (M05), DeleteCertificate (M04),
//! GetInstalledCertificateIds (M03), the trust anchors of the TLS client, and the check of a
//! firmware signing certificate against the manufacturer roots.

use super::charge_point::{ChargePointCertificate, PendingKey, Previous};
use super::{hash, x509};
use crate::keys::{Keys, SecurityFacts};
use chrono::{DateTime, Utc};
use proto_ocpp::v16::{
    CertificateHashData, CertificateUseEnum, DeleteCertificateStatusEnum,
    GetInstalledCertificateIdsResponse, GetInstalledCertificateStatusEnum, HashAlgorithmEnum,
    InstallCertificateStatusEnum,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What InstallCertificate may do, from the configuration keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallPolicy {
    /// CertificateStoreMaxLength: the most root certificates of both types together (a fallback
    /// root does not count).
    pub max_certificates: usize,
    /// AdditionalRootCertificateCheck: one CentralSystemRootCertificate at a time, replaced only
    /// by one it signed, the old one kept as a fallback (M05.FR.08–13).
    pub additional_root_check: bool,
}

impl InstallPolicy {
    /// The policy the charge point's keys set.
    pub fn from_keys(keys: &Keys) -> InstallPolicy {
        InstallPolicy {
            max_certificates: keys.certificate_store_max_length() as usize,
            additional_root_check: keys.additional_root_certificate_check(),
        }
    }
}

/// What an accepted InstallCertificate did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installation {
    /// The certificate was added.
    Added,
    /// The same certificate of that type was already installed; nothing changed.
    AlreadyInstalled,
    /// It replaced the CentralSystemRootCertificate that signed it, which is now the fallback
    /// root (unless an older fallback is still kept).
    Replaced,
}

/// Why InstallCertificate was refused. Every reason answers Rejected ([`InstallError::status`]);
/// Failed is left to the station, for a store it could not save.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The text is not PEM.
    #[error("not PEM: {0}")]
    NotPem(String),
    /// The text holds no certificate, or more than one.
    #[error("expected one certificate, found {0}")]
    CertificateCount(usize),
    /// The certificate does not parse as X.509.
    #[error("not an X.509 certificate: {0}")]
    NotX509(String),
    /// It is not a certificate authority (basicConstraints cA, keyCertSign).
    #[error("not a CA certificate")]
    NotCa,
    /// Its validity period is over.
    #[error("expired at {0}")]
    Expired(DateTime<Utc>),
    /// A self-issued certificate whose signature verifies neither with its own key nor with an
    /// installed certificate's.
    #[error("the self-signature does not verify")]
    BadSignature,
    /// Not self-issued, and no installed certificate signed it.
    #[error("issued by a certificate that is not installed")]
    UnknownIssuer,
    /// AdditionalRootCertificateCheck: the new CentralSystemRootCertificate is not signed by the
    /// installed one (M05.FR.10).
    #[error("not signed by the installed central system root certificate")]
    NotSignedByCurrentRoot,
    /// CertificateStoreMaxLength certificates are installed already (M05.FR.03).
    #[error("the store is full ({0} certificates)")]
    StoreFull(usize),
}

impl InstallError {
    /// The InstallCertificate answer.
    pub fn status(&self) -> InstallCertificateStatusEnum {
        InstallCertificateStatusEnum::Rejected
    }
}

/// Which trust anchors verified the live connection to the central system; it decides which
/// CentralSystemRootCertificate DeleteCertificate must keep (M04.FR.06).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTrust {
    /// No TLS connection is up (offline, or security profile 0 or 1).
    Plain,
    /// The installed CentralSystemRootCertificates.
    Roots,
    /// The fallback root of AdditionalRootCertificateCheck.
    Fallback,
}

/// Why a firmware signing certificate is not trusted (SignedUpdateFirmware answers
/// InvalidCertificate and logs InvalidFirmwareSigningCertificate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningCertificateError {
    /// Not one PEM X.509 certificate.
    #[error("not a certificate: {0}")]
    Unreadable(String),
    /// Outside its validity period.
    #[error("not valid at {0}")]
    NotValid(DateTime<Utc>),
    /// No ManufacturerRootCertificate signed it.
    #[error("not signed by an installed manufacturer root certificate")]
    UntrustedIssuer,
}

/// An installed root certificate.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Root {
    /// The certificate, PEM.
    pub(super) pem: String,
    /// The issuer's public key (subjectPublicKey contents), hex: its own for a self-signed root,
    /// else the key of the installed certificate that signed it, kept because that one may go.
    pub(super) issuer_key: String,
}

impl Root {
    /// The certificate's DER; `None` for an entry damaged in storage.
    pub(super) fn der(&self) -> Option<Vec<u8>> {
        x509::certificates(&self.pem)
            .ok()
            .and_then(|ders| ders.into_iter().next())
    }

    fn issuer_key(&self) -> Option<Vec<u8>> {
        unhex(&self.issuer_key)
    }

    fn hash_data(&self, algorithm: HashAlgorithmEnum) -> Option<CertificateHashData> {
        let der = self.der()?;
        let certificate = x509::parse(&der).ok()?;
        Some(hash::hash_data(
            algorithm,
            &certificate,
            &self.issuer_key()?,
        ))
    }

    fn matches(&self, query: &CertificateHashData) -> bool {
        let Some(der) = self.der() else {
            return false;
        };
        let Ok(certificate) = x509::parse(&der) else {
            return false;
        };
        match self.issuer_key() {
            Some(key) => hash::matches(query, &certificate, Some(&key)),
            None => false,
        }
    }
}

/// The charge point's certificates: root certificates by type, its own certificate and key, and
/// a pending signing request's key. See the module documentation of `security` for the rules.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateStore {
    pub(super) central_system_roots: Vec<Root>,
    pub(super) fallback_root: Option<Root>,
    pub(super) manufacturer_roots: Vec<Root>,
    pub(super) charge_point: Option<ChargePointCertificate>,
    pub(super) previous: Option<Previous>,
    pub(super) pending: Option<PendingKey>,
    pub(super) last_request: Option<DateTime<Utc>>,
}

impl fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateStore")
            .field("central_system_roots", &self.central_system_roots.len())
            .field("fallback_root", &self.fallback_root.is_some())
            .field("manufacturer_roots", &self.manufacturer_roots.len())
            .field("charge_point", &self.charge_point)
            .field("previous", &self.previous.as_ref().map(|p| &p.certificate))
            .field("pending_request", &self.pending.is_some())
            .finish()
    }
}

impl CertificateStore {
    /// An empty store.
    pub fn new() -> CertificateStore {
        CertificateStore::default()
    }

    /// InstallCertificate: installs the PEM certificate `pem` as a root of type `kind`.
    pub fn install(
        &mut self,
        kind: CertificateUseEnum,
        pem: &str,
        now: DateTime<Utc>,
        policy: InstallPolicy,
    ) -> Result<Installation, InstallError> {
        let ders = x509::certificates(pem).map_err(InstallError::NotPem)?;
        let [der] = ders.as_slice() else {
            return Err(InstallError::CertificateCount(ders.len()));
        };
        let certificate = x509::parse(der).map_err(InstallError::NotX509)?;
        if !x509::is_ca(&certificate) {
            return Err(InstallError::NotCa);
        }
        let not_after = x509::not_after(&certificate);
        if not_after < now {
            return Err(InstallError::Expired(not_after));
        }
        if self
            .roots(kind)
            .iter()
            .any(|root| root.der().as_deref() == Some(der.as_slice()))
        {
            return Ok(Installation::AlreadyInstalled);
        }
        let replace = kind == CertificateUseEnum::CentralSystemRootCertificate
            && policy.additional_root_check
            && !self.central_system_roots.is_empty();
        let issuer_key = if replace {
            let signer = self
                .central_system_roots
                .iter()
                .position(|root| signer_key(root, &certificate).is_some())
                .ok_or(InstallError::NotSignedByCurrentRoot)?;
            let old = self.central_system_roots.swap_remove(signer);
            let key = signer_key(&old, &certificate).unwrap_or_default();
            // The fallback is the last root connections were verified with: an older fallback
            // whose successor never connected stays.
            self.fallback_root.get_or_insert(old);
            self.central_system_roots.clear();
            key
        } else {
            let self_issued = x509::self_issued(&certificate);
            let key = if self_issued && certificate.verify_signature(None).is_ok() {
                x509::public_key(&certificate).to_vec()
            } else if let Some(key) = self
                .all_roots()
                .find_map(|root| signer_key(root, &certificate))
            {
                key
            } else if self_issued {
                return Err(InstallError::BadSignature);
            } else {
                return Err(InstallError::UnknownIssuer);
            };
            let installed = self.central_system_roots.len() + self.manufacturer_roots.len();
            if installed >= policy.max_certificates {
                return Err(InstallError::StoreFull(installed));
            }
            key
        };
        let root = Root {
            pem: x509::pem(der),
            issuer_key: hex(&issuer_key),
        };
        match kind {
            CertificateUseEnum::CentralSystemRootCertificate => {
                self.central_system_roots.push(root)
            }
            CertificateUseEnum::ManufacturerRootCertificate => self.manufacturer_roots.push(root),
        }
        Ok(if replace {
            Installation::Replaced
        } else {
            Installation::Added
        })
    }

    /// DeleteCertificate: removes every root certificate `query` names. Failed when it names the
    /// charge point certificate (M04.FR.05) or the root the live connection was verified with
    /// (M04.FR.06): the only installed CentralSystemRootCertificate under [`LinkTrust::Roots`],
    /// the fallback root under [`LinkTrust::Fallback`]. Nothing is removed then.
    pub fn delete(
        &mut self,
        query: &CertificateHashData,
        link: LinkTrust,
    ) -> DeleteCertificateStatusEnum {
        if self.charge_point_matches(query) {
            return DeleteCertificateStatusEnum::Failed;
        }
        let central: Vec<usize> = positions(&self.central_system_roots, query);
        let fallback = self
            .fallback_root
            .as_ref()
            .is_some_and(|r| r.matches(query));
        let manufacturer: Vec<usize> = positions(&self.manufacturer_roots, query);
        if central.is_empty() && !fallback && manufacturer.is_empty() {
            return DeleteCertificateStatusEnum::NotFound;
        }
        let last_root = !central.is_empty() && central.len() == self.central_system_roots.len();
        if (link == LinkTrust::Roots && last_root) || (link == LinkTrust::Fallback && fallback) {
            return DeleteCertificateStatusEnum::Failed;
        }
        remove(&mut self.central_system_roots, &central);
        remove(&mut self.manufacturer_roots, &manufacturer);
        if fallback {
            self.fallback_root = None;
        }
        DeleteCertificateStatusEnum::Accepted
    }

    /// GetInstalledCertificateIds: the SHA-256 hash data of every root of type `kind` (for
    /// CentralSystemRootCertificate, the fallback root too); NotFound when there is none.
    pub fn installed_ids(&self, kind: CertificateUseEnum) -> GetInstalledCertificateIdsResponse {
        let mut roots: Vec<&Root> = self.roots(kind).iter().collect();
        if kind == CertificateUseEnum::CentralSystemRootCertificate {
            roots.extend(self.fallback_root.as_ref());
        }
        let ids: Vec<CertificateHashData> = roots
            .iter()
            .filter_map(|root| root.hash_data(HashAlgorithmEnum::Sha256))
            .collect();
        if ids.is_empty() {
            return GetInstalledCertificateIdsResponse::new(
                GetInstalledCertificateStatusEnum::NotFound,
            );
        }
        let mut response =
            GetInstalledCertificateIdsResponse::new(GetInstalledCertificateStatusEnum::Accepted);
        response.certificate_hash_data = Some(ids);
        response
    }

    /// The installed CentralSystemRootCertificates as one PEM text: the roots the TLS client
    /// trusts (the fallback root is separate, [`CertificateStore::fallback_root_pem`]).
    pub fn central_system_roots_pem(&self) -> String {
        self.central_system_roots
            .iter()
            .map(|r| r.pem.as_str())
            .collect()
    }

    /// The fallback root kept after a replacement under AdditionalRootCertificateCheck: the
    /// station verifies the central system with it when the installed roots fail (M05.FR.13).
    pub fn fallback_root_pem(&self) -> Option<&str> {
        self.fallback_root.as_ref().map(|r| r.pem.as_str())
    }

    /// A connection verified with the installed roots succeeded: drops the fallback root
    /// (M05.FR.12). Returns whether there was one (the store changed).
    pub fn confirm_roots(&mut self) -> bool {
        self.fallback_root.take().is_some()
    }

    /// The installed ManufacturerRootCertificates as one PEM text.
    pub fn manufacturer_roots_pem(&self) -> String {
        self.manufacturer_roots
            .iter()
            .map(|r| r.pem.as_str())
            .collect()
    }

    /// Checks a SignedUpdateFirmware signing certificate (PEM): valid at `now` and signed
    /// directly by an installed ManufacturerRootCertificate valid at `now` (the whitepaper's L01
    /// allows no intermediate certificate).
    pub fn verify_firmware_signing_certificate(
        &self,
        pem: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SigningCertificateError> {
        let ders = x509::certificates(pem).map_err(SigningCertificateError::Unreadable)?;
        let [der] = ders.as_slice() else {
            return Err(SigningCertificateError::Unreadable(format!(
                "expected one certificate, found {}",
                ders.len()
            )));
        };
        let certificate = x509::parse(der).map_err(SigningCertificateError::Unreadable)?;
        if !x509::valid_at(&certificate, now) {
            return Err(SigningCertificateError::NotValid(now));
        }
        let trusted = self.manufacturer_roots.iter().any(|root| {
            root.der().is_some_and(|der| {
                x509::parse(&der).is_ok_and(|issuer| {
                    x509::valid_at(&issuer, now) && x509::signed_by(&certificate, &issuer)
                })
            })
        });
        if trusted {
            Ok(())
        } else {
            Err(SigningCertificateError::UntrustedIssuer)
        }
    }

    /// The facts the SecurityProfile rule needs at `now`: a CentralSystemRootCertificate valid
    /// now, and a charge point certificate usable now ([`CertificateStore::identity`]).
    pub fn facts(&self, now: DateTime<Utc>) -> SecurityFacts {
        let central_system_root_certificate = self.central_system_roots.iter().any(|root| {
            root.der()
                .is_some_and(|der| x509::parse(&der).is_ok_and(|c| x509::valid_at(&c, now)))
        });
        SecurityFacts {
            central_system_root_certificate,
            charge_point_certificate: self.identity(now).is_some(),
        }
    }

    fn roots(&self, kind: CertificateUseEnum) -> &[Root] {
        match kind {
            CertificateUseEnum::CentralSystemRootCertificate => &self.central_system_roots,
            CertificateUseEnum::ManufacturerRootCertificate => &self.manufacturer_roots,
        }
    }

    /// Every installed root, the fallback included.
    pub(super) fn all_roots(&self) -> impl Iterator<Item = &Root> {
        self.central_system_roots
            .iter()
            .chain(self.fallback_root.iter())
            .chain(self.manufacturer_roots.iter())
    }

    /// The DER of the anchors a charge point certificate may chain to: the installed
    /// CentralSystemRootCertificates and the fallback root.
    pub(super) fn central_system_anchors(&self) -> Vec<Vec<u8>> {
        self.central_system_roots
            .iter()
            .chain(self.fallback_root.iter())
            .filter_map(Root::der)
            .collect()
    }
}

/// The public key of `root` when it signed `certificate`.
fn signer_key(
    root: &Root,
    certificate: &x509_parser::certificate::X509Certificate<'_>,
) -> Option<Vec<u8>> {
    let der = root.der()?;
    let issuer = x509::parse(&der).ok()?;
    x509::signed_by(certificate, &issuer).then(|| x509::public_key(&issuer).to_vec())
}

fn positions(roots: &[Root], query: &CertificateHashData) -> Vec<usize> {
    (0..roots.len())
        .filter(|&i| roots[i].matches(query))
        .collect()
}

/// Removes the entries at `indices` (ascending).
fn remove(roots: &mut Vec<Root>, indices: &[usize]) {
    for &i in indices.iter().rev() {
        roots.remove(i);
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}
