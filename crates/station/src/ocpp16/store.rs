//! The station's durable OCPP state in one SQLite file: the queue of transaction messages not yet
//! confirmed by the central system, the transactions that were open (so a station killed
//! mid-session ends them after restart), and named JSON documents (configuration keys, local
//! list and cache, reservations, charging profiles, availability).
//!
//! Writes are synchronous (`synchronous = FULL` in WAL mode): a message the station has queued
//! survives a kill or a power cut. Without a file the store keeps nothing across restarts.

use serde::{Serialize, de::DeserializeOwned};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};
use std::path::Path;

/// Why the state file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("state database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A stored document could not be encoded or decoded.
    #[error("state document {name}: {source}")]
    Document {
        /// The document.
        name: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// A queued transaction message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRow {
    /// Position in the queue (increasing).
    pub seq: i64,
    /// The action (`StartTransaction`, `MeterValues`, `StopTransaction`, …).
    pub action: String,
    /// The payload as JSON; a transaction id is filled in at send time from `transaction`.
    pub payload: String,
    /// The station's own handle of the transaction the message belongs to.
    pub transaction: Option<i64>,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// A transaction as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRow {
    /// The station's own handle.
    pub local_id: i64,
    /// The connector.
    pub connector: u32,
    /// The id tag that started it.
    pub id_tag: String,
    /// Energy register at the start, Wh.
    pub meter_start: i64,
    /// The central system's id once StartTransaction is confirmed; -1 when StartTransaction
    /// could not be delivered.
    pub cs_id: Option<i64>,
    /// The last persisted energy register, Wh.
    pub last_meter: i64,
    /// When that reading was taken (RFC 3339).
    pub last_meter_at: String,
    /// Whether its StopTransaction is queued.
    pub stopped: bool,
}

/// The SQLite state file, or nothing.
#[derive(Debug)]
pub struct Store {
    db: Option<SqliteConnection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    tx INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS transactions (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    meter_start INTEGER NOT NULL,
    cs_id INTEGER,
    last_meter INTEGER NOT NULL,
    last_meter_at TEXT NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0
);
";

impl Store {
    /// Opens (creating if needed) the state file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let mut db = SqliteConnection::connect_with(&options).await?;
        sqlx::raw_sql(SCHEMA).execute(&mut db).await?;
        Ok(Self { db: Some(db) })
    }

    /// A store that keeps nothing.
    pub fn memory() -> Self {
        Self { db: None }
    }

    /// Whether state survives restarts.
    pub fn is_durable(&self) -> bool {
        self.db.is_some()
    }

