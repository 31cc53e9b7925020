//! The account page (`/account/`) of a signed-in app user: what it shows, the profile form, ending
//! one session or all of them; and staff actions in the back office ending a user's web sessions.
//! Every state change is tried forged first (no or another session's CSRF token, another origin,
//! another user's session), and must change nothing.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::admin_helpers::{
    NewAccount, bulk_user_action, create_user, lock_from, login_ok, post_admin, text,
};
use crate::fake_cognito::FakeUser;
use crate::helpers::new_browser;
use crate::minting::{CLIENT_ID, access_claims, access_key, now};
use crate::web_harness::*;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

/// A browser (cookies kept, no redirect followed) that sends this User-Agent.
fn browser_with_agent(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent(user_agent)
        .build()
        .unwrap()
}

async fn account_page(w: &WebApp, browser: &reqwest::Client, path: &str) -> String {
    let answer = browser.get(w.url(path)).send().await.unwrap();
    assert_eq!(answer.status(), 200, "GET {path}");
    answer.text().await.unwrap()
}

/// The rows of the page's sessions table.
fn session_rows(html: &str) -> Vec<String> {
    let table = html
        .split_once(r#"id="sessions""#)
        .expect("a sessions table")
        .1;
    let body = table.split_once("<tbody>").unwrap().1;
    let body = body.split_once("</tbody>").unwrap().0;
    body.split("<tr>").skip(1).map(str::to_owned).collect()
}

async fn jane(w: &WebApp) -> (Uuid, String) {
    let row = w
        .app
        .db
        .client()
        .await
        .query_one(
            "SELECT id, cognito_sub FROM users WHERE username = 'jane'",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn names(w: &WebApp) -> (String, String) {
    let row = w
        .app
        .db
        .client()
        .await
        .query_one(
            "SELECT first_name, last_name FROM users WHERE username = 'jane'",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The refresh token the `n`th code exchange handed out (sign-ins in order).
fn refresh_of(w: &WebApp, n: usize) -> String {
    w.fake.issued()[n].refresh_token.clone().unwrap()
}

/// A bearer token of `sub` from an API sign-in a minute ago (before anything the test does).
fn earlier_bearer(sub: &str) -> String {
    let mut claims = access_claims(sub, "jane");
    claims["auth_time"] = Value::from(now() - 60);
    assert_eq!(claims["client_id"], CLIENT_ID);
    access_key().sign(&claims)
}

async fn me_with_bearer(w: &WebApp, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(w.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn expired() -> (u16, String) {
    (401, "session_expired".into())
}

#[actix_web::test]
async fn the_account_page_needs_a_session() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let answer = browser.get(w.url("/account/")).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/auth/login?next=/account/");
    let answer = browser.get(w.url("/account")).send().await.unwrap();
    assert_eq!(location(&answer), "/account/");

    // A cookie that names no session: the same, and the cookie is cleared.
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(w.url("/account/"))
        .header("Cookie", format!("{SESSION_COOKIE}={}", "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/auth/login?next=/account/");
    let cleared = set_cookie(answer.headers(), SESSION_COOKIE).expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // Following the sign-in link lands back on the account page.
    let answer = w.sign_in_as(&browser, "jane", Some("/account/")).await;
    assert_eq!(location(&answer), "/account/");
    assert_eq!(
        browser
            .get(w.url("/account/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[actix_web::test]
async fn the_account_page_shows_the_profile_groups_and_sessions() {
    let w = spawn_web_app().await;
    let firefox = browser_with_agent(FIREFOX);
    let answer = w.sign_in_as(&firefox, "jane", None).await;
    let firefox_secret = cookie_value(&set_cookie(answer.headers(), SESSION_COOKIE).unwrap());
    // reqwest sends no User-Agent at all.
    let (_plain, plain_secret) = w.browser_of("jane").await;
    // A User-Agent is whatever the client says: it must reach the page as text, never as HTML.
    let hostile = browser_with_agent("<script>alert(1)</script>");
    assert_eq!(w.sign_in_as(&hostile, "jane", None).await.status(), 303);

    let answer = firefox.get(w.url("/account/")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let html = answer.text().await.unwrap();
    assert!(html.contains(r#"id="username">jane</dd>"#), "{html}");
    assert!(html.contains("jane@example.com"));
    assert!(html.contains(r#"<span class="badge text-bg-success">verified</span>"#));
    assert!(html.contains(r#"<span class="badge text-bg-secondary me-1">editors</span>"#));
    assert!(html.contains(r#"value="Jane""#) && html.contains(r#"value="Doe""#));
    assert!(html.contains("Signed in as <strong>Jane Doe</strong>"));

    let rows = session_rows(&html);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let current: Vec<&String> = rows.iter().filter(|r| r.contains("this browser")).collect();
    assert_eq!(current.len(), 1, "one row is this browser");
    assert!(current[0].contains("Firefox on Linux"), "{}", current[0]);
    let firefox_id = w.session_id_of(&firefox_secret).await;
    assert!(current[0].contains(&format!("/account/sessions/{firefox_id}/end")));
    let plain_id = w.session_id_of(&plain_secret).await;
    let plain = rows
        .iter()
        .find(|r| r.contains(&plain_id.to_string()))
        .unwrap();
    assert!(plain.contains("<td>Unknown device</td>"), "{plain}");
    // Started and last seen, as the table holds them.
    let stored = w
        .app
        .db
        .client()
        .await
        .query(
            "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), \
             to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM web_sessions",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    for session in stored {
        let id: Uuid = session.get(0);
        let row = rows
            .iter()
            .find(|r| r.contains(&format!("/account/sessions/{id}/end")))
            .expect("every session is listed");
        assert!(row.contains("<td>127.0.0.1</td>"), "{row}");
        let times: Vec<&str> = row.split("<time datetime=").skip(1).collect();
        assert_eq!(times.len(), 2, "{row}");
        let (started, seen): (String, String) = (session.get(1), session.get(2));
        assert!(
            times[0].contains(&format!(">{started} UTC</time>")),
            "{row}"
        );
        assert!(times[1].contains(&format!(">{seen} UTC</time>")), "{row}");
    }
    assert!(
        !html.contains("<script>alert(1)"),
        "the User-Agent ran as HTML"
    );
    assert!(html.contains("alert(1)"), "the hostile session is listed");

    // Nothing secret on the page: no token, no cookie secret.
    for issued in w.fake.issued() {
        assert!(!html.contains(&issued.access_token[..40]));
        assert!(!html.contains(&issued.refresh_token.unwrap()[..40]));
    }
    assert!(!html.contains(&firefox_secret) && !html.contains(&plain_secret));
}

#[actix_web::test]
async fn the_profile_form_saves_the_names() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let csrf = w.account_csrf(&browser).await;
    let answer = w
        .post_form(
            &browser,
            "/account/profile",
            &[
                ("csrf_token", &csrf),
                ("first_name", "  Janet "),
                ("last_name", "O'Hara <b>"),
            ],
        )
        .await;
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/account/?done=profile");
    assert_eq!(names(&w).await, ("Janet".into(), "O'Hara <b>".into()));

    let html = account_page(&w, &browser, "/account/?done=profile").await;
    assert!(
        html.contains(r#"id="notice">Your profile was saved."#),
        "{html}"
    );
    assert!(html.contains(r#"value="Janet""#));
    assert!(!html.contains("<b>"), "the name is escaped");
    assert!(html.contains("Hara &#60;b&#62;"), "{html}");
    // The API sees the same.
    let me: Value = w.me(&browser).await.json().await.unwrap();
    assert_eq!(me["first_name"], "Janet");
}

#[actix_web::test]
async fn the_profile_form_refuses_forged_posts() {
    let w = spawn_web_app().await;
    let (a, _) = w.browser_of("jane").await;
    let (b, _) = w.browser_of("jane").await;
    let csrf = w.account_csrf(&a).await;
    let other_sessions = w.account_csrf(&b).await;
    assert_ne!(csrf, other_sessions, "a token per session");
    let mallory = ("first_name", "Mallory");

    for (token, why) in [
        (None, "without a token"),
        (Some(""), "with an empty token"),
        (Some("nope"), "with a made-up token"),
        (
            Some(other_sessions.as_str()),
            "with another session's token",
        ),
    ] {
        let mut fields = vec![mallory];
        if let Some(token) = token {
            fields.push(("csrf_token", token));
        }
        let answer = w.post_form(&a, "/account/profile", &fields).await;
        assert_eq!(answer.status(), 403, "{why}");
        let body = answer.text().await.unwrap();
        assert!(problem_message(&body).contains("stale"), "{why}: {body}");
    }
    let body = crate::admin_helpers::encode(&[mallory, ("csrf_token", &csrf)]);
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let mut request = a
            .post(w.url("/account/profile"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 403, "Origin {origin:?}");
    }
    // The token without the session it belongs to.
    let answer = w
        .post_form(
            &new_browser(),
            "/account/profile",
            &[mallory, ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(location(&answer), "/auth/login?next=/account/");
    assert_eq!(names(&w).await, ("Jane".into(), "Doe".into()));

    // The real thing goes through.
    let answer = w
        .post_form(&a, "/account/profile", &[mallory, ("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status(), 303);
    assert_eq!(names(&w).await.0, "Mallory");
}

#[actix_web::test]
async fn names_too_long_or_with_control_characters_are_refused_with_the_error_shown() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let csrf = w.account_csrf(&browser).await;
    let long = "x".repeat(151);
    let answer = w
        .post_form(
            &browser,
            "/account/profile",
            &[
                ("csrf_token", &csrf),
                ("first_name", &long),
                ("last_name", "Smith"),
            ],
        )
        .await;
    assert_eq!(answer.status(), 400);
    let html = answer.text().await.unwrap();
    assert!(html.contains("Use at most 150 characters."), "{html}");
    assert!(html.contains("is-invalid"));
    assert!(html.contains(&format!(r#"value="{long}""#)), "entries kept");
    assert_eq!(
        names(&w).await,
        ("Jane".into(), "Doe".into()),
        "nothing saved, not even the valid last name"
    );

    let answer = w
        .post_form(
            &browser,
            "/account/profile",
            &[
                ("csrf_token", &csrf),
                ("first_name", "Jane"),
                ("last_name", "a\u{7}b"),
            ],
        )
        .await;
    assert_eq!(answer.status(), 400);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("Control characters are not allowed.")
    );
    assert_eq!(names(&w).await, ("Jane".into(), "Doe".into()));

    // 150 is fine.
    let answer = w
        .post_form(
            &browser,
            "/account/profile",
            &[("csrf_token", &csrf), ("first_name", &long[..150])],
        )
        .await;
    assert_eq!(answer.status(), 303);
    assert_eq!(names(&w).await.0, long[..150]);
}

#[actix_web::test]
async fn a_refresh_keeps_the_names_edited_here_and_brings_the_new_groups() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let (_, sub) = jane(&w).await;
    let csrf = w.account_csrf(&browser).await;
    let saved = w
        .post_form(
            &browser,
            "/account/profile",
            &[
                ("csrf_token", &csrf),
                ("first_name", "Jo"),
                ("last_name", "Doe"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    // Cognito still says Janet Smith, and now also "authors": the next refresh's tokens carry it.
    w.fake.add_user(
        FakeUser::new("jane", PASSWORD)
            .with_sub(&sub)
            .with_names("Janet", "Smith")
            .with_groups(&["editors", "authors"]),
    );
    w.sql("UPDATE web_sessions SET access_expires_at = now() + interval '10 seconds'")
        .await;
    let html = account_page(&w, &browser, "/account/").await;
    assert_eq!(
        w.fake.calls("token:refresh_token"),
        1,
        "this request refreshed"
    );
    assert_eq!(
        names(&w).await,
        ("Jo".into(), "Doe".into()),
        "the edit stays"
    );
    assert!(html.contains("authors"), "groups of the new access token");
    assert!(html.contains(r#"value="Jo""#), "{html}");
}

#[actix_web::test]
async fn signing_out_another_session_ends_it_and_revokes_its_refresh_token() {
    let w = spawn_web_app().await;
    let (a, _) = w.browser_of("jane").await;
    let (b, b_secret) = w.browser_of("jane").await;
    let (a_refresh, b_refresh) = (refresh_of(&w, 0), refresh_of(&w, 1));
    let end_b = format!("/account/sessions/{}/end", w.session_id_of(&b_secret).await);

    // Forged: nothing ends.
    let answer = w.post_form(&a, &end_b, &[]).await;
    assert_eq!(answer.status(), 403);
    let answer = w
        .post_form(&a, &end_b, &[("csrf_token", &w.account_csrf(&b).await)])
        .await;
    assert_eq!(answer.status(), 403);
    assert_eq!(w.me(&b).await.status(), 200);

    let csrf = w.account_csrf(&a).await;
    let answer = w.post_form(&a, &end_b, &[("csrf_token", &csrf)]).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/account/?done=session");
    assert_eq!(
        set_cookie(answer.headers(), SESSION_COOKIE),
        None,
        "this browser stays signed in"
    );
    assert_eq!(code_of(w.me(&b).await).await, expired());
    assert_eq!(w.me(&a).await.status(), 200);
    assert!(w.fake.revoked(&b_refresh), "B's refresh token is revoked");
    assert!(!w.fake.revoked(&a_refresh));
    let html = account_page(&w, &a, "/account/?done=session").await;
    assert!(html.contains("That session was signed out."));
    assert_eq!(session_rows(&html).len(), 1);
}

#[actix_web::test]
async fn another_users_session_cannot_be_ended_from_my_account_page() {
    let w = spawn_web_app().await;
    w.fake.add_user(FakeUser::new("bob", PASSWORD));
    let (jane, _) = w.browser_of("jane").await;
    let (bob, bob_secret) = w.browser_of("bob").await;
    let bob_session = w.session_id_of(&bob_secret).await;

    let csrf = w.account_csrf(&jane).await;
    let html = account_page(&w, &jane, "/account/").await;
    assert_eq!(session_rows(&html).len(), 1, "only her own sessions");
    assert!(!html.contains(&bob_session.to_string()));

    for id in [bob_session.to_string(), "not-a-uuid".into()] {
        let answer = w
            .post_form(
                &jane,
                &format!("/account/sessions/{id}/end"),
                &[("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(answer.status(), 303);
        assert_eq!(set_cookie(answer.headers(), SESSION_COOKIE), None);
    }
    assert_eq!(w.me(&bob).await.status(), 200);
    assert_eq!(w.me(&jane).await.status(), 200);
    assert_eq!(w.count("web_sessions").await, 2);
    assert!(!w.fake.revoked(&refresh_of(&w, 1)));
    assert_eq!(w.fake.calls("revoke"), 0);
}

#[actix_web::test]
async fn signing_out_this_session_from_the_list_signs_this_browser_out() {
    let w = spawn_web_app().await;
    let (a, a_secret) = w.browser_of("jane").await;
    let (b, _) = w.browser_of("jane").await;
    let csrf = w.account_csrf(&a).await;
    let end_a = format!("/account/sessions/{}/end", w.session_id_of(&a_secret).await);
    let answer = w.post_form(&a, &end_a, &[("csrf_token", &csrf)]).await;
    assert_eq!(answer.status(), 303);
    assert!(
        location(&answer).starts_with(&format!("{}/logout?", w.fake.base)),
        "on to the managed login's logout"
    );
    let cleared = set_cookie(answer.headers(), SESSION_COOKIE).expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(code_of(w.me_with_cookie(&a_secret).await).await, expired());
    assert!(w.fake.revoked(&refresh_of(&w, 0)));
    assert_eq!(w.me(&b).await.status(), 200);
}

#[actix_web::test]
async fn signing_out_everywhere_ends_every_session_and_earlier_bearer_tokens() {
    let w = spawn_web_app().await;
    w.fake.add_user(FakeUser::new("bob", PASSWORD));
    let (a, a_secret) = w.browser_of("jane").await;
    let (_b, b_secret) = w.browser_of("jane").await;
    let (bob, _) = w.browser_of("bob").await;
    let (_, sub) = jane(&w).await;
    let bearer = earlier_bearer(&sub);
    assert_eq!(me_with_bearer(&w, &bearer).await.status(), 200);

    // Forged: nothing ends.
    let answer = w.post_form(&a, "/account/sessions/end-all", &[]).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(w.count("web_sessions").await, 3);

    let csrf = w.account_csrf(&a).await;
    let answer = w
        .post_form(&a, "/account/sessions/end-all", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status(), 303);
    assert!(location(&answer).starts_with(&format!("{}/logout?", w.fake.base)));
    let cleared = set_cookie(answer.headers(), SESSION_COOKIE).expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    for secret in [&a_secret, &b_secret] {
        assert_eq!(code_of(w.me_with_cookie(secret).await).await, expired());
    }
    assert!(w.fake.revoked(&refresh_of(&w, 0)));
    assert!(w.fake.revoked(&refresh_of(&w, 1)));
    assert!(!w.fake.revoked(&refresh_of(&w, 2)), "bob's is his own");
    assert_eq!(
        code_of(me_with_bearer(&w, &bearer).await).await,
        (401, "token_revoked".into())
    );
    assert_eq!(w.count("web_sessions").await, 1);
    assert_eq!(w.me(&bob).await.status(), 200);
}

#[actix_web::test]
async fn after_signing_out_everywhere_another_browser_can_sign_in_again() {
    let w = spawn_web_app().await;
    let (a, _) = w.browser_of("jane").await;
    let (b, _) = w.browser_of("jane").await;
    let csrf = w.account_csrf(&a).await;
    let answer = w
        .post_form(&a, "/account/sessions/end-all", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status(), 303);
    // Tokens date a sign-in to the second: a new one must be in a later second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // B still has its managed-login session: Cognito signs it in without asking, with the
    // sign-in that was just ended.
    let (_, answer) = w.follow(&b, "/account/").await;
    assert_eq!(answer.status(), 403);
    let page = answer.text().await.unwrap();
    assert!(
        problem_message(&page).contains("ended by a sign-out"),
        "{page}"
    );
    assert_eq!(w.count("web_sessions").await, 0);

    // Its way out must not lead back to the same page.
    let retry = retry_href(&page).expect("a way to start again");
    let (_, answer) = w.follow(&b, &retry).await;
    let page = answer.text().await.unwrap();
    assert!(
        !problem_message(&page).contains("ended by a sign-out"),
        "\"Try again\" ({retry}) leads back to the same failure"
    );
    let logins = w.fake.calls("login");
    let answer = w.sign_in_as(&b, "jane", Some("/account/")).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(w.fake.calls("login"), logins + 1, "the password was asked");
    assert_eq!(w.me(&b).await.status(), 200);
}

// Staff in the back office.

/// A superuser `root` signed in to the back office in `w.app.client`.
async fn staff(w: &WebApp) {
    create_user(&w.app, NewAccount::superuser("root")).await;
    login_ok(&w.app, "root").await;
}

/// Jane signed in from two browsers: their session cookies' secrets.
async fn jane_twice(w: &WebApp) -> [String; 2] {
    let (_, a) = w.browser_of("jane").await;
    let (_, b) = w.browser_of("jane").await;
    [a, b]
}

/// The background revoker revokes both of jane's refresh tokens at Cognito within seconds, once
/// each, and its queue empties.
async fn assert_revoked_soon(w: &WebApp) {
    let tokens = [refresh_of(w, 0), refresh_of(w, 1)];
    for _ in 0..100 {
        if tokens.iter().all(|t| w.fake.revoked(t)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        tokens.iter().all(|t| w.fake.revoked(t)),
        "revoked at Cognito"
    );
    assert_eq!(w.fake.calls("revoke"), 2, "once each");
    assert_eq!(w.count("web_revocations").await, 0, "the queue is empty");
}

async fn assert_ended(w: &WebApp, secrets: &[String]) {
    for secret in secrets {
        assert_eq!(code_of(w.me_with_cookie(secret).await).await, expired());
    }
    assert_eq!(w.count("web_sessions").await, 0, "rows gone");
}

#[actix_web::test]
async fn staff_deactivating_a_user_in_the_change_form_ends_their_web_sessions() {
    let w = spawn_web_app().await;
    let secrets = jane_twice(&w).await;
    let (id, _) = jane(&w).await;
    staff(&w).await;
    let page = format!("/admin/users/{id}/change/");
    let lock = lock_from(&text(&w.app, &page).await);
    let answer = post_admin(
        &w.app,
        &page,
        &[
            ("username", "jane"),
            ("email", "jane@example.com"),
            ("first_name", "Jane"),
            ("last_name", "Doe"),
            ("email_verified", "1"),
            ("updated_at", &lock),
        ],
    )
    .await;
    assert_eq!(answer.status(), 303);
    assert_ended(&w, &secrets).await;
    // And she cannot start a new one.
    let answer = w.sign_in_as(&new_browser(), "jane", None).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(w.count("web_sessions").await, 0);
}

#[actix_web::test]
async fn staff_deactivating_a_user_with_the_bulk_action_ends_their_web_sessions() {
    let w = spawn_web_app().await;
    let secrets = jane_twice(&w).await;
    let (id, _) = jane(&w).await;
    staff(&w).await;
    let answer = bulk_user_action(&w.app, "deactivate", id).await;
    assert_eq!(answer.status(), 303);
    assert_ended(&w, &secrets).await;
}

#[actix_web::test]
async fn staff_signing_a_user_out_everywhere_ends_their_web_sessions() {
    let w = spawn_web_app().await;
    let secrets = jane_twice(&w).await;
    let (id, sub) = jane(&w).await;
    let bearer = earlier_bearer(&sub);
    staff(&w).await;
    let answer = post_admin(&w.app, &format!("/admin/users/{id}/signout/"), &[]).await;
    assert_eq!(answer.status(), 303);
    assert_ended(&w, &secrets).await;
    assert_revoked_soon(&w).await;
    assert_eq!(
        code_of(me_with_bearer(&w, &bearer).await).await,
        (401, "token_revoked".into())
    );
}

#[actix_web::test]
async fn deleting_a_user_ends_their_web_sessions() {
    let w = spawn_web_app().await;
    let secrets = jane_twice(&w).await;
    let (id, _) = jane(&w).await;
    staff(&w).await;
    let answer = post_admin(&w.app, &format!("/admin/users/{id}/delete/"), &[]).await;
    assert_eq!(answer.status(), 303);
    let left: i64 = w
        .app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM users WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert_ended(&w, &secrets).await;
    assert_revoked_soon(&w).await;
}

#[actix_web::test]
async fn a_sign_in_finishing_after_staff_signed_the_user_out_everywhere_gets_no_session() {
    let w = spawn_web_app().await;
    let _ = w.browser_of("jane").await;
    let (id, _) = jane(&w).await;
    staff(&w).await;

    // Jane types her password in another browser; the code exchange is slow.
    let browser = new_browser();
    let authorize = w.start_sign_in(&browser, None).await;
    let callback = w.fake.sign_in(&browser, &authorize, "jane", PASSWORD).await;
    w.fake.set_token_delay(Duration::from_millis(1500));
    let finishing = {
        let browser = browser.clone();
        tokio::spawn(async move { browser.get(callback).send().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = post_admin(&w.app, &format!("/admin/users/{id}/signout/"), &[]).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(w.count("web_sessions").await, 0);

    let answer = finishing.await.unwrap();
    assert_eq!(answer.status(), 403);
    assert_eq!(set_cookie(answer.headers(), SESSION_COOKIE), None);
    let page = answer.text().await.unwrap();
    assert!(
        problem_message(&page).contains("ended by a sign-out"),
        "{page}"
    );
    assert_eq!(w.count("web_sessions").await, 0);
}
