use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Duration, Utc};

use crate::auth::cognito::{AuthError, Claims, CognitoUser};
use crate::auth::web::{WebAuth, revocations};
use crate::db;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::models::{NewRevokedToken, WebSession, new_id};
use crate::state::AppState;

/// Sign out: refuses, from now on, the caller's token and every token refreshed from the same
/// sign-in (`origin_jti`), and ends a web session of that sign-in. Called with the web session
/// cookie, it ends that session. Kept as long as that sign-in can mint tokens: its refresh token lives
/// `COGNITO_REFRESH_TOKEN_DAYS` from `auth_time`, and the last token it mints lives at most a day
/// more (Cognito's longest access/id token validity); never less than this token's own `exp`.
#[utoipa::path(
    tag = "me",
    operation_id = "logout",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = ErrorBody, description = "No valid token"),
        (status = 403, body = ErrorBody, description = "user_required: a machine-to-machine token has no sign-in to end"),
    ),
    security(("bearer" = []))
)]
#[post("/logout")]
pub async fn logout(
    caller: CognitoUser,
    state: web::Data<AppState>,
    web_auth: Option<web::Data<WebAuth>>,
) -> Result<HttpResponse, ApiError> {
    if let Some(session_id) = caller.web_session {
        return end_web_session(
            &caller,
            session_id,
            &state,
            web_auth.as_ref().map(|w| w.get_ref()),
        )
        .await;
    }
    let Some(session_id) = caller.claims.session_id() else {
        return Err(AuthError::InvalidClaims(
            "the token has neither origin_jti nor jti, so it cannot be revoked alone; \
             ask for a sign-out everywhere instead"
                .into(),
        )
        .into());
    };
    let refresh_days = state
        .settings
        .cognito
        .as_ref()
        .map_or(30, |c| c.refresh_token_days);
    let expires_at = revocation_ends(&caller.claims, refresh_days, Utc::now());
    let mut conn = db::connection(&state.pool).await?;
    NewRevokedToken {
        id: new_id(),
        issuer: &caller.claims.iss,
        jti: session_id,
        sub: &caller.claims.sub,
        expires_at,
    }
    .insert(&mut conn)
    .await?;
    // A web session of the same sign-in ends too (its tokens are the ones just revoked).
    let ended = WebSession::end_of_sign_in(&mut conn, caller.user.id, session_id).await?;
    drop(conn);
    if let Some(web_auth) = web_auth {
        let ids: Vec<uuid::Uuid> = ended.iter().map(|s| s.id).collect();
        revocations::revoke_now(&web_auth, &state.pool, &ids).await;
    }
    tracing::info!(user = %caller.user, "API session revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// Signed in by the session cookie: the web session ends as `POST /auth/logout` ends it (row
/// deleted, refresh token revoked at Cognito, cookie cleared), without the redirect.
async fn end_web_session(
    caller: &CognitoUser,
    session_id: uuid::Uuid,
    state: &AppState,
    web_auth: Option<&WebAuth>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = db::connection(&state.pool).await?;
    let ended = WebSession::end_of_user(&mut conn, caller.user.id, session_id).await?;
    drop(conn);
    let mut answer = HttpResponse::NoContent();
    if let Some(web_auth) = web_auth {
        if let Some(ended) = &ended {
            revocations::revoke_now(web_auth, &state.pool, &[ended.id]).await;
        }
        answer.cookie(web_auth.removal(web_auth.session_cookie_name()));
    }
    tracing::info!(user = %caller.user, "web session ended through the API");
    Ok(answer.finish())
}

/// When no token of this sign-in can be valid any more. Without `auth_time` the sign-in is
/// dated by `iat`, else by now; both are no earlier than the real sign-in, so the revocation
/// only lasts longer.
fn revocation_ends(claims: &Claims, refresh_days: u64, now: DateTime<Utc>) -> DateTime<Utc> {
    let signed_in = claims.signed_in_at().filter(|t| *t <= now).unwrap_or(now);
    let days = i64::try_from(refresh_days)
        .unwrap_or(3650)
        .saturating_add(1);
    let last_token_expires = signed_in + Duration::days(days);
    match DateTime::<Utc>::from_timestamp(claims.exp, 0) {
        Some(exp) if exp > last_token_expires => exp,
        _ => last_token_expires,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(auth_time: Option<i64>, iat: Option<i64>, exp: i64) -> Claims {
        serde_json::from_value(serde_json::json!({
            "sub": "s", "iss": "i", "exp": exp, "token_use": "access",
            "auth_time": auth_time, "iat": iat,
        }))
        .unwrap()
    }

    #[test]
    fn a_revocation_lasts_as_long_as_the_sign_in_can_mint_tokens() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let t = now.timestamp();
        let day = 86_400;
        // From auth_time: refresh lifetime plus a day of token validity.
        let ends = revocation_ends(&claims(Some(t - day), Some(t), t + 60), 30, now);
        assert_eq!(ends.timestamp(), t - day + 31 * day);
        // Never shorter than the token itself.
        let ends = revocation_ends(&claims(Some(t), Some(t), t + 90 * day), 30, now);
        assert_eq!(ends.timestamp(), t + 90 * day);
        // Without auth_time: iat, else now; a future auth_time counts as now.
        let ends = revocation_ends(&claims(None, Some(t - day), t + 60), 1, now);
        assert_eq!(ends.timestamp(), t - day + 2 * day);
        let ends = revocation_ends(&claims(None, None, t + 60), 1, now);
        assert_eq!(ends.timestamp(), t + 2 * day);
        let ends = revocation_ends(&claims(Some(t + 10 * day), None, t + 60), 1, now);
        assert_eq!(ends.timestamp(), t + 2 * day);
    }
}
