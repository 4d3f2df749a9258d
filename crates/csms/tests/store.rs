//! The store's suite, run once against SQLite and once against PostgreSQL.
//!
//! SQLite: each test gets a fresh database file under the system temp directory, removed
//! afterwards. PostgreSQL: the server at `JOULE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a schema of its own (on the
//! connection's `search_path`), dropped afterwards, so parallel tests and runs never meet. An
//! unreachable server skips the PostgreSQL tests with a notice on stderr, or fails them when
//! `JOULE_REQUIRE_POSTGRES=1` (as in CI).
//!
//! Timestamps are plain numbers passed in; nothing sleeps or reads a clock.

use csms::store::{
    BootInfo, ConnectorStatusRecord, MeterSample, NewTransaction, Registration, StopOutcome,
    StopTransaction, Store, StoreError, TokenRecord, TransactionRecord, TxRef, TxState,
};
use proto_ocpp::OcppVersion;
use std::sync::Arc;

/// Generates one `#[tokio::test]` per backend for each listed suite function.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::harness::sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::harness::postgres(super::$name).await;
                }
            )*
        }
    };
}

on_both_backends!(
    station_registration_and_password,
    admission_in_one_read_and_registration_on_first_connection,
    unregistered_station_is_refused,
    boot_and_touch,
    connector_status_upsert,
    token_crud,
    start_is_idempotent_v16,
    start_is_idempotent_v201,
    stop_once_then_already_stopped,
    stop_unknown_or_foreign_transaction,
    stop_by_key_takes_last_meter,
    energy_never_negative,
    concurrent_double_stop_yields_one_stopped,
    transaction_event_dedupe_by_seq_no,
    meter_value_dedupe,
    listing_filters,
    station_events,
    restart_loses_nothing,
    concurrent_writes_commit_together_and_a_failure_stays_with_its_caller,
);

/// Setting up and tearing down a database per test.
mod harness {
    use csms::store::Store;
    use sqlx::{Connection, Executor};
    use std::future::Future;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::Once;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// What a test gets: an open store and the URL to open the same database again.
    #[derive(Debug)]
    pub struct Db {
        pub store: Store,
        pub url: String,
    }

    impl Db {
        /// Closes the store and opens the database again, as a restarted process would.
        pub async fn reopen(&self) -> Store {
            self.store.close().await;
            Store::connect(&self.url)
                .await
                .expect("reopen the database")
        }
    }

    /// A name no other test, in this run or a parallel one, uses.
    fn unique_name(prefix: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{}_{nanos}_{n}", std::process::id())
    }

    /// Runs `test` to completion, catching a panic so that cleanup still happens, then re-raises.
    async fn run<F, Fut>(test: F, db: Db) -> Result<(), tokio::task::JoinError>
    where
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(test(db)).await
    }

    fn rethrow(outcome: Result<(), tokio::task::JoinError>) {
        if let Err(err) = outcome {
            match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(err) => panic!("test task failed: {err}"),
            }
        }
    }

    pub async fn sqlite<F, Fut>(test: F)
    where
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let path: PathBuf = std::env::temp_dir().join(format!("{}.db", unique_name("joule_store")));
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url).await.expect("create the SQLite file");
        let outcome = run(
            test,
            Db {
                store: store.clone(),
                url,
            },
        )
        .await;
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", path.display());
            let _ = std::fs::remove_file(file);
        }
        rethrow(outcome);
    }

    /// The server URL, or `None` (after a notice) when it is unreachable and not required.
    async fn postgres_server() -> Option<String> {
        static NOTICE: Once = Once::new();
        sqlx::any::install_default_drivers();
        let url = std::env::var("JOULE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
        let attempt =
            tokio::time::timeout(Duration::from_secs(5), sqlx::AnyConnection::connect(&url)).await;
        let error = match attempt {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                return Some(url);
            }
            Ok(Err(err)) => err.to_string(),
            Err(_) => "no answer within 5 s".to_string(),
        };
        // Credentials stay out of the logs.
        let url = url.rsplit_once('@').map_or(url.as_str(), |(_, host)| host);
        if std::env::var("JOULE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!(
                "PostgreSQL at {url} is required (JOULE_REQUIRE_POSTGRES=1) but unreachable: {error}"
            );
        }
        // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests.
        NOTICE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: skipping the PostgreSQL store tests: {url} is unreachable ({error}); \
                 set JOULE_TEST_POSTGRES to point elsewhere, JOULE_REQUIRE_POSTGRES=1 to fail instead"
            );
        });
        None
    }

    pub async fn postgres<F, Fut>(test: F)
    where
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(server) = postgres_server().await else {
            return;
        };
        let schema = unique_name("joule_test");
        let mut admin = sqlx::AnyConnection::connect(&server)
            .await
            .expect("connect to PostgreSQL");
        admin
            .execute(format!("CREATE SCHEMA {schema}").as_str())
            .await
            .expect("create the test schema");
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
        let store = Store::connect(&url).await.expect("open the test schema");
        let outcome = run(
            test,
            Db {
                store: store.clone(),
                url,
            },
        )
        .await;
        store.close().await;
        admin
            .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
            .await
            .expect("drop the test schema");
        let _ = admin.close().await;
        rethrow(outcome);
    }
}

use harness::Db;

// Helpers.

async fn register(store: &Store, id: &str) {
    store
        .register_station(id, Registration::Accepted, None, 1_000)
        .await
        .expect("register station");
}

