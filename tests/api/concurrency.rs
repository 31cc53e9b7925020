//! Races: many first requests provisioning the same users, many staff saving the same object.
//!
//! Every request here is in flight at once (`join_all`); the app runs two workers with a pool of
//! ten connections, so requests really interleave in the database.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::admin_helpers::*;
use crate::cognito::*;
use crate::helpers::{TestApp, spawn_app_with};

/// Generous pool wait: 200 requests queue for 10 connections on a shared 2-core machine, and a
/// 503 here would be the test's own doing, not a race the app lost.
const RACE_SETTINGS: &[(&str, &str)] = &[
    ("WORKERS", "2"),
    ("DATABASE_POOL_SIZE", "10"),
    ("DATABASE_POOL_TIMEOUT_SECONDS", "60"),
];

fn histogram(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for s in statuses {
        *counts.entry(*s).or_default() += 1;
    }
    counts
}

async fn count(app: &TestApp, sql: &str, id: Uuid) -> i64 {
    app.db
        .client()
        .await
        .query_one(sql, &[&id.to_string()])
        .await
        .unwrap()
        .get(0)
}

/// History rows recording a change of the object `id`.
async fn change_rows(app: &TestApp, object_type: &str, id: Uuid) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM admin_log WHERE object_type = '{object_type}' \
         AND object_id = $1 AND action = 'change'"
    );
    count(app, &sql, id).await
}

#[actix_web::test]
async fn a_thousand_first_requests_for_a_hundred_new_users_make_exactly_a_hundred_rows() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, RACE_SETTINGS).await;
    // Half the users have names of their own; the other half all claim the same Cognito user
    // name, which only one of them can have here (the others are named by their sub).
    let users: Vec<(String, String)> = (0..100)
        .map(|i| {
            let sub = new_sub();
            let name = if i < 50 {
                format!("racer{i}")
            } else {
                "popular".to_owned()
            };
            let token = access_key().sign(&access_claims(&sub, &name));
            (sub, token)
        })
        .collect();
    // Ten requests per user, interleaved: user 0, 1, …, 99, 0, 1, …
    let app = &app;
    let requests = (0..1000).map(|n| {
        let (sub, token) = &users[n % 100];
        async move {
            let response = app.me(token).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (sub.clone(), status, body)
        }
    });
    let started = std::time::Instant::now();
    let answers = join_all(requests).await;
    let elapsed = started.elapsed();

    let statuses: Vec<u16> = answers.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(histogram(&statuses), BTreeMap::from([(200, 1000)]));
    // Every answer for one sub names the same local user.
    let mut ids: HashMap<&str, HashSet<String>> = HashMap::new();
    for (sub, _, body) in &answers {
        ids.entry(sub)
            .or_default()
            .insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 100);
    assert!(ids.values().all(|set| set.len() == 1), "{ids:?}");

    let db = app.db.client().await;
    let rows: i64 = db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 100, "exactly one row per new user");
    let popular: i64 = db
        .query_one("SELECT count(*) FROM users WHERE username = 'popular'", &[])
        .await
        .unwrap()
        .get(0);
    let by_sub: i64 = db
        .query_one(
            "SELECT count(*) FROM users WHERE username = cognito_sub",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!((popular, by_sub), (1, 49));
    eprintln!("1000 concurrent first requests for 100 users: {elapsed:?}");
}

/// A signed-in superuser, a plain user to edit, and the change form's CSRF and lock tokens.
async fn admin_and_target() -> (TestApp, Uuid) {
    let settings: Vec<(&str, &str)> = [("COOKIE_SECURE", "false")]
        .into_iter()
        .chain(RACE_SETTINGS.iter().copied())
        .collect();
    let app = spawn_app_with(&settings).await;
    create_user(&app, NewAccount::superuser("root")).await;
    login_ok(&app, "root").await;
    let target = create_user(
        &app,
        NewAccount {
            staff: false,
            ..NewAccount::staff("target")
        },
    )
    .await;
    (app, target)
}

async fn form(app: &TestApp, page: &str) -> String {
    let response = app.get(page).await;
    assert_eq!(response.status(), 200, "GET {page}");
    response.text().await.unwrap()
}

