//! The pure core of an OCPP 1.6J charge point: what the station decides, without sockets, clocks or
//! files. The station's OCPP link drives these types with the current time and persists their
//! snapshots.
//!
//! - `keys`: the configuration key set (ChangeConfiguration / GetConfiguration).

pub mod keys;
