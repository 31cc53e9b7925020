//! A sign-in through the managed login: started at `/auth/login`, finished at `/auth/callback`.
//! Every check happens before anything is written; the user (when new) and the session are then
//! written in one transaction, so a failure leaves neither.

use actix_web::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use diesel_async::AsyncConnection;
use ipnet::IpNet;
use subtle::ConstantTimeEq;

use super::WebAuth;
use super::managed_login::{EndpointError, random_token};
use super::session::{Column, context, hash_secret, well_formed};
use crate::auth::cognito::provisioning::{self, Identity, Profile};
use crate::auth::cognito::{AuthError, Claims};
use crate::db::{self, DbError};
use crate::models::{NewWebSession, TokenSignIn, User, WebSession, WebSignIn, new_id};
use crate::state::AppState;

/// Where a sign-in without a usable `next` ends.
pub const DEFAULT_NEXT: &str = "/account/";
const MAX_NEXT_LEN: usize = 2048;
const MAX_USER_AGENT_CHARS: usize = 512;

/// `next` when it is a path on this site, else `None`: `/x` yes; `//host`, `/\host`,
/// `https://…`, control characters no (browsers read `/\` and `//` as another host).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= MAX_NEXT_LEN
        && !next
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace());
    ok.then_some(next)
}

/// What `/auth/login` hands the browser.
pub struct Started {
    pub authorize_url: String,
    /// The browser's sign-in cookie value (kept when it already had one: several tabs may sign
    /// in at once).
    pub browser_value: String,
}

pub async fn start(
    web: &WebAuth,
    state: &AppState,
    browser_value: Option<&str>,
    next: &str,
) -> Result<Started, DbError> {
    let browser_value = match browser_value.filter(|v| well_formed(v)) {
        Some(v) => v.to_owned(),
        None => random_token(),
    };
    let (state_value, nonce, verifier) = (random_token(), random_token(), random_token());
    let state_hash = hash_secret(&state_value);
    let now = Utc::now();
    let pending = WebSignIn {
        code_verifier: web.sealer.seal(&state_hash, verifier.as_bytes()),
        browser_hash: hash_secret(&browser_value),
        state_hash,
        nonce: nonce.clone(),
        next_path: safe_next(next).unwrap_or(DEFAULT_NEXT).to_owned(),
        expires_at: now + TimeDelta::seconds(super::SIGN_IN_TTL_SECONDS),
        created_at: now,
    };
    let mut conn = db::connection(&state.pool).await?;
    pending.insert(&mut conn).await?;
    Ok(Started {
        authorize_url: web.login.authorize_url(&state_value, &nonce, &verifier),
        browser_value,
    })
}

/// What came back to `/auth/callback`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A finished sign-in: the new session's cookie secret and where to go.
pub struct Finished {
    pub secret: String,
    pub next: String,
    pub user: User,
}

