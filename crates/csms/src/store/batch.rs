//! Group commit for the frequent small writes of connected stations: last-seen times, boots,
//! connector statuses, meter values and a transaction's latest meter reading.
//!
//! Every commit waits for the disk (SQLite's WAL, PostgreSQL's log), so one transaction per
//! heartbeat caps a central system at a few hundred writes per second however many cores it
//! has. Instead, callers queue their write and wait; one writer task takes every write queued
//! (up to [`MAX_BATCH`]), applies them in order in one transaction and commits once, then answers
//! each caller. A caller is answered only after the commit, so a write is as durable as before,
//! and writes are applied in the order they were queued, so a station's writes never overtake
//! each other.
//!
//! If one write of a batch fails (a station deleted meanwhile, say), the batch is rolled back and
//! its writes are applied again one transaction each, so the failure reaches its own caller only.

use super::{BootInfo, ConnectorStatusRecord, MeterSample};
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

/// Most writes committed together.
const MAX_BATCH: usize = 1024;

/// One queued write.
#[derive(Debug)]
pub(super) enum Write {
    /// The station was heard from.
    Touch {
        id: String,
        version: &'static str,
        now_ms: i64,
    },
    /// A BootNotification.
    Boot {
        id: String,
        version: &'static str,
        boot: BootInfo,
        now_ms: i64,
    },
    /// A connector's status.
    Status {
        id: String,
        status: ConnectorStatusRecord,
    },
    /// Meter samples.
    Meter {
        station_id: String,
        evse_id: i32,
        connector_id: i32,
        tx_id: Option<i64>,
        samples: Vec<MeterSample>,
    },
    /// A transaction's latest energy register.
    TxMeter { tx_id: i64, meter_wh: f64 },
}

impl Write {
    /// Applies the write on `db`; how many rows it changed or inserted.
    async fn apply(&self, db: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        match self {
            Write::Touch {
                id,
                version,
                now_ms,
            } => {
                let done = sqlx::query(
                    "UPDATE stations SET last_seen_ms = $2, ocpp_version = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(now_ms)
                .bind(*version)
                .execute(db)
                .await?;
                Ok(done.rows_affected())
            }
            Write::Boot {
                id,
                version,
                boot,
                now_ms,
            } => {
                let done = sqlx::query(
                    "UPDATE stations SET vendor = $2, model = $3, serial_number = $4, \
                         firmware_version = $5, ocpp_version = $6, last_boot_ms = $7, \
                         last_seen_ms = $7 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&boot.vendor)
                .bind(&boot.model)
                .bind(boot.serial_number.as_deref())
                .bind(boot.firmware_version.as_deref())
                .bind(*version)
                .bind(now_ms)
                .execute(db)
                .await?;
                Ok(done.rows_affected())
            }
            Write::Status { id, status } => {
                let done = sqlx::query(
                    "INSERT INTO connector_statuses \
                         (station_id, evse_id, connector_id, status, error_code, info, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET \
                         status = excluded.status, error_code = excluded.error_code, \
                         info = excluded.info, updated_ms = excluded.updated_ms \
                     WHERE excluded.updated_ms >= connector_statuses.updated_ms",
                )
                .bind(id)
                .bind(status.evse_id)
                .bind(status.connector_id)
                .bind(&status.status)
                .bind(status.error_code.as_deref())
                .bind(status.info.as_deref())
                .bind(status.updated_ms)
                .execute(db)
                .await?;
                Ok(done.rows_affected())
            }
            Write::Meter {
                station_id,
                evse_id,
                connector_id,
                tx_id,
                samples,
            } => {
                let mut inserted = 0;
                for sample in samples {
                    let done = sqlx::query(
                        "INSERT INTO meter_values (station_id, evse_id, connector_id, tx_id, \
                             timestamp_ms, measurand, value, unit, phase, location, context) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                         ON CONFLICT (station_id, evse_id, connector_id, timestamp_ms, \
                             measurand, phase, location, context, value) DO NOTHING",
                    )
                    .bind(station_id)
                    .bind(evse_id)
                    .bind(connector_id)
                    .bind(tx_id)
                    .bind(sample.timestamp_ms)
                    .bind(&sample.measurand)
                    .bind(&sample.value)
                    .bind(sample.unit.as_deref())
                    .bind(sample.phase.as_deref().unwrap_or_default())
                    .bind(sample.location.as_deref().unwrap_or_default())
                    .bind(sample.context.as_deref().unwrap_or_default())
                    .execute(&mut *db)
                    .await?;
                    inserted += done.rows_affected();
                }
                Ok(inserted)
            }
            Write::TxMeter { tx_id, meter_wh } => {
                let done = sqlx::query(
                    "UPDATE transactions SET meter_last_wh = $2 \
                     WHERE id = $1 AND state = 'active' \
                         AND (meter_last_wh IS NULL OR meter_last_wh < $2)",
                )
                .bind(tx_id)
                .bind(meter_wh)
                .execute(db)
                .await?;
                Ok(done.rows_affected())
            }
        }
    }
}

/// A write and who waits for it.
struct Job {
    write: Write,
    reply: oneshot::Sender<Result<u64, sqlx::Error>>,
}

/// The queue of writes to commit together; clones share the queue and its writer task.
#[derive(Debug, Clone)]
pub(super) struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Batcher {
    /// Starts the writer task on `pool`; it ends when every clone of the batcher is gone.
    pub(super) fn start(pool: AnyPool) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, queue));
        Self { jobs }
    }

    /// Queues `write` and waits until it is committed; how many rows it changed or inserted.
    pub(super) async fn write(&self, write: Write) -> Result<u64, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { write, reply })
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write.fmt(f)
    }
}

async fn writer(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&pool, &mut batch).await;
    }
}

/// Commits `batch` in one transaction, or each write alone if one of them fails.
async fn commit(pool: &AnyPool, batch: &mut Vec<Job>) {
    match apply_all(pool, batch).await {
        Ok(counts) => {
            for (job, count) in batch.drain(..).zip(counts) {
                let _ = job.reply.send(Ok(count));
            }
        }
        Err(e) => {
            if batch.len() > 1 {
                tracing::debug!(error = %e, writes = batch.len(), "batch failed; writing one by one");
            }
            for job in batch.drain(..) {
                let result = apply_all(pool, std::slice::from_ref(&job)).await;
                let _ = job
                    .reply
                    .send(result.map(|counts| counts.first().copied().unwrap_or(0)));
            }
        }
    }
}

async fn apply_all(pool: &AnyPool, jobs: &[Job]) -> Result<Vec<u64>, sqlx::Error> {
    let mut db = pool.begin().await?;
    let mut counts = Vec::with_capacity(jobs.len());
    for job in jobs {
        counts.push(job.write.apply(&mut db).await?);
    }
    db.commit().await?;
    Ok(counts)
}
