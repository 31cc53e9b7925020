//! Cognito token verification: at least as strict as aws-jwt-verify, with one error code per cause.
//!
//! Order: size and shape → header (RS256 only, no `crit`, a string `kid`) → key (JWKS cache) →
//! signature, `exp`/`nbf`/`iss` (jsonwebtoken, configured explicitly) → claim types (strict serde
//! struct) → `token_use` → `client_id`/`aud`. Nothing in the header is ever fetched.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Deserializer};

use super::error::AuthError;
use super::jwks::{JwksCache, Lookup};
use crate::config::{ClientIds, CognitoSettings, TokenUse};

/// Real Cognito tokens are about 1 KB; a bigger bearer is refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
const MAX_KID_BYTES: usize = 256;

/// The claims a handler may rely on, every one type-checked. Unknown claims (`custom:*`, …) are
/// ignored; duplicated claims are refused by serde.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub exp: i64,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub auth_time: Option<i64>,
    /// Absent reads as empty, so it is refused as `invalid_token_use`, not a parse error.
    #[serde(default)]
    pub token_use: String,
    pub client_id: Option<String>,
    /// Cognito id tokens carry one audience, a string (aws-jwt-verify insists on it too).
    pub aud: Option<String>,
    pub scope: Option<String>,
    #[serde(rename = "cognito:groups", default)]
    pub groups: Option<Vec<String>>,
    /// Access tokens name the user here…
    pub username: Option<String>,
    /// …id tokens here.
    #[serde(rename = "cognito:username")]
    pub cognito_username: Option<String>,
    pub jti: Option<String>,
    pub origin_jti: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub email_verified: Option<bool>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Id tokens of a managed-login sign-in echo the `nonce` of the authorize request.
    pub nonce: Option<String>,
}

impl Claims {
    pub fn is_id_token(&self) -> bool {
        self.token_use == "id"
    }

    /// A machine-to-machine (`client_credentials`) access token: Cognito makes the app client its
    /// subject and names no user. Such a caller is a service, never a local user.
    pub fn is_machine_token(&self) -> bool {
        self.token_use == "access"
            && self.username.is_none()
            && self.cognito_username.is_none()
            && self.client_id.as_deref() == Some(self.sub.as_str())
    }

    /// The Cognito user name, whichever token carries it.
    pub fn cognito_username(&self) -> Option<&str> {
        self.username
            .as_deref()
            .or(self.cognito_username.as_deref())
    }

    /// The sign-in this token belongs to: `origin_jti` is shared by every token refreshed from one
    /// sign-in; emulators that lack it fall back to the token's own `jti`.
    pub fn session_id(&self) -> Option<&str> {
        self.origin_jti.as_deref().or(self.jti.as_deref())
    }

    /// When the sign-in this token belongs to happened: `auth_time` (kept across refreshes),
    /// else `iat`. `None` when the token says neither (or an unrepresentable time).
    pub fn signed_in_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.auth_time
            .or(self.iat)
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    }

    pub fn groups(&self) -> &[String] {
        self.groups.as_deref().unwrap_or_default()
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|granted| granted == scope))
    }
}

