use actix_web::{get, patch, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{Fields, JsonObject};
use crate::auth::cognito::CognitoUser;
use crate::db;
use crate::error::{ApiError, ErrorBody};
use crate::models::{ProfileChanges, User};
use crate::state::AppState;

/// What an app user may know about their own account: never the password hash, staff flags or
/// internal revocation state.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    /// The Cognito groups of the token (`cognito:groups`).
    pub groups: Vec<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Me {
    fn new(user: User, groups: &[String]) -> Self {
        Me {
            id: user.id,
            username: user.username,
            email: user.email,
            email_verified: user.email_verified,
            first_name: user.first_name,
            last_name: user.last_name,
            groups: groups.to_vec(),
            is_active: user.is_active,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

// Only for the OpenAPI document, as `ArticleCreate`.
/// The names to change; every other field of `Me` is read-only (sending one is a
/// `validation_error` that says so).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MePatch {
    /// At most 150 characters (after trimming).
    #[schema(max_length = 150, pattern = r"^[^\u0000]*$", nullable = false)]
    first_name: Option<String>,
    /// At most 150 characters (after trimming).
    #[schema(max_length = 150, pattern = r"^[^\u0000]*$", nullable = false)]
    last_name: Option<String>,
}

/// The caller's own account.
#[utoipa::path(
    tag = "me",
    operation_id = "getMe",
    responses(
        (status = 200, body = Me, description = "The caller's account"),
        (status = 401, body = ErrorBody, description = "No valid token (see the error codes)"),
        (status = 403, body = ErrorBody, description = "user_inactive, user_not_provisioned, or user_required (a machine-to-machine token)"),
        (status = 503, body = ErrorBody, description = "jwks_unavailable, cognito_not_configured or database_unavailable"),
    ),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn get(caller: CognitoUser) -> web::Json<Me> {
    let CognitoUser { user, claims, .. } = caller;
    web::Json(Me::new(user, claims.groups()))
}

const READ_ONLY: &[&str] = &[
    "id",
    "username",
    "email",
    "email_verified",
    "groups",
    "is_active",
    "created_at",
    "updated_at",
];

/// Change the caller's names. Email and username belong to Cognito; sending them (or any other
/// read-only field) is a validation error that says so.
#[utoipa::path(
    tag = "me",
    operation_id = "updateMe",
    request_body = MePatch,
    responses(
        (status = 200, body = Me, description = "The account, changed"),
        (status = 400, body = ErrorBody, description = "malformed_json"),
        (status = 403, body = ErrorBody, description = "user_required: a machine-to-machine token has no account"),
        (status = 422, body = ErrorBody, description = "validation_error"),
    ),
    security(("bearer" = []))
)]
#[patch("/me")]
pub async fn update(
    caller: CognitoUser,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<web::Json<Me>, ApiError> {
    let mut f = Fields::new(&body.0, &["first_name", "last_name"], READ_ONLY);
    let first_name = f.string("first_name", true, 0, 150);
    let last_name = f.string("last_name", true, 0, 150);
    let (first_name, last_name) = f.errors.finish((first_name, last_name))?;
    let CognitoUser { user, claims, .. } = caller;
    if first_name.is_none() && last_name.is_none() {
        return Ok(web::Json(Me::new(user, claims.groups())));
    }
    let changes = ProfileChanges {
        first_name: first_name.as_deref(),
        last_name: last_name.as_deref(),
        ..ProfileChanges::default()
    };
    let mut conn = db::connection(&state.pool).await?;
    let updated = User::update_profile(&mut conn, user.id, &changes).await?;
    Ok(web::Json(Me::new(updated, claims.groups())))
}
