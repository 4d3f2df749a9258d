//! Persistence: stations, connector statuses, tokens, transactions, meter values and everything
//! else a station reports, in SQLite or PostgreSQL.
//!
//! One [`Store`] wraps an [`AnyPool`] and runs the same SQL on both backends: `$1`-style
//! placeholders (SQLite reads `$N` as parameter `N`), `ON CONFLICT … DO UPDATE/NOTHING` and
//! `RETURNING`. Only the schema differs, because autoincrement keys do (SQLite `INTEGER PRIMARY KEY
//! AUTOINCREMENT`, PostgreSQL `GENERATED ALWAYS AS IDENTITY`); the two migration directories,
//! `migrations/sqlite` and `migrations/postgres`, are embedded and run by [`Store::connect`].
//!
//! Column conventions, chosen for what the `Any` driver can decode (bool, integers, `f64`, text,
//! bytes; no date types):
//! - timestamps are `BIGINT` milliseconds since the Unix epoch (`*_ms: i64`), always passed in by
//!   the caller, never read from a clock here;
//! - energy is watt-hours in `REAL` / `DOUBLE PRECISION` (`*_wh: f64`);
//! - booleans are `INTEGER` 0/1 on both backends;
//! - optional texts that are part of a `UNIQUE` key are `NOT NULL DEFAULT ''` and read back as
//!   `None` when empty (a `NULL` would make every row distinct).
//!
//! Never bind an `Option<f64>` that may be `None`: sqlx 0.8.6's `Any` driver sends a `None` of
//! `f64` to PostgreSQL as a `float4` parameter, and the statement cached with that type then
//! rejects a later `Some`. Write a second statement for the `None` case instead (see
//! [`Store::stop_transaction`]).
//!
//! Retries are absorbed here, so a handler can apply what the store says is new: a repeated
//! `StartTransaction` or 2.x `Started` event returns the first row ([`Store::start_transaction`]),
//! a repeated stop reports [`StopOutcome::AlreadyStopped`], a repeated 2.x event `seqNo` and a
//! repeated meter sample are not stored twice. Each of these is decided by one statement against a
//! unique key or a `state = 'active'` guard, so it also holds with concurrent connections.
//!
//! A station must be registered ([`Store::register_station`]) before anything is recorded for it;
//! otherwise the call fails with [`StoreError::UnknownStation`].
//!
//! The writes every connected station makes all the time (registration on first connection, last
//! seen, boot, connector status, meter values, a transaction's latest reading) are committed in
//! groups by one writer task ([`batch`]): each call still returns only once its write is
//! committed, but thousands of stations share one disk flush instead of waiting for one each.

mod batch;
mod error;
mod event;
mod meter;
mod migrate;
mod password;
mod setting;
mod station;
mod token;
mod transaction;

pub use error::StoreError;
pub use event::StationEventRecord;
pub use meter::MeterSample;
pub use station::{
    Admission, BootInfo, ConnectorStatusRecord, ParseRegistrationError, Registration, StationRecord,
};
pub use token::TokenRecord;
pub use transaction::{
    NewTransaction, ParseTxStateError, StopOutcome, StopTransaction, TransactionEventRecord,
    TransactionRecord, TxRef, TxState,
};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::fmt;
use std::time::Duration;

/// How long a SQLite connection waits for another writer before giving up with `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in a pool for a database file or server. An in-memory SQLite database always
/// uses exactly one, because each connection would otherwise open a database of its own.
const MAX_CONNECTIONS: u32 = 8;

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, a file (`sqlite://PATH`) or memory (`sqlite::memory:`).
    Sqlite,
    /// PostgreSQL (`postgres://…` or `postgresql://…`).
    Postgres,
}

impl Backend {
    /// The backend a database URL names, by its scheme.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            // Only the scheme is echoed: the rest of a URL may hold a password.
            other => Err(StoreError::UnsupportedUrl(other.to_string())),
        }
    }

    /// A lowercase name for logs: `sqlite`, `postgres`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The central system's database. Cloning is cheap: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Commits the frequent small writes together (see [`batch`]).
    batcher: batch::Batcher,
}

impl Store {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// - `sqlite://PATH` opens or creates the file (`mode=rwc` is added unless the URL names a
    ///   mode), switches it to WAL journaling, and sets a busy timeout and foreign keys on every
    ///   connection.
    /// - `sqlite::memory:` opens a private in-memory database on a single, never-recycled
    ///   connection; it is gone when the store is dropped.
    /// - `postgres://…` connects to an existing database; the URL may set `search_path` through
    ///   `options`, and the schema is created in the first schema on it.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let pool = match backend {
            Backend::Sqlite => connect_sqlite(url).await?,
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .connect(url)
                    .await?
            }
        };
        migrate::run(&pool, backend).await?;
        tracing::debug!(%backend, "store ready");
        let batcher = batch::Batcher::start(pool.clone());
        Ok(Store {
            pool,
            backend,
            batcher,
        })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection, waiting for those in use to be returned. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn connect_sqlite(url: &str) -> Result<AnyPool, StoreError> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let url = if in_memory || url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    let options = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            conn.execute("PRAGMA foreign_keys = ON").await?;
            let busy = format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
            conn.execute(busy.as_str()).await?;
            Ok(())
        })
    });
    let options = if in_memory {
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        options.max_connections(MAX_CONNECTIONS)
    };
    let pool = options.connect(&url).await?;
    if !in_memory {
        // WAL is a property of the file, kept across connections and restarts; readers then no
        // longer block the writer.
        pool.execute("PRAGMA journal_mode = WAL").await?;
    }
    Ok(pool)
}

/// Whether `err` is a foreign-key violation, the sign that a referenced station or transaction
/// does not exist.
fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}

/// Lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// `None` for the `''` that stands for an absent text in a `UNIQUE` key.
fn non_empty(text: String) -> Option<String> {
    if text.is_empty() { None } else { Some(text) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite::memory:").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("sqlite:///tmp/x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://user:secret@host/db").err();
        assert!(matches!(&err, Some(StoreError::UnsupportedUrl(s)) if s == "mysql"));
        assert!(
            !err.map(|e| e.to_string())
                .unwrap_or_default()
                .contains("secret")
        );
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[tokio::test]
    async fn sqlite_file_uses_wal_foreign_keys_and_busy_timeout() {
        let path = std::env::temp_dir().join(format!(
            "joule-store-pragmas-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("create the database file");
        let journal: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .and_then(|row| row.try_get(0))
            .expect("journal mode");
        let foreign_keys: i64 = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .and_then(|row| row.try_get(0))
            .expect("foreign keys");
        let busy: i64 = sqlx::query("PRAGMA busy_timeout")
            .fetch_one(&store.pool)
            .await
            .and_then(|row| row.try_get(0))
            .expect("busy timeout");
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        assert_eq!(journal, "wal");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy, 5000);
    }
}
