//! The Cognito guard through real HTTP: one test per refusal code, the classic JWT attacks, the
//! JWKS cache's behaviour, provisioning and revocation.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::cognito::*;
use crate::helpers::spawn_app;

/// Deletes the local user of this Cognito `sub` behind the app's back (as psql would).
pub async fn delete_users_with_sub(app: &crate::helpers::TestApp, sub: &str) {
    app.db
        .client()
        .await
        .execute("DELETE FROM users WHERE cognito_sub = $1", &[&sub])
        .await
        .unwrap();
}

/// How many local users have this Cognito `sub` (0 or 1: the column is unique).
pub async fn count_users(app: &crate::helpers::TestApp, sub: &str) -> i64 {
    app.db
        .client()
        .await
        .query_one("SELECT count(*) FROM users WHERE cognito_sub = $1", &[&sub])
        .await
        .unwrap()
        .get(0)
}

#[actix_web::test]
async fn a_valid_access_token_provisions_the_user_and_me_shows_only_safe_fields() {
    let jwks = JwksServer::start(&[access_key(), id_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();
    let mut claims = access_claims(&sub, "janedoe");
    claims["cognito:groups"] = json!(["editors", "beta"]);

    let response = app.me(&access_key().sign(&claims)).await;

    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["username"], "janedoe");
    assert_eq!(me["groups"], json!(["editors", "beta"]));
    assert_eq!(me["is_active"], true);
    assert!(uuid::Uuid::parse_str(me["id"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(me["created_at"].as_str().unwrap()).is_ok());
    let keys: Vec<&str> = me.as_object().unwrap().keys().map(String::as_str).collect();
    for forbidden in [
        "password_hash",
        "is_staff",
        "is_superuser",
        "cognito_sub",
        "session_epoch",
        "tokens_valid_after",
    ] {
        assert!(!keys.contains(&forbidden), "{forbidden} leaked: {keys:?}");
    }
    let row = app
        .db
        .client()
        .await
        .query_one(
            "SELECT username::text, password_hash, is_staff FROM users WHERE cognito_sub = $1",
            &[&sub],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "janedoe");
    assert_eq!(row.get::<_, Option<String>>(1), None, "no usable password");
    assert!(!row.get::<_, bool>(2));

    // The second request finds the same user.
    let again: Value = app
        .me(&access_key().sign(&claims))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], me["id"]);
}

#[actix_web::test]
async fn missing_token() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;

    for auth in [None, Some("Basic dXNlcjpwYXNz"), Some("Token abc")] {
        let mut request = app.client.get(format!("{}/api/v1/me", app.address));
        if let Some(value) = auth {
            request = request.header("Authorization", value);
        }
        let (status, code, challenge) = refusal(request.send().await.unwrap()).await;

        assert_eq!((status, code.as_str()), (401, "missing_token"), "{auth:?}");
        // RFC 6750 §3.1: no error code when no bearer credentials were sent.
        assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="gatehouse""#));
    }
}

