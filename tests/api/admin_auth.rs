//! Staff login, sessions, throttling, CSRF, logout and password change.

use crate::admin_helpers::*;
use crate::helpers::spawn_app;

#[actix_web::test]
async fn anonymous_requests_are_sent_to_login_with_next() {
    let app = spawn_admin_app().await;

    for path in ["/admin/", "/admin/users/?q=a", "/admin/no-such-page/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        let target = location(&response);
        assert!(
            target.starts_with("/admin/login/?next=%2Fadmin%2F"),
            "{target}"
        );
    }
    assert_eq!(location(&app.get("/admin").await), "/admin/");
}

#[actix_web::test]
async fn login_page_is_a_form_with_csrf_and_no_inline_script() {
    let app = spawn_admin_app().await;

    let response = app.get("/admin/login/?next=/admin/users/").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/admin"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "COOKIE_SECURE=false");
    let html = response.text().await.unwrap();
    assert_eq!(csrf_from(&html).len(), 64);
    assert!(html.contains(r#"name="next" value="/admin/users/""#));
    assert!(!html.contains("<script>"));
}

#[actix_web::test]
async fn session_cookie_is_secure_when_configured() {
    let app = spawn_app().await; // production defaults: COOKIE_SECURE on

    let response = app.get("/admin/login/").await;

    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[actix_web::test]
async fn staff_log_in_with_username_or_email_in_any_case() {
    let app = spawn_admin_app().await;
    create_user(
        &app,
        NewAccount {
            email: "alice@example.com",
            ..NewAccount::staff("Alice")
        },
    )
    .await;

    let response = login(&app, "aLiCe", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/");
    let index = app.get("/admin/").await;
    assert_eq!(index.status(), 200);
    let html = index.text().await.unwrap();
    assert!(html.contains("Site administration"));
    assert!(html.contains("Signed in as <strong>Alice</strong>"));

    assert_eq!(post_admin(&app, "/admin/logout/", &[]).await.status(), 200);
    let response = login(&app, "ALICE@example.COM", PASSWORD).await;
    assert_eq!(response.status(), 303);

    let row = app
        .db
        .client()
        .await
        .query_one("SELECT last_login IS NOT NULL FROM users", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "last_login is set");
}

#[actix_web::test]
async fn login_follows_a_safe_next_only() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::staff("alice")).await;

    let response = post_from(
        &app,
        "/admin/login/",
        "/admin/login/",
        &[
            ("username", "alice"),
            ("password", PASSWORD),
            ("next", "https://evil.example/"),
        ],
    )
    .await;
    assert_eq!(location(&response), "/admin/");

    let response = post_from(
        &app,
        "/admin/",
        "/admin/login/",
        &[
            ("username", "alice"),
            ("password", PASSWORD),
            ("next", "/admin/password_change/"),
        ],
    )
    .await;
    assert_eq!(location(&response), "/admin/password_change/");
}

/// Every reason a login fails gets the same page, so nobody learns which accounts exist.
#[actix_web::test]
async fn failed_logins_look_the_same_whatever_the_reason() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::staff("staffer")).await;
    create_user(
        &app,
        NewAccount {
            staff: false,
            ..NewAccount::staff("customer")
        },
    )
    .await;
    create_user(
        &app,
        NewAccount {
            active: false,
            ..NewAccount::staff("former")
        },
    )
    .await;
    create_user(
        &app,
        NewAccount {
            password: None,
            ..NewAccount::staff("nopassword")
        },
    )
    .await;

    let mut pages = Vec::new();
    for (user, password) in [
        ("nobody", PASSWORD),
        ("staffer", "wrong-password-123"),
        ("customer", PASSWORD),
        ("former", PASSWORD),
        ("nopassword", PASSWORD),
    ] {
        let response = login(&app, user, password).await;
        assert_eq!(response.status(), 200, "{user}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Please enter the correct username"), "{user}");
        pages.push(html.replace(&format!(r#"value="{user}""#), r#"value="X""#));
    }
    for page in &pages[1..] {
        assert_eq!(page, &pages[0]);
    }
    assert_eq!(app.get("/admin/").await.status(), 303, "nobody got in");
}

#[actix_web::test]
async fn five_failures_lock_the_account_with_429() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::staff("alice")).await;
    create_user(&app, NewAccount::staff("bob")).await;

    for _ in 0..5 {
        assert_eq!(login(&app, "alice", "wrong-password-1").await.status(), 200);
    }
    // Locked now, even with the right password, and by email or another case too.
    let response = login(&app, "ALICE", PASSWORD).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Too many failed login attempts")
    );
    // Another account from the same address is not locked (5 < 20 per IP).
    assert_eq!(login(&app, "bob", PASSWORD).await.status(), 303);

    // Once the failures are older than the window, alice may log in again.
    age_failed_logins(&app).await;
    assert_eq!(login(&app, "alice", PASSWORD).await.status(), 303);
}

