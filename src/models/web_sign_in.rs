//! Sign-ins started at `/auth/login` and not yet finished: what the callback must find again.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::web_sign_ins;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = web_sign_ins, check_for_backend(diesel::pg::Pg))]
pub struct WebSignIn {
    pub state_hash: Vec<u8>,
    pub browser_hash: Vec<u8>,
    /// Sealed by `auth::web`.
    pub code_verifier: Vec<u8>,
    pub nonce: String,
    pub next_path: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for WebSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<WebSignIn>")
    }
}

impl WebSignIn {
    /// Records a pending sign-in, after dropping everyone's expired ones.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::delete(web_sign_ins::table.filter(web_sign_ins::expires_at.le(Utc::now())))
            .execute(conn)
            .await?;
        diesel::insert_into(web_sign_ins::table)
            .values(self)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Takes the pending sign-in of `state_hash` out: a state works once, even when two
    /// callbacks race (one `DELETE … RETURNING` wins).
    pub async fn take(
        conn: &mut AsyncPgConnection,
        state_hash: &[u8],
    ) -> QueryResult<Option<WebSignIn>> {
        diesel::delete(web_sign_ins::table.find(state_hash))
            .returning(WebSignIn::as_returning())
            .get_result(conn)
            .await
            .optional()
    }
}