#[actix_web::test]
async fn malformed_authorization_header_is_a_400_invalid_request() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let token = access_key().sign(&access_claims(&new_sub(), "u"));

    let empty = app
        .client
        .get(format!("{}/api/v1/me", app.address))
        .header("Authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    let two_parts = app
        .client
        .get(format!("{}/api/v1/me", app.address))
        .header("Authorization", format!("Bearer {token} extra"))
        .send()
        .await
        .unwrap();
    let twice = app
        .client
        .get(format!("{}/api/v1/me", app.address))
        .header("Authorization", format!("Bearer {token}"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();

    for response in [empty, two_parts, twice] {
        let (status, code, challenge) = refusal(response).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"));
        assert!(challenge.unwrap().contains(r#"error="invalid_request""#));
    }
}

#[actix_web::test]
async fn malformed_tokens() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let good = access_key().sign(&access_claims(&new_sub(), "u"));
    let parts: Vec<&str> = good.split('.').collect();
    let huge = format!("{}.{}.{}", parts[0], "A".repeat(9000), parts[2]);
    let crit = access_key().sign_raw(
        &json!({"kid": access_key().kid, "alg": "RS256", "crit": ["exp"]}).to_string(),
        &access_claims(&new_sub(), "u").to_string(),
    );
    let no_kid = access_key().sign_raw(
        r#"{"alg":"RS256"}"#,
        &access_claims(&new_sub(), "u").to_string(),
    );
    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);

    for token in [
        "abc".to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.extra"),
        huge,
        crit,
        no_kid,
        padded,
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode("not json"),
            parts[1],
            parts[2]
        ),
    ] {
        assert_invalid_token(app.me(&token).await, "malformed_token").await;
    }
    assert_eq!(jwks.hits(), 1, "malformed tokens never cause a JWKS fetch");
}

#[actix_web::test]
async fn alg_none_and_hs256_with_the_public_key_are_refused_before_any_key_lookup() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let claims = access_claims(&new_sub(), "mallory").to_string();
    let payload = URL_SAFE_NO_PAD.encode(&claims);

    let mut tokens = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"kid": access_key().kid, "alg": alg}).to_string());
        tokens.push(format!("{header}.{payload}.c2ln"));
    }
    // RS→HS confusion: HMAC keyed with the RSA public key, with the real kid.
    for secret in [
        access_key().public_der(),
        access_key().jwk().to_string().into_bytes(),
    ] {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"kid": access_key().kid, "alg": "HS256"}).to_string());
        let input = format!("{header}.{payload}");
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        tokens.push(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())));
    }
    // Another RSA algorithm, properly signed with PKCS#1 v1.5 SHA-256 but labelled RS512.
    tokens.push(access_key().sign_raw(
        &json!({"kid": access_key().kid, "alg": "RS512"}).to_string(),
        &claims,
    ));

    for token in tokens {
        assert_invalid_token(app.me(&token).await, "unsupported_algorithm").await;
    }
    assert_eq!(jwks.hits(), 1);
}

#[actix_web::test]
async fn invalid_signature_for_a_known_kid_or_a_tampered_token() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let claims = access_claims(&new_sub(), "u");

    // Signed by an attacker's key, claiming the pool's kid.
    let forged = attacker_key().sign_with_kid(&access_key().kid, &claims);
    // A real token whose payload was edited, signature kept.
    let real = access_key().sign(&claims);
    let parts: Vec<&str> = real.split('.').collect();
    let mut edited = claims.clone();
    edited["username"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(edited.to_string()),
        parts[2]
    );
    // The last signature byte flipped.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    *sig.last_mut().unwrap() ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));

    for token in [forged, tampered, flipped] {
        assert_invalid_token(app.me(&token).await, "invalid_signature").await;
    }
}

#[actix_web::test]
async fn unknown_kid_refetches_once_then_is_unknown_key_and_refetches_are_rate_limited() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    assert_eq!(jwks.hits(), 1, "loaded at start");
    let claims = access_claims(&new_sub(), "u");

    assert_invalid_token(app.me(&attacker_key().sign(&claims)).await, "unknown_key").await;
    assert_eq!(jwks.hits(), 2, "the unknown kid caused one refetch");

    for i in 0..5 {
        let token = attacker_key().sign_with_kid(&format!("random-kid-{i}"), &claims);
        assert_invalid_token(app.me(&token).await, "unknown_key").await;
    }
    assert_eq!(
        jwks.hits(),
        2,
        "no further fetch within COGNITO_JWKS_MIN_REFETCH_SECONDS"
    );
    // Known keys keep working meanwhile.
    assert_eq!(app.me(&access_key().sign(&claims)).await.status(), 200);
}

#[actix_web::test]
async fn a_hundred_concurrent_requests_with_a_new_kid_cause_one_fetch() {
    let jwks = JwksServer::start(&[access_key()]).await;
    // The first refetch is never rate-limited: only single-flight can keep this to one fetch.
    let app = spawn_api(&jwks, &[MIN_REFETCH]).await;
    assert_eq!(jwks.hits(), 1);
    jwks.set_keys(&[access_key(), rotated_key()]);
    jwks.set_delay(Duration::from_millis(300));
    let token = rotated_key().sign(&access_claims(&new_sub(), "rotated"));

    let responses = futures_util::future::join_all((0..100).map(|_| app.me(&token))).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(jwks.hits(), 2, "one fetch for a hundred requests");
}

