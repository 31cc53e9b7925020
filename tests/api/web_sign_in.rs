//! Web sign-in through the managed login: the happy path, the session, the API with the cookie,
//! the refresh race, and sign-out.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fake_cognito::{Tamper, WEB_CLIENT_ID, authorize_params, pkce_challenge};
use crate::helpers::new_browser;
use crate::minting::{access_claims, access_key};
use crate::web_harness::*;

#[actix_web::test]
async fn signing_in_asks_cognito_for_a_code_with_pkce_and_lands_on_next() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let authorize = w.start_sign_in(&browser, Some("/account/?tab=1")).await;
    assert!(authorize.starts_with(&format!("{}/oauth2/authorize?", w.fake.base)));
    let params = authorize_params(&authorize);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], WEB_CLIENT_ID);
    assert_eq!(
        params["redirect_uri"],
        format!("{}/auth/callback", w.public_url)
    );
    assert_eq!(params["scope"], "openid email profile");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert_eq!(params["state"].len(), 43);
    assert_eq!(params["nonce"].len(), 43);
    assert_eq!(w.count("web_sign_ins").await, 1);

    let callback = w.fake.sign_in(&browser, &authorize, "jane", PASSWORD).await;
    let answer = browser.get(&callback).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/account/?tab=1");
    let line = set_cookie(answer.headers(), SESSION_COOKIE).expect("a session cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Lax") && line.contains("Path=/"),
        "{line}"
    );
    assert!(
        cookie_value(&line).len() < 64,
        "one small opaque cookie: {line}"
    );
    assert_eq!(w.count("web_sign_ins").await, 0, "the state is used up");
    assert_eq!(w.count("web_sessions").await, 1);

    // The code went back with the verifier whose S256 challenge was sent, the exact redirect URI,
    // and the client secret as HTTP Basic.
    let token_calls = w.fake.requests_to("/oauth2/token");
    assert_eq!(token_calls.len(), 1);
    let call = &token_calls[0];
    assert_eq!(call.field("grant_type"), Some("authorization_code"));
    assert_eq!(
        call.field("redirect_uri"),
        Some(params["redirect_uri"].as_str())
    );
    assert_eq!(
        pkce_challenge(call.field("code_verifier").unwrap()),
        params["code_challenge"]
    );
    assert!(call.authorization.as_deref().unwrap().starts_with("Basic "));

    // Provisioned exactly as the API does, with the id token's profile.
    let me = w.me(&browser).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "jane");
    assert_eq!(me["email"], "jane@example.com");
    assert_eq!(me["first_name"], "Jane");
    assert_eq!(me["groups"], json!(["editors"]));
}

#[actix_web::test]
async fn next_must_be_a_path_on_this_site() {
    let w = spawn_web_app().await;
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let browser = new_browser();
        let answer = w.sign_in_as(&browser, "jane", Some(next)).await;
        assert_eq!(answer.status(), 303);
        assert_eq!(location(&answer), "/account/", "{next}");
    }
}

#[actix_web::test]
async fn a_public_client_sends_its_id_in_the_body_and_no_secret() {
    let w = spawn_web_app_with(&[("COGNITO_WEB_CLIENT_SECRET", "")]).await;
    w.fake.set_client_secret(None);
    let browser = w.signed_in_browser().await;
    assert_eq!(w.me(&browser).await.status(), 200);
    let call = &w.fake.requests_to("/oauth2/token")[0];
    assert_eq!(call.authorization, None);
    assert_eq!(call.field("client_id"), Some(WEB_CLIENT_ID));
}

#[actix_web::test]
async fn tokens_stay_on_the_server_encrypted_and_the_cookie_opens_one_row() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let answer = w.sign_in_as(&browser, "jane", None).await;
    let secret = cookie_value(&set_cookie(answer.headers(), SESSION_COOKIE).unwrap());
    let issued = w.fake.issued();
    let tokens = &issued[0];
    let row = w
        .app
        .db
        .client()
        .await
        .query_one(
            "SELECT id_hash, access_token, refresh_token, user_agent, host(ip) FROM web_sessions",
            &[],
        )
        .await
        .unwrap();
    let id_hash: Vec<u8> = row.get(0);
    assert_eq!(
        id_hash,
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes()).as_ref()
    );
    for (column, token) in [
        (1, &tokens.access_token),
        (2, tokens.refresh_token.as_ref().unwrap()),
    ] {
        let stored: Vec<u8> = row.get(column);
        let needle = &token.as_bytes()[..32];
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "column {column} holds the token in clear"
        );
        assert!(stored.len() > token.len(), "sealed, not truncated");
    }
    assert_eq!(row.get::<_, String>(4), "127.0.0.1");
    // Nothing of the tokens reached the browser.
    let body = answer.text().await.unwrap();
    assert!(!body.contains(&tokens.access_token[..40]));
}

