//! WebSocket subprotocol negotiation (section 2.1).
//!
//! The header value is `pep<version>`. The specification gives `pep1.5` for revision 1.8 while
//! its schemas say `pep1.8`, and versions from 1.1 on are compatible, so a server accepts any
//! `pep1.<minor>` with 1 ≤ minor ≤ 8 and echoes the highest offered; a client offers `pep1.5` by
//! default. `pep1.0` is incompatible.

/// The tokens an SECC offers by default: the literal of the specification.
pub const DEFAULT_OFFER: &[&str] = &["pep1.5"];

/// The newest minor version this crate implements (PEP 1.8).
pub const NEWEST_MINOR: u32 = 8;

/// What a PECC does with the subprotocols a client offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiation {
    /// Accept and echo this token.
    Accept(String),
    /// Accept without a `Sec-WebSocket-Protocol` header: the client offered none (RFC 6455
    /// forbids choosing one that was not offered). Worth a warning.
    AcceptWithoutProtocol,
    /// Refuse the upgrade: tokens were offered, none of them a compatible PEP version.
    Refuse,
}

/// The minor version of a `pep1.<minor>` token.
pub fn pep_minor(token: &str) -> Option<u32> {
    let minor = token.trim().strip_prefix("pep1.")?;
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    minor.parse().ok()
}

/// Chooses among the offered tokens, as a PECC server.
pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Negotiation {
    let mut any = false;
    let mut best: Option<(u32, &str)> = None;
    for token in offered {
        any = true;
        let Some(minor) = pep_minor(token) else {
            continue;
        };
        if (1..=NEWEST_MINOR).contains(&minor) && best.is_none_or(|(m, _)| minor > m) {
            best = Some((minor, token.trim()));
        }
    }
    match best {
        Some((_, token)) => Negotiation::Accept(token.to_string()),
        None if any => Negotiation::Refuse,
        None => Negotiation::AcceptWithoutProtocol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_compatible_pep_version() {
        assert_eq!(
            negotiate(["pep1.5", "pep1.8"]),
            Negotiation::Accept("pep1.8".into())
        );
        assert_eq!(negotiate(["pep1.5"]), Negotiation::Accept("pep1.5".into()));
        assert_eq!(
            negotiate(["ocpp1.6", "pep1.1"]),
            Negotiation::Accept("pep1.1".into())
        );
        assert_eq!(negotiate(["pep1.0"]), Negotiation::Refuse);
        assert_eq!(negotiate(["pep1.9", "ocpp1.6"]), Negotiation::Refuse);
        assert_eq!(negotiate(["pep1.x", "pep2.0"]), Negotiation::Refuse);
        assert_eq!(negotiate([]), Negotiation::AcceptWithoutProtocol);
        assert_eq!(pep_minor("pep1.12"), Some(12));
        assert_eq!(pep_minor("pep1."), None);
    }
}
