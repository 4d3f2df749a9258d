//! Meter values: one row per sampled value (OCPP 1.6 `SampledValue`, 2.x `sampledValue`).

use super::batch::Write;
use super::{Store, StoreError, is_foreign_key_violation, non_empty};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// One sampled value.
///
/// `value` is kept as text: 1.6 sends strings (possibly signed data), 2.x numbers, which the
/// caller formats. A sample counts as the same sample, and is stored once, when station, EVSE,
/// connector, timestamp, measurand, phase, location, context and value are all equal; `unit` does
/// not take part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterSample {
    /// The `timestamp` of the enclosing `MeterValue`.
    pub timestamp_ms: i64,
    /// The measurand, with the specification's default filled in by the caller
    /// (`Energy.Active.Import.Register`).
    pub measurand: String,
    /// The value as text.
    pub value: String,
    /// 1.6 `unit`, 2.x `unitOfMeasure.unit`.
    pub unit: Option<String>,
    /// `L1`, `L1-N`, … .
    pub phase: Option<String>,
    /// `Outlet`, `EV`, … .
    pub location: Option<String>,
    /// `Sample.Periodic`, `Transaction.Begin`, … .
    pub context: Option<String>,
}

impl MeterSample {
    fn from_row(row: &AnyRow) -> Result<MeterSample, StoreError> {
        Ok(MeterSample {
            timestamp_ms: row.try_get("timestamp_ms")?,
            measurand: row.try_get("measurand")?,
            value: row.try_get("value")?,
            unit: row.try_get("unit")?,
            phase: non_empty(row.try_get("phase")?),
            location: non_empty(row.try_get("location")?),
            context: non_empty(row.try_get("context")?),
        })
    }
}

impl Store {
    /// Stores samples from one MeterValues request or transaction event, all or none, and returns
    /// how many were new (a retried request stores nothing and returns 0).
    ///
    /// Fails with [`StoreError::UnknownStation`] or [`StoreError::UnknownTransaction`] if the
    /// station or `tx_id` does not exist. That `tx_id` belongs to `station_id` is the caller's
    /// to check (it came from [`Store::active_transaction_on`] or the like).
    pub async fn add_meter_values(
        &self,
        station_id: &str,
        evse_id: i32,
        connector_id: i32,
        tx_id: Option<i64>,
        samples: &[MeterSample],
    ) -> Result<usize, StoreError> {
        let inserted = self
            .insert_samples(station_id, evse_id, connector_id, tx_id, samples)
            .await;
        match inserted {
            Err(err) if is_foreign_key_violation(&err) => {
                match (self.station(station_id).await?, tx_id) {
                    (None, _) => Err(StoreError::UnknownStation(station_id.to_string())),
                    (Some(_), Some(tx_id)) => Err(StoreError::UnknownTransaction(tx_id)),
                    (Some(_), None) => Err(StoreError::Database(err)),
                }
            }
            other => Ok(other?),
        }
    }

    async fn insert_samples(
        &self,
        station_id: &str,
        evse_id: i32,
        connector_id: i32,
        tx_id: Option<i64>,
        samples: &[MeterSample],
    ) -> Result<usize, sqlx::Error> {
        let write = Write::Meter {
            station_id: station_id.to_string(),
            evse_id,
            connector_id,
            tx_id,
            samples: samples.to_vec(),
        };
        let inserted = self.batcher.write(write).await?;
        Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
    }

    /// A transaction's samples, ordered by timestamp, then in the order they were stored.
    pub async fn meter_values(&self, tx_id: i64) -> Result<Vec<MeterSample>, StoreError> {
        let rows = sqlx::query(
            "SELECT timestamp_ms, measurand, value, unit, phase, location, context \
             FROM meter_values WHERE tx_id = $1 ORDER BY timestamp_ms, id",
        )
        .bind(tx_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(MeterSample::from_row).collect()
    }
}
