//! What the central system is told about a connector: its OCPP status derived from the gun and
//! the connector's OCPP state, seed 003's fault → errorCode mapping, stop reasons, and the sampled
//! values of MeterValues.

use crate::gun::GunSnapshot;
use charger::{Phase, Step};
use cp16::keys::SampledMeasurand;
use hal::Fault;
use proto_ocpp::Timestamp;
use proto_ocpp::v16::{
    ChargePointErrorCode, ChargePointStatus, Location, Measurand, MeterValue, ReadingContext,
    Reason, SampledValue, UnitOfMeasure,
};

/// The connector facts beyond the gun that decide its status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// A transaction runs on the connector.
    pub transaction: bool,
    /// A vehicle is plugged in (simulated plug sensing), or an id tag waits for the plug.
    pub occupied: bool,
    /// The transaction has ended and the cable is still plugged in.
    pub finishing: bool,
    /// The connector is reserved.
    pub reserved: bool,
    /// The connector is inoperative (ChangeAvailability).
    pub inoperative: bool,
    /// The central system withdrew the authorization; energy is stopped but the transaction
    /// goes on (StopTransactionOnInvalidId = false).
    pub deauthorized: bool,
}

/// The OCPP status of a connector (DC: SuspendedEVSE during cable check and precharge and while
/// the power limit is zero).
pub fn derive(snapshot: &GunSnapshot, facts: Facts) -> (ChargePointStatus, ChargePointErrorCode) {
    let status = &snapshot.status;
    if let Some(fault) = &status.fault {
        return (ChargePointStatus::Faulted, error_code(&Fault::parse(fault)));
    }
    let ok = ChargePointErrorCode::NoError;
    if status.session_active || facts.transaction {
        let ocpp = match (status.phase, status.step) {
            (_, Step::RampDown | Step::Discharge) => ChargePointStatus::Finishing,
            _ if facts.deauthorized => ChargePointStatus::SuspendedEvse,
            (Phase::Handshake, _) => ChargePointStatus::Preparing,
            (Phase::Precharge, _) => ChargePointStatus::SuspendedEvse,
            (Phase::Charging, _) if status.power_limit.is_some_and(|w| w <= 0.0) => {
                ChargePointStatus::SuspendedEvse
            }
            (Phase::Charging, _) if status.ev_paused => ChargePointStatus::SuspendedEv,
            (Phase::Charging, _) => ChargePointStatus::Charging,
            _ if !status.session_active => ChargePointStatus::SuspendedEvse,
            _ => ChargePointStatus::Finishing,
        };
        return (ocpp, ok);
    }
    if facts.inoperative {
        return (ChargePointStatus::Unavailable, ok);
    }
    if facts.finishing {
        return (ChargePointStatus::Finishing, ok);
    }
    if facts.occupied {
        return (ChargePointStatus::Preparing, ok);
    }
    if facts.reserved {
        return (ChargePointStatus::Reserved, ok);
    }
    (ChargePointStatus::Available, ok)
}

/// Seed 003's mapping of station faults to OCPP 1.6 error codes.
pub fn error_code(fault: &Fault) -> ChargePointErrorCode {
    match fault {
        Fault::EmergencyStop | Fault::ContactorWelded | Fault::ContactorStuckOpen => {
            ChargePointErrorCode::PowerSwitchFailure
        }
        Fault::GroundFault | Fault::Isolation => ChargePointErrorCode::GroundFailure,
        Fault::MeterFailure => ChargePointErrorCode::PowerMeterFailure,
        Fault::Overcurrent => ChargePointErrorCode::OverCurrentFailure,
        Fault::Overvoltage => ChargePointErrorCode::OverVoltage,
        Fault::OverTemperature => ChargePointErrorCode::HighTemperature,
        Fault::CommunicationLoss => ChargePointErrorCode::InternalError,
        Fault::Other(_) => ChargePointErrorCode::OtherError,
    }
}