#[actix_web::test]
async fn the_secure_cookie_is_host_prefixed() {
    let w = spawn_web_app_with(&[("COOKIE_SECURE", "true")]).await;
    let browser = new_browser();
    let authorize = browser.get(w.url("/auth/login")).send().await.unwrap();
    let state_cookie =
        set_cookie(authorize.headers(), "__Host-gatehouse_sign_in").expect("sign-in cookie");
    for attribute in [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(
            state_cookie.contains(attribute),
            "{state_cookie} lacks {attribute}"
        );
    }
    assert!(!state_cookie.contains("Domain"), "{state_cookie}");
    // reqwest's cookie store keeps Secure cookies off plain HTTP: carry it by hand.
    let authorize = location(&authorize);
    let callback = w.fake.sign_in(&browser, &authorize, "jane", PASSWORD).await;
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(callback)
        .header(
            "Cookie",
            format!("__Host-gatehouse_sign_in={}", cookie_value(&state_cookie)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let session =
        set_cookie(answer.headers(), SECURE_SESSION_COOKIE).expect("a __Host- session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    assert!(!session.contains("Domain"), "{session}");
}

#[actix_web::test]
async fn a_fresh_session_id_at_every_sign_in() {
    let w = spawn_web_app().await;
    let browser = new_browser();
    let first = w.sign_in_as(&browser, "jane", None).await;
    let first = cookie_value(&set_cookie(first.headers(), SESSION_COOKIE).unwrap());
    let second = w.sign_in_as(&browser, "jane", None).await;
    let second = cookie_value(&set_cookie(second.headers(), SESSION_COOKIE).unwrap());
    assert_ne!(first, second);
    // The browser's previous session ended with the new sign-in.
    assert_eq!(w.count("web_sessions").await, 1);
    let old = reqwest::Client::new()
        .get(w.url("/api/v1/me"))
        .header("Cookie", format!("{SESSION_COOKIE}={first}"))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(old).await, (401, "session_expired".into()));
}

#[actix_web::test]
async fn the_api_takes_the_cookie_only_with_the_csrf_header_and_from_our_origins() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let me = w.url("/api/v1/me");
    assert_eq!(w.me(&browser).await.status(), 200);
    let no_header = browser.get(&me).send().await.unwrap();
    assert_eq!(code_of(no_header).await, (403, "csrf_required".into()));
    let wrong = browser.get(&me).header("X-CSRF", "0").send().await.unwrap();
    assert_eq!(code_of(wrong).await, (403, "csrf_required".into()));

    let patch = |origin: Option<&str>| {
        let mut request = browser
            .patch(&me)
            .header("X-CSRF", "1")
            .json(&json!({"first_name": "Mallory"}));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request.send()
    };
    assert_eq!(
        code_of(patch(None).await.unwrap()).await,
        (403, "origin_not_allowed".into())
    );
    assert_eq!(
        code_of(patch(Some("https://evil.example")).await.unwrap()).await,
        (403, "origin_not_allowed".into())
    );
    let name: String = w
        .app
        .db
        .client()
        .await
        .query_one("SELECT first_name FROM users WHERE username = 'jane'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "Jane", "nothing was written");
    let ok = patch(Some(&w.public_url)).await.unwrap();
    assert_eq!(ok.status(), 200);

    // No cookie, no token: the bearer refusal as before.
    let anonymous = reqwest::Client::new()
        .get(&me)
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(anonymous).await, (401, "missing_token".into()));
    // A forged or unknown cookie opens nothing.
    for forged in ["x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let answer = reqwest::Client::new()
            .get(&me)
            .header("Cookie", format!("{SESSION_COOKIE}={forged}"))
            .header("X-CSRF", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(code_of(answer).await, (401, "session_expired".into()));
    }
}

#[actix_web::test]
async fn a_bearer_token_wins_over_the_cookie() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let answer = browser
        .get(w.url("/api/v1/me"))
        .header("X-CSRF", "1")
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(answer).await, (401, "malformed_token".into()));
}

