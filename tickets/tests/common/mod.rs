//! Runs each store test body on a fresh SQLite file and on a fresh
//! PostgreSQL database (from `GUICHET_TEST_POSTGRES_URL`). Without that
//! variable the PostgreSQL half is skipped with a notice, unless `CI=true`,
//! where it is a failure.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use guichet_tickets::Store;
use sqlx::Connection;

pub struct TestDb {
    pub store: Store,
    pub label: &'static str,
    /// The URL the store was opened with (for a second process).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = self.pg {
            // Best effort: a leftover database is dropped by the next run anyway.
            pg_cleanup::drop_test_database(&admin_url, &name).await;
        }
    }
}

#[path = "../../../tests/pg_cleanup/mod.rs"]
pub mod pg_cleanup;

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Fresh databases for one test: SQLite always, PostgreSQL when configured.
pub async fn databases(test: &str) -> Vec<TestDb> {
    let mut out = vec![sqlite_database().await];
    out.extend(postgres_database(test).await);
    out
}

/// A fresh SQLite database in a temporary directory.
pub async fn sqlite_database() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("guichet.db").display());
    let store = Store::open(&url).await.expect("open sqlite");
    TestDb {
        store,
        label: "sqlite",
        url,
        _dir: Some(dir),
        pg: None,
    }
}

/// A fresh PostgreSQL database, or `None` (with a notice) when
/// `GUICHET_TEST_POSTGRES_URL` is unset outside CI.
pub async fn postgres_database(test: &str) -> Option<TestDb> {
    let admin_url = match std::env::var("GUICHET_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => admin_url,
        _ => {
            assert!(
                !in_ci(),
                "CI=true but GUICHET_TEST_POSTGRES_URL is not set: the PostgreSQL half of the store tests cannot run"
            );
            println!("notice: GUICHET_TEST_POSTGRES_URL unset, {test} skips PostgreSQL");
            return None;
        }
    };
    let name = format!(
        "guichet_t_{}_{}_{}",
        test.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(30)
            .collect::<String>(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
    .to_lowercase();
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => panic!("PostgreSQL at GUICHET_TEST_POSTGRES_URL unreachable: {e}"),
    };
    pg_cleanup::drop_stale_test_databases(&mut admin).await;
    pg_cleanup::drop_database(&mut admin, &name).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let db_url = replace_db(&admin_url, &name);
    let store = Store::open(&db_url).await.expect("open postgres");
    Some(TestDb {
        store,
        label: "postgres",
        url: db_url,
        _dir: None,
        pg: Some((admin_url, name)),
    })
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let cut = base.rfind('/').unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..cut], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Declares a module of two tokio tests, `$name::sqlite` and `$name::postgres`, each running
/// `$body` (an async block using `$store`) on a fresh database of that backend, so the test
/// output itself shows which backend every store test ran on. Without
/// `GUICHET_TEST_POSTGRES_URL` the `postgres` test prints a notice and passes, except under
/// `CI=true`, where it fails.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = common::sqlite_database().await;
                let $store = db.store.clone();
                $body;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = common::postgres_database(stringify!($name)).await {
                    let $store = db.store.clone();
                    $body;
                    db.cleanup().await;
                }
            }
        }
    };
}

pub fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&chrono::Utc)
}
