//! Cognito's managed-login endpoints (`/oauth2/authorize`, `/oauth2/token`, `/oauth2/revoke`,
//! `/logout`) for one web app client, as AWS documents them. Hand-written on reqwest rather than
//! the `oauth2` crate: four form posts, and that crate would pull a second reqwest.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::form_urlencoded;

use crate::config::WebSignInSettings;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Below the database's statement timeout, so requests waiting on a refresh's row lock outlast
/// the refresh itself.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Three tokens are ~5 KB; anything far bigger is not Cognito.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What a token request returned.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Absent on a refresh whose client does not rotate refresh tokens.
    pub refresh_token: Option<String>,
    /// Present when `openid` was granted.
    pub id_token: Option<String>,
    pub expires_in: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Cognito answered and said no (`invalid_grant`, `invalid_client`, …).
    #[error("refused: {error}")]
    Refused { error: String },
    /// No usable answer: connection, timeout, 5xx, or a body that is not what AWS documents.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
}

pub struct ManagedLogin {
    settings: WebSignInSettings,
    client: reqwest::Client,
}

/// 32 random bytes, base64url: `state`, `nonce`, the PKCE verifier (43 characters, RFC 7636).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// RFC 7636 `S256`: BASE64URL(SHA256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

impl ManagedLogin {
    pub fn new(settings: WebSignInSettings) -> Result<Self, reqwest::Error> {
        let client = crate::auth::outbound::client(CONNECT_TIMEOUT, TOTAL_TIMEOUT)?;
        Ok(ManagedLogin { settings, client })
    }

    pub fn settings(&self) -> &WebSignInSettings {
        &self.settings
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.settings.domain)
    }

    /// Where the browser goes to sign in.
    pub fn authorize_url(&self, state: &str, nonce: &str, code_verifier: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_uri())
            .append_pair("scope", &self.settings.scopes)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce_challenge(code_verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{}?{query}", self.endpoint("/oauth2/authorize"))
    }

    /// Where the browser goes to end the managed-login session after ours.
    pub fn logout_url(&self) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("logout_uri", &self.settings.logout_uri())
            .finish();
        format!("{}?{query}", self.endpoint("/logout"))
    }

    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, EndpointError> {
        let redirect_uri = self.settings.redirect_uri();
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", code_verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, EndpointError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Revokes the refresh token and every token minted from it (for Cognito's own endpoints).
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), EndpointError> {
        let response = self
            .post("/oauth2/revoke", &[("token", refresh_token)])
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = read_capped(response).await?;
        Err(refusal(status, &body))
    }

    async fn token_request(&self, fields: &[(&str, &str)]) -> Result<TokenResponse, EndpointError> {
        let response = self.post("/oauth2/token", fields).await?;
        let status = response.status();
        let body = read_capped(response).await?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| {
            EndpointError::Unavailable(format!("the token endpoint answered unexpected JSON: {e}"))
        })
    }

    /// A form post with the client's authentication: HTTP Basic with a secret (RFC 6749 §2.3.1
    /// form-encodes both parts first), else `client_id` in the body.
    async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<reqwest::Response, EndpointError> {
        // Built before any await: the serializer is not `Send`.
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .append_pair("client_id", &self.settings.client_id)
            .finish();
        let mut request = self
            .client
            .post(self.endpoint(path))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(secret) = &self.settings.client_secret {
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = format!(
                "{}:{}",
                encode(&self.settings.client_id),
                encode(secret.expose_secret())
            );
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(credentials)),
            );
        }
        request
            .body(body)
            .send()
            .await
            .map_err(|e| EndpointError::Unavailable(describe(&e)))
    }
}

/// 4xx with an OAuth error body is a refusal; anything else means Cognito is not answering well.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> EndpointError {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) if status.is_client_error() => EndpointError::Refused {
            // Logged: keep it short and printable.
            error: e
                .error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect(),
        },
        _ => EndpointError::Unavailable(format!("HTTP {status}")),
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, EndpointError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| EndpointError::Unavailable(describe(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(EndpointError::Unavailable(format!(
                "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // The URL holds no secret (credentials travel in the header and body).
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_token().len(), 43);
        assert_ne!(random_token(), random_token());
    }
}
