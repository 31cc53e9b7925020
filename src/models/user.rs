use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{lower, row_repr};
use crate::schema::{
    cognito_signouts, groups, permissions, revoked_tokens, user_groups, user_permissions, users,
};

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

    /// The row locked against every writer until the transaction ends (`FOR SHARE`): a sign-in
    /// holding it cannot interleave with "sign out everywhere" or a deactivation, which update it.
    pub async fn lock_shared(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .for_share()
            .first(conn)
            .await
            .optional()
    }

    /// Stores a new password hash and bumps the session epoch, so every staff session that began
    /// under the old password ends. Returns the new epoch.
    pub async fn set_password_hash(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        hash: &str,
    ) -> QueryResult<i32> {
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::session_epoch.eq(users::session_epoch + 1),
            ))
            .returning(users::session_epoch)
            .get_result(conn)
            .await
    }

    /// The username of user `id`.
    pub async fn username_of(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<String> {
        users::table
            .find(id)
            .select(users::username)
            .first(conn)
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

/// What the back office's change form may set on a user.
#[derive(AsChangeset)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserChanges<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub email_verified: bool,
}

/// The back office's queries.
impl User {
    /// The users `ids` that exist, by username; with `lock`, locked for update.
    pub async fn load_many(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> QueryResult<Vec<User>> {
        let q = users::table
            .filter(users::id.eq_any(ids))
            .order((users::username.asc(), users::id.asc()))
            .select(User::as_select());
        if lock {
            q.for_update().load(conn).await
        } else {
            q.load(conn).await
        }
    }

    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &UserChanges<'_>,
    ) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(changes)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn set_active(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        active: bool,
    ) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::is_active.eq(active))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Ends every staff session of the user (the sessions carry the epoch they began in).
    pub async fn bump_session_epoch(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::session_epoch.eq(users::session_epoch + 1))
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn delete_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
        diesel::delete(users::table.filter(users::id.eq_any(ids)))
            .execute(conn)
            .await
    }

    /// The ids of the user's groups and of their direct permissions.
    pub async fn group_and_permission_ids(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<(HashSet<Uuid>, HashSet<Uuid>)> {
        let groups = user_groups::table
            .filter(user_groups::user_id.eq(id))
            .select(user_groups::group_id)
            .load::<Uuid>(conn)
            .await?
            .into_iter()
            .collect();
        let perms = user_permissions::table
            .filter(user_permissions::user_id.eq(id))
            .select(user_permissions::permission_id)
            .load::<Uuid>(conn)
            .await?
            .into_iter()
            .collect();
        Ok((groups, perms))
    }

    /// Replaces the user's groups and direct permissions with those of `groups` and
    /// `permissions` that exist (a forged id is dropped, not an error). Returns the names of
    /// the groups and the codenames of the permissions now linked, sorted.
    pub async fn set_groups_and_permissions(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        groups: &HashSet<Uuid>,
        permissions: &HashSet<Uuid>,
    ) -> QueryResult<(Vec<String>, Vec<String>)> {
        diesel::delete(user_groups::table.filter(user_groups::user_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(user_permissions::table.filter(user_permissions::user_id.eq(id)))
            .execute(conn)
            .await?;
        let group_ids: Vec<Uuid> = groups::table
            .filter(groups::id.eq_any(groups.iter().copied().collect::<Vec<_>>()))
            .select(groups::id)
            .load(conn)
            .await?;
        let perm_ids: Vec<Uuid> = permissions::table
            .filter(permissions::id.eq_any(permissions.iter().copied().collect::<Vec<_>>()))
            .select(permissions::id)
            .load(conn)
            .await?;
        diesel::insert_into(user_groups::table)
            .values(
                group_ids
                    .iter()
                    .map(|g| (user_groups::user_id.eq(id), user_groups::group_id.eq(*g)))
                    .collect::<Vec<_>>(),
            )
            .execute(conn)
            .await?;
        diesel::insert_into(user_permissions::table)
            .values(
                perm_ids
                    .iter()
                    .map(|p| {
                        (
                            user_permissions::user_id.eq(id),
                            user_permissions::permission_id.eq(*p),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
            .execute(conn)
            .await?;
        Self::names_of(
            conn,
            &group_ids.into_iter().collect(),
            &perm_ids.into_iter().collect(),
        )
        .await
    }

    /// The names of the groups `groups` and the codenames of the permissions `permissions`,
    /// sorted (how history rows record them).
    pub async fn names_of(
        conn: &mut AsyncPgConnection,
        group_ids: &HashSet<Uuid>,
        perm_ids: &HashSet<Uuid>,
    ) -> QueryResult<(Vec<String>, Vec<String>)> {
        let g: Vec<String> = groups::table
            .filter(groups::id.eq_any(group_ids.iter().copied().collect::<Vec<_>>()))
            .order(groups::name.asc())
            .select(groups::name)
            .load(conn)
            .await?;
        let p: Vec<String> = permissions::table
            .filter(permissions::id.eq_any(perm_ids.iter().copied().collect::<Vec<_>>()))
            .order(permissions::codename.asc())
            .select(permissions::codename)
            .load(conn)
            .await?;
        Ok((g, p))
    }

    /// How many groups the user is in, and how many permissions they hold directly.
    pub async fn membership_and_permission_counts(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<(i64, i64)> {
        let memberships = user_groups::table
            .filter(user_groups::user_id.eq(id))
            .count()
            .get_result(conn)
            .await?;
        let permissions = user_permissions::table
            .filter(user_permissions::user_id.eq(id))
            .count()
            .get_result(conn)
            .await?;
        Ok((memberships, permissions))
    }
}

/// What a user's profile update may set (`None` leaves a column as it is): the app user's own
/// names, and what Cognito reports.
#[derive(AsChangeset, Default)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct ProfileChanges<'a> {
    pub email: Option<&'a str>,
    pub email_verified: Option<bool>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
}

impl ProfileChanges<'_> {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.email_verified.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
    }
}

impl User {
    /// Applies `changes` and returns the row as stored.
    pub async fn update_profile(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &ProfileChanges<'_>,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(changes)
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}

impl NewUser<'_> {
    /// Inserts a user provisioned from Cognito's `issuer`; `None` when the username or the
    /// `sub` is taken already (nothing is written then).
    pub async fn insert_from_cognito(
        &self,
        conn: &mut AsyncPgConnection,
        issuer: Option<&str>,
    ) -> QueryResult<Option<User>> {
        diesel::insert_into(users::table)
            .values((self, users::cognito_issuer.eq(issuer)))
            .on_conflict_do_nothing()
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .optional()
    }
}

/// True when a token must be refused although valid: its sign-in was logged out (revoked
/// `origin_jti`), or it began before the identity was signed out everywhere or deleted. Keyed by
/// the Cognito identity, never the local row, so a deleted row forgets nothing.
///
/// Rows are stored by issuer but looked up by `origin_jti` / `sub` alone: every accepted issuer
/// names the same pool (its two issuer formats), and rows recorded before issuers were kept have
/// `''`, so an issuer filter could only ever match them all. `sub` and `origin_jti` are UUIDs, so
/// no other pool's identity can share them either. Without an `= ANY(issuers)` bind the statement
/// has a static shape that Diesel prepares once, which keeps this check off the hot path's bill.
macro_rules! revoked {
    ($session_id:expr, $sub:expr, $signed_in:expr) => {
        diesel::dsl::exists(revoked_tokens::table.filter(revoked_tokens::jti.eq($session_id))).or(
            diesel::dsl::exists(
                cognito_signouts::table
                    .filter(cognito_signouts::sub.eq($sub))
                    .filter(cognito_signouts::signed_out_at.gt($signed_in)),
            ),
        )
    };
}

/// A bearer token's sign-in, as the revocation checks know it.
pub struct TokenSignIn<'a> {
    pub sub: &'a str,
    /// `origin_jti` (else `jti`); `""` for a token that has neither (it can never be listed).
    pub session_id: &'a str,
    /// When the sign-in happened (`auth_time`, else `iat`).
    pub signed_in: DateTime<Utc>,
}

impl User {
    /// The user a token names, with whether the token's sign-in is revoked: one round trip, the
    /// guard's only query when the user exists.
    pub async fn for_token(
        conn: &mut AsyncPgConnection,
        token: &TokenSignIn<'_>,
    ) -> QueryResult<Option<(User, bool)>> {
        users::table
            .filter(users::cognito_sub.eq(token.sub))
            .select((
                User::as_select(),
                revoked!(token.session_id, token.sub, token.signed_in),
            ))
            .first(conn)
            .await
            .optional()
    }

    /// Whether a token's sign-in is revoked, for an identity without a local user (yet).
    pub async fn token_revoked(
        conn: &mut AsyncPgConnection,
        token: &TokenSignIn<'_>,
    ) -> QueryResult<bool> {
        diesel::select(revoked!(token.session_id, token.sub, token.signed_in))
            .get_result(conn)
            .await
    }
}

impl User {
    /// The account a back-office login names, among active staff with a password only (nobody
    /// else may log in, so nobody else may shadow a staff member): its username (any case), or
    /// else the email of exactly one such account (emails are not unique, so an ambiguous one
    /// names nobody). One query whatever the outcome, so an unknown login costs what a known one
    /// does.
    pub async fn staff_login_candidate(
        conn: &mut AsyncPgConnection,
        login: &str,
    ) -> QueryResult<Option<User>> {
        let by_username = lower(users::username).eq(lower(login));
        let mut rows: Vec<(User, bool)> = users::table
            .filter(users::is_staff.eq(true))
            .filter(users::is_active.eq(true))
            .filter(users::password_hash.is_not_null())
            .filter(
                by_username.or(users::email
                    .eq(login.to_lowercase())
                    .and(users::email.ne(""))),
            )
            // The username match (unique) first; then up to two email matches tell one from many.
            .order(by_username.desc())
            .select((User::as_select(), by_username))
            .limit(3)
            .load(conn)
            .await?;
        Ok(match <[_]>::first(&rows) {
            Some((_, true)) => rows.drain(..).next().map(|(user, _)| user),
            Some(_) if rows.len() == 1 => rows.pop().map(|(user, _)| user),
            _ => None,
        })
    }

    /// Records a successful login now; returns the row as stored.
    pub async fn touch_last_login(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(users::last_login.eq(Utc::now()))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}

impl User {
    /// Makes change forms loaded before stale although no column changed (only the groups or
    /// permissions did).
    pub async fn bump_version(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        super::bump_version(conn, "users", id).await
    }
}
