use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{lower, row_repr};
use crate::schema::users;

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub cognito_sub: Option<String>,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub last_login: Option<DateTime<Utc>>,
    pub session_epoch: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(User, "User", |u| u.id);

#[derive(Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub username: &'a str,
    /// Must already be lower-case (the column's CHECK says so); see `accounts::normalize_email`.
    pub email: &'a str,
    pub password_hash: Option<&'a str>,
    pub cognito_sub: Option<&'a str>,
    pub email_verified: bool,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
}

impl User {
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Case-insensitive, as the unique index is.
    pub async fn find_by_username(
        conn: &mut AsyncPgConnection,
        username: &str,
    ) -> QueryResult<Option<User>> {
        users::table
            .filter(lower(users::username).eq(lower(username)))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    pub async fn find_by_cognito_sub(
        conn: &mut AsyncPgConnection,
        sub: &str,
    ) -> QueryResult<Option<User>> {
        users::table
            .filter(users::cognito_sub.eq(sub))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Stores a new password hash and bumps the session epoch, so every staff session that began
    /// under the old password ends.
    pub async fn set_password_hash(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        hash: &str,
    ) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::session_epoch.eq(users::session_epoch + 1),
            ))
            .execute(conn)
            .await
    }

    /// Django's `has_usable_password`.
    pub fn has_usable_password(&self) -> bool {
        self.password_hash.is_some()
    }
}

impl NewUser<'_> {
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values(self)
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}
