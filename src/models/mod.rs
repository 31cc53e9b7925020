//! One module per table: the row type, its insert form, and the queries that belong to it.
//!
//! `Debug` and `Display` of a row both read `<User 0191…>`: logs and error reports name the row
//! without ever printing a password hash or a secret field.

pub mod admin_log;
pub mod article;
pub mod cognito_signout;
pub mod failed_login;
pub mod group;
pub mod hook_signature;
pub mod permission;
pub mod revoked_token;
pub mod row_count;
pub mod staff_session;
pub mod user;
pub mod user_list;
pub mod web_revocation;
pub mod web_session;
pub mod web_sign_in;

pub use admin_log::{AdminLogEntry, NewAdminLogEntry};
pub use article::{Article, ArticleChanges, ArticleOrder, ArticleSearch, NewArticle};
pub use cognito_signout::CognitoSignout;
pub use failed_login::{FailedLogin, NewFailedLogin};
pub use group::{Group, GroupChanges, GroupPermission, NewGroup, UserGroup};
pub use permission::{Permission, UserPermission};
pub use revoked_token::{NewRevokedToken, RevokedToken};
pub use row_count::RowCount;
pub use staff_session::StaffSession;
pub use user::{NewUser, ProfileChanges, TokenSignIn, User, UserChanges};
pub use user_list::{UserListQuery, UserOrder};
pub use web_revocation::WebRevocation;
pub use web_session::{NewWebSession, RefreshedTokens, WebSession};
pub use web_sign_in::WebSignIn;

// SQL functions the queries share. `lower(username)` is the expression the unique index is built
// on, so lookups written with it use that index.
diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
diesel::define_sql_function!(fn greatest(a: diesel::sql_types::Timestamptz, b: diesel::sql_types::Timestamptz) -> diesel::sql_types::Timestamptz);

/// A fresh primary key: UUIDv7 is time-ordered, so new rows land at the right of the index, and
/// the id is known before the insert.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Implements `Display` and `Debug` as `<Name key>` for a row type.
macro_rules! row_repr {
    ($ty:ty, $name:literal, |$row:ident| $key:expr) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $row = self;
                write!(f, "<{} {}>", $name, $key)
            }
        }
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }
    };
}
pub(crate) use row_repr;

/// Moves a row's `updated_at` on although no column of it changed (only its relations did), so
/// change forms loaded before are stale. `table` is one of ours, never input.
async fn bump_version(
    conn: &mut diesel_async::AsyncPgConnection,
    table: &'static str,
    id: uuid::Uuid,
) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query(format!(
        "UPDATE {table} SET updated_at = \
         GREATEST(clock_timestamp(), updated_at + interval '1 microsecond') WHERE id = $1"
    ))
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn rows_name_themselves_without_secrets() {
        let id = new_id();
        let user = User {
            id,
            username: "alice".into(),
            email: "alice@example.com".into(),
            password_hash: Some("$argon2id$v=19$secret".into()),
            cognito_sub: None,
            email_verified: false,
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: true,
            is_superuser: false,
            last_login: None,
            session_epoch: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(user.to_string(), format!("<User {id}>"));
        assert_eq!(format!("{user:?}"), format!("<User {id}>"));
        assert!(!format!("{user:?}").contains("argon2"));
    }

    #[test]
    fn new_ids_are_time_ordered_v7() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }
}
