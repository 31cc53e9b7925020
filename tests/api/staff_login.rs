//! Staff login under attack: clients behind a proxy, parallel guesses, guesses through the
//! password change form, accounts that look like staff, and cookies copied before a logout.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use crate::admin_helpers::*;
use crate::helpers::{TestApp, spawn_app_with};

/// The test client reaches the app from 127.0.0.1, which plays the load balancer here.
const BEHIND_PROXY: &[(&str, &str)] = &[
    ("COOKIE_SECURE", "false"),
    ("TRUSTED_PROXIES", "127.0.0.1/32, ::1/128"),
];

/// Many posts in flight at once: a generous pool wait, so a 503 is never the test's own doing.
const RACE: &[(&str, &str)] = &[
    ("COOKIE_SECURE", "false"),
    ("WORKERS", "2"),
    ("DATABASE_POOL_SIZE", "10"),
    ("DATABASE_POOL_TIMEOUT_SECONDS", "60"),
];

/// A login post carrying `header: value` (as a proxy would add it), from a fresh browser.
async fn login_via(
    app: &TestApp,
    header: &str,
    value: &str,
    login: &str,
    password: &str,
) -> reqwest::Response {
    let client = crate::helpers::new_browser();
    let url = format!("{}/admin/login/", app.address);
    let html = client
        .get(&url)
        .header(header, value)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_from(&html);
    client
        .post(&url)
        .header(header, value)
        .header("Origin", &app.address)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("csrfmiddlewaretoken", &token),
            ("username", login),
            ("password", password),
        ]))
        .send()
        .await
        .unwrap()
}