#[actix_web::test]
async fn twenty_failures_from_one_address_lock_it() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::staff("alice")).await;

    for i in 0..20 {
        let name = format!("guess{i}");
        assert_eq!(login(&app, &name, "wrong-password-1").await.status(), 200);
    }

    assert_eq!(login(&app, "alice", PASSWORD).await.status(), 429);
}

#[actix_web::test]
async fn posts_without_a_valid_csrf_token_or_origin_are_refused() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::staff("alice")).await;
    let html = app.get("/admin/login/").await.text().await.unwrap();
    let token = csrf_from(&html);
    let creds = [("username", "alice"), ("password", PASSWORD)];

    // Missing token.
    let response = post_raw(&app, "/admin/login/", &creds).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("CSRF"));
    // Wrong token.
    let wrong = "0".repeat(64);
    let mut fields = vec![("csrfmiddlewaretoken", wrong.as_str())];
    fields.extend_from_slice(&creds);
    assert_eq!(post_raw(&app, "/admin/login/", &fields).await.status(), 403);
    // Right token, but from another site, or from nowhere.
    let mut fields = vec![("csrfmiddlewaretoken", token.as_str())];
    fields.extend_from_slice(&creds);
    let body = encode(&fields);
    let url = format!("{}/admin/login/", app.address);
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let mut request = app
            .client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        assert_eq!(request.send().await.unwrap().status(), 403, "{origin:?}");
    }
    // A same-site Referer is accepted when Origin is absent.
    let response = app
        .client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Referer", format!("{}/admin/login/", app.address))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // Once logged in, the token changed: the one from before login is refused.
    let response = post_raw(
        &app,
        "/admin/logout/",
        &[("csrfmiddlewaretoken", token.as_str())],
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.get("/admin/").await.status(), 200, "still logged in");
}

