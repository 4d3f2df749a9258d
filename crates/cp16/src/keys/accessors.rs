//! Typed readings of the keys for the station. A key of an unsupported feature reads as the
//! feature being off: `false`, zero, empty or `None`. Core keys are always present.

use super::Keys;
use super::profile::Features;
use super::value::{
    ConnectorRotation, FileTransferProtocol, Int, MeasurandList, SampledMeasurand, SecurityProfile,
};
use proto_ocpp::v16::ChargingRateUnit;
use std::time::Duration;

/// One day: the longest heartbeat period.
const DAY: Duration = Duration::from_secs(86_400);

fn count<const MIN: u32, const MAX: u32>(value: Option<&Int<MIN, MAX>>) -> u32 {
    value.map_or(0, |v| v.0)
}

fn seconds<const MIN: u32, const MAX: u32>(value: Option<&Int<MIN, MAX>>) -> Duration {
    Duration::from_secs(count(value).into())
}

/// A period where 0 means off.
fn period<const MIN: u32, const MAX: u32>(value: Option<&Int<MIN, MAX>>) -> Option<Duration> {
    Some(seconds(value)).filter(|d| !d.is_zero())
}

fn flag(value: Option<&bool>) -> bool {
    value.copied().unwrap_or(false)
}

fn measurands(value: Option<&MeasurandList>) -> &[SampledMeasurand] {
    value.map_or(&[], |list| list.0.as_slice())
}

impl Keys {
    /// HeartbeatInterval: idle time before a Heartbeat, at most a day (0 = a day).
    pub fn heartbeat_interval(&self) -> Duration {
        let interval = seconds(self.values.heartbeat_interval.as_ref());
        if interval.is_zero() {
            DAY
        } else {
            interval.min(DAY)
        }
    }

    /// MeterValueSampleInterval; `None` = no sampled meter values.
    pub fn meter_value_sample_interval(&self) -> Option<Duration> {
        period(self.values.meter_value_sample_interval.as_ref())
    }

    /// ClockAlignedDataInterval; `None` = no clock-aligned meter values.
    pub fn clock_aligned_data_interval(&self) -> Option<Duration> {
        period(self.values.clock_aligned_data_interval.as_ref())
    }

    /// ConnectionTimeOut; `None` = a connector may stay Preparing indefinitely.
    pub fn connection_timeout(&self) -> Option<Duration> {
        period(self.values.connection_timeout.as_ref())
    }

    /// MeterValuesSampledData.
    pub fn meter_values_sampled_data(&self) -> &[SampledMeasurand] {
        measurands(self.values.meter_values_sampled_data.as_ref())
    }

    /// MeterValuesAlignedData.
    pub fn meter_values_aligned_data(&self) -> &[SampledMeasurand] {
        measurands(self.values.meter_values_aligned_data.as_ref())
    }

    /// StopTxnSampledData (empty = none).
    pub fn stop_txn_sampled_data(&self) -> &[SampledMeasurand] {
        measurands(self.values.stop_txn_sampled_data.as_ref())
    }

    /// StopTxnAlignedData (empty = none).
    pub fn stop_txn_aligned_data(&self) -> &[SampledMeasurand] {
        measurands(self.values.stop_txn_aligned_data.as_ref())
    }

    /// ConnectorPhaseRotation.
    pub fn connector_phase_rotation(&self) -> &[ConnectorRotation] {
        self.values
            .connector_phase_rotation
            .as_ref()
            .map_or(&[], |list| list.0.as_slice())
    }

    /// AuthorizeRemoteTxRequests.
    pub fn authorize_remote_tx_requests(&self) -> bool {
        flag(self.values.authorize_remote_tx_requests.as_ref())
    }

    /// LocalAuthorizeOffline.
    pub fn local_authorize_offline(&self) -> bool {
        flag(self.values.local_authorize_offline.as_ref())
    }

    /// LocalPreAuthorize.
    pub fn local_pre_authorize(&self) -> bool {
        flag(self.values.local_pre_authorize.as_ref())
    }

    /// AllowOfflineTxForUnknownId.
    pub fn allow_offline_tx_for_unknown_id(&self) -> bool {
        flag(self.values.allow_offline_tx_for_unknown_id.as_ref())
    }

    /// AuthorizationCacheEnabled.
    pub fn authorization_cache_enabled(&self) -> bool {
        flag(self.values.authorization_cache_enabled.as_ref())
    }

    /// LocalAuthListEnabled (false without the LocalAuthListManagement profile).
    pub fn local_auth_list_enabled(&self) -> bool {
        flag(self.values.local_auth_list_enabled.as_ref())
    }

    /// StopTransactionOnInvalidId.
    pub fn stop_transaction_on_invalid_id(&self) -> bool {
        flag(self.values.stop_transaction_on_invalid_id.as_ref())
    }

    /// StopTransactionOnEVSideDisconnect.
    pub fn stop_transaction_on_ev_side_disconnect(&self) -> bool {
        flag(self.values.stop_transaction_on_ev_side_disconnect.as_ref())
    }

    /// UnlockConnectorOnEVSideDisconnect.
    pub fn unlock_connector_on_ev_side_disconnect(&self) -> bool {
        flag(self.values.unlock_connector_on_ev_side_disconnect.as_ref())
    }