/// `email_verified` arrives as `true`, `"true"` or `"True"` depending on who minted the token.
fn flexible_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flex {
        Bool(bool),
        Text(String),
    }
    match Option::<Flex>::deserialize(d)? {
        None => Ok(None),
        Some(Flex::Bool(b)) => Ok(Some(b)),
        Some(Flex::Text(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Flex::Text(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(Flex::Text(s)) => Err(serde::de::Error::custom(format!(
            "email_verified must be true or false, got {s:?}"
        ))),
    }
}

/// The header fields we look at. Everything else (`typ`, `jku`, `x5u`, `jwk`, …) is ignored and
/// never followed.
#[derive(Deserialize)]
struct Header {
    alg: serde_json::Value,
    kid: Option<serde_json::Value>,
    crit: Option<serde_json::Value>,
}

pub struct Verifier {
    settings: CognitoSettings,
    validation: Validation,
    jwks: Arc<JwksCache>,
}

impl Verifier {
    pub fn new(settings: CognitoSettings, jwks: Arc<JwksCache>) -> Self {
        // Built once: every check is set explicitly, nothing left to the crate's defaults
        // (60 s leeway, iss/aud checked only when present).
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.set_issuer(&settings.issuers);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // Access tokens have no `aud`; `client_id`/`aud` are checked below with precise errors.
        validation.validate_aud = false;
        validation.reject_tokens_expiring_in_less_than = 0;
        Self {
            settings,
            validation,
            jwks,
        }
    }

    pub fn settings(&self) -> &CognitoSettings {
        &self.settings
    }

    pub fn jwks(&self) -> &Arc<JwksCache> {
        &self.jwks
    }

    /// A bearer token for the API: any accepted app client, the configured `token_use`.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_signed(token).await?;
        self.check_token_use_and_client(&claims)?;
        check_storable(&claims)?;
        Ok(claims)
    }

    /// A token of one app client (web sign-in): exactly this `token_use` (`id` or `access`) and
    /// this client (`aud` of an id token, `client_id` of an access token).
    pub async fn verify_for_client(
        &self,
        token: &str,
        token_use: &str,
        client_id: &str,
    ) -> Result<Claims, AuthError> {
        let claims = self.verify_signed(token).await?;
        if claims.token_use != token_use {
            return Err(AuthError::InvalidTokenUse(format!(
                "expected token_use {token_use:?}, got {:?}",
                claims.token_use
            )));
        }
        let (claim, value) = if claims.is_id_token() {
            ("aud", claims.aud.as_deref())
        } else {
            ("client_id", claims.client_id.as_deref())
        };
        if value != Some(client_id) {
            return Err(AuthError::InvalidAudience(format!(
                "the token's {claim} is not the web app client"
            )));
        }
        check_storable(&claims)?;
        Ok(claims)
    }

    /// Header, key, signature, `exp`/`nbf`/`iss` and claim types: what every token must pass.
    async fn verify_signed(&self, token: &str) -> Result<Claims, AuthError> {
        let kid = check_header(token)?;
        let key = match self.jwks.key(&kid).await {
            Lookup::Found(key) => key,
            Lookup::Unknown => return Err(AuthError::UnknownKey),
            Lookup::Unavailable => return Err(AuthError::JwksUnavailable),
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(map_jwt_error)?;
        Ok(data.claims)
    }

    fn check_token_use_and_client(&self, claims: &Claims) -> Result<(), AuthError> {
        let accepted = match claims.token_use.as_str() {
            "access" => matches!(self.settings.token_use, TokenUse::Access | TokenUse::Any),
            "id" => matches!(self.settings.token_use, TokenUse::Id | TokenUse::Any),
            other => {
                return Err(AuthError::InvalidTokenUse(format!(
                    "token_use {other:?} is neither access nor id"
                )));
            }
        };
        if !accepted {
            let wanted = match self.settings.token_use {
                TokenUse::Access => "an access token",
                TokenUse::Id => "an id token",
                TokenUse::Any => "an access or id token",
            };
            return Err(AuthError::InvalidTokenUse(format!(
                "this API takes {wanted}, got token_use {:?}",
                claims.token_use
            )));
        }
        let (claim, value) = if claims.is_id_token() {
            ("aud", claims.aud.as_deref())
        } else {
            ("client_id", claims.client_id.as_deref())
        };
        match (value, &self.settings.client_ids) {
            (None, _) => Err(AuthError::InvalidAudience(format!(
                "the token has no {claim}"
            ))),
            (Some(id), ids) if ids.allows(id) => Ok(()),
            (Some(_), ClientIds::Any) => Ok(()),
            (Some(_), ClientIds::List(_)) => Err(AuthError::InvalidAudience(format!(
                "the token's {claim} is not an accepted app client"
            ))),
        }
    }
}

/// Longest `sub` we store (the column is `varchar(128)`; Cognito's are 36-character UUIDs).
pub const MAX_SUB_LEN: usize = 128;

/// A `sub` we can store and name a user by: 1–128 characters, not blank, no control characters.
pub fn valid_sub(sub: &str) -> bool {
    sub.chars().count() <= MAX_SUB_LEN
        && !sub.trim().is_empty()
        && !sub.chars().any(char::is_control)
}

/// The claims that are stored or looked up must fit their columns: `sub` (1–128 characters, not
/// blank, no control characters) and `jti`/`origin_jti` (at most 255 characters, no control
/// characters; PostgreSQL text cannot even hold NUL). A token from a real pool always passes.
fn check_storable(claims: &Claims) -> Result<(), AuthError> {
    if !valid_sub(&claims.sub) {
        return Err(AuthError::InvalidClaims(
            "the sub claim must have 1 to 128 characters, not blank, without control characters"
                .into(),
        ));
    }
    for (name, value) in [("jti", &claims.jti), ("origin_jti", &claims.origin_jti)] {
        if let Some(value) = value
            && (value.chars().count() > 255 || value.chars().any(char::is_control))
        {
            return Err(AuthError::InvalidClaims(format!(
                "the {name} claim must have at most 255 characters, without control characters"
            )));
        }
    }
    Ok(())
}

/// Shape, size and header checks, before any key lookup. Returns the `kid`.
pub fn check_header(token: &str) -> Result<String, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::MalformedToken(format!(
            "the token is larger than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken(
            "a JWT has three dot-separated parts".into(),
        ));
    };
    let is_b64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if ![header, payload, signature].into_iter().all(is_b64url) {
        return Err(AuthError::MalformedToken(
            "the token's parts are not unpadded base64url".into(),
        ));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::MalformedToken("the header is not base64url".into()))?;
    // RFC 7519 §7.2: header and claims are UTF-8 JSON. serde skips the members it does not know
    // without validating their bytes, so check them here (found by the token fuzz target: a claims
    // set with a Latin-1 byte in an unknown claim was accepted).
    let utf8 = |bytes: &[u8]| std::str::from_utf8(bytes).is_ok();
    if !utf8(&header_bytes)
        || !URL_SAFE_NO_PAD
            .decode(payload)
            .is_ok_and(|claims| utf8(&claims))
    {
        return Err(AuthError::MalformedToken(
            "the header or the claims are not UTF-8".into(),
        ));
    }
    let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| {
        AuthError::MalformedToken("the header is not a JSON object with alg".into())
    })?;
    match header.alg.as_str() {
        Some("RS256") => {}
        Some(other) => {
            return Err(AuthError::UnsupportedAlgorithm(format!(
                "alg {other:?} is not accepted; Cognito signs with RS256"
            )));
        }
        None => {
            return Err(AuthError::UnsupportedAlgorithm(
                "alg must be the string RS256".into(),
            ));
        }
    }
    if header.crit.is_some() {
        return Err(AuthError::MalformedToken(
            "the header's crit extensions are not supported".into(),
        ));
    }
    match header.kid {
        Some(serde_json::Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_BYTES => {
            Ok(kid)
        }
        Some(_) => Err(AuthError::MalformedToken(
            "the header's kid must be a short string".into(),
        )),
        None => Err(AuthError::MalformedToken("the header has no kid".into())),
    }
}

