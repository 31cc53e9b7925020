//! The fake managed login (`tests/support/fake_cognito.rs`) against what AWS documents: the
//! sign-in tests of the app are only as good as the fake's refusals, so each refusal is proven
//! here, next to a request that succeeds (so a refusal cannot pass by refusing everything).

use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::fake_cognito::*;
use crate::helpers::new_browser;
use crate::minting::{ISSUER, access_key, attacker_key, id_key};

const CALLBACK: &str = "https://app.example.test/auth/callback";
const SIGNED_OUT: &str = "https://app.example.test/signed-out";
const USER: &str = "jane";
const PASSWORD: &str = "correct horse battery staple";

async fn fake() -> FakeCognito {
    let fake = FakeCognito::start().await;
    fake.add_user(FakeUser::new(USER, PASSWORD));
    fake.allow_callback(CALLBACK);
    fake.allow_sign_out(SIGNED_OUT);
    fake
}

/// An authorize request as the app would make it, with what the app keeps to finish it.
struct Authorize {
    url: String,
    verifier: String,
    state: String,
    nonce: String,
}

/// Authorize parameters to replace (`Some`) or leave out (`None`).
type Changes<'a> = &'a [(&'a str, Option<&'a str>)];

fn authorize(fake: &FakeCognito) -> Authorize {
    authorize_with(fake, &[])
}

/// The usual authorize request with `changes`.
fn authorize_with(fake: &FakeCognito, changes: Changes<'_>) -> Authorize {
    let (verifier, challenge) = pkce_pair();
    let state = uuid::Uuid::new_v4().to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", WEB_CLIENT_ID),
        ("redirect_uri", CALLBACK),
        ("scope", "openid email profile"),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge_method", "S256"),
        ("code_challenge", &challenge),
    ];
    for (name, value) in changes {
        params.retain(|(n, _)| n != name);
        if let Some(value) = value {
            params.push((*name, *value));
        }
    }
    Authorize {
        url: format!("{}?{}", fake.authorize_endpoint(), form_body(&params)),
        verifier,
        state,
        nonce,
    }
}

/// Signs in with the browser and returns the code sent back to the callback.
async fn code_for(fake: &FakeCognito, browser: &reqwest::Client, az: &Authorize) -> String {
    let location = fake.sign_in(browser, &az.url, USER, PASSWORD).await;
    assert!(location.starts_with(&format!("{CALLBACK}?")), "{location}");
    let back = authorize_params(&location);
    assert_eq!(back.get("state"), Some(&az.state), "{location}");
    back.get("code").expect("a code").clone()
}

fn web_basic() -> String {
    basic_auth(WEB_CLIENT_ID, WEB_CLIENT_SECRET)
}

/// A token-endpoint call: status and JSON body (`Null` when empty).
async fn token_call(
    fake: &FakeCognito,
    pairs: &[(&str, &str)],
    authorization: Option<&str>,
) -> (u16, Value) {
    post_form(&fake.token_endpoint(), pairs, authorization).await
}

async fn post_form(url: &str, pairs: &[(&str, &str)], authorization: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(pairs));
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let response = request.send().await.expect("the fake answers");
    let status = response.status().as_u16();
    if status == 400 {
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "errors are JSON"
        );
    }
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON body")
    };
    (status, body)
}

/// The code exchange as a confidential web client makes it.
async fn exchange(fake: &FakeCognito, code: &str, verifier: &str) -> (u16, Value) {
    token_call(
        fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("client_id", WEB_CLIENT_ID),
        ],
        Some(&web_basic()),
    )
    .await
}

async fn refresh(fake: &FakeCognito, refresh_token: &str) -> (u16, Value) {
    token_call(
        fake,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", WEB_CLIENT_ID),
        ],
        Some(&web_basic()),
    )
    .await
}

/// Signs in and exchanges the code: the token response.
async fn signed_in(fake: &FakeCognito) -> Value {
    let az = authorize(fake);
    let code = code_for(fake, &new_browser(), &az).await;
    let (status, tokens) = exchange(fake, &code, &az.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

fn refresh_token_of(tokens: &Value) -> String {
    tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

fn invalid(error: &str) -> (u16, Value) {
    (400, serde_json::json!({ "error": error }))
}

/// Header and claims of a token whose RS256 signature verifies with the key of its `kid` in the
/// fake's JWKS, as the app's verifier will check it. Panics otherwise.
async fn verified(fake: &FakeCognito, token: &str) -> (Value, Value) {
    let (header, claims) = try_verify(fake, token).await.expect("verifies");
    (header, claims)
}

async fn try_verify(fake: &FakeCognito, token: &str) -> Result<(Value, Value), String> {
    let jwks: Value = reqwest::get(fake.jwks_url())
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JWKS JSON");
    let (header, claims) = jwt_parts(token);
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or_else(|| format!("kid {} not in the JWKS", header["kid"]))?;
    let component = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().expect("n, e"));
    let (n, e) = (component("n").expect("n"), component("e").expect("e"));
    let (input, signature) = token.rsplit_once('.').expect("a JWT");
    RsaPublicKeyComponents { n, e }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).expect("base64url"),
        )
        .map_err(|_| "bad signature".to_owned())?;
    Ok((header, claims))
}

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    keys.sort();
    keys
}