/// Why a sign-in failed: what the log says, and what the person is told.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("the callback has no state")]
    MissingState,
    #[error("the state is unknown, expired or already used")]
    UnknownState,
    #[error("the state was issued to another browser")]
    OtherBrowser,
    #[error("Cognito answered error={0}")]
    Refused(String),
    #[error("the callback has no code")]
    MissingCode,
    #[error("the token endpoint refused the code: {0}")]
    CodeRefused(String),
    #[error("the token endpoint is unavailable: {0}")]
    Unavailable(String),
    #[error("the tokens are not acceptable: {0}")]
    BadTokens(String),
    #[error("the sign-in was revoked (signed out everywhere since)")]
    Revoked,
    #[error("the account is deactivated")]
    Inactive,
    #[error("no local account and COGNITO_CREATE_USERS is off")]
    NotProvisioned,
    #[error("database: {0}")]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Database(DbError::Query(e))
    }
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Unavailable(_) => StatusCode::BAD_GATEWAY,
            Failure::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Inactive | Failure::NotProvisioned | Failure::Revoked => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// What the person is told: what happened and what to do, nothing internal.
    pub fn message(&self) -> String {
        match self {
            Failure::MissingState | Failure::UnknownState | Failure::OtherBrowser => {
                "This sign-in link is not valid any more (it was already used, it expired, or \
                 it was started in another browser). Start again."
                    .into()
            }
            Failure::Refused(error) if error == "access_denied" => {
                "The sign-in was cancelled or refused.".into()
            }
            Failure::Refused(_) => "The sign-in service could not sign you in.".into(),
            Failure::MissingCode | Failure::CodeRefused(_) | Failure::BadTokens(_) => {
                "The sign-in could not be completed. Start again.".into()
            }
            Failure::Unavailable(_) => {
                "The sign-in service did not answer in time. Try again in a moment.".into()
            }
            Failure::Revoked => "This sign-in was ended by a sign-out. Sign in again.".into(),
            Failure::Inactive => "This account is deactivated.".into(),
            Failure::NotProvisioned => "There is no account here for this user.".into(),
            Failure::Database(_) => "The service is unavailable. Try again in a moment.".into(),
        }
    }
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Database(db) => Failure::Database(db),
            AuthError::JwksUnavailable => Failure::Unavailable(e.message()),
            other => Failure::BadTokens(format!("{}: {}", other.code(), other.message())),
        }
    }
}

pub async fn finish(
    web: &WebAuth,
    state: &AppState,
    callback: Callback,
    browser_value: Option<&str>,
    user_agent: &str,
    ip: Option<IpNet>,
) -> Result<Finished, Failure> {
    let state_value = callback.state.as_deref().ok_or(Failure::MissingState)?;
    if !well_formed(state_value) {
        return Err(Failure::UnknownState);
    }
    let state_hash = hash_secret(state_value);
    let pending = {
        let mut conn = db::connection(&state.pool).await?;
        // Taken out whatever happens next: a state works once.
        WebSignIn::take(&mut conn, &state_hash).await?
    };
    let pending = pending.ok_or(Failure::UnknownState)?;
    let same_browser = browser_value
        .is_some_and(|v| bool::from(hash_secret(v).as_slice().ct_eq(&pending.browser_hash)));
    if !same_browser {
        return Err(Failure::OtherBrowser);
    }
    if pending.expires_at <= Utc::now() {
        return Err(Failure::UnknownState);
    }
    if let Some(error) = callback.error {
        // Printable and short: it goes to the log.
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Err(Failure::Refused(error));
    }
    let code = callback
        .code
        .filter(|c| !c.is_empty())
        .ok_or(Failure::MissingCode)?;
    let verifier = web
        .sealer
        .open_string(&state_hash, &pending.code_verifier)
        .map_err(|_| Failure::UnknownState)?;
    let tokens = web
        .login
        .exchange_code(&code, &verifier)
        .await
        .map_err(|e| match e {
            EndpointError::Refused { error } => Failure::CodeRefused(error),
            EndpointError::Unavailable(why) => Failure::Unavailable(why),
        })?;
    let client_id = &web.settings().client_id;
    let id_token = tokens
        .id_token
        .as_deref()
        .ok_or_else(|| Failure::BadTokens("no id token (is openid among the scopes?)".into()))?;
    let id = web
        .verifier
        .verify_for_client(id_token, "id", client_id)
        .await?;
    let nonce_matches = id
        .nonce
        .as_deref()
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(pending.nonce.as_bytes())));
    if !nonce_matches {
        return Err(Failure::BadTokens(
            "the id token's nonce does not match".into(),
        ));
    }
    let access = web
        .verifier
        .verify_for_client(&tokens.access_token, "access", client_id)
        .await?;
    if access.sub != id.sub || access.iss != id.iss {
        return Err(Failure::BadTokens(
            "the access and id tokens name different users".into(),
        ));
    }
    let refresh_token = tokens
        .refresh_token
        .as_deref()
        .ok_or_else(|| Failure::BadTokens("no refresh token".into()))?;
    let access_expires_at = DateTime::from_timestamp(access.exp, 0)
        .ok_or_else(|| Failure::BadTokens("exp out of range".into()))?;

    let secret = random_token();
    let user = save(
        web,
        state,
        &id,
        &access,
        Tokens {
            secret: &secret,
            access: &tokens.access_token,
            refresh: refresh_token,
            access_expires_at,
        },
        user_agent,
        ip,
    )
    .await?;
    tracing::info!(user = %user, "signed in on the web");
    Ok(Finished {
        secret,
        next: pending.next_path,
        user,
    })
}

