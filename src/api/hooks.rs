//! `POST /api/v1/hooks/cognito/post-confirmation`: Cognito's PostConfirmation trigger, forwarded by
//! a small Lambda, creates or updates the local user before their first API call.
//!
//! Public to the token guard, protected by `COGNITO_HOOK_SECRET`: the Lambda sends
//! `X-Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Requests
//! more than five minutes from now are refused, and each signature is accepted once: a captured
//! request replayed inside the window is refused too. The hook is idempotent (the same event sent
//! again, signed anew, leaves one user, unchanged).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use aws_lc_rs::hmac;
use diesel_async::AsyncConnection;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::{FieldErrors, SmallBody};
use crate::auth::cognito::provisioning::{self, Identity, Profile};
use crate::auth::cognito::verify;
use crate::db;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::models::{User, hook_signature};
use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "x-gatehouse-signature";
/// How far a signature's timestamp may be from now, either way.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// The part of Cognito's PostConfirmation event we use (all attribute values are strings).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostConfirmationEvent {
    #[serde(default)]
    pub trigger_source: Option<String>,
    #[serde(default)]
    pub user_pool_id: Option<String>,
    pub user_name: String,
    pub request: EventRequest,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventRequest {
    /// `sub`, `email`, `email_verified` (`"true"`/`"false"`), `given_name`, `family_name`, …
    pub user_attributes: HashMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct HookResult {
    pub user_id: Uuid,
    /// True when this call created the user.
    pub created: bool,
}

fn refused(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A signature header that matched its body.
#[derive(Debug)]
pub struct Verified {
    pub timestamp: i64,
    /// The HMAC that matched: what a replay would repeat.
    pub signature: Vec<u8>,
}

/// Checks the signature header against the body, in constant time.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Verified, ApiError> {
    let Some(header) = header else {
        return Err(refused(
            ErrorCode::MissingSignature,
            "Send X-Gatehouse-Signature: t=<unix time>,v1=<hex HMAC-SHA256>.",
        ));
    };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(decode_hex(v)),
            _ => {}
        }
    }
    let (Some(timestamp), false) = (timestamp, signatures.is_empty()) else {
        return Err(refused(
            ErrorCode::InvalidSignature,
            "The signature header must read t=<unix time>,v1=<hex HMAC-SHA256>.",
        ));
    };
    // `abs_diff`: `now - timestamp` overflows for a timestamp near i64::MIN.
    if now.abs_diff(timestamp) > MAX_SKEW_SECONDS.unsigned_abs() {
        return Err(refused(
            ErrorCode::SignatureExpired,
            "The signature's timestamp is more than five minutes from now.",
        ));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    match signatures
        .into_iter()
        .find(|sig| hmac::verify(&key, &signed, sig).is_ok())
    {
        Some(signature) => Ok(Verified {
            timestamp,
            signature,
        }),
        None => Err(refused(
            ErrorCode::InvalidSignature,
            "The signature does not match the body.",
        )),
    }
}

