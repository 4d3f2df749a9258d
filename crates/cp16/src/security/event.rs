//! The security event types of the whitepaper's section 8, as SecurityEventNotification's `type`
//! spells them, and which of them are critical (sent to the central system with guaranteed
//! delivery, A04.FR.01/02). Every event, critical or not, goes into the security log (A04.FR.04).
//!
//! Edition 3 writes the two authentication events as "FailedToAuthenticationAtCentralSystem" and
//! "CentralSystemFailedToAuthentication"; the constants use the spelling of OCPP 2.0.1 and of most
//! implementations ("…Authenticate…").

/// The firmware was updated. Critical.
pub const FIRMWARE_UPDATED: &str = "FirmwareUpdated";
/// The central system rejected the charge point's credentials.
pub const FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM: &str = "FailedToAuthenticateAtCentralSystem";
/// The charge point rejected the central system's credentials.
pub const CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE: &str = "CentralSystemFailedToAuthenticate";
/// The system time was changed. Critical.
pub const SETTING_SYSTEM_TIME: &str = "SettingSystemTime";
/// The charge point booted. Critical.
pub const STARTUP_OF_THE_DEVICE: &str = "StartupOfTheDevice";
/// The charge point was rebooted or reset. Critical.
pub const RESET_OR_REBOOT: &str = "ResetOrReboot";
/// The security log was cleared. Critical.
pub const SECURITY_LOG_WAS_CLEARED: &str = "SecurityLogWasCleared";
/// Security parameters (keys, the security profile) were changed.
pub const RECONFIGURATION_OF_SECURITY_PARAMETERS: &str = "ReconfigurationOfSecurityParameters";
/// Flash or RAM is getting full. Critical.
pub const MEMORY_EXHAUSTION: &str = "MemoryExhaustion";
/// Messages that are not valid OCPP were received.
pub const INVALID_MESSAGES: &str = "InvalidMessages";
/// A replayed message was received (not a resend after a network problem).
pub const ATTEMPTED_REPLAY_ATTACKS: &str = "AttemptedReplayAttacks";
/// The physical tamper detection was triggered. Critical.
pub const TAMPER_DETECTION_ACTIVATED: &str = "TamperDetectionActivated";
/// A firmware signature did not verify.
pub const INVALID_FIRMWARE_SIGNATURE: &str = "InvalidFirmwareSignature";
/// A firmware signing certificate was not valid.
pub const INVALID_FIRMWARE_SIGNING_CERTIFICATE: &str = "InvalidFirmwareSigningCertificate";
/// The central system's certificate was not valid or could not be verified.
pub const INVALID_CENTRAL_SYSTEM_CERTIFICATE: &str = "InvalidCentralSystemCertificate";
/// A certificate received in CertificateSigned was not valid.
pub const INVALID_CHARGE_POINT_CERTIFICATE: &str = "InvalidChargePointCertificate";
/// The central system offered a TLS version below 1.2.
pub const INVALID_TLS_VERSION: &str = "InvalidTLSVersion";
/// The central system offered only cipher suites the profiles do not allow.
pub const INVALID_TLS_CIPHER_SUITE: &str = "InvalidTLSCipherSuite";

/// Every event type of section 8, in its order.
pub const ALL: &[&str] = &[
    FIRMWARE_UPDATED,
    FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM,
    CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE,
    SETTING_SYSTEM_TIME,
    STARTUP_OF_THE_DEVICE,
    RESET_OR_REBOOT,
    SECURITY_LOG_WAS_CLEARED,
    RECONFIGURATION_OF_SECURITY_PARAMETERS,
    MEMORY_EXHAUSTION,
    INVALID_MESSAGES,
    ATTEMPTED_REPLAY_ATTACKS,
    TAMPER_DETECTION_ACTIVATED,
    INVALID_FIRMWARE_SIGNATURE,
    INVALID_FIRMWARE_SIGNING_CERTIFICATE,
    INVALID_CENTRAL_SYSTEM_CERTIFICATE,
    INVALID_CHARGE_POINT_CERTIFICATE,
    INVALID_TLS_VERSION,
    INVALID_TLS_CIPHER_SUITE,
];

/// The critical event types.
pub const CRITICAL: &[&str] = &[
    FIRMWARE_UPDATED,
    SETTING_SYSTEM_TIME,
    STARTUP_OF_THE_DEVICE,
    RESET_OR_REBOOT,
    SECURITY_LOG_WAS_CLEARED,
    MEMORY_EXHAUSTION,
    TAMPER_DETECTION_ACTIVATED,
];

/// Whether events of `kind` are critical. Vendor-specific types are not.
pub fn is_critical(kind: &str) -> bool {
    CRITICAL.contains(&kind)
}
