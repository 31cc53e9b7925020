use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Duration, Utc};

use super::ErrorBody;
use crate::auth::cognito::{AuthError, CognitoUser};
use crate::db;
use crate::error::ApiError;
use crate::models::{NewRevokedToken, new_id};
use crate::startup::AppState;

/// Sign out: refuses, from now on, the caller's token and every token refreshed from the same
/// sign-in (`origin_jti`). Kept until the token would have expired anyway.
#[utoipa::path(
    tag = "me",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = ErrorBody, description = "No valid token"),
    ),
    security(("bearer" = []))
)]
#[post("/logout")]
pub async fn logout(
    caller: CognitoUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(session_id) = caller.claims.session_id() else {
        return Err(AuthError::InvalidClaims(
            "the token has neither origin_jti nor jti, so it cannot be revoked alone; \
             ask for a sign-out everywhere instead"
                .into(),
        )
        .into());
    };
    let expires_at = DateTime::<Utc>::from_timestamp(caller.claims.exp, 0)
        .unwrap_or_else(|| Utc::now() + Duration::days(1));
    let mut conn = db::connection(&state.pool).await?;
    NewRevokedToken {
        id: new_id(),
        jti: session_id,
        user_id: caller.user.id,
        expires_at,
    }
    .insert(&mut conn)
    .await?;
    tracing::info!(user = %caller.user, "API session revoked");
    Ok(HttpResponse::NoContent().finish())
}