#[actix_web::test]
async fn key_rotation_new_key_accepted_removed_key_refused() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[MIN_REFETCH]).await;
    let old = access_key().sign(&access_claims(&new_sub(), "a"));
    let new = rotated_key().sign(&access_claims(&new_sub(), "b"));
    assert_eq!(app.me(&old).await.status(), 200);

    jwks.set_keys(&[access_key(), rotated_key()]);
    assert_eq!(
        app.me(&new).await.status(),
        200,
        "picked up after a refetch"
    );

    jwks.set_keys(&[rotated_key()]);
    // Any refresh replaces the key set; an unknown kid causes one here.
    refetch_allowed_again().await;
    let probe = attacker_key().sign(&access_claims(&new_sub(), "c"));
    assert_invalid_token(app.me(&probe).await, "unknown_key").await;

    assert_invalid_token(app.me(&old).await, "unknown_key").await;
    assert_eq!(app.me(&new).await.status(), 200);
}

#[actix_web::test]
async fn jwks_keys_that_are_not_rsa_signature_keys_are_never_used() {
    let jwks = JwksServer::start(&[]).await;
    let secret = URL_SAFE_NO_PAD.encode(b"a-shared-secret-an-attacker-knows");
    jwks.set_body(
        &json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": secret, "alg": "HS256"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": access_key().jwk()["n"], "e": "AQAB"},
            access_key().jwk(),
        ]})
        .to_string(),
    );
    let app = spawn_api(&jwks, &[]).await;
    let claims = access_claims(&new_sub(), "u");

    // The RSA key is there; the RS256 token signed by it under the `enc` kid is not accepted.
    assert_eq!(app.me(&access_key().sign(&claims)).await.status(), 200);
    assert_invalid_token(
        app.me(&access_key().sign_with_kid("enc", &claims)).await,
        "unknown_key",
    )
    .await;
    assert_invalid_token(
        app.me(&access_key().sign_with_kid("hmac", &claims)).await,
        "unknown_key",
    )
    .await;
}

#[actix_web::test]
async fn header_urls_are_never_followed() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let claims = access_claims(&new_sub(), "u").to_string();
    let evil = format!("{}/attacker/jwks.json", jwks.base);
    let header = json!({
        "kid": attacker_key().kid, "alg": "RS256",
        "jku": evil, "x5u": evil, "jwk": attacker_key().jwk(),
    })
    .to_string();

    let token = attacker_key().sign_raw(&header, &claims);

    assert_invalid_token(app.me(&token).await, "unknown_key").await;
    assert!(
        jwks.paths().iter().all(|p| !p.contains("attacker")),
        "fetched: {:?}",
        jwks.paths()
    );
    // A header that names a known kid but embeds the attacker's key is judged by the pool's key.
    let embedded = attacker_key().sign_raw(
        &json!({"kid": access_key().kid, "alg": "RS256", "jwk": attacker_key().jwk()}).to_string(),
        &claims,
    );
    assert_invalid_token(app.me(&embedded).await, "invalid_signature").await;
}

#[actix_web::test]
async fn expiry_and_not_before_with_and_without_leeway() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let strict = spawn_api(&jwks, &[]).await;
    let lenient = spawn_api(&jwks, &[("COGNITO_LEEWAY_SECONDS", "30")]).await;
    let mut expired = access_claims(&new_sub(), "u");
    expired["exp"] = json!(now() - 10);
    let mut future = access_claims(&new_sub(), "v");
    future["nbf"] = json!(now() + 10);

    assert_invalid_token(
        strict.me(&access_key().sign(&expired)).await,
        "token_expired",
    )
    .await;
    assert_invalid_token(
        strict.me(&access_key().sign(&future)).await,
        "token_not_yet_valid",
    )
    .await;
    assert_eq!(lenient.me(&access_key().sign(&expired)).await.status(), 200);
    assert_eq!(lenient.me(&access_key().sign(&future)).await.status(), 200);
    let mut long_expired = access_claims(&new_sub(), "w");
    long_expired["exp"] = json!(now() - 31);
    assert_invalid_token(
        lenient.me(&access_key().sign(&long_expired)).await,
        "token_expired",
    )
    .await;
}

#[actix_web::test]
async fn issuer_must_match_exactly() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;

    for iss in [
        format!("{ISSUER}/"),
        ISSUER.replace("https://", "http://"),
        ISSUER.to_uppercase(),
        ISSUER.replace("cognito-idp.", "issuer-cognito-idp."),
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OtherPool".to_owned(),
    ] {
        let mut claims = access_claims(&new_sub(), "u");
        claims["iss"] = json!(iss);
        assert_invalid_token(app.me(&access_key().sign(&claims)).await, "invalid_issuer").await;
    }
}

