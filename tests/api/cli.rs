//! The real `gatehouse` binary: createsuperuser, changepassword, serve, and configuration errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gatehouse::auth::password::verify_password;
use secrecy::SecretString;

use crate::helpers::TestDb;

/// The binary with a clean environment and a working directory without a `.env`.
fn gatehouse(db_url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env_clear()
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null());
    cmd
}

async fn run(mut cmd: Command, stdin: &str) -> Output {
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gatehouse");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Row {
    email: String,
    hash: Option<String>,
    staff: bool,
    superuser: bool,
    active: bool,
    epoch: i32,
}

async fn users(db: &TestDb, username: &str) -> Vec<Row> {
    db.client()
        .await
        .query(
            "SELECT email::text, password_hash, is_staff, is_superuser, is_active, session_epoch \
             FROM users WHERE lower(username) = lower($1)",
            &[&username],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| Row {
            email: r.get(0),
            hash: r.get(1),
            staff: r.get(2),
            superuser: r.get(3),
            active: r.get(4),
            epoch: r.get(5),
        })
        .collect()
}

const GOOD_PASSWORD: &str = "tangerine-orbit-42";

#[actix_web::test]
async fn createsuperuser_from_flags_and_env_then_refuses_a_duplicate() {
    let db = TestDb::migrated().await;
    let mut cmd = gatehouse(
        &db.url,
        &[
            "createsuperuser",
            "--no-input",
            "--username",
            "Admin",
            "--email",
            "Admin@Example.COM",
        ],
    );
    cmd.env("GATEHOUSE_SUPERUSER_PASSWORD", GOOD_PASSWORD);

    let out = run(cmd, "").await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Superuser \"Admin\" created"));
    let rows = users(&db, "admin").await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.email, "admin@example.com");
    assert!(row.staff && row.superuser && row.active);
    let hash = row.hash.as_deref().unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(verify_password(&SecretString::from(GOOD_PASSWORD), hash));

    let mut again = gatehouse(
        &db.url,
        &["createsuperuser", "--no-input", "--username", "ADMIN"],
    );
    again.env("GATEHOUSE_SUPERUSER_PASSWORD", "another-fine-passphrase");
    let out = run(again, "").await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("A user with the username \"ADMIN\" already exists."),
        "{err}"
    );
    assert_eq!(users(&db, "admin").await.len(), 1);
}

#[actix_web::test]
async fn createsuperuser_no_input_refuses_a_weak_password_and_a_missing_one() {
    let db = TestDb::migrated().await;
    let mut weak = gatehouse(
        &db.url,
        &["createsuperuser", "--no-input", "--username", "ops"],
    );
    weak.env("GATEHOUSE_SUPERUSER_PASSWORD", "12345678901");

    let out = run(weak, "").await;
    let missing = run(
        gatehouse(
            &db.url,
            &["createsuperuser", "--no-input", "--username", "ops"],
        ),
        "",
    )
    .await;

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("This password is too common."),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("entirely numeric"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("GATEHOUSE_SUPERUSER_PASSWORD"));
    assert!(users(&db, "ops").await.is_empty());
}

#[actix_web::test]
async fn createsuperuser_asks_again_until_the_answers_are_valid() {
    let db = TestDb::migrated().await;
    TestDb::client(&db)
        .await
        .execute(
            "INSERT INTO users (id, username) VALUES ($1, 'taken')",
            &[&uuid::Uuid::now_v7()],
        )
        .await
        .unwrap();
    let answers = [
        "bad name",                // invalid username
        "Taken",                   // duplicate, case-insensitively
        "carol",                   // accepted
        "not-an-email",            // invalid email
        "Carol@Example.com",       // accepted
        GOOD_PASSWORD,             // password
        "something-else-entirely", // mismatch
        "password",                // too short and common
        "password",                //
        GOOD_PASSWORD,             // good
        GOOD_PASSWORD,             //
    ]
    .join("\n")
        + "\n";

    let out = run(gatehouse(&db.url, &["createsuperuser"]), &answers).await;

    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Enter a valid username"), "{err}");
    assert!(
        err.contains("A user with the username \"Taken\" already exists."),
        "{err}"
    );
    assert!(err.contains("Enter a valid email address"), "{err}");
    assert!(err.contains("Your passwords didn't match."), "{err}");
    assert!(err.contains("This password is too short."), "{err}");
    let rows = users(&db, "carol").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].email, "carol@example.com");
    assert!(verify_password(
        &SecretString::from(GOOD_PASSWORD),
        rows[0].hash.as_deref().unwrap()
    ));
}

