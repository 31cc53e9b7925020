//! The Cognito post-confirmation hook: signed, time-boxed, idempotent, off without a secret.

use aws_lc_rs::hmac;
use serde_json::{Value, json};

use crate::cognito::*;
use crate::helpers::{TestApp, spawn_app};
use crate::tokens::{count_users, delete_users_with_sub};

const SECRET: &str = "hook-secret-0123456789abcdef0123456789";
const PATH: &str = "/api/v1/hooks/cognito/post-confirmation";

fn event(sub: &str, username: &str, email: &str) -> Value {
    json!({
        "version": "1",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_GateTest1",
        "userName": username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": CLIENT_ID},
        "triggerSource": "PostConfirmation_ConfirmSignUp",
        "request": {"userAttributes": {
            "sub": sub,
            "email": email,
            "email_verified": "true",
            "given_name": "Grace",
            "family_name": "Hopper",
            "cognito:user_status": "CONFIRMED",
        }},
        "response": {},
    })
}

/// The `X-Gatehouse-Signature` value a hook sender computes (also used by the fuzz test).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = format!("{timestamp}.").into_bytes();
    msg.extend_from_slice(body);
    let hex: String = hmac::sign(&key, &msg)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{PATH}", app.address))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Gatehouse-Signature", signature);
    }
    request.send().await.unwrap()
}

async fn hook_app() -> (JwksServer, TestApp) {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[("COGNITO_HOOK_SECRET", SECRET)]).await;
    (jwks, app)
}

async fn code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

#[actix_web::test]
async fn a_signed_event_creates_the_user_before_the_first_api_call() {
    let (_jwks, app) = hook_app().await;
    let sub = new_sub();
    let body = event(&sub, "grace", "Grace@Example.com").to_string();

    let response = deliver(
        &app,
        body.as_bytes(),
        Some(&signature(SECRET, now(), body.as_bytes())),
    )
    .await;

    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["created"], true);
    let me: Value = app
        .me(&access_key().sign(&access_claims(&sub, "grace")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["id"], result["user_id"],
        "the API finds the user the hook made"
    );
    assert_eq!(me["email"], "grace@example.com");
    assert_eq!(me["email_verified"], true);
    assert_eq!(
        (me["first_name"].as_str(), me["last_name"].as_str()),
        (Some("Grace"), Some("Hopper"))
    );
}

#[actix_web::test]
async fn the_same_event_sent_twice_leaves_one_user() {
    let (_jwks, app) = hook_app().await;
    let sub = new_sub();
    let body = event(&sub, "ada", "ada@example.com").to_string();

    let first: Value = deliver(
        &app,
        body.as_bytes(),
        Some(&signature(SECRET, now(), body.as_bytes())),
    )
    .await
    .json()
    .await
    .unwrap();
    // Cognito retries a trigger that timed out; the Lambda signs each delivery anew.
    let resent = deliver(
        &app,
        body.as_bytes(),
        Some(&signature(SECRET, now() + 1, body.as_bytes())),
    )
    .await;

    assert_eq!(resent.status(), 200);
    let resent: Value = resent.json().await.unwrap();
    assert_eq!(resent["created"], false);
    assert_eq!(resent["user_id"], first["user_id"]);
    assert_eq!(count_users(&app, &sub).await, 1);
}

#[actix_web::test]
async fn a_replayed_signature_is_refused_within_its_window() {
    let (_jwks, app) = hook_app().await;
    let sub = new_sub();
    let body = event(&sub, "ada", "ada@example.com").to_string();
    let signed = signature(SECRET, now(), body.as_bytes());
    assert_eq!(
        deliver(&app, body.as_bytes(), Some(&signed)).await.status(),
        200
    );
    // The user is deleted meanwhile: a replay must not bring the account back.
    delete_users_with_sub(&app, &sub).await;

    let replay = deliver(&app, body.as_bytes(), Some(&signed)).await;

    assert_eq!(code(replay).await, (401, "signature_replayed".to_owned()));
    assert_eq!(count_users(&app, &sub).await, 0, "nothing was written");
}

#[actix_web::test]
async fn concurrent_replays_of_one_signature_get_one_success() {
    let (_jwks, app) = hook_app().await;
    let sub = new_sub();
    let body = event(&sub, "ada", "ada@example.com").to_string();
    let signed = signature(SECRET, now(), body.as_bytes());

    let responses = futures_util::future::join_all(
        (0..20).map(|_| deliver(&app, body.as_bytes(), Some(&signed))),
    )
    .await;

    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [[200].as_slice(), &[401; 19]].concat(),
        "{statuses:?}"
    );
    assert_eq!(count_users(&app, &sub).await, 1);
}

