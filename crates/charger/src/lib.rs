//! One gun's DC charging session as a pure state machine.
//!
//! ```text
//!  IDLE ──Start──▶ HANDSHAKE ──2 s──▶ PRECHARGE ─────────────────────────────▶ CHARGING ──duration──▶ COMPLETE
//!                                     (cable check: ramp to the test voltage     (ramp to the requested
//!                                      at ≤ 2 A, self-test, isolation samples,    current; clamp to the
//!                                      discharge < 60 V; then ramp to the target  gun's and supply's limits)
//!                                      at ≤ 2 A and close the contactor)
//!  any phase ──Stop / Fault──▶ (ramp down, open the contactor, discharge < 60 V) ──▶ ABORTED
//! ```
//!
//! Input is a closed [`Event`] with the current time; output is a list of [`Action`]s for the
//! gun's hardware. The per-gun task applies the actions to its [`hal::GunHardware`] and feeds
//! back a [`Readings`] snapshot on every [`Event::Tick`]. Nothing here reads a clock or touches
//! hardware, so every path is tested on plain numbers.
//!
//! Safety rules kept by construction:
//! - the contactor is closed only in CHARGING, after precharge matched the voltage;
//! - a fault opens the contactor and switches the supply off in the same step, in any phase;
//! - a gun with an uncleared fault refuses to start;
//! - a session ends only once the output is below 60 V.

mod meter;
mod session;

pub use meter::{SessionMeter, Summary};
pub use session::{
    Action, CableCheckVerdict, Event, Gun, GunConfig, MeterView, Phase, Readings, Refusal,
    SessionParams, Status, Step,
};
