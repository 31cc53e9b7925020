use actix_web::web::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::cognito::CognitoUser;

/// What an app user may know about their own account: never the password hash, staff flags or
/// internal revocation state.
#[derive(Serialize)]
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

/// `GET /api/v1/me`.
pub async fn get(caller: CognitoUser) -> Json<Me> {
    let CognitoUser { user, claims } = caller;
    Json(Me {
        id: user.id,
        username: user.username,
        email: user.email,
        email_verified: user.email_verified,
        first_name: user.first_name,
        last_name: user.last_name,
        groups: claims.groups().to_vec(),
        is_active: user.is_active,
        created_at: user.created_at,
        updated_at: user.updated_at,
    })
}