fn v16_start(
    station: &str,
    connector: i32,
    tag: &str,
    started_ms: i64,
    meter: f64,
) -> NewTransaction {
    NewTransaction {
        station_id: station.into(),
        tx_key: None,
        evse_id: connector,
        connector_id: connector,
        id_tag: Some(tag.into()),
        meter_start_wh: meter,
        started_ms,
    }
}

fn v201_start(station: &str, key: &str, evse: i32, started_ms: i64, meter: f64) -> NewTransaction {
    NewTransaction {
        station_id: station.into(),
        tx_key: Some(key.into()),
        evse_id: evse,
        connector_id: 1,
        id_tag: None,
        meter_start_wh: meter,
        started_ms,
    }
}

fn stop(station: &str, id: TxRef, meter: Option<f64>, stopped_ms: i64) -> StopTransaction {
    StopTransaction {
        station_id: station.into(),
        id,
        meter_stop_wh: meter,
        stopped_ms,
        reason: Some("Local".into()),
    }
}

fn sample(timestamp_ms: i64, measurand: &str, value: &str, phase: Option<&str>) -> MeterSample {
    MeterSample {
        timestamp_ms,
        measurand: measurand.into(),
        value: value.into(),
        unit: Some("Wh".into()),
        phase: phase.map(Into::into),
        location: None,
        context: Some("Sample.Periodic".into()),
    }
}

fn status(evse_id: i32, connector_id: i32, status: &str, updated_ms: i64) -> ConnectorStatusRecord {
    ConnectorStatusRecord {
        evse_id,
        connector_id,
        status: status.into(),
        error_code: Some("NoError".into()),
        info: None,
        updated_ms,
    }
}

fn ids(records: &[TransactionRecord]) -> Vec<i64> {
    records.iter().map(|r| r.id).collect()
}

// The suite.

async fn station_registration_and_password(db: Db) {
    let store = &db.store;
    let password = "pw-0123456789abcdef";
    store
        .register_station("CS1", Registration::Accepted, Some(password), 1_000)
        .await
        .expect("register CS1");
    store
        .register_station("CS0", Registration::Pending, None, 1_001)
        .await
        .expect("register CS0");

    let cs1 = store
        .station("CS1")
        .await
        .expect("read")
        .expect("CS1 exists");
    assert_eq!(cs1.registration, Registration::Accepted);
    assert_eq!(cs1.created_ms, 1_000);
    assert_eq!(
        (cs1.vendor, cs1.ocpp_version, cs1.last_seen_ms),
        (None, None, None)
    );
    assert!(store.station("nope").await.expect("read").is_none());
    let listed: Vec<_> = store
        .stations()
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["CS0", "CS1"]);

    assert!(store.has_password("CS1").await.expect("has"));
    assert!(!store.has_password("CS0").await.expect("has"));
    assert!(!store.has_password("nope").await.expect("has"));
    assert!(
        store
            .verify_password("CS1", password)
            .await
            .expect("verify")
    );
    assert!(
        !store
            .verify_password("CS1", "pw-0123456789abcdeF")
            .await
            .expect("verify")
    );
    assert!(!store.verify_password("CS1", "").await.expect("verify"));
    assert!(
        !store
            .verify_password("CS0", password)
            .await
            .expect("verify")
    );
    assert!(
        !store
            .verify_password("nope", password)
            .await
            .expect("verify")
    );

    // Never in clear: a salt and a SHA-256 digest, both hex.
    let raw = sqlx::AnyPool::connect(&db.url)
        .await
        .expect("raw connection");
    let (salt, hash): (String, String) =
        sqlx::query_as("SELECT password_salt, password_hash FROM stations WHERE id = 'CS1'")
            .fetch_one(&raw)
            .await
            .expect("raw row");
    raw.close().await;
    assert_eq!((salt.len(), hash.len()), (32, 64));
    assert!(!salt.contains(password) && !hash.contains(password));

    // Re-registering without a password keeps it and the creation time.
    store
        .register_station("CS1", Registration::Rejected, None, 2_000)
        .await
        .expect("re-register");
    let cs1 = store
        .station("CS1")
        .await
        .expect("read")
        .expect("CS1 exists");
    assert_eq!(
        (cs1.registration, cs1.created_ms),
        (Registration::Rejected, 1_000)
    );
    assert!(
        store
            .verify_password("CS1", password)
            .await
            .expect("verify")
    );

    // A new password replaces the old one.
    store
        .register_station(
            "CS1",
            Registration::Accepted,
            Some("second-password"),
            3_000,
        )
        .await
        .expect("new password");
    assert!(
        !store
            .verify_password("CS1", password)
            .await
            .expect("verify")
    );
    assert!(
        store
            .verify_password("CS1", "second-password")
            .await
            .expect("verify")
    );

    assert!(store.clear_password("CS1").await.expect("clear"));
    assert!(!store.clear_password("CS1").await.expect("clear again"));
    assert!(!store.has_password("CS1").await.expect("has"));
    assert!(
        !store
            .verify_password("CS1", "second-password")
            .await
            .expect("verify")
    );
}

