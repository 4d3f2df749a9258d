//! OCPP versions and WebSocket subprotocol negotiation (OCPP-J 1.6 §3.1.2, OCPP 2.0.1 Part 4 §3.1.2).
//!
//! The client lists the versions it speaks in `Sec-WebSocket-Protocol`; the server answers with
//! exactly one of the offered tokens, or refuses the upgrade when it speaks none of them.

use std::fmt;
use std::str::FromStr;

/// An OCPP version this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OcppVersion {
    /// OCPP 1.6 edition 2 with the security whitepaper (edition 3) messages.
    V16,
    /// OCPP 2.0.1.
    V201,
    /// OCPP 2.1.
    V21,
}

impl OcppVersion {
    /// Every version, most preferred first.
    pub const PREFERENCE: [OcppVersion; 3] =
        [OcppVersion::V21, OcppVersion::V201, OcppVersion::V16];

    /// The WebSocket subprotocol token.
    pub const fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => "ocpp1.6",
            OcppVersion::V201 => "ocpp2.0.1",
            OcppVersion::V21 => "ocpp2.1",
        }
    }

    /// The version as people write it: `1.6`, `2.0.1`, `2.1`.
    pub const fn label(self) -> &'static str {
        match self {
            OcppVersion::V16 => "1.6",
            OcppVersion::V201 => "2.0.1",
            OcppVersion::V21 => "2.1",
        }
    }

    /// The version a subprotocol token names. Tokens are compared without regard to ASCII case,
    /// because some charger firmware writes `OCPP1.6`.
    pub fn from_subprotocol(token: &str) -> Option<Self> {
        Self::PREFERENCE
            .into_iter()
            .find(|v| v.subprotocol().eq_ignore_ascii_case(token.trim()))
    }

    /// Whether the version has the OCPP 2.1 CALLRESULTERROR and SEND message types.
    pub const fn has_send(self) -> bool {
        matches!(self, OcppVersion::V21)
    }
}

impl fmt::Display for OcppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A string that names no OCPP version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OCPP version {0:?} (expected 1.6, 2.0.1 or 2.1)")]
pub struct UnknownVersion(pub String);

impl FromStr for OcppVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1.6" | "16" => Ok(OcppVersion::V16),
            "2.0.1" | "201" => Ok(OcppVersion::V201),
            "2.1" | "21" => Ok(OcppVersion::V21),
            other => Self::from_subprotocol(other).ok_or_else(|| UnknownVersion(other.to_string())),
        }
    }
}

/// The server's choice: the version and the token, exactly as the client wrote it, to echo in
/// the `Sec-WebSocket-Protocol` response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The chosen version.
    pub version: OcppVersion,
    /// The client's token for it.
    pub token: String,
}

/// Chooses the subprotocol for a server that speaks `supported` (most preferred first) from the
/// values of the client's `Sec-WebSocket-Protocol` headers (each may hold a comma-separated list).
/// `None` means no common version: the server must refuse the upgrade.
pub fn negotiate<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    supported: &[OcppVersion],
) -> Option<Negotiated> {
    let tokens: Vec<&str> = offered
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    supported.iter().find_map(|&version| {
        tokens
            .iter()
            .find(|t| OcppVersion::from_subprotocol(t) == Some(version))
            .map(|t| Negotiated {
                version,
                token: (*t).to_string(),
            })
    })
}

/// The `Sec-WebSocket-Protocol` request header value for a client speaking `versions`.
pub fn offer(versions: &[OcppVersion]) -> String {
    versions
        .iter()
        .map(|v| v.subprotocol())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a client cannot use the server's answer to its offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The server accepted the connection without choosing a subprotocol.
    #[error("the server chose no OCPP subprotocol")]
    NoneChosen,
    /// The server chose a token the client did not offer.
    #[error("the server chose subprotocol {0:?}, which was not offered")]
    NotOffered(String),
}

/// Checks the server's `Sec-WebSocket-Protocol` answer against the client's offer.
pub fn accept(
    offered: &[OcppVersion],
    answer: Option<&str>,
) -> Result<OcppVersion, NegotiationError> {
    let answer = answer
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or(NegotiationError::NoneChosen)?;
    OcppVersion::from_subprotocol(answer)
        .filter(|v| offered.contains(v))
        .ok_or_else(|| NegotiationError::NotOffered(answer.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_prefers_the_newest_common_version() {
        let all = OcppVersion::PREFERENCE;
        let chosen = negotiate(["ocpp1.6, ocpp2.0.1"], &all).expect("common version");
        assert_eq!(chosen.version, OcppVersion::V201);
        assert_eq!(chosen.token, "ocpp2.0.1");
        let chosen = negotiate(["ocpp1.6", "ocpp2.1"], &all).expect("common version");
        assert_eq!(chosen.version, OcppVersion::V21);
        let chosen = negotiate(["OCPP1.6"], &all).expect("case-insensitive");
        assert_eq!(chosen.token, "OCPP1.6");
    }

    #[test]
    fn server_refuses_without_a_common_version() {
        assert_eq!(negotiate(["ocpp1.5, mqtt"], &OcppVersion::PREFERENCE), None);
        assert_eq!(negotiate([], &OcppVersion::PREFERENCE), None);
        assert_eq!(negotiate(["ocpp2.1"], &[OcppVersion::V16]), None);
    }

    #[test]
    fn client_checks_the_answer() {
        let offered = [OcppVersion::V201, OcppVersion::V16];
        assert_eq!(offer(&offered), "ocpp2.0.1, ocpp1.6");
        assert_eq!(accept(&offered, Some("ocpp1.6")), Ok(OcppVersion::V16));
        assert_eq!(accept(&offered, None), Err(NegotiationError::NoneChosen));
        assert_eq!(
            accept(&offered, Some("ocpp2.1")),
            Err(NegotiationError::NotOffered("ocpp2.1".into()))
        );
    }

    #[test]
    fn parses_labels() {
        assert_eq!("2.0.1".parse::<OcppVersion>(), Ok(OcppVersion::V201));
        assert_eq!("ocpp2.1".parse::<OcppVersion>(), Ok(OcppVersion::V21));
        assert!("2.0".parse::<OcppVersion>().is_err());
    }
}
