//! The certificate store and the security-event log (being written).