#[actix_web::test]
async fn both_issuer_formats_when_both_are_configured() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let updated = ISSUER.replace("cognito-idp.", "issuer-cognito-idp.");
    let both = format!("{ISSUER},{updated}");
    let app = spawn_api(&jwks, &[("COGNITO_ISSUER", both.as_str())]).await;

    for iss in [ISSUER, updated.as_str()] {
        let mut claims = access_claims(&new_sub(), "u");
        claims["iss"] = json!(iss);
        assert_eq!(
            app.me(&access_key().sign(&claims)).await.status(),
            200,
            "{iss}"
        );
    }
}

#[actix_web::test]
async fn app_client_must_be_accepted() {
    let jwks = JwksServer::start(&[access_key(), id_key()]).await;
    let app = spawn_api(&jwks, &[("COGNITO_TOKEN_USE", "any")]).await;
    let mut other_client = access_claims(&new_sub(), "u");
    other_client["client_id"] = json!("someotherclient");
    let mut no_client = access_claims(&new_sub(), "v");
    no_client.as_object_mut().unwrap().remove("client_id");
    let mut id_other_aud = id_claims(&new_sub(), "w", "w@example.com");
    id_other_aud["aud"] = json!("someotherclient");
    // An access token's client_id does not stand in for an id token's aud.
    let mut id_with_client_id = id_claims(&new_sub(), "x", "x@example.com");
    id_with_client_id.as_object_mut().unwrap().remove("aud");
    id_with_client_id["client_id"] = json!(CLIENT_ID);

    for token in [
        access_key().sign(&other_client),
        access_key().sign(&no_client),
        id_key().sign(&id_other_aud),
        id_key().sign(&id_with_client_id),
    ] {
        assert_invalid_token(app.me(&token).await, "invalid_audience").await;
    }
}

#[actix_web::test]
async fn star_accepts_every_app_client_of_the_pool() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[("COGNITO_CLIENT_IDS", "*")]).await;
    let mut claims = access_claims(&new_sub(), "u");
    claims["client_id"] = json!("anyclientofthepool");

    assert_eq!(app.me(&access_key().sign(&claims)).await.status(), 200);
}

#[actix_web::test]
async fn token_use_must_match_the_setting() {
    let jwks = JwksServer::start(&[access_key(), id_key()]).await;
    let access_only = spawn_api(&jwks, &[]).await;
    let id_only = spawn_api(&jwks, &[("COGNITO_TOKEN_USE", "id")]).await;
    let access = access_key().sign(&access_claims(&new_sub(), "a"));
    let id = id_key().sign(&id_claims(&new_sub(), "b", "b@example.com"));

    assert_eq!(access_only.me(&access).await.status(), 200);
    assert_invalid_token(access_only.me(&id).await, "invalid_token_use").await;
    assert_eq!(id_only.me(&id).await.status(), 200);
    assert_invalid_token(id_only.me(&access).await, "invalid_token_use").await;

    for token_use in [json!("ID"), json!("refresh"), Value::Null] {
        let mut claims = access_claims(&new_sub(), "c");
        if token_use.is_null() {
            claims.as_object_mut().unwrap().remove("token_use");
        } else {
            claims["token_use"] = token_use;
        }
        assert_invalid_token(
            access_only.me(&access_key().sign(&claims)).await,
            "invalid_token_use",
        )
        .await;
    }
}