    /// Reads document `name`; `Ok(None)` if absent.
    pub async fn document<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(db) = &mut self.db else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT body FROM documents WHERE name = ?")
            .bind(name)
            .fetch_optional(db)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let body: String = row.try_get("body")?;
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|source| StoreError::Document {
                name: name.into(),
                source,
            })
    }

    /// Writes document `name`.
    pub async fn save<T: Serialize>(&mut self, name: &str, value: &T) -> Result<(), StoreError> {
        let Some(db) = &mut self.db else {
            return Ok(());
        };
        let body = serde_json::to_string(value).map_err(|source| StoreError::Document {
            name: name.into(),
            source,
        })?;
        sqlx::query(
            "INSERT INTO documents (name, body) VALUES (?, ?)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
        )
        .bind(name)
        .bind(body)
        .execute(db)
        .await?;
        Ok(())
    }

    /// Appends a message to the queue; returns its position (`next` without a file).
    pub async fn enqueue(
        &mut self,
        action: &str,
        payload: &str,
        transaction: Option<i64>,
        next: i64,
    ) -> Result<i64, StoreError> {
        let Some(db) = &mut self.db else {
            return Ok(next);
        };
        let row =
            sqlx::query("INSERT INTO outbox (action, payload, tx) VALUES (?, ?, ?) RETURNING seq")
                .bind(action)
                .bind(payload)
                .bind(transaction)
                .fetch_one(db)
                .await?;
        Ok(row.try_get("seq")?)
    }

    /// Removes a delivered (or abandoned) message.
    pub async fn dequeue(&mut self, seq: i64) -> Result<(), StoreError> {
        if let Some(db) = &mut self.db {
            sqlx::query("DELETE FROM outbox WHERE seq = ?")
                .bind(seq)
                .execute(db)
                .await?;
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub async fn attempted(&mut self, seq: i64, attempts: u32) -> Result<(), StoreError> {
        if let Some(db) = &mut self.db {
            sqlx::query("UPDATE outbox SET attempts = ? WHERE seq = ?")
                .bind(i64::from(attempts))
                .bind(seq)
                .execute(db)
                .await?;
        }
        Ok(())
    }

    /// The queue, oldest first.
    pub async fn queued(&mut self) -> Result<Vec<QueuedRow>, StoreError> {
        let Some(db) = &mut self.db else {
            return Ok(Vec::new());
        };
        let rows =
            sqlx::query("SELECT seq, action, payload, tx, attempts FROM outbox ORDER BY seq")
                .fetch_all(db)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(QueuedRow {
                    seq: r.try_get("seq")?,
                    action: r.try_get("action")?,
                    payload: r.try_get("payload")?,
                    transaction: r.try_get("tx")?,
                    attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Records a new transaction; returns its local handle (`next` without a file).
    pub async fn open_transaction(
        &mut self,
        connector: u32,
        id_tag: &str,
        meter_start: i64,
        at: &str,
        next: i64,
    ) -> Result<i64, StoreError> {
        let Some(db) = &mut self.db else {
            return Ok(next);
        };
        let row = sqlx::query(
            "INSERT INTO transactions (connector, id_tag, meter_start, last_meter, last_meter_at)
             VALUES (?, ?, ?, ?, ?) RETURNING local_id",
        )
        .bind(i64::from(connector))
        .bind(id_tag)
        .bind(meter_start)
        .bind(meter_start)
        .bind(at)
        .fetch_one(db)
        .await?;
        Ok(row.try_get("local_id")?)
    }

    /// Stores the central system's id of a transaction (-1: never confirmed).
    pub async fn confirm_transaction(
        &mut self,
        local_id: i64,
        cs_id: i64,
    ) -> Result<(), StoreError> {
        if let Some(db) = &mut self.db {
            sqlx::query("UPDATE transactions SET cs_id = ? WHERE local_id = ?")
                .bind(cs_id)
                .bind(local_id)
                .execute(db)
                .await?;
        }
        Ok(())
    }

    /// Persists the latest energy register of a running transaction.
    pub async fn checkpoint(
        &mut self,
        local_id: i64,
        meter: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        if let Some(db) = &mut self.db {
            sqlx::query(
                "UPDATE transactions SET last_meter = ?, last_meter_at = ? WHERE local_id = ?",
            )
            .bind(meter)
            .bind(at)
            .bind(local_id)
            .execute(db)
            .await?;
        }
        Ok(())
    }

    /// Marks a transaction stopped (its StopTransaction is queued).
    pub async fn stop_transaction(&mut self, local_id: i64) -> Result<(), StoreError> {
        if let Some(db) = &mut self.db {
            sqlx::query("UPDATE transactions SET stopped = 1 WHERE local_id = ?")
                .bind(local_id)
                .execute(db)
                .await?;
        }
        Ok(())
    }

    /// Forgets transactions that are stopped and have nothing left in the queue.
    pub async fn prune_transactions(&mut self) -> Result<(), StoreError> {
        if let Some(db) = &mut self.db {
            sqlx::query(
                "DELETE FROM transactions WHERE stopped = 1
                 AND local_id NOT IN (SELECT tx FROM outbox WHERE tx IS NOT NULL)",
            )
            .execute(db)
            .await?;
        }
        Ok(())
    }

    /// Every transaction still known (open ones, and stopped ones with queued messages).
    pub async fn transactions(&mut self) -> Result<Vec<TransactionRow>, StoreError> {
        let Some(db) = &mut self.db else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT local_id, connector, id_tag, meter_start, cs_id, last_meter, last_meter_at, stopped
             FROM transactions ORDER BY local_id",
        )
        .fetch_all(db)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TransactionRow {
                    local_id: r.try_get("local_id")?,
                    connector: u32::try_from(r.try_get::<i64, _>("connector")?).unwrap_or(0),
                    id_tag: r.try_get("id_tag")?,
                    meter_start: r.try_get("meter_start")?,
                    cs_id: r.try_get("cs_id")?,
                    last_meter: r.try_get("last_meter")?,
                    last_meter_at: r.try_get("last_meter_at")?,
                    stopped: r.try_get::<i64, _>("stopped")? != 0,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_transactions_and_documents_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("joule-station-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        {
            let mut store = Store::open(&path).await.expect("open");
            let tx = store
                .open_transaction(2, "TAG", 1000, "2026-01-01T00:00:00.000Z", 0)
                .await
                .expect("tx");
            let first = store
                .enqueue("StartTransaction", "{}", Some(tx), 0)
                .await
                .expect("q");
            let second = store
                .enqueue("MeterValues", "{}", Some(tx), 0)
                .await
                .expect("q");
            assert!(second > first);
            store.attempted(first, 2).await.expect("attempt");
            store
                .checkpoint(tx, 1500, "2026-01-01T00:01:00.000Z")
                .await
                .expect("cp");
            store
                .save("keys", &serde_json::json!({"a": 1}))
                .await
                .expect("save");
        }
        let mut store = Store::open(&path).await.expect("reopen");
        let queued = store.queued().await.expect("queued");
        assert_eq!(
            queued
                .iter()
                .map(|q| (q.action.as_str(), q.attempts))
                .collect::<Vec<_>>(),
            [("StartTransaction", 2), ("MeterValues", 0)]
        );
        let txs = store.transactions().await.expect("txs");
        assert_eq!(txs.len(), 1);
        assert_eq!(
            (txs[0].connector, txs[0].last_meter, txs[0].stopped),
            (2, 1500, false)
        );
        let doc: Option<serde_json::Value> = store.document("keys").await.expect("doc");
        assert_eq!(doc, Some(serde_json::json!({"a": 1})));
        // A stopped transaction goes once its messages are delivered.
        store.stop_transaction(txs[0].local_id).await.expect("stop");
        store.prune_transactions().await.expect("prune");
        assert_eq!(store.transactions().await.expect("txs").len(), 1);
        for q in queued {
            store.dequeue(q.seq).await.expect("dequeue");
        }
        store.prune_transactions().await.expect("prune");
        assert!(store.transactions().await.expect("txs").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
