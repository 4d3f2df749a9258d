//! The store's error type.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names a scheme other than `sqlite` or `postgres`/`postgresql` (only the
    /// scheme is kept: the rest of a URL may hold a password).
    #[error("unsupported database URL scheme {0:?}: expected sqlite: or postgres:")]
    UnsupportedUrl(String),
    /// The station is not registered (see `Store::register_station`).
    #[error("unknown station {0:?}")]
    UnknownStation(String),
    /// No transaction has this id.
    #[error("unknown transaction {0}")]
    UnknownTransaction(i64),
    /// A column holds a value this version cannot read, e.g. a registration status it does not
    /// know.
    #[error("unexpected value {value:?} in column {column}")]
    InvalidColumn {
        /// The column, as `table.column`.
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// The database or the connection failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