async fn unregistered_station_is_refused(db: Db) {
    let store = &db.store;
    let unknown = |r: Result<_, StoreError>| matches!(r, Err(StoreError::UnknownStation(id)) if id == "ghost");
    let boot = BootInfo {
        vendor: "V".into(),
        model: "M".into(),
        serial_number: None,
        firmware_version: None,
    };
    assert!(unknown(
        store
            .record_boot("ghost", OcppVersion::V16, &boot, 1)
            .await
            .map(|_| ())
    ));
    assert!(unknown(store.touch("ghost", OcppVersion::V16, 1).await));
    assert!(unknown(
        store
            .set_connector_status("ghost", &status(1, 1, "Available", 1))
            .await
    ));
    assert!(unknown(
        store
            .add_station_event("ghost", "DataTransfer", "{}", 1)
            .await
    ));
    assert!(unknown(
        store
            .start_transaction(&v16_start("ghost", 1, "T", 1, 0.0))
            .await
            .map(|_| ())
    ));
    let samples = [sample(1, "Energy.Active.Import.Register", "1", None)];
    assert!(unknown(
        store
            .add_meter_values("ghost", 1, 1, None, &samples)
            .await
            .map(|_| ())
    ));
    assert!(store.stations().await.expect("list").is_empty());
}

async fn admission_in_one_read_and_registration_on_first_connection(db: Db) {
    let store = &db.store;
    let password = "pw-0123456789abcdef";
    store
        .register_station("CS1", Registration::Pending, Some(password), 1_000)
        .await
        .expect("register CS1");
    let cs1 = store
        .admission("CS1")
        .await
        .expect("read")
        .expect("CS1 is registered");
    assert_eq!(cs1.registration, Registration::Pending);
    assert!(cs1.has_password());
    assert!(cs1.verify_password(password));
    assert!(!cs1.verify_password("pw-0123456789abcdeF"));
    assert!(!format!("{cs1:?}").contains(password));
    assert!(store.admission("NEW").await.expect("read").is_none());

    let new = store
        .register_if_unknown("NEW", 2_000)
        .await
        .expect("register")
        .expect("registered by this call");
    assert_eq!(new.registration, Registration::Accepted);
    assert!(!new.has_password());
    assert!(!new.verify_password(""));
    let record = store.station("NEW").await.expect("read").expect("stored");
    assert_eq!(
        (record.registration, record.created_ms),
        (Registration::Accepted, 2_000)
    );
    assert!(
        store
            .register_if_unknown("CS1", 3_000)
            .await
            .expect("register")
            .is_none(),
        "a registered station is left as it is"
    );
    let cs1 = store.admission("CS1").await.expect("read").expect("kept");
    assert_eq!(cs1.registration, Registration::Pending);
    assert!(cs1.verify_password(password));
}

async fn boot_and_touch(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    let boot = BootInfo {
        vendor: "Joule".into(),
        model: "DC-60".into(),
        serial_number: Some("SN-1".into()),
        firmware_version: Some("1.2.3".into()),
    };
    let registration = store
        .record_boot("CS1", OcppVersion::V16, &boot, 5_000)
        .await
        .expect("boot");
    assert_eq!(registration, Registration::Accepted);
    let cs1 = store.station("CS1").await.expect("read").expect("exists");
    assert_eq!(cs1.vendor.as_deref(), Some("Joule"));
    assert_eq!(cs1.model.as_deref(), Some("DC-60"));
    assert_eq!(cs1.serial_number.as_deref(), Some("SN-1"));
    assert_eq!(cs1.firmware_version.as_deref(), Some("1.2.3"));
    assert_eq!(cs1.ocpp_version.as_deref(), Some("1.6"));
    assert_eq!(
        (cs1.last_boot_ms, cs1.last_seen_ms),
        (Some(5_000), Some(5_000))
    );

    store
        .touch("CS1", OcppVersion::V201, 6_000)
        .await
        .expect("touch");
    let cs1 = store.station("CS1").await.expect("read").expect("exists");
    assert_eq!(cs1.ocpp_version.as_deref(), Some("2.0.1"));
    assert_eq!(
        (cs1.last_boot_ms, cs1.last_seen_ms),
        (Some(5_000), Some(6_000))
    );
    assert_eq!(cs1.registration, Registration::Accepted);

    let reboot = BootInfo {
        serial_number: None,
        firmware_version: Some("1.3.0".into()),
        ..boot
    };
    store
        .register_station("CS1", Registration::Pending, None, 0)
        .await
        .expect("set pending");
    let registration = store
        .record_boot("CS1", OcppVersion::V21, &reboot, 7_000)
        .await
        .expect("boot");
    assert_eq!(
        registration,
        Registration::Pending,
        "the boot reads the registration as it is now"
    );
    let cs1 = store.station("CS1").await.expect("read").expect("exists");
    assert_eq!(cs1.serial_number, None);
    assert_eq!(cs1.firmware_version.as_deref(), Some("1.3.0"));
    assert_eq!(cs1.ocpp_version.as_deref(), Some("2.1"));
    assert_eq!(
        (cs1.last_boot_ms, cs1.last_seen_ms),
        (Some(7_000), Some(7_000))
    );

    // A write nobody waits for keeps its place in the queue: committed before a later one.
    store.touch_soon("CS1", OcppVersion::V16, 8_000);
    store
        .set_connector_status("CS1", &status(1, 1, "Available", 8_001))
        .await
        .expect("status");
    let cs1 = store.station("CS1").await.expect("read").expect("exists");
    assert_eq!(
        (cs1.ocpp_version.as_deref(), cs1.last_seen_ms),
        (Some("1.6"), Some(8_000))
    );
}