    /// MaxEnergyOnInvalidId, in Wh.
    pub fn max_energy_on_invalid_id(&self) -> u32 {
        count(self.values.max_energy_on_invalid_id.as_ref())
    }

    /// MinimumStatusDuration (zero = report every change).
    pub fn minimum_status_duration(&self) -> Duration {
        seconds(self.values.minimum_status_duration.as_ref())
    }

    /// ResetRetries.
    pub fn reset_retries(&self) -> u32 {
        count(self.values.reset_retries.as_ref())
    }

    /// TransactionMessageAttempts (0 acts as 1).
    pub fn transaction_message_attempts(&self) -> u32 {
        count(self.values.transaction_message_attempts.as_ref())
    }

    /// TransactionMessageRetryInterval: try k+1 of a transaction message waits k times this.
    pub fn transaction_message_retry_interval(&self) -> Duration {
        seconds(self.values.transaction_message_retry_interval.as_ref())
    }

    /// WebSocketPingInterval; `None` = no pings.
    pub fn web_socket_ping_interval(&self) -> Option<Duration> {
        period(self.values.web_socket_ping_interval.as_ref())
    }

    /// MessageTimeout: how long to wait for the answer to our CALL.
    pub fn message_timeout(&self) -> Duration {
        seconds(self.values.message_timeout.as_ref())
    }

    /// StopTransactionMaxMeterValues.
    pub fn stop_transaction_max_meter_values(&self) -> u32 {
        count(self.values.stop_transaction_max_meter_values.as_ref())
    }

    /// NumberOfConnectors.
    pub fn number_of_connectors(&self) -> u32 {
        count(self.values.number_of_connectors.as_ref())
    }

    /// GetConfigurationMaxKeys.
    pub fn configuration_max_keys(&self) -> u32 {
        count(self.values.configuration_max_keys.as_ref())
    }

    /// SupportedFeatureProfiles (with the security extension when supported).
    pub fn supported_features(&self) -> Features {
        self.profile.features
    }

    /// LocalAuthListMaxLength (0 without the LocalAuthListManagement profile).
    pub fn local_auth_list_max_length(&self) -> u32 {
        count(self.values.local_auth_list_max_length.as_ref())
    }

    /// SendLocalListMaxLength (0 without the LocalAuthListManagement profile).
    pub fn send_local_list_max_length(&self) -> u32 {
        count(self.values.send_local_list_max_length.as_ref())
    }

    /// ReserveConnectorZeroSupported (false without the Reservation profile).
    pub fn reserve_connector_zero_supported(&self) -> bool {
        flag(self.values.reserve_connector_zero_supported.as_ref())
    }

    /// ChargeProfileMaxStackLevel (0 without the SmartCharging profile).
    pub fn charge_profile_max_stack_level(&self) -> u32 {
        count(self.values.charge_profile_max_stack_level.as_ref())
    }

    /// ChargingScheduleAllowedChargingRateUnit: `A` for Current, `W` for Power (empty without
    /// the SmartCharging profile).
    pub fn charging_schedule_allowed_charging_rate_unit(&self) -> &[ChargingRateUnit] {
        self.values
            .charging_schedule_allowed_charging_rate_unit
            .as_ref()
            .map_or(&[], |units| units.0.as_slice())
    }

    /// ChargingScheduleMaxPeriods (0 without the SmartCharging profile).
    pub fn charging_schedule_max_periods(&self) -> u32 {
        count(self.values.charging_schedule_max_periods.as_ref())
    }

    /// MaxChargingProfilesInstalled (0 without the SmartCharging profile).
    pub fn max_charging_profiles_installed(&self) -> u32 {
        count(self.values.max_charging_profiles_installed.as_ref())
    }

    /// SupportedFileTransferProtocols (empty without FirmwareManagement and Security).
    pub fn supported_file_transfer_protocols(&self) -> &[FileTransferProtocol] {
        self.values
            .supported_file_transfer_protocols
            .as_ref()
            .map_or(&[], |protocols| protocols.0.as_slice())
    }

    /// SecurityProfile (0 without the security extension).
    pub fn security_profile(&self) -> SecurityProfile {
        self.values
            .security_profile
            .unwrap_or(SecurityProfile::Unsecured)
    }

    /// The AuthorizationKey's bytes, for the HTTP Basic password of the connection only;
    /// `None` when none is set.
    pub fn authorization_key(&self) -> Option<&[u8]> {
        self.values
            .authorization_key
            .as_ref()?
            .as_ref()
            .map(|key| key.0.as_slice())
    }

    /// CpoName; `None` when none is set.
    pub fn cpo_name(&self) -> Option<&str> {
        self.values
            .cpo_name
            .as_ref()?
            .as_ref()
            .map(|name| name.0.as_str())
    }

    /// CertificateSignedMaxChainSize, in characters (0 without the security extension).
    pub fn certificate_signed_max_chain_size(&self) -> u32 {
        count(self.values.certificate_signed_max_chain_size.as_ref())
    }

    /// CertificateStoreMaxLength (0 without the security extension).
    pub fn certificate_store_max_length(&self) -> u32 {
        count(self.values.certificate_store_max_length.as_ref())
    }

    /// AdditionalRootCertificateCheck (false without the security extension).
    pub fn additional_root_certificate_check(&self) -> bool {
        flag(self.values.additional_root_certificate_check.as_ref())
    }
}
