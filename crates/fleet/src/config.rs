//! The fleet's settings: how many stations, where they connect, how fast they arrive and what
//! they do once connected.

use crate::FleetError;
use proto_ocpp::OcppVersion;
use std::time::Duration;

/// How a fleet runs.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Central-system URL without the station id, e.g. `ws://127.0.0.1:9000/ocpp`; each station
    /// connects to `URL/{stationId}`.
    pub csms_url: String,
    /// Number of stations.
    pub stations: usize,
    /// Connectors per station (numbered from 1; in OCPP 2.x, EVSE `n` with connector 1).
    pub connectors: u32,
    /// The OCPP version every station offers.
    pub version: OcppVersion,
    /// How long the fleet runs once the last station has started (after the ramp).
    pub duration: Duration,
    /// Stations started per second during the boot storm.
    pub ramp_per_s: f64,
    /// Seed of every random draw: the same seed and settings give the same workload.
    pub seed: u64,
    /// Keep one CALL in flight per station all the time (Heartbeat and MeterValues alternating)
    /// instead of the modelled workload.
    pub saturate: bool,
    /// What the stations do in the modelled workload.
    pub workload: Workload,
    /// Station ids are this prefix followed by a six-digit index (`FLEET-000001`, …).
    pub station_prefix: String,
    /// Loopback source addresses to spread connections over (`127.0.0.1`, `127.0.0.2`, …);
    /// `None` picks one per 25,000 stations. Used only when the central system is on a loopback
    /// address: one source address has about 28,000 ephemeral ports.
    pub source_addresses: Option<u8>,
    /// How long a CALL may wait for its answer before it counts as a `Timeout` error.
    pub call_timeout: Duration,
    /// How long the TCP and WebSocket handshakes of one station may take.
    pub connect_timeout: Duration,
}

impl FleetConfig {
    /// `stations` stations of OCPP `version` against `csms_url`, with the default workload: one
    /// connector each, a 60 s hold after a ramp of 1,000 stations per second, seed 1.
    pub fn new(csms_url: impl Into<String>, stations: usize, version: OcppVersion) -> Self {
        Self {
            csms_url: csms_url.into(),
            stations,
            connectors: 1,
            version,
            duration: Duration::from_secs(60),
            ramp_per_s: 1000.0,
            seed: 1,
            saturate: false,
            workload: Workload::default(),
            station_prefix: "FLEET-".into(),
            source_addresses: None,
            call_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// When the last station starts, counted from the start of the run: the ramp plus the boot
    /// jitter.
    pub fn ramp_end(&self) -> Duration {
        self.station_start_base(self.stations.saturating_sub(1)) + self.workload.boot_jitter
    }

    /// When stations stop generating work and wind down, counted from the start of the run.
    pub fn end(&self) -> Duration {
        self.ramp_end() + self.duration
    }

    /// The planned start of station `index` before its jitter.
    pub(crate) fn station_start_base(&self, index: usize) -> Duration {
        // Index to f64: exact below 2^53, far beyond any fleet size.
        #[allow(clippy::cast_precision_loss)]
        let seconds = index as f64 / self.ramp_per_s;
        Duration::from_secs_f64(seconds)
    }

    /// The id of station `index` (counted from 0; ids count from 1).
    pub fn station_id(&self, index: usize) -> String {
        format!("{}{:06}", self.station_prefix, index + 1)
    }

    /// How many source addresses the fleet spreads its connections over.
    pub fn source_address_count(&self) -> u8 {
        self.source_addresses.unwrap_or_else(|| {
            let needed = self.stations.div_ceil(STATIONS_PER_SOURCE_ADDRESS).max(1);
            u8::try_from(needed).unwrap_or(u8::MAX)
        })
    }

    /// Checks the settings; every error names the setting.
    pub fn validate(&self) -> Result<(), FleetError> {
        let invalid = |reason: String| Err(FleetError::Config(reason));
        if self.stations == 0 {
            return invalid("--stations must be at least 1".into());
        }
        if self.stations > MAX_STATIONS {
            return invalid(format!("--stations must be at most {MAX_STATIONS}"));
        }
        if !(1..=MAX_CONNECTORS).contains(&self.connectors) {
            return invalid(format!("--connectors must be 1 to {MAX_CONNECTORS}"));
        }
        if !(self.ramp_per_s.is_finite() && self.ramp_per_s > 0.0) {
            return invalid("--ramp must be a positive number of stations per second".into());
        }
        if self.source_addresses == Some(0) {
            return invalid("--source-addresses must be at least 1".into());
        }
        if self.station_prefix.len() + 6 > 48 || self.station_prefix.chars().any(char::is_control) {
            return invalid("--station-prefix must be printable and at most 42 characters".into());
        }
        if self.call_timeout.is_zero() || self.connect_timeout.is_zero() {
            return invalid("timeouts must be longer than zero".into());
        }
        self.workload.validate()
    }
}

/// Largest fleet accepted (ids have six digits).
pub const MAX_STATIONS: usize = 999_999;

/// Most connectors per station accepted.
pub const MAX_CONNECTORS: u32 = 16;

/// Connections per loopback source address when the count is picked automatically. Each address
/// has 28,232 ephemeral ports with Linux's default range, but binding slows down in the kernel's
/// port search well before they run out (measured: beyond about 14,000 connections stations
/// waited seconds to connect), so each address carries at most 12,000.
const STATIONS_PER_SOURCE_ADDRESS: usize = 12_000;

/// The modelled workload of a station: rates are per connector and drawn from a seeded random
/// generator, so runs with the same seed repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Time between heartbeats (each station keeps its own interval, with a random phase).
    pub heartbeat_interval: Duration,
    /// Charging sessions per connector per hour (arrivals of a Poisson process while idle).
    pub sessions_per_hour: f64,
    /// Mean session length; each session lasts between half and one and a half of it.
    pub session_length: Duration,
    /// Time between meter values during a session.
    pub meter_interval: Duration,
    /// Status changes per connector per hour while idle: the connector goes Unavailable, then
    /// Available again 5 to 30 s later.
    pub status_changes_per_hour: f64,
    /// Each station starts up to this much after its place in the ramp.
    pub boot_jitter: Duration,
}

impl Default for Workload {
    /// A public DC charger's day: a heartbeat a minute, two sessions an hour of 20 minutes on
    /// average with a meter value a minute, one status change an hour, up to 1 s boot jitter.
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(60),
            sessions_per_hour: 2.0,
            session_length: Duration::from_secs(20 * 60),
            meter_interval: Duration::from_secs(60),
            status_changes_per_hour: 1.0,
            boot_jitter: Duration::from_secs(1),
        }
    }
}