async fn connector_status_upsert(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    register(store, "CS2").await;
    for s in [
        status(2, 1, "Charging", 100),
        status(1, 1, "Available", 100),
        status(0, 0, "Available", 100),
    ] {
        store.set_connector_status("CS1", &s).await.expect("set");
    }
    store
        .set_connector_status("CS2", &status(1, 1, "Faulted", 100))
        .await
        .expect("set");

    let mut occupied = status(1, 1, "Occupied", 200);
    occupied.info = Some("cable in".into());
    store
        .set_connector_status("CS1", &occupied)
        .await
        .expect("update");
    // A notification older than the stored one does not overwrite it.
    store
        .set_connector_status("CS1", &status(1, 1, "Faulted", 150))
        .await
        .expect("stale update");

    let got = store.connector_statuses("CS1").await.expect("list");
    assert_eq!(
        got,
        [
            status(0, 0, "Available", 100),
            occupied,
            status(2, 1, "Charging", 100)
        ]
    );
    assert_eq!(
        store.connector_statuses("CS2").await.expect("list"),
        [status(1, 1, "Faulted", 100)]
    );
    assert!(
        store
            .connector_statuses("CS3")
            .await
            .expect("list")
            .is_empty()
    );
}

async fn token_crud(db: Db) {
    let store = &db.store;
    assert_eq!(store.token("A").await.expect("read"), None);
    let a = TokenRecord {
        id_tag: "A".into(),
        status: "Accepted".into(),
        expiry_ms: None,
        parent_id_tag: None,
    };
    let b = TokenRecord {
        id_tag: "B".into(),
        status: "Accepted".into(),
        expiry_ms: Some(9_000_000),
        parent_id_tag: Some("GROUP".into()),
    };
    store.upsert_token(&b).await.expect("insert B");
    store.upsert_token(&a).await.expect("insert A");
    assert_eq!(store.tokens().await.expect("list"), [a.clone(), b.clone()]);

    let blocked = TokenRecord {
        status: "Blocked".into(),
        expiry_ms: Some(1),
        parent_id_tag: Some("GROUP".into()),
        ..a.clone()
    };
    store.upsert_token(&blocked).await.expect("update A");
    assert_eq!(store.token("A").await.expect("read"), Some(blocked));

    assert!(store.delete_token("A").await.expect("delete"));
    assert!(!store.delete_token("A").await.expect("delete again"));
    assert_eq!(store.token("A").await.expect("read"), None);
    assert_eq!(store.tokens().await.expect("list"), [b]);
}

async fn start_is_idempotent_v16(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    let start = v16_start("CS1", 1, "TAG", 10_000, 1_000.0);
    let first = store.start_transaction(&start).await.expect("start");
    assert_eq!(first.state, TxState::Active);
    assert_eq!(first.tx_key, None);
    assert_eq!(first.id_tag.as_deref(), Some("TAG"));
    assert_eq!((first.evse_id, first.connector_id), (1, 1));
    assert_eq!((first.meter_start_wh, first.started_ms), (1_000.0, 10_000));
    assert_eq!(
        (first.meter_stop_wh, first.stopped_ms, first.energy_wh),
        (None, None, 0.0)
    );
    assert!(first.ocpp16_id().is_some_and(|id| id > 0));

    // The station retries (no answer seen): the same row comes back.
    let retry = store.start_transaction(&start).await.expect("retry");
    assert_eq!(retry, first);
    assert_eq!(
        ids(&store.transactions(None, None).await.expect("list")),
        [first.id]
    );

    // Anything different is a new transaction.
    let later = store
        .start_transaction(&v16_start("CS1", 1, "TAG", 20_000, 1_000.0))
        .await
        .expect("start later");
    let other_tag = store
        .start_transaction(&v16_start("CS1", 1, "OTHER", 10_000, 1_000.0))
        .await
        .expect("other tag");
    let other_connector = store
        .start_transaction(&v16_start("CS1", 2, "TAG", 10_000, 1_000.0))
        .await
        .expect("other connector");
    let all = [first.id, later.id, other_tag.id, other_connector.id];
    let mut unique = all.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{all:?}");
    assert_eq!(store.transactions(None, None).await.expect("list").len(), 4);
}

async fn start_is_idempotent_v201(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    register(store, "CS2").await;
    let first = store
        .start_transaction(&v201_start("CS1", "tx-abc", 1, 10_000, 500.0))
        .await
        .expect("start");
    assert_eq!(first.tx_key.as_deref(), Some("tx-abc"));
    // A retry, even one whose details differ, returns the first row unchanged.
    let retry = store
        .start_transaction(&v201_start("CS1", "tx-abc", 2, 11_000, 700.0))
        .await
        .expect("retry");
    assert_eq!(retry, first);
    // The key is the station's: another station may use it.
    let elsewhere = store
        .start_transaction(&v201_start("CS2", "tx-abc", 1, 10_000, 500.0))
        .await
        .expect("other station");
    assert_ne!(elsewhere.id, first.id);

    let by_key = store
        .transaction_by_key("CS1", "tx-abc")
        .await
        .expect("by key");
    assert_eq!(by_key, Some(first.clone()));
    assert_eq!(
        store
            .transaction_by_key("CS2", "tx-abc")
            .await
            .expect("by key"),
        Some(elsewhere)
    );
    assert_eq!(
        store
            .transaction_by_key("CS1", "tx-zzz")
            .await
            .expect("by key"),
        None
    );
    assert_eq!(
        store.transaction(first.id).await.expect("by id"),
        Some(first)
    );
    assert_eq!(
        store.transaction(i64::from(i32::MAX)).await.expect("by id"),
        None
    );
}