#[actix_web::test]
async fn claims_of_the_wrong_type_or_missing_are_invalid_claims() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("exp", Some(json!((now() + 3600).to_string()))),
        ("exp", Some(Value::Null)),
        ("exp", Some(json!(true))),
        ("exp", None),
        ("sub", None),
        ("sub", Some(json!(42))),
        ("iss", None),
        ("iss", Some(json!([ISSUER]))),
        ("nbf", Some(json!("0"))),
        ("client_id", Some(json!(123))),
        ("cognito:groups", Some(json!("admin"))),
        ("scope", Some(json!(["aws.cognito.signin.user.admin"]))),
        ("token_use", Some(json!(["access"]))),
        // Values no column can store: refused, never a 500 from the database.
        ("sub", Some(json!(""))),
        ("sub", Some(json!("   "))),
        ("sub", Some(json!("a\u{0}b"))),
        ("sub", Some(json!("x".repeat(129)))),
        ("jti", Some(json!("a\u{0}b"))),
        ("origin_jti", Some(json!("x".repeat(256)))),
    ];

    for (claim, value) in cases {
        let mut claims = access_claims(&new_sub(), "u");
        match &value {
            Some(v) => claims[claim] = v.clone(),
            None => {
                claims.as_object_mut().unwrap().remove(claim);
            }
        }
        let response = app.me(&access_key().sign(&claims)).await;
        let (status, code, _) = refusal(response).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "invalid_claims"),
            "{claim} = {value:?}"
        );
    }
}

#[actix_web::test]
async fn a_hundred_concurrent_first_requests_create_one_user() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[("DATABASE_POOL_SIZE", "20")]).await;
    let sub = new_sub();
    let token = access_key().sign(&access_claims(&sub, "racer"));

    let responses = futures_util::future::join_all((0..100).map(|_| app.me(&token))).await;

    let mut ids = std::collections::HashSet::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let me: Value = response.json().await.unwrap();
        ids.insert(me["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every request saw the same user");
    assert_eq!(count_users(&app, &sub).await, 1);
}

#[actix_web::test]
async fn a_taken_username_falls_back_to_the_sub() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO users (id, username, is_staff) VALUES ($1, 'Alice', true)",
            &[&uuid::Uuid::now_v7()],
        )
        .await
        .unwrap();
    let sub = new_sub();

    let me: Value = app
        .me(&access_key().sign(&access_claims(&sub, "alice")))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(me["username"], json!(sub));
}

#[actix_web::test]
async fn provisioning_off_means_user_not_provisioned() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[("COGNITO_CREATE_USERS", "false")]).await;
    let sub = new_sub();

    let (status, code, challenge) =
        refusal(app.me(&access_key().sign(&access_claims(&sub, "u"))).await).await;

    assert_eq!((status, code.as_str()), (403, "user_not_provisioned"));
    assert_eq!(challenge, None);
    assert_eq!(count_users(&app, &sub).await, 0);
}

#[actix_web::test]
async fn an_inactive_user_is_refused() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();
    let token = access_key().sign(&access_claims(&sub, "u"));
    assert_eq!(app.me(&token).await.status(), 200);

    app.db
        .client()
        .await
        .execute(
            "UPDATE users SET is_active = false WHERE cognito_sub = $1",
            &[&sub],
        )
        .await
        .unwrap();
    let (status, code, _) = refusal(app.me(&token).await).await;

    assert_eq!((status, code.as_str()), (403, "user_inactive"));
}

#[actix_web::test]
async fn id_tokens_sync_the_profile_and_accept_every_email_verified_spelling() {
    let jwks = JwksServer::start(&[id_key()]).await;
    let app = spawn_api(&jwks, &[("COGNITO_TOKEN_USE", "id")]).await;
    let sub = new_sub();
    let mut claims = id_claims(&sub, "jane", "Jane.Doe@Example.COM");
    claims["email_verified"] = json!("True");

    let me: Value = app.me(&id_key().sign(&claims)).await.json().await.unwrap();

    assert_eq!(me["email"], "jane.doe@example.com");
    assert_eq!(me["email_verified"], true);
    assert_eq!(
        (me["first_name"].as_str(), me["last_name"].as_str()),
        (Some("Jane"), Some("Doe"))
    );

    claims["given_name"] = json!("Janet");
    claims["email_verified"] = json!("false");
    let me: Value = app.me(&id_key().sign(&claims)).await.json().await.unwrap();
    assert_eq!(me["first_name"], "Janet");
    assert_eq!(me["email_verified"], false);

    // Nothing changed: no write, so updated_at stays.
    let before = me["updated_at"].clone();
    let me: Value = app.me(&id_key().sign(&claims)).await.json().await.unwrap();
    assert_eq!(me["updated_at"], before);
}

