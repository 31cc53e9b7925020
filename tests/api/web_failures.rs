//! Web sign-ins that must fail at `/auth/callback`, as an attacker or an unlucky user meets them:
//! each ends on a friendly page with the right status and a way to start again, and leaves
//! nothing behind (no session row, no user row, no session cookie, often not even a code
//! exchange). Also: the app without web sign-in configured, and callbacks racing for one state.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::cognito::{JwksServer, spawn_api};
use crate::fake_cognito::{FakeUser, OTHER_CLIENT_ID, OTHER_ISSUER, Tamper, authorize_params};
use crate::helpers::new_browser;
use crate::minting::{access_claims, access_key, id_key, new_sub};
use crate::web_harness::*;

/// What a failed sign-in must not have added to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rows {
    sessions: i64,
    users: i64,
}

async fn rows(w: &WebApp) -> Rows {
    Rows {
        sessions: w.count("web_sessions").await,
        users: w.count("users").await,
    }
}

/// Words of the reasons the log gets, which the page must not show.
const INTERNALS: &[&str] = &[
    "invalid_grant",
    "internal_error",
    "nonce",
    "HTTP 5",
    "timed out",
    "database",
    "kid",
    OTHER_CLIENT_ID,
    OTHER_ISSUER,
];

/// Asserts `answer` is the sign-in failure page: `status`, HTML that is never cached, a message
/// containing `says` and nothing internal, no session cookie, and no row added since `before`.
/// Returns the page.
async fn assert_failed(
    w: &WebApp,
    answer: reqwest::Response,
    before: Rows,
    status: u16,
    says: &str,
) -> String {
    let headers = answer.headers().clone();
    let got = answer.status().as_u16();
    let body = answer.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        set_cookie(&headers, SESSION_COOKIE),
        None,
        "no session cookie"
    );
    let message = problem_message(&body);
    assert!(message.contains(says), "{message:?} should say {says:?}");
    for internal in INTERNALS {
        assert!(!body.contains(internal), "the page shows {internal:?}");
    }
    assert_eq!(rows(w).await, before, "nothing was written");
    body
}

/// [`assert_failed`] with a "Try again" link that starts a new sign-in.
async fn assert_retry(
    w: &WebApp,
    answer: reqwest::Response,
    before: Rows,
    status: u16,
    says: &str,
) -> String {
    let body = assert_failed(w, answer, before, status, says).await;
    assert_eq!(retry_href(&body).as_deref(), Some("/auth/login"), "{body}");
    body
}

const NOT_VALID: &str = "This sign-in link is not valid any more";
const NOT_COMPLETED: &str = "The sign-in could not be completed";
const NO_ANSWER: &str = "The sign-in service did not answer in time";

/// Where the managed login sends `browser` back after jane typed her password.
async fn callback_of(w: &WebApp, browser: &reqwest::Client) -> String {
    let authorize = w.start_sign_in(browser, None).await;
    w.fake.sign_in(browser, &authorize, "jane", PASSWORD).await
}

/// The callback URL with exactly these query parameters.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse(url).unwrap();
    url.set_query(None);
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    url.to_string()
}

async fn get(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser.get(url).send().await.unwrap()
}

#[actix_web::test]
async fn a_missing_or_wrong_state_is_refused_before_the_code_is_exchanged() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    let params = authorize_params(&callback);
    let code = params["code"].as_str();
    let before = rows(&w).await;

    // Well-formed, but no sign-in was started with it; and the real one, altered.
    let (unknown, altered) = ("A".repeat(43), format!("{}x", params["state"]));
    for query in [
        vec![("code", code)],
        vec![("code", code), ("state", "")],
        vec![("code", code), ("state", unknown.as_str())],
        vec![("code", code), ("state", "x")],
        vec![("code", code), ("state", altered.as_str())],
    ] {
        let answer = get(&browser, &with_query(&callback, &query)).await;
        assert_retry(&w, answer, before, 400, NOT_VALID).await;
    }
    assert_eq!(w.fake.calls("token"), 0, "no code was exchanged");

    // None of that used the real state up: the genuine callback still signs in.
    let answer = get(&browser, &callback).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(w.count("web_sessions").await, 1);

    // A right state without a code.
    let authorize = w.start_sign_in(&browser, None).await;
    let state = authorize_params(&authorize)["state"].clone();
    let before = rows(&w).await;
    let answer = get(&browser, &with_query(&callback, &[("state", &state)])).await;
    assert_retry(&w, answer, before, 400, NOT_COMPLETED).await;
    assert_eq!(w.fake.calls("token"), 1);
}

