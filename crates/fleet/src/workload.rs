//! The seeded workload of one station, as a plan of timed triggers: heartbeats, charging
//! sessions (start, periodic meter values, stop) and status changes.
//!
//! The plan is pure: it reads no clock and draws from a generator seeded by the fleet's seed and
//! the station's index, so the same settings always give the same triggers at the same offsets
//! from the start of the run. It is produced lazily, one trigger at a time, so a station holds a
//! few dozen bytes of plan however long the run. Every session still open at the end of the run
//! is stopped at the end, so a bounded run leaves no transaction open.

use crate::config::{FleetConfig, Workload};
use proto_ocpp::OcppVersion;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Something a station does at a planned time; it expands into one or more CALLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A Heartbeat.
    Heartbeat,
    /// A driver arrives at the connector: authorize, then start a transaction.
    SessionStart(u32),
    /// A periodic meter value of the connector's transaction.
    MeterSample(u32),
    /// The session on the connector ends: stop the transaction, connector available again.
    SessionStop(u32),
    /// The connector becomes Unavailable.
    StatusDown(u32),
    /// The connector is Available again.
    StatusUp(u32),
}

impl Trigger {
    /// How many CALLs the trigger expands into in OCPP `version`.
    pub fn calls(self, version: OcppVersion) -> u64 {
        let v16 = version == OcppVersion::V16;
        match self {
            Trigger::Heartbeat
            | Trigger::MeterSample(_)
            | Trigger::StatusDown(_)
            | Trigger::StatusUp(_) => 1,
            // Authorize, Preparing, StartTransaction, Charging; 2.x: Authorize, Occupied, Started.
            Trigger::SessionStart(_) => {
                if v16 {
                    4
                } else {
                    3
                }
            }
            // StopTransaction, Finishing, Available; 2.x: Ended, Available.
            Trigger::SessionStop(_) => {
                if v16 {
                    3
                } else {
                    2
                }
            }
        }
    }
}

/// What a connector is doing, as far as the plan is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Connector {
    /// Waiting for a driver or a status change; the next trigger is drawn.
    Idle,
    /// Charging until `stop_at`.
    Charging { stop_at: Duration },
    /// Unavailable; comes back with its `StatusUp` trigger, if one falls before the end.
    Down,
}

/// One connector's next trigger and state.
#[derive(Debug, Clone)]
struct ConnectorPlan {
    state: Connector,
    next: Option<(Duration, Trigger)>,
}

/// One station's plan.
#[derive(Debug, Clone)]
pub struct Plan {
    rng: SmallRng,
    workload: Workload,
    start: Duration,
    end: Duration,
    next_heartbeat: Option<Duration>,
    connectors: Vec<ConnectorPlan>,
}

impl Plan {
    /// The plan of station `index` (from 0) of a fleet.
    pub fn for_station(config: &FleetConfig, index: usize) -> Plan {
        let mut rng = SmallRng::seed_from_u64(station_seed(config.seed, index));
        let jitter = config
            .workload
            .boot_jitter
            .mul_f64(rng.random_range(0.0..1.0));
        let start = config.station_start_base(index) + jitter;
        Plan::new(
            rng,
            config.workload.clone(),
            start,
            config.end(),
            config.connectors,
        )
    }

    fn new(
        mut rng: SmallRng,
        workload: Workload,
        start: Duration,
        end: Duration,
        connectors: u32,
    ) -> Plan {
        // The first heartbeat comes at a random phase of the interval, so that a boot storm does
        // not turn into synchronized heartbeat storms.
        let phase = workload
            .heartbeat_interval
            .mul_f64(rng.random_range(0.0..1.0));
        let first_heartbeat = start + phase.max(Duration::from_millis(1));
        let mut plan = Plan {
            rng,
            workload,
            start,
            end,
            next_heartbeat: (first_heartbeat < end).then_some(first_heartbeat),
            connectors: Vec::new(),
        };
        for connector in 1..=connectors {
            let next = plan.draw_idle(connector, start);
            plan.connectors.push(ConnectorPlan {
                state: Connector::Idle,
                next,
            });
        }
        plan
    }

    /// When the station connects, from the start of the run.
    pub fn start(&self) -> Duration {
        self.start
    }

    /// When the run ends, from its start.
    pub fn end(&self) -> Duration {
        self.end
    }