async fn failure_ips(app: &TestApp) -> BTreeMap<String, i64> {
    app.db
        .client()
        .await
        .query(
            "SELECT host(ip) || '/' || masklen(ip), count(*) FROM failed_logins GROUP BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.db
        .client()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

#[actix_web::test]
async fn behind_a_trusted_proxy_one_client_cannot_lock_out_the_others() {
    let app = spawn_app_with(BEHIND_PROXY).await;
    create_user(&app, NewAccount::superuser("root")).await;

    for i in 0..20 {
        let name = format!("guess{i}");
        let response = login_via(&app, "X-Forwarded-For", "203.0.113.7", &name, "wrong-1").await;
        assert_eq!(response.status(), 200, "attempt {i}");
    }
    // The attacker's address is locked, even for a correct password…
    let response = login_via(&app, "X-Forwarded-For", "203.0.113.7", "root", PASSWORD).await;
    assert_eq!(response.status(), 429);
    // …but the superuser behind the same load balancer gets in (today: 429 for everyone).
    let response = login_via(&app, "X-Forwarded-For", "198.51.100.8", "root", PASSWORD).await;
    assert_eq!(response.status(), 303);
    // The failures are on record under the client's address, not the proxy's.
    assert_eq!(
        failure_ips(&app).await,
        BTreeMap::from([("203.0.113.7/32".to_owned(), 20)])
    );

    // RFC 7239 `Forwarded` is understood too, IPv6 with brackets and port included.
    let response = login_via(
        &app,
        "Forwarded",
        r#"for="[2001:db8:cafe::17]:4711";proto=https"#,
        "root",
        "wrong-2",
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(failure_ips(&app).await["2001:db8:cafe::/64"], 1);
}

#[actix_web::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // Nothing trusted (the default), and a trusted range the test client is not in.
    for overrides in [
        &[("COOKIE_SECURE", "false")][..],
        &[
            ("COOKIE_SECURE", "false"),
            ("TRUSTED_PROXIES", "10.0.0.0/8"),
        ][..],
    ] {
        let app = spawn_app_with(overrides).await;
        create_user(&app, NewAccount::superuser("root")).await;

        // A client rotating made-up addresses is still one address.
        for i in 0..20 {
            let name = format!("guess{i}");
            let (header, value) = if i % 2 == 0 {
                ("X-Forwarded-For", format!("198.51.100.{i}"))
            } else {
                ("Forwarded", format!("for=198.51.100.{i}"))
            };
            let response = login_via(&app, header, &value, &name, "wrong-1").await;
            assert_eq!(response.status(), 200, "{overrides:?} attempt {i}");
        }
        let response = login_via(&app, "X-Forwarded-For", "198.51.100.99", "root", PASSWORD).await;
        assert_eq!(response.status(), 429, "{overrides:?}");
        assert_eq!(
            failure_ips(&app).await,
            BTreeMap::from([("127.0.0.1/32".to_owned(), 20)]),
            "{overrides:?}"
        );
    }
}

#[actix_web::test]
async fn ipv6_clients_are_throttled_by_their_64() {
    let app = spawn_app_with(BEHIND_PROXY).await;
    create_user(&app, NewAccount::superuser("root")).await;

    // Twenty failures from twenty addresses of one /64 (one subscriber's network).
    for i in 0..20 {
        let client = format!("2001:db8:1:2::{:x}", i + 1);
        let name = format!("guess{i}");
        let response = login_via(&app, "X-Forwarded-For", &client, &name, "wrong-1").await;
        assert_eq!(response.status(), 200, "attempt {i}");
    }
    let same_64 = "2001:db8:1:2:ffff:ffff:ffff:ffff";
    let response = login_via(&app, "X-Forwarded-For", same_64, "root", PASSWORD).await;
    assert_eq!(response.status(), 429, "another address of the same /64");
    let next_64 = "2001:db8:1:3::1";
    let response = login_via(&app, "X-Forwarded-For", next_64, "root", PASSWORD).await;
    assert_eq!(
        response.status(),
        303,
        "the neighbouring /64 is someone else"
    );
    assert_eq!(
        failure_ips(&app).await,
        BTreeMap::from([("2001:db8:1:2::/64".to_owned(), 20)])
    );
}

/// Posts `n` logins at once from one browser session, returning how many got each status.
async fn parallel_logins(
    app: &TestApp,
    n: usize,
    login: impl Fn(usize) -> String,
) -> BTreeMap<u16, usize> {
    let html = app.get("/admin/login/").await.text().await.unwrap();
    let token = csrf_from(&html);
    let posts = (0..n).map(|i| {
        let name = login(i);
        let token = token.clone();
        async move {
            post_raw(
                app,
                "/admin/login/",
                &[
                    ("csrfmiddlewaretoken", &token),
                    ("username", &name),
                    ("password", "wrong-password-1"),
                ],
            )
            .await
            .status()
            .as_u16()
        }
    });
    let mut counts = BTreeMap::new();
    for status in join_all(posts).await {
        *counts.entry(status).or_default() += 1;
    }
    counts
}

#[actix_web::test]
async fn parallel_guesses_get_no_more_checks_than_the_account_limit() {
    let app = spawn_app_with(RACE).await;
    create_user(&app, NewAccount::staff("alice")).await;

    let counts = parallel_logins(&app, 50, |_| "alice".to_owned()).await;

    // A 200 is a password actually checked (and wrong); every other post was refused first.
    let checked = counts.get(&200).copied().unwrap_or(0);
    // Exactly the limit: no more (the race), and no fewer (no attempt refused by mistake).
    assert_eq!(checked, 5, "{counts:?}");
    assert_eq!(
        counts.get(&429).copied().unwrap_or(0),
        50 - checked,
        "{counts:?}"
    );
    // Refused posts leave nothing behind; checked ones are the failures on record.
    let recorded = scalar(&app, "SELECT count(*) FROM failed_logins").await;
    assert_eq!(recorded, checked as i64);
    // Locked: the right password is refused too.
    assert_eq!(login(&app, "alice", PASSWORD).await.status(), 429);
}

#[actix_web::test]
async fn parallel_guesses_get_no_more_checks_than_the_address_limit() {
    let app = spawn_app_with(RACE).await;
    create_user(&app, NewAccount::staff("alice")).await;

    let counts = parallel_logins(&app, 50, |i| format!("nobody{i}")).await;

    let checked = counts.get(&200).copied().unwrap_or(0);
    assert_eq!(checked, 20, "{counts:?}");
    assert_eq!(
        counts.get(&429).copied().unwrap_or(0),
        50 - checked,
        "{counts:?}"
    );
    assert_eq!(login(&app, "alice", PASSWORD).await.status(), 429);
}

async fn password_hash_of(app: &TestApp, username: &str) -> String {
    app.db
        .client()
        .await
        .query_one(
            "SELECT password_hash FROM users WHERE username = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get(0)
}

#[actix_web::test]
async fn password_change_guesses_count_toward_the_login_throttle() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::staff("alice")).await;
    login_ok(&app, "alice").await;
    let before = password_hash_of(&app, "alice").await;
    let change = |old: &'static str| {
        let app = &app;
        async move {
            post_admin(
                app,
                "/admin/password_change/",
                &[
                    ("old_password", old),
                    ("new_password1", "violet-harbour-77"),
                    ("new_password2", "violet-harbour-77"),
                ],
            )
            .await
        }
    };

    // Three guesses through the form (someone holding the session), two at the login page.
    for _ in 0..3 {
        let response = change("not-my-password-1").await;
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains("Your old password was entered incorrectly"));
    }
    let other = spawn_client();
    for _ in 0..2 {
        let response = login_in(&app, &other, "alice", "not-my-password-2").await;
        assert_eq!(response.status(), 200);
    }

    // Five failures: the account is locked, on either door, even with the right old password.
    let response = change(PASSWORD).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many failed login attempts"), "{html}");
    assert_eq!(
        password_hash_of(&app, "alice").await,
        before,
        "nothing changed"
    );
    let logged = scalar(&app, "SELECT count(*) FROM admin_log").await;
    assert_eq!(logged, 0, "no history row");
    assert_eq!(
        login_in(&app, &other, "alice", PASSWORD).await.status(),
        429
    );
    // Failures recorded under the account's login key, from the client's address.
    let rows = scalar(
        &app,
        "SELECT count(*) FROM failed_logins WHERE username = 'alice' AND ip = '127.0.0.1'",
    )
    .await;
    assert_eq!(rows, 5);

    // Once the failures age out, the right old password works again.
    age_failed_logins(&app).await;
    let response = change(PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_ne!(password_hash_of(&app, "alice").await, before);
}

