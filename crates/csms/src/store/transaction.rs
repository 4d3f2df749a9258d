//! Transactions: start, meter progress, stop, and the 2.x TransactionEvent log.
//!
//! A transaction is `active` from its start until its first stop, then `completed`; nothing moves
//! it back. Both edges are idempotent:
//! - a start is keyed by `(station, start_key)`, where `start_key` is the 2.x `transactionId` or,
//!   for 1.6 (where the central system picks the id), the request's own content (EVSE, connector,
//!   `timestamp`, `meterStart`, `idTag`), so a retried request finds the first row;
//! - a stop is one `UPDATE … WHERE state = 'active' RETURNING …`: of two concurrent stops of one
//!   transaction exactly one gets the row back, the other sees it completed.
//!
//! Energy is never stored; it is derived from the registers when a row is read
//! ([`TransactionRecord::energy_wh`]) and is never negative.

use super::station::unknown_station;
use super::{Store, StoreError, is_foreign_key_violation};
use serde::Serialize;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use std::fmt;
use std::str::FromStr;

/// Where a transaction is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// Started, not yet stopped.
    Active,
    /// Stopped.
    Completed,
}

impl TxState {
    /// The stored spelling, also used in the REST API: `active`, `completed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TxState::Active => "active",
            TxState::Completed => "completed",
        }
    }
}

