//! Back-office privilege rules (issue 11, points 3 and 4): staff cannot grant themselves or an
//! account they control rights they lack, and cannot take over accounts stronger than their own.
//! Every refusal is sent with a valid CSRF token and lock, so it is the rule that refuses it.

use uuid::Uuid;

use crate::admin_helpers::*;
use crate::helpers::TestApp;

async fn all_perm_ids(app: &TestApp) -> Vec<String> {
    app.db
        .client()
        .await
        .query("SELECT id FROM permissions ORDER BY codename", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, Uuid>(0).to_string())
        .collect()
}

async fn make_group(app: &TestApp, name: &str, codenames: &[&str]) -> Uuid {
    let id = Uuid::now_v7();
    let db = app.db.client().await;
    db.execute(
        "INSERT INTO groups (id, name) VALUES ($1, $2)",
        &[&id, &name],
    )
    .await
    .unwrap();
    for c in codenames {
        let n = db
            .execute(
                "INSERT INTO group_permissions (group_id, permission_id) \
                 SELECT $1, id FROM permissions WHERE codename = $2",
                &[&id, c],
            )
            .await
            .unwrap();
        assert_eq!(n, 1, "no permission {c}");
    }
    id
}

async fn join(app: &TestApp, user: Uuid, group: Uuid) {
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)",
            &[&user, &group],
        )
        .await
        .unwrap();
}

async fn is_member(app: &TestApp, user: Uuid, group: Uuid) -> bool {
    app.db
        .client()
        .await
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM user_groups WHERE user_id = $1 AND group_id = $2)",
            &[&user, &group],
        )
        .await
        .unwrap()
        .get(0)
}

async fn group_codenames(app: &TestApp, group: Uuid) -> Vec<String> {
    app.db
        .client()
        .await
        .query(
            "SELECT p.codename FROM group_permissions g JOIN permissions p \
             ON p.id = g.permission_id WHERE g.group_id = $1 ORDER BY 1",
            &[&group],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn group_name(app: &TestApp, group: Uuid) -> String {
    app.db
        .client()
        .await
        .query_one("SELECT name FROM groups WHERE id = $1", &[&group])
        .await
        .unwrap()
        .get(0)
}

/// Every `admin_log` row, of any object.
async fn log_count(app: &TestApp) -> i64 {
    app.db
        .client()
        .await
        .query_one("SELECT count(*) FROM admin_log", &[])
        .await
        .unwrap()
        .get(0)
}

/// (is_active, is_superuser, session_epoch, password_hash, direct permissions) of a user.
async fn user_state(app: &TestApp, id: Uuid) -> (bool, bool, i32, Option<String>, i64) {
    let row = app
        .db
        .client()
        .await
        .query_one(
            "SELECT is_active, is_superuser, session_epoch, password_hash, \
             (SELECT count(*) FROM user_permissions WHERE user_id = $1) FROM users WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(r#" {name}=""#);
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + end]))
}

/// What a browser submits from the form posting to `action`: named, enabled inputs (checkboxes
/// only when ticked). Enough for these forms (no selects or textareas among them).
fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!(r#"<form method="post" action="{action}""#))
        .expect("the page has the form");
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    form.match_indices("<input")
        .filter_map(|(i, _)| {
            let tag = &form[i..i + form[i..].find('>')?];
            let name = attr(tag, "name")?;
            let kind = attr(tag, "type").unwrap_or_default();
            if tag.contains(" disabled") || (kind == "checkbox" && !tag.contains(" checked")) {
                return None;
            }
            Some((name, attr(tag, "value").unwrap_or_default()))
        })
        .collect()
}

/// Posts `fields` (pairs of owned strings) to `path`.
async fn post_fields(app: &TestApp, path: &str, fields: &[(String, String)]) -> reqwest::Response {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_raw(app, path, &borrowed).await
}

/// The change form of `page` as a browser would submit it, with `extra` fields added.
async fn honest_post(app: &TestApp, page: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let html = text(app, page).await;
    let mut fields = form_fields(&html, page);
    fields.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    post_fields(app, page, &fields).await
}

