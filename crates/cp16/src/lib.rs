//! The pure core of an OCPP 1.6J charge point: what the station decides, without sockets, clocks or
//! files. The station's OCPP link drives these types with the current time and persists their
//! snapshots.
//!
//! - `keys`: the configuration key set (ChangeConfiguration / GetConfiguration).
//! - `auth`: the local authorization list, the authorization cache and the start decisions.
//! - `reservation`: ReserveNow / CancelReservation and who may charge where.

pub mod auth;
pub mod keys;
pub mod reservation;