/// The stop reason of a session that ended without the station asking for a specific one.
pub fn stop_reason(snapshot: &GunSnapshot) -> Reason {
    match snapshot
        .status
        .last_session_summary
        .as_ref()
        .and_then(|s| s.error.as_deref())
    {
        None | Some("STOP_REQUESTED") => Reason::Local,
        Some("E_STOP") => Reason::EmergencyStop,
        Some(_) => Reason::Other,
    }
}

/// The gun's energy register in whole Wh (meterStart / meterStop).
pub fn register(snapshot: &GunSnapshot) -> i64 {
    snapshot
        .register_wh
        .map_or(0, |wh| wh.floor().clamp(0.0, f64::from(i32::MAX)) as i64)
}

/// One MeterValue with the measurands of `list` this gun can deliver. `noise_percent` jitters
/// power, voltage and current by up to that many percent (simulated meters); the energy register
/// is never jittered.
pub fn meter_value(
    snapshot: &GunSnapshot,
    list: &[SampledMeasurand],
    context: ReadingContext,
    at: Timestamp,
    noise_percent: f64,
) -> MeterValue {
    let jitter = |x: f64| {
        if noise_percent > 0.0 {
            let spread = noise_percent.min(100.0) / 100.0;
            x * (1.0 + spread * (2.0 * rand::random::<f64>() - 1.0))
        } else {
            x
        }
    };
    let status = &snapshot.status;
    let samples = list
        .iter()
        .filter(|m| m.phase.is_none())
        .filter_map(|m| {
            let (value, unit) = match m.measurand {
                Measurand::EnergyActiveImportRegister => {
                    (register(snapshot).to_string(), UnitOfMeasure::Wh)
                }
                Measurand::EnergyActiveImportInterval => {
                    (format!("{:.0}", status.energy_wh), UnitOfMeasure::Wh)
                }
                Measurand::PowerActiveImport => (
                    format!("{:.1}", jitter(status.voltage * status.current)),
                    UnitOfMeasure::W,
                ),
                Measurand::PowerOffered => (
                    format!("{:.1}", status.power_limit.unwrap_or(0.0).max(0.0)),
                    UnitOfMeasure::W,
                ),
                Measurand::Voltage => (format!("{:.1}", jitter(status.voltage)), UnitOfMeasure::V),
                Measurand::CurrentImport => {
                    (format!("{:.1}", jitter(status.current)), UnitOfMeasure::A)
                }
                Measurand::SoC => (
                    format!("{:.0}", snapshot.soc_percent?),
                    UnitOfMeasure::Percent,
                ),
                _ => return None,
            };
            let mut sample = SampledValue::new(value);
            sample.context = Some(context);
            sample.measurand = Some(m.measurand);
            sample.location = Some(if m.measurand == Measurand::SoC {
                Location::Ev
            } else {
                Location::Outlet
            });
            sample.unit = Some(unit);
            Some(sample)
        })
        .collect();
    MeterValue::new(at, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_map_to_seed_003_error_codes() {
        let cases = [
            (
                Fault::EmergencyStop,
                ChargePointErrorCode::PowerSwitchFailure,
            ),
            (
                Fault::ContactorWelded,
                ChargePointErrorCode::PowerSwitchFailure,
            ),
            (Fault::GroundFault, ChargePointErrorCode::GroundFailure),
            (Fault::Isolation, ChargePointErrorCode::GroundFailure),
            (Fault::MeterFailure, ChargePointErrorCode::PowerMeterFailure),
            (Fault::Overcurrent, ChargePointErrorCode::OverCurrentFailure),
            (Fault::Overvoltage, ChargePointErrorCode::OverVoltage),
            (
                Fault::OverTemperature,
                ChargePointErrorCode::HighTemperature,
            ),
            (
                Fault::CommunicationLoss,
                ChargePointErrorCode::InternalError,
            ),
            (Fault::Other("X".into()), ChargePointErrorCode::OtherError),
        ];
        for (fault, code) in cases {
            assert_eq!(error_code(&fault), code, "{fault}");
        }
    }
}
