//! The bearer token path under the fuzzer: the real [`Verifier`] (header checks, JWKS cache,
//! jsonwebtoken with the production `Validation`, claim types, `token_use`, client id) holding one
//! fixed key, the test-only RSA key in `fuzz-key.pem`.
//!
//! Modes (first byte modulo 4):
//! 0. the rest is the `Authorization` header (one header per `\n`-separated line): the guard's
//!    bearer parsing, then verification;
//! 1. the rest is `header JSON \0 claims JSON`, signed here with the fixed key, so the fuzzer gets
//!    past the signature into claims validation;
//! 2. the rest is edits (`pos_lo pos_hi byte` triples) applied to a validly signed token;
//! 3. the rest is a JWKS document for the key-set parser.
//!
//! Whatever the input, nothing may panic, and a token the verifier accepts must pass an
//! independent check (signature re-verified with aws-lc directly, `alg`, `kid`, `iss`, `exp`,
//! `nbf`, `token_use` and the client id read back from the raw JSON).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::test::TestRequest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{self as sig, KeyPair as _, RSA_PKCS1_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::auth::cognito::{AuthError, Claims, JwksCache, Verifier, guard, jwks};
use crate::config::{ClientIds, CognitoSettings, TokenUse};

pub const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_FuzzPool1";
pub const CLIENT_ID: &str = "4fuzz0client0id0abcdef012";
/// Shaped like Cognito's kids (standard base64 with `+`, `/`, `=`).
pub const KID: &str = "fUzZ/test+only+key=";
/// 2100-01-01T00:00:00Z: tokens in the committed seeds stay valid.
pub const FAR_FUTURE: i64 = 4_102_444_800;
const LEEWAY_SECONDS: i64 = 5;

/// TEST-ONLY key (see the file's preamble); never part of any real key set.
const KEY_PEM: &str = include_str!("fuzz-key.pem");

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    key: KeyPair,
    public_der: Vec<u8>,
    valid: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(Fixture::new);

fn pkcs8_der() -> Vec<u8> {
    let body: String = KEY_PEM
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD
        .decode(body)
        .expect("fuzz-key.pem holds a base64 PKCS#8 key")
}

impl Fixture {
    fn new() -> Self {
        let key = KeyPair::from_pkcs8(&pkcs8_der()).expect("fuzz-key.pem is an RSA key");
        let public = key.public_key();
        let jwk = json!({
            "kty": "RSA",
            "kid": KID,
            "alg": "RS256",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        let public_der = public.as_ref().to_vec();
        let settings = CognitoSettings {
            issuers: vec![ISSUER.to_owned()],
            // Nothing listens there: a refetch fails at once and keeps the loaded key.
            jwks_url: url::Url::parse("http://127.0.0.1:9/.well-known/jwks.json")
                .expect("static URL"),
            client_ids: ClientIds::List(vec![CLIENT_ID.to_owned()]),
            token_use: TokenUse::Any,
            create_users: false,
            leeway: Duration::from_secs(LEEWAY_SECONDS as u64),
            jwks_refresh: Duration::from_secs(3600),
            jwks_min_refetch: Duration::from_secs(365 * 24 * 3600),
            refresh_token_days: 30,
        };
        let cache = Arc::new(
            JwksCache::new(settings.jwks_url.clone(), settings.jwks_min_refetch)
                .expect("HTTP client"),
        );
        let loaded = cache
            .load_from_bytes(json!({ "keys": [jwk] }).to_string().as_bytes())
            .expect("the fixed JWKS parses");
        assert_eq!(loaded, 1, "the fixed key is usable");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        // An unknown kid may trigger one refetch per `jwks_min_refetch`: spend it now, so no fuzz
        // input ever waits on the network.
        let _ = runtime.block_on(cache.key("warm-up: an unknown kid"));
        let verifier = Verifier::new(settings, cache);
        let mut fixture = Fixture {
            runtime,
            verifier,
            key,
            public_der,
            valid: String::new(),
        };
        fixture.valid = fixture.sign(
            header().to_string().as_bytes(),
            access_claims().to_string().as_bytes(),
        );
        let claims = fixture
            .verify(&fixture.valid)
            .expect("the fixture's own token verifies");
        assert_accepted(&fixture, &fixture.valid, &claims);
        fixture
    }

    fn sign(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.runtime.block_on(self.verifier.verify(token))
    }
}

/// The header Cognito sends.
pub fn header() -> Value {
    json!({"kid": KID, "alg": "RS256"})
}

/// An access token's claims, valid until 2100.
pub fn access_claims() -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "origin_jti": "11111111-2222-4333-8444-555555555555",
        "event_id": "66666666-7777-4888-8999-aaaaaaaaaaaa",
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": 1_700_000_000,
        "exp": FAR_FUTURE,
        "iat": 1_700_000_000,
        "jti": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
        "username": "fuzz-user",
        "cognito:groups": ["editors"],
    })
}

/// An id token's claims, valid until 2100.
pub fn id_claims() -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        "aud": CLIENT_ID,
        "email_verified": true,
        "token_use": "id",
        "auth_time": 1_700_000_000,
        "iss": ISSUER,
        "cognito:username": "fuzz-user",
        "exp": FAR_FUTURE,
        "given_name": "Jane",
        "family_name": "Doe",
        "iat": 1_700_000_000,
        "email": "jane@example.com",
        "jti": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
        "origin_jti": "11111111-2222-4333-8444-555555555555",
    })
}

/// Signs raw header and claims bytes with the fixed test key.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    FIXTURE.sign(header, payload)
}

