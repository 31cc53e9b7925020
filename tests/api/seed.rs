//! `gatehouse seed --users N`: exactly N users, unique and realistic, idempotent.

use std::process::{Command, Stdio};

use gatehouse::db;
use gatehouse::seed::seed_users;

use crate::helpers::{TestDb, test_settings};

async fn scalar(db: &TestDb, sql: &str) -> i64 {
    db.client().await.query_one(sql, &[]).await.unwrap().get(0)
}

async fn seed(db: &TestDb, n: i64) -> gatehouse::seed::SeedReport {
    let pool = db::build_pool(&test_settings(&db.url, &[]).database);
    let mut conn = db::connection(&pool).await.unwrap();
    seed_users(&mut conn, n, &mut |_| {}).await.unwrap()
}

#[actix_web::test]
async fn seeds_exactly_n_unique_users_and_only_the_missing_ones_on_a_rerun() {
    let db = TestDb::migrated().await;

    let first = seed(&db, 2500).await;

    assert_eq!(
        (first.existing, first.inserted, first.skipped),
        (0, 2500, 0)
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM users").await, 2500);
    assert_eq!(
        scalar(&db, "SELECT count(DISTINCT email) FROM users").await,
        2500
    );
    assert_eq!(
        scalar(&db, "SELECT count(DISTINCT lower(username)) FROM users").await,
        2500
    );
    // Shaped like a real user base: mostly active Cognito users, a few staff, valid emails.
    let inactive = scalar(&db, "SELECT count(*) FROM users WHERE NOT is_active").await;
    assert!(
        (50..=250).contains(&inactive),
        "about 5% inactive: {inactive}"
    );
    let cognito = scalar(
        &db,
        "SELECT count(*) FROM users WHERE cognito_sub IS NOT NULL",
    )
    .await;
    assert!(
        (1900..=2350).contains(&cognito),
        "about 85% Cognito: {cognito}"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM users WHERE email !~ '^[a-z]+\\.[a-z]+[0-9]+@[a-z.]+$' \
             OR password_hash IS NOT NULL OR first_name = '' OR created_at > now()"
        )
        .await,
        0
    );
    // Ids are UUIDv7 of the sign-up time.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM users WHERE substr(id::text, 15, 1) <> '7' \
             OR abs(extract(epoch FROM created_at) * 1000 \
                    - ('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint) > 1"
        )
        .await,
        0
    );

    let again = seed(&db, 2500).await;
    assert_eq!((again.existing, again.inserted), (2500, 0));
    let more = seed(&db, 3000).await;
    assert_eq!((more.existing, more.inserted), (2500, 500));
    assert_eq!(scalar(&db, "SELECT count(*) FROM users").await, 3000);
}

#[actix_web::test]
async fn a_taken_username_is_skipped_and_reported() {
    let db = TestDb::migrated().await;
    // Learn the name seeded user 11 gets (the newest), then give it to someone else.
    let client = db.client().await;
    let report = seed(&db, 11).await;
    assert_eq!(report.inserted, 11);
    let name: String = client
        .query_one(
            "SELECT username FROM users ORDER BY created_at DESC, id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "DELETE FROM users; INSERT INTO users (id, username) VALUES (gen_random_uuid(), '{}')",
            name.to_uppercase()
        ))
        .await
        .unwrap();

    let report = seed(&db, 11).await;

    assert_eq!(
        (report.existing, report.inserted, report.skipped),
        (0, 10, 1)
    );
}

#[actix_web::test]
async fn the_command_loads_a_big_batch_and_rebuilds_the_indexes_it_dropped() {
    let db = TestDb::migrated().await;
    let indexes = "SELECT string_agg(pg_get_indexdef(indexrelid), ';' ORDER BY indexrelid::regclass::text) \
                   FROM pg_index WHERE indrelid = 'users'::regclass";
    let client = db.client().await;
    let before: String = client.query_one(indexes, &[]).await.unwrap().get(0);

    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["seed", "--users", "60000"])
            .env_clear()
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("60000 inserted") && stdout.contains("indexes rebuilt"),
        "{stdout}"
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM users").await, 60000);
    let after: String = client.query_one(indexes, &[]).await.unwrap().get(0);
    assert_eq!(before, after, "every index is back, as it was");
    // Analysed: the planner knows the table's size.
    let estimate: f32 = client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE relname = 'users'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!((59_000.0..=61_000.0).contains(&estimate), "{estimate}");
}

#[actix_web::test]
async fn the_command_refuses_a_count_out_of_range() {
    let db = TestDb::migrated().await;
    for n in ["0", "-5", "many", "100000001"] {
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["seed", "--users", n])
            .env_clear()
            .env("DATABASE_URL", &db.url)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--users {n}");
    }
    assert_eq!(scalar(&db, "SELECT count(*) FROM users").await, 0);
}