impl fmt::Display for TxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is not a [`TxState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transaction state {0:?}: expected active or completed")]
pub struct ParseTxStateError(pub String);

impl FromStr for TxState {
    type Err = ParseTxStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(TxState::Active),
            "completed" => Ok(TxState::Completed),
            other => Err(ParseTxStateError(other.to_string())),
        }
    }
}

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionRecord {
    /// The central system's id. OCPP 1.6 sends it to the station as `transactionId`, an
    /// `integer` (32-bit signed): ids count up from 1 and stay below 2³¹ for the first
    /// 2 147 483 647 transactions of a database (see [`TransactionRecord::ocpp16_id`]).
    pub id: i64,
    /// The station.
    #[serde(rename = "station")]
    pub station_id: String,
    /// The 2.x `transactionId`, chosen by the station; `None` for 1.6.
    #[serde(rename = "transactionKey")]
    pub tx_key: Option<String>,
    /// The EVSE (1.6: the connector id).
    pub evse_id: i32,
    /// The connector.
    pub connector_id: i32,
    /// The token that authorized it, once known.
    pub id_tag: Option<String>,
    /// The energy register at the start.
    pub meter_start_wh: f64,
    /// The highest energy register reported while active ([`Store::update_transaction_meter`]).
    pub meter_last_wh: Option<f64>,
    /// The energy register at the stop: the one in the stop request, else the last one reported.
    pub meter_stop_wh: Option<f64>,
    /// Energy delivered: stop (or, while active, last) register minus start register, 0 if that
    /// is negative or unknown.
    pub energy_wh: f64,
    /// When it started.
    pub started_ms: i64,
    /// When it stopped.
    pub stopped_ms: Option<i64>,
    /// 1.6 `reason`, 2.x `stoppedReason`.
    pub stop_reason: Option<String>,
    /// Active or completed.
    pub state: TxState,
}

impl TransactionRecord {
    /// The id as OCPP 1.6 `transactionId`; `None` once ids outgrow 32 bits.
    pub fn ocpp16_id(&self) -> Option<i32> {
        i32::try_from(self.id).ok()
    }

    /// Energy delivered, never negative: the stop register, or while active the last one, minus
    /// the start register; 0 when no later register is known.
    pub fn energy_wh(&self) -> f64 {
        energy_wh(
            self.meter_start_wh,
            self.meter_stop_wh.or(self.meter_last_wh),
        )
    }

    fn from_row(row: &AnyRow) -> Result<TransactionRecord, StoreError> {
        let state: String = row.try_get("state")?;
        let meter_start_wh: f64 = row.try_get("meter_start_wh")?;
        let meter_last_wh: Option<f64> = row.try_get("meter_last_wh")?;
        let meter_stop_wh: Option<f64> = row.try_get("meter_stop_wh")?;
        Ok(TransactionRecord {
            id: row.try_get("id")?,
            station_id: row.try_get("station_id")?,
            tx_key: row.try_get("tx_key")?,
            evse_id: row.try_get("evse_id")?,
            connector_id: row.try_get("connector_id")?,
            id_tag: row.try_get("id_tag")?,
            meter_start_wh,
            meter_last_wh,
            meter_stop_wh,
            energy_wh: energy_wh(meter_start_wh, meter_stop_wh.or(meter_last_wh)),
            started_ms: row.try_get("started_ms")?,
            stopped_ms: row.try_get("stopped_ms")?,
            stop_reason: row.try_get("stop_reason")?,
            state: state
                .parse()
                .map_err(|ParseTxStateError(value)| StoreError::InvalidColumn {
                    column: "transactions.state",
                    value,
                })?,
        })
    }
}

fn energy_wh(start: f64, end: Option<f64>) -> f64 {
    // `f64::max` returns the other operand for a NaN, so a NaN register also gives 0.
    end.map_or(0.0, |end| (end - start).max(0.0))
}

/// A transaction to start (1.6 StartTransaction, 2.x TransactionEvent `Started`, or the first
/// event of a transaction the central system has not seen).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransaction {
    /// The station.
    pub station_id: String,
    /// The 2.x `transactionId`; `None` for 1.6.
    pub tx_key: Option<String>,
    /// The EVSE (1.6: the connector id).
    pub evse_id: i32,
    /// The connector.
    pub connector_id: i32,
    /// The token, if known at the start.
    pub id_tag: Option<String>,
    /// The energy register at the start.
    pub meter_start_wh: f64,
    /// When it started (the request's timestamp).
    pub started_ms: i64,
}

impl NewTransaction {
    /// What makes a start the same start: the station's key in 2.x, the whole request in 1.6.
    fn start_key(&self) -> String {
        match &self.tx_key {
            Some(key) => format!("tx:{key}"),
            None => format!(
                "v16:{}:{}:{}:{:016x}:{}",
                self.evse_id,
                self.connector_id,
                self.started_ms,
                self.meter_start_wh.to_bits(),
                // `=` marks a present tag so that no tag and an empty tag differ.
                self.id_tag
                    .as_deref()
                    .map_or_else(|| "-".to_string(), |t| format!("={t}")),
            ),
        }
    }
}

/// How a stop names its transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxRef {
    /// By the central system's id (1.6 `transactionId`).
    Id(i64),
    /// By the station's key (2.x `transactionId`).
    Key(String),
}

/// A transaction to stop (1.6 StopTransaction, 2.x TransactionEvent `Ended`).
#[derive(Debug, Clone, PartialEq)]
pub struct StopTransaction {
    /// The station reporting the stop; the transaction must be its own.
    pub station_id: String,
    /// The transaction.
    pub id: TxRef,
    /// The energy register at the stop; `None` (2.x `Ended` without a register) takes the last
    /// one recorded with [`Store::update_transaction_meter`].
    pub meter_stop_wh: Option<f64>,
    /// When it stopped.
    pub stopped_ms: i64,
    /// 1.6 `reason`, 2.x `stoppedReason`.
    pub reason: Option<String>,
}

/// What a stop did.
#[derive(Debug, Clone, PartialEq)]
pub enum StopOutcome {
    /// This call stopped the transaction.
    Stopped(TransactionRecord),
    /// It was already stopped; nothing changed. The record is as the first stop left it.
    AlreadyStopped(TransactionRecord),
    /// The station has no transaction by that reference.
    Unknown,
}

/// One 2.x TransactionEvent as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEventRecord {
    /// The transaction.
    pub tx_id: i64,
    /// `seqNo`.
    pub seq_no: i64,
    /// `eventType`: `Started`, `Updated`, `Ended`.
    pub event_type: String,
    /// `triggerReason`.
    pub trigger_reason: String,
    /// `timestamp`.
    pub timestamp_ms: i64,
    /// `offline`: the event was queued while the station was offline.
    pub offline: bool,
    /// The request payload as JSON text.
    pub payload: String,
}

impl TransactionEventRecord {
    fn from_row(row: &AnyRow) -> Result<TransactionEventRecord, StoreError> {
        let offline: i64 = row.try_get("offline")?;
        Ok(TransactionEventRecord {
            tx_id: row.try_get("tx_id")?,
            seq_no: row.try_get("seq_no")?,
            event_type: row.try_get("event_type")?,
            trigger_reason: row.try_get("trigger_reason")?,
            timestamp_ms: row.try_get("timestamp_ms")?,
            offline: offline != 0,
            payload: row.try_get("payload")?,
        })
    }
}

const TX_COLUMNS: &str = "id, station_id, tx_key, evse_id, connector_id, id_tag, meter_start_wh, \
     meter_last_wh, meter_stop_wh, started_ms, stopped_ms, stop_reason, state";

/// Binds a [`TxRef`] as the next parameter; the SQL compares it with [`TxRef::column`].
fn bind_ref<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    tx: &'q TxRef,
) -> Query<'q, Any, AnyArguments<'q>> {
    match tx {
        TxRef::Id(id) => query.bind(*id),
        TxRef::Key(key) => query.bind(key.as_str()),
    }
}

impl TxRef {
    fn column(&self) -> &'static str {
        match self {
            TxRef::Id(_) => "id",
            TxRef::Key(_) => "tx_key",
        }
    }
}

impl Store {
    /// Starts a transaction, or returns the one a previous identical start created: in 2.x the
    /// same station and `tx_key`; in 1.6 the same station, EVSE, connector, `id_tag`,
    /// `started_ms` and `meter_start_wh`. Fails with [`StoreError::UnknownStation`] if the station
    /// is not registered.
    pub async fn start_transaction(
        &self,
        new: &NewTransaction,
    ) -> Result<TransactionRecord, StoreError> {
        let start_key = new.start_key();
        let sql = format!(
            "INSERT INTO transactions (station_id, tx_key, start_key, evse_id, connector_id, \
                 id_tag, meter_start_wh, started_ms, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active') \
             ON CONFLICT (station_id, start_key) DO NOTHING \
             RETURNING {TX_COLUMNS}"
        );
        let created = sqlx::query(&sql)
            .bind(&new.station_id)
            .bind(new.tx_key.as_deref())
            .bind(&start_key)
            .bind(new.evse_id)
            .bind(new.connector_id)
            .bind(new.id_tag.as_deref())
            .bind(new.meter_start_wh)
            .bind(new.started_ms)
            .fetch_optional(&self.pool)
            .await
            .map_err(|err| unknown_station(err, &new.station_id))?;
        if let Some(row) = created {
            return TransactionRecord::from_row(&row);
        }
        // A retry: the first start committed before our insert met its key, so the row is there.
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM transactions WHERE station_id = $1 AND start_key = $2"
        );
        let row = sqlx::query(&sql)
            .bind(&new.station_id)
            .bind(&start_key)
            .fetch_one(&self.pool)
            .await?;
        TransactionRecord::from_row(&row)
    }

    /// Stops a transaction of `stop.station_id`, once: the first stop returns
    /// [`StopOutcome::Stopped`], any later or concurrent one [`StopOutcome::AlreadyStopped`]
    /// with the record unchanged, and a transaction that does not exist or belongs to another
    /// station [`StopOutcome::Unknown`].
    pub async fn stop_transaction(
        &self,
        stop: &StopTransaction,
    ) -> Result<StopOutcome, StoreError> {
        let column = stop.id.column();
        let meter_stop = match stop.meter_stop_wh {
            Some(_) => "$5",
            None => "meter_last_wh",
        };
        let update = format!(
            "UPDATE transactions SET state = 'completed', stopped_ms = $3, stop_reason = $4, \
                 meter_stop_wh = {meter_stop} \
             WHERE station_id = $1 AND {column} = $2 AND state = 'active' \
             RETURNING {TX_COLUMNS}"
        );
        let select = format!(
            "SELECT {TX_COLUMNS} FROM transactions WHERE station_id = $1 AND {column} = $2"
        );
        // The loop runs once in practice: the UPDATE misses only a row that is completed or
        // absent, which the SELECT then reports. Should the SELECT see it active anyway, the next
        // UPDATE takes it, or it was completed in between and the next SELECT says so.
        loop {
            let query = bind_ref(sqlx::query(&update).bind(&stop.station_id), &stop.id)
                .bind(stop.stopped_ms)
                .bind(stop.reason.as_deref());
            let query = match stop.meter_stop_wh {
                Some(wh) => query.bind(wh),
                None => query,
            };
            if let Some(row) = query.fetch_optional(&self.pool).await? {
                return Ok(StopOutcome::Stopped(TransactionRecord::from_row(&row)?));
            }
            let found = bind_ref(sqlx::query(&select).bind(&stop.station_id), &stop.id)
                .fetch_optional(&self.pool)
                .await?;
            let Some(row) = found else {
                return Ok(StopOutcome::Unknown);
            };
            let record = TransactionRecord::from_row(&row)?;
            if record.state == TxState::Completed {
                return Ok(StopOutcome::AlreadyStopped(record));
            }
        }
    }

    /// Raises the transaction's last known energy register to `meter_wh`. Lower readings, and
    /// readings for a completed or unknown transaction, change nothing.
    pub async fn update_transaction_meter(
        &self,
        tx_id: i64,
        meter_wh: f64,
    ) -> Result<(), StoreError> {
        self.batcher
            .write(super::batch::Write::TxMeter { tx_id, meter_wh })
            .await?;
        Ok(())
    }

    /// Sets the token of a transaction (2.x: authorized after it started). Fails with
    /// [`StoreError::UnknownTransaction`] if there is no such transaction.
    pub async fn set_transaction_id_tag(&self, tx_id: i64, id_tag: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE transactions SET id_tag = $2 WHERE id = $1")
            .bind(tx_id)
            .bind(id_tag)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownTransaction(tx_id));
        }
        Ok(())
    }

    /// The transaction with this id.
    pub async fn transaction(&self, id: i64) -> Result<Option<TransactionRecord>, StoreError> {
        let sql = format!("SELECT {TX_COLUMNS} FROM transactions WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(TransactionRecord::from_row).transpose()
    }

    /// The station's transaction with this 2.x `transactionId`.
    pub async fn transaction_by_key(
        &self,
        station_id: &str,
        tx_key: &str,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        let sql =
            format!("SELECT {TX_COLUMNS} FROM transactions WHERE station_id = $1 AND tx_key = $2");
        let row = sqlx::query(&sql)
            .bind(station_id)
            .bind(tx_key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(TransactionRecord::from_row).transpose()
    }

    /// The active transaction on a connector, matched on `connector_id` (1.6 `connectorId`; for
    /// 2.x use [`Store::active_transaction_on_evse`]). If several are active, the newest.
    pub async fn active_transaction_on(
        &self,
        station_id: &str,
        connector_id: i32,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        self.active_transaction_where(station_id, "connector_id", connector_id)
            .await
    }

    /// The active transaction on an EVSE, matched on `evse_id` (2.x `evse.id`). If several are
    /// active, the newest.
    pub async fn active_transaction_on_evse(
        &self,
        station_id: &str,
        evse_id: i32,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        self.active_transaction_where(station_id, "evse_id", evse_id)
            .await
    }

    async fn active_transaction_where(
        &self,
        station_id: &str,
        column: &'static str,
        value: i32,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM transactions \
             WHERE station_id = $1 AND {column} = $2 AND state = 'active' \
             ORDER BY started_ms DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(station_id)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(TransactionRecord::from_row).transpose()
    }

    /// Transactions, optionally of one station and/or in one state, newest first (by
    /// `started_ms`, then id).
    pub async fn transactions(
        &self,
        station: Option<&str>,
        state: Option<TxState>,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        let mut sql = format!("SELECT {TX_COLUMNS} FROM transactions");
        let mut conditions = Vec::new();
        if station.is_some() {
            conditions.push(format!("station_id = ${}", conditions.len() + 1));
        }
        if state.is_some() {
            conditions.push(format!("state = ${}", conditions.len() + 1));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY started_ms DESC, id DESC");
        let mut query = sqlx::query(&sql);
        if let Some(station) = station {
            query = query.bind(station);
        }
        if let Some(state) = state {
            query = query.bind(state.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(TransactionRecord::from_row).collect()
    }

    /// Records a 2.x TransactionEvent under its `seqNo`. Returns `false`, storing nothing, if
    /// this `(tx_id, seq_no)` was recorded before: a retry, which the caller must not apply
    /// again. Fails with [`StoreError::UnknownTransaction`] if there is no such transaction.
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per TransactionEvent field, named as the caller holds them"
    )]
    pub async fn record_transaction_event(
        &self,
        tx_id: i64,
        seq_no: i64,
        event_type: &str,
        trigger_reason: &str,
        timestamp_ms: i64,
        offline: bool,
        payload: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO transaction_events \
                 (tx_id, seq_no, event_type, trigger_reason, timestamp_ms, offline, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tx_id, seq_no) DO NOTHING",
        )
        .bind(tx_id)
        .bind(seq_no)
        .bind(event_type)
        .bind(trigger_reason)
        .bind(timestamp_ms)
        .bind(i32::from(offline))
        .bind(payload)
        .execute(&self.pool)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                StoreError::UnknownTransaction(tx_id)
            } else {
                StoreError::Database(err)
            }
        })?;
        Ok(done.rows_affected() > 0)
    }

    /// The `seqNo`s recorded for a transaction, ascending, for gap detection.
    pub async fn transaction_seq_nos(&self, tx_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows =
            sqlx::query("SELECT seq_no FROM transaction_events WHERE tx_id = $1 ORDER BY seq_no")
                .bind(tx_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| row.try_get("seq_no").map_err(StoreError::from))
            .collect()
    }

    /// The TransactionEvents recorded for a transaction, by `seqNo`.
    pub async fn transaction_events(
        &self,
        tx_id: i64,
    ) -> Result<Vec<TransactionEventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT tx_id, seq_no, event_type, trigger_reason, timestamp_ms, offline, payload \
             FROM transaction_events WHERE tx_id = $1 ORDER BY seq_no",
        )
        .bind(tx_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(TransactionEventRecord::from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_is_never_negative() {
        assert_eq!(energy_wh(1000.0, Some(1500.5)), 500.5);
        assert_eq!(energy_wh(1000.0, Some(900.0)), 0.0);
        assert_eq!(energy_wh(1000.0, None), 0.0);
        assert_eq!(energy_wh(1000.0, Some(f64::NAN)), 0.0);
    }

    #[test]
    fn start_keys() {
        let mut new = NewTransaction {
            station_id: "CS1".into(),
            tx_key: None,
            evse_id: 1,
            connector_id: 1,
            id_tag: Some("TAG".into()),
            meter_start_wh: 1234.0,
            started_ms: 1_700_000_000_000,
        };
        assert_eq!(
            new.start_key(),
            "v16:1:1:1700000000000:4093480000000000:=TAG"
        );
        new.id_tag = Some(String::new());
        let empty = new.start_key();
        new.id_tag = None;
        assert_ne!(new.start_key(), empty);
        new.tx_key = Some("abc".into());
        assert_eq!(new.start_key(), "tx:abc");
    }

    #[test]
    fn state_round_trips() {
        for s in [TxState::Active, TxState::Completed] {
            assert_eq!(s.as_str().parse::<TxState>(), Ok(s));
        }
        assert!("Active".parse::<TxState>().is_err());
    }
}
