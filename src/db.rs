//! Connection pool, embedded migrations, and the mapping of database failures.

use std::sync::LazyLock;
use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{self, Pool as DeadPool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type Pool = DeadPool<AsyncPgConnection>;
pub type Connection = deadpool::Object<AsyncPgConnection>;

/// Why the database could not be used. Pool exhaustion and lost connections are the
/// "database unavailable" family (503); everything else is a real server fault.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

impl DbError {
    /// A query error that means the connection went away (server restart, network) rather than a
    /// bad statement.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) => true,
            DbError::Query(diesel::result::Error::DatabaseError(kind, info)) => {
                use diesel::result::DatabaseErrorKind::{ClosedConnection, UnableToSendCommand};
                // Errors without an SQLSTATE (socket closed, I/O) come as `UnableToSendCommand`;
                // a restarting server sends SQLSTATE class 57P, which diesel does not map, so its
                // messages are recognised instead.
                matches!(kind, ClosedConnection | UnableToSendCommand)
                    || SERVER_GOING_AWAY.iter().any(|m| info.message().contains(m))
            }
            DbError::Query(_) => false,
        }
    }
}

/// Messages of SQLSTATE 57P01–57P03 and 53300: the server is stopping, starting or full.
const SERVER_GOING_AWAY: &[&str] = &[
    "connection closed",
    "terminating connection due to",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "too many clients already",
    "remaining connection slots are reserved",
];

/// Connection parameters beyond the URL: an application name for `pg_stat_activity`, a connect
/// timeout, and a statement timeout so one slow query cannot pin a pooled connection forever.
fn connection_config(
    url: &str,
    settings: &DatabaseSettings,
) -> Result<tokio_postgres::Config, ConnectionError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| ConnectionError::BadConnection(format!("invalid DATABASE_URL: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("gatehouse");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.connect_timeout);
    }
    let statement_ms = settings.statement_timeout.as_millis();
    let options = match config.get_options() {
        Some(existing) => format!("{existing} -c statement_timeout={statement_ms}"),
        None => format!("-c statement_timeout={statement_ms}"),
    };
    config.options(&options);
    Ok(config)
}

/// The runtime every pooled connection's socket and driver task live on. A connection made on an
/// actix worker dies with that worker's runtime, and at shutdown workers stop one by one while
/// others still finish requests with connections the pool handed them: those requests failed with
/// 503 until connections got a runtime that outlives every worker. `None` only if the OS refuses
/// a thread; connections are then made on the caller's runtime as before.
static CONNECTION_RUNTIME: LazyLock<Option<tokio::runtime::Handle>> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("gatehouse-db".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .ok()?;
    Some(handle)
});

async fn establish_on_connection_runtime(
    url: String,
    settings: DatabaseSettings,
) -> Result<AsyncPgConnection, ConnectionError> {
    match CONNECTION_RUNTIME.as_ref() {
        Some(runtime) => runtime
            .spawn(establish(url, settings))
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?,
        None => establish(url, settings).await,
    }
}