#[actix_web::test]
async fn auth_user_tells_a_single_page_app_who_is_signed_in_and_until_when() {
    let w = spawn_web_app().await;
    let anonymous = reqwest::Client::new()
        .get(w.url("/auth/user"))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(anonymous).await, (401, "not_signed_in".into()));
    let browser = w.signed_in_browser().await;
    let answer = browser.get(w.url("/auth/user")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["user"]["username"], "jane");
    assert_eq!(body["user"]["groups"], json!(["editors"]));
    let expires: chrono::DateTime<chrono::Utc> = body["session"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let max: chrono::DateTime<chrono::Utc> = body["session"]["max_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now();
    // Defaults: one day idle, seven days at most.
    assert!(
        (expires - now - chrono::TimeDelta::days(1))
            .num_seconds()
            .abs()
            < 60,
        "{body}"
    );
    assert!(
        (max - now - chrono::TimeDelta::days(7)).num_seconds().abs() < 60,
        "{body}"
    );
}

#[actix_web::test]
async fn sessions_end_after_idle_time_and_at_their_absolute_end() {
    let w = spawn_web_app().await;
    let idle = w.signed_in_browser().await;
    let db = w.app.db.client().await;
    db.execute(
        "UPDATE web_sessions SET last_seen_at = now() - interval '25 hours'",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        code_of(w.me(&idle).await).await,
        (401, "session_expired".into())
    );
    let old = w.signed_in_browser().await;
    assert_eq!(w.me(&old).await.status(), 200);
    db.execute(
        "UPDATE web_sessions SET expires_at = now() - interval '1 second'",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        code_of(w.me(&old).await).await,
        (401, "session_expired".into())
    );
}

#[actix_web::test]
async fn a_token_near_its_end_is_refreshed_once_by_fifty_requests_on_two_instances() {
    let w = spawn_web_app().await;
    w.fake.set_rotation(true);
    // Issued with 30 s left: inside the 60 s refresh margin from the first request on.
    w.fake.set_token_ttl(30);
    let browser = w.signed_in_browser().await;
    w.fake.set_token_ttl(3600);
    let other = w.second_instance().await;
    let mut requests = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 {
            w.app.address.clone()
        } else {
            other.address.clone()
        };
        let browser = browser.clone();
        requests.push(tokio::spawn(async move {
            browser
                .get(format!("{base}/api/v1/me"))
                .header("X-CSRF", "1")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(
        w.fake.calls("token:refresh_token"),
        1,
        "exactly one refresh"
    );
    // The rotated refresh token was stored: the next refresh uses it (the old one is dead).
    w.sql("UPDATE web_sessions SET access_expires_at = now() + interval '10 seconds'")
        .await;
    assert_eq!(w.me(&browser).await.status(), 200);
    assert_eq!(w.fake.calls("token:refresh_token"), 2);
    let refreshes = w.fake.requests_to("/oauth2/token");
    let used: Vec<&str> = refreshes
        .iter()
        .filter_map(|r| r.field("refresh_token"))
        .collect();
    assert_eq!(used.len(), 2);
    assert_ne!(
        used[0], used[1],
        "the second refresh used the rotated token"
    );
    assert_eq!(w.fake.live_refresh_tokens(), 1);
}

#[actix_web::test]
async fn a_refused_refresh_ends_the_session() {
    let w = spawn_web_app().await;
    w.fake.set_token_ttl(30);
    let browser = w.signed_in_browser().await;
    w.fake.refuse_refresh(true);
    assert_eq!(
        code_of(w.me(&browser).await).await,
        (401, "session_expired".into())
    );
    assert_eq!(w.count("web_sessions").await, 0);
    let user = browser.get(w.url("/auth/user")).send().await.unwrap();
    assert_eq!(code_of(user).await, (401, "session_expired".into()));
}

#[actix_web::test]
async fn cognito_down_during_a_refresh_uses_a_still_valid_token_and_else_says_so() {
    let w = spawn_web_app().await;
    w.fake.set_token_ttl(30);
    let browser = w.signed_in_browser().await;
    w.fake.set_token_status(Some(503));
    assert_eq!(
        w.me(&browser).await.status(),
        200,
        "the token still has 30 s"
    );
    w.sql("UPDATE web_sessions SET access_expires_at = now() - interval '1 second'")
        .await;
    let answer = w.me(&browser).await;
    assert_eq!(answer.headers()["retry-after"], "5");
    assert_eq!(
        code_of(answer).await,
        (503, "auth_server_unavailable".into())
    );
    assert_eq!(
        w.count("web_sessions").await,
        1,
        "the session survives an outage"
    );
    w.fake.set_token_status(None);
    assert_eq!(w.me(&browser).await.status(), 200);
}

#[actix_web::test]
async fn signing_out_revokes_the_refresh_token_and_ends_the_managed_login_session() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let refresh = w.fake.issued()[0].refresh_token.clone().unwrap();
    let csrf = w.account_csrf(&browser).await;

    // Without the form's token, or from another site: refused, still signed in.
    let forged = w
        .post_form(&browser, "/auth/logout", &[("csrf_token", "nope")])
        .await;
    assert_eq!(forged.status(), 403);
    let cross = browser
        .post(w.url("/auth/logout"))
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert_eq!(w.me(&browser).await.status(), 200);

    let answer = w
        .post_form(&browser, "/auth/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status(), 303);
    let cleared = set_cookie(answer.headers(), SESSION_COOKIE).expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let logout = location(&answer);
    let params = authorize_params(&logout);
    assert!(logout.starts_with(&format!("{}/logout?", w.fake.base)));
    assert_eq!(params["client_id"], WEB_CLIENT_ID);
    assert_eq!(
        params["logout_uri"],
        format!("{}/auth/signed-out", w.public_url)
    );
    assert!(
        w.fake.revoked(&refresh),
        "the refresh token is revoked at Cognito"
    );
    assert_eq!(w.count("web_sessions").await, 0);

    // The managed login forgets the browser, and sends it to our signed-out page.
    assert_eq!(w.fake.sessions(), 1);
    let back = browser.get(&logout).send().await.unwrap();
    assert_eq!(location(&back), format!("{}/auth/signed-out", w.public_url));
    assert_eq!(w.fake.sessions(), 0);
    let page = browser.get(location(&back)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("You are signed out"));
    // Signing in again asks for the password (the authorize answer is the login form).
    let authorize = w.start_sign_in(&browser, None).await;
    assert_eq!(browser.get(authorize).send().await.unwrap().status(), 200);
    assert_eq!(
        code_of(w.me(&browser).await).await,
        (401, "missing_token".into())
    );
}

/// Browsers check a form's redirects against `form-action` too: the sign-out forms' redirect to
/// the managed login's `/logout` must be allowed, or the browser stays put, still signed in there.
#[actix_web::test]
async fn the_pages_may_send_a_form_on_to_the_managed_login() {
    let w = spawn_web_app().await;
    let page = reqwest::get(w.url("/auth/signed-out")).await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    let form_action = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action "))
        .unwrap_or_default();
    assert_eq!(form_action, format!("form-action 'self' {}", w.fake.base));
}

#[actix_web::test]
async fn a_script_signs_out_with_the_csrf_header_and_gets_the_logout_url() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let answer = w.api(&browser, Method::POST, "/auth/logout", None).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["logout_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/logout?", w.fake.base))
    );
    assert_eq!(w.count("web_sessions").await, 0);
    assert_eq!(w.fake.calls("revoke"), 1);
}

#[actix_web::test]
async fn api_logout_with_the_cookie_ends_the_web_session() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let answer = w.api(&browser, Method::POST, "/api/v1/logout", None).await;
    assert_eq!(answer.status(), 204);
    assert_eq!(w.count("web_sessions").await, 0);
    assert_eq!(w.fake.calls("revoke"), 1);
    let again = w.api(&browser, Method::GET, "/auth/user", None).await;
    assert_eq!(code_of(again).await.0, 401);
}

