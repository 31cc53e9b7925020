//! Users admin: list, add, change, delete, history, password, bulk actions, export, permissions.

use uuid::Uuid;

use crate::admin_helpers::*;
use crate::helpers::TestApp;

async fn plain_user(app: &TestApp, username: &str, email: &str) -> Uuid {
    create_user(
        app,
        NewAccount {
            email,
            staff: false,
            ..NewAccount::staff(username)
        },
    )
    .await
}

async fn log_rows(app: &TestApp, object_id: Uuid) -> Vec<(String, String, String)> {
    app.db
        .client()
        .await
        .query(
            "SELECT action, change_message, changes::text FROM admin_log WHERE object_id = $1 \
             ORDER BY created_at, id",
            &[&object_id.to_string()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[actix_web::test]
async fn list_searches_filters_sorts_and_pages() {
    let (app, _) = app_as_superuser().await;
    plain_user(&app, "alice", "alice@example.com").await;
    plain_user(&app, "bob", "bob@corp.example").await;
    plain_user(&app, "carol_1", "carol@example.com").await;

    let html = text(&app, "/admin/users/").await;
    assert!(html.contains("4 users"), "unfiltered count");
    for name in ["alice", "bob", "carol_1", "root"] {
        assert!(html.contains(&format!(">{name}</a>")), "{name}");
    }

    let html = text(&app, "/admin/users/?q=EXAMPLE.com").await;
    assert!(html.contains("2 results (4 total)"), "{html}");
    assert!(html.contains(">alice</a>") && html.contains(">carol_1</a>"));
    assert!(!html.contains(">bob</a>"));
    // Every word must match; `_` is a literal, not a wildcard.
    let html = text(&app, "/admin/users/?q=carol+example").await;
    assert!(html.contains("1 result (4 total)"));
    let html = text(&app, "/admin/users/?q=a_i").await;
    assert!(html.contains("0 results"));

    let html = text(&app, "/admin/users/?is_staff=1").await;
    assert!(html.contains("1 result (4 total)") && html.contains(">root</a>"));
    let html = text(&app, "/admin/users/?source=cognito").await;
    assert!(html.contains("0 results"));
    let html = text(
        &app,
        "/admin/users/?created_from=2000-01-01&created_to=2999-12-31",
    )
    .await;
    assert!(html.contains("4 results (4 total)"));
    let html = text(&app, "/admin/users/?created_to=2000-01-01").await;
    assert!(html.contains("0 results"));

    let html = text(&app, "/admin/users/?o=-username").await;
    let (root, alice) = (
        html.find(">root</a>").unwrap(),
        html.find(">alice</a>").unwrap(),
    );
    assert!(root < alice, "descending");
    let html = text(&app, "/admin/users/?per=25&o=username").await;
    assert!(html.find(">alice</a>").unwrap() < html.find(">root</a>").unwrap());

    // Bad parameters are ignored with a note, never an error.
    let html = text(
        &app,
        "/admin/users/?is_active=perhaps&o=password_hash&p=zz&created_from=x",
    )
    .await;
    assert!(html.contains("Ignored invalid values for: is_active, created_from, o."));
}

#[actix_web::test]
async fn list_pages_through_many_users() {
    let (app, _) = app_as_superuser().await;
    app.db
        .client()
        .await
        .batch_execute(
            "INSERT INTO users (id, username) \
             SELECT gen_random_uuid(), 'user' || lpad(n::text, 3, '0') FROM generate_series(1, 60) n",
        )
        .await
        .unwrap();

    let html = text(&app, "/admin/users/?per=25").await;
    // "root" sorts first, so page 1 is root and user001..user024.
    assert!(html.contains(">user001</a>") && html.contains(">user024</a>"));
    assert!(!html.contains(">user025</a>"));
    assert!(
        html.contains(r#"href="?per=25&#38;p=3""#),
        "link to the last page: {html}"
    );
    let html = text(&app, "/admin/users/?per=25&p=3").await;
    assert!(html.contains(">user050</a>") && html.contains(">user060</a>"));
    assert!(!html.contains(">root</a>") && !html.contains(">user049</a>"));
    let html = text(&app, "/admin/users/?per=25&p=99").await;
    assert!(!html.contains(">user0"), "past the end is an empty page");
}

#[actix_web::test]
async fn add_form_validates_keeps_values_and_logs() {
    let (app, _) = app_as_superuser().await;
    plain_user(&app, "taken", "").await;

    let response = post_admin(
        &app,
        "/admin/users/add/",
        &[
            ("username", "Taken"),
            ("email", "not-an-email"),
            ("password1", "short"),
            ("password2", "short"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("A user with that username already exists."));
    assert!(html.contains("Enter a valid email address"));
    assert!(html.contains("This password is too short"));
    assert!(html.contains(r#"value="Taken""#), "values kept");
    assert!(html.contains(r#"value="not-an-email""#));
    assert!(
        !html.contains(r#"value="short""#),
        "passwords are never echoed"
    );

    let response = post_admin(
        &app,
        "/admin/users/add/",
        &[
            ("username", "newbie"),
            ("email", "NewBie@Example.com"),
            ("password1", "violet-harbour-77"),
            ("password2", "violet-harbour-77"),
            ("_save", "1"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let target = location(&response);
    assert!(target.ends_with("/change/"), "{target}");
    let html = text(&app, &target).await;
    assert!(html.contains("The user “newbie” was added successfully."));
    assert!(
        html.contains(r#"value="newbie@example.com""#),
        "email normalised"
    );
    assert!(html.contains("argon2id v=19 m=19456,t=2,p=1 salt"));
    let id: Uuid = target.split('/').nth(3).unwrap().parse().unwrap();
    let rows = log_rows(&app, id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "add");
    assert!(rows[0].2.contains("newbie@example.com"));
    assert!(!rows[0].2.contains("argon2"), "no hash in history");
}

#[actix_web::test]
async fn change_form_saves_logs_old_and_new_and_refuses_stale_saves() {
    let (app, _) = app_as_superuser().await;
    let id = plain_user(&app, "alice", "alice@example.com").await;
    let page = format!("/admin/users/{id}/change/");
    let html = text(&app, &page).await;
    let marker = r#"name="updated_at" value=""#;
    let start = html.find(marker).unwrap() + marker.len();
    let lock = html[start..start + html[start..].find('"').unwrap()].to_owned();

    let fields = |email: &'static str, lock: &str| -> Vec<(&'static str, String)> {
        vec![
            ("username", "alice".into()),
            ("email", email.into()),
            ("first_name", "Alice".into()),
            ("last_name", "".into()),
            ("is_active", "1".into()),
            ("is_staff", "1".into()),
            ("updated_at", lock.to_owned()),
            ("_continue", "1".into()),
        ]
    };
    let owned = fields("alice@new.example", &lock);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = post_admin(&app, &page, &borrowed).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), page, "save and continue editing");
    let html = text(&app, &page).await;
    assert!(html.contains("was changed successfully"));
    assert!(html.contains(r#"value="alice@new.example""#));

    let rows = log_rows(&app, id).await;
    let (action, message, changes) = rows.last().unwrap();
    assert_eq!(action, "change");
    assert_eq!(message, "Changed email, first_name, is_staff.");
    let changes: serde_json::Value = serde_json::from_str(changes).unwrap();
    assert_eq!(changes["email"]["old"], "alice@example.com");
    assert_eq!(changes["email"]["new"], "alice@new.example");
    assert_eq!(changes["is_staff"]["old"], false);
    assert_eq!(changes["is_staff"]["new"], true);

    // A second save from the same (now stale) form is refused and loses nothing.
    let owned = fields("stale@example.com", &lock);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = post_admin(&app, &page, &borrowed).await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("changed by someone else"));
    assert!(
        html.contains(r#"value="stale@example.com""#),
        "entries kept"
    );
    let html = text(&app, &page).await;
    assert!(html.contains(r#"value="alice@new.example""#));

    // History shows the change with old and new values.
    let html = text(&app, &format!("/admin/users/{id}/history/")).await;
    assert!(
        html.contains("alice@example.com → alice@new.example"),
        "{html}"
    );
}

#[actix_web::test]
async fn change_form_errors_are_shown_next_to_fields_with_values_kept() {
    let (app, _) = app_as_superuser().await;
    let id = plain_user(&app, "alice", "").await;
    plain_user(&app, "bob", "").await;
    let page = format!("/admin/users/{id}/change/");

    let response = post_admin(
        &app,
        &page,
        &[
            ("username", "BOB"),
            ("email", "x@"),
            ("updated_at", "whatever"),
        ],
    )
    .await;

    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("A user with that username already exists."));
    assert!(html.contains(r#"value="BOB""#));
    assert!(html.contains(r#"value="x@""#));
    assert_eq!(log_rows(&app, id).await.len(), 0);
}

#[actix_web::test]
async fn deactivating_a_user_ends_their_session() {
    let (app, _) = app_as_superuser().await;
    let id = create_user(&app, NewAccount::staff("alice")).await;
    // From a browser of her own: a later login in the same browser would end her session.
    let alice_session = session_elsewhere(&app, "alice").await;
    assert_eq!(
        get_with_cookie(&app, "/admin/", &alice_session)
            .await
            .status(),
        200
    );
    let html = text(&app, &format!("/admin/users/{id}/change/")).await;
    let marker = r#"name="updated_at" value=""#;
    let start = html.find(marker).unwrap() + marker.len();
    let lock = html[start..start + html[start..].find('"').unwrap()].to_owned();

    let response = post_admin(
        &app,
        &format!("/admin/users/{id}/change/"),
        &[
            ("username", "alice"),
            ("is_staff", "1"),
            ("updated_at", &lock),
        ],
    )
    .await;

    assert_eq!(response.status(), 303);
    assert_eq!(
        get_with_cookie(&app, "/admin/", &alice_session)
            .await
            .status(),
        303
    );
}

#[actix_web::test]
async fn delete_lists_what_goes_with_the_user_then_deletes_and_logs() {
    let (app, _) = app_as_superuser().await;
    let id = plain_user(&app, "author", "").await;
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO articles (id, name, author_id) VALUES (gen_random_uuid(), 'Hello world', $1)",
            &[&id],
        )
        .await
        .unwrap();

    let html = text(&app, &format!("/admin/users/{id}/delete/")).await;
    assert!(html.contains("1 article(s)"));
    assert!(html.contains("<li>Hello world</li>"));

    let response = post_admin(&app, &format!("/admin/users/{id}/delete/"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/users/");
    assert_eq!(
        app.get(&format!("/admin/users/{id}/change/"))
            .await
            .status(),
        404
    );
    let rows = log_rows(&app, id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "delete");
    let n: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM articles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "articles went with the user");
}

#[actix_web::test]
async fn set_password_form_validates_and_ends_the_users_sessions() {
    let (app, _) = app_as_superuser().await;
    let id = create_user(&app, NewAccount::staff("alice")).await;
    let page = format!("/admin/users/{id}/password/");

    let response = post_admin(
        &app,
        &page,
        &[("password1", "password123"), ("password2", "password123")],
    )
    .await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This password is too common.")
    );

    let response = post_admin(
        &app,
        &page,
        &[
            ("password1", "violet-harbour-77"),
            ("password2", "violet-harbour-77"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    post_admin(&app, "/admin/logout/", &[]).await;
    assert_eq!(
        login(&app, "alice", "violet-harbour-77").await.status(),
        303
    );
}

#[actix_web::test]
async fn bulk_actions_confirm_then_log_one_row_per_user() {
    let (app, root) = app_as_superuser().await;
    let a = plain_user(&app, "a1", "").await;
    let b = plain_user(&app, "b1", "").await;
    let (a_s, b_s, root_s) = (a.to_string(), b.to_string(), root.to_string());

    // Nothing selected, or no action: a message, nothing done.
    let response = post_admin(&app, "/admin/users/", &[("action", "deactivate")]).await;
    assert_eq!(response.status(), 303);
    assert!(
        text(&app, "/admin/users/")
            .await
            .contains("Items must be selected")
    );

    let selection = [
        ("action", "deactivate"),
        ("_selected_action", a_s.as_str()),
        ("_selected_action", b_s.as_str()),
        ("_selected_action", root_s.as_str()),
    ];
    let response = post_admin(&app, "/admin/users/", &selection).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Are you sure?") && html.contains("a1") && html.contains("b1"));
    assert_eq!(log_rows(&app, a).await.len(), 0, "nothing yet");

    let mut confirmed = selection.to_vec();
    confirmed.push(("confirm", "yes"));
    let response = post_admin(&app, "/admin/users/", &confirmed).await;
    assert_eq!(response.status(), 303);
    assert!(
        text(&app, "/admin/users/")
            .await
            .contains("done for 2 users")
    );
    for id in [a, b] {
        let rows = log_rows(&app, id).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, "action");
        assert!(
            rows[0]
                .2
                .contains(r#""is_active": {"new": false, "old": true}"#),
            "{}",
            rows[0].2
        );
    }
    assert_eq!(app.get("/admin/").await.status(), 200, "never oneself");

    let response = post_admin(
        &app,
        "/admin/users/",
        &[
            ("action", "delete"),
            ("_selected_action", a_s.as_str()),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.get(&format!("/admin/users/{a}/change/")).await.status(),
        404
    );
    assert_eq!(log_rows(&app, a).await.last().unwrap().0, "delete");

    let response = post_admin(
        &app,
        "/admin/users/",
        &[
            ("action", "signout"),
            ("_selected_action", b_s.as_str()),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let set: bool = app
        .db
        .client()
        .await
        .query_one("SELECT session_epoch > 0 FROM users WHERE id = $1", &[&b])
        .await
        .unwrap()
        .get(0);
    assert!(set);
}

#[actix_web::test]
async fn csv_export_streams_the_filtered_list() {
    let (app, _) = app_as_superuser().await;
    plain_user(&app, "alice", "alice@example.com").await;
    plain_user(&app, "=evil", "evil@example.com").await;
    plain_user(&app, "bob", "bob@corp.example").await;

    let response = app.get("/admin/users/export.csv?q=example.com").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines[0].starts_with("id,username,email"));
    assert_eq!(lines.len(), 3, "{body}");
    assert!(body.contains(",alice,alice@example.com,"));
    assert!(body.contains(",'=evil,"), "formulas defused");
    assert!(!body.contains("bob"));
    assert!(!body.contains("argon2"));
}

#[actix_web::test]
async fn staff_without_permissions_get_403_pages_and_no_links() {
    let app = spawn_admin_app().await;
    let viewer = create_user(&app, NewAccount::staff("viewer")).await;
    let other = plain_user(&app, "other", "").await;
    login_ok(&app, "viewer").await;

    // No permission at all.
    let response = app.get("/admin/users/").await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("Permission denied"));
    assert_eq!(app.get("/admin/users/export.csv").await.status(), 403);

    // View only: list and change page (read-only) but no add, change, delete, actions.
    grant(&app, viewer, "users.view").await;
    let html = text(&app, "/admin/users/").await;
    assert!(!html.contains("/admin/users/add/"));
    assert!(!html.contains(r#"name="action""#), "no bulk actions");
    let html = text(&app, &format!("/admin/users/{other}/change/")).await;
    assert!(html.contains("View user"));
    assert!(!html.contains(r#"name="_save""#));
    assert!(!html.contains("/delete/"));
    let id = other.to_string();
    for (path, fields) in [
        ("/admin/users/add/".to_owned(), vec![("username", "x")]),
        (
            format!("/admin/users/{other}/change/"),
            vec![("username", "x")],
        ),
        (format!("/admin/users/{other}/delete/"), vec![]),
        (format!("/admin/users/{other}/password/"), vec![]),
        (format!("/admin/users/{other}/signout/"), vec![]),
        (format!("/admin/users/{other}/unlock/"), vec![]),
        (
            "/admin/users/".to_owned(),
            vec![
                ("action", "delete"),
                ("_selected_action", id.as_str()),
                ("confirm", "yes"),
            ],
        ),
    ] {
        let response = post_admin(&app, &path, &fields).await;
        assert_eq!(response.status(), 403, "POST {path}");
    }
    for path in [
        "/admin/users/add/".to_owned(),
        format!("/admin/users/{other}/delete/"),
        format!("/admin/users/{other}/password/"),
    ] {
        assert_eq!(app.get(&path).await.status(), 403, "GET {path}");
    }
    assert_eq!(log_rows(&app, other).await.len(), 0, "nothing changed");

    // Change permission, not superuser: may edit fields, may not grant superuser status (a
    // refusal, not a silently dropped field).
    grant(&app, viewer, "users.change").await;
    let html = text(&app, &format!("/admin/users/{other}/change/")).await;
    let marker = r#"name="updated_at" value=""#;
    let start = html.find(marker).unwrap() + marker.len();
    let lock = html[start..start + html[start..].find('"').unwrap()].to_owned();
    let fields = [
        ("username", "other"),
        ("is_active", "1"),
        ("is_staff", "1"),
        ("updated_at", lock.as_str()),
    ];
    let mut escalating = fields.to_vec();
    escalating.push(("is_superuser", "1"));
    let response = post_admin(&app, &format!("/admin/users/{other}/change/"), &escalating).await;
    assert_eq!(response.status(), 403);
    assert_eq!(log_rows(&app, other).await.len(), 0, "nothing changed");
    let response = post_admin(&app, &format!("/admin/users/{other}/change/"), &fields).await;
    assert_eq!(response.status(), 303);
    let row = app
        .db
        .client()
        .await
        .query_one(
            "SELECT is_staff, is_superuser FROM users WHERE id = $1",
            &[&other],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert!(!row.get::<_, bool>(1), "no escalation to superuser");
}

#[actix_web::test]
async fn malformed_or_unknown_ids_are_404_pages() {
    let (app, _) = app_as_superuser().await;

    for path in [
        "/admin/users/not-a-uuid/change/".to_owned(),
        format!("/admin/users/{}/change/", Uuid::now_v7()),
        format!("/admin/users/{}/history/", Uuid::now_v7()),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.text().await.unwrap().contains("Page not found"));
    }
}

#[actix_web::test]
async fn superuser_clears_a_lock_out_from_the_users_page() {
    let (app, _) = app_as_superuser().await;
    let id = create_user(&app, NewAccount::staff("alice")).await;
    app.db
        .client()
        .await
        .batch_execute(
            "INSERT INTO failed_logins (id, username) \
             SELECT gen_random_uuid(), 'alice' FROM generate_series(1, 5)",
        )
        .await
        .unwrap();

    let html = text(&app, &format!("/admin/users/{id}/change/")).await;
    assert!(html.contains("This account is locked out"));
    let response = post_admin(&app, &format!("/admin/users/{id}/unlock/"), &[]).await;
    assert_eq!(response.status(), 303);

    let html = text(&app, &format!("/admin/users/{id}/change/")).await;
    assert!(!html.contains("This account is locked out"));
    assert_eq!(
        log_rows(&app, id).await.last().unwrap().1,
        "Cleared login lock-out."
    );
}

#[actix_web::test]
async fn admin_writes_without_csrf_token_or_from_another_origin_are_refused() {
    let (app, _) = app_as_superuser().await;
    let html = text(&app, "/admin/users/add/").await;
    let token = csrf_from(&html);
    let fields = [
        ("username", "sneaky"),
        ("password1", "violet-harbour-77"),
        ("password2", "violet-harbour-77"),
    ];

    let response = post_raw(&app, "/admin/users/add/", &fields).await;
    assert_eq!(response.status(), 403, "no token");
    let mut with_token = vec![("csrfmiddlewaretoken", token.as_str())];
    with_token.extend_from_slice(&fields);
    let response = app
        .client
        .post(format!("{}/admin/users/add/", app.address))
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&with_token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "foreign origin");

    let n: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM users WHERE username = 'sneaky'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // The same post from this site goes through.
    assert_eq!(
        post_raw(&app, "/admin/users/add/", &with_token)
            .await
            .status(),
        303
    );
}

#[actix_web::test]
async fn only_superusers_act_on_superuser_accounts() {
    let app = spawn_admin_app().await;
    let root = create_user(&app, NewAccount::superuser("root")).await;
    let manager = create_user(&app, NewAccount::staff("manager")).await;
    for perm in ["users.view", "users.change", "users.delete"] {
        grant(&app, manager, perm).await;
    }
    login_ok(&app, "manager").await;
    let root_s = root.to_string();

    let html = text(&app, &format!("/admin/users/{root}/change/")).await;
    assert!(html.contains("View user"), "read-only for them");
    for (path, fields) in [
        (
            format!("/admin/users/{root}/password/"),
            vec![
                ("password1", "violet-harbour-77"),
                ("password2", "violet-harbour-77"),
            ],
        ),
        (
            format!("/admin/users/{root}/change/"),
            vec![("username", "root")],
        ),
        (format!("/admin/users/{root}/delete/"), vec![]),
        (format!("/admin/users/{root}/signout/"), vec![]),
    ] {
        assert_eq!(
            post_admin(&app, &path, &fields).await.status(),
            403,
            "POST {path}"
        );
    }
    let response = post_admin(
        &app,
        "/admin/users/",
        &[
            ("action", "deactivate"),
            ("_selected_action", root_s.as_str()),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(response.status(), 403, "a bulk action is refused whole");
    assert_eq!(
        log_rows(&app, root).await.len(),
        0,
        "the superuser is untouched"
    );
    assert_eq!(login(&app, "root", PASSWORD).await.status(), 303);
}

#[actix_web::test]
async fn saving_returns_to_the_list_with_its_filters() {
    let (app, _) = app_as_superuser().await;
    let id = plain_user(&app, "alice", "").await;

    let html = text(&app, "/admin/users/?q=ali&o=-email").await;
    let link = format!("/admin/users/{id}/change/?_changelist_filters=q%3Dali%26o%3D-email");
    assert!(html.contains(&link), "{html}");
    let html = text(&app, &link).await;
    assert!(html.contains(r#"name="_changelist_filters" value="q=ali&#38;o=-email""#));
    let marker = r#"name="updated_at" value=""#;
    let start = html.find(marker).unwrap() + marker.len();
    let lock = html[start..start + html[start..].find('"').unwrap()].to_owned();

    let response = post_admin(
        &app,
        &format!("/admin/users/{id}/change/"),
        &[
            ("username", "alice"),
            ("is_active", "1"),
            ("updated_at", &lock),
            // Unknown or malformed parts are dropped, never echoed into the Location header.
            (
                "_changelist_filters",
                "q=ali&o=-email&evil=1\r\nX-Injected: 1",
            ),
            ("_save", "1"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/users/?q=ali&o=-email");
}

#[actix_web::test]
async fn big_tables_are_counted_by_the_planners_estimate_not_count_star() {
    let (app, _) = app_as_superuser().await;
    // Pretend the last ANALYZE saw two million users (the tests run as a Postgres superuser).
    app.db
        .client()
        .await
        .batch_execute("UPDATE pg_class SET reltuples = 2000000 WHERE relname = 'users'")
        .await
        .unwrap();

    let index = text(&app, "/admin/").await;
    assert!(index.contains("about 2000000"), "{index}");
    let list = text(&app, "/admin/users/").await;
    assert!(list.contains("about 2000000 users"));
    let list = text(&app, "/admin/users/?q=root").await;
    assert!(
        list.contains("1 result (about 2000000 total)"),
        "filtered: exact"
    );
}
