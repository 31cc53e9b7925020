//! Server-side records of staff sessions: the cookie holds a random id, the table its SHA-256,
//! so a session ends for every copy of its cookie when its row goes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::user::User;
use crate::schema::{staff_sessions, users};

pub struct StaffSession;

impl StaffSession {
    /// Records a session of `user_id` until `expires_at`, and drops everyone's expired ones.
    pub async fn start(
        conn: &mut AsyncPgConnection,
        id_hash: &[u8],
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::delete(staff_sessions::table.filter(staff_sessions::expires_at.le(Utc::now())))
            .execute(conn)
            .await?;
        diesel::insert_into(staff_sessions::table)
            .values((
                staff_sessions::id_hash.eq(id_hash),
                staff_sessions::user_id.eq(user_id),
                staff_sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn end(conn: &mut AsyncPgConnection, id_hash: &[u8]) -> QueryResult<()> {
        diesel::delete(staff_sessions::table.find(id_hash))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The user of a live session record: one round trip for the row and the record.
    pub async fn user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        id_hash: &[u8],
    ) -> QueryResult<Option<User>> {
        users::table
            .inner_join(staff_sessions::table)
            .filter(users::id.eq(user_id))
            .filter(staff_sessions::id_hash.eq(id_hash))
            .filter(staff_sessions::expires_at.gt(Utc::now()))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }
}