async fn stop_once_then_already_stopped(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    let tx = store
        .start_transaction(&v16_start("CS1", 1, "TAG", 10_000, 1_000.0))
        .await
        .expect("start");

    let outcome = store
        .stop_transaction(&stop("CS1", TxRef::Id(tx.id), Some(1_500.5), 20_000))
        .await
        .expect("stop");
    let StopOutcome::Stopped(stopped) = outcome else {
        panic!("expected Stopped, got {outcome:?}");
    };
    assert_eq!(stopped.id, tx.id);
    assert_eq!(stopped.state, TxState::Completed);
    assert_eq!(stopped.meter_stop_wh, Some(1_500.5));
    assert_eq!(stopped.energy_wh, 500.5);
    assert_eq!(stopped.energy_wh(), 500.5);
    assert_eq!(stopped.stopped_ms, Some(20_000));
    assert_eq!(stopped.stop_reason.as_deref(), Some("Local"));

    // A retried (or bogus) second stop changes nothing.
    let again = store
        .stop_transaction(&stop("CS1", TxRef::Id(tx.id), Some(9_999.0), 30_000))
        .await
        .expect("stop again");
    assert_eq!(again, StopOutcome::AlreadyStopped(stopped.clone()));
    assert_eq!(
        store.transaction(tx.id).await.expect("read"),
        Some(stopped.clone())
    );

    let completed = store
        .transactions(None, Some(TxState::Completed))
        .await
        .expect("list");
    assert_eq!(completed, [stopped]);
    let total: f64 = completed.iter().map(|t| t.energy_wh).sum();
    assert_eq!(total, 500.5, "energy counted once");
    assert!(
        store
            .transactions(None, Some(TxState::Active))
            .await
            .expect("list")
            .is_empty()
    );
}

async fn stop_unknown_or_foreign_transaction(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    register(store, "CS2").await;
    let tx = store
        .start_transaction(&v201_start("CS1", "k1", 1, 10_000, 0.0))
        .await
        .expect("start");

    for unknown in [
        stop("CS1", TxRef::Id(tx.id + 1_000), Some(1.0), 1),
        stop("CS1", TxRef::Key("nope".into()), None, 1),
        stop("ghost", TxRef::Id(tx.id), None, 1),
        // Another station's transaction, by id or by key.
        stop("CS2", TxRef::Id(tx.id), Some(1.0), 1),
        stop("CS2", TxRef::Key("k1".into()), Some(1.0), 1),
    ] {
        let outcome = store.stop_transaction(&unknown).await.expect("stop");
        assert_eq!(outcome, StopOutcome::Unknown, "{unknown:?}");
    }
    assert_eq!(store.transaction(tx.id).await.expect("read"), Some(tx));
}

async fn stop_by_key_takes_last_meter(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    let tx = store
        .start_transaction(&v201_start("CS1", "k1", 1, 10_000, 100.0))
        .await
        .expect("start");
    for wh in [150.0, 300.0, 200.0] {
        store
            .update_transaction_meter(tx.id, wh)
            .await
            .expect("meter");
    }
    // Unknown ids are ignored.
    store
        .update_transaction_meter(tx.id + 1_000, 1.0)
        .await
        .expect("meter");
    let active = store
        .transaction(tx.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(active.meter_last_wh, Some(300.0), "never lowered");
    assert_eq!(active.energy_wh, 200.0, "energy so far");

    let outcome = store
        .stop_transaction(&stop("CS1", TxRef::Key("k1".into()), None, 20_000))
        .await
        .expect("stop");
    let StopOutcome::Stopped(stopped) = outcome else {
        panic!("expected Stopped, got {outcome:?}");
    };
    assert_eq!(stopped.meter_stop_wh, Some(300.0));
    assert_eq!(stopped.energy_wh, 200.0);

    // After the stop, readings no longer move anything.
    store
        .update_transaction_meter(tx.id, 5_000.0)
        .await
        .expect("meter");
    let after = store
        .transaction(tx.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(after, stopped);
}

async fn energy_never_negative(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    let tx = store
        .start_transaction(&v16_start("CS1", 1, "TAG", 10_000, 1_000.0))
        .await
        .expect("start");
    let outcome = store
        .stop_transaction(&stop("CS1", TxRef::Id(tx.id), Some(900.0), 20_000))
        .await
        .expect("stop");
    let StopOutcome::Stopped(stopped) = outcome else {
        panic!("expected Stopped, got {outcome:?}");
    };
    assert_eq!(stopped.meter_stop_wh, Some(900.0), "stored as reported");
    assert_eq!(stopped.energy_wh, 0.0);

    // No register at all at the stop: nothing delivered as far as we know.
    let bare = store
        .start_transaction(&v201_start("CS1", "k2", 2, 30_000, 50.0))
        .await
        .expect("start");
    let outcome = store
        .stop_transaction(&stop("CS1", TxRef::Key("k2".into()), None, 40_000))
        .await
        .expect("stop");
    let StopOutcome::Stopped(stopped) = outcome else {
        panic!("expected Stopped, got {outcome:?}");
    };
    assert_eq!(stopped.id, bare.id);
    assert_eq!((stopped.meter_stop_wh, stopped.energy_wh), (None, 0.0));
}

async fn concurrent_double_stop_yields_one_stopped(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    for round in 0..16_i64 {
        let tx = store
            .start_transaction(&v16_start("CS1", 1, "TAG", 10_000 + round, 1_000.0))
            .await
            .expect("start");
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = [2_000.0, 3_000.0]
            .into_iter()
            .map(|meter| {
                let store = store.clone();
                let barrier = barrier.clone();
                let stop = stop("CS1", TxRef::Id(tx.id), Some(meter), 20_000 + round);
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.stop_transaction(&stop).await.expect("stop")
                })
            })
            .collect();
        let mut stopped = Vec::new();
        let mut already = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                StopOutcome::Stopped(record) => stopped.push(record),
                StopOutcome::AlreadyStopped(record) => already.push(record),
                StopOutcome::Unknown => panic!("transaction {} unknown", tx.id),
            }
        }
        assert_eq!((stopped.len(), already.len()), (1, 1), "round {round}");
        assert_eq!(stopped, already, "the loser sees the winner's stop");
        let stored = store
            .transaction(tx.id)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(Some(&stored), stopped.first());
    }
}