#[actix_web::test]
async fn a_replayed_callback_is_refused_and_the_first_session_stays_the_only_one() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    let first = get(&browser, &callback).await;
    assert_eq!(first.status(), 303);
    let secret = cookie_value(&set_cookie(first.headers(), SESSION_COOKIE).unwrap());
    let before = rows(&w).await;
    assert_eq!(before.sessions, 1);

    let again = get(&browser, &callback).await;
    assert_retry(&w, again, before, 400, NOT_VALID).await;
    assert_eq!(
        w.fake.calls("token:authorization_code"),
        1,
        "the code went to Cognito once"
    );
    assert_eq!(w.me_with_cookie(&secret).await.status(), 200);
    assert_eq!(w.me(&browser).await.status(), 200);
}

#[actix_web::test]
async fn a_callback_opened_in_another_browser_is_refused() {
    let w = spawn_web_app().await;
    let before = rows(&w).await;

    // A browser without any sign-in cookie (the callback URL leaked: history, a log, Referer).
    let victim = new_browser();
    let leaked = callback_of(&w, &victim).await;
    let answer = get(&new_browser(), &leaked).await;
    assert_retry(&w, answer, before, 400, NOT_VALID).await;

    // A browser with a sign-in cookie of its own: the attacker started a sign-in too.
    let leaked = callback_of(&w, &victim).await;
    let attacker = new_browser();
    w.start_sign_in(&attacker, None).await;
    let answer = get(&attacker, &leaked).await;
    assert_retry(&w, answer, before, 400, NOT_VALID).await;
    assert_eq!(w.fake.calls("token"), 0, "no code was exchanged");
    // The state is spent by the attempt: the leaked URL is worth nothing to anyone now.
    let answer = get(&victim, &leaked).await;
    assert_retry(&w, answer, before, 400, NOT_VALID).await;

    // Login CSRF: the attacker's own callback (for bob) pushed into the victim's browser, which
    // has a sign-in of its own under way, must not sign the victim in as bob.
    w.fake.add_user(FakeUser::new("bob", PASSWORD));
    let authorize = w.start_sign_in(&attacker, None).await;
    let planted = w.fake.sign_in(&attacker, &authorize, "bob", PASSWORD).await;
    let answer = get(&victim, &planted).await;
    assert_retry(&w, answer, before, 400, NOT_VALID).await;
    assert_eq!(w.fake.calls("token"), 0);
    assert_eq!(
        code_of(w.me(&victim).await).await,
        (401, "missing_token".into())
    );
}

#[actix_web::test]
async fn an_expired_sign_in_is_refused() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    w.sql("UPDATE web_sign_ins SET expires_at = now() - interval '1 second'")
        .await;
    let before = rows(&w).await;
    let answer = get(&browser, &callback).await;
    assert_retry(&w, answer, before, 400, NOT_VALID).await;
    assert_eq!(w.fake.calls("token"), 0, "no code was exchanged");
}

