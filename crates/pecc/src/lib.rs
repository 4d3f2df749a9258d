//! The joule power-cabinet controller (PECC).
pub mod chargepoint;
pub mod datamodel;
pub mod power;