    /// When the next trigger is due, without taking it.
    pub fn peek(&self) -> Option<Duration> {
        let connectors = self.connectors.iter().filter_map(|c| c.next.map(|n| n.0));
        self.next_heartbeat.into_iter().chain(connectors).min()
    }

    /// The trigger a connector fires next when idle at `now`: a session or a status change,
    /// whichever of the two Poisson processes comes first, if before the end.
    fn draw_idle(&mut self, connector: u32, now: Duration) -> Option<(Duration, Trigger)> {
        let session = exponential(&mut self.rng, self.workload.sessions_per_hour);
        let status = exponential(&mut self.rng, self.workload.status_changes_per_hour);
        let (wait, trigger) = match (session, status) {
            (Some(s), Some(c)) if c < s => (c, Trigger::StatusDown(connector)),
            (Some(s), _) => (s, Trigger::SessionStart(connector)),
            (None, Some(c)) => (c, Trigger::StatusDown(connector)),
            (None, None) => return None,
        };
        let at = now + wait;
        (at < self.end).then_some((at, trigger))
    }

    /// The next meter value of a session charging until `stop_at`, or its stop.
    fn during_session(
        &self,
        connector: u32,
        now: Duration,
        stop_at: Duration,
    ) -> (Duration, Trigger) {
        let stop_at = stop_at.min(self.end);
        let sample = now + self.workload.meter_interval;
        if sample < stop_at {
            (sample, Trigger::MeterSample(connector))
        } else {
            (stop_at, Trigger::SessionStop(connector))
        }
    }

    /// Moves a connector past the trigger it just fired at `at`.
    fn advance(&mut self, slot: usize, at: Duration, trigger: Trigger) {
        let connector = u32::try_from(slot + 1).unwrap_or(u32::MAX);
        let (state, next) = match trigger {
            Trigger::SessionStart(_) => {
                let length = self
                    .workload
                    .session_length
                    .mul_f64(self.rng.random_range(0.5..1.5));
                let stop_at = at + length;
                let next = self.during_session(connector, at, stop_at);
                (Connector::Charging { stop_at }, Some(next))
            }
            Trigger::MeterSample(_) => {
                let stop_at = match self.connectors[slot].state {
                    Connector::Charging { stop_at } => stop_at,
                    Connector::Idle | Connector::Down => at,
                };
                let next = self.during_session(connector, at, stop_at);
                (Connector::Charging { stop_at }, Some(next))
            }
            Trigger::StatusDown(_) => {
                let back = at + Duration::from_secs_f64(self.rng.random_range(5.0..30.0));
                let next = (back < self.end).then_some((back, Trigger::StatusUp(connector)));
                (Connector::Down, next)
            }
            Trigger::SessionStop(_) | Trigger::StatusUp(_) | Trigger::Heartbeat => {
                (Connector::Idle, self.draw_idle(connector, at))
            }
        };
        self.connectors[slot] = ConnectorPlan { state, next };
    }
}

impl Iterator for Plan {
    type Item = (Duration, Trigger);

    /// The next trigger in time order; on equal times the heartbeat first, then connectors in
    /// order.
    fn next(&mut self) -> Option<(Duration, Trigger)> {
        let due = self.peek()?;
        if self.next_heartbeat == Some(due) {
            let following = due + self.workload.heartbeat_interval;
            self.next_heartbeat = (following < self.end).then_some(following);
            return Some((due, Trigger::Heartbeat));
        }
        let slot = self
            .connectors
            .iter()
            .position(|c| c.next.map(|n| n.0) == Some(due))?;
        let (at, trigger) = self.connectors[slot].next?;
        self.advance(slot, at, trigger);
        Some((at, trigger))
    }
}