fn spawn_client() -> reqwest::Client {
    crate::helpers::new_browser()
}

/// A login from another browser (`client` keeps its own cookies).
async fn login_in(
    app: &TestApp,
    client: &reqwest::Client,
    login: &str,
    password: &str,
) -> reqwest::Response {
    let url = format!("{}/admin/login/", app.address);
    let html = client.get(&url).send().await.unwrap().text().await.unwrap();
    client
        .post(&url)
        .header("Origin", &app.address)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("csrfmiddlewaretoken", &csrf_from(&html)),
            ("username", login),
            ("password", password),
        ]))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn only_active_staff_with_a_password_are_found_by_a_login() {
    let app = spawn_admin_app().await;
    // An app user whose (Cognito) user name is a staff member's email address.
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO users (id, username, email, cognito_sub) \
             VALUES (gen_random_uuid(), 'alice@example.com', 'alice@example.com', 'sub-alice')",
            &[],
        )
        .await
        .unwrap();
    create_user(
        &app,
        NewAccount {
            email: "alice@example.com",
            ..NewAccount::staff("alice")
        },
    )
    .await;
    // A former staff member, named like a current one's email.
    create_user(
        &app,
        NewAccount {
            active: false,
            ..NewAccount::staff("bob@example.com")
        },
    )
    .await;
    create_user(
        &app,
        NewAccount {
            email: "bob@example.com",
            ..NewAccount::staff("bob")
        },
    )
    .await;
    // A customer with a password of their own, named like staff carol's email.
    create_user(
        &app,
        NewAccount {
            staff: false,
            ..NewAccount::staff("carol@example.com")
        },
    )
    .await;
    let carol_password = "marmalade-comet-31";
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO users (id, username, email, password_hash, is_staff) \
             VALUES (gen_random_uuid(), 'carol', 'carol@example.com', $1, true)",
            &[&hash(carol_password).await],
        )
        .await
        .unwrap();

    for (login, password) in [
        ("alice@example.com", PASSWORD),
        ("ALICE@example.com", PASSWORD),
        ("bob@example.com", PASSWORD),
        ("carol@example.com", carol_password),
    ] {
        let response = login_in(&app, &spawn_client(), login, password).await;
        assert_eq!(response.status(), 303, "{login} reaches the staff account");
    }
    // The customer's password opens nothing, and looks like any other failure.
    let response = login_in(&app, &spawn_client(), "carol@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Please enter the correct username"));

    // Failures by email count under the staff account they name, so both doors share one limit.
    login_in(
        &app,
        &spawn_client(),
        "alice@example.com",
        "wrong-password-3",
    )
    .await;
    let keys: Vec<String> = app
        .db
        .client()
        .await
        .query(
            "SELECT username FROM failed_logins ORDER BY created_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys, ["carol", "alice"]);
}