async fn assert_forbidden(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 403, "{what}");
    assert!(
        response.text().await.unwrap().contains("Permission denied"),
        "{what}: the admin's 403 page"
    );
}

/// The reproduction from the issue: a non-superuser with `groups.change`, member of a group,
/// ticks all 12 permissions on it.
#[actix_web::test]
async fn group_editor_cannot_tick_permissions_onto_their_own_group() {
    let app = spawn_admin_app().await;
    let mallory = create_user(&app, NewAccount::staff("mallory")).await;
    let helpers = make_group(&app, "Helpers", &["groups.change", "groups.view"]).await;
    join(&app, mallory, helpers).await;
    login_ok(&app, "mallory").await;
    let page = format!("/admin/groups/{helpers}/change/");
    let all = all_perm_ids(&app).await;
    assert_eq!(all.len(), 12);

    let html = text(&app, &page).await;
    let mut fields = vec![
        ("csrfmiddlewaretoken".to_owned(), csrf_from(&html)),
        ("updated_at".to_owned(), lock_from(&html)),
        ("name".to_owned(), "Helpers".to_owned()),
    ];
    fields.extend(all.iter().map(|p| ("permissions".to_owned(), p.clone())));
    assert_forbidden(post_fields(&app, &page, &fields).await, "tick all 12").await;
    assert_eq!(
        group_codenames(&app, helpers).await,
        ["groups.change", "groups.view"]
    );
    assert_eq!(log_count(&app).await, 0, "no history row");
    assert_eq!(
        app.get("/admin/users/").await.status(),
        403,
        "still no rights"
    );

    // The form does not offer them: shown disabled, the ticked ones carried back hidden.
    assert!(html.contains("Only superusers may change a group"));
    let users_delete = permission_id(&app, "users.delete").await;
    assert!(html.contains(&format!(r#"id="id_perm_{users_delete}" disabled"#)));
    assert!(!html.contains(&format!(r#"name="permissions" value="{users_delete}""#)));

    // Taking one away is changing the permissions too.
    let groups_view = permission_id(&app, "groups.view").await;
    let response = post_fields(
        &app,
        &page,
        &[
            ("csrfmiddlewaretoken".into(), csrf_from(&html)),
            ("updated_at".into(), lock_from(&html)),
            ("name".into(), "Helpers".into()),
            ("permissions".into(), groups_view),
        ],
    )
    .await;
    assert_forbidden(response, "untick one").await;

    // Nor may a new group come with permissions.
    grant(&app, mallory, "groups.add").await;
    let response = post_from(
        &app,
        "/admin/groups/add/",
        "/admin/groups/add/",
        &[("name", "Backdoor"), ("permissions", &users_delete)],
    )
    .await;
    assert_forbidden(response, "add with permissions").await;
    let backdoors: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM groups WHERE name = 'Backdoor'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(backdoors, 0);
    assert_eq!(log_count(&app).await, 0, "no history row");

    // The form as the browser sends it still renames the group and keeps its permissions.
    let response = honest_post(&app, &page, &[]).await;
    assert_eq!(response.status(), 303, "unchanged save");
    let html = text(&app, &page).await;
    let mut fields = form_fields(&html, &page);
    fields.retain(|(k, _)| k != "name");
    fields.push(("name".into(), "Helpdesk".into()));
    assert_eq!(post_fields(&app, &page, &fields).await.status(), 303);
    assert_eq!(group_name(&app, helpers).await, "Helpdesk");
    assert_eq!(
        group_codenames(&app, helpers).await,
        ["groups.change", "groups.view"]
    );
    // And a group added without permissions is fine.
    let response = post_from(
        &app,
        "/admin/groups/add/",
        "/admin/groups/add/",
        &[("name", "Empty")],
    )
    .await;
    assert_eq!(response.status(), 303);
}

#[actix_web::test]
async fn group_editor_manages_only_groups_within_their_rights() {
    let app = spawn_admin_app().await;
    let mallory = create_user(&app, NewAccount::staff("mallory")).await;
    for perm in [
        "users.view",
        "users.change",
        "groups.view",
        "groups.change",
        "articles.view",
    ] {
        grant(&app, mallory, perm).await;
    }
    let readers = make_group(&app, "Readers", &["articles.view"]).await;
    let admins = make_group(&app, "Admins", &["users.delete"]).await;
    let carol = create_user(
        &app,
        NewAccount {
            staff: false,
            ..NewAccount::staff("carol")
        },
    )
    .await;
    login_ok(&app, "mallory").await;
    let (readers_s, admins_s) = (readers.to_string(), admins.to_string());

    // A weaker group may be renamed.
    let page = format!("/admin/groups/{readers}/change/");
    let html = text(&app, &page).await;
    let mut fields = form_fields(&html, &page);
    fields.retain(|(k, _)| k != "name");
    fields.push(("name".into(), "Article readers".into()));
    assert_eq!(post_fields(&app, &page, &fields).await.status(), 303);
    assert_eq!(group_name(&app, readers).await, "Article readers");
    assert_eq!(group_codenames(&app, readers).await, ["articles.view"]);
    let logged = log_count(&app).await;

    // A stronger one is read-only, and its save refused.
    let page = format!("/admin/groups/{admins}/change/");
    let html = text(&app, &page).await;
    let users_delete = permission_id(&app, "users.delete").await;
    let response = post_fields(
        &app,
        &page,
        &[
            ("csrfmiddlewaretoken".into(), csrf_from(&html)),
            ("updated_at".into(), lock_from(&html)),
            ("name".into(), "Renamed".into()),
            ("permissions".into(), users_delete),
        ],
    )
    .await;
    assert_forbidden(response, "rename a stronger group").await;
    assert_eq!(group_name(&app, admins).await, "Admins");
    assert!(html.contains("grants permissions you do not hold"));
    assert!(!html.contains(r#"name="_save""#));

    // Membership: a stronger group is refused, and not offered.
    let page = format!("/admin/users/{carol}/change/");
    assert_forbidden(
        honest_post(&app, &page, &[("groups", &admins_s)]).await,
        "into a stronger group",
    )
    .await;
    assert!(!is_member(&app, carol, admins).await);
    let html = text(&app, &page).await;
    assert!(html.contains(&format!(r#"name="groups" value="{readers}""#)));
    assert!(html.contains(&format!(r#"id="id_group_{admins}" disabled"#)));
    assert!(!html.contains(&format!(r#"name="groups" value="{admins}""#)));
    // Direct permissions and superuser status stay a superuser's.
    let articles_view = permission_id(&app, "articles.view").await;
    assert_forbidden(
        honest_post(&app, &page, &[("user_permissions", &articles_view)]).await,
        "direct permission",
    )
    .await;
    assert_forbidden(
        honest_post(&app, &page, &[("is_superuser", "1")]).await,
        "superuser status",
    )
    .await;
    assert_eq!(user_state(&app, carol).await.4, 0, "no direct permission");
    assert!(!user_state(&app, carol).await.1, "not a superuser");
    assert_eq!(log_count(&app).await, logged, "nothing written");

    let response = honest_post(&app, &page, &[("groups", &readers_s)]).await;
    assert_eq!(response.status(), 303, "into a weaker group");
    assert!(is_member(&app, carol, readers).await);
    // Out again: the browser's form no longer ticks it.
    let html = text(&app, &page).await;
    let fields: Vec<_> = form_fields(&html, &page)
        .into_iter()
        .filter(|(k, v)| !(k == "groups" && *v == readers_s))
        .collect();
    assert_eq!(post_fields(&app, &page, &fields).await.status(), 303);
    assert!(!is_member(&app, carol, readers).await);

    // Nor into the stronger group herself.
    let logged = log_count(&app).await;
    let own = format!("/admin/users/{mallory}/change/");
    assert_forbidden(
        honest_post(&app, &own, &[("groups", &admins_s)]).await,
        "herself into a stronger group",
    )
    .await;
    assert!(!is_member(&app, mallory, admins).await);
    assert_eq!(log_count(&app).await, logged, "nothing written");
}

#[actix_web::test]
async fn users_change_staff_cannot_take_over_stronger_accounts() {
    let app = spawn_admin_app().await;
    let helpdesk = create_user(&app, NewAccount::staff("helpdesk")).await;
    for perm in ["users.view", "users.change", "users.delete"] {
        grant(&app, helpdesk, perm).await;
    }
    // Stronger: holds articles.delete, which helpdesk lacks (through a group, so effective
    // rights are what count).
    let ops = create_user(&app, NewAccount::staff("ops")).await;
    let editors = make_group(&app, "Editors", &["articles.delete"]).await;
    join(&app, ops, editors).await;
    grant(&app, ops, "users.change").await;
    // Weaker: only users.view.
    let intern = create_user(&app, NewAccount::staff("intern")).await;
    grant(&app, intern, "users.view").await;
    let viewers = make_group(&app, "Viewers", &["users.view"]).await;
    login_ok(&app, "helpdesk").await;
    let before = user_state(&app, ops).await;
    let new_password = [
        ("password1", "violet-harbour-77"),
        ("password2", "violet-harbour-77"),
    ];

    let html = text(&app, &format!("/admin/users/{ops}/change/")).await;
    let lock = lock_from(&html);
    for (path, fields) in [
        (
            format!("/admin/users/{ops}/password/"),
            new_password.to_vec(),
        ),
        (
            format!("/admin/users/{ops}/change/"),
            vec![
                ("username", "ops"),
                ("email", "mine@example.com"),
                ("is_active", "1"),
                ("is_staff", "1"),
                ("updated_at", lock.as_str()),
            ],
        ),
        (
            // Deactivation through the form: `is_active` left out.
            format!("/admin/users/{ops}/change/"),
            vec![
                ("username", "ops"),
                ("is_staff", "1"),
                ("updated_at", lock.as_str()),
            ],
        ),
        (format!("/admin/users/{ops}/signout/"), vec![]),
        (format!("/admin/users/{ops}/delete/"), vec![]),
    ] {
        assert_forbidden(post_admin(&app, &path, &fields).await, &path).await;
    }

    // Bulk actions are refused whole when any ticked account is out of reach, at the
    // confirmation page and at the confirmed post.
    let (ops_s, intern_s) = (ops.to_string(), intern.to_string());
    for action in ["delete", "activate", "deactivate", "signout"] {
        for confirm in ["", "yes"] {
            let response = post_admin(
                &app,
                "/admin/users/",
                &[
                    ("action", action),
                    ("_selected_action", intern_s.as_str()),
                    ("_selected_action", ops_s.as_str()),
                    ("confirm", confirm),
                ],
            )
            .await;
            assert_forbidden(response, &format!("bulk {action} {confirm}")).await;
        }
    }
    assert_eq!(log_count(&app).await, 0, "nothing written");
    assert_eq!(user_state(&app, ops).await, before, "ops untouched");
    assert!(user_state(&app, intern).await.0, "intern still active");
    // Their pages say so and offer none of it.
    assert!(html.contains("View user") && html.contains("holds permissions you do not"));
    assert!(!html.contains(&format!("/admin/users/{ops}/password/")));
    assert!(!html.contains(&format!("/admin/users/{ops}/signout/")));
    for page in ["password", "delete"] {
        let path = format!("/admin/users/{ops}/{page}/");
        assert_eq!(app.get(&path).await.status(), 403, "GET {path}");
    }

    // Membership needs groups.change, even of a weaker group.
    assert_forbidden(
        honest_post(
            &app,
            &format!("/admin/users/{intern}/change/"),
            &[("groups", &viewers.to_string())],
        )
        .await,
        "membership without groups.change",
    )
    .await;
    assert!(!is_member(&app, intern, viewers).await);

    // The weaker account: every one of those works.
    let page = format!("/admin/users/{intern}/change/");
    let html = text(&app, &page).await;
    assert!(html.contains(&format!("/admin/users/{intern}/password/")));
    let response = post_admin(
        &app,
        &format!("/admin/users/{intern}/password/"),
        &new_password,
    )
    .await;
    assert_eq!(response.status(), 303, "set the password");
    assert_eq!(
        honest_post(&app, &page, &[]).await.status(),
        303,
        "edit (save)"
    );
    let response = post_admin(&app, &format!("/admin/users/{intern}/signout/"), &[]).await;
    assert_eq!(response.status(), 303, "sign out");
    for action in ["deactivate", "activate", "signout"] {
        let response = bulk_user_action(&app, action, intern).await;
        assert_eq!(response.status(), 303, "bulk {action}");
    }
    let response = post_admin(&app, &format!("/admin/users/{intern}/delete/"), &[]).await;
    assert_eq!(response.status(), 303, "delete");
    assert_eq!(log_count(&app).await, 7);
    // Intern's account is gone; ops still signs in with the old password.
    assert_eq!(login(&app, "ops", PASSWORD).await.status(), 303);
}

/// A hijacked session must not make itself permanent: one's own password needs the old one, so
/// `/admin/users/<self>/password/` refuses, superusers included.
#[actix_web::test]
async fn own_password_is_set_only_through_password_change() {
    for superuser in [false, true] {
        let app = spawn_admin_app().await;
        let account = NewAccount {
            superuser,
            ..NewAccount::staff("me")
        };
        let me = create_user(&app, account).await;
        if !superuser {
            grant(&app, me, "users.view").await;
            grant(&app, me, "users.change").await;
        }
        login_ok(&app, "me").await;
        let page = format!("/admin/users/{me}/password/");

        let before = user_state(&app, me).await;
        let response = post_admin(
            &app,
            &page,
            &[
                ("password1", "violet-harbour-77"),
                ("password2", "violet-harbour-77"),
            ],
        )
        .await;
        assert_forbidden(response, &format!("superuser: {superuser}")).await;
        assert_eq!(user_state(&app, me).await, before, "password unchanged");
        assert_eq!(log_count(&app).await, 0);
        let response = app.get(&page).await;
        assert_eq!(response.status(), 303, "superuser: {superuser}");
        assert_eq!(location(&response), "/admin/password_change/");
        let html = text(&app, &format!("/admin/users/{me}/change/")).await;
        assert!(html.contains(r#"href="/admin/password_change/""#));
        assert!(!html.contains(&page));
        // The session goes on, and the old password still works.
        assert_eq!(app.get("/admin/").await.status(), 200);
        post_admin(&app, "/admin/logout/", &[]).await;
        login_ok(&app, "me").await;
    }
}

/// A superuser still grants everything: superuser status, direct permissions, any group.
#[actix_web::test]
async fn superusers_grant_everything() {
    let (app, _) = app_as_superuser().await;
    let admins = make_group(&app, "Admins", &["users.delete"]).await;
    let bob = create_user(&app, NewAccount::staff("bob")).await;
    let page = format!("/admin/users/{bob}/change/");
    let users_delete = permission_id(&app, "users.delete").await;
    let response = honest_post(
        &app,
        &page,
        &[
            ("groups", &admins.to_string()),
            ("user_permissions", &users_delete),
            ("is_superuser", "1"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let (_, is_superuser, _, _, direct) = user_state(&app, bob).await;
    assert!(is_superuser && direct == 1 && is_member(&app, bob, admins).await);

    let page = format!("/admin/groups/{admins}/change/");
    let response = honest_post(
        &app,
        &page,
        &[("permissions", &permission_id(&app, "users.add").await)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        group_codenames(&app, admins).await,
        ["users.add", "users.delete"]
    );
}

/// A form re-shown after a conflict shows what the viewer may not change as stored, so saving
/// it again goes through instead of undoing (and being refused for) a superuser's change.
#[actix_web::test]
async fn a_conflict_does_not_carry_back_what_one_may_not_change() {
    let app = spawn_admin_app().await;
    let mallory = create_user(&app, NewAccount::staff("mallory")).await;
    // Without groups.change: groups are locked for her, however weak.
    for perm in ["users.view", "users.change"] {
        grant(&app, mallory, perm).await;
    }
    let carol = create_user(&app, NewAccount::staff("carol")).await;
    let viewers = make_group(&app, "Viewers", &["users.view"]).await;
    login_ok(&app, "mallory").await;
    let page = format!("/admin/users/{carol}/change/");
    let old_form = form_fields(&text(&app, &page).await, &page);

    // Meanwhile a superuser grants carol a direct permission and a group (as the admin's save
    // would: with the row's version moved on); carol stays within mallory's reach.
    let db = app.db.client().await;
    db.execute(
        "INSERT INTO user_permissions (user_id, permission_id) \
         SELECT $1, id FROM permissions WHERE codename = 'users.view'",
        &[&carol],
    )
    .await
    .unwrap();
    join(&app, carol, viewers).await;
    db.execute(
        "UPDATE users SET updated_at = updated_at + interval '1 second' WHERE id = $1",
        &[&carol],
    )
    .await
    .unwrap();

    let response = post_fields(&app, &page, &old_form).await;
    assert_eq!(response.status(), 409, "stale, not forbidden");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!(r#"id="id_group_{viewers}" disabled checked"#)));
    let response = post_fields(&app, &page, &form_fields(&html, &page)).await;
    assert_eq!(response.status(), 303, "the re-shown form saves");
    assert!(
        is_member(&app, carol, viewers).await,
        "the superuser's change stands"
    );
    assert_eq!(user_state(&app, carol).await.4, 1);
}

/// Deleting a group takes its rights from every member at once: a non-superuser with
/// `groups.delete` could strip a stronger account of rights they do not hold (and so bring it
/// within their reach, then set its password). Like membership, only groups whose permissions
/// are all the actor's own may be deleted, singly or in bulk; nothing is written otherwise.
#[actix_web::test]
async fn group_deleter_deletes_only_groups_within_their_rights() {
    let app = spawn_admin_app().await;
    let mallory = create_user(&app, NewAccount::staff("mallory")).await;
    for perm in ["users.view", "users.change", "groups.view", "groups.delete"] {
        grant(&app, mallory, perm).await;
    }
    let ops = create_user(&app, NewAccount::staff("ops")).await;
    let editors = make_group(&app, "Editors", &["articles.delete"]).await;
    join(&app, ops, editors).await;
    let empty = make_group(&app, "Empty", &[]).await;
    login_ok(&app, "mallory").await;
    let (editors_s, empty_s) = (editors.to_string(), empty.to_string());

    assert_eq!(
        app.get(&format!("/admin/groups/{editors}/delete/"))
            .await
            .status(),
        403
    );
    let path = format!("/admin/groups/{editors}/delete/");
    assert_forbidden(post_admin(&app, &path, &[]).await, "delete").await;
    for confirm in ["", "yes"] {
        let response = post_admin(
            &app,
            "/admin/groups/",
            &[
                ("action", "delete_selected"),
                ("_selected_action", empty_s.as_str()),
                ("_selected_action", editors_s.as_str()),
                ("confirm", confirm),
            ],
        )
        .await;
        assert_forbidden(response, &format!("bulk delete {confirm}")).await;
    }
    assert_eq!(group_name(&app, editors).await, "Editors");
    assert_eq!(group_name(&app, empty).await, "Empty");
    assert!(is_member(&app, ops, editors).await);
    assert_eq!(log_count(&app).await, 0, "nothing written");

    // A group within reach is deleted as before.
    let path = format!("/admin/groups/{empty}/delete/");
    assert_eq!(post_admin(&app, &path, &[]).await.status(), 303);
    assert_eq!(log_count(&app).await, 1);
}