/// A station's seed: the fleet's seed mixed with its index (SplitMix64's increment spreads
/// neighbouring indices over the whole range).
fn station_seed(seed: u64, index: usize) -> u64 {
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The wait until the next event of a Poisson process of `per_hour` events; `None` if the rate
/// is zero.
fn exponential(rng: &mut SmallRng, per_hour: f64) -> Option<Duration> {
    if per_hour <= 0.0 {
        return None;
    }
    let uniform: f64 = rng.random_range(0.0..1.0);
    let hours = -(1.0 - uniform).ln() / per_hour;
    Duration::try_from_secs_f64(hours * 3600.0).ok()
}

/// Every CALL the modelled workload of a whole fleet plans, including each station's boot
/// (BootNotification and one StatusNotification per connector) and the stops at the end; what a
/// run completes when no call fails and no station disconnects.
pub fn planned_calls(config: &FleetConfig) -> u64 {
    let version = config.version;
    let boot = 1 + u64::from(config.connectors);
    (0..config.stations)
        .map(|index| {
            let plan = Plan::for_station(config, index);
            boot + plan.map(|(_, t)| t.calls(version)).sum::<u64>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FleetConfig {
        let mut config = FleetConfig::new("ws://127.0.0.1:9/ocpp", 50, OcppVersion::V16);
        config.connectors = 2;
        config.duration = Duration::from_secs(3600);
        config.ramp_per_s = 10.0;
        config.seed = 7;
        config
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let config = config();
        let first: Vec<_> = Plan::for_station(&config, 3).collect();
        let again: Vec<_> = Plan::for_station(&config, 3).collect();
        assert_eq!(first, again);
        let neighbour: Vec<_> = Plan::for_station(&config, 4).collect();
        assert_ne!(first, neighbour);
        let mut reseeded = config.clone();
        reseeded.seed = 8;
        assert_ne!(first, Plan::for_station(&reseeded, 3).collect::<Vec<_>>());
    }

    #[test]
    fn triggers_come_in_time_order_within_the_run() {
        let config = config();
        for index in 0..config.stations {
            let plan = Plan::for_station(&config, index);
            let (start, end) = (plan.start(), plan.end());
            assert!(start >= config.station_start_base(index));
            assert!(start < config.station_start_base(index) + config.workload.boot_jitter);
            let triggers: Vec<_> = plan.collect();
            assert!(triggers.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(triggers.iter().all(|(at, _)| *at >= start && *at <= end));
        }
    }

    #[test]
    fn every_session_is_stopped_and_meter_values_fall_inside_sessions() {
        let config = config();
        let mut sessions = 0;
        for index in 0..config.stations {
            let mut charging = [false; 2];
            let mut down = [false; 2];
            for (_, trigger) in Plan::for_station(&config, index) {
                match trigger {
                    Trigger::SessionStart(c) => {
                        let slot = c as usize - 1;
                        assert!(!charging[slot] && !down[slot], "{trigger:?}");
                        charging[slot] = true;
                        sessions += 1;
                    }
                    Trigger::MeterSample(c) => assert!(charging[c as usize - 1]),
                    Trigger::SessionStop(c) => {
                        assert!(charging[c as usize - 1]);
                        charging[c as usize - 1] = false;
                    }
                    Trigger::StatusDown(c) => {
                        assert!(!charging[c as usize - 1]);
                        down[c as usize - 1] = true;
                    }
                    Trigger::StatusUp(c) => {
                        assert!(down[c as usize - 1]);
                        down[c as usize - 1] = false;
                    }
                    Trigger::Heartbeat => {}
                }
            }
            assert_eq!(
                charging,
                [false, false],
                "station {index} left a session open"
            );
        }
        // Two sessions an hour on each of 100 connectors, less the time spent charging.
        assert!((60..200).contains(&sessions), "{sessions} sessions");
    }

    #[test]
    fn heartbeats_follow_the_interval() {
        let mut config = config();
        config.workload.sessions_per_hour = 0.0;
        config.workload.status_changes_per_hour = 0.0;
        config.duration = Duration::from_secs(600);
        let plan = Plan::for_station(&config, 0);
        let beats: Vec<_> = plan.map(|(at, _)| at).collect();
        assert!((10..=11).contains(&beats.len()), "{beats:?}");
        assert!(
            beats
                .windows(2)
                .all(|w| w[1] - w[0] == config.workload.heartbeat_interval)
        );
    }

    #[test]
    fn planned_calls_count_boots_triggers_and_final_stops() {
        let mut config = config();
        config.stations = 2;
        config.connectors = 1;
        config.workload.sessions_per_hour = 0.0;
        config.workload.status_changes_per_hour = 0.0;
        // Heartbeats only: one call each, after a boot of two calls.
        let heartbeats: usize = (0..2).map(|i| Plan::for_station(&config, i).count()).sum();
        assert!(heartbeats > 100);
        assert_eq!(planned_calls(&config), 2 * 2 + heartbeats as u64);
        assert_eq!(Trigger::SessionStart(1).calls(OcppVersion::V16), 4);
        assert_eq!(Trigger::SessionStart(1).calls(OcppVersion::V201), 3);
        assert_eq!(Trigger::SessionStop(1).calls(OcppVersion::V21), 2);
    }
}