#[actix_web::test]
async fn the_code_flow_issues_cognito_shaped_tokens_that_verify_against_the_jwks() {
    let fake = fake().await;
    let az = authorize(&fake);
    let code = code_for(&fake, &new_browser(), &az).await;
    let before = crate::minting::now();
    let response = reqwest::Client::new()
        .post(fake.token_endpoint())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", web_basic())
        .body(form_body(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &az.verifier),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        keys_of(&tokens),
        sorted(&[
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "token_type"
        ])
    );
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);

    let access = tokens["access_token"].as_str().unwrap();
    let (header, claims) = verified(&fake, access).await;
    assert_eq!(
        header,
        serde_json::json!({"kid": access_key().kid, "alg": "RS256"})
    );
    assert_eq!(
        keys_of(&claims),
        sorted(&[
            "sub",
            "iss",
            "version",
            "client_id",
            "origin_jti",
            "event_id",
            "token_use",
            "scope",
            "auth_time",
            "exp",
            "iat",
            "jti",
            "username"
        ]),
        "no cognito:groups for a user in no group"
    );
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["version"], 2);
    assert_eq!(claims["client_id"], WEB_CLIENT_ID);
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["scope"], "openid email profile");
    assert_eq!(claims["username"], USER);
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= before && iat <= crate::minting::now());
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
    assert!(claims["auth_time"].as_i64().unwrap() <= iat);

    let id = tokens["id_token"].as_str().unwrap();
    let (id_header, id_claims) = verified(&fake, id).await;
    assert_eq!(
        id_header,
        serde_json::json!({"kid": id_key().kid, "alg": "RS256"})
    );
    assert_ne!(id_header["kid"], header["kid"], "two keys, as Cognito has");
    assert_eq!(
        keys_of(&id_claims),
        sorted(&[
            "at_hash",
            "sub",
            "email_verified",
            "iss",
            "cognito:username",
            "origin_jti",
            "aud",
            "event_id",
            "token_use",
            "auth_time",
            "nonce",
            "exp",
            "iat",
            "jti",
            "email",
            "given_name",
            "family_name"
        ])
    );
    assert_eq!(id_claims["aud"], WEB_CLIENT_ID);
    assert_eq!(id_claims["token_use"], "id");
    assert_eq!(id_claims["nonce"].as_str(), Some(az.nonce.as_str()));
    assert_eq!(id_claims["email_verified"], true);
    assert_eq!(id_claims["email"], "jane@example.com");
    assert_eq!(id_claims["given_name"], "Jane");
    assert_eq!(id_claims["family_name"], "Doe");
    assert_eq!(id_claims["cognito:username"], USER);
    assert_eq!(id_claims["sub"], claims["sub"]);
    assert_eq!(id_claims["origin_jti"], claims["origin_jti"]);
    assert_eq!(id_claims["auth_time"], claims["auth_time"]);
    assert_ne!(id_claims["jti"], claims["jti"]);
    let hash = digest(&SHA256, access.as_bytes());
    assert_eq!(
        id_claims["at_hash"].as_str(),
        Some(URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16]).as_str())
    );

    // Opaque, JWE-shaped and about Cognito's size.
    let refresh_token = refresh_token_of(&tokens);
    assert!(
        refresh_token
            .starts_with("eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.")
    );
    assert_eq!(refresh_token.split('.').count(), 5);
    assert!(
        (1600..2000).contains(&refresh_token.len()),
        "{}",
        refresh_token.len()
    );
}

#[actix_web::test]
async fn groups_are_in_both_tokens_when_the_user_has_some() {
    let fake = fake().await;
    fake.add_user(FakeUser::new(USER, PASSWORD).with_groups(&["admin", "editors"]));
    let tokens = signed_in(&fake).await;
    for token in ["access_token", "id_token"] {
        let (_, claims) = jwt_parts(tokens[token].as_str().unwrap());
        assert_eq!(
            claims["cognito:groups"],
            serde_json::json!(["admin", "editors"])
        );
    }
}