/// A token the fixed verifier accepts.
pub fn valid_token() -> &'static str {
    &FIXTURE.valid
}

/// Whether the fixed verifier accepts `token`.
pub fn accepts(token: &str) -> bool {
    FIXTURE.verify(token).is_ok()
}

/// Builds the verifier now (libFuzzer's init hook), so the first input is not the slow one.
pub fn init() {
    LazyLock::force(&FIXTURE);
}

/// One fuzz input. Panics when an invariant breaks.
pub fn fuzz(data: &[u8]) {
    let Some((mode, rest)) = super::split_mode(data, 4) else {
        return;
    };
    let f = &*FIXTURE;
    match mode {
        0 => authorization(f, rest),
        1 => signed(f, rest),
        2 => tampered(f, rest),
        _ => key_set(rest),
    }
}

fn authorization(f: &Fixture, raw: &[u8]) {
    let mut req = TestRequest::default();
    if !raw.is_empty() {
        for line in raw.split(|b| *b == b'\n').take(4) {
            let Ok(value) = HeaderValue::from_bytes(line) else {
                return;
            };
            req = req.append_header((AUTHORIZATION, value));
        }
    }
    let req = req.to_http_request();
    let Ok(token) = guard::bearer_token(&req) else {
        return;
    };
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "bearer_token returned {token:?}"
    );
    if let Ok(claims) = f.verify(token) {
        assert_accepted(f, token, &claims);
    }
}

fn signed(f: &Fixture, rest: &[u8]) {
    let default_header = header().to_string();
    let (header, payload) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (default_header.as_bytes(), rest),
    };
    let token = f.sign(header, payload);
    match f.verify(&token) {
        Ok(claims) => assert_accepted(f, &token, &claims),
        Err(AuthError::InvalidSignature) => {
            // Signed with the key its kid names (or refused before the key lookup otherwise).
            panic!("a token signed with the fixed key was refused as invalid_signature: {token}")
        }
        Err(_) => {}
    }
}

fn tampered(f: &Fixture, edits: &[u8]) {
    let mut token = f.valid.as_bytes().to_vec();
    for op in edits.chunks_exact(3) {
        let pos = usize::from(u16::from_le_bytes([op[0], op[1]])) % (token.len() + 1);
        match (op[2], pos < token.len()) {
            (0, true) => {
                token.remove(pos);
            }
            (byte, true) => token[pos] = byte,
            (byte, false) => token.push(byte),
        }
    }
    let Ok(token) = String::from_utf8(token) else {
        return;
    };
    if let Ok(claims) = f.verify(&token) {
        assert_eq!(
            token, f.valid,
            "an edited token was accepted: signatures must cover every byte"
        );
        assert_accepted(f, &token, &claims);
    }
}

fn key_set(body: &[u8]) {
    if let Ok(keys) = jwks::parse_jwks(body) {
        assert!(keys.keys().all(|kid| !kid.is_empty()), "a key without kid");
    }
}

/// A part of a token: base64url of UTF-8 JSON.
fn part<T: serde::de::DeserializeOwned>(token: &str, index: usize) -> T {
    let raw = token.split('.').nth(index).expect("three parts");
    let bytes = URL_SAFE_NO_PAD.decode(raw).expect("base64url part");
    let text = std::str::from_utf8(&bytes).expect("an accepted token's parts are UTF-8");
    serde_json::from_str(text).expect("JSON part")
}

/// What the oracle reads back (unknown members ignored, as the verifier does).
#[derive(serde::Deserialize)]
struct CheckedHeader {
    alg: Value,
    kid: Value,
    crit: Option<Value>,
}

#[derive(serde::Deserialize)]
struct CheckedClaims {
    iss: Value,
    sub: Value,
    exp: Value,
    nbf: Option<Value>,
    token_use: Value,
    client_id: Option<Value>,
    aud: Option<Value>,
}

/// The independent check of an accepted token: everything the verifier promises, read back from
/// the raw token rather than from its parsed claims.
fn assert_accepted(f: &Fixture, token: &str, claims: &Claims) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "accepted a token of {} parts", parts.len());
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    let signed = &token[..parts[0].len() + 1 + parts[1].len()];
    UnparsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, &f.public_der)
        .verify(signed.as_bytes(), &signature)
        .expect("an accepted token's signature verifies with the fixed key");

    let header: CheckedHeader = part(token, 0);
    assert_eq!(header.alg, "RS256");
    assert_eq!(header.kid, KID);
    assert!(header.crit.is_none(), "accepted crit {:?}", header.crit);

    let payload: CheckedClaims = part(token, 1);
    assert_eq!(payload.iss, ISSUER);
    assert_eq!(payload.sub, claims.sub.as_str());
    // Slack for the clock moving on between the verification and this check.
    let now = chrono::Utc::now().timestamp();
    let exp = payload.exp.as_i64().expect("an integer exp");
    assert!(exp >= now - LEEWAY_SECONDS - 2, "accepted expired {exp}");
    assert_eq!(exp, claims.exp);
    if let Some(nbf) = payload.nbf {
        let nbf = nbf.as_i64().expect("an integer nbf");
        assert!(nbf <= now + LEEWAY_SECONDS, "accepted immature {nbf}");
    }
    let client = match payload.token_use.as_str() {
        Some("access") => payload.client_id,
        Some("id") => payload.aud,
        _ => panic!("accepted token_use {}", payload.token_use),
    };
    assert_eq!(client.as_ref().and_then(Value::as_str), Some(CLIENT_ID));
    assert_eq!(payload.token_use, claims.token_use.as_str());
}
