//! Web sessions of app users signed in through Cognito's managed login: the cookie holds a random
//! secret, this table its SHA-256 and the user's tokens, sealed (see `auth::web`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ipnet::IpNet;
use uuid::Uuid;

use super::row_repr;
use super::user::User;
use crate::schema::{users, web_sessions};

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = web_sessions, check_for_backend(diesel::pg::Pg))]
pub struct WebSession {
    pub id: Uuid,
    pub id_hash: Vec<u8>,
    pub user_id: Uuid,
    pub sign_in_id: String,
    /// Sealed; opened only by `auth::web`. The sealed refresh token is not here: it is read
    /// only by the refresher, under the row lock ([`WebSession::lock`]), so the lookup every
    /// request makes does not carry its ~1.8 KB.
    pub access_token: Vec<u8>,
    pub access_expires_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub user_agent: String,
    pub ip: Option<IpNet>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(WebSession, "WebSession", |s| s.id);

#[derive(Insertable)]
#[diesel(table_name = web_sessions, check_for_backend(diesel::pg::Pg))]
pub struct NewWebSession<'a> {
    pub id: Uuid,
    pub id_hash: &'a [u8],
    pub user_id: Uuid,
    pub sign_in_id: &'a str,
    pub access_token: &'a [u8],
    pub refresh_token: &'a [u8],
    pub access_expires_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: &'a str,
    pub ip: Option<IpNet>,
}

/// What a refresh changes; `refresh_token` only when Cognito rotated it (`None` leaves it).
#[derive(AsChangeset)]
#[diesel(table_name = web_sessions, check_for_backend(diesel::pg::Pg))]
pub struct RefreshedTokens<'a> {
    pub access_token: &'a [u8],
    pub refresh_token: Option<&'a [u8]>,
    pub access_expires_at: DateTime<Utc>,
}

impl NewWebSession<'_> {
    /// Records the session, after dropping everyone's sessions that ended (absolute or idle).
    pub async fn insert(
        &self,
        conn: &mut AsyncPgConnection,
        idle_since: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::delete(
            web_sessions::table.filter(
                web_sessions::expires_at
                    .le(Utc::now())
                    .or(web_sessions::last_seen_at.le(idle_since)),
            ),
        )
        .execute(conn)
        .await?;
        diesel::insert_into(web_sessions::table)
            .values(self)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// A session in use: not past its absolute end, seen since `idle_since`.
#[diesel::dsl::auto_type]
fn live(idle_since: DateTime<Utc>) -> _ {
    web_sessions::expires_at
        .gt(diesel::dsl::now)
        .and(web_sessions::last_seen_at.gt(idle_since))
}

impl WebSession {
    /// The live session whose cookie hashes to `id_hash`, with its user: one indexed lookup.
    pub async fn find_live(
        conn: &mut AsyncPgConnection,
        id_hash: &[u8],
        idle_since: DateTime<Utc>,
    ) -> QueryResult<Option<(WebSession, User)>> {
        web_sessions::table
            .inner_join(users::table)
            .filter(web_sessions::id_hash.eq(id_hash))
            .filter(live(idle_since))
            .select((WebSession::as_select(), User::as_select()))
            .first(conn)
            .await
            .optional()
    }

    /// Marks the session seen now (the caller limits how often).
    pub async fn touch(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        now: DateTime<Utc>,
        ip: Option<IpNet>,
    ) -> QueryResult<()> {
        diesel::update(web_sessions::table.find(id))
            .set((web_sessions::last_seen_at.eq(now), web_sessions::ip.eq(ip)))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The session row and its sealed refresh token, locked for update (inside a transaction),
    /// waiting for another holder unless `skip_locked`, which then reads `None` while someone
    /// else holds it.
    pub async fn lock(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        skip_locked: bool,
    ) -> QueryResult<Option<(WebSession, Vec<u8>)>> {
        let query = web_sessions::table
            .find(id)
            .select((WebSession::as_select(), web_sessions::refresh_token))
            .for_update();
        if skip_locked {
            query.skip_locked().first(conn).await.optional()
        } else {
            query.first(conn).await.optional()
        }
    }

    /// Stores refreshed tokens.
    pub async fn store_tokens(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        tokens: &RefreshedTokens<'_>,
    ) -> QueryResult<()> {
        diesel::update(web_sessions::table.find(id))
            .set(tokens)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Ends the session whose cookie hashes to `id_hash`; returns it (to revoke its tokens).
    pub async fn end_by_hash(
        conn: &mut AsyncPgConnection,
        id_hash: &[u8],
    ) -> QueryResult<Option<WebSession>> {
        diesel::delete(web_sessions::table.filter(web_sessions::id_hash.eq(id_hash)))
            .returning(WebSession::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// Ends session `id` if it is `user_id`'s (the account page names sessions by id).
    pub async fn end_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        id: Uuid,
    ) -> QueryResult<Option<WebSession>> {
        diesel::delete(
            web_sessions::table
                .filter(web_sessions::id.eq(id))
                .filter(web_sessions::user_id.eq(user_id)),
        )
        .returning(WebSession::as_returning())
        .get_result(conn)
        .await
        .optional()
    }

    /// Ends every session of the user ("sign out everywhere", deactivation).
    pub async fn end_all_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<Vec<WebSession>> {
        diesel::delete(web_sessions::table.filter(web_sessions::user_id.eq(user_id)))
            .returning(WebSession::as_returning())
            .get_results(conn)
            .await
    }

    /// Ends the sessions of one Cognito sign-in (a revocation of it through the API).
    pub async fn end_of_sign_in(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        sign_in_id: &str,
    ) -> QueryResult<Vec<WebSession>> {
        diesel::delete(
            web_sessions::table
                .filter(web_sessions::user_id.eq(user_id))
                .filter(web_sessions::sign_in_id.eq(sign_in_id)),
        )
        .returning(WebSession::as_returning())
        .get_results(conn)
        .await
    }

    /// The user's live sessions, most recently used first (the account page).
    pub async fn of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        idle_since: DateTime<Utc>,
    ) -> QueryResult<Vec<WebSession>> {
        web_sessions::table
            .filter(web_sessions::user_id.eq(user_id))
            .filter(live(idle_since))
            .order(web_sessions::last_seen_at.desc())
            .select(WebSession::as_select())
            .load(conn)
            .await
    }
}
