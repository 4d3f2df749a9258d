//! Authorization tokens: OCPP 1.6 `idTag`s and 2.x `idToken` values, with their status, expiry and
//! group.

use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A token the central system knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// 1.6 `idTag`, 2.x `idToken.idToken`.
    pub id_tag: String,
    /// The authorization status as 1.6 spells it: `Accepted`, `Blocked`, `Expired`, `Invalid` or
    /// `ConcurrentTx`; the handlers map it to 2.x `AuthorizationStatusEnumType`.
    pub status: String,
    /// When the token stops being valid.
    pub expiry_ms: Option<i64>,
    /// 1.6 `parentIdTag`, 2.x `groupIdToken`.
    pub parent_id_tag: Option<String>,
}

impl TokenRecord {
    fn from_row(row: &AnyRow) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            id_tag: row.try_get("id_tag")?,
            status: row.try_get("status")?,
            expiry_ms: row.try_get("expiry_ms")?,
            parent_id_tag: row.try_get("parent_id_tag")?,
        })
    }
}

impl Store {
    /// The token with this value, if known.
    pub async fn token(&self, id_tag: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id_tag, status, expiry_ms, parent_id_tag FROM tokens WHERE id_tag = $1",
        )
        .bind(id_tag)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(TokenRecord::from_row).transpose()
    }

    /// Every token, ordered by value.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id_tag, status, expiry_ms, parent_id_tag FROM tokens ORDER BY id_tag",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(TokenRecord::from_row).collect()
    }

    /// Adds a token or replaces the one with the same value.
    pub async fn upsert_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (id_tag, status, expiry_ms, parent_id_tag) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id_tag) DO UPDATE SET status = excluded.status, \
                 expiry_ms = excluded.expiry_ms, parent_id_tag = excluded.parent_id_tag",
        )
        .bind(&token.id_tag)
        .bind(&token.status)
        .bind(token.expiry_ms)
        .bind(token.parent_id_tag.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a token; returns whether it existed.
    pub async fn delete_token(&self, id_tag: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE id_tag = $1")
            .bind(id_tag)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
