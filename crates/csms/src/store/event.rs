//! Everything else a station reports (SecurityEventNotification, NotifyReport, NotifyEvent,
//! FirmwareStatusNotification, DataTransfer, …), kept as the received JSON payload.

use super::station::unknown_station;
use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// One message a station sent, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StationEventRecord {
    /// Row id, increasing in insertion order.
    pub id: i64,
    /// The station that sent it.
    #[serde(rename = "station")]
    pub station_id: String,
    /// The OCPP action, e.g. `SecurityEventNotification`.
    pub action: String,
    /// The request payload as JSON text.
    pub payload: String,
    /// When it was received.
    pub received_ms: i64,
}

impl StationEventRecord {
    fn from_row(row: &AnyRow) -> Result<StationEventRecord, StoreError> {
        Ok(StationEventRecord {
            id: row.try_get("id")?,
            station_id: row.try_get("station_id")?,
            action: row.try_get("action")?,
            payload: row.try_get("payload")?,
            received_ms: row.try_get("received_ms")?,
        })
    }
}

impl Store {
    /// Stores a message from a station. Fails with [`StoreError::UnknownStation`] if the station
    /// is not registered.
    pub async fn add_station_event(
        &self,
        station_id: &str,
        action: &str,
        payload: &str,
        received_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO station_events (station_id, action, payload, received_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(station_id)
        .bind(action)
        .bind(payload)
        .bind(received_ms)
        .execute(&self.pool)
        .await
        .map_err(|err| unknown_station(err, station_id))?;
        Ok(())
    }

    /// A station's messages, all or of one action, oldest first (by `received_ms`, then
    /// insertion).
    pub async fn station_events(
        &self,
        station_id: &str,
        action: Option<&str>,
    ) -> Result<Vec<StationEventRecord>, StoreError> {
        const COLUMNS: &str = "SELECT id, station_id, action, payload, received_ms \
                               FROM station_events WHERE station_id = $1";
        let rows = match action {
            Some(action) => {
                let sql = format!("{COLUMNS} AND action = $2 ORDER BY received_ms, id");
                sqlx::query(&sql)
                    .bind(station_id)
                    .bind(action)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("{COLUMNS} ORDER BY received_ms, id");
                sqlx::query(&sql)
                    .bind(station_id)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(StationEventRecord::from_row).collect()
    }
}
