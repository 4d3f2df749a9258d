//! Station passwords (OCPP security profiles 1 and 2, HTTP Basic authentication): salted SHA-256,
//! never stored in clear.
//!
//! A password is kept as a random 16-byte salt and `SHA-256(salt ‖ password)`, both in lowercase
//! hexadecimal. Verification recomputes the digest and compares in constant time.

use super::hex;
use sha2::{Digest, Sha256};

/// Salt length in bytes.
const SALT_LEN: usize = 16;

/// A salted password digest, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PasswordHash {
    /// The salt, hexadecimal.
    pub(super) salt: String,
    /// `SHA-256(salt ‖ password)`, hexadecimal.
    pub(super) hash: String,
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt.
    pub(super) fn new(password: &str) -> PasswordHash {
        let salt: [u8; SALT_LEN] = rand::random();
        PasswordHash {
            salt: hex(&salt),
            hash: hex(&digest(&salt, password)),
        }
    }

    /// Whether `password` is the one this digest was made from. A stored value that is not
    /// well-formed hexadecimal never matches.
    pub(super) fn verify(&self, password: &str) -> bool {
        match (unhex(&self.salt), unhex(&self.hash)) {
            (Some(salt), Some(expected)) => constant_time_eq(&digest(&salt, password), &expected),
            _ => false,
        }
    }

    /// Spends the time a verification takes, for a station without a password, so that the
    /// answer time does not tell which stations exist.
    pub(super) fn verify_nothing(password: &str) -> bool {
        let expected = [0u8; 32];
        let _ = constant_time_eq(&digest(&[0; SALT_LEN], password), &expected);
        false
    }
}

fn digest(salt: &[u8], password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// Compares without an early exit, so the time taken does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_right_password_only() {
        let stored = PasswordHash::new("s3cret-0123456789");
        assert!(stored.verify("s3cret-0123456789"));
        assert!(!stored.verify("s3cret-012345678"));
        assert!(!stored.verify(""));
        assert_eq!(stored.salt.len(), 32);
        assert_eq!(stored.hash.len(), 64);
        assert!(!stored.hash.contains("s3cret"));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(PasswordHash::new("same"), PasswordHash::new("same"));
    }

    #[test]
    fn known_digest() {
        // SHA-256 of the empty salt followed by "abc" is SHA-256("abc") (FIPS 180-2, B.1).
        let stored = PasswordHash {
            salt: String::new(),
            hash: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
        };
        assert!(stored.verify("abc"));
    }

    #[test]
    fn malformed_stored_values_never_match() {
        let bad = PasswordHash {
            salt: "zz".into(),
            hash: "00".into(),
        };
        assert!(!bad.verify("anything"));
        let odd = PasswordHash {
            salt: "0".into(),
            hash: "00".into(),
        };
        assert!(!odd.verify("anything"));
        assert!(!PasswordHash::verify_nothing("anything"));
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