#[actix_web::test]
async fn changepassword_sets_a_new_hash_and_ends_sessions() {
    let db = TestDb::migrated().await;
    let mut create = gatehouse(
        &db.url,
        &["createsuperuser", "--no-input", "--username", "dave"],
    );
    create.env("GATEHOUSE_SUPERUSER_PASSWORD", GOOD_PASSWORD);
    assert!(run(create, "").await.status.success());
    let before = users(&db, "dave").await.remove(0);
    let new_password = "velvet thunder 2031";

    let out = run(
        gatehouse(&db.url, &["changepassword", "DAVE"]),
        &format!("{new_password}\n{new_password}\n"),
    )
    .await;

    assert!(out.status.success(), "{}", stderr(&out));
    let after = users(&db, "dave").await.remove(0);
    let hash = after.hash.as_deref().unwrap();
    assert!(verify_password(&SecretString::from(new_password), hash));
    assert!(!verify_password(&SecretString::from(GOOD_PASSWORD), hash));
    assert_eq!(after.epoch, before.epoch + 1, "session epoch bumped");
}

#[actix_web::test]
async fn changepassword_refuses_weak_passwords_and_unknown_users() {
    let db = TestDb::migrated().await;
    let mut create = gatehouse(
        &db.url,
        &["createsuperuser", "--no-input", "--username", "erin"],
    );
    create.env("GATEHOUSE_SUPERUSER_PASSWORD", GOOD_PASSWORD);
    assert!(run(create, "").await.status.success());
    let before = users(&db, "erin").await.remove(0);

    let weak = run(
        gatehouse(&db.url, &["changepassword", "erin"]),
        &"erin-erin\nerin-erin\n".repeat(3),
    )
    .await;
    let unknown = run(gatehouse(&db.url, &["changepassword", "nobody"]), "").await;

    assert_eq!(weak.status.code(), Some(1));
    assert!(
        stderr(&weak).contains("too many attempts"),
        "{}",
        stderr(&weak)
    );
    assert_eq!(users(&db, "erin").await.remove(0).hash, before.hash);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("No user named \"nobody\"."));
}

#[actix_web::test]
async fn a_bad_setting_stops_start_up_with_one_clear_line() {
    for (var, value, expected) in [
        (
            "SECRET_KEY",
            "short",
            "SECRET_KEY: must be at least 32 characters long",
        ),
        (
            "COGNITO_TOKEN_USE",
            "refresh",
            "COGNITO_TOKEN_USE: expected access, id or any",
        ),
        ("BIND", "everywhere", "BIND: expected IP:PORT"),
    ] {
        let mut cmd = gatehouse("postgres://postgres@127.0.0.1:5432/unused", &["serve"]);
        cmd.env(var, value);
        if var == "COGNITO_TOKEN_USE" {
            cmd.env("COGNITO_USER_POOL_ID", "eu-west-1_AbC123")
                .env("COGNITO_CLIENT_IDS", "abc");
        }

        let out = run(cmd, "").await;

        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{var}: {err}");
        assert_eq!(err.lines().count(), 1, "{var}: {err}");
        assert!(
            err.starts_with(&format!("gatehouse: invalid configuration: {expected}")),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[actix_web::test]
async fn serve_migrates_answers_probes_and_stops_cleanly_on_sigterm() {
    let db = TestDb::empty().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = gatehouse(&db.url, &["serve"])
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");

    let mut healthy = false;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
            && r.status() == 200
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server answered /healthz");
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let tables: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'users'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "migrations ran at start");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
