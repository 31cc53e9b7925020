//! Test harness: a fresh database per test (created on the server named by `DATABASE_URL`,
//! dropped when the test ends; a migrated one is a copy of the migrated template, see
//! `tests/support/template_db.rs`), and the real application serving on a random port.

use std::collections::HashMap;

use actix_web::dev::ServerHandle;
use gatehouse::config::Settings;
use gatehouse::db::{self, Pool};
use gatehouse::startup::Application;
use tokio_postgres::NoTls;

use crate::template_db::{self, url_with_db};

/// The server tests create their databases on; any database on it works as the admin connection.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), NoTls)
        .await
        .expect("tests need a reachable PostgreSQL at DATABASE_URL");
    tokio::spawn(connection);
    client
}

/// A database of its own for one test, dropped (with its connections) when this value drops.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// An empty database: no migrations applied.
    pub async fn empty() -> Self {
        Self::create(|name| format!("CREATE DATABASE {name}")).await
    }

    /// A database with every migration applied: a copy of the migrated template (built by the
    /// first test of the run that needs it, if no earlier run left it for these migrations).
    pub async fn migrated() -> Self {
        let template =
            tokio::task::spawn_blocking(|| template_db::migrated_template(&server_url()))
                .await
                .expect("join");
        Self::create(|name| template.create_sql(name)).await
    }

    async fn create(sql: impl FnOnce(&str) -> String) -> Self {
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        admin_client()
            .await
            .batch_execute(&sql(&name))
            .await
            .expect("create test database");
        let url = url_with_db(&server_url(), &name);
        TestDb { name, url }
    }

    /// A plain connection for arranging and inspecting rows.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect to test database");
        tokio::spawn(connection);
        client
    }

    /// Drops the database now, cutting every connection to it (an outage, as the app sees it).
    pub async fn drop_now(&self) {
        admin_client()
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop test database");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&server_url(), NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&sql).await;
                }
            });
        })
        .join();
    }
}

/// Settings as the app would read them, for a test database and a random port.
pub fn test_settings(db_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", db_url),
        ("BIND", "127.0.0.1:0"),
        ("WORKERS", "1"),
        (
            "SECRET_KEY",
            "test-secret-key-that-is-long-enough-0123456789",
        ),
        ("DATABASE_CONNECT_TIMEOUT_SECONDS", "2"),
        ("DATABASE_POOL_TIMEOUT_SECONDS", "2"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_map(&env).expect("test settings are valid")
}

pub struct TestApp {
    pub address: String,
    pub pool: Pool,
    pub client: reqwest::Client,
    handle: ServerHandle,
    // Declared last: dropped after the server is told to stop.
    pub db: TestDb,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request reaches the app")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the runtime ending with the test finishes the job.
        drop(self.handle.stop(false));
    }
}

/// A client as a browser of its own: keeps its cookies, follows no redirect (tests assert them).
pub fn new_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

/// The app, migrated and serving on 127.0.0.1 with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let db = TestDb::migrated().await;
    let settings = test_settings(&db.url, overrides);
    spawn_app_on(db, settings)
}

/// The app with settings of the test's own making for `db` (e.g. reaching it through a proxy).
pub fn spawn_app_on(db: TestDb, settings: Settings) -> TestApp {
    let listener = std::net::TcpListener::bind(settings.bind).expect("bind 127.0.0.1:0");
    spawn_app_on_listener(db, settings, listener)
}

/// The app on a listener bound beforehand (settings that name the app's own port).
pub fn spawn_app_on_listener(
    db: TestDb,
    settings: Settings,
    listener: std::net::TcpListener,
) -> TestApp {
    let pool = db::build_pool(&settings.database);
    let app = Application::build_on(listener, settings, pool.clone()).expect("serve");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = new_browser();
    TestApp {
        address,
        pool,
        client,
        handle,
        db,
    }
}