#[actix_web::test]
async fn a_revocation_cognito_could_not_take_is_retried_in_the_background() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let refresh = w.fake.issued()[0].refresh_token.clone().unwrap();
    w.fake.set_revoke_status(Some(503));
    let answer = w.api(&browser, Method::POST, "/auth/logout", None).await;
    assert_eq!(answer.status(), 200, "signed out all the same");
    assert_eq!(w.count("web_sessions").await, 0);
    assert!(!w.fake.revoked(&refresh));
    let db = w.app.db.client().await;
    let row = db
        .query_one(
            "SELECT attempts, not_before > now() + interval '50 seconds' FROM web_revocations",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    assert!(row.get::<_, bool>(1), "retried after a backoff");

    // Cognito is back and the retry is due: the background revoker takes it.
    w.fake.set_revoke_status(None);
    db.execute("UPDATE web_revocations SET not_before = now()", &[])
        .await
        .unwrap();
    for _ in 0..60 {
        if w.fake.revoked(&refresh) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(w.fake.revoked(&refresh));
    assert_eq!(w.fake.calls("revoke"), 2);
    assert_eq!(w.count("web_revocations").await, 0);
}

/// The tokens at rest are sealed with a key derived from `SECRET_KEY`: an instance with another
/// key (a rotated or mistyped one) cannot open them, and ends the session instead of failing.
#[actix_web::test]
async fn a_session_sealed_under_another_secret_key_ends_cleanly() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let other = w
        .second_instance_with(&[(
            "SECRET_KEY",
            "another-secret-key-that-is-long-enough-987654",
        )])
        .await;
    let answer = browser
        .get(format!("{}/api/v1/me", other.address))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(answer).await, (401, "session_expired".into()));
    assert_eq!(
        w.count("web_sessions").await,
        0,
        "the unreadable session is ended"
    );
    assert_eq!(
        code_of(w.me(&browser).await).await,
        (401, "session_expired".into())
    );
}

