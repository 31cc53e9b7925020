//! Refresh tokens of ended web sessions, queued for revocation at Cognito by a trigger on
//! `web_sessions` (see the migration): whatever deletes a session, its token is revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::web_revocations;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = web_revocations, check_for_backend(diesel::pg::Pg))]
pub struct WebRevocation {
    pub session_id: Uuid,
    /// Sealed, as it was in `web_sessions`.
    pub refresh_token: Vec<u8>,
    pub attempts: i32,
    pub not_before: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for WebRevocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<WebRevocation {}>", self.session_id)
    }
}

impl WebRevocation {
    /// Takes the queued revocations of these sessions out, for the request that ended them to
    /// revoke itself.
    pub async fn take(
        conn: &mut AsyncPgConnection,
        session_ids: &[Uuid],
    ) -> QueryResult<Vec<WebRevocation>> {
        diesel::delete(
            web_revocations::table.filter(web_revocations::session_id.eq_any(session_ids)),
        )
        .returning(WebRevocation::as_returning())
        .get_results(conn)
        .await
    }

    /// Up to `limit` revocations that are due, locked (inside a transaction) and skipped by
    /// every other instance until it ends.
    pub async fn lock_due(
        conn: &mut AsyncPgConnection,
        limit: i64,
    ) -> QueryResult<Vec<WebRevocation>> {
        web_revocations::table
            .filter(web_revocations::not_before.le(diesel::dsl::now))
            .order(web_revocations::not_before.asc())
            .limit(limit)
            .select(WebRevocation::as_select())
            .for_update()
            .skip_locked()
            .load(conn)
            .await
    }

    pub async fn done(conn: &mut AsyncPgConnection, session_id: Uuid) -> QueryResult<()> {
        diesel::delete(web_revocations::table.find(session_id))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Queues it (again) for a try at `not_before`.
    pub async fn retry_at(
        conn: &mut AsyncPgConnection,
        session_id: Uuid,
        refresh_token: &[u8],
        attempts: i32,
        not_before: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(web_revocations::table)
            .values((
                web_revocations::session_id.eq(session_id),
                web_revocations::refresh_token.eq(refresh_token),
                web_revocations::attempts.eq(attempts),
                web_revocations::not_before.eq(not_before),
            ))
            .on_conflict(web_revocations::session_id)
            .do_update()
            .set((
                web_revocations::attempts.eq(attempts),
                web_revocations::not_before.eq(not_before),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }
}
