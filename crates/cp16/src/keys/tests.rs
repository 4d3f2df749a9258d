//! Tests of the configuration key set.