async fn transaction_event_dedupe_by_seq_no(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    let tx = store
        .start_transaction(&v201_start("CS1", "k1", 1, 10_000, 0.0))
        .await
        .expect("start");
    let record = |seq_no: i64, event_type: &'static str, offline: bool| {
        let payload = format!(r#"{{"seqNo":{seq_no}}}"#);
        async move {
            store
                .record_transaction_event(
                    tx.id,
                    seq_no,
                    event_type,
                    "Authorized",
                    10_000 + seq_no,
                    offline,
                    &payload,
                )
                .await
                .expect("record")
        }
    };
    assert!(record(0, "Started", false).await);
    assert!(!record(0, "Started", false).await, "retry");
    assert!(record(2, "Updated", true).await);
    assert!(record(1, "Updated", false).await);
    assert!(!record(2, "Updated", true).await, "retry");
    assert_eq!(
        store.transaction_seq_nos(tx.id).await.expect("seq"),
        [0, 1, 2]
    );
    assert!(
        store
            .transaction_seq_nos(tx.id + 1)
            .await
            .expect("seq")
            .is_empty()
    );

    let events = store.transaction_events(tx.id).await.expect("events");
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].event_type, "Updated");
    assert!(events[2].offline && !events[1].offline);
    assert_eq!(events[2].payload, r#"{"seqNo":2}"#);
    assert_eq!(events[2].timestamp_ms, 10_002);

    let missing = store
        .record_transaction_event(
            tx.id + 1_000,
            0,
            "Started",
            "CablePluggedIn",
            1,
            false,
            "{}",
        )
        .await;
    assert!(matches!(missing, Err(StoreError::UnknownTransaction(id)) if id == tx.id + 1_000));

    store
        .set_transaction_id_tag(tx.id, "LATE-TAG")
        .await
        .expect("set tag");
    let read = store
        .transaction(tx.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read.id_tag.as_deref(), Some("LATE-TAG"));
    let missing = store.set_transaction_id_tag(tx.id + 1_000, "X").await;
    assert!(matches!(missing, Err(StoreError::UnknownTransaction(_))));
}

async fn meter_value_dedupe(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    let tx = store
        .start_transaction(&v16_start("CS1", 1, "TAG", 10_000, 0.0))
        .await
        .expect("start");
    let energy = "Energy.Active.Import.Register";
    let batch = [
        sample(12_000, energy, "1200", None),
        sample(11_000, "Power.Active.Import", "7000", Some("L1")),
        sample(11_000, "Power.Active.Import", "7100", Some("L2")),
    ];
    let added = store
        .add_meter_values("CS1", 1, 1, Some(tx.id), &batch)
        .await
        .expect("add");
    assert_eq!(added, 3);
    // The station resends the same request.
    let added = store
        .add_meter_values("CS1", 1, 1, Some(tx.id), &batch)
        .await
        .expect("retry");
    assert_eq!(added, 0);
    // Half old, half new.
    let mixed = [batch[0].clone(), sample(13_000, energy, "1300", None)];
    let added = store
        .add_meter_values("CS1", 1, 1, Some(tx.id), &mixed)
        .await
        .expect("mixed");
    assert_eq!(added, 1);
    // The same reading on another EVSE, or outside any transaction, is a different sample.
    let added = store
        .add_meter_values("CS1", 2, 1, None, &batch[..1])
        .await
        .expect("evse 2");
    assert_eq!(added, 1);
    let added = store
        .add_meter_values("CS1", 1, 1, None, &[])
        .await
        .expect("empty");
    assert_eq!(added, 0);

    let stored = store.meter_values(tx.id).await.expect("read");
    assert_eq!(
        stored,
        [
            batch[1].clone(),
            batch[2].clone(),
            batch[0].clone(),
            mixed[1].clone()
        ],
        "by timestamp, then insertion"
    );
    assert_eq!(stored[0].location, None);
    assert_eq!(stored[0].phase.as_deref(), Some("L1"));

    let missing = store
        .add_meter_values(
            "CS1",
            1,
            1,
            Some(tx.id + 1_000),
            &[sample(1, energy, "1", None)],
        )
        .await;
    assert!(matches!(missing, Err(StoreError::UnknownTransaction(_))));
    assert!(
        store
            .meter_values(tx.id + 1_000)
            .await
            .expect("read")
            .is_empty()
    );
}