#[actix_web::test]
async fn bad_missing_and_stale_signatures_are_refused() {
    let (_jwks, app) = hook_app().await;
    let sub = new_sub();
    let body = event(&sub, "eve", "eve@example.com").to_string();
    let bytes = body.as_bytes();
    let tampered = event(&sub, "eve", "attacker@example.com").to_string();

    let cases = [
        (None, bytes, "missing_signature"),
        (
            Some(signature(
                "wrong-secret-wrong-secret-wrong-secret",
                now(),
                bytes,
            )),
            bytes,
            "invalid_signature",
        ),
        (
            Some(signature(SECRET, now(), bytes)),
            tampered.as_bytes(),
            "invalid_signature",
        ),
        (
            Some(signature(SECRET, now() - 301, bytes)),
            bytes,
            "signature_expired",
        ),
        (
            Some(signature(SECRET, now() + 301, bytes)),
            bytes,
            "signature_expired",
        ),
        (Some("garbage".to_owned()), bytes, "invalid_signature"),
    ];
    for (signature, body, expected) in cases {
        let (status, actual) = code(deliver(&app, body, signature.as_deref()).await).await;
        assert_eq!((status, actual.as_str()), (401, expected));
    }
    let count: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn events_that_are_not_post_confirmations_are_validation_errors() {
    let (_jwks, app) = hook_app().await;
    let mut no_sub = event("x", "u", "u@example.com");
    no_sub["request"]["userAttributes"]
        .as_object_mut()
        .unwrap()
        .remove("sub");
    let mut other_pool = event(&new_sub(), "u", "u@example.com");
    other_pool["userPoolId"] = json!("eu-west-1_SomeoneElse");

    for body in [
        json!({"hello": "world"}).to_string(),
        no_sub.to_string(),
        other_pool.to_string(),
        "[]".into(),
    ] {
        let signed = signature(SECRET, now(), body.as_bytes());
        let (status, actual) = code(deliver(&app, body.as_bytes(), Some(&signed)).await).await;
        assert_eq!(
            (status, actual.as_str()),
            (422, "validation_error"),
            "{body}"
        );
    }
}

#[actix_web::test]
async fn without_a_secret_the_hook_does_not_exist() {
    let app = spawn_app().await;
    let body = event(&new_sub(), "u", "u@example.com").to_string();

    let (status, actual) = code(
        deliver(
            &app,
            body.as_bytes(),
            Some(&signature(SECRET, now(), body.as_bytes())),
        )
        .await,
    )
    .await;

    assert_eq!((status, actual.as_str()), (404, "not_found"));
}

#[actix_web::test]
async fn an_oversized_event_is_refused_before_any_check() {
    let (_jwks, app) = hook_app().await;
    let body = vec![b' '; 70 * 1024];

    let (status, actual) =
        code(deliver(&app, &body, Some(&signature(SECRET, now(), &body))).await).await;

    assert_eq!((status, actual.as_str()), (413, "payload_too_large"));
}

#[actix_web::test]
async fn unstorable_values_are_refused_or_left_out_never_a_server_error() {
    let (_jwks, app) = hook_app().await;
    let send = async |body: &Value| {
        let body = body.to_string();
        deliver(
            &app,
            body.as_bytes(),
            Some(&signature(SECRET, now(), body.as_bytes())),
        )
        .await
    };

    // A sub no column can hold is a 422 naming the field.
    for sub in ["", "   ", "a\u{0}b", &"s".repeat(129)] {
        let response = send(&event(sub, "someone", "")).await;
        assert_eq!(response.status(), 422, "sub {sub:?}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]["fields"]["request.userAttributes.sub"].is_array(),
            "{body}"
        );
    }

    // Attributes with NUL are left out; a user name with NUL or blank is replaced by the sub.
    let sub = new_sub();
    let mut nul = event(&sub, "nul\u{0}name", "a\u{0}@example.com");
    nul["request"]["userAttributes"]["given_name"] = json!("Gr\u{0}ace");
    let response = send(&nul).await;
    assert_eq!(response.status(), 200);
    let blank_sub = new_sub();
    assert_eq!(send(&event(&blank_sub, "   ", "")).await.status(), 200);
    let db = app.db.client().await;
    for (sub, first_name) in [(&sub, ""), (&blank_sub, "Grace")] {
        let row = db
            .query_one(
                "SELECT username, email, first_name FROM users WHERE cognito_sub = $1",
                &[sub],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), *sub);
        assert_eq!(row.get::<_, String>(1), "");
        assert_eq!(row.get::<_, String>(2), first_name);
    }

    // The Cognito name is taken, and so is the sub (as someone's username): the user is named
    // by their new id instead of the request failing.
    let taken = new_sub();
    assert_eq!(send(&event(&new_sub(), &taken, "")).await.status(), 200);
    let response = send(&event(&taken, &taken, "")).await;
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    let username: String = db
        .query_one(
            "SELECT username FROM users WHERE cognito_sub = $1",
            &[&taken],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(username, result["user_id"].as_str().unwrap());
}

#[actix_web::test]
async fn other_methods_on_the_hook_get_405_with_allow() {
    let (_jwks, app) = hook_app().await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{PATH}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
        assert_eq!(code(response).await, (405, "method_not_allowed".into()));
    }
}

/// A signature at the edge of its window (timestamp exactly five minutes ago) is still accepted
/// for the rest of that second, but its record used to expire at the timestamp + 300 s itself:
/// already in the past, so the next delivery pruned it and the replay went through.
#[actix_web::test]
async fn a_signature_at_the_edge_of_its_window_cannot_be_replayed() {
    let (_jwks, app) = hook_app().await;
    let sub = new_sub();
    let body = event(&sub, "ada", "ada@example.com").to_string();
    // Start early in a second, so both deliveries land in the same one.
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        if (50..300).contains(&nanos) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let signed = signature(SECRET, now() - 300, body.as_bytes());
    assert_eq!(
        deliver(&app, body.as_bytes(), Some(&signed)).await.status(),
        200
    );
    delete_users_with_sub(&app, &sub).await;

    let replay = deliver(&app, body.as_bytes(), Some(&signed)).await;

    assert_eq!(replay.status(), 401, "the replay went through");
    assert_eq!(code(replay).await, (401, "signature_replayed".to_owned()));
    assert_eq!(count_users(&app, &sub).await, 0, "nothing was written");
}