/// The values of the ticked checkboxes named `name` on a form.
fn checked(html: &str, name: &str) -> Vec<String> {
    let marker = format!(r#"name="{name}" value=""#);
    html.match_indices(&marker)
        .filter_map(|(i, _)| {
            let rest = &html[i + marker.len()..];
            let end = rest.find('"')?;
            let after = &rest[end..rest.find('>')?];
            after.contains(" checked").then(|| rest[..end].to_owned())
        })
        .collect()
}

#[actix_web::test]
async fn two_hundred_racing_saves_of_one_user_one_wins_the_rest_get_409() {
    let (app, target) = admin_and_target().await;
    let page = format!("/admin/users/{target}/change/");
    let html = form(&app, &page).await;
    let (csrf, lock) = (csrf_from(&html), lock_from(&html));

    let saves = (0..200).map(|i| {
        let first_name = format!("Editor {i}");
        let fields = [
            ("csrfmiddlewaretoken", csrf.as_str()),
            ("username", "target"),
            ("email", ""),
            ("first_name", first_name.as_str()),
            ("last_name", ""),
            ("is_active", "1"),
            ("updated_at", lock.as_str()),
        ]
        .map(|(k, v)| (k, v.to_owned()));
        let app = &app;
        let page = &page;
        async move {
            let borrowed: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = post_raw(app, page, &borrowed).await;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            (i, status, body)
        }
    });
    let answers = join_all(saves).await;

    let statuses: Vec<u16> = answers.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(
        histogram(&statuses),
        BTreeMap::from([(303, 1), (409, 199)]),
        "exactly one save wins; every loser is told"
    );
    for (_, status, body) in &answers {
        if *status == 409 {
            assert!(body.contains("changed by someone else"), "{body}");
        }
    }
    let winner = answers.iter().find(|(_, s, _)| *s == 303).unwrap().0;
    let stored: String = app
        .db
        .client()
        .await
        .query_one("SELECT first_name FROM users WHERE id = $1", &[&target])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stored,
        format!("Editor {winner}"),
        "the winner's change stands"
    );
    assert_eq!(
        change_rows(&app, "users", target).await,
        1,
        "one change, one history row"
    );
}