async fn listing_filters(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    register(store, "CS2").await;
    let a = store
        .start_transaction(&v16_start("CS1", 1, "A", 1_000, 0.0))
        .await
        .expect("a");
    let b = store
        .start_transaction(&v16_start("CS1", 2, "B", 2_000, 0.0))
        .await
        .expect("b");
    let c = store
        .start_transaction(&v201_start("CS2", "c", 3, 3_000, 0.0))
        .await
        .expect("c");
    let d = store
        .start_transaction(&v16_start("CS1", 1, "D", 4_000, 0.0))
        .await
        .expect("d");
    let outcome = store
        .stop_transaction(&stop("CS1", TxRef::Id(a.id), Some(10.0), 3_500))
        .await
        .expect("stop a");
    assert!(matches!(outcome, StopOutcome::Stopped(_)));

    let list = |station: Option<&'static str>, state: Option<TxState>| async move {
        ids(&store.transactions(station, state).await.expect("list"))
    };
    assert_eq!(
        list(None, None).await,
        [d.id, c.id, b.id, a.id],
        "newest first"
    );
    assert_eq!(list(Some("CS1"), None).await, [d.id, b.id, a.id]);
    assert_eq!(list(Some("CS2"), None).await, [c.id]);
    assert_eq!(list(None, Some(TxState::Active)).await, [d.id, c.id, b.id]);
    assert_eq!(list(None, Some(TxState::Completed)).await, [a.id]);
    assert_eq!(list(Some("CS1"), Some(TxState::Active)).await, [d.id, b.id]);
    assert_eq!(
        list(Some("CS2"), Some(TxState::Completed)).await,
        Vec::<i64>::new()
    );
    assert_eq!(list(Some("ghost"), None).await, Vec::<i64>::new());

    let on = |station: &'static str, connector: i32| async move {
        store
            .active_transaction_on(station, connector)
            .await
            .expect("active")
            .map(|t| t.id)
    };
    assert_eq!(on("CS1", 1).await, Some(d.id), "a is completed");
    assert_eq!(on("CS1", 2).await, Some(b.id));
    assert_eq!(on("CS1", 3).await, None);
    assert_eq!(on("CS2", 1).await, Some(c.id), "2.x connector 1 of EVSE 3");
    let on_evse = |station: &'static str, evse: i32| async move {
        store
            .active_transaction_on_evse(station, evse)
            .await
            .expect("active")
            .map(|t| t.id)
    };
    assert_eq!(on_evse("CS2", 3).await, Some(c.id));
    assert_eq!(on_evse("CS2", 1).await, None);
    assert_eq!(on_evse("CS1", 2).await, Some(b.id));
}

async fn station_events(db: Db) {
    let store = &db.store;
    register(store, "CS1").await;
    register(store, "CS2").await;
    let events = [
        (
            "SecurityEventNotification",
            r#"{"type":"StartupOfTheDevice"}"#,
            2_000,
        ),
        (
            "FirmwareStatusNotification",
            r#"{"status":"Installed"}"#,
            1_000,
        ),
        (
            "SecurityEventNotification",
            r#"{"type":"ResetOrReboot"}"#,
            2_000,
        ),
    ];
    for (action, payload, at) in events {
        store
            .add_station_event("CS1", action, payload, at)
            .await
            .expect("add");
    }
    let all = store.station_events("CS1", None).await.expect("all");
    let seen: Vec<_> = all
        .iter()
        .map(|e| (e.action.as_str(), e.payload.as_str(), e.received_ms))
        .collect();
    assert_eq!(
        seen,
        [events[1], events[0], events[2]],
        "by time, then insertion"
    );
    assert!(all.iter().all(|e| e.station_id == "CS1"));

    let security = store
        .station_events("CS1", Some("SecurityEventNotification"))
        .await
        .expect("filtered");
    assert_eq!(security.len(), 2);
    assert!(security[0].id < security[1].id);
    assert!(
        store
            .station_events("CS1", Some("DataTransfer"))
            .await
            .expect("none")
            .is_empty()
    );
    assert!(
        store
            .station_events("CS2", None)
            .await
            .expect("none")
            .is_empty()
    );
}

