use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{greatest, row_repr};
use crate::schema::revoked_tokens;

/// A signed-out API sign-in (see the migrations), keyed by issuer and `origin_jti`; it outlives
/// the local user row.
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = revoked_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RevokedToken {
    pub id: Uuid,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `''`: recorded before issuers were, applies to every accepted issuer.
    pub issuer: String,
    pub sub: String,
}
row_repr!(RevokedToken, "RevokedToken", |t| t.id);

#[derive(Insertable)]
#[diesel(table_name = revoked_tokens, check_for_backend(diesel::pg::Pg))]
pub struct NewRevokedToken<'a> {
    pub id: Uuid,
    pub issuer: &'a str,
    pub jti: &'a str,
    pub sub: &'a str,
    /// Until the sign-in can no longer mint tokens (see `api::logout`).
    pub expires_at: DateTime<Utc>,
}

impl NewRevokedToken<'_> {
    /// Records the revocation; a repeat only ever extends it. Then prunes rows past their time:
    /// no token of those sign-ins can still be valid.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(revoked_tokens::table)
            .values(self)
            .on_conflict((revoked_tokens::issuer, revoked_tokens::jti))
            .do_update()
            .set(revoked_tokens::expires_at.eq(greatest(
                revoked_tokens::expires_at,
                excluded(revoked_tokens::expires_at),
            )))
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