/// Cognito PostConfirmation trigger (via a forwarding Lambda): create or update the local user.
#[utoipa::path(
    tag = "hooks",
    operation_id = "cognitoPostConfirmation",
    request_body = PostConfirmationEvent,
    params(("X-Gatehouse-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256(COGNITO_HOOK_SECRET, \"<t>.<body>\")>")),
    responses(
        (status = 200, body = HookResult, description = "The local user, created or updated"),
        (status = 401, body = ErrorBody, description = "missing_signature, invalid_signature, signature_expired or signature_replayed"),
        (status = 404, body = ErrorBody, description = "not_found: the hook is disabled (no COGNITO_HOOK_SECRET)"),
        (status = 422, body = ErrorBody, description = "validation_error: not a PostConfirmation event"),
    )
)]
#[post("/cognito/post-confirmation")]
pub async fn post_confirmation(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: SmallBody,
) -> Result<HttpResponse, ApiError> {
    let Some(secret) = &state.settings.cognito_hook_secret else {
        return Err(ApiError::not_found());
    };
    let body = body.0;
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let delivery = verify_signature(
        secret.expose_secret().as_bytes(),
        header,
        &body,
        chrono::Utc::now().timestamp(),
    )?;

    let event: PostConfirmationEvent = serde_json::from_slice(&body).map_err(|e| {
        FieldErrors::non_field(&format!("Not a Cognito PostConfirmation event: {e}.")).into_error()
    })?;
    let attributes = &event.request.user_attributes;
    let mut errors = FieldErrors::default();
    let sub = attributes.get("sub").map(String::as_str).unwrap_or("");
    if !verify::valid_sub(sub) {
        errors.add(
            "request.userAttributes.sub",
            "A sub of 1–128 characters, not blank and without control characters, is required.",
        );
    }
    if let (Some(pool), Some(cognito)) = (&event.user_pool_id, &state.settings.cognito)
        && !cognito
            .issuers
            .iter()
            .any(|iss| iss.ends_with(&format!("/{pool}")))
    {
        errors.add(
            "userPoolId",
            "This is not the user pool this server accepts.",
        );
    }
    errors.finish(())?;

    let verified = attributes
        .get("email_verified")
        .map(|v| v.eq_ignore_ascii_case("true"));
    let identity = Identity {
        sub,
        // The event names the pool, not the issuer format its tokens carry: left unknown, so
        // sign-outs of this user apply under every accepted issuer.
        issuer: None,
        username: Some(event.user_name.as_str()),
        profile: Profile::new(
            attributes.get("email").map(String::as_str),
            verified,
            attributes.get("given_name").map(String::as_str),
            attributes.get("family_name").map(String::as_str),
        ),
    };
    // Past the window the timestamp check refuses the signature anyway. That check works in
    // whole seconds, so it still accepts throughout second `t + 300`: the record must outlive it.
    let expires_at = chrono::DateTime::from_timestamp(
        delivery.timestamp.saturating_add(MAX_SKEW_SECONDS + 1),
        0,
    )
    .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let mut conn = db::connection(&state.pool).await?;
    // One transaction: a delivery that fails midway leaves its signature unused for a retry.
    let (user, created) = conn
        .transaction(async |conn| {
            if !hook_signature::claim(conn, &delivery.signature, expires_at).await? {
                return Err(refused(
                    ErrorCode::SignatureReplayed,
                    "This signature was already used; sign every delivery anew.",
                ));
            }
            Ok::<_, ApiError>(match User::find_by_cognito_sub(conn, sub).await? {
                Some(user) => (
                    provisioning::sync_profile(conn, user, &identity.profile).await?,
                    false,
                ),
                None => (provisioning::find_or_create(conn, &identity).await?, true),
            })
        })
        .await?;
    tracing::info!(user = %user, created, trigger = ?event.trigger_source, "post-confirmation hook");
    Ok(HttpResponse::Ok().json(HookResult {
        user_id: user.id,
        created,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let mut msg = format!("{t}.").into_bytes();
        msg.extend_from_slice(body);
        let tag = hmac::sign(&key, &msg);
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("t={t},v1={hex}")
    }

    #[test]
    fn signatures() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let body = br#"{"a":1}"#;
        let now = 1_800_000_000;
        let good = sign(secret, now, body);
        assert!(verify_signature(secret, Some(&good), body, now).is_ok());
        assert!(verify_signature(secret, Some(&good), body, now + 299).is_ok());
        let code = |h: Option<&str>, b: &[u8], at: i64| {
            verify_signature(secret, h, b, at).unwrap_err().code
        };
        assert_eq!(code(Some(&good), body, now + 301), "signature_expired");
        assert_eq!(code(Some(&good), br#"{"a":2}"#, now), "invalid_signature");
        assert_eq!(code(None, body, now), "missing_signature");
        assert_eq!(code(Some("t=1"), body, now), "invalid_signature");
        assert_eq!(code(Some("v1=zz,t=x"), body, now), "invalid_signature");
        let far = format!("t={},v1=00", i64::MIN);
        assert_eq!(code(Some(&far), body, now), "signature_expired");
        let far = format!("t={},v1=00", i64::MAX);
        assert_eq!(code(Some(&far), body, -now), "signature_expired");
        let other = sign(b"another-secret-another-secret-00", now, body);
        assert_eq!(code(Some(&other), body, now), "invalid_signature");
    }
}