#[actix_web::test]
async fn logout_revokes_the_sign_in_and_every_token_refreshed_from_it() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();
    let claims = access_claims(&sub, "u");
    let token = access_key().sign(&claims);
    // A later token from the same sign-in (refresh): new jti, same origin_jti.
    let mut refreshed_claims = claims.clone();
    refreshed_claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    refreshed_claims["iat"] = json!(now() + 1);
    let refreshed = access_key().sign(&refreshed_claims);
    // A separate sign-in of the same user.
    let other_session = access_key().sign(&access_claims(&sub, "u"));
    assert_eq!(app.me(&token).await.status(), 200);

    let logout = app.post_with_token("/api/v1/logout", &token).await;

    assert_eq!(logout.status(), 204);
    assert_invalid_token(app.me(&token).await, "token_revoked").await;
    assert_invalid_token(app.me(&refreshed).await, "token_revoked").await;
    assert_eq!(app.me(&other_session).await.status(), 200);
    // Logging out twice is harmless... and refused, since the token is revoked.
    assert_invalid_token(
        app.post_with_token("/api/v1/logout", &token).await,
        "token_revoked",
    )
    .await;
}

#[actix_web::test]
async fn sign_out_everywhere_refuses_tokens_from_earlier_sign_ins() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();
    let mut old = access_claims(&sub, "u");
    old["auth_time"] = json!(now() - 600);
    let old = access_key().sign(&old);
    assert_eq!(app.me(&old).await.status(), 200);

    app.db
        .client()
        .await
        .execute(
            "INSERT INTO cognito_signouts (issuer, sub, signed_out_at) \
             VALUES ($1, $2, now() - interval '60 seconds')",
            &[&ISSUER, &sub],
        )
        .await
        .unwrap();
    let fresh = access_key().sign(&access_claims(&sub, "u"));

    assert_invalid_token(app.me(&old).await, "token_revoked").await;
    assert_eq!(app.me(&fresh).await.status(), 200);
}

#[actix_web::test]
async fn jwks_down_at_start_answers_503_then_recovers_by_itself() {
    let jwks = JwksServer::start(&[access_key()]).await;
    jwks.set_status(500);
    let app = spawn_api(&jwks, &[]).await;
    let token = access_key().sign(&access_claims(&new_sub(), "u"));

    let response = app.me(&token).await;
    assert_eq!(response.headers()["retry-after"], "5");
    let (status, code, _) = refusal(response).await;
    assert_eq!((status, code.as_str()), (503, "jwks_unavailable"));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    // Which check failed; the fetch error (URL, status) stays in the log.
    assert_eq!(body["checks"]["jwks"], json!({"status": "error"}), "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok");

    jwks.set_status(200);
    let mut recovered = false;
    for _ in 0..100 {
        if app.me(&token).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the refresher retried and the API recovered");
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[actix_web::test]
async fn a_jwks_that_is_garbage_or_too_big_is_refused_and_cached_keys_keep_working() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[MIN_REFETCH]).await;
    let known = access_key().sign(&access_claims(&new_sub(), "u"));
    let new_kid = rotated_key().sign(&access_claims(&new_sub(), "v"));

    for body in [
        "<html>oops</html>".to_owned(),
        format!("{{\"keys\":[\"{}\"]}}", "x".repeat(100_000)),
    ] {
        jwks.set_body(&body);
        refetch_allowed_again().await;
        let hits = jwks.hits();
        let (status, code, _) = refusal(app.me(&new_kid).await).await;
        assert_eq!(jwks.hits(), hits + 1, "the body was fetched");
        assert_eq!((status, code.as_str()), (503, "jwks_unavailable"));
        assert_eq!(app.me(&known).await.status(), 200);
    }
}

#[actix_web::test]
async fn without_cognito_settings_the_api_says_so() {
    let app = spawn_app().await;

    let response = app.get("/api/v1/me").await;

    let (status, code, _) = refusal(response).await;
    assert_eq!((status, code.as_str()), (503, "cognito_not_configured"));
}

#[actix_web::test]
async fn unknown_api_routes_need_a_token_too() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;

    let (status, code, _) = refusal(app.get("/api/v1/no-such-thing").await).await;

    assert_eq!((status, code.as_str()), (401, "missing_token"));
}