/// Tokens a refresh returns are verified like those of the sign-in: a refresh that answers for
/// another user, another client or with a foreign key ends the session instead of trusting it.
#[actix_web::test]
async fn refreshed_tokens_that_do_not_hold_end_the_session() {
    for tamper in [
        Tamper::SubMismatch,
        Tamper::OtherAudience,
        Tamper::ForeignKey,
    ] {
        let w = spawn_web_app().await;
        w.fake.set_token_ttl(30);
        let browser = w.signed_in_browser().await;
        w.fake.tamper_next_refresh(tamper);
        assert_eq!(
            code_of(w.me(&browser).await).await,
            (401, "session_expired".into()),
            "{tamper:?}"
        );
        assert_eq!(w.fake.calls("token:refresh_token"), 1);
        assert_eq!(w.count("web_sessions").await, 0, "{tamper:?}");
    }
}

/// A user deactivated behind the app's back (SQL, not the back office, so no sign-out ran):
/// the live session opens nothing.
#[actix_web::test]
async fn a_deactivated_user_with_a_live_session_is_refused_everywhere() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    w.sql("UPDATE users SET is_active = false WHERE username = 'jane'")
        .await;
    assert_eq!(
        code_of(w.me(&browser).await).await,
        (403, "user_inactive".into())
    );
    let user = browser.get(w.url("/auth/user")).send().await.unwrap();
    assert_eq!(code_of(user).await, (403, "user_inactive".into()));
    let page = browser.get(w.url("/account/")).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("deactivated"));
    let csrf_less = w
        .post_form(&browser, "/account/profile", &[("first_name", "Mallory")])
        .await;
    assert_eq!(csrf_less.status(), 403);
}

/// `POST /api/v1/logout` with a bearer token ends the web sessions of that token's sign-in (a
/// token refreshed from it shares its `origin_jti`), and no other.
#[actix_web::test]
async fn a_bearer_logout_ends_the_web_session_of_the_same_sign_in_only() {
    let w = spawn_web_app().await;
    let browser = w.signed_in_browser().await;
    let row = w
        .app
        .db
        .client()
        .await
        .query_one(
            "SELECT s.sign_in_id, u.cognito_sub FROM web_sessions s JOIN users u ON u.id = s.user_id",
            &[],
        )
        .await
        .unwrap();
    let (sign_in, sub): (String, String) = (row.get(0), row.get(1));
    let logout = |origin_jti: String| {
        let mut claims = access_claims(&sub, "jane");
        claims["origin_jti"] = json!(origin_jti);
        let token = access_key().sign(&claims);
        reqwest::Client::new()
            .post(w.url("/api/v1/logout"))
            .bearer_auth(token)
            .send()
    };
    // Another sign-in of the same user (the phone app) signs out: the browser stays signed in.
    assert_eq!(
        logout(uuid::Uuid::new_v4().to_string())
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(w.me(&browser).await.status(), 200);
    assert_eq!(w.fake.calls("revoke"), 0);
    // The same sign-in signs out: its web session ends, and its refresh token is revoked.
    assert_eq!(logout(sign_in).await.unwrap().status(), 204);
    assert_eq!(
        code_of(w.me(&browser).await).await,
        (401, "session_expired".into())
    );
    assert_eq!(w.fake.calls("revoke"), 1);
}