#[actix_web::test]
async fn a_redirect_uri_off_by_one_character_gets_an_error_page_and_no_redirect() {
    let fake = fake().await;
    let browser = new_browser();
    for uri in [
        "https://app.example.test/auth/callbacK",
        "https://app.example.test/auth/callback/",
        "http://app.example.test/auth/callback",
        "https://app.example.test/auth/callback?x=1",
    ] {
        let az = authorize_with(&fake, &[("redirect_uri", Some(uri))]);
        let response = browser.get(&az.url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{uri}");
        assert!(response.headers().get("location").is_none(), "{uri}");
        assert!(response.text().await.unwrap().contains("redirect_mismatch"));
    }
    // Nor for a missing redirect_uri, an unknown client, or an error-worthy request whose
    // redirect_uri is wrong (the bad redirect_uri wins: no redirect to it).
    for changes in [
        vec![("redirect_uri", None)],
        vec![("client_id", Some("7web0client0id0abcdefghiX"))],
        vec![("client_id", None)],
        vec![
            ("redirect_uri", Some("https://evil.example/cb")),
            ("code_challenge", None),
        ],
    ] {
        let az = authorize_with(&fake, &changes);
        let response = browser.get(&az.url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{changes:?}");
        assert!(response.headers().get("location").is_none());
    }
    // The exact callback URL gets the login page.
    let response = browser.get(&authorize(&fake).url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(fake.calls("authorize"), 9);
}

#[actix_web::test]
async fn authorize_errors_after_the_redirect_uri_go_back_to_the_callback() {
    let fake = fake().await;
    let browser = new_browser();
    let cases: [(Changes<'_>, &str); 9] = [
        (&[("code_challenge", None)], "invalid_request"),
        (
            &[("code_challenge_method", None), ("code_challenge", None)],
            "invalid_request",
        ),
        // RFC 7636: no method means `plain`, which the fake (requiring S256) refuses.
        (&[("code_challenge_method", None)], "invalid_request"),
        (
            &[("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (&[("code_challenge", Some("too-short"))], "invalid_request"),
        (
            &[("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (&[("response_type", None)], "invalid_request"),
        (&[("scope", Some("openid phone"))], "invalid_scope"),
        (&[("scope", Some("email profile"))], "invalid_scope"),
    ];
    for (changes, error) in cases {
        let az = authorize_with(&fake, changes);
        let response = browser.get(&az.url).send().await.unwrap();
        assert_eq!(response.status(), 302, "{changes:?}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(&format!("{CALLBACK}?")), "{location}");
        let back = authorize_params(location);
        assert_eq!(
            back.get("error").map(String::as_str),
            Some(error),
            "{changes:?}"
        );
        assert_eq!(back.get("state"), Some(&az.state));
        assert!(back.contains_key("error_description"));
        assert!(!back.contains_key("code"));
    }
    // Without a state, none comes back.
    let az = authorize_with(&fake, &[("state", None), ("scope", Some("openid bogus"))]);
    let response = browser.get(&az.url).send().await.unwrap();
    let back = authorize_params(response.headers()["location"].to_str().unwrap());
    assert_eq!(back.get("error").map(String::as_str), Some("invalid_scope"));
    assert!(!back.contains_key("state"));
}

#[actix_web::test]
async fn the_user_may_cancel_and_a_wrong_password_shows_the_form_again() {
    let fake = fake().await;
    let browser = new_browser();
    let az = authorize(&fake);
    let page = browser
        .get(&az.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in [
        r#"id="username""#,
        r#"id="password""#,
        r#"id="signin""#,
        r#"id="deny""#,
    ] {
        assert!(page.contains(id), "{id}");
    }
    let request = page
        .split_once(r#"name="request" value=""#)
        .unwrap()
        .1
        .split_once('"')
        .unwrap()
        .0;
    let login = |pairs: Vec<(&'static str, String)>| {
        let body = form_body(
            &pairs
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        browser
            .post(format!("{}/login", fake.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let wrong = login(vec![
        ("username", USER.into()),
        ("password", "wrong".into()),
        ("request", request.into()),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), 200);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Incorrect username or password.")
    );
    assert_eq!(fake.calls("login_failed"), 1);
    assert_eq!(fake.sessions(), 0);

    let denied = login(vec![("deny", "1".into()), ("request", request.into())])
        .await
        .unwrap();
    assert_eq!(denied.status(), 302);
    let back = authorize_params(denied.headers()["location"].to_str().unwrap());
    assert_eq!(back.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(back.get("state"), Some(&az.state));
    // The pending request is gone: the form cannot be replayed.
    let replay = login(vec![
        ("username", USER.into()),
        ("password", PASSWORD.into()),
        ("request", request.into()),
    ])
    .await
    .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(fake.calls("login"), 3);
    assert_eq!(fake.calls("login_failed"), 1);
}

#[actix_web::test]
async fn a_wrong_code_verifier_is_invalid_grant() {
    let fake = fake().await;
    let browser = new_browser();
    let az = authorize(&fake);
    let code = code_for(&fake, &browser, &az).await;
    let (other_verifier, _) = pkce_pair();
    assert_eq!(
        exchange(&fake, &code, &other_verifier).await,
        invalid("invalid_grant")
    );
    // The challenge itself is no verifier either.
    let az = authorize(&fake);
    let code = code_for(&fake, &browser, &az).await;
    let challenge = pkce_challenge(&az.verifier);
    assert_eq!(
        exchange(&fake, &code, &challenge).await,
        invalid("invalid_grant")
    );
    // A fresh code with its own verifier works.
    let az = authorize(&fake);
    let code = code_for(&fake, &browser, &az).await;
    assert_eq!(exchange(&fake, &code, &az.verifier).await.0, 200);
}

#[actix_web::test]
async fn a_code_works_once_and_stays_dead() {
    let fake = fake().await;
    let az = authorize(&fake);
    let code = code_for(&fake, &new_browser(), &az).await;
    assert_eq!(exchange(&fake, &code, &az.verifier).await.0, 200);
    for _ in 0..2 {
        assert_eq!(
            exchange(&fake, &code, &az.verifier).await,
            invalid("invalid_grant")
        );
    }
    assert_eq!(
        exchange(&fake, "no-such-code", &az.verifier).await,
        invalid("invalid_grant")
    );
    assert_eq!(fake.calls("token:authorization_code"), 4);
    assert_eq!(fake.live_refresh_tokens(), 1);
}

#[actix_web::test]
async fn a_code_is_bound_to_its_redirect_uri_client_and_lifetime() {
    let fake = fake().await;
    let browser = new_browser();
    // Another callback URL of the same client is still not the one the code was issued for.
    fake.allow_callback("https://app.example.test/other/callback");
    let az = authorize(&fake);
    let code = code_for(&fake, &browser, &az).await;
    let (status, body) = token_call(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.test/other/callback"),
            ("code_verifier", &az.verifier),
        ],
        Some(&web_basic()),
    )
    .await;
    assert_eq!((status, body), invalid("invalid_grant"));

    // Another client of the pool cannot redeem it (and does not spend it).
    fake.add_client("8mobile0client0id0abcdefg", None);
    let az = authorize(&fake);
    let code = code_for(&fake, &browser, &az).await;
    let by_other = token_call(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &az.verifier),
            ("client_id", "8mobile0client0id0abcdefg"),
        ],
        None,
    )
    .await;
    assert_eq!(by_other, invalid("invalid_grant"));
    assert_eq!(exchange(&fake, &code, &az.verifier).await.0, 200);

    // Expired.
    fake.set_code_ttl(Duration::from_millis(200));
    let az = authorize(&fake);
    let code = code_for(&fake, &browser, &az).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        exchange(&fake, &code, &az.verifier).await,
        invalid("invalid_grant")
    );
}

#[actix_web::test]
async fn a_client_with_a_secret_must_use_basic_auth() {
    let fake = fake().await;
    let az = authorize(&fake);
    let code = code_for(&fake, &new_browser(), &az).await;
    let body = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", az.verifier.as_str()),
        ("client_id", WEB_CLIENT_ID),
    ];
    let wrong_secret = basic_auth(WEB_CLIENT_ID, &WEB_CLIENT_SECRET.replace('1', "2"));
    let other_client = basic_auth("7web0client0id0abcdefghiX", WEB_CLIENT_SECRET);
    for authorization in [
        None,
        Some(wrong_secret.as_str()),
        Some(other_client.as_str()),
        Some("Basic not base64!"),
        Some("Bearer abc"),
    ] {
        assert_eq!(
            token_call(&fake, &body, authorization).await,
            invalid("invalid_client"),
            "{authorization:?}"
        );
    }
    // The secret in the body (client_secret_post) is not Basic.
    let mut with_secret = body.to_vec();
    with_secret.push(("client_secret", WEB_CLIENT_SECRET));
    assert_eq!(
        token_call(&fake, &with_secret, None).await,
        invalid("invalid_client")
    );
    // A body client_id must match the Basic one.
    fake.add_client("8other0client0id0abcdefg", Some("other-secret"));
    let mismatched = basic_auth("8other0client0id0abcdefg", "other-secret");
    assert_eq!(
        token_call(&fake, &body, Some(&mismatched)).await,
        invalid("invalid_client")
    );
    // Unauthenticated calls did not spend the code.
    assert_eq!(token_call(&fake, &body, Some(&web_basic())).await.0, 200);
    let recorded = fake.requests_to("/oauth2/token");
    let last = recorded.last().unwrap();
    assert_eq!(last.authorization.as_deref(), Some(web_basic().as_str()));
    assert_eq!(last.field("redirect_uri"), Some(CALLBACK));
    assert_eq!(fake.calls("token"), 8);
}

#[actix_web::test]
async fn a_public_client_names_itself_in_the_body() {
    let fake = fake().await;
    fake.set_client_secret(None);
    let az = authorize(&fake);
    let code = code_for(&fake, &new_browser(), &az).await;
    let mut body = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", az.verifier.as_str()),
    ];
    assert_eq!(
        token_call(&fake, &body, None).await,
        invalid("invalid_client")
    );
    // Basic with the old secret is no longer good.
    assert_eq!(
        token_call(&fake, &body, Some(&web_basic())).await,
        invalid("invalid_client")
    );
    body.push(("client_id", WEB_CLIENT_ID));
    let (status, tokens) = token_call(&fake, &body, None).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, _) = token_call(
        &fake,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token_of(&tokens)),
            ("client_id", WEB_CLIENT_ID),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn the_token_endpoint_wants_a_well_formed_form() {
    let fake = fake().await;
    let tokens = signed_in(&fake).await;
    let refresh_token = refresh_token_of(&tokens);
    let client = reqwest::Client::new();
    let as_json = client
        .post(fake.token_endpoint())
        .header("Authorization", web_basic())
        .json(&serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(as_json.status(), 400);
    assert_eq!(as_json.headers()["content-type"], "application/json");
    assert_eq!(
        as_json.json::<Value>().await.unwrap(),
        serde_json::json!({"error": "invalid_request"})
    );
    let basic = web_basic();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("grant_type", "password")], "unsupported_grant_type"),
        (&[("refresh_token", &refresh_token)], "invalid_request"),
        (&[("grant_type", "refresh_token")], "invalid_request"),
        (
            &[
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
            "invalid_request",
        ),
    ];
    for (body, error) in cases {
        assert_eq!(
            token_call(&fake, body, Some(&basic)).await,
            invalid(error),
            "{body:?}"
        );
    }
    // The charset parameter is fine.
    let with_charset = client
        .post(fake.token_endpoint())
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .header("Authorization", basic)
        .body(form_body(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(with_charset.status(), 200);
}

#[actix_web::test]
async fn refresh_without_rotation_keeps_the_sign_in_and_the_refresh_token() {
    let fake = fake().await;
    let tokens = signed_in(&fake).await;
    let refresh_token = refresh_token_of(&tokens);
    let (_, first) = jwt_parts(tokens["access_token"].as_str().unwrap());
    for _ in 0..2 {
        let (status, refreshed) = refresh(&fake, &refresh_token).await;
        assert_eq!(status, 200, "{refreshed}");
        assert_eq!(
            keys_of(&refreshed),
            sorted(&["access_token", "expires_in", "id_token", "token_type"]),
            "no new refresh token without rotation"
        );
        let (_, access) = verified(&fake, refreshed["access_token"].as_str().unwrap()).await;
        let (_, id) = verified(&fake, refreshed["id_token"].as_str().unwrap()).await;
        for claims in [&access, &id] {
            assert_eq!(claims["origin_jti"], first["origin_jti"]);
            assert_eq!(claims["auth_time"], first["auth_time"]);
            assert_eq!(claims["sub"], first["sub"]);
        }
        assert_ne!(access["jti"], first["jti"]);
        assert_eq!(access["scope"], first["scope"]);
        assert!(id.get("nonce").is_none(), "no authorize request, no nonce");
    }
    assert_eq!(fake.calls("token:refresh_token"), 2);
    assert_eq!(
        refresh(
            &fake,
            "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.x"
        )
        .await,
        invalid("invalid_grant")
    );
    // Bound to its client.
    fake.add_client("8other0client0id0abcdefg", Some("other-secret"));
    assert_eq!(
        token_call(
            &fake,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token)
            ],
            Some(&basic_auth("8other0client0id0abcdefg", "other-secret")),
        )
        .await,
        invalid("invalid_grant")
    );
    fake.refuse_refresh(true);
    assert_eq!(
        refresh(&fake, &refresh_token).await,
        invalid("invalid_grant")
    );
    fake.refuse_refresh(false);
    assert_eq!(refresh(&fake, &refresh_token).await.0, 200);
}

#[actix_web::test]
async fn rotation_with_no_grace_period_kills_the_old_token_at_once() {
    let fake = fake().await;
    fake.set_rotation(true);
    let tokens = signed_in(&fake).await;
    let first = refresh_token_of(&tokens);
    let (status, rotated) = refresh(&fake, &first).await;
    assert_eq!(status, 200);
    let second = refresh_token_of(&rotated);
    assert_ne!(first, second);
    assert_eq!(refresh(&fake, &first).await, invalid("invalid_grant"));
    assert!(!fake.revoked(&first), "rotated away, not revoked");
    assert_eq!(fake.live_refresh_tokens(), 1);
    let (status, again) = refresh(&fake, &second).await;
    assert_eq!(status, 200);
    let (_, a) = jwt_parts(tokens["access_token"].as_str().unwrap());
    let (_, b) = jwt_parts(again["access_token"].as_str().unwrap());
    assert_eq!(a["origin_jti"], b["origin_jti"], "one family");
}

#[actix_web::test]
async fn within_the_grace_period_the_rotated_token_still_works() {
    let fake = fake().await;
    fake.set_rotation(true);
    fake.set_grace_period(1);
    let first = refresh_token_of(&signed_in(&fake).await);
    let (status, rotated) = refresh(&fake, &first).await;
    assert_eq!(status, 200);
    let second = refresh_token_of(&rotated);
    // A retry (e.g. the answer was lost) within the grace period.
    let (status, retried) = refresh(&fake, &first).await;
    assert_eq!(status, 200);
    let third = refresh_token_of(&retried);
    assert_eq!(fake.live_refresh_tokens(), 3);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(refresh(&fake, &first).await, invalid("invalid_grant"));
    assert_eq!(refresh(&fake, &second).await.0, 200);
    assert_eq!(refresh(&fake, &third).await.0, 200);
}

#[actix_web::test]
async fn revoking_a_refresh_token_kills_its_family_and_nothing_else() {
    let fake = fake().await;
    fake.set_rotation(true);
    fake.set_grace_period(60);
    let first = refresh_token_of(&signed_in(&fake).await);
    let second = refresh_token_of(&refresh(&fake, &first).await.1);
    let other_sign_in = refresh_token_of(&signed_in(&fake).await);
    assert_eq!(fake.live_refresh_tokens(), 3);

    let revoke = |token: String, authorization: Option<String>| {
        let url = fake.revoke_endpoint();
        async move {
            post_form(
                &url,
                &[("token", &token), ("client_id", WEB_CLIENT_ID)],
                authorization.as_deref(),
            )
            .await
        }
    };
    assert_eq!(
        revoke(second.clone(), None).await,
        invalid("invalid_client")
    );
    assert_eq!(
        post_form(&fake.revoke_endpoint(), &[], Some(&web_basic())).await,
        invalid("invalid_request")
    );
    assert!(!fake.revoked(&second));

    assert_eq!(
        revoke(second.clone(), Some(web_basic())).await,
        (200, Value::Null)
    );
    assert!(fake.revoked(&first) && fake.revoked(&second));
    assert!(!fake.revoked(&other_sign_in));
    assert_eq!(refresh(&fake, &first).await, invalid("invalid_grant"));
    assert_eq!(refresh(&fake, &second).await, invalid("invalid_grant"));
    assert_eq!(fake.live_refresh_tokens(), 1);
    assert_eq!(refresh(&fake, &other_sign_in).await.0, 200);
    // RFC 7009: unknown and already revoked tokens are no error.
    assert_eq!(
        revoke("unknown".into(), Some(web_basic())).await,
        (200, Value::Null)
    );
    assert_eq!(revoke(second, Some(web_basic())).await, (200, Value::Null));
    assert_eq!(fake.calls("revoke"), 5);
}

#[actix_web::test]
async fn the_managed_login_session_skips_the_form_until_logout() {
    let fake = fake().await;
    let browser = new_browser();
    let first = authorize(&fake);
    code_for(&fake, &browser, &first).await;
    assert_eq!(fake.sessions(), 1);

    // Same browser: straight back with a code, whose tokens keep the original auth_time.
    let az = authorize(&fake);
    let response = browser.get(&az.url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let back = authorize_params(response.headers()["location"].to_str().unwrap());
    assert_eq!(back.get("state"), Some(&az.state));
    let (status, tokens) = exchange(&fake, &back["code"], &az.verifier).await;
    assert_eq!(status, 200);
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"].as_str(), Some(az.nonce.as_str()));
    assert_eq!(fake.calls("login"), 1);

    // Another browser gets the form.
    let other = new_browser().get(&az.url).send().await.unwrap();
    assert_eq!(other.status(), 200);

    // Logout to a URL that is not a sign-out URL: refused, session kept.
    let logout = |client_id: &'static str, uri: &'static str| {
        let url = format!(
            "{}?{}",
            fake.logout_endpoint(),
            form_body(&[("client_id", client_id), ("logout_uri", uri)])
        );
        browser.get(url).send()
    };
    let refused = logout(WEB_CLIENT_ID, "https://app.example.test/signed-out/")
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
    let refused = logout("6unknown0client0abcdefghi", SIGNED_OUT)
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(fake.sessions(), 1);
    assert_eq!(browser.get(&az.url).send().await.unwrap().status(), 302);

    let out = logout(WEB_CLIENT_ID, SIGNED_OUT).await.unwrap();
    assert_eq!(out.status(), 302);
    assert_eq!(out.headers()["location"], SIGNED_OUT);
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with(&format!("{SESSION_COOKIE}=;")),
        "{cleared}"
    );
    assert_eq!(fake.sessions(), 0);
    let after = browser.get(&authorize(&fake).url).send().await.unwrap();
    assert_eq!(after.status(), 200, "the form again");
    assert_eq!(fake.calls("logout"), 3);
}

#[actix_web::test]
async fn a_stolen_session_cookie_is_dead_after_logout() {
    let fake = fake().await;
    let browser = new_browser();
    let az = authorize(&fake);
    let page = browser
        .get(&az.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request = page
        .split_once(r#"name="request" value=""#)
        .unwrap()
        .1
        .split_once('"')
        .unwrap()
        .0
        .to_owned();
    let login = browser
        .post(format!("{}/login", fake.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("username", USER),
            ("password", PASSWORD),
            ("request", &request),
        ]))
        .send()
        .await
        .unwrap();
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Path=/"));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let copy = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let with_copy = || {
        copy.get(authorize(&fake).url)
            .header("Cookie", cookie.clone())
            .send()
    };
    assert_eq!(with_copy().await.unwrap().status(), 302);
    let url = format!(
        "{}?{}",
        fake.logout_endpoint(),
        form_body(&[("client_id", WEB_CLIENT_ID), ("logout_uri", SIGNED_OUT)])
    );
    assert_eq!(browser.get(url).send().await.unwrap().status(), 302);
    assert_eq!(with_copy().await.unwrap().status(), 200);
}

#[actix_web::test]
async fn tampering_lies_once_in_the_way_asked() {
    let fake = fake().await;
    let cases = [
        Tamper::WrongNonce,
        Tamper::OtherAudience,
        Tamper::ForeignKey,
        Tamper::OtherIssuer,
        Tamper::SubMismatch,
    ];
    for tamper in cases {
        fake.tamper_next(tamper);
        let az = authorize(&fake);
        let code = code_for(&fake, &new_browser(), &az).await;
        let (status, tokens) = exchange(&fake, &code, &az.verifier).await;
        assert_eq!(status, 200);
        let access = tokens["access_token"].as_str().unwrap();
        let id = tokens["id_token"].as_str().unwrap();
        let (access_header, access_claims) = jwt_parts(access);
        let (id_header, id_claims) = jwt_parts(id);
        match tamper {
            Tamper::WrongNonce => {
                assert!(id_claims["nonce"].is_string());
                assert_ne!(id_claims["nonce"].as_str(), Some(az.nonce.as_str()));
            }
            Tamper::OtherAudience => {
                assert_eq!(id_claims["aud"], OTHER_CLIENT_ID);
                assert_eq!(access_claims["client_id"], OTHER_CLIENT_ID);
            }
            Tamper::ForeignKey => {
                for (header, token) in [(&access_header, access), (&id_header, id)] {
                    assert_eq!(header["kid"].as_str(), Some(attacker_key().kid.as_str()));
                    assert!(try_verify(&fake, token).await.is_err());
                }
            }
            Tamper::OtherIssuer => {
                assert_eq!(id_claims["iss"], OTHER_ISSUER);
                assert_eq!(access_claims["iss"], OTHER_ISSUER);
            }
            Tamper::SubMismatch => {
                assert_ne!(id_claims["sub"], access_claims["sub"]);
            }
        }
        if tamper != Tamper::ForeignKey {
            verified(&fake, access).await;
            verified(&fake, id).await;
        }
        // The next exchange is honest again.
        let az = authorize(&fake);
        let code = code_for(&fake, &new_browser(), &az).await;
        let (_, tokens) = exchange(&fake, &code, &az.verifier).await;
        let (_, access_claims) = verified(&fake, tokens["access_token"].as_str().unwrap()).await;
        let (_, id_claims) = verified(&fake, tokens["id_token"].as_str().unwrap()).await;
        assert_eq!(id_claims["nonce"].as_str(), Some(az.nonce.as_str()));
        assert_eq!(id_claims["aud"], WEB_CLIENT_ID);
        assert_eq!(access_claims["client_id"], WEB_CLIENT_ID);
        assert_eq!(id_claims["iss"], ISSUER);
        assert_eq!(id_claims["sub"], access_claims["sub"]);
    }
}

#[actix_web::test]
async fn failure_knobs_slow_down_break_and_shorten() {
    let fake = fake().await;
    let refresh_token = refresh_token_of(&signed_in(&fake).await);

    fake.set_token_status(Some(503));
    let (status, body) = refresh(&fake, &refresh_token).await;
    assert_eq!(
        (status, body),
        (503, serde_json::json!({"error": "internal_error"}))
    );
    fake.set_token_status(None);

    fake.set_token_delay(Duration::from_millis(400));
    let started = Instant::now();
    assert_eq!(refresh(&fake, &refresh_token).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    fake.set_token_delay(Duration::ZERO);

    fake.set_token_ttl(30);
    let (status, tokens) = refresh(&fake, &refresh_token).await;
    assert_eq!(status, 200);
    assert_eq!(tokens["expires_in"], 30);
    for token in ["access_token", "id_token"] {
        let (_, claims) = jwt_parts(tokens[token].as_str().unwrap());
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            30
        );
    }
    assert_eq!(fake.calls("token:refresh_token"), 3);
    assert_eq!(fake.calls("token"), 4);
}

#[actix_web::test]
async fn without_a_nonce_the_id_token_has_none() {
    let fake = fake().await;
    let az = authorize_with(&fake, &[("nonce", None)]);
    let code = code_for(&fake, &new_browser(), &az).await;
    let (_, tokens) = exchange(&fake, &code, &az.verifier).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert!(id.get("nonce").is_none());
    let recorded = fake.requests_to("/oauth2/authorize");
    assert_eq!(recorded[0].field("redirect_uri"), Some(CALLBACK));
    assert_eq!(recorded[0].field("nonce"), None);
}

#[actix_web::test]
async fn fifty_concurrent_refreshes_are_all_answered() {
    let fake = fake().await;
    let refresh_token = refresh_token_of(&signed_in(&fake).await);
    let calls = (0..50).map(|_| refresh(&fake, &refresh_token));
    let answers = futures_util::future::join_all(calls).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    assert_eq!(fake.calls("token:refresh_token"), 50);
    assert_eq!(fake.issued().len(), 51);
}

#[actix_web::test]
async fn garbage_gets_400s_and_the_fake_keeps_working() {
    let fake = fake().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{}{path}", fake.base)).send();
    for path in [
        "/oauth2/authorize",
        "/oauth2/authorize?%zz=%ff&client_id=%",
        "/logout",
        "/logout?client_id=7web0client0id0abcdefghij",
    ] {
        assert_eq!(get(path).await.unwrap().status(), 400, "{path}");
    }
    let post = |path: &str, body: &'static [u8], authorization: &'static str| {
        client
            .post(format!("{}{path}", fake.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Authorization", authorization)
            .body(body)
            .send()
    };
    let cases: [(&str, &'static [u8], &'static str); 6] = [
        ("/login", b"\xff\xfe=%", "x"),
        ("/oauth2/token", b"grant_type=%", "Basic Og=="),
        ("/oauth2/token", b"grant_type=refresh_token", "Basic %%%"),
        ("/oauth2/token", b"\x00\x01", "Basic dGVzdA=="),
        ("/oauth2/token", b"", "Basic JXp6OiV6eg=="),
        ("/oauth2/revoke", b"token=", "Basic /w=="),
    ];
    for (path, body, authorization) in cases {
        let status = post(path, body, authorization).await.unwrap().status();
        assert_eq!(status, 400, "{path} {body:?} {authorization}");
    }
    assert_eq!(get("/oauth2/token").await.unwrap().status(), 405);
    assert_eq!(get("/nowhere").await.unwrap().status(), 404);
    assert_eq!(signed_in(&fake).await["token_type"], "Bearer");
}
