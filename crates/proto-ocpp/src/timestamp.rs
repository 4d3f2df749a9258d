//! OCPP `dateTime` values.
//!
//! OCPP-J carries timestamps as RFC 3339 strings. A timestamp without a UTC offset is ambiguous
//! (OCPP 2.0.1 Part 2 §2.1.5 asks for UTC with a `Z`), so decoding rejects it. Encoding always
//! writes millisecond precision and keeps the offset the value was received with, `Z` for UTC.

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An instant with the UTC offset it was written with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(DateTime<FixedOffset>);

/// Why a string is not an OCPP timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time with a UTC offset: {0:?}")]
pub struct TimestampError(String);

impl Timestamp {
    /// The instant in UTC.
    pub fn to_utc(self) -> DateTime<Utc> {
        self.0.with_timezone(&Utc)
    }

    /// Milliseconds since the Unix epoch.
    pub fn timestamp_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The instant `millis` milliseconds after the Unix epoch, in UTC; `None` out of range.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        DateTime::<Utc>::from_timestamp_millis(millis).map(Self::from)
    }

    /// The current wall-clock time. Protocol cores take time as input; this is for drivers.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.fixed_offset())
    }
}

impl From<DateTime<FixedOffset>> for Timestamp {
    fn from(value: DateTime<FixedOffset>) -> Self {
        Self(value)
    }
}

impl From<Timestamp> for DateTime<FixedOffset> {
    fn from(value: Timestamp) -> Self {
        value.0
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // chrono accepts a space between date and time; RFC 3339 section 5.6 asks for `T`.
        let separator_ok = s
            .as_bytes()
            .get(10)
            .is_some_and(|b| matches!(b, b'T' | b't'));
        match DateTime::parse_from_rfc3339(s) {
            Ok(dt) if separator_ok => Ok(Self(dt)),
            _ => Err(TimestampError(s.to_string())),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self.0.offset().local_minus_utc();
        let t = &self.0;
        if !(0..=9999).contains(&t.year()) {
            return f.write_str(&t.to_rfc3339_opts(SecondsFormat::Millis, offset == 0));
        }
        // Written by hand: this runs for every timestamp of every message sent.
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            // A leap second is written as :60 by chrono; keep milliseconds below 1000 here.
            (t.nanosecond() % 1_000_000_000) / 1_000_000
        )?;
        if offset == 0 {
            return f.write_str("Z");
        }
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date-time with a UTC offset")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_milliseconds_and_z() {
        let t: Timestamp = "2026-11-21T07:06:41Z".parse().expect("valid");
        assert_eq!(t.to_string(), "2026-11-21T07:06:41.000Z");
        let t: Timestamp = "2026-11-21T07:06:41.123456+02:00".parse().expect("valid");
        assert_eq!(t.to_string(), "2026-11-21T07:06:41.123+02:00");
        assert_eq!(t.to_utc().to_rfc3339(), "2026-11-21T05:06:41.123456+00:00");
        let t: Timestamp = "2026-11-21T07:06:41.9999-09:30".parse().expect("valid");
        assert_eq!(t.to_string(), "2026-11-21T07:06:41.999-09:30");
        assert_eq!(
            Timestamp::from_unix_millis(0)
                .expect("in range")
                .to_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn rejects_missing_offset_and_bad_separators() {
        for bad in [
            "2026-11-21T07:06:41",
            "2026-11-21T07:06:41.123",
            "2026-11-21 07:06:41Z",
            "2026-11-21",
            "yesterday",
            "",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn serde_round_trip() {
        let t: Timestamp = serde_json::from_str("\"2026-01-02T03:04:05.678Z\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&t).expect("encodes"),
            "\"2026-01-02T03:04:05.678Z\""
        );
        assert!(serde_json::from_str::<Timestamp>("12").is_err());
    }
}
