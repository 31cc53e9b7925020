use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::row_repr;
use crate::schema::revoked_tokens;

/// A signed-out API session (see the migration).
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = revoked_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RevokedToken {
    pub id: Uuid,
    pub jti: String,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(RevokedToken, "RevokedToken", |t| t.id);

#[derive(Insertable)]
#[diesel(table_name = revoked_tokens, check_for_backend(diesel::pg::Pg))]
pub struct NewRevokedToken<'a> {
    pub id: Uuid,
    pub jti: &'a str,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

impl NewRevokedToken<'_> {
    /// Records the revocation (idempotent) and prunes rows whose tokens have expired anyway.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(revoked_tokens::table)
            .values(self)
            .on_conflict(revoked_tokens::jti)
            .do_nothing()
            .execute(conn)
            .await?;
        diesel::delete(
            revoked_tokens::table.filter(revoked_tokens::expires_at.lt(diesel::dsl::now)),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
