//! Smart charging for a charging station: the charging profiles a central system installs, the
//! rules that admit, replace and clear them, and what they mean over time.
//!
//! The core is independent of the OCPP version: a [`Profile`] has a [`Purpose`], a stack level,
//! a [`Kind`] (where its schedule starts), a validity window and a [`Schedule`] of periods in
//! amperes or watts. A [`ProfileStore`] holds a station's profiles under its [`Limits`], tracks
//! the transactions they apply to, answers with composite schedules ([`CompositeSchedule`]) and
//! tells each gun its power limit now ([`Limit`]) and when to ask again. [`v16`] converts from and
//! to the OCPP 1.6 messages and answers SetChargingProfile, ClearChargingProfile and
//! GetCompositeSchedule.
//!
//! Nothing here reads a clock or does I/O: every call that depends on time takes the current
//! wall-clock time. The store's content is kept across reboots through [`Snapshot`] (serde).
//!
//! Where OCPP 1.6 leaves a choice, this crate takes these:
//! - Absolute and Recurring profiles need a `startSchedule`; a ChargePointMax profile cannot be
//!   Relative; only a Tx profile may name a transaction.
//! - Profiles replace each other by id, or by purpose and stack level on the same connector.
//! - A connector's own TxDefault profiles rule over those set on connector 0 whenever one of
//!   them runs; connector 0's apply otherwise.
//! - A Recurring schedule repeats before its anchor too; `validFrom` says from when it counts.
//! - Amperes are per phase: `W = A × 230 V × phases` (the period's phase count, 3 when absent,
//!   at most the supply's). A DC station reads them as the AC input's current (see [`Supply`]).
//! - A composite schedule is in watts unless amperes are asked for, counts whole seconds from
//!   the current second, rounds limits down to one decimal, covers at most
//!   [`Limits::composite_horizon`] and fills the hours no profile limits with the ratings in
//!   [`Limits`]. Connector 0's is the most the station may draw: its limit capped by the sum
//!   over all connectors.
//! - The ChargePointMax limit is shared max-min fairly among the connectors with a transaction
//!   ([`ProfileStore::limit_at`]), so their limits never add up to more.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use hal::Watts;
//! use smart_charging::{Kind, Limits, Period, Profile, ProfileStore, Purpose, RateUnit, Schedule, Transaction};
//!
//! let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("a valid time");
//! let mut store = ProfileStore::new(Limits::new(2, Watts(300_000.0)));
//! // The station may draw 100 kW, from now on.
//! let station = Profile::new(
//!     1,
//!     Purpose::ChargePointMax,
//!     0,
//!     Kind::Absolute { start: now },
//!     Schedule::new(RateUnit::Watts, vec![Period::new(0, 100_000.0)]),
//! );
//! store.set(0, station, now)?;
//! store.transaction_started(1, Transaction::new(now, None))?;
//! store.transaction_started(2, Transaction::new(now, None))?;
//! // Two guns charging share it.
//! assert_eq!(store.limit_at(1, now).map(|l| l.power), Some(Watts(50_000.0)));
//! # Ok::<(), smart_charging::Rejection>(())
//! ```

mod composite;
mod error;
mod profile;
mod store;
pub mod v16;

pub use composite::{CompositeSchedule, Limit};
pub use error::Rejection;
pub use profile::{Kind, Period, Profile, Purpose, RateUnit, Recurrence, Schedule, TransactionId};
pub use store::{ClearFilter, Installed, Limits, ProfileStore, Snapshot, Supply, Transaction};