#[actix_web::test]
async fn logout_ends_the_session_for_every_copy_of_the_cookie() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::superuser("root")).await;
    let response = login(&app, "root", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let copied = session_cookie(&response);
    assert_eq!(
        get_with_cookie(&app, "/admin/", &copied).await.status(),
        200
    );

    assert_eq!(post_admin(&app, "/admin/logout/", &[]).await.status(), 200);

    // The copy taken before the logout opens nothing now (today: 200 until it expires).
    let replay = get_with_cookie(&app, "/admin/", &copied).await;
    assert_eq!(replay.status(), 303);
    assert!(location(&replay).starts_with("/admin/login/"));
    assert_eq!(app.get("/admin/").await.status(), 303);
    assert_eq!(scalar(&app, "SELECT count(*) FROM staff_sessions").await, 0);

    // Logging in again makes a new record, and a password change keeps this session.
    login_ok(&app, "root").await;
    assert_eq!(scalar(&app, "SELECT count(*) FROM staff_sessions").await, 1);
    let response = post_admin(
        &app,
        "/admin/password_change/",
        &[
            ("old_password", PASSWORD),
            ("new_password1", "violet-harbour-77"),
            ("new_password2", "violet-harbour-77"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.get("/admin/").await.status(), 200);
}

#[actix_web::test]
async fn a_logout_while_the_database_is_down_still_drops_the_cookie_and_says_so() {
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::superuser("root")).await;
    login_ok(&app, "root").await;
    let token = csrf_from(&app.get("/admin/").await.text().await.unwrap());

    app.db.drop_now().await;
    let response = post_raw(&app, "/admin/logout/", &[("csrfmiddlewaretoken", &token)]).await;

    // Not a "logged out" page: the record could not be deleted, so the error page says so.
    assert_eq!(response.status(), 503);
    let cleared = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("gatehouse_session=") && c.contains("Max-Age=0"));
    assert!(cleared, "the browser's cookie is removed anyway");
}

#[actix_web::test]
async fn a_new_login_ends_the_browsers_previous_session_and_prunes_expired_ones() {
    let app = spawn_admin_app().await;
    let root = create_user(&app, NewAccount::superuser("root")).await;
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO staff_sessions (id_hash, user_id, expires_at) \
             VALUES (sha256('old'), $1, now() - interval '1 second')",
            &[&root],
        )
        .await
        .unwrap();
    let first = session_cookie(&login(&app, "root", PASSWORD).await);
    assert_eq!(scalar(&app, "SELECT count(*) FROM staff_sessions").await, 1);

    let second = session_cookie(&login(&app, "root", PASSWORD).await);

    assert_eq!(get_with_cookie(&app, "/admin/", &first).await.status(), 303);
    assert_eq!(
        get_with_cookie(&app, "/admin/", &second).await.status(),
        200
    );
    assert_eq!(scalar(&app, "SELECT count(*) FROM staff_sessions").await, 1);
}