#[actix_web::test]
async fn a_code_exchanged_once_is_refused_even_with_a_fresh_state() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    let old_code = authorize_params(&callback)["code"].clone();
    assert_eq!(get(&browser, &callback).await.status(), 303);
    let before = rows(&w).await;

    // A new sign-in gives a valid state for this browser; the old code goes with it.
    let authorize = w.start_sign_in(&browser, None).await;
    let state = authorize_params(&authorize)["state"].clone();
    let reused = with_query(&callback, &[("code", &old_code), ("state", &state)]);
    let answer = get(&browser, &reused).await;
    assert_retry(&w, answer, before, 400, NOT_COMPLETED).await;
    let exchanges = w.fake.requests_to("/oauth2/token");
    assert_eq!(exchanges.len(), 2, "the app asked, and Cognito refused");
    assert_eq!(exchanges[1].field("code"), Some(old_code.as_str()));
    // The session of the first sign-in is untouched.
    assert_eq!(w.me(&browser).await.status(), 200);
}

/// Fills the managed login's form with the Cancel button: Cognito sends the browser back with
/// `error=access_denied` and the state.
async fn deny(w: &WebApp, browser: &reqwest::Client) -> String {
    let authorize = w.start_sign_in(browser, None).await;
    let page = get(browser, &authorize).await.text().await.unwrap();
    let marker = r#"name="request" value=""#;
    let start = page.find(marker).expect("the login form") + marker.len();
    let request = &page[start..start + page[start..].find('"').unwrap()];
    let answer = browser
        .post(format!("{}/login", w.fake.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(crate::admin_helpers::encode(&[
            ("request", request),
            ("deny", "1"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    location(&answer)
}

#[actix_web::test]
async fn cancelling_at_the_managed_login_says_so() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = deny(&w, &browser).await;
    let params = authorize_params(&callback);
    assert_eq!(params["error"], "access_denied");
    assert!(!params.contains_key("code"));
    let before = rows(&w).await;
    let answer = get(&browser, &callback).await;
    let page = assert_retry(&w, answer, before, 400, "cancelled").await;
    assert!(page.contains("Sign-in cancelled"), "{page}");
    assert_eq!(w.fake.calls("token"), 0);

    // Another error from Cognito, with a code smuggled in next to it: refused all the same.
    let authorize = w.start_sign_in(&browser, None).await;
    let state = authorize_params(&authorize)["state"].clone();
    let forged = with_query(
        &callback,
        &[
            ("error", "server_error"),
            ("error_description", "<script>alert(1)</script>"),
            ("code", "00000000-0000-0000-0000-000000000000"),
            ("state", &state),
        ],
    );
    let answer = get(&browser, &forged).await;
    let page = assert_retry(&w, answer, before, 400, "could not sign you in").await;
    assert!(!page.contains("<script>alert"), "nothing echoed");
    assert!(
        page.contains("Sign-in failed") && !page.contains("cancelled"),
        "{page}"
    );
    assert_eq!(w.fake.calls("token"), 0);
}

/// The next code exchange returns tokens that lie this way: the sign-in fails, and jane (whom the
/// tokens name) is not provisioned.
async fn tampered_tokens_are_refused(tamper: Tamper) {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    w.fake.tamper_next(tamper);
    let before = rows(&w).await;
    assert_eq!(before.users, 0);
    let answer = get(&browser, &callback).await;
    assert_retry(&w, answer, before, 400, NOT_COMPLETED).await;
    assert_eq!(w.fake.calls("token:authorization_code"), 1);
    // The next, honest sign-in works: nothing was left half-made.
    let answer = w.sign_in_as(&browser, "jane", None).await;
    assert_eq!(answer.status(), 303, "{tamper:?}");
}

#[actix_web::test]
async fn an_id_token_with_another_nonce_is_refused() {
    tampered_tokens_are_refused(Tamper::WrongNonce).await;
}

#[actix_web::test]
async fn tokens_for_another_client_are_refused() {
    tampered_tokens_are_refused(Tamper::OtherAudience).await;
}

#[actix_web::test]
async fn tokens_signed_by_a_foreign_key_are_refused() {
    tampered_tokens_are_refused(Tamper::ForeignKey).await;
}

#[actix_web::test]
async fn tokens_of_another_issuer_are_refused() {
    tampered_tokens_are_refused(Tamper::OtherIssuer).await;
}

#[actix_web::test]
async fn access_and_id_tokens_naming_different_users_are_refused() {
    tampered_tokens_are_refused(Tamper::SubMismatch).await;
}

#[actix_web::test]
async fn the_token_endpoint_down_is_a_502_and_nothing_is_written() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    w.fake.set_token_status(Some(500));
    let before = rows(&w).await;
    let answer = get(&browser, &callback).await;
    assert_retry(&w, answer, before, 502, NO_ANSWER).await;
    assert_eq!(w.fake.calls("token:authorization_code"), 1);
    // Once it is back, starting again works.
    w.fake.set_token_status(None);
    assert_eq!(w.sign_in_as(&browser, "jane", None).await.status(), 303);
}

#[actix_web::test]
async fn a_slow_token_endpoint_is_a_502_after_the_apps_timeout() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    // Far beyond the app's 5 s: the answer must come from the app's own timeout.
    w.fake.set_token_delay(Duration::from_secs(10));
    let before = rows(&w).await;
    let started = Instant::now();
    let answer = get(&browser, &callback).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "answered after {took:?}"
    );
    // The fake spent the code and minted tokens: the app must not have used them.
    assert_eq!(w.fake.issued().len(), 1);
    assert_retry(&w, answer, before, 502, NO_ANSWER).await;
}

/// Asserts the page's way to start again goes through the managed login's logout: it remembers
/// the refused identity and would otherwise hand it straight back. Follows it in `browser`.
async fn assert_retry_forgets_who_signed_in(w: &WebApp, browser: &reqwest::Client, page: &str) {
    let retry = retry_href(page).expect("a Try again link");
    assert!(
        retry.starts_with(&format!("{}/logout?", w.fake.base)),
        "{retry}"
    );
    assert_eq!(w.fake.sessions(), 1);
    let (url, answer) = w.follow(browser, &retry).await;
    assert_eq!(url, w.url("/auth/signed-out"));
    assert_eq!(answer.status(), 200);
    assert_eq!(w.fake.sessions(), 0, "the managed login forgot the browser");
    // Starting again shows the login form.
    let authorize = w.start_sign_in(browser, None).await;
    assert_eq!(get(browser, &authorize).await.status(), 200);
}

#[actix_web::test]
async fn an_unknown_user_without_provisioning_is_refused() {
    let w = spawn_web_app_with(&[("COGNITO_CREATE_USERS", "false")]).await;
    let before = rows(&w).await;
    let browser = new_browser();
    let answer = w.sign_in_as(&browser, "jane", None).await;
    let page = assert_failed(&w, answer, before, 403, "There is no account here").await;
    assert_eq!(before.users, 0);
    assert_retry_forgets_who_signed_in(&w, &browser, &page).await;
}

/// Jane of the fake with a known `sub`, and a local account for it.
async fn local_jane(w: &WebApp, active: bool) -> uuid::Uuid {
    let sub = new_sub();
    w.fake.add_user(
        FakeUser::new("jane", PASSWORD)
            .with_sub(&sub)
            .with_groups(&["editors"]),
    );
    let id = uuid::Uuid::now_v7();
    w.app
        .db
        .client()
        .await
        .execute(
            "INSERT INTO users (id, username, email, cognito_sub, is_active) \
             VALUES ($1, 'jane', 'old@example.com', $2, $3)",
            &[&id, &sub, &active],
        )
        .await
        .unwrap();
    id
}

#[actix_web::test]
async fn a_deactivated_user_gets_no_session() {
    let w = spawn_web_app().await;
    let id = local_jane(&w, false).await;
    let before = rows(&w).await;
    let browser = new_browser();
    let answer = w.sign_in_as(&browser, "jane", None).await;
    let page = assert_failed(&w, answer, before, 403, "deactivated").await;
    // Not even the profile was synced from the refused id token.
    let email: String = w
        .app
        .db
        .client()
        .await
        .query_one("SELECT email FROM users WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, "old@example.com");

    // Someone else can sign in from this browser after "Try again".
    assert_retry_forgets_who_signed_in(&w, &browser, &page).await;
    w.fake.add_user(FakeUser::new("bob", PASSWORD));
    assert_eq!(w.sign_in_as(&browser, "bob", None).await.status(), 303);
    assert_eq!(w.count("web_sessions").await, 1);
}

#[actix_web::test]
async fn without_web_sign_in_configured_the_pages_say_so_and_the_api_works_as_before() {
    let jwks = JwksServer::start(&[access_key(), id_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let client = new_browser();
    for path in [
        "/auth/login",
        "/auth/login?next=/account/",
        "/auth/callback?code=x&state=y",
        "/account/",
    ] {
        let answer = client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 503, "{path}");
        let body = answer.text().await.unwrap();
        assert!(
            body.contains("Web sign-in is not configured"),
            "{path}: {body}"
        );
    }
    for path in [
        "/auth/logout",
        "/account/profile",
        "/account/sessions/end-all",
    ] {
        let answer = client
            .post(format!("{}{path}", app.address))
            .header("Origin", &app.address)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 503, "{path}");
    }
    let user = client
        .get(format!("{}/auth/user", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        code_of(user).await,
        (503, "web_sign_in_not_configured".into())
    );

    // The API: bearer tokens as before; a session cookie is nobody.
    let token = access_key().sign(&access_claims(&new_sub(), "jane"));
    let me = app.me(&token).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "jane");
    let cookie = client
        .request(Method::GET, format!("{}/api/v1/me", app.address))
        .header("Cookie", format!("{SESSION_COOKIE}={}", "A".repeat(43)))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(cookie).await, (401, "missing_token".into()));
    assert_eq!(
        app.db
            .client()
            .await
            .query_one("SELECT count(*) FROM web_sign_ins", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        0
    );
}

#[actix_web::test]
async fn callbacks_racing_with_one_state_make_one_session() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let callback = callback_of(&w, &browser).await;
    let mut racing = Vec::new();
    for _ in 0..8 {
        let (browser, callback) = (browser.clone(), callback.clone());
        racing.push(tokio::spawn(async move {
            let answer = browser.get(&callback).send().await.unwrap();
            let cookie = set_cookie(answer.headers(), SESSION_COOKIE);
            (answer.status().as_u16(), cookie)
        }));
    }
    let mut won = Vec::new();
    for request in racing {
        let (status, cookie) = request.await.unwrap();
        match status {
            303 => won.push(cookie.expect("the winner gets a cookie")),
            400 => assert_eq!(cookie, None),
            other => panic!("a racing callback answered {other}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one callback wins");
    assert_eq!(w.count("web_sessions").await, 1);
    assert_eq!(w.count("users").await, 1);
    assert_eq!(w.fake.calls("token:authorization_code"), 1);
    assert_eq!(w.me_with_cookie(&cookie_value(&won[0])).await.status(), 200);
}

#[actix_web::test]
async fn first_sign_ins_racing_in_several_browsers_provision_one_user() {
    let w = spawn_web_app().await;
    let mut browsers = Vec::new();
    for _ in 0..4 {
        let browser = new_browser();
        let callback = callback_of(&w, &browser).await;
        browsers.push((browser, callback));
    }
    assert_eq!(w.count("users").await, 0);
    let mut racing = Vec::new();
    for (browser, callback) in browsers.clone() {
        racing.push(tokio::spawn(async move {
            browser
                .get(&callback)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for request in racing {
        assert_eq!(request.await.unwrap(), 303);
    }
    assert_eq!(w.count("users").await, 1, "one user for one identity");
    assert_eq!(w.count("web_sessions").await, 4);
    let mut ids = Vec::new();
    for (browser, _) in &browsers {
        let me: Value = w.me(browser).await.json().await.unwrap();
        ids.push(me["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}
