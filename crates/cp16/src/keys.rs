//! The configuration key set of the charge point.
