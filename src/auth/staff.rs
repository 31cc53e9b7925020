//! Staff sessions for the back office: the login check (Argon2id, enumeration-safe), throttling
//! in Postgres, permissions, and the guard that admits only active staff whose session is current.
//!
//! The session lives in an encrypted cookie (actix-session `CookieSessionStore`), which by itself
//! cannot be revoked. Two server-side checks close that gap: the cookie's random session id must
//! have a row in `staff_sessions` (made at login, deleted at logout, so a copied cookie dies with
//! the logout), and the user's `session_epoch` must be the one the session began in (a password
//! change, deactivation or "sign out everywhere" bumps it, ending every older session at once).

use std::collections::HashSet;
use std::time::Duration;

use actix_session::{Session, SessionExt, SessionInsertError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use aws_lc_rs::digest;
use chrono::Utc;
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use ipnet::IpNet;
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::csrf;
use crate::auth::password::{DUMMY_HASH, verify_password};
use crate::db::{self, DbError};
use crate::models::{FailedLogin, NewFailedLogin, Permission, StaffSession, User, new_id};
use crate::state::AppState;

/// Failures for one account within [`THROTTLE_WINDOW`] before it is locked out.
pub const ACCOUNT_FAILURE_LIMIT: i64 = 5;
/// Failures from one IP address within [`THROTTLE_WINDOW`] before it is locked out.
pub const IP_FAILURE_LIMIT: i64 = 20;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

const KEY_USER_ID: &str = "uid";
/// The random session id whose hash must be in `staff_sessions`.
const KEY_SESSION_ID: &str = "sid";
const KEY_EPOCH: &str = "epoch";
const KEY_LOGIN_AT: &str = "login_at";
const KEY_SEEN_AT: &str = "seen_at";
/// The last-seen time is rewritten at most this often, so most responses leave the cookie alone.
const SEEN_RESOLUTION_SECS: i64 = 30;

/// What a staff member may do: superusers everything, others their own and their groups' grants.
#[derive(Debug, Clone, Default)]
pub struct Perms {
    pub superuser: bool,
    pub codenames: HashSet<String>,
}

impl Perms {
    /// `codename` like `users.change`.
    pub fn has(&self, codename: &str) -> bool {
        self.superuser || self.codenames.contains(codename)
    }

    /// Django's rule: the change permission implies view.
    pub fn can_view(&self, model: &str) -> bool {
        self.has(&format!("{model}.view")) || self.has(&format!("{model}.change"))
    }

    pub fn can(&self, model: &str, action: &str) -> bool {
        if action == "view" {
            return self.can_view(model);
        }
        self.has(&format!("{model}.{action}"))
    }

    /// Whether these rights cover every right of `other` (a superuser's only by a superuser's).
    /// Staff may act on an account only if so: otherwise setting its password, or editing it,
    /// would hand them rights they were never given.
    pub fn is_superset_of(&self, other: &Perms) -> bool {
        if self.superuser {
            return true;
        }
        !other.superuser
            && other.codenames.iter().all(|c| match c.split_once('.') {
                Some((model, action)) => self.can(model, action),
                None => self.has(c),
            })
    }
}

/// The signed-in staff member, put in the request extensions by [`require_staff`].
#[derive(Clone)]
pub struct Staff {
    pub user: User,
    pub perms: Perms,
}

/// Every permission codename granted to `user`, directly or through a group.
pub async fn load_perms(conn: &mut AsyncPgConnection, user: &User) -> QueryResult<Perms> {
    combined_perms(conn, std::slice::from_ref(user)).await
}

/// The rights of `users` together (superuser if any of them is one), in two queries: a set of
/// accounts is within someone's reach exactly when this union is.
pub async fn combined_perms(conn: &mut AsyncPgConnection, users: &[User]) -> QueryResult<Perms> {
    if users.iter().any(|u| u.is_superuser) {
        return Ok(Perms {
            superuser: true,
            codenames: HashSet::new(),
        });
    }
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    Ok(Perms {
        superuser: false,
        codenames: Permission::codenames_of_users(conn, &ids).await?,
    })
}

/// Only these may hold a back-office session (Django's `is_active and is_staff`, plus a usable
/// password).
pub fn may_use_back_office(user: &User) -> bool {
    user.is_active && user.is_staff && user.has_usable_password()
}

#[derive(Debug)]
pub enum LoginOutcome {
    Success(Box<User>),
    /// Unknown login, wrong password, not staff, inactive, unusable password: one answer for all.
    Failed,
    Throttled,
}

/// The name failures are counted under: the account's username when the login names one (so
/// "alice" and "alice@example.com" share a counter), else the login as typed.
fn throttle_key(login: &str, user: Option<&User>) -> String {
    let key = match user {
        Some(u) => u.username.to_lowercase(),
        None => login.to_lowercase(),
    };
    key.chars().take(254).collect()
}

pub async fn is_throttled(
    conn: &mut AsyncPgConnection,
    key: &str,
    ip: Option<IpNet>,
) -> QueryResult<bool> {
    let since = Utc::now() - THROTTLE_WINDOW;
    if FailedLogin::count_for_account(conn, key, since).await? >= ACCOUNT_FAILURE_LIMIT {
        return Ok(true);
    }
    let Some(ip) = ip else { return Ok(false) };
    Ok(FailedLogin::count_for_address(conn, ip, since).await? >= IP_FAILURE_LIMIT)
}

/// Failures are kept a day (for the record), then dropped, so the table stays bounded by the
/// attempts of one day; pruned per account and address, which the indexes serve.
const FAILURE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Whether `user` is locked out right now (shown on the user's admin page).
pub async fn is_locked_out(conn: &mut AsyncPgConnection, user: &User) -> QueryResult<bool> {
    is_throttled(conn, &throttle_key("", Some(user)), None).await
}

/// Clears the account's recorded failures (a superuser's "clear lock-out"). IP counts stay.
pub async fn clear_lockout(conn: &mut AsyncPgConnection, user: &User) -> QueryResult<usize> {
    FailedLogin::clear_account(conn, &throttle_key("", Some(user))).await
}

/// One password attempt, recorded in `failed_logins` before the password is checked, so every
/// attempt in flight counts against the limits as a failure would.
struct Attempt {
    id: Uuid,
    key: String,
    ip: Option<IpNet>,
}

/// Under a transaction-scoped lock per throttle key, counts the recent failures and attempts in
/// flight and, if this one is within the limits, records it. Parallel posts for one account or
/// address are serialised here (briefly; the password check comes after), so of any number of
/// them exactly as many as the limit allows get through. `None`: throttled, nothing written.
async fn begin_attempt(
    conn: &mut AsyncPgConnection,
    key: String,
    ip: Option<IpNet>,
    user_agent: &str,
) -> QueryResult<Option<Attempt>> {
    let agent: String = user_agent.chars().take(255).collect();
    conn.transaction(async |conn| {
        FailedLogin::lock_keys(conn, &key, ip).await?;
        if is_throttled(conn, &key, ip).await? {
            return Ok(None);
        }
        let id = new_id();
        NewFailedLogin {
            id,
            username: &key,
            ip,
            user_agent: &agent,
        }
        .insert(conn)
        .await?;
        Ok(Some(Attempt { id, key, ip }))
    })
    .await
}

impl Attempt {
    /// The password was right: it was no failure.
    async fn succeeded(self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        FailedLogin::delete(conn, self.id).await
    }

    /// The password was wrong: the record stays, counted as a failure.
    async fn failed(self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        FailedLogin::prune(conn, &self.key, self.ip, Utc::now() - FAILURE_RETENTION).await
    }
}

/// Argon2 is CPU-heavy: keep it off the async worker.
async fn verify_blocking(password: SecretString, hash: String) -> bool {
    web::block(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Checks a login attempt. The password is verified (against a dummy hash when no account
/// matches) before anything about the account is looked at, so every failure costs the same.
/// `ip` is the client's throttle key (see [`crate::auth::client_ip::throttle_net`]).
pub async fn attempt_login(
    conn: &mut AsyncPgConnection,
    login: &str,
    password: SecretString,
    ip: Option<IpNet>,
    user_agent: &str,
) -> Result<LoginOutcome, DbError> {
    let login = login.trim();
    let user = User::staff_login_candidate(conn, login).await?;
    let key = throttle_key(login, user.as_ref());
    let Some(attempt) = begin_attempt(conn, key, ip, user_agent).await? else {
        return Ok(LoginOutcome::Throttled);
    };
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let verified = verify_blocking(password, hash).await;
    match user {
        Some(user) if verified && may_use_back_office(&user) => {
            attempt.succeeded(conn).await?;
            let user = User::touch_last_login(conn, user.id).await?;
            Ok(LoginOutcome::Success(Box::new(user)))
        }
        _ => {
            attempt.failed(conn).await?;
            Ok(LoginOutcome::Failed)
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    Right,
    Wrong,
    Throttled,
}

/// Checks a signed-in staff member's own password (the old one on the password change form)
/// under the login throttle: same account key and address, so a stolen session cannot guess the
/// password faster than the login page allows, and not at all while the account is locked.
pub async fn check_own_password(
    conn: &mut AsyncPgConnection,
    user: &User,
    password: SecretString,
    ip: Option<IpNet>,
    user_agent: &str,
) -> Result<PasswordCheck, DbError> {
    let Some(attempt) = begin_attempt(conn, throttle_key("", Some(user)), ip, user_agent).await?
    else {
        return Ok(PasswordCheck::Throttled);
    };
    let hash = user
        .password_hash
        .clone()
        .unwrap_or_else(|| DUMMY_HASH.clone());
    if user.has_usable_password() && verify_blocking(password, hash).await {
        attempt.succeeded(conn).await?;
        Ok(PasswordCheck::Right)
    } else {
        attempt.failed(conn).await?;
        Ok(PasswordCheck::Wrong)
    }
}

fn session_id_hash(session_id: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, session_id.as_bytes())
        .as_ref()
        .to_vec()
}

/// Deletes the server-side record of `session`'s id, if it has one.
async fn forget_session_id(conn: &mut AsyncPgConnection, session: &Session) -> QueryResult<()> {
    if let Some(sid) = session.get::<String>(KEY_SESSION_ID).ok().flatten() {
        StaffSession::end(conn, &session_id_hash(&sid)).await?;
    }
    Ok(())
}

/// Starts a fresh session for `user`: new cookie, new random session id (recorded server-side
/// until `max_age` from now), new CSRF token, login and last-seen times. The browser's previous
/// session, if any, ends server-side too; expired records of anyone are pruned.
pub async fn start_session(
    conn: &mut AsyncPgConnection,
    session: &Session,
    user: &User,
    max_age: Duration,
) -> Result<(), crate::error::AdminError> {
    use crate::error::AdminError;
    forget_session_id(conn, session).await?;
    let now = Utc::now();
    let sid = csrf::new_token();
    // SESSION_MAX_AGE_SECONDS is at most 90 days, so this always converts.
    let max_age =
        chrono::Duration::from_std(max_age).unwrap_or_else(|_| chrono::Duration::days(90));
    let expires_at = now + max_age;
    StaffSession::start(conn, &session_id_hash(&sid), user.id, expires_at).await?;
    // Nothing of the anonymous session survives; with a server-side store `renew` also issues a
    // new session key (session fixation).
    session.clear();
    session.renew();
    let now = now.timestamp();
    let insert = || -> Result<(), SessionInsertError> {
        session.insert(KEY_USER_ID, user.id)?;
        session.insert(KEY_SESSION_ID, &sid)?;
        session.insert(KEY_EPOCH, user.session_epoch)?;
        session.insert(KEY_LOGIN_AT, now)?;
        session.insert(KEY_SEEN_AT, now)?;
        csrf::rotate_token(session)?;
        Ok(())
    };
    insert().map_err(AdminError::internal)
}

/// Logout: this browser's cookie is dropped and its session id deleted server-side, so a copy
/// of the cookie taken earlier opens nothing any more.
pub async fn end_session(conn: &mut AsyncPgConnection, session: &Session) -> QueryResult<()> {
    let result = forget_session_id(conn, session).await;
    session.purge();
    result
}

/// Keeps the current session valid after the user's own password change (Django's
/// `update_session_auth_hash`): other sessions of the user still end.
pub fn update_session_epoch(session: &Session, epoch: i32) -> Result<(), SessionInsertError> {
    session.insert(KEY_EPOCH, epoch)
}

/// Whether a session begun at `login_at` and last used at `seen_at` has run out at `now`.
pub fn session_expired(
    login_at: i64,
    seen_at: i64,
    now: i64,
    idle_timeout: Duration,
    max_age: Duration,
) -> bool {
    let idle = i64::try_from(idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    now.saturating_sub(login_at) > max || now.saturating_sub(seen_at) > idle || seen_at > now + 60
}

/// Why a request gets no staff identity.
enum Refused {
    /// No session, or one that ended: go to the login page.
    Anonymous,
    Error(crate::error::AdminError),
}

async fn current_staff(state: &AppState, session: &Session) -> Result<Staff, Refused> {
    let get_i64 = |key| session.get::<i64>(key).ok().flatten();
    let (Some(user_id), Some(sid), Some(epoch), Some(login_at), Some(seen_at)) = (
        session.get::<Uuid>(KEY_USER_ID).ok().flatten(),
        session.get::<String>(KEY_SESSION_ID).ok().flatten(),
        session.get::<i32>(KEY_EPOCH).ok().flatten(),
        get_i64(KEY_LOGIN_AT),
        get_i64(KEY_SEEN_AT),
    ) else {
        return Err(Refused::Anonymous);
    };
    let now = Utc::now().timestamp();
    let settings = &state.settings;
    if session_expired(
        login_at,
        seen_at,
        now,
        settings.session_idle_timeout,
        settings.session_max_age,
    ) {
        // Ended for every copy of the cookie: a copy kept fresh elsewhere (a stolen one) must not
        // outlive the owner's. Best effort: without the database the record expires by itself.
        let forgotten = match db::connection(&state.pool).await {
            Ok(mut conn) => forget_session_id(&mut conn, session)
                .await
                .map_err(DbError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = forgotten {
            tracing::warn!(error = %e, "could not delete an ended staff session's record");
        }
        return Err(Refused::Anonymous);
    }
    let mut conn = db::connection(&state.pool)
        .await
        .map_err(|e| Refused::Error(e.into()))?;
    // The user and the server-side session record in one round trip.
    let user = StaffSession::user(&mut conn, user_id, &session_id_hash(&sid))
        .await
        .map_err(|e| Refused::Error(e.into()))?;
    let Some(user) = user.filter(|u| may_use_back_office(u) && u.session_epoch == epoch) else {
        return Err(Refused::Anonymous);
    };
    let perms = load_perms(&mut conn, &user)
        .await
        .map_err(|e| Refused::Error(e.into()))?;
    if now - seen_at >= SEEN_RESOLUTION_SECS {
        session
            .insert(KEY_SEEN_AT, now)
            .map_err(|e| Refused::Error(crate::error::AdminError::internal(e)))?;
    }
    Ok(Staff { user, perms })
}

/// Guard for every admin page but login: anonymous (or ended) sessions are sent to the login page
/// with `next`, so a forgotten check cannot open a page and unknown URLs reveal nothing.
pub async fn require_staff<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let response = crate::error::AdminError::internal("AppState missing").error_response();
        return Ok(req.into_response(response).map_into_right_body());
    };
    let session = req.get_session();
    match current_staff(&state, &session).await {
        Ok(staff) => {
            req.extensions_mut().insert(staff);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(Refused::Anonymous) => {
            // Drop whatever is left of an ended session, keeping nothing of it.
            if session.get::<Uuid>(KEY_USER_ID).ok().flatten().is_some() {
                session.purge();
            }
            let target = match req.query_string() {
                "" => req.path().to_owned(),
                q => format!("{}?{q}", req.path()),
            };
            let location = format!(
                "/admin/login/?next={}",
                url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
            );
            let response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            Ok(req.into_response(response).map_into_right_body())
        }
        Err(Refused::Error(e)) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_after_idle_time_or_max_age() {
        let idle = Duration::from_secs(600);
        let max = Duration::from_secs(3600);
        assert!(!session_expired(1000, 1000, 1500, idle, max));
        assert!(session_expired(1000, 1000, 1601, idle, max), "idle");
        assert!(!session_expired(1000, 4000, 4500, idle, max));
        assert!(session_expired(1000, 4500, 4601, idle, max), "absolute");
        assert!(
            session_expired(1000, 9000, 1100, idle, max),
            "seen in the future"
        );
    }

    #[test]
    fn change_implies_view() {
        let perms = Perms {
            superuser: false,
            codenames: ["users.change".to_owned()].into(),
        };
        assert!(perms.can_view("users"));
        assert!(perms.can("users", "change"));
        assert!(!perms.can("users", "delete"));
        assert!(!perms.can_view("articles"));
        let root = Perms {
            superuser: true,
            codenames: HashSet::new(),
        };
        assert!(root.can("groups", "delete"));
    }

    #[test]
    fn superset_counts_implied_view_and_guards_superusers() {
        let of = |codes: &[&str]| Perms {
            superuser: false,
            codenames: codes.iter().map(|c| (*c).to_owned()).collect(),
        };
        let root = Perms {
            superuser: true,
            codenames: HashSet::new(),
        };
        let editor = of(&["users.change", "groups.view"]);
        assert!(editor.is_superset_of(&of(&[])));
        assert!(editor.is_superset_of(&of(&["users.view", "users.change"])));
        assert!(editor.is_superset_of(&editor));
        assert!(!editor.is_superset_of(&of(&["users.delete"])));
        assert!(!editor.is_superset_of(&of(&["groups.change"])));
        assert!(!editor.is_superset_of(&root));
        assert!(root.is_superset_of(&root));
        assert!(root.is_superset_of(&editor));
    }
}
