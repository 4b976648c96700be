//! The store handle: connection pools for SQLite or PostgreSQL, migrations,
//! and the small helpers every table module shares.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is neither `sqlite://…` nor `postgres://…`.
    #[error("unsupported database URL scheme in {0:?} (expected sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row the caller named does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// Kind of row ("call", "ticket"…).
        what: &'static str,
        /// Its identifier.
        id: i64,
    },
    /// A ticket transition that the lifecycle forbids.
    #[error("illegal ticket transition from {from} to {to}")]
    IllegalTransition {
        /// Status before.
        from: crate::ticket::TicketStatus,
        /// Status asked for.
        to: crate::ticket::TicketStatus,
    },
    /// Input that fails validation; the message names the field (in French,
    /// it is shown to agents).
    #[error("champ {field} : {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A stored value could not be read back (corrupt or foreign data).
    #[error("stored value {column} is invalid: {value:?}")]
    Corrupt {
        /// Column name.
        column: &'static str,
        /// Raw value.
        value: String,
    },
    /// CSV reading or writing failed.
    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
    /// XLSX writing failed.
    #[error("XLSX error: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// I/O failed while exporting.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether the database refused a row because another one already holds the same
    /// unique value (a name, a login…): the caller's input clashes, the store is fine.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }

    /// Whether the database refused a row naming another one that does not exist (an
    /// unknown group, person… id given by the caller).
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation())
    }
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Cheaply cloneable handle on the database.
///
/// Writes go through `writer` (a single connection on SQLite, so there is
/// exactly one writer path and no `SQLITE_BUSY` between our own writers);
/// reads go through `reader`. On PostgreSQL both are the same pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Busy timeout for SQLite: how long a connection waits on a lock (e.g. a
/// checkpoint or an external `sqlite3` shell) before failing.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

impl Store {
    /// Opens (and for SQLite creates) the database at `url` and applies the
    /// embedded migrations.
    ///
    /// `sqlite://path/to/file.db` (or `sqlite:path`) and
    /// `postgres://user:password@host:port/db` (or `postgresql://`) are accepted.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            let url = if url.contains("mode=") || url.contains(":memory:") {
                url.to_owned()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            let pragmas = format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};"
            );
            let writer_pragmas = pragmas.clone();
            let writer = AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _meta| {
                    let pragmas = writer_pragmas.clone();
                    Box::pin(async move {
                        conn.execute(pragmas.as_str()).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?;
            SQLITE_MIGRATIONS.run(&writer).await?;
            if url.contains(":memory:") || url.contains("mode=memory") {
                // Each connection to an in-memory database sees its own empty
                // database: reads must share the single writer connection.
                return Ok(Store {
                    reader: writer.clone(),
                    writer,
                    backend: Backend::Sqlite,
                });
            }
            let reader = AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(move |conn, _meta| {
                    let pragmas = pragmas.clone();
                    Box::pin(async move {
                        conn.execute(pragmas.as_str()).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?;
            Store {
                writer,
                reader,
                backend: Backend::Sqlite,
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Store {
                writer: pool.clone(),
                reader: pool,
                backend: Backend::Postgres,
            }
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        tracing::info!(backend = %store.backend, "store opened, migrations applied");
        Ok(store)
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for in-flight statements).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Appends one entry to the event journal (who, when, what, old, new).
    pub async fn journal(&self, entry: &JournalEntry) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO journal (at, actor, action, subject, old_value, new_value) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(to_ms(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.subject)
        .bind(&entry.old_value)
        .bind(&entry.new_value)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Journal entries in `[from, to)`, oldest first.
    pub async fn journal_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, subject, old_value, new_value FROM journal \
             WHERE at >= $1 AND at < $2 ORDER BY at, id",
        )
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JournalEntry {
                    at: from_ms(r.try_get(0)?),
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    subject: r.try_get(3)?,
                    old_value: r.try_get(4)?,
                    new_value: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Records a login attempt (success or failure) in the security log.
    pub async fn log_security_event(&self, event: &SecurityEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO security_log (at, login, event, success, remote_addr, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(to_ms(event.at))
        .bind(&event.login)
        .bind(&event.event)
        .bind(event.success)
        .bind(&event.remote_addr)
        .bind(&event.detail)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Security log entries for one login, newest first.
    pub async fn security_events_for(&self, login: &str) -> Result<Vec<SecurityEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, login, event, success, remote_addr, detail FROM security_log \
             WHERE login = $1 ORDER BY at DESC, id DESC",
        )
        .bind(login)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SecurityEvent {
                    at: from_ms(r.try_get(0)?),
                    login: r.try_get(1)?,
                    event: r.try_get(2)?,
                    success: get_bool(r, 3)?,
                    remote_addr: r.try_get(4)?,
                    detail: r.try_get(5)?,
                })
            })
            .collect()
    }
}

/// One entry of the event journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it (login, or `system`).
    pub actor: String,
    /// What was done (`message.save`, `agent.create`…).
    pub action: String,
    /// What it was done to (`message:8585:crisis`…).
    pub subject: String,
    /// Value before, if any (free text or JSON).
    pub old_value: Option<String>,
    /// Value after, if any.
    pub new_value: Option<String>,
}

/// One login or security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Login tried.
    pub login: String,
    /// Kind (`login`, `logout`, `password_change`…).
    pub event: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Remote address, if known.
    pub remote_addr: Option<String>,
    /// Free detail.
    pub detail: Option<String>,
}

/// Hides the password of a URL before it goes into an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Instants are stored as milliseconds since the Unix epoch (UTC) in both
/// dialects, so comparisons and bucketing are identical everywhere.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_ms)
}

pub(crate) fn get_opt_time(row: &AnyRow, idx: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(idx)?.map(from_ms))
}

/// Booleans come back as BOOLEAN from PostgreSQL and from declared SQLite
/// columns, but as integers from SQLite expressions: accept both.
pub(crate) fn get_bool(row: &AnyRow, idx: usize) -> Result<bool, StoreError> {
    match row.try_get::<bool, _>(idx) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(idx)? != 0),
    }
}

/// Parses a stored enum column.
pub(crate) fn parse_col<T: FromStr>(column: &'static str, value: String) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt { column, value })
}
