//! Stations: registration, password, what they said at boot, when they were last seen, and the
//! last status of each connector.

use super::batch::{Done, Write};
use super::password::PasswordHash;
use super::{Store, StoreError, is_foreign_key_violation};
use proto_ocpp::OcppVersion;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::fmt;
use std::str::FromStr;

/// Whether the central system lets a station in (the `status` of a BootNotification answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Registration {
    /// The station may operate.
    Accepted,
    /// The station must boot again later; the central system may configure it meanwhile.
    Pending,
    /// The station is refused.
    Rejected,
}

impl Registration {
    /// The OCPP spelling, also the stored value: `Accepted`, `Pending`, `Rejected`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Registration::Accepted => "Accepted",
            Registration::Pending => "Pending",
            Registration::Rejected => "Rejected",
        }
    }
}

impl fmt::Display for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is not a [`Registration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown registration status {0:?}: expected Accepted, Pending or Rejected")]
pub struct ParseRegistrationError(pub String);

impl FromStr for Registration {
    type Err = ParseRegistrationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Accepted" => Ok(Registration::Accepted),
            "Pending" => Ok(Registration::Pending),
            "Rejected" => Ok(Registration::Rejected),
            other => Err(ParseRegistrationError(other.to_string())),
        }
    }
}

/// A station as stored. The password is never part of it (see [`Store::has_password`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StationRecord {
    /// The identity the station connects with (the last path segment of its URL).
    pub id: String,
    /// Whether it is let in.
    pub registration: Registration,
    /// From the last BootNotification.
    pub vendor: Option<String>,
    /// From the last BootNotification.
    pub model: Option<String>,
    /// From the last BootNotification.
    pub serial_number: Option<String>,
    /// From the last BootNotification.
    pub firmware_version: Option<String>,
    /// The OCPP version of the last connection, as [`OcppVersion::label`] writes it.
    pub ocpp_version: Option<String>,
    /// When the last BootNotification arrived.
    pub last_boot_ms: Option<i64>,
    /// When the station last sent anything.
    pub last_seen_ms: Option<i64>,
    /// When the station was first registered.
    pub created_ms: i64,
}

/// What a station reports about itself in a BootNotification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootInfo {
    /// 1.6 `chargePointVendor`, 2.x `chargingStation.vendorName`.
    pub vendor: String,
    /// 1.6 `chargePointModel`, 2.x `chargingStation.model`.
    pub model: String,
    /// 1.6 `chargePointSerialNumber`, 2.x `chargingStation.serialNumber`.
    pub serial_number: Option<String>,
    /// 1.6 `firmwareVersion`, 2.x `chargingStation.firmwareVersion`.
    pub firmware_version: Option<String>,
}

/// The last status a connector reported (StatusNotification).
///
/// For OCPP 1.6 the caller stores `evse_id = connector_id = connectorId` (connector 0 being the
/// whole station); for 2.x, the message's `evseId` and `connectorId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatusRecord {
    /// The EVSE.
    pub evse_id: i32,
    /// The connector on the EVSE.
    pub connector_id: i32,
    /// 1.6 `status` / 2.x `connectorStatus`, as written on the wire.
    pub status: String,
    /// 1.6 `errorCode` (`NoError` included, as sent); `None` in 2.x.
    pub error_code: Option<String>,
    /// 1.6 `info` or `vendorErrorCode`, free text.
    pub info: Option<String>,
    /// The notification's timestamp, or when it was received.
    pub updated_ms: i64,
}

/// What admitting a connecting station takes: its registration and its password digest, read
/// together in one query. `Debug` never shows the digest.
#[derive(Clone)]
pub struct Admission {
    /// Whether it is let in.
    pub registration: Registration,
    password: Option<PasswordHash>,
}

impl Admission {
    /// Whether a password is set: the station must then authenticate with HTTP Basic.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Whether `password` is the station's password. `false` without a password; the digests are
    /// compared in constant time, and the time spent is the same whether or not one is set.
    pub fn verify_password(&self, password: &str) -> bool {
        match &self.password {
            Some(stored) => stored.verify(password),
            None => PasswordHash::verify_nothing(password),
        }
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("registration", &self.registration)
            .field("has_password", &self.has_password())
            .finish()
    }
}

const STATION_COLUMNS: &str = "id, registration, vendor, model, serial_number, firmware_version, \
     ocpp_version, last_boot_ms, last_seen_ms, created_ms";

impl StationRecord {
    fn from_row(row: &AnyRow) -> Result<StationRecord, StoreError> {
        let registration: String = row.try_get("registration")?;
        Ok(StationRecord {
            id: row.try_get("id")?,
            registration: parse_registration(registration)?,
            vendor: row.try_get("vendor")?,
            model: row.try_get("model")?,
            serial_number: row.try_get("serial_number")?,
            firmware_version: row.try_get("firmware_version")?,
            ocpp_version: row.try_get("ocpp_version")?,
            last_boot_ms: row.try_get("last_boot_ms")?,
            last_seen_ms: row.try_get("last_seen_ms")?,
            created_ms: row.try_get("created_ms")?,
        })
    }
}

fn parse_registration(text: String) -> Result<Registration, StoreError> {
    text.parse()
        .map_err(|ParseRegistrationError(value)| StoreError::InvalidColumn {
            column: "stations.registration",
            value,
        })
}

impl ConnectorStatusRecord {
    fn from_row(row: &AnyRow) -> Result<ConnectorStatusRecord, StoreError> {
        Ok(ConnectorStatusRecord {
            evse_id: row.try_get("evse_id")?,
            connector_id: row.try_get("connector_id")?,
            status: row.try_get("status")?,
            error_code: row.try_get("error_code")?,
            info: row.try_get("info")?,
            updated_ms: row.try_get("updated_ms")?,
        })
    }
}

impl Store {
    /// The station with this id, if registered.
    pub async fn station(&self, id: &str) -> Result<Option<StationRecord>, StoreError> {
        let sql = format!("SELECT {STATION_COLUMNS} FROM stations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(StationRecord::from_row).transpose()
    }

    /// What admitting the station takes, in one query; `None` if it is not registered.
    pub async fn admission(&self, id: &str) -> Result<Option<Admission>, StoreError> {
        let row = sqlx::query(
            "SELECT registration, password_salt, password_hash FROM stations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let registration: String = row.try_get("registration")?;
        let salt: Option<String> = row.try_get("password_salt")?;
        let hash: Option<String> = row.try_get("password_hash")?;
        Ok(Some(Admission {
            registration: parse_registration(registration)?,
            password: salt
                .zip(hash)
                .map(|(salt, hash)| PasswordHash { salt, hash }),
        }))
    }

    /// Registers a station connecting for the first time as accepted, without a password, in the
    /// group commit of the frequent writes (a boot storm of new stations shares its flushes).
    /// Returns the new station's admission, or `None` if it was registered meanwhile (read it
    /// with [`Store::admission`]).
    pub async fn register_if_unknown(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<Admission>, StoreError> {
        let write = Write::Register {
            id: id.to_string(),
            now_ms,
        };
        let registered = self.batcher.write(write).await? > 0;
        Ok(registered.then_some(Admission {
            registration: Registration::Accepted,
            password: None,
        }))
    }

    /// Every registered station, ordered by id.
    pub async fn stations(&self) -> Result<Vec<StationRecord>, StoreError> {
        let sql = format!("SELECT {STATION_COLUMNS} FROM stations ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(StationRecord::from_row).collect()
    }

    /// Registers a station or changes its registration status.
    ///
    /// `Some(password)` sets the password (stored as a salted SHA-256 digest); `None` keeps the
    /// current one, if any (see [`Store::clear_password`] to remove it). `now_ms` becomes
    /// `created_ms` for a new station and is ignored otherwise.
    pub async fn register_station(
        &self,
        id: &str,
        registration: Registration,
        password: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let hashed = password.map(PasswordHash::new);
        sqlx::query(
            "INSERT INTO stations (id, registration, password_salt, password_hash, created_ms) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET \
                 registration = excluded.registration, \
                 password_salt = COALESCE(excluded.password_salt, stations.password_salt), \
                 password_hash = COALESCE(excluded.password_hash, stations.password_hash)",
        )
        .bind(id)
        .bind(registration.as_str())
        .bind(hashed.as_ref().map(|h| h.salt.clone()))
        .bind(hashed.map(|h| h.hash))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a station's password; returns whether it had one.
    pub async fn clear_password(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE stations SET password_salt = NULL, password_hash = NULL \
             WHERE id = $1 AND password_hash IS NOT NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether `password` is the station's password. `false` for an unknown station and for a
    /// station without a password; the digests are compared in constant time, and the time spent
    /// is the same whether or not the station has a password.
    pub async fn verify_password(&self, id: &str, password: &str) -> Result<bool, StoreError> {
        let stored = self.password_hash(id).await?;
        Ok(match stored {
            Some(stored) => stored.verify(password),
            None => PasswordHash::verify_nothing(password),
        })
    }

    /// Whether the station is registered with a password.
    pub async fn has_password(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.password_hash(id).await?.is_some())
    }

    async fn password_hash(&self, id: &str) -> Result<Option<PasswordHash>, StoreError> {
        let row = sqlx::query("SELECT password_salt, password_hash FROM stations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let salt: Option<String> = row.try_get("password_salt")?;
        let hash: Option<String> = row.try_get("password_hash")?;
        Ok(salt
            .zip(hash)
            .map(|(salt, hash)| PasswordHash { salt, hash }))
    }

    /// Records a BootNotification: vendor, model, serial number and firmware (absent optional
    /// fields are cleared), the OCPP version, and `now_ms` as both last boot and last seen.
    /// Returns the station's registration status, read in the same statement. Fails with
    /// [`StoreError::UnknownStation`] if the station is not registered.
    pub async fn record_boot(
        &self,
        id: &str,
        version: OcppVersion,
        boot: &BootInfo,
        now_ms: i64,
    ) -> Result<Registration, StoreError> {
        let write = Write::Boot {
            id: id.to_string(),
            version: version.label(),
            boot: boot.clone(),
            now_ms,
        };
        match self.batcher.write_done(write).await? {
            Done {
                registration: Some(registration),
                ..
            } => parse_registration(registration),
            Done {
                registration: None, ..
            } => Err(StoreError::UnknownStation(id.to_string())),
        }
    }

    /// Records that the station was heard from at `now_ms` over `version`. Fails with
    /// [`StoreError::UnknownStation`] if the station is not registered.
    pub async fn touch(
        &self,
        id: &str,
        version: OcppVersion,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let write = Write::Touch {
            id: id.to_string(),
            version: version.label(),
            now_ms,
        };
        let done = self.batcher.write(write).await?;
        if done == 0 {
            return Err(StoreError::UnknownStation(id.to_string()));
        }
        Ok(())
    }

    /// Queues the same write as [`Store::touch`] without waiting for it: for the connection and
    /// disconnection times, which nothing waits on. It keeps its place among the station's
    /// writes; a failure is logged.
    pub fn touch_soon(&self, id: &str, version: OcppVersion, now_ms: i64) {
        self.batcher.submit(Write::Touch {
            id: id.to_string(),
            version: version.label(),
            now_ms,
        });
    }

    /// Stores a connector's status, replacing the one held for the same EVSE and connector unless
    /// that one is newer (`updated_ms` greater: a late, queued notification does not overwrite a
    /// fresher status). Fails with [`StoreError::UnknownStation`] if the station is not
    /// registered.
    pub async fn set_connector_status(
        &self,
        id: &str,
        status: &ConnectorStatusRecord,
    ) -> Result<(), StoreError> {
        let write = Write::Status {
            id: id.to_string(),
            status: status.clone(),
        };
        self.batcher
            .write(write)
            .await
            .map_err(|err| unknown_station(err, id))?;
        Ok(())
    }

    /// The last status of each of the station's connectors, ordered by EVSE then connector.
    pub async fn connector_statuses(
        &self,
        id: &str,
    ) -> Result<Vec<ConnectorStatusRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT evse_id, connector_id, status, error_code, info, updated_ms \
             FROM connector_statuses WHERE station_id = $1 ORDER BY evse_id, connector_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ConnectorStatusRecord::from_row).collect()
    }
}

/// A foreign-key violation on a row keyed by station means the station is not registered.
pub(super) fn unknown_station(err: sqlx::Error, id: &str) -> StoreError {
    if is_foreign_key_violation(&err) {
        StoreError::UnknownStation(id.to_string())
    } else {
        StoreError::Database(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_round_trips() {
        for r in [
            Registration::Accepted,
            Registration::Pending,
            Registration::Rejected,
        ] {
            assert_eq!(r.as_str().parse::<Registration>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert!("accepted".parse::<Registration>().is_err());
    }
}