struct Tokens<'a> {
    secret: &'a str,
    access: &'a str,
    refresh: &'a str,
    access_expires_at: DateTime<Utc>,
}

/// The user (found or provisioned, exactly as the API does) and the session, in one transaction.
async fn save(
    web: &WebAuth,
    state: &AppState,
    id: &Claims,
    access: &Claims,
    tokens: Tokens<'_>,
    user_agent: &str,
    ip: Option<IpNet>,
) -> Result<User, Failure> {
    let create_users = web.verifier.settings().create_users;
    let max_age = TimeDelta::from_std(web.settings().max_age).unwrap_or(TimeDelta::MAX);
    let idle_since = super::session::idle_since(web, Utc::now());
    let user_agent: String = user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let mut conn = db::connection(&state.pool).await?;
    conn.transaction::<_, Failure, _>(async |conn| {
        {
            let sign_in = TokenSignIn {
                sub: &id.sub,
                session_id: access.session_id().unwrap_or(""),
                signed_in: access.signed_in_at().unwrap_or(DateTime::UNIX_EPOCH),
            };
            let user = match User::find_by_cognito_sub(conn, &id.sub).await? {
                Some(user) => user,
                None if create_users => {
                    provisioning::find_or_create(conn, &Identity::from_claims(id)).await?
                }
                None => return Err(Failure::NotProvisioned),
            };
            // Holds off "sign out everywhere" and deactivation until the session is written
            // (they then end it), and reads what they committed before.
            let user = User::lock_shared(conn, user.id)
                .await?
                .ok_or(Failure::NotProvisioned)?;
            if User::token_revoked(conn, &sign_in).await? {
                return Err(Failure::Revoked);
            }
            if !user.is_active {
                return Err(Failure::Inactive);
            }
            let user = provisioning::sync_profile(conn, user, &Profile::from_claims(id)).await?;
            let session_id = new_id();
            let now = Utc::now();
            NewWebSession {
                id: session_id,
                id_hash: &hash_secret(tokens.secret),
                user_id: user.id,
                sign_in_id: access.session_id().unwrap_or(""),
                access_token: &web.sealer.seal(
                    &context(session_id, Column::Access),
                    tokens.access.as_bytes(),
                ),
                refresh_token: &web.sealer.seal(
                    &context(session_id, Column::Refresh),
                    tokens.refresh.as_bytes(),
                ),
                access_expires_at: tokens.access_expires_at,
                expires_at: now
                    .checked_add_signed(max_age)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
                user_agent: &user_agent,
                ip,
            }
            .insert(conn, idle_since)
            .await?;
            Ok(user)
        }
    })
    .await
}

/// Ends the session of `secret` (if any) and revokes its refresh token at Cognito.
pub async fn sign_out(web: &WebAuth, state: &AppState, secret: &str) -> Result<(), DbError> {
    if !well_formed(secret) {
        return Ok(());
    }
    let ended = {
        let mut conn = db::connection(&state.pool).await?;
        WebSession::end_by_hash(&mut conn, &hash_secret(secret)).await?
    };
    if let Some(session) = ended {
        tracing::info!(session = %session, "signed out on the web");
        super::revocations::revoke_now(web, &state.pool, &[session.id]).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_path_on_this_site_only() {
        for ok in ["/", "/account/", "/articles?page=2#top", "/a/b%2Fc"] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "/a\\b",
            "https://evil.example/",
            "javascript:alert(1)",
            "/a\nb",
            "/a b",
            "/\t/evil.example",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(MAX_NEXT_LEN))), None);
    }
}