/// Group and scope requirements, on routes that use the extractor outside the guarded scope (it
/// must then authenticate by itself).
#[actix_web::test]
async fn group_and_scope_requirements_answer_403_with_their_codes() {
    use actix_web::{App, HttpResponse, test, web};
    use gatehouse::auth::cognito::{self as cognito_auth, CognitoUser};
    use gatehouse::error::ApiError;
    use gatehouse::state::AppState;

    let jwks = JwksServer::start(&[access_key()]).await;
    let db = crate::helpers::TestDb::migrated().await;
    let settings = crate::helpers::test_settings(
        &db.url,
        &[
            ("GATEHOUSE_ENV", "development"),
            ("COGNITO_ISSUER", ISSUER),
            ("COGNITO_JWKS_URL", jwks.url.as_str()),
            ("COGNITO_CLIENT_IDS", CLIENT_ID),
        ],
    );
    let verifier = cognito_auth::start(settings.cognito.as_ref().unwrap()).unwrap();
    verifier.jwks().refresh().await.unwrap();
    let state = web::Data::new(AppState {
        pool: gatehouse::db::build_pool(&settings.database),
        settings: std::sync::Arc::new(settings),
    });
    let app = test::init_service(
        App::new()
            .app_data(state)
            .app_data(web::Data::from(verifier))
            .route(
                "/editors-only",
                web::get().to(|caller: CognitoUser| async move {
                    caller.require_group("editors")?;
                    Ok::<_, ApiError>(HttpResponse::NoContent().finish())
                }),
            )
            .route(
                "/needs-scope",
                web::get().to(|caller: CognitoUser| async move {
                    caller.require_scope("articles/write")?;
                    Ok::<_, ApiError>(HttpResponse::NoContent().finish())
                }),
            ),
    )
    .await;
    let call = |path: &'static str, claims: Value| {
        let app = &app;
        async move {
            let mut req = test::TestRequest::get().uri(path);
            if !claims.is_null() {
                req = req.insert_header((
                    "Authorization",
                    format!("Bearer {}", access_key().sign(&claims)),
                ));
            }
            test::call_service(app, req.to_request()).await
        }
    };
    let mut editor = access_claims(&new_sub(), "ed");
    editor["cognito:groups"] = json!(["editors"]);
    editor["scope"] = json!("openid articles/write");
    let reader = access_claims(&new_sub(), "reader");

    assert_eq!(call("/editors-only", editor.clone()).await.status(), 204);
    assert_eq!(call("/needs-scope", editor).await.status(), 204);
    assert_eq!(
        call("/editors-only", Value::Null).await.status(),
        401,
        "extractor authenticates"
    );

    let denied = call("/editors-only", reader.clone()).await;
    assert_eq!(denied.status(), 403);
    let body: Value = test::read_body_json(denied).await;
    assert_eq!(body["error"]["code"], "forbidden_group");

    let denied = call("/needs-scope", reader).await;
    assert_eq!(denied.status(), 403);
    let challenge = denied
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    let body: Value = test::read_body_json(denied).await;
    assert_eq!(body["error"]["code"], "insufficient_scope");
}

#[actix_web::test]
async fn a_database_outage_is_503_database_unavailable_never_500() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let token = access_key().sign(&access_claims(&new_sub(), "u"));
    assert_eq!(app.me(&token).await.status(), 200);

    app.db.drop_now().await;
    let response = app.me(&token).await;

    assert_eq!(response.headers()["retry-after"], "1");
    let (status, code, _) = refusal(response).await;
    assert_eq!((status, code.as_str()), (503, "database_unavailable"));
}

#[actix_web::test]
async fn logout_refuses_a_token_that_names_no_sign_in() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let mut claims = access_claims(&new_sub(), "u");
    let obj = claims.as_object_mut().unwrap();
    obj.remove("jti");
    obj.remove("origin_jti");
    let token = access_key().sign(&claims);
    assert_eq!(app.me(&token).await.status(), 200, "still a valid token");

    let (status, code, _) = refusal(app.post_with_token("/api/v1/logout", &token).await).await;

    assert_eq!((status, code.as_str()), (401, "invalid_claims"));
    assert_eq!(app.me(&token).await.status(), 200, "nothing was revoked");
}

#[actix_web::test]
async fn a_cognito_username_with_format_characters_is_replaced_by_the_sub() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();

    // "admin" followed by a right-to-left override: would read differently in the back office.
    let claims = access_claims(&sub, "jane\u{202e}nimda");
    let me: Value = app
        .me(&access_key().sign(&claims))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(me["username"], json!(sub));
}