impl Workload {
    fn validate(&self) -> Result<(), FleetError> {
        let invalid = |reason: &str| Err(FleetError::Config(reason.to_string()));
        if self.heartbeat_interval.is_zero() {
            return invalid("--heartbeat must be longer than zero");
        }
        if self.meter_interval.is_zero() {
            return invalid("--meter-interval must be longer than zero");
        }
        if self.session_length.is_zero() {
            return invalid("--session-length must be longer than zero");
        }
        let rate_ok = |rate: f64| rate.is_finite() && rate >= 0.0;
        if !rate_ok(self.sessions_per_hour) || !rate_ok(self.status_changes_per_hour) {
            return invalid("rates per hour must be zero or positive");
        }
        Ok(())
    }
}

/// Reads a duration written as a number with a unit: `500ms`, `15s`, `2m`, `1h` (`1.5m` too).
pub fn parse_duration(text: &str) -> Result<Duration, FleetError> {
    let text = text.trim();
    let bad = || {
        FleetError::Config(format!(
            "{text:?} is not a duration: write a number and a unit, e.g. 500ms, 15s, 2m, 1h"
        ))
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("15s").ok(), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h").ok(), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("1.5m").ok(), Some(Duration::from_secs(90)));
        for bad in ["15", "s", "", "-1s", "2 weeks", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_ramp_places_stations_and_the_hold_follows_it() {
        let mut config = FleetConfig::new("ws://127.0.0.1:9/ocpp", 1001, OcppVersion::V16);
        config.ramp_per_s = 100.0;
        config.duration = Duration::from_secs(5);
        assert_eq!(config.station_start_base(0), Duration::ZERO);
        assert_eq!(config.station_start_base(1000), Duration::from_secs(10));
        assert_eq!(config.ramp_end(), Duration::from_secs(11));
        assert_eq!(config.end(), Duration::from_secs(16));
        assert_eq!(config.station_id(0), "FLEET-000001");
    }

    #[test]
    fn source_addresses_cover_the_ephemeral_ports() {
        let mut config = FleetConfig::new("ws://127.0.0.1:9/ocpp", 100_000, OcppVersion::V16);
        assert_eq!(config.source_address_count(), 9);
        config.stations = 19_000;
        assert_eq!(config.source_address_count(), 2);
        config.stations = 10;
        assert_eq!(config.source_address_count(), 1);
        config.source_addresses = Some(3);
        assert_eq!(config.source_address_count(), 3);
    }

    #[test]
    fn bad_settings_are_named() {
        let mut config = FleetConfig::new("ws://127.0.0.1:9/ocpp", 0, OcppVersion::V16);
        let error = config.validate().err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("--stations")));
        config.stations = 1;
        config.ramp_per_s = 0.0;
        let error = config.validate().err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("--ramp")));
        config.ramp_per_s = 10.0;
        config.workload.sessions_per_hour = f64::NAN;
        assert!(config.validate().is_err());
        config.workload.sessions_per_hour = 1.0;
        assert!(config.validate().is_ok());
    }
}