async fn establish(
    url: String,
    settings: DatabaseSettings,
) -> Result<AsyncPgConnection, ConnectionError> {
    let config = connection_config(&url, &settings)?;
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// Builds the pool. No connection is made here: the app starts even while Postgres is down and
/// `/readyz` reports it.
pub fn build_pool(settings: &DatabaseSettings) -> Pool {
    let mut manager_config = ManagerConfig::default();
    // `Verified` would add a `SELECT 1` round trip to every checkout; a dead connection is caught
    // by `is_broken` (closed socket) and the request that hits it gets a 503.
    manager_config.recycling_method = RecyclingMethod::Fast;
    let setup_settings = settings.clone();
    manager_config.custom_setup = Box::new(move |url| {
        establish_on_connection_runtime(url.to_owned(), setup_settings.clone()).boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        settings.url.expose_secret(),
        manager_config,
    );
    DeadPool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(settings.pool_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .runtime(::deadpool::Runtime::Tokio1)
        .build()
        // Only fails when a timeout is set without a runtime, which is set just above.
        .expect("pool configuration is static")
}

/// Gets a pooled connection, mapping every pool failure to [`DbError::Unavailable`].
pub async fn connection(pool: &Pool) -> Result<Connection, DbError> {
    Ok(pool.get().await?)
}

/// Round trip to the database, bounded by `timeout` (for `/readyz`).
pub async fn ping(pool: &Pool, timeout: Duration) -> Result<(), DbError> {
    use diesel_async::RunQueryDsl;
    let check = async {
        let mut conn = connection(pool).await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok::<_, DbError>(())
    };
    match tokio::time::timeout(timeout, check).await {
        Ok(result) => result,
        Err(_) => Err(DbError::Unavailable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// `word` with LIKE's special characters escaped: matched literally.
pub fn like_escape(word: &str) -> String {
    word.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// `%word%` for ILIKE: contains `word`, literally.
pub fn like_pattern(word: &str) -> String {
    format!("%{}%", like_escape(word))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MigrationError(String);

type Harness = AsyncConnectionWrapper<AsyncPgConnection>;

/// Runs `work` on a connection of its own, on a thread of its own: diesel's migration harness is
/// synchronous, and its async wrapper must not run inside an actix worker's single-threaded runtime.
fn with_sync_connection<T: Send + 'static>(
    url: &str,
    work: impl FnOnce(&mut Harness) -> Result<T, MigrationError> + Send + 'static,
) -> Result<T, MigrationError> {
    use diesel::Connection as _;
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut conn = Harness::establish(&url)
            .map_err(|e| MigrationError(format!("cannot connect to the database: {e}")))?;
        work(&mut conn)
    })
    .join()
    .map_err(|_| MigrationError("the migration thread panicked".into()))?
}

/// Creates the database named by `url` when it does not exist yet, so `gatehouse serve` works
/// against a bare Postgres server. Returns whether it was created. Needs CREATEDB rights only when
/// the database is missing.
pub fn create_database_if_missing(url: &str) -> Result<bool, MigrationError> {
    let mut target: tokio_postgres::Config = url
        .parse()
        .map_err(|e| MigrationError(format!("invalid DATABASE_URL: {e}")))?;
    let Some(name) = target.get_dbname().map(str::to_owned) else {
        return Err(MigrationError("DATABASE_URL names no database".into()));
    };
    // The maintenance database every Postgres server has.
    target.dbname("postgres");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MigrationError(e.to_string()))?;
        runtime.block_on(async move {
            let (client, connection) =
                target.connect(tokio_postgres::NoTls).await.map_err(|e| {
                    MigrationError(format!("cannot connect to the database server: {e}"))
                })?;
            tokio::spawn(connection);
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .map_err(|e| MigrationError(e.to_string()))?
                .is_some();
            if exists {
                return Ok(false);
            }
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            client
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await
                .map_err(|e| MigrationError(format!("cannot create database {quoted}: {e}")))?;
            Ok(true)
        })
    })
    .join()
    .map_err(|_| MigrationError("the database thread panicked".into()))?
}

/// Applies pending migrations; returns the versions applied (empty when up to date).
pub fn run_migrations(url: &str) -> Result<Vec<String>, MigrationError> {
    with_sync_connection(url, |conn| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| MigrationError(format!("migration failed: {e}")))
    })
}

/// Reverts every applied migration, newest first (used by `gatehouse migrate --revert-all` and
/// the migration tests).
pub fn revert_all_migrations(url: &str) -> Result<Vec<String>, MigrationError> {
    with_sync_connection(url, |conn| {
        conn.revert_all_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| MigrationError(format!("revert failed: {e}")))
    })
}

/// Migrations known to the binary and whether each is applied.
pub fn migration_status(url: &str) -> Result<Vec<(String, bool)>, MigrationError> {
    use diesel::migration::MigrationSource;
    with_sync_connection(url, |conn| {
        let applied = conn
            .applied_migrations()
            .map_err(|e| MigrationError(format!("cannot read applied migrations: {e}")))?;
        let known = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
            .map_err(|e| MigrationError(e.to_string()))?;
        Ok(known
            .iter()
            .map(|m| {
                let name = m.name().to_string();
                let version = m.name().version();
                (name, applied.contains(&version))
            })
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_literal() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_escape("a_b"), "a\\_b");
    }

    fn db_error(kind: diesel::result::DatabaseErrorKind, message: &str) -> DbError {
        DbError::Query(diesel::result::Error::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn a_restarting_server_is_unavailable_not_a_fault() {
        use diesel::result::DatabaseErrorKind::*;
        for (kind, message) in [
            (
                Unknown,
                "terminating connection due to administrator command",
            ),
            (Unknown, "the database system is shutting down"),
            (Unknown, "the database system is starting up"),
            (
                UnableToSendCommand,
                "error communicating with the server: Broken pipe",
            ),
            (ClosedConnection, "closed"),
        ] {
            assert!(db_error(kind, message).is_unavailable(), "{message}");
        }
        assert!(DbError::Unavailable("pool timed out".into()).is_unavailable());
        for (kind, message) in [
            (
                UniqueViolation,
                "duplicate key value violates unique constraint",
            ),
            (Unknown, "syntax error at or near \"SELEC\""),
        ] {
            assert!(!db_error(kind, message).is_unavailable(), "{message}");
        }
        assert!(!DbError::Query(diesel::result::Error::NotFound).is_unavailable());
    }
}
