//! Certificate hash data (whitepaper edition 3, section 6.1; RFC 6960 CertID): what
//! GetInstalledCertificateIds lists and DeleteCertificate names.

use proto_ocpp::v16::{CertificateHashData, HashAlgorithmEnum};
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::fmt::Write as _;
use x509_parser::certificate::X509Certificate;

/// The hash data of `certificate`, whose issuer's public key (subjectPublicKey contents) is
/// `issuer_key`.
pub(crate) fn hash_data(
    algorithm: HashAlgorithmEnum,
    certificate: &X509Certificate<'_>,
    issuer_key: &[u8],
) -> CertificateHashData {
    CertificateHashData::new(
        algorithm,
        digest_hex(algorithm, certificate.issuer().as_raw()),
        digest_hex(algorithm, issuer_key),
        serial_hex(certificate.raw_serial()),
    )
}

/// Whether `query` names `certificate`: same issuer name hash and serial number, and the same
/// issuer key hash when the issuer's key is known. Hex compares ignoring case; leading zeros of
/// the requested serial number do not count.
pub(crate) fn matches(
    query: &CertificateHashData,
    certificate: &X509Certificate<'_>,
    issuer_key: Option<&[u8]>,
) -> bool {
    let algorithm = query.hash_algorithm;
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    same(
        &query.issuer_name_hash,
        &digest_hex(algorithm, certificate.issuer().as_raw()),
    ) && same(
        normalized_serial(&query.serial_number),
        &serial_hex(certificate.raw_serial()),
    ) && issuer_key.is_none_or(|key| same(&query.issuer_key_hash, &digest_hex(algorithm, key)))
}

/// A serial number written without leading zeros; all zeros stay one `0`.
fn normalized_serial(serial: &str) -> &str {
    let trimmed = serial.trim_start_matches('0');
    if trimmed.is_empty() && !serial.is_empty() {
        "0"
    } else {
        trimmed
    }
}

/// `bytes` hashed with `algorithm`, in lowercase hex.
pub(crate) fn digest_hex(algorithm: HashAlgorithmEnum, bytes: &[u8]) -> String {
    match algorithm {
        HashAlgorithmEnum::Sha256 => hex(&Sha256::digest(bytes), false),
        HashAlgorithmEnum::Sha384 => hex(&Sha384::digest(bytes), false),
        HashAlgorithmEnum::Sha512 => hex(&Sha512::digest(bytes), false),
    }
}

/// A DER INTEGER's content octets (big-endian, possibly with a leading zero octet) as uppercase
/// hex without leading zeros.
pub(crate) fn serial_hex(raw: &[u8]) -> String {
    let text = hex(raw, true);
    match text.trim_start_matches('0') {
        "" => "0".to_string(),
        digits => digits.to_string(),
    }
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = if upper {
            write!(text, "{byte:02X}")
        } else {
            write!(text, "{byte:02x}")
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_drop_leading_zeros() {
        for (raw, expected) in [
            (&[0x0f, 0xff][..], "FFF"),
            (&[0x00, 0x80, 0x01][..], "8001"),
            (&[0x00][..], "0"),
            (&[][..], "0"),
            (&[0x01, 0x00][..], "100"),
            (&[0xab; 20][..], "ABABABABABABABABABABABABABABABABABABABAB"),
        ] {
            assert_eq!(serial_hex(raw), expected, "{raw:02x?}");
        }
    }

    #[test]
    fn requested_serials_ignore_leading_zeros() {
        for (requested, expected) in [("0FFF", "FFF"), ("fff", "fff"), ("000", "0"), ("", "")] {
            assert_eq!(normalized_serial(requested), expected);
        }
    }

    #[test]
    fn digests_have_the_algorithm_s_length() {
        for (algorithm, chars) in [
            (HashAlgorithmEnum::Sha256, 64),
            (HashAlgorithmEnum::Sha384, 96),
            (HashAlgorithmEnum::Sha512, 128),
        ] {
            let text = digest_hex(algorithm, b"abc");
            assert_eq!(text.len(), chars);
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
            );
        }
        assert_eq!(
            digest_hex(HashAlgorithmEnum::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
