//! Why a bearer token was refused, with the stable code, status and RFC 6750 challenge of each.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

use crate::db::DbError;
use crate::error::{ApiError, ErrorCode};

#[derive(Debug)]
pub enum AuthError {
    MissingToken,
    /// The `Authorization` header itself is malformed (400).
    InvalidRequest(&'static str),
    MalformedToken(String),
    UnsupportedAlgorithm(String),
    UnknownKey,
    InvalidSignature,
    TokenExpired,
    TokenNotYetValid,
    InvalidIssuer,
    InvalidAudience(String),
    InvalidTokenUse(String),
    InvalidClaims(String),
    TokenRevoked,
    UserInactive,
    UserNotProvisioned,
    /// A machine-to-machine token on a route that needs a person.
    UserRequired,
    JwksUnavailable,
    CognitoNotConfigured,
    InsufficientScope(String),
    ForbiddenGroup(String),
    /// No web session cookie (`/auth/user`).
    NotSignedIn,
    /// The session cookie names no live session: signed out, expired, or its refresh was refused.
    SessionExpired,
    /// A cookie-authenticated API request without `X-CSRF: 1`.
    CsrfRequired,
    /// A cookie-authenticated unsafe request from an origin other than the site's (or a CORS one).
    OriginNotAllowed,
    /// The session's access token has expired and Cognito's token endpoint did not answer.
    AuthServerUnavailable,
    WebSignInNotConfigured,
    Database(DbError),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::MissingToken => ErrorCode::MissingToken,
            AuthError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            AuthError::MalformedToken(_) => ErrorCode::MalformedToken,
            AuthError::UnsupportedAlgorithm(_) => ErrorCode::UnsupportedAlgorithm,
            AuthError::UnknownKey => ErrorCode::UnknownKey,
            AuthError::InvalidSignature => ErrorCode::InvalidSignature,
            AuthError::TokenExpired => ErrorCode::TokenExpired,
            AuthError::TokenNotYetValid => ErrorCode::TokenNotYetValid,
            AuthError::InvalidIssuer => ErrorCode::InvalidIssuer,
            AuthError::InvalidAudience(_) => ErrorCode::InvalidAudience,
            AuthError::InvalidTokenUse(_) => ErrorCode::InvalidTokenUse,
            AuthError::InvalidClaims(_) => ErrorCode::InvalidClaims,
            AuthError::TokenRevoked => ErrorCode::TokenRevoked,
            AuthError::UserInactive => ErrorCode::UserInactive,
            AuthError::UserNotProvisioned => ErrorCode::UserNotProvisioned,
            AuthError::UserRequired => ErrorCode::UserRequired,
            AuthError::JwksUnavailable => ErrorCode::JwksUnavailable,
            AuthError::CognitoNotConfigured => ErrorCode::CognitoNotConfigured,
            AuthError::InsufficientScope(_) => ErrorCode::InsufficientScope,
            AuthError::ForbiddenGroup(_) => ErrorCode::ForbiddenGroup,
            AuthError::NotSignedIn => ErrorCode::NotSignedIn,
            AuthError::SessionExpired => ErrorCode::SessionExpired,
            AuthError::CsrfRequired => ErrorCode::CsrfRequired,
            AuthError::OriginNotAllowed => ErrorCode::OriginNotAllowed,
            AuthError::AuthServerUnavailable => ErrorCode::AuthServerUnavailable,
            AuthError::WebSignInNotConfigured => ErrorCode::WebSignInNotConfigured,
            AuthError::Database(_) => ErrorCode::DatabaseUnavailable,
        }
    }

    /// The human message; also the RFC 6750 `error_description`, so it never holds the token.
    pub fn message(&self) -> String {
        match self {
            AuthError::MissingToken => {
                "Authentication required: send Authorization: Bearer <Cognito token>.".into()
            }
            AuthError::InvalidRequest(why) => format!("Malformed Authorization header: {why}."),
            AuthError::MalformedToken(why) => format!("The token is malformed: {why}."),
            AuthError::UnsupportedAlgorithm(why) => format!("Unsupported algorithm: {why}."),
            AuthError::UnknownKey => {
                "The token is signed with a key the user pool does not publish.".into()
            }
            AuthError::InvalidSignature => "The token's signature is invalid.".into(),
            AuthError::TokenExpired => "The token has expired.".into(),
            AuthError::TokenNotYetValid => "The token is not valid yet (nbf).".into(),
            AuthError::InvalidIssuer => {
                "The token was not issued by the accepted user pool.".into()
            }
            AuthError::InvalidAudience(why) => {
                format!("The token is not for an accepted app client: {why}.")
            }
            AuthError::InvalidTokenUse(why) => format!("Wrong kind of token: {why}."),
            AuthError::InvalidClaims(why) => format!("The token's claims are invalid: {why}."),
            AuthError::TokenRevoked => "The token has been revoked (signed out).".into(),
            AuthError::UserInactive => "This account is deactivated.".into(),
            AuthError::UserNotProvisioned => {
                "No local account exists for this user and automatic creation is off.".into()
            }
            AuthError::UserRequired => {
                "This needs a signed-in user; a machine-to-machine (client credentials) token \
                 cannot use it."
                    .into()
            }
            AuthError::JwksUnavailable => {
                "The user pool's signing keys are unavailable; try again shortly.".into()
            }
            AuthError::CognitoNotConfigured => {
                "Token authentication is not configured on this server.".into()
            }
            AuthError::InsufficientScope(scope) => {
                format!("The token lacks the required scope {scope:?}.")
            }
            AuthError::ForbiddenGroup(group) => {
                format!("This requires membership of the Cognito group {group:?}.")
            }
            AuthError::NotSignedIn => "Not signed in: no session cookie.".into(),
            AuthError::SessionExpired => "Your session has ended; sign in again.".into(),
            AuthError::CsrfRequired => {
                "A request authenticated by the session cookie must carry the header X-CSRF: 1."
                    .into()
            }
            AuthError::OriginNotAllowed => {
                "This origin may not make changes with the session cookie.".into()
            }
            AuthError::AuthServerUnavailable => {
                "The sign-in service did not answer while renewing your session; try again \
                 shortly."
                    .into()
            }
            AuthError::WebSignInNotConfigured => {
                "Web sign-in is not configured on this server.".into()
            }
            AuthError::Database(_) => "The database is unavailable; try again shortly.".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::UserInactive
            | AuthError::UserNotProvisioned
            | AuthError::UserRequired
            | AuthError::InsufficientScope(_)
            | AuthError::ForbiddenGroup(_)
            | AuthError::CsrfRequired
            | AuthError::OriginNotAllowed => StatusCode::FORBIDDEN,
            AuthError::JwksUnavailable
            | AuthError::AuthServerUnavailable
            | AuthError::WebSignInNotConfigured
            | AuthError::CognitoNotConfigured
            | AuthError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// Logs an internal detail alongside the refusal (never shown to the client).
    pub fn with_log(self, detail: String) -> Self {
        tracing::warn!(code = %self.code(), detail, "token refused");
        self
    }

    fn challenge(&self) -> Option<String> {
        let description = self.message().replace(['"', '\\'], "'");
        match self {
            // RFC 6750 §3.1: no error code when the request carries no bearer credentials.
            AuthError::MissingToken => Some(r#"Bearer realm="gatehouse""#.into()),
            AuthError::InvalidRequest(_) => Some(format!(
                r#"Bearer realm="gatehouse", error="invalid_request", error_description="{description}""#
            )),
            AuthError::InsufficientScope(scope) => Some(format!(
                r#"Bearer realm="gatehouse", error="insufficient_scope", error_description="{description}", scope="{}""#,
                scope.replace(['"', '\\'], "'")
            )),
            _ if self.status() == StatusCode::UNAUTHORIZED => Some(format!(
                r#"Bearer realm="gatehouse", error="invalid_token", error_description="{description}""#
            )),
            _ => None,
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl From<DbError> for AuthError {
    fn from(e: DbError) -> Self {
        AuthError::Database(e)
    }
}

impl From<diesel::result::Error> for AuthError {
    fn from(e: diesel::result::Error) -> Self {
        AuthError::Database(DbError::Query(e))
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        if let AuthError::Database(db) = e {
            return db.into();
        }
        let mut error = ApiError::new(e.status(), e.code(), e.message());
        if let Some(challenge) = e.challenge()
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            error = error.with_header(header::WWW_AUTHENTICATE, value);
        }
        if matches!(
            e,
            AuthError::JwksUnavailable | AuthError::AuthServerUnavailable
        ) {
            error = error.with_header(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        error
    }
}
