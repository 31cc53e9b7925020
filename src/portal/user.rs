//! `GET /auth/user`: "am I signed in?" for a single-page app, and until when.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::cognito::AuthError;
use crate::auth::web::WebAuth;
use crate::auth::web::session::{self, ends_at, request_ip};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize)]
struct SignedInUser {
    user: UserOut,
    session: SessionOut,
}

#[derive(Serialize)]
struct UserOut {
    id: Uuid,
    username: String,
    email: String,
    email_verified: bool,
    first_name: String,
    last_name: String,
    groups: Vec<String>,
}

#[derive(Serialize)]
struct SessionOut {
    id: Uuid,
    started_at: DateTime<Utc>,
    /// When the session ends unless it is used again (idle timeout), or at the latest.
    expires_at: DateTime<Utc>,
    /// The absolute end, however active the session is.
    max_expires_at: DateTime<Utc>,
}

/// 200 with the user and the session's expiry; 401 `not_signed_in` without a session cookie,
/// 401 `session_expired` when it names no live session (its refresh was refused, too).
pub async fn current_user(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(web) = req.app_data::<web::Data<WebAuth>>() else {
        return Err(AuthError::WebSignInNotConfigured.into());
    };
    let Some(secret) = web.session_secret(&req) else {
        return Err(AuthError::NotSignedIn.into());
    };
    let signed_in = session::current(web, &state, &secret, request_ip(&req, &state)).await?;
    let groups = signed_in.claims.groups().to_vec();
    let (user, s) = (signed_in.user, signed_in.session);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(SignedInUser {
            session: SessionOut {
                id: s.id,
                started_at: s.created_at,
                expires_at: ends_at(web, &s),
                max_expires_at: s.expires_at,
            },
            user: UserOut {
                id: user.id,
                username: user.username,
                email: user.email,
                email_verified: user.email_verified,
                first_name: user.first_name,
                last_name: user.last_name,
                groups,
            },
        }))
}
