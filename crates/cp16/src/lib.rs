//! The pure core of an OCPP 1.6J charge point: what the station decides, without sockets, clocks or
//! files. The station's OCPP link drives these types with the current time and persists their
//! snapshots.
//!
//! - `keys`: the configuration key set (ChangeConfiguration / GetConfiguration).
//! - `auth`: the local authorization list, the authorization cache and the start decisions.
//! - `reservation`: ReserveNow / CancelReservation and who may charge where.
//! - `security`: the certificate store and the security-event log (whitepaper edition 3).
//! - `transfer`: firmware updates, diagnostics and log uploads as job machines.

pub mod auth;
pub mod keys;
pub mod reservation;
pub mod security;
pub mod transfer;
