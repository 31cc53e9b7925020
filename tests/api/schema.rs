//! The constraints and triggers the migrations promise, checked through the models.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
// RunQueryDsl is imported only where used: its blanket `execute` would shadow tokio-postgres's.
use diesel_async::AsyncPgConnection;
use gatehouse::models::{NewArticle, NewUser, User, new_id};

use crate::helpers::TestDb;

async fn conn(db: &TestDb) -> AsyncPgConnection {
    use diesel_async::AsyncConnection;
    AsyncPgConnection::establish(&db.url).await.unwrap()
}

fn new_user(username: &str) -> NewUser<'_> {
    NewUser {
        id: new_id(),
        username,
        email: "",
        password_hash: None,
        cognito_sub: None,
        email_verified: false,
        first_name: "",
        last_name: "",
        is_active: true,
        is_staff: false,
        is_superuser: false,
    }
}

fn is_violation(result: Result<User, DieselError>, kind: DatabaseErrorKind) -> bool {
    matches!(result, Err(DieselError::DatabaseError(k, _)) if std::mem::discriminant(&k) == std::mem::discriminant(&kind))
}

#[actix_web::test]
async fn updated_at_follows_real_changes_only() {
    let db = TestDb::migrated().await;
    let mut c = conn(&db).await;
    let user = new_user("alice").insert(&mut c).await.unwrap();
    assert_eq!(user.created_at, user.updated_at);
    let sql = db.client().await;

    sql.execute(
        "UPDATE users SET first_name = 'Alice' WHERE id = $1",
        &[&user.id],
    )
    .await
    .unwrap();
    let changed = User::find(&mut c, user.id).await.unwrap().unwrap();
    sql.execute(
        "UPDATE users SET first_name = 'Alice' WHERE id = $1",
        &[&user.id],
    )
    .await
    .unwrap();
    let unchanged = User::find(&mut c, user.id).await.unwrap().unwrap();

    assert!(
        changed.updated_at > user.updated_at,
        "a real change moves updated_at"
    );
    assert_eq!(changed.created_at, user.created_at);
    assert_eq!(
        unchanged.updated_at, changed.updated_at,
        "a no-op update does not"
    );
}

#[actix_web::test]
async fn usernames_are_unique_regardless_of_case() {
    let db = TestDb::migrated().await;
    let mut c = conn(&db).await;
    let alice = new_user("Alice").insert(&mut c).await.unwrap();

    let duplicate = new_user("aLICE").insert(&mut c).await;

    assert!(is_violation(duplicate, DatabaseErrorKind::UniqueViolation));
    let found = User::find_by_username(&mut c, "ALICE")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(found.username, "Alice", "stored as given");
}

#[actix_web::test]
async fn cognito_sub_is_unique_and_emails_are_stored_lower_case() {
    let db = TestDb::migrated().await;
    let mut c = conn(&db).await;
    let mut first = new_user("a");
    first.cognito_sub = Some("4a7b6c0e-0000-4000-8000-000000000001");
    first.insert(&mut c).await.unwrap();

    let mut second = new_user("b");
    second.cognito_sub = Some("4a7b6c0e-0000-4000-8000-000000000001");
    let same_sub = second.insert(&mut c).await;
    let mut third = new_user("c");
    third.email = "Mixed@Example.com";
    let upper_email = third.insert(&mut c).await;
    let mut fourth = new_user("d");
    fourth.email = "shared@example.com";
    let mut fifth = new_user("e");
    fifth.email = "shared@example.com";

    assert!(is_violation(same_sub, DatabaseErrorKind::UniqueViolation));
    assert!(is_violation(upper_email, DatabaseErrorKind::CheckViolation));
    fourth.insert(&mut c).await.unwrap();
    fifth
        .insert(&mut c)
        .await
        .expect("Cognito allows unverified users to share an address");
    let found = User::find_by_cognito_sub(&mut c, "4a7b6c0e-0000-4000-8000-000000000001")
        .await
        .unwrap();
    assert_eq!(found.unwrap().username, "a");
}

#[actix_web::test]
async fn deleting_a_user_takes_their_articles_and_memberships_but_keeps_history() {
    use gatehouse::schema::users;
    let db = TestDb::migrated().await;
    let mut c = conn(&db).await;
    let author = new_user("author").insert(&mut c).await.unwrap();
    NewArticle {
        id: new_id(),
        name: "Hello",
        body: "",
        author_id: author.id,
    }
    .insert(&mut c)
    .await
    .unwrap();
    let sql = db.client().await;
    let group_id = new_id();
    sql.execute(
        "INSERT INTO groups (id, name) VALUES ($1, 'editors')",
        &[&group_id],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)",
        &[&author.id, &group_id],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO admin_log (id, user_id, username, object_type, object_id, object_repr, action) \
         VALUES ($1, $2, 'author', 'users', 'x', '<User x>', 'change')",
        &[&new_id(), &author.id],
    )
    .await
    .unwrap();

    {
        use diesel::QueryDsl;
        use diesel_async::RunQueryDsl;
        diesel::delete(users::table.find(author.id))
            .execute(&mut c)
            .await
            .unwrap();
    }

    let count = |t: &'static str| {
        let sql = &sql;
        async move {
            let n: i64 = sql
                .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    assert_eq!(count("articles").await, 0);
    assert_eq!(count("user_groups").await, 0);
    assert_eq!(count("groups").await, 1, "the group itself stays");
    assert_eq!(count("admin_log").await, 1, "history outlives its author");
    let orphan: Option<uuid::Uuid> = sql
        .query_one("SELECT user_id FROM admin_log", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(orphan, None);
}

#[actix_web::test]
async fn article_names_must_not_be_blank_or_longer_than_50() {
    let db = TestDb::migrated().await;
    let sql = db.client().await;
    let author = new_id();
    sql.execute(
        "INSERT INTO users (id, username) VALUES ($1, 'w')",
        &[&author],
    )
    .await
    .unwrap();
    let insert = |name: String| {
        let sql = &sql;
        async move {
            sql.execute(
                "INSERT INTO articles (id, name, author_id) VALUES ($1, $2, $3)",
                &[&new_id(), &name, &author],
            )
            .await
        }
    };

    assert!(insert("x".repeat(50)).await.is_ok());
    assert!(insert("x".repeat(51)).await.is_err());
    assert!(insert("   ".into()).await.is_err());
}
