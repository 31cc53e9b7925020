//! Cognito-shaped tokens for tests and benchmarks: RSA keys made here, and tokens whose header
//! and claims are exactly Cognito's (header `{"kid","alg"}` only; claims as in COGNITO.md).
//! Shared by `tests/api` and `benches/` through `#[path]`.
#![allow(dead_code)]

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_GateTest1";
pub const CLIENT_ID: &str = "4example0client0id0abcdef";

pub struct TestKey {
    pub kid: String,
    pair: KeyPair,
}

impl TestKey {
    fn new(kid: &str) -> Self {
        TestKey {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
        }
    }

    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "alg": "RS256",
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            "kid": self.kid,
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "use": "sig",
        })
    }

    /// The public key's DER bytes (what an RS→HS confusion attack uses as the HMAC secret).
    pub fn public_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Signs raw header and payload JSON text, so tests control every byte.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A token as Cognito sends it: header `{"kid":…,"alg":"RS256"}`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_kid(&self.kid, claims)
    }

    pub fn sign_with_kid(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"kid": kid, "alg": "RS256"}).to_string();
        self.sign_raw(&header, &claims.to_string())
    }
}

/// Keys shared by every test of this binary (made once: RSA generation is the slow part). Kids
/// look like Cognito's: standard base64 with `+`, `/` and `=`.
pub static KEYS: LazyLock<[TestKey; 4]> = LazyLock::new(|| {
    [
        TestKey::new("vyVQH7UMjwYboVvyFf+zd4KHZfgc+RtmU/A2vHhgITI="),
        TestKey::new("kbxEboFjTrF9NUaco1UzsY9LdPEXghei2viYpCCaALU="),
        TestKey::new("rotated/Key+3="),
        TestKey::new("attacker-key"),
    ]
});

pub fn access_key() -> &'static TestKey {
    &KEYS[0]
}
pub fn id_key() -> &'static TestKey {
    &KEYS[1]
}
pub fn rotated_key() -> &'static TestKey {
    &KEYS[2]
}
pub fn attacker_key() -> &'static TestKey {
    &KEYS[3]
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An access token's claims, as a real pool issues them (`USER_PASSWORD_AUTH`).
pub fn access_claims(sub: &str, username: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "origin_jti": uuid::Uuid::new_v4().to_string(),
        "event_id": uuid::Uuid::new_v4().to_string(),
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "exp": now + 3600,
        "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "username": username,
    })
}

/// A machine-to-machine access token's claims (`client_credentials`): the app client is the
/// subject, no user name, no `origin_jti`, custom scopes.
pub fn client_credentials_claims(scope: &str) -> Value {
    let now = now();
    json!({
        "sub": CLIENT_ID,
        "token_use": "access",
        "scope": scope,
        "auth_time": now,
        "iss": ISSUER,
        "exp": now + 3600,
        "iat": now,
        "version": 2,
        "jti": uuid::Uuid::new_v4().to_string(),
        "client_id": CLIENT_ID,
    })
}

/// An id token's claims.
pub fn id_claims(sub: &str, username: &str, email: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "aud": CLIENT_ID,
        "email_verified": true,
        "token_use": "id",
        "auth_time": now,
        "iss": ISSUER,
        "cognito:username": username,
        "exp": now + 3600,
        "given_name": "Jane",
        "family_name": "Doe",
        "iat": now,
        "email": email,
        "jti": uuid::Uuid::new_v4().to_string(),
        "origin_jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub fn new_sub() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn jwks_body(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}
