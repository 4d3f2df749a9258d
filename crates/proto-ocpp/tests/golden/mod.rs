//! Support for the golden test: a schema walker, a schema-driven sample generator, single-fault
//! mutations and numeric-aware JSON equality.

pub mod json;
pub mod mutation;
pub mod sample;
pub mod schema;