fn map_jwt_error(e: jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::ExpiredSignature => AuthError::TokenExpired,
        ErrorKind::ImmatureSignature => AuthError::TokenNotYetValid,
        ErrorKind::InvalidIssuer => AuthError::InvalidIssuer,
        ErrorKind::InvalidAudience => AuthError::InvalidAudience("audience mismatch".into()),
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::InvalidClaims(format!("the token has no {claim}"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidClaims(format!("the {claim} claim has the wrong type"))
        }
        ErrorKind::Json(e) => AuthError::InvalidClaims(format!("claims rejected: {e}")),
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            AuthError::UnsupportedAlgorithm("alg is not RS256".into())
        }
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            AuthError::MalformedToken("the token cannot be decoded".into())
        }
        // A key the crypto backend refuses, or anything new: never accept, say what happened.
        other => AuthError::InvalidSignature.with_log(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subs_must_be_storable() {
        assert!(valid_sub("0191d2c4-0000-7000-8000-000000000000"));
        for bad in ["", "  ", "a\0b", "tab\there"] {
            assert!(!valid_sub(bad), "{bad:?}");
        }
        assert!(valid_sub(&"s".repeat(128)));
        assert!(!valid_sub(&"s".repeat(129)));
    }

    fn b64(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn token_with_header(header: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64("{}"))
    }

    fn code(r: Result<String, AuthError>) -> &'static str {
        r.unwrap_err().code().as_str()
    }

    #[test]
    fn only_a_token_whose_subject_is_its_client_is_a_machine_token() {
        let claims = |extra: serde_json::Value| -> Claims {
            let mut c = serde_json::json!({
                "sub": "client", "iss": "i", "exp": 1, "token_use": "access", "client_id": "client",
            });
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value(c).unwrap()
        };
        assert!(claims(serde_json::json!({})).is_machine_token());
        assert!(!claims(serde_json::json!({"username": "u"})).is_machine_token());
        assert!(!claims(serde_json::json!({"sub": "user-sub"})).is_machine_token());
        assert!(
            !claims(serde_json::json!({"token_use": "id", "aud": "client"})).is_machine_token()
        );
    }

    #[test]
    fn header_checks() {
        assert_eq!(
            check_header(&token_with_header(r#"{"kid":"k+/=","alg":"RS256"}"#)).unwrap(),
            "k+/="
        );
        for alg in ["none", "None", "HS256", "RS512", "PS256", "ES256"] {
            let t = token_with_header(&format!(r#"{{"kid":"k","alg":"{alg}"}}"#));
            assert_eq!(code(check_header(&t)), "unsupported_algorithm", "{alg}");
        }
        assert_eq!(
            code(check_header(&token_with_header(
                r#"{"kid":"k","alg":["RS256"]}"#
            ))),
            "unsupported_algorithm"
        );
        assert_eq!(
            code(check_header(&token_with_header(
                r#"{"kid":"k","alg":"RS256","crit":["exp"]}"#
            ))),
            "malformed_token"
        );
        assert_eq!(
            code(check_header(&token_with_header(r#"{"alg":"RS256"}"#))),
            "malformed_token"
        );
        assert_eq!(
            code(check_header(&token_with_header(
                r#"{"kid":7,"alg":"RS256"}"#
            ))),
            "malformed_token"
        );
        assert_eq!(
            code(check_header(&token_with_header(r#"["RS256"]"#))),
            "malformed_token"
        );
        let long_kid = format!(r#"{{"kid":"{}","alg":"RS256"}}"#, "k".repeat(300));
        assert_eq!(
            code(check_header(&token_with_header(&long_kid))),
            "malformed_token"
        );
    }

    #[test]
    fn header_and_claims_must_be_utf8() {
        let token = |header: &[u8], claims: &[u8]| {
            format!(
                "{}.{}.c2ln",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            )
        };
        let header = br#"{"kid":"k","alg":"RS256"}"#;
        assert!(check_header(&token(header, b"{\"x\":\"caf\xc3\xa9\"}")).is_ok());
        assert_eq!(
            code(check_header(&token(header, b"{\"x\":\"caf\xe9\"}"))),
            "malformed_token"
        );
        assert_eq!(
            code(check_header(&token(
                b"{\"kid\":\"k\",\"alg\":\"RS256\",\"x\":\"\xff\"}",
                b"{}"
            ))),
            "malformed_token"
        );
    }

    #[test]
    fn shape_checks() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "a..c",
            "a.b.",
            "YQ==.YQ.YQ",
            "a+b.c.d",
            "a b.c.d",
        ] {
            assert_eq!(code(check_header(bad)), "malformed_token", "{bad:?}");
        }
        let huge = format!("{}.a.b", "a".repeat(MAX_TOKEN_BYTES));
        assert_eq!(code(check_header(&huge)), "malformed_token");
    }

    #[test]
    fn email_verified_accepts_cognito_and_emulator_spellings() {
        for (raw, expected) in [
            ("true", Some(true)),
            ("\"true\"", Some(true)),
            ("\"True\"", Some(true)),
            ("false", Some(false)),
            ("\"False\"", Some(false)),
        ] {
            let json = format!(
                r#"{{"sub":"s","iss":"i","exp":1,"token_use":"id","email_verified":{raw}}}"#
            );
            let claims: Claims = serde_json::from_str(&json).unwrap();
            assert_eq!(claims.email_verified, expected, "{raw}");
        }
        let bad = r#"{"sub":"s","iss":"i","exp":1,"token_use":"id","email_verified":"yes"}"#;
        assert!(serde_json::from_str::<Claims>(bad).is_err());
    }

    #[test]
    fn claims_of_the_wrong_type_are_refused() {
        for bad in [
            r#"{"sub":"s","iss":"i","exp":"1","token_use":"id"}"#,
            r#"{"sub":"s","iss":"i","exp":1,"token_use":["id"]}"#,
            r#"{"sub":"s","iss":"i","exp":1,"token_use":"id","cognito:groups":"admin"}"#,
            r#"{"sub":"s","iss":"i","exp":1,"token_use":"id","aud":["a"]}"#,
            r#"{"sub":"s","iss":"i","exp":1,"token_use":"id","client_id":5}"#,
            r#"{"sub":"s","iss":["i"],"exp":1,"token_use":"id"}"#,
            r#"{"sub":"s","iss":"i","exp":1,"exp":2,"token_use":"id"}"#,
            r#"{"sub":"s","iss":"i","exp":1.5,"token_use":"id"}"#,
        ] {
            assert!(serde_json::from_str::<Claims>(bad).is_err(), "{bad}");
        }
    }
}