#[actix_web::test]
async fn twenty_editors_who_retry_on_conflict_all_land_their_group_changes() {
    let (app, target) = admin_and_target().await;
    let db = app.db.client().await;
    let mut groups = Vec::new();
    for i in 0..20 {
        let id = Uuid::now_v7();
        db.execute(
            "INSERT INTO groups (id, name) VALUES ($1, $2)",
            &[&id, &format!("team{i:02}")],
        )
        .await
        .unwrap();
        groups.push(id.to_string());
    }
    let page = format!("/admin/users/{target}/change/");

    // Each editor adds one group to the user, and only that: a save that changes groups alone
    // must make the other open forms stale too, or one editor's group would silently vanish.
    let editors = groups.iter().map(|group| {
        let (app, page) = (&app, &page);
        async move {
            for attempt in 1..=400usize {
                let html = form(app, page).await;
                let mut fields = vec![
                    ("csrfmiddlewaretoken", csrf_from(&html)),
                    ("username", "target".to_owned()),
                    ("is_active", "1".to_owned()),
                    ("updated_at", lock_from(&html)),
                    ("groups", group.clone()),
                ];
                fields.extend(checked(&html, "groups").into_iter().map(|g| ("groups", g)));
                let borrowed: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                match post_raw(app, page, &borrowed).await.status().as_u16() {
                    303 => return attempt,
                    409 => continue,
                    other => panic!("unexpected {other}"),
                }
            }
            panic!("never got a save through")
        }
    });
    let attempts = join_all(editors).await;

    let members: i64 = db
        .query_one(
            "SELECT count(*) FROM user_groups WHERE user_id = $1",
            &[&target],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(members, 20, "every editor's group landed");
    assert_eq!(
        change_rows(&app, "users", target).await,
        20,
        "one history row per successful save"
    );
    let conflicts: usize = attempts.iter().map(|a| a - 1).sum();
    eprintln!("20 retrying editors: {conflicts} conflicts before all saves landed");
}

#[actix_web::test]
async fn group_and_article_forms_are_locked_too() {
    let (app, _) = admin_and_target().await;
    let db = app.db.client().await;
    let group = Uuid::now_v7();
    db.execute(
        "INSERT INTO groups (id, name) VALUES ($1, 'crew')",
        &[&group],
    )
    .await
    .unwrap();
    let root: Uuid = db
        .query_one("SELECT id FROM users WHERE username = 'root'", &[])
        .await
        .unwrap()
        .get(0);
    let article = Uuid::now_v7();
    db.execute(
        "INSERT INTO articles (id, name, body, author_id) VALUES ($1, 'draft', '', $2)",
        &[&article, &root],
    )
    .await
    .unwrap();

    // 50 racing saves of one form: one wins, 49 are told.
    for (kind, page) in [
        ("groups", format!("/admin/groups/{group}/change/")),
        ("articles", format!("/admin/articles/{article}/change/")),
    ] {
        let html = form(&app, &page).await;
        let (csrf, lock) = (csrf_from(&html), lock_from(&html));
        let saves = (0..50).map(|i| {
            let (app, page, csrf, lock) = (&app, &page, &csrf, &lock);
            async move {
                let name = format!("v{i}");
                let fields = [
                    ("csrfmiddlewaretoken", csrf.as_str()),
                    ("name", name.as_str()),
                    ("author", "root"),
                    ("body", "text"),
                    ("updated_at", lock.as_str()),
                ];
                post_raw(app, page, &fields).await.status().as_u16()
            }
        });
        let statuses = join_all(saves).await;
        assert_eq!(
            histogram(&statuses),
            BTreeMap::from([(303, 1), (409, 49)]),
            "{kind}"
        );
        let id = if kind == "groups" { group } else { article };
        assert_eq!(change_rows(&app, kind, id).await, 1, "{kind}");
    }

    // Twelve editors, each adding one permission to the group, retrying on conflict: all twelve
    // land, although no save changes the group's own row.
    let permissions: Vec<String> = db
        .query("SELECT id FROM permissions ORDER BY codename", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<_, Uuid>(0).to_string())
        .collect();
    let page = format!("/admin/groups/{group}/change/");
    let editors = permissions.iter().map(|permission| {
        let (app, page) = (&app, &page);
        async move {
            for _ in 0..400 {
                let html = form(app, page).await;
                let marker = r#"name="name" value=""#;
                let start = html.find(marker).unwrap() + marker.len();
                let name = html[start..][..html[start..].find('"').unwrap()].to_owned();
                let mut fields = vec![
                    ("csrfmiddlewaretoken", csrf_from(&html)),
                    ("name", name),
                    ("updated_at", lock_from(&html)),
                    ("permissions", permission.clone()),
                ];
                fields.extend(
                    checked(&html, "permissions")
                        .into_iter()
                        .map(|p| ("permissions", p)),
                );
                let borrowed: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                match post_raw(app, page, &borrowed).await.status().as_u16() {
                    303 => return,
                    409 => continue,
                    other => panic!("unexpected {other}"),
                }
            }
            panic!("never got a save through")
        }
    });
    join_all(editors).await;
    let granted: i64 = db
        .query_one(
            "SELECT count(*) FROM group_permissions WHERE group_id = $1",
            &[&group],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(granted as usize, permissions.len());
    assert_eq!(
        change_rows(&app, "groups", group).await as usize,
        1 + permissions.len()
    );
}

#[actix_web::test]
async fn two_hundred_racing_api_patches_with_one_etag_one_wins_the_rest_get_412() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, RACE_SETTINGS).await;
    let token = access_key().sign(&access_claims(&new_sub(), "writer"));
    let created = app
        .call(
            Method::POST,
            "/api/v1/articles",
            &token,
            Some(&json!({"name": "shared"})),
        )
        .await;
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let article: Value = created.json().await.unwrap();
    let path = format!("/api/v1/articles/{}", article["id"].as_str().unwrap());

    let patches = (0..200).map(|i| {
        let (app, path, token, etag) = (&app, &path, &token, &etag);
        async move {
            app.client
                .patch(format!("{}{path}", app.address))
                .bearer_auth(token)
                .header("If-Match", etag)
                .json(&json!({"body": format!("version {i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(patches).await;
    assert_eq!(histogram(&statuses), BTreeMap::from([(200, 1), (412, 199)]));
}
