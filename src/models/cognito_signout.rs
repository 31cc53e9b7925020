use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::greatest;
use crate::schema::{cognito_signouts, users};

/// "Signed out everywhere" for a Cognito identity: tokens whose sign-in is earlier are refused.
/// Keyed by issuer and `sub`, not by the local row, so a deletion (which writes one through a
/// trigger) cannot undo it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = cognito_signouts, check_for_backend(diesel::pg::Pg))]
pub struct CognitoSignout {
    /// `''`: unknown issuer, applies to every accepted issuer.
    pub issuer: String,
    pub sub: String,
    pub signed_out_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CognitoSignout {
    /// Signs the user's Cognito identity out as of `at` (no-op for a user without one). The
    /// instant only moves forward.
    pub async fn sign_out_user(
        conn: &mut AsyncPgConnection,
        user_id: uuid::Uuid,
        at: DateTime<Utc>,
    ) -> QueryResult<()> {
        let identity: Option<(Option<String>, Option<String>)> = users::table
            .find(user_id)
            .select((users::cognito_issuer, users::cognito_sub))
            .first(conn)
            .await
            .optional()?;
        let Some((issuer, Some(sub))) = identity else {
            return Ok(());
        };
        diesel::insert_into(cognito_signouts::table)
            .values((
                cognito_signouts::issuer.eq(issuer.unwrap_or_default()),
                cognito_signouts::sub.eq(sub),
                cognito_signouts::signed_out_at.eq(at),
            ))
            .on_conflict((cognito_signouts::issuer, cognito_signouts::sub))
            .do_update()
            .set(cognito_signouts::signed_out_at.eq(greatest(
                cognito_signouts::signed_out_at,
                excluded(cognito_signouts::signed_out_at),
            )))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The latest sign-out of this `sub` under any issuer (for display).
    pub async fn latest_for_sub(
        conn: &mut AsyncPgConnection,
        sub: &str,
    ) -> QueryResult<Option<DateTime<Utc>>> {
        cognito_signouts::table
            .filter(cognito_signouts::sub.eq(sub))
            .select(diesel::dsl::max(cognito_signouts::signed_out_at))
            .first(conn)
            .await
    }
}
