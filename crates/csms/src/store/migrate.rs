//! The schema migrations, embedded in the binary.
//!
//! `sqlx::migrate!` needs sqlx's `macros` feature, which the workspace leaves off, so the files are
//! embedded with `include_str!` and handed to [`Migrator`] through a [`MigrationSource`] of our
//! own. Versions, descriptions and checksums (SHA-384 of the SQL) are the ones `migrate!` would
//! record, so either way of embedding accepts a database the other migrated.
//!
//! Adding a migration: put `NNNN_description.sql` in both `migrations/sqlite` and
//! `migrations/postgres` and add it to both lists below; a unit test checks the lists against the
//! directories.

use super::{Backend, StoreError};
use sqlx::AnyPool;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// One migration: version, description and SQL.
type Embedded = (i64, &'static str, &'static str);

const SQLITE: &[Embedded] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "settings",
        include_str!("../../migrations/sqlite/0002_settings.sql"),
    ),
];

const POSTGRES: &[Embedded] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "settings",
        include_str!("../../migrations/postgres/0002_settings.sql"),
    ),
];

/// The migrations of one backend, as a source for [`Migrator::new`].
#[derive(Debug, Clone, Copy)]
struct EmbeddedSource(&'static [Embedded]);

impl EmbeddedSource {
    fn of(backend: Backend) -> EmbeddedSource {
        match backend {
            Backend::Sqlite => EmbeddedSource(SQLITE),
            Backend::Postgres => EmbeddedSource(POSTGRES),
        }
    }
}

impl MigrationSource<'static> for EmbeddedSource {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// Applies the backend's pending migrations, each in its own transaction.
pub(super) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let migrator = Migrator::new(EmbeddedSource::of(backend)).await?;
    migrator.run(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every `.sql` file in a migrations directory, as (version, description, contents).
    fn on_disk(dir: &str) -> Vec<(i64, String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut found: Vec<_> = std::fs::read_dir(&dir)
            .expect("migrations directory")
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .map(|path| {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .expect("file name");
                let (version, description) = stem.split_once('_').expect("NNNN_description");
                let version = version.parse().expect("numeric version");
                let sql = std::fs::read_to_string(&path).expect("readable migration");
                (version, description.replace('_', " "), sql)
            })
            .collect();
        found.sort();
        found
    }

    fn listed(list: &[Embedded]) -> Vec<(i64, String, String)> {
        list.iter()
            .map(|&(v, d, s)| (v, d.to_string(), s.to_string()))
            .collect()
    }

    #[test]
    fn embedded_lists_match_the_directories() {
        assert_eq!(listed(SQLITE), on_disk("sqlite"));
        assert_eq!(listed(POSTGRES), on_disk("postgres"));
    }

    #[test]
    fn both_backends_have_the_same_versions() {
        let versions = |list: &[Embedded]| list.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
    }
}
