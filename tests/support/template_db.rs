//! The migrated template database that tests and benchmarks clone (`CREATE DATABASE … TEMPLATE`)
//! instead of running every migration on a fresh database each time. Shared by `tests/api` and
//! `benches/` through `#[path]`.
//!
//! - The template is named from a digest of everything under `migrations/`
//!   (`gatehouse_tpl_<16 hex>`): a changed, added or removed migration means a new template, and a
//!   template built from other migrations is never cloned.
//! - It is looked for, and built when missing, once per process, under a session-level advisory
//!   lock on the server, so concurrent test processes (and concurrent tests) build it once.
//! - It is built as `<name>_new` and renamed into place only when migrated and closed, so a build
//!   that dies midway leaves no template behind (the next build drops the leftover).
//! - It is marked `IS_TEMPLATE` with `ALLOW_CONNECTIONS false`: nobody can connect to it, so no
//!   open connection can make a clone fail and no test can change it.
//! - Each process that uses a template notes the time in the template's comment; templates of
//!   other migrations that no process has used for a week are dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::{Client, NoTls};

/// The advisory lock (`pg_advisory_lock`) held while a process looks for, builds or prunes
/// templates: "gatetpl1".
const LOCK_KEY: i64 = 0x6761_7465_7470_6c31;
const PREFIX: &str = "gatehouse_tpl_";
/// Bumped when the way a template is built changes, so templates built the old way are not used.
const BUILD_VERSION: &str = "1";
/// Templates of other migrations unused this long are dropped.
const UNUSED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// A migrated template on the server, ready to be cloned.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    /// `STRATEGY FILE_COPY` on PostgreSQL 15 and later; empty before (file copy is all there is).
    strategy: &'static str,
}

impl Template {
    /// The statement that creates database `db` as a copy of this template.
    pub fn create_sql(&self, db: &str) -> String {
        format!(
            "CREATE DATABASE {db} TEMPLATE {}{}",
            self.name, self.strategy
        )
    }
}

/// `name` on the server of `base`.
pub fn url_with_db(base: &str, name: &str) -> String {
    let mut url = url::Url::parse(base).expect("DATABASE_URL is a URL");
    url.set_path(name);
    url.to_string()
}

/// SHA-256 (first 8 bytes, hex) of the relative path and contents of every file under
/// `migrations/`, in path order, and of [`BUILD_VERSION`].
pub fn migrations_digest() -> String {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(BUILD_VERSION.as_bytes());
    for file in files {
        let relative = file.strip_prefix(&root).expect("under migrations/");
        let contents = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for part in [relative.to_string_lossy().as_bytes(), &contents] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part);
        }
    }
    ctx.finish().as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The template for the current `migrations/`, built on the server of `server_url` first if it is
/// not there yet. Blocks (once per process; later calls return at once): call it from
/// `spawn_blocking` inside a runtime.
pub fn migrated_template(server_url: &str) -> Template {
    static READY: OnceLock<Template> = OnceLock::new();
    READY
        .get_or_init(|| {
            let server_url = server_url.to_owned();
            // A runtime of its own on a thread of its own: callers may be on any runtime, or none.
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(ensure(&server_url))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
        .clone()
}

async fn ensure(server_url: &str) -> Template {
    let name = format!("{PREFIX}{}", migrations_digest());
    let (client, connection) = tokio_postgres::connect(server_url, NoTls)
        .await
        .expect("tests need a reachable PostgreSQL at DATABASE_URL");
    tokio::spawn(connection);
    // Held until this connection closes, whatever happens below.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .expect("take the template lock");

    if !exists(&client, &name).await {
        build(&client, server_url, &name).await;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {name} IS 'gatehouse test template; last used {now}'"
        ))
        .await
        .expect("note the template's use");
    prune(&client, &name, now).await;

    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .expect("server version")
        .get(0);
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .expect("release the template lock");
    Template {
        name,
        strategy: if version >= 150_000 {
            " STRATEGY FILE_COPY"
        } else {
            ""
        },
    }
}

async fn exists(client: &Client, name: &str) -> bool {
    client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("look for a database")
        .is_some()
}

/// Migrates `<name>_new`, closes it to connections and renames it to `name`: the template exists
/// under its name only once complete.
async fn build(client: &Client, server_url: &str, name: &str) {
    let building = format!("{name}_new");
    // Left by a build that died midway (nobody else is building: we hold the lock).
    drop_database(client, &building).await;
    client
        .batch_execute(&format!("CREATE DATABASE {building}"))
        .await
        .expect("create the template database");
    gatehouse::db::run_migrations(&url_with_db(server_url, &building))
        .expect("migrations apply to the template");
    client
        .batch_execute(&format!(
            "ALTER DATABASE {building} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
        ))
        .await
        .expect("mark the template");
    // The migration's connection is closed; its server process may still be on its way out.
    // RENAME waits a few seconds for other sessions to leave, then fails.
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&building],
        )
        .await
        .expect("close connections to the template");
    client
        .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
        .await
        .expect("rename the template into place");
}

/// Drops unfinished builds and the templates of other migrations that no process has used for
/// [`UNUSED_FOR`].
async fn prune(client: &Client, current: &str, now: u64) {
    let rows = client
        .query(
            "SELECT datname::text, coalesce(shobj_description(oid, 'pg_database'), '') \
             FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2",
            &[&PREFIX, &current],
        )
        .await
        .expect("list templates");
    for row in rows {
        let (db, comment): (String, String) = (row.get(0), row.get(1));
        let last_used = comment
            .rsplit_once("last used ")
            .and_then(|(_, secs)| secs.parse::<u64>().ok());
        let stale = match last_used {
            _ if db.ends_with("_new") => true,
            Some(secs) => now.saturating_sub(secs) > UNUSED_FOR.as_secs(),
            None => true,
        };
        if stale {
            drop_database(client, &db).await;
        }
    }
}

async fn drop_database(client: &Client, db: &str) {
    if exists(client, db).await {
        // A template cannot be dropped; DROP DATABASE cannot share a (multi-statement) query.
        for sql in [
            format!("ALTER DATABASE {db} IS_TEMPLATE false"),
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        ] {
            client
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}
