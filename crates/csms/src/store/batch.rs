//! Group commit for the frequent small writes of connected stations: registrations of new
//! stations, last-seen times, boots, connector statuses, meter values and a transaction's latest
//! meter reading.
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
//!
//! A write nobody waits for ([`Batcher::submit`], e.g. the last-seen time at connection and
//! disconnection) goes through the same queue, so it keeps its place in the order; its failure is
//! logged.

use super::{BootInfo, ConnectorStatusRecord, MeterSample, Registration};
use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

/// Most writes committed together.
const MAX_BATCH: usize = 1024;

/// One queued write.
#[derive(Debug)]
pub(super) enum Write {
    /// A station connecting for the first time, registered as accepted; nothing changes if it
    /// is registered meanwhile.
    Register { id: String, now_ms: i64 },
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

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Done {
    /// Rows changed or inserted.
    pub(super) rows: u64,
    /// The station's registration status, for a boot.
    pub(super) registration: Option<String>,
}

impl From<u64> for Done {
    fn from(rows: u64) -> Self {
        Done {
            rows,
            registration: None,
        }
    }
}

impl Write {
    /// Applies the write on `db`.
    async fn apply(&self, db: &mut AnyConnection) -> Result<Done, sqlx::Error> {
        match self {
            Write::Register { id, now_ms } => {
                let done = sqlx::query(
                    "INSERT INTO stations (id, registration, created_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(Registration::Accepted.as_str())
                .bind(now_ms)
                .execute(db)
                .await?;
                Ok(done.rows_affected().into())
            }
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
                Ok(done.rows_affected().into())
            }
            Write::Boot {
                id,
                version,
                boot,
                now_ms,
            } => {
                // The registration comes back with the update: a boot needs no read of its own.
                let row = sqlx::query(
                    "UPDATE stations SET vendor = $2, model = $3, serial_number = $4, \
                         firmware_version = $5, ocpp_version = $6, last_boot_ms = $7, \
                         last_seen_ms = $7 \
                     WHERE id = $1 \
                     RETURNING registration",
                )
                .bind(id)
                .bind(&boot.vendor)
                .bind(&boot.model)
                .bind(boot.serial_number.as_deref())
                .bind(boot.firmware_version.as_deref())
                .bind(*version)
                .bind(now_ms)
                .fetch_optional(db)
                .await?;
                match row {
                    Some(row) => Ok(Done {
                        rows: 1,
                        registration: Some(row.try_get("registration")?),
                    }),
                    None => Ok(Done::default()),
                }
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
                Ok(done.rows_affected().into())
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
                Ok(inserted.into())
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
                Ok(done.rows_affected().into())
            }
        }
    }
}

/// A write and who waits for it, if anyone.
struct Job {
    write: Write,
    reply: Option<oneshot::Sender<Result<Done, sqlx::Error>>>,
}

impl Job {
    fn answer(self, result: Result<Done, sqlx::Error>) {
        match (self.reply, result) {
            (Some(reply), result) => {
                let _ = reply.send(result);
            }
            (None, Ok(_)) => {}
            (None, Err(error)) => {
                tracing::warn!(%error, write = ?self.write, "a write nobody waits for failed");
            }
        }
    }
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
        Ok(self.write_done(write).await?.rows)
    }

    /// Queues `write` and waits until it is committed; what it did.
    pub(super) async fn write_done(&self, write: Write) -> Result<Done, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            write,
            reply: Some(reply),
        };
        self.jobs.send(job).map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }

    /// Queues `write` without waiting for it; a failure is logged.
    pub(super) fn submit(&self, write: Write) {
        if self.jobs.send(Job { write, reply: None }).is_err() {
            tracing::warn!("the store is closed; a write is dropped");
        }
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
        Ok(results) => {
            for (job, done) in batch.drain(..).zip(results) {
                job.answer(Ok(done));
            }
        }
        Err(e) => {
            if batch.len() > 1 {
                tracing::debug!(error = %e, writes = batch.len(), "batch failed; writing one by one");
            }
            for job in batch.drain(..) {
                let result = apply_all(pool, std::slice::from_ref(&job)).await;
                job.answer(result.map(|mut results| results.pop().unwrap_or_default()));
            }
        }
    }
}

async fn apply_all(pool: &AnyPool, jobs: &[Job]) -> Result<Vec<Done>, sqlx::Error> {
    let mut db = pool.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(job.write.apply(&mut db).await?);
    }
    db.commit().await?;
    Ok(results)
}
