//! Firmware, diagnostics and log transfer jobs (being written).