#[actix_web::test]
async fn logout_is_post_only_and_ends_the_session() {
    let (app, _) = app_as_superuser().await;

    assert_eq!(app.get("/admin/logout/").await.status(), 405);
    assert_eq!(app.get("/admin/").await.status(), 200);

    let response = post_admin(&app, "/admin/logout/", &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Logged out"));
    assert_eq!(app.get("/admin/").await.status(), 303);
}

#[actix_web::test]
async fn deactivation_or_losing_staff_status_ends_the_session() {
    let (app, root) = app_as_superuser().await;
    let db = app.db.client().await;

    for (change, undo) in [
        (
            "UPDATE users SET is_active = false WHERE id = $1",
            "UPDATE users SET is_active = true WHERE id = $1",
        ),
        (
            "UPDATE users SET is_staff = false WHERE id = $1",
            "UPDATE users SET is_staff = true WHERE id = $1",
        ),
        (
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1",
            "SELECT $1::uuid",
        ),
    ] {
        assert_eq!(app.get("/admin/").await.status(), 200, "{change}");
        db.execute(change, &[&root]).await.unwrap();
        assert_eq!(app.get("/admin/").await.status(), 303, "{change}");
        db.execute(undo, &[&root]).await.unwrap();
        login_ok(&app, "root").await;
    }
}

#[actix_web::test]
async fn password_change_validates_and_keeps_only_this_session() {
    let app = spawn_admin_app().await;
    create_user(
        &app,
        NewAccount {
            email: "root@example.com",
            ..NewAccount::superuser("root")
        },
    )
    .await;
    let response = login(&app, "root", PASSWORD).await;
    let old_session = session_cookie(&response);
    assert_eq!(
        get_with_cookie(&app, "/admin/", &old_session)
            .await
            .status(),
        200
    );
    let page = "/admin/password_change/";

    let response = post_admin(
        &app,
        page,
        &[
            ("old_password", "not-my-password"),
            ("new_password1", "violet-harbour-77"),
            ("new_password2", "violet-harbour-77"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Your old password was entered incorrectly")
    );
    let response = post_admin(
        &app,
        page,
        &[
            ("old_password", PASSWORD),
            ("new_password1", "violet-harbour-77"),
            ("new_password2", "violet-harbour-78"),
        ],
    )
    .await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("The two password fields didn&#39;t match.")
    );
    let response = post_admin(
        &app,
        page,
        &[
            ("old_password", PASSWORD),
            ("new_password1", "12345"),
            ("new_password2", "12345"),
        ],
    )
    .await;
    let html = response.text().await.unwrap();
    assert!(html.contains("This password is too short"), "{html}");
    assert!(html.contains("This password is entirely numeric"));

    let response = post_admin(
        &app,
        page,
        &[
            ("old_password", PASSWORD),
            ("new_password1", "violet-harbour-77"),
            ("new_password2", "violet-harbour-77"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/password_change/done/");

    // This browser stays in; a session from before the change is over.
    assert_eq!(app.get("/admin/password_change/done/").await.status(), 200);
    assert_eq!(app.get("/admin/").await.status(), 200);
    assert_eq!(
        get_with_cookie(&app, "/admin/", &old_session)
            .await
            .status(),
        303
    );
    // The new password works, the old one does not.
    assert_eq!(post_admin(&app, "/admin/logout/", &[]).await.status(), 200);
    assert_eq!(login(&app, "root", PASSWORD).await.status(), 200);
    assert_eq!(login(&app, "root", "violet-harbour-77").await.status(), 303);
    // The history says the password changed, and holds no hash.
    let row = app
        .db
        .client()
        .await
        .query_one(
            "SELECT change_message, changes::text FROM admin_log WHERE action = 'change'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Changed password.");
    let changes: String = row.get(1);
    assert!(changes.contains("password"));
    assert!(!changes.contains("argon2"), "{changes}");
}

#[actix_web::test]
async fn unknown_admin_pages_are_404_pages_for_staff() {
    let (app, _) = app_as_superuser().await;

    let response = app.get("/admin/no-such-page/").await;

    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"));
    assert!(html.contains("/static/vendor/bootstrap-5.3.9/bootstrap.min.css"));
}

#[actix_web::test]
async fn index_lists_only_the_models_one_may_see_with_counts_and_my_actions() {
    let app = spawn_admin_app().await;
    let viewer = create_user(&app, NewAccount::staff("viewer")).await;
    login_ok(&app, "viewer").await;

    let html = app.get("/admin/").await.text().await.unwrap();
    assert!(html.contains("You don't have permission to view or edit anything."));
    assert!(!html.contains(r#"href="/admin/users/""#));

    grant(&app, viewer, "users.view").await;
    let html = app.get("/admin/").await.text().await.unwrap();
    assert!(html.contains(r#"<a href="/admin/users/">Users</a>"#));
    assert!(!html.contains("/admin/groups/"));
    assert!(
        !html.contains("/admin/users/add/"),
        "no add link without users.add"
    );
    assert!(html.contains(r#"<td class="text-end">1</td>"#), "{html}");
    assert!(html.contains("None available"));
}

#[actix_web::test]
async fn a_database_outage_is_a_503_page_not_a_crash() {
    let (app, _) = app_as_superuser().await;

    app.db.drop_now().await;
    let response = app.get("/admin/").await;

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Database unavailable")
    );
}

/// The session id every forged cookie carries; a test records it server-side as login would.
const FORGED_SID: &str = "forged-session-id";

/// A session cookie as the app would write it (actix-session's cookie store, encrypted with the
/// test settings' SECRET_KEY), with chosen login and last-seen times.
fn forged_session(user_id: uuid::Uuid, login_at: i64, seen_at: i64) -> String {
    use actix_web::cookie::{Cookie, CookieJar, Key};
    let key = Key::derive_from(b"test-secret-key-that-is-long-enough-0123456789");
    let state: std::collections::HashMap<&str, String> = [
        ("uid", serde_json::to_string(&user_id).unwrap()),
        ("sid", serde_json::to_string(FORGED_SID).unwrap()),
        ("epoch", "0".to_owned()),
        ("login_at", login_at.to_string()),
        ("seen_at", seen_at.to_string()),
        ("csrf", r#""token""#.to_owned()),
    ]
    .into_iter()
    .collect();
    let mut jar = CookieJar::new();
    jar.private_mut(&key).add(Cookie::new(
        "gatehouse_session",
        serde_json::to_string(&state).unwrap(),
    ));
    format!(
        "gatehouse_session={}",
        jar.get("gatehouse_session").unwrap().value()
    )
}

/// The server-side record of [`FORGED_SID`], as a login would have made it.
async fn record_forged_session(app: &crate::helpers::TestApp, user: uuid::Uuid) {
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO staff_sessions (id_hash, user_id, expires_at) \
             VALUES (sha256(convert_to($1, 'UTF8')), $2, now() + interval '1 day') \
             ON CONFLICT DO NOTHING",
            &[&FORGED_SID, &user],
        )
        .await
        .unwrap();
}

#[actix_web::test]
async fn sessions_end_after_the_idle_timeout_and_the_absolute_lifetime() {
    let app = spawn_admin_app().await; // idle 3600 s, lifetime 43200 s (the defaults)
    let root = create_user(&app, NewAccount::superuser("root")).await;
    let now = chrono::Utc::now().timestamp();
    let fresh = forged_session(root, now - 10, now - 10);
    // Without its server-side record, even a well-formed cookie opens nothing.
    assert_eq!(get_with_cookie(&app, "/admin/", &fresh).await.status(), 303);
    record_forged_session(&app, root).await;

    assert_eq!(get_with_cookie(&app, "/admin/", &fresh).await.status(), 200);

    let idle = forged_session(root, now - 3700, now - 3601);
    assert_eq!(get_with_cookie(&app, "/admin/", &idle).await.status(), 303);

    // A timed-out session's record is deleted (see the next test): make it anew for each case.
    record_forged_session(&app, root).await;
    let old = forged_session(root, now - 43_201, now - 5);
    assert_eq!(get_with_cookie(&app, "/admin/", &old).await.status(), 303);

    record_forged_session(&app, root).await;
    let active = forged_session(root, now - 43_000, now - 3500);
    assert_eq!(
        get_with_cookie(&app, "/admin/", &active).await.status(),
        200
    );
}

#[actix_web::test]
async fn a_session_that_timed_out_ends_for_every_copy_of_its_cookie() {
    let app = spawn_admin_app().await; // idle 3600 s
    let root = create_user(&app, NewAccount::superuser("root")).await;
    record_forged_session(&app, root).await;
    let db = app.db.client().await;
    let now = chrono::Utc::now().timestamp();
    // The owner's copy went idle; a copy taken earlier has been kept fresh by someone else.
    let owners = forged_session(root, now - 3700, now - 3601);
    let kept_fresh = forged_session(root, now - 3700, now - 10);
    assert_eq!(
        get_with_cookie(&app, "/admin/", &kept_fresh).await.status(),
        200
    );

    assert_eq!(
        get_with_cookie(&app, "/admin/", &owners).await.status(),
        303
    );

    let records: i64 = db
        .query_one("SELECT count(*) FROM staff_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(records, 0, "the timed-out session's record is gone");
    assert_eq!(
        get_with_cookie(&app, "/admin/", &kept_fresh).await.status(),
        303
    );
}

#[actix_web::test]
async fn failures_older_than_a_day_are_pruned() {
    let app = spawn_admin_app().await;
    let db = app.db.client().await;
    db.batch_execute(
        "INSERT INTO failed_logins (id, username, ip, created_at) \
         SELECT gen_random_uuid(), 'alice', '127.0.0.1', now() - interval '2 days' \
         FROM generate_series(1, 3)",
    )
    .await
    .unwrap();

    assert_eq!(login(&app, "alice", "wrong-password-1").await.status(), 200);

    let n: i64 = db
        .query_one("SELECT count(*) FROM failed_logins", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "only today's failure is left");
}
