//! Settings of the central system itself (its certificate authority, …), as text by key.

use super::{Store, StoreError};
use sqlx::Row;

impl Store {
    /// The setting `key`, if set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("value")?),
            None => None,
        })
    }

    /// Sets `key` to `value` unless it is already set; returns the value in force afterwards, so
    /// two central systems starting at once on one database agree on it.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(self
            .setting(key)
            .await?
            .unwrap_or_else(|| value.to_string()))
    }
}
