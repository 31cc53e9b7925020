//! From a session cookie to a signed-in user, and the refresh of the session's tokens.
//!
//! A request costs one indexed lookup (the session row joined with its user): the tokens were
//! verified when Cognito issued them, and only their claims are read again. When the access token
//! is within [`REFRESH_MARGIN`] of its end, one request refreshes it under the row's lock
//! (`SELECT … FOR UPDATE`), so one refresh happens per session however many requests and
//! instances see it due; the others go on with the current token while it is valid, or wait for
//! the lock and read what the refresher stored.

use actix_web::HttpRequest;
use actix_web::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use ipnet::IpNet;
use uuid::Uuid;

use super::WebAuth;
use super::managed_login::EndpointError;
use crate::auth::client_ip;
use crate::auth::cognito::{AuthError, Claims};
use crate::db;
use crate::models::{RefreshedTokens, User, WebSession};
use crate::state::AppState;

/// An access token this close to its end is refreshed first.
pub const REFRESH_MARGIN: TimeDelta = TimeDelta::seconds(60);
/// While another request refreshes, a token with at least this much life left is used as is.
const STILL_USABLE: TimeDelta = TimeDelta::seconds(5);
/// `last_seen_at` (and the address) is written at most this often.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);
/// The header a cookie-authenticated API request must carry: a cross-site page can send it only
/// after a CORS preflight, which only the site and `CORS_ALLOWED_ORIGINS` pass.
pub const CSRF_HEADER: &str = "x-csrf";

/// The signed-in user of a web session.
pub struct SignedIn {
    pub session: WebSession,
    pub user: User,
    /// The claims of the session's access token.
    pub claims: Claims,
}

/// SHA-256 of a cookie secret: what the table holds.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

/// Our secrets are 32 random bytes, base64url: anything else is refused before the database.
pub fn well_formed(secret: &str) -> bool {
    secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The sealed token columns of a session row.
#[derive(Clone, Copy)]
pub enum Column {
    Access,
    Refresh,
}

/// The sealing context of a session's token: the row and the column.
pub fn context(session_id: Uuid, column: Column) -> Vec<u8> {
    let name: &[u8] = match column {
        Column::Access => b"access",
        Column::Refresh => b"refresh",
    };
    let mut context = session_id.as_bytes().to_vec();
    context.extend_from_slice(name);
    context
}

/// The client's address as the logs and the account page show it.
pub fn request_ip(req: &HttpRequest, state: &AppState) -> Option<IpNet> {
    client_ip::of_request(req, state).map(IpNet::from)
}

/// Whether the request carries `X-CSRF: 1` (what a script of an allowed origin can send).
pub fn has_csrf_header(req: &HttpRequest) -> bool {
    req.headers().get(CSRF_HEADER).map(|v| v.as_bytes()) == Some(b"1")
}

/// A cookie-authenticated API request: `X-CSRF: 1` on every method, an allowed `Origin` on every
/// unsafe one, then the session.
pub async fn for_api(
    req: &HttpRequest,
    web: &WebAuth,
    state: &AppState,
    secret: &str,
) -> Result<SignedIn, AuthError> {
    if !has_csrf_header(req) {
        return Err(AuthError::CsrfRequired);
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !web.origin_allowed(req) {
        return Err(AuthError::OriginNotAllowed);
    }
    current(web, state, secret, request_ip(req, state)).await
}

/// The live session of `secret`, its tokens refreshed when due.
pub async fn current(
    web: &WebAuth,
    state: &AppState,
    secret: &str,
    ip: Option<IpNet>,
) -> Result<SignedIn, AuthError> {
    if !well_formed(secret) {
        return Err(AuthError::SessionExpired);
    }
    let id_hash = hash_secret(secret);
    let now = Utc::now();
    let idle_since = idle_since(web, now);
    let mut conn = db::connection(&state.pool).await?;
    let Some((mut session, user)) = WebSession::find_live(&mut conn, &id_hash, idle_since).await?
    else {
        return Err(AuthError::SessionExpired);
    };
    if !user.is_active {
        return Err(AuthError::UserInactive);
    }
    if session.access_expires_at - now <= REFRESH_MARGIN {
        session = refresh(web, &mut conn, session, &user).await?;
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        WebSession::touch(&mut conn, session.id, now, ip).await?;
        session.last_seen_at = now;
        session.ip = ip;
    }
    let claims = match access_claims(web, &session) {
        Ok(claims) => claims,
        Err(why) => {
            // SECRET_KEY changed, or the row was altered: nothing to do but end it.
            tracing::warn!(session = %session, why, "web session unreadable; ended");
            WebSession::end_by_hash(&mut conn, &id_hash).await?;
            return Err(AuthError::SessionExpired);
        }
    };
    Ok(SignedIn {
        session,
        user,
        claims,
    })
}

pub fn idle_since(web: &WebAuth, now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::from_std(web.settings().idle_timeout).unwrap_or(TimeDelta::MAX)
}

/// When the session ends if nothing else happens: its absolute end, or idle time after last use.
pub fn ends_at(web: &WebAuth, session: &WebSession) -> DateTime<Utc> {
    let idle = TimeDelta::from_std(web.settings().idle_timeout).unwrap_or(TimeDelta::MAX);
    session.expires_at.min(
        session
            .last_seen_at
            .checked_add_signed(idle)
            .unwrap_or(session.expires_at),
    )
}

/// The claims of the stored access token, read without verifying again (it was verified when
/// Cognito issued it, and has not left the server since).
fn access_claims(web: &WebAuth, session: &WebSession) -> Result<Claims, &'static str> {
    let token = web
        .sealer
        .open_string(&context(session.id, Column::Access), &session.access_token)
        .map_err(|_| "the access token does not open")?;
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "the claims are not base64url")?;
    serde_json::from_slice(&json).map_err(|_| "the claims do not parse")
}

