use gatehouse::db;

use crate::helpers::TestDb;
use crate::template_db;

const TABLES: [&str; 16] = [
    "admin_log",
    "articles",
    "cognito_signouts",
    "failed_logins",
    "group_permissions",
    "groups",
    "hook_signatures",
    "permissions",
    "revoked_tokens",
    "staff_sessions",
    "user_groups",
    "user_permissions",
    "users",
    "web_revocations",
    "web_sessions",
    "web_sign_ins",
];

async fn tables(db: &TestDb) -> Vec<String> {
    db.client()
        .await
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// How many migrations ship (one folder each), so adding one needs no edit here.
fn shipped_migrations() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count()
}

#[actix_web::test]
async fn migrations_go_up_down_and_up_again() {
    let db = TestDb::empty().await;
    let url = db.url.clone();

    let applied = blocking({
        let url = url.clone();
        move || db::run_migrations(&url)
    })
    .await
    .unwrap();
    assert_eq!(applied.len(), shipped_migrations(), "{applied:?}");
    assert_eq!(tables(&db).await, TABLES);

    let again = blocking({
        let url = url.clone();
        move || db::run_migrations(&url)
    })
    .await
    .unwrap();
    assert!(again.is_empty(), "nothing pending the second time");

    let reverted = blocking({
        let url = url.clone();
        move || db::revert_all_migrations(&url)
    })
    .await
    .unwrap();
    assert_eq!(reverted.len(), shipped_migrations());
    assert!(tables(&db).await.is_empty(), "down.sql removes every table");
    let functions: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'diesel_%updated_at'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(functions, 0, "the trigger functions are dropped too");

    let reapplied = blocking(move || db::run_migrations(&url)).await.unwrap();
    assert_eq!(reapplied, applied);
    assert_eq!(tables(&db).await, TABLES);
}

#[actix_web::test]
async fn permissions_are_seeded_for_each_model_and_action() {
    let db = TestDb::migrated().await;

    let codenames: Vec<String> = db
        .client()
        .await
        .query(
            "SELECT codename::text FROM permissions ORDER BY codename",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    let mut expected: Vec<String> = ["articles", "groups", "users"]
        .iter()
        .flat_map(|m| ["add", "change", "delete", "view"].map(|a| format!("{m}.{a}")))
        .collect();
    expected.sort();
    assert_eq!(codenames, expected);
}

/// `TestDb::migrated` copies the migrated template: the copy must hold every shipped migration, and
/// nobody may connect to the template (a connection to it would make every copy fail).
#[actix_web::test]
async fn migrated_test_databases_copy_a_complete_closed_template() {
    let db = TestDb::migrated().await;
    let url = db.url.clone();
    let status = blocking(move || db::migration_status(&url)).await.unwrap();
    assert_eq!(status.len(), shipped_migrations());
    assert!(status.iter().all(|(_, applied)| *applied), "{status:?}");

    let template = blocking(|| template_db::migrated_template(&crate::helpers::server_url())).await;
    assert!(
        template.name.ends_with(&template_db::migrations_digest()),
        "named after these migrations: {}",
        template.name
    );
    let row = db
        .client()
        .await
        .query_one(
            "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1",
            &[&template.name],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "marked IS_TEMPLATE");
    assert!(!row.get::<_, bool>(1), "closed to connections");
}

#[actix_web::test]
async fn the_database_is_created_when_missing() {
    let db = TestDb::empty().await;
    db.drop_now().await;
    let url = db.url.clone();

    let created = blocking(move || db::create_database_if_missing(&url))
        .await
        .unwrap();
    let url = db.url.clone();
    let again = blocking(move || db::create_database_if_missing(&url))
        .await
        .unwrap();

    assert!(created);
    assert!(!again);
}
