//! Every error answered over HTTP, in one place: [`ApiError`] for the JSON API (and the token
//! guard), its body [`ErrorBody`] (also the schema the OpenAPI document names), and
//! [`AdminError`] for the back office's HTML pages.
//!
//! API errors are `{"error": {"code": "…", "message": "…"}}`: `code` is stable and
//! machine-readable; `message` is for humans. A server fault logs its detail and answers a
//! generic message with the request id, so clients can quote it to operators. This module
//! imports nothing above the database layer, so both doors and `auth` can use it.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;
use crate::telemetry;

/// Declares [`ErrorCode`]: each variant with the exact string clients see, so the enum in the
/// OpenAPI document is the set the server can send.
macro_rules! error_codes {
    ($($variant:ident = $code:literal,)*) => {
        /// Stable, machine-readable error codes. A code is never renamed or removed. One may be
        /// added: a client that parses this enum strictly (openapi-python-client's does) reads a
        /// new code once regenerated.
        // utoipa reads `rename_all` but not a variant's own `rename`: the names are snake_case
        // of the variants, and a test checks they are the strings given here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // The bearer token (401 unless said otherwise).
    MissingToken = "missing_token",
    // 400: a malformed `Authorization` header.
    InvalidRequest = "invalid_request",
    MalformedToken = "malformed_token",
    UnsupportedAlgorithm = "unsupported_algorithm",
    UnknownKey = "unknown_key",
    // A token's, or a hook request's, signature does not match.
    InvalidSignature = "invalid_signature",
    TokenExpired = "token_expired",
    TokenNotYetValid = "token_not_yet_valid",
    InvalidIssuer = "invalid_issuer",
    InvalidAudience = "invalid_audience",
    InvalidTokenUse = "invalid_token_use",
    InvalidClaims = "invalid_claims",
    TokenRevoked = "token_revoked",
    // The web session cookie (401, then 403 for the CSRF checks).
    NotSignedIn = "not_signed_in",
    SessionExpired = "session_expired",
    CsrfRequired = "csrf_required",
    OriginNotAllowed = "origin_not_allowed",
    // 403 from here to `forbidden_group`.
    UserInactive = "user_inactive",
    UserNotProvisioned = "user_not_provisioned",
    UserRequired = "user_required",
    InsufficientScope = "insufficient_scope",
    ForbiddenGroup = "forbidden_group",
    PermissionDenied = "permission_denied",
    // The request.
    MalformedJson = "malformed_json",
    MalformedBody = "malformed_body",
    ValidationError = "validation_error",
    UnsupportedMediaType = "unsupported_media_type",
    PayloadTooLarge = "payload_too_large",
    NotFound = "not_found",
    MethodNotAllowed = "method_not_allowed",
    PreconditionFailed = "precondition_failed",
    // A refused CORS preflight (403, or 400 when malformed).
    CorsRejected = "cors_rejected",
    // The signed hook.
    MissingSignature = "missing_signature",
    SignatureExpired = "signature_expired",
    SignatureReplayed = "signature_replayed",
    // The server (5xx).
    InternalError = "internal_error",
    DatabaseUnavailable = "database_unavailable",
    JwksUnavailable = "jwks_unavailable",
    CognitoNotConfigured = "cognito_not_configured",
    // Cognito's token endpoint did not answer a session's refresh.
    AuthServerUnavailable = "auth_server_unavailable",
    WebSignInNotConfigured = "web_sign_in_not_configured",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub fields: Option<BTreeMap<String, Vec<String>>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The shape of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For humans; may change.
    pub message: String,
    /// `validation_error` only: messages per field (`non_field_errors` for the body as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fields: Option<BTreeMap<String, Vec<String>>>,
    /// 5xx only: quote it when reporting the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: None,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "There is nothing at this address.",
        )
    }

    /// A real server fault: `detail` goes to the log, never to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "The server failed to handle this request. Quote the request id when reporting it.",
        )
    }

    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DatabaseUnavailable,
            "The database is unavailable; try again shortly.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = self
            .status
            .is_server_error()
            .then(telemetry::current_request_id)
            .flatten()
            .map(|id| id.to_string());
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                fields: self.fields.clone(),
                request_id,
            },
        })
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::database_unavailable()
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::Query(e).into()
    }
}

/// A back-office failure, answered with an HTML page in the admin's style.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("CSRF check failed: {0}")]
    Csrf(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("database unavailable")]
    Unavailable,
    /// The detail was logged when this was made; the page shows none of it.
    #[error("internal error")]
    Internal,
}

impl AdminError {
    /// A real server fault: `detail` goes to the log, never to the page.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "admin internal error");
        AdminError::Internal
    }

    fn texts(&self) -> (&'static str, String) {
        match self {
            AdminError::NotFound => (
                "Page not found",
                "There is nothing at this address, or it has been deleted.".into(),
            ),
            AdminError::Forbidden => (
                "Permission denied",
                "You do not have permission to view or do this. Ask a superuser if you need to."
                    .into(),
            ),
            AdminError::Csrf(why) => ("Forbidden (CSRF check failed)", why.clone()),
            AdminError::BadRequest(why) => ("Bad request", why.clone()),
            AdminError::Unavailable => (
                "Database unavailable",
                "The database cannot be reached right now. Try again in a moment.".into(),
            ),
            AdminError::Internal => (
                "Server error",
                match telemetry::current_request_id() {
                    Some(id) => format!(
                        "Something went wrong on our side. Quote request id {id} when reporting it."
                    ),
                    None => "Something went wrong on our side.".into(),
                },
            ),
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::Forbidden | AdminError::Csrf(_) => StatusCode::FORBIDDEN,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error page (also what the staff guard answers with, which has no handler).
    fn error_response(&self) -> HttpResponse {
        let (heading, message) = self.texts();
        let page = ErrorPage {
            page_title: heading,
            ctx: Nobody::default(),
            status: self.status_code().as_u16(),
            heading,
            message,
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if matches!(self, AdminError::Unavailable) {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        match page.render() {
            Ok(body) => response.content_type("text/html; charset=utf-8").body(body),
            Err(e) => {
                tracing::error!(error = %e, "rendering the admin error page failed");
                response
                    .content_type("text/plain; charset=utf-8")
                    .body(format!("{heading}: {}", page.message))
            }
        }
    }
}

impl From<DbError> for AdminError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            AdminError::Unavailable
        } else {
            AdminError::internal(e)
        }
    }
}

impl From<diesel::result::Error> for AdminError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::Query(e).into()
    }
}

/// The admin layout's page context as it is for nobody in particular: the error page is shown
/// before (or instead of) knowing who asks, so it needs none of the admin kit.
#[derive(Default)]
struct Nobody {
    username: &'static str,
    csrf: &'static str,
    messages: Vec<String>,
}

impl Nobody {
    fn signed_in(&self) -> bool {
        false
    }

    fn can(&self, _model: &str, _action: &str) -> bool {
        false
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage {
    page_title: &'static str,
    ctx: Nobody,
    status: u16,
    heading: &'static str,
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_declared() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).ok(), Some(code.as_str().into()));
        }
    }
}