enum Refreshed {
    Session(Box<WebSession>),
    Ended,
}

/// Refreshes the session's tokens once, whoever else is trying (see the module's comment).
async fn refresh(
    web: &WebAuth,
    conn: &mut AsyncPgConnection,
    seen: WebSession,
    user: &User,
) -> Result<WebSession, AuthError> {
    let id = seen.id;
    let outcome = conn
        .transaction::<_, AuthError, _>(async |conn| {
            let (row, sealed_refresh) = match WebSession::lock(conn, id, true).await? {
                Some(locked) => locked,
                // Another request is refreshing: no need to wait while the token still works.
                None if seen.access_expires_at - Utc::now() > STILL_USABLE => {
                    return Ok(Refreshed::Session(Box::new(seen)));
                }
                None => match WebSession::lock(conn, id, false).await? {
                    Some(locked) => locked,
                    None => return Ok(Refreshed::Ended),
                },
            };
            if row.access_expires_at - Utc::now() > REFRESH_MARGIN {
                // Refreshed by whoever held the lock before us.
                return Ok(Refreshed::Session(Box::new(row)));
            }
            refresh_locked(web, conn, row, &sealed_refresh, user).await
        })
        .await?;
    match outcome {
        Refreshed::Session(session) => Ok(*session),
        Refreshed::Ended => Err(AuthError::SessionExpired),
    }
}

/// With the row locked: asks Cognito, stores what it returns, or ends the session it refuses.
async fn refresh_locked(
    web: &WebAuth,
    conn: &mut AsyncPgConnection,
    mut row: WebSession,
    sealed_refresh: &[u8],
    user: &User,
) -> Result<Refreshed, AuthError> {
    let still_usable = row.access_expires_at - Utc::now() > STILL_USABLE;
    let Ok(refresh_token) = web
        .sealer
        .open_string(&context(row.id, Column::Refresh), sealed_refresh)
    else {
        tracing::warn!(session = %row, "refresh token does not open (SECRET_KEY changed?); session ended");
        WebSession::end_by_hash(conn, &row.id_hash).await?;
        return Ok(Refreshed::Ended);
    };
    let tokens = match web.login.refresh(&refresh_token).await {
        Ok(tokens) => tokens,
        Err(EndpointError::Refused { error }) => {
            tracing::info!(session = %row, error, "Cognito refused the refresh; session ended");
            WebSession::end_by_hash(conn, &row.id_hash).await?;
            return Ok(Refreshed::Ended);
        }
        Err(EndpointError::Unavailable(why)) if still_usable => {
            tracing::warn!(session = %row, why, "refresh failed; the current token is still valid");
            return Ok(Refreshed::Session(Box::new(row)));
        }
        Err(EndpointError::Unavailable(why)) => {
            tracing::warn!(session = %row, why, "refresh failed and the access token has expired");
            return Err(AuthError::AuthServerUnavailable);
        }
    };
    let client_id = &web.settings().client_id;
    let access = match web
        .verifier
        .verify_for_client(&tokens.access_token, "access", client_id)
        .await
    {
        Ok(claims) if user.cognito_sub.as_deref() == Some(claims.sub.as_str()) => claims,
        Ok(_) => {
            tracing::warn!(session = %row, "refreshed token names another user; session ended");
            WebSession::end_by_hash(conn, &row.id_hash).await?;
            return Ok(Refreshed::Ended);
        }
        Err(AuthError::JwksUnavailable) if still_usable => {
            return Ok(Refreshed::Session(Box::new(row)));
        }
        Err(AuthError::JwksUnavailable) => return Err(AuthError::AuthServerUnavailable),
        Err(e) => {
            tracing::warn!(session = %row, code = %e.code(), reason = %e.message(), "refreshed token refused; session ended");
            WebSession::end_by_hash(conn, &row.id_hash).await?;
            return Ok(Refreshed::Ended);
        }
    };
    let access_expires_at =
        DateTime::from_timestamp(access.exp, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let sealed_access = web.sealer.seal(
        &context(row.id, Column::Access),
        tokens.access_token.as_bytes(),
    );
    // Cognito returns a new refresh token only when it rotates them; the old one then dies.
    let rotated = tokens.refresh_token.as_deref().map(|t| {
        web.sealer
            .seal(&context(row.id, Column::Refresh), t.as_bytes())
    });
    let stored = RefreshedTokens {
        access_token: &sealed_access,
        refresh_token: rotated.as_deref(),
        access_expires_at,
    };
    WebSession::store_tokens(conn, row.id, &stored).await?;
    // The refreshed id token's profile is not applied: a name the user edited on the account
    // page would be overwritten within the hour. Cognito's profile is taken at sign-in.
    tracing::info!(session = %row, rotated = rotated.is_some(), "web session refreshed");
    row.access_token = sealed_access;
    row.access_expires_at = access_expires_at;
    Ok(Refreshed::Session(Box::new(row)))
}
