//! The charge point's certificate store and security log (OCPP 1.6 security whitepaper, edition 3).
//!
//! - [`CertificateStore`]: the installed CentralSystemRootCertificates (with the fallback root that
//!   AdditionalRootCertificateCheck keeps after a replacement) and ManufacturerRootCertificates
//!   (InstallCertificate, DeleteCertificate, GetInstalledCertificateIds; M03–M05), the charge
//!   point's own certificate chain and private key with the previous one kept as a fallback, and
//!   the key pair of a pending certificate signing request (SignCertificate, CertificateSigned;
//!   A02/A03). It answers the SecurityProfile rule's questions ([`CertificateStore::facts`]) and
//!   hands the station what its TLS client needs.
//! - [`SecurityLog`]: the rolling log of security events (A04, N01) and the event types of the
//!   whitepaper's section 8 ([`event`]), with the critical ones marked.
//!
//! Both are plain values: the station passes the current time in and saves them (serde) as JSON
//! documents in its state file. The store holds private keys, so that file must be readable by the
//! station only; `Debug` output never shows a key.
//!
//! Choices where the whitepaper leaves room:
//!
//! - Hash data ([`CertificateHashData`](proto_ocpp::v16::CertificateHashData)) follow RFC 6960:
//!   the issuer name hash covers the DER of the certificate's issuer field, the issuer key hash the
//!   contents of the issuer's subjectPublicKey BIT STRING. Hashes are written in lowercase hex; the
//!   serial number in uppercase hex without leading zeros (4095 → `FFF`, as the whitepaper's
//!   example). Every field is compared ignoring case, and leading zeros of a requested serial
//!   number are ignored.
//! - An installed certificate must be a CA. One that is not self-issued must have been signed by a
//!   certificate already installed, because its issuer's key is part of its hash data.
//! - A certificate from CertificateSigned must chain to an installed CentralSystemRootCertificate
//!   (or the fallback root): the store holds no other anchor of the operator's hierarchy, and the
//!   central system's own certificate authority is one of those roots in practice. The chain is
//!   checked as the central system's TLS server will check it (path validation, client
//!   authentication usage).
//! - A certificate or root whose validity has not started yet is accepted; it is used from its
//!   notBefore on (A02.FR.08). An expired one is rejected.

mod charge_point;
pub mod event;
mod hash;
mod log;
mod store;
mod x509;

#[cfg(test)]
mod tests;

pub use charge_point::{ChargePointCertificate, CsrError, SignedError};
pub use log::{SecurityEvent, SecurityLog};
pub use store::{
    CertificateStore, InstallError, InstallPolicy, Installation, LinkTrust, SigningCertificateError,
};
