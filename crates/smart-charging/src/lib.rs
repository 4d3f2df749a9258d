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
//! ```
//! use chrono::{TimeZone, Utc};
//! use hal::Watts;
//! use smart_charging::{Kind, Limits, Period, Profile, ProfileStore, Purpose, RateUnit, Schedule, Transaction};
//!
//! let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
//! let mut store = ProfileStore::new(Limits::new(2, Watts(300_000.0)));
//! // The station may draw 100 kW, from now on.
//! let station = Profile::new(
//!     1,
//!     Purpose::ChargePointMax,
//!     0,
//!     Kind::Absolute { start: now },
//!     Schedule::new(RateUnit::Watts, vec![Period::new(0, 100_000.0)]),
//! );
//! store.set(0, station, now).unwrap();
//! store.transaction_started(1, Transaction::new(now, None)).unwrap();
//! store.transaction_started(2, Transaction::new(now, None)).unwrap();
//! // Two guns charging share it.
//! assert_eq!(store.limit_at(1, now).unwrap().power, Watts(50_000.0));
//! ```

mod composite;
mod error;
mod profile;
mod store;
pub mod v16;

pub use composite::{CompositeSchedule, Limit};
pub use error::Rejection;
pub use profile::{Kind, Period, Profile, Purpose, RateUnit, Recurrence, Schedule, TransactionId};
pub use store::{
    ClearFilter, Installed, Limits, ProfileStore, Snapshot, Supply, Transaction,
};
