//! Reading certificates: PEM sections, X.509 parsing, validity times and issuer signatures.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustls_pki_types::pem::{PemObject, SectionKind};
use x509_parser::certificate::X509Certificate;
use x509_parser::time::ASN1Time;

/// The DER of every certificate in `pem`, in order. Text around the PEM sections is ignored; a
/// section of another kind (a key, a request) is an error.
pub(crate) fn certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
        let (kind, der) = section.map_err(|e| e.to_string())?;
        if kind != SectionKind::Certificate {
            return Err(format!("unexpected {kind:?} section"));
        }
        ders.push(der);
    }
    Ok(ders)
}

/// One certificate as PEM.
pub(crate) fn pem(der: &[u8]) -> String {
    pem_section("CERTIFICATE", der)
}

/// A PEM section with `label`, in 64-character lines.
pub(crate) fn pem_section(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    text.push_str("-----BEGIN ");
    text.push_str(label);
    text.push_str("-----\n");
    for (i, c) in body.chars().enumerate() {
        if i > 0 && i.is_multiple_of(64) {
            text.push('\n');
        }
        text.push(c);
    }
    text.push_str("\n-----END ");
    text.push_str(label);
    text.push_str("-----\n");
    text
}

/// Parses one DER certificate; trailing bytes are an error.
pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    let (rest, certificate) =
        x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the certificate", rest.len()));
    }
    Ok(certificate)
}

/// Start of the validity period.
pub(crate) fn not_before(certificate: &X509Certificate<'_>) -> DateTime<Utc> {
    instant(certificate.validity().not_before)
}

/// End of the validity period.
pub(crate) fn not_after(certificate: &X509Certificate<'_>) -> DateTime<Utc> {
    instant(certificate.validity().not_after)
}

/// Whether `now` lies in the validity period.
pub(crate) fn valid_at(certificate: &X509Certificate<'_>, now: DateTime<Utc>) -> bool {
    not_before(certificate) <= now && now <= not_after(certificate)
}

fn instant(time: ASN1Time) -> DateTime<Utc> {
    let seconds = time.timestamp();
    DateTime::from_timestamp(seconds, 0).unwrap_or(if seconds < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Whether the certificate may sign certificates: basicConstraints with cA set, and keyCertSign
/// when it restricts its key usage.
pub(crate) fn is_ca(certificate: &X509Certificate<'_>) -> bool {
    let ca = matches!(certificate.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    let usage = match certificate.key_usage() {
        Ok(Some(usage)) => usage.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    };
    ca && usage
}

/// Whether issuer and subject are the same name (a root, or a root renewed with its own key).
pub(crate) fn self_issued(certificate: &X509Certificate<'_>) -> bool {
    certificate.issuer().as_raw() == certificate.subject().as_raw()
}

/// Whether `issuer` issued `certificate`: its subject is the certificate's issuer and its key
/// verifies the certificate's signature.
pub(crate) fn signed_by(certificate: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    certificate.issuer().as_raw() == issuer.subject().as_raw()
        && certificate
            .verify_signature(Some(issuer.public_key()))
            .is_ok()
}

/// The contents of the subjectPublicKey BIT STRING: the key as RFC 6960 hashes it.
pub(crate) fn public_key<'a>(certificate: &'a X509Certificate<'_>) -> &'a [u8] {
    &certificate.public_key().subject_public_key.data
}
