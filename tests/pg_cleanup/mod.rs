//! Drops the PostgreSQL databases that earlier test processes created and
//! left behind, shared by the test suites of every crate through `#[path]`.
//!
//! Every test database is named `guichet_e2e_<name>_<pid>_<n>` (end-to-end
//! tests) or `guichet_t_<test>_<pid>_<n>` (store tests). A test that panics,
//! or a run that is killed, never reaches its own cleanup, so without this
//! hundreds of databases piled up (gigabytes). Before a process creates its
//! first database it drops those whose creating process is gone
//! (`/proc/<pid>` absent); databases of a run still going on are left alone.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection as _;

/// Name prefixes of the databases the test suites create.
const PREFIXES: [&str; 2] = ["guichet_e2e_", "guichet_t_"];

static SWEPT: AtomicBool = AtomicBool::new(false);

/// The process id embedded in a test database name: the next-to-last
/// `_`-separated field (the test name before it may itself hold `_`).
pub fn creator_pid(database: &str) -> Option<u32> {
    if !PREFIXES.iter().any(|p| database.starts_with(p)) {
        return None;
    }
    let mut fields = database.rsplitn(3, '_');
    let _counter = fields.next()?;
    fields.next()?.parse().ok()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Once per process: drops (best effort, errors ignored) every test database
/// whose creating process no longer runs. `conn` is an administrative
/// connection to a database other than the ones dropped.
pub async fn drop_stale_test_databases(conn: &mut sqlx::PgConnection) {
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    sweep_stale_test_databases(conn).await;
}

/// Drops every test database whose creating process no longer runs, each
/// time it is called (tests call it directly; suites go through
/// [`drop_stale_test_databases`]).
pub async fn sweep_stale_test_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> = match sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'guichet\\_e2e\\_%' OR datname LIKE 'guichet\\_t\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    {
        Ok(names) => names,
        Err(_) => return,
    };
    for name in names {
        let stale = creator_pid(&name).is_some_and(|pid| !process_alive(pid));
        if stale {
            drop_database(conn, &name).await;
        }
    }
}

/// Drops one test database (best effort), for a test that is done with it.
pub async fn drop_test_database(admin_url: &str, database: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        drop_database(&mut conn, database).await;
    }
}

/// `DROP DATABASE … WITH (FORCE)`, ending its sessions; errors are ignored
/// (another process may have dropped it first).
pub async fn drop_database(conn: &mut sqlx::PgConnection, database: &str) {
    let quoted = database.replace('"', "\"\"");
    let statement = format!("DROP DATABASE IF EXISTS \"{quoted}\" WITH (FORCE)");
    let _ = sqlx::query(&statement).execute(&mut *conn).await;
}