async fn restart_loses_nothing(db: Db) {
    let store = &db.store;
    store
        .register_station(
            "CS1",
            Registration::Accepted,
            Some("secret-password"),
            1_000,
        )
        .await
        .expect("register");
    let boot = BootInfo {
        vendor: "Joule".into(),
        model: "AC-22".into(),
        serial_number: Some("SN".into()),
        firmware_version: None,
    };
    store
        .record_boot("CS1", OcppVersion::V201, &boot, 2_000)
        .await
        .expect("boot");
    store
        .set_connector_status("CS1", &status(1, 1, "Occupied", 2_100))
        .await
        .expect("status");
    let token = TokenRecord {
        id_tag: "TAG".into(),
        status: "Accepted".into(),
        expiry_ms: Some(99_000),
        parent_id_tag: None,
    };
    store.upsert_token(&token).await.expect("token");
    let done = store
        .start_transaction(&v201_start("CS1", "done", 1, 3_000, 10.0))
        .await
        .expect("start");
    store
        .record_transaction_event(done.id, 0, "Started", "Authorized", 3_000, false, "{}")
        .await
        .expect("event");
    store
        .add_meter_values(
            "CS1",
            1,
            1,
            Some(done.id),
            &[sample(3_500, "Energy.Active.Import.Register", "60", None)],
        )
        .await
        .expect("meter");
    store
        .stop_transaction(&stop("CS1", TxRef::Key("done".into()), Some(60.0), 4_000))
        .await
        .expect("stop");
    let running = store
        .start_transaction(&v201_start("CS1", "running", 2, 5_000, 70.0))
        .await
        .expect("start");
    store
        .update_transaction_meter(running.id, 90.0)
        .await
        .expect("meter");
    store
        .add_station_event("CS1", "NotifyEvent", r#"{"seqNo":0}"#, 5_500)
        .await
        .expect("event");

    let snapshot = |store: Store| async move {
        (
            store.stations().await.expect("stations"),
            store.connector_statuses("CS1").await.expect("statuses"),
            store.tokens().await.expect("tokens"),
            store.transactions(None, None).await.expect("transactions"),
            store.meter_values(done.id).await.expect("meter values"),
            store
                .transaction_events(done.id)
                .await
                .expect("transaction events"),
            store
                .station_events("CS1", None)
                .await
                .expect("station events"),
        )
    };
    let before = snapshot(store.clone()).await;
    let reopened = db.reopen().await;
    let after = snapshot(reopened.clone()).await;
    assert_eq!(before, after);
    assert_eq!(after.3.len(), 2);
    assert!(
        reopened
            .verify_password("CS1", "secret-password")
            .await
            .expect("verify")
    );

    // Work carries on where it stopped: retries are still recognized, ids keep counting up.
    let retry = reopened
        .start_transaction(&v201_start("CS1", "running", 2, 5_000, 70.0))
        .await
        .expect("retry");
    assert_eq!(retry.id, running.id);
    let again = reopened
        .stop_transaction(&stop("CS1", TxRef::Key("done".into()), Some(1.0), 6_000))
        .await
        .expect("stop again");
    assert!(matches!(again, StopOutcome::AlreadyStopped(t) if t.energy_wh == 50.0));
    let next = reopened
        .start_transaction(&v16_start("CS1", 3, "TAG", 7_000, 0.0))
        .await
        .expect("start");
    assert!(next.id > running.id);
    reopened.close().await;
}

// Backend-independent checks.

#[tokio::test]
async fn in_memory_sqlite_keeps_data_across_calls() {
    let store = Store::connect("sqlite::memory:").await.expect("memory");
    register(&store, "CS1").await;
    let tx = store
        .start_transaction(&v16_start("CS1", 1, "TAG", 1, 0.0))
        .await
        .expect("start");
    let (a, b) = tokio::join!(store.transaction(tx.id), store.stations());
    assert_eq!(a.expect("tx"), Some(tx));
    assert_eq!(b.expect("stations").len(), 1);
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = Store::connect("mysql://root:hunter2@localhost/db")
        .await
        .expect_err("refused");
    assert!(matches!(&err, StoreError::UnsupportedUrl(scheme) if scheme == "mysql"));
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn transaction_json_uses_api_field_names() {
    let record = TransactionRecord {
        id: 7,
        station_id: "CS1".into(),
        tx_key: Some("k".into()),
        evse_id: 1,
        connector_id: 2,
        id_tag: None,
        meter_start_wh: 10.0,
        meter_last_wh: None,
        meter_stop_wh: Some(25.0),
        energy_wh: 15.0,
        started_ms: 1,
        stopped_ms: Some(2),
        stop_reason: Some("EVDisconnected".into()),
        state: TxState::Completed,
    };
    let json = serde_json::to_value(&record).expect("serialize");
    let expected = serde_json::json!({
        "id": 7, "station": "CS1", "transactionKey": "k", "evseId": 1, "connectorId": 2,
        "idTag": null, "meterStartWh": 10.0, "meterLastWh": null, "meterStopWh": 25.0,
        "energyWh": 15.0, "startedMs": 1, "stoppedMs": 2, "stopReason": "EVDisconnected",
        "state": "completed"
    });
    assert_eq!(json, expected);
}

/// Frequent writes from many connections are committed in batches: each caller still learns its
/// own outcome, a failing write (an unknown station) fails only its caller, and every write of
/// the others is applied.
async fn concurrent_writes_commit_together_and_a_failure_stays_with_its_caller(db: Db) {
    let store = Arc::new(db.store.clone());
    for n in 0..50 {
        register(&store, &format!("CS{n}")).await;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..50_i64 {
        let station = store.clone();
        tasks.spawn(async move {
            let store = station;
            let id = format!("CS{n}");
            store.touch(&id, OcppVersion::V201, 1000 + n).await?;
            store
                .set_connector_status(&id, &status(1, 1, "Available", n))
                .await?;
            let samples = [sample(n, "Energy.Active.Import.Register", "5", None)];
            store.add_meter_values(&id, 1, 1, None, &samples).await?;
            Ok::<_, StoreError>(id)
        });
        let ghost = store.clone();
        tasks.spawn(async move {
            // A foreign-key violation: the batch it lands in is rolled back and applied again
            // write by write.
            ghost
                .set_connector_status("ghost", &status(1, 1, "Available", n))
                .await?;
            Ok("ghost".to_string())
        });
    }
    let (mut done, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(_) => done += 1,
            Err(StoreError::UnknownStation(id)) if id == "ghost" => refused += 1,
            Err(e) => panic!("unexpected failure: {e}"),
        }
    }
    assert_eq!((done, refused), (50, 50));
    for n in 0..50_i64 {
        let id = format!("CS{n}");
        let record = store.station(&id).await.expect("read").expect("registered");
        assert_eq!(record.last_seen_ms, Some(1000 + n), "{id}");
        let statuses = store.connector_statuses(&id).await.expect("statuses");
        assert_eq!(statuses.len(), 1, "{id}");
    }
}
