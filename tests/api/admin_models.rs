//! Groups and articles admins.

use uuid::Uuid;

use crate::admin_helpers::*;

#[actix_web::test]
async fn groups_grant_permissions_to_their_members() {
    let (app, _) = app_as_superuser().await;
    let view = permission_id(&app, "articles.view").await;

    let html = text(&app, "/admin/groups/add/").await;
    assert!(html.contains("Can view article"));
    let response = post_admin(&app, "/admin/groups/add/", &[("name", "")]).await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This field is required.")
    );
    let response = post_admin(
        &app,
        "/admin/groups/add/",
        &[
            ("name", "Editors"),
            ("permissions", &view),
            ("_continue", "1"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let change = location(&response);
    let html = text(&app, &change).await;
    assert!(html.contains("was added successfully"));
    assert!(html.contains(&format!(r#"value="{view}" checked"#)));
    // Names are unique in any case.
    let response = post_admin(&app, "/admin/groups/add/", &[("name", "editors")]).await;
    assert!(response.text().await.unwrap().contains("already exists"));

    let html = text(&app, "/admin/groups/?q=edit").await;
    assert!(html.contains(">Editors</a>") && html.contains("1 group"));

    // A member of the group may view articles, and nothing else.
    let editor = create_user(&app, NewAccount::staff("editor")).await;
    let group_id: Uuid = change.split('/').nth(3).unwrap().parse().unwrap();
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)",
            &[&editor, &group_id],
        )
        .await
        .unwrap();
    login_ok(&app, "editor").await;
    assert_eq!(app.get("/admin/articles/").await.status(), 200);
    assert_eq!(app.get("/admin/groups/").await.status(), 403);
    assert_eq!(app.get("/admin/articles/add/").await.status(), 403);

    login_ok(&app, "root").await;
    let html = text(&app, &format!("/admin/groups/{group_id}/delete/")).await;
    assert!(html.contains("1 membership(s)"));
    let response = post_admin(&app, &format!("/admin/groups/{group_id}/delete/"), &[]).await;
    assert_eq!(response.status(), 303);
    let rows: i64 = app
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM admin_log WHERE object_type = 'groups' AND object_id = $1",
            &[&group_id.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 2, "add and delete");
}

#[actix_web::test]
async fn articles_are_listed_searched_filtered_and_edited() {
    let (app, _) = app_as_superuser().await;
    create_user(&app, NewAccount::staff("writer")).await;

    let response = post_admin(
        &app,
        "/admin/articles/add/",
        &[
            ("name", &"x".repeat(51)),
            ("author", "nobody"),
            ("body", "text"),
        ],
    )
    .await;
    let html = response.text().await.unwrap();
    assert!(html.contains("at most 50 characters"));
    assert!(html.contains("No user with that username."));
    assert!(html.contains(">text</textarea>"), "values kept");

    for (name, author) in [
        ("Rust tips", "writer"),
        ("Cooking", "root"),
        ("Rust news", "Root"),
    ] {
        let response = post_admin(
            &app,
            "/admin/articles/add/",
            &[("name", name), ("author", author), ("body", "…")],
        )
        .await;
        assert_eq!(response.status(), 303, "{name}");
    }

    let html = text(&app, "/admin/articles/?q=rust").await;
    assert!(html.contains("2 articles"));
    let html = text(&app, "/admin/articles/?author=ROOT").await;
    assert!(html.contains("2 articles") && html.contains(">Cooking</a>"));
    let html = text(&app, "/admin/articles/?q=rust&author=writer&o=-name").await;
    assert!(html.contains("1 article") && html.contains(">Rust tips</a>"));

    let id: Uuid = app
        .db
        .client()
        .await
        .query_one("SELECT id FROM articles WHERE name = 'Cooking'", &[])
        .await
        .unwrap()
        .get(0);
    let change = format!("/admin/articles/{id}/change/");
    let lock = lock_from(&text(&app, &change).await);
    let response = post_admin(
        &app,
        &change,
        &[
            ("name", "Baking"),
            ("author", "writer"),
            ("body", "…"),
            ("updated_at", &lock),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    // The same form saved again is stale: 409, the entries kept, nothing overwritten.
    let response = post_admin(
        &app,
        &change,
        &[
            ("name", "Frying"),
            ("author", "writer"),
            ("body", "…"),
            ("updated_at", &lock),
        ],
    )
    .await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("changed by someone else") && html.contains(r#"value="Frying""#));
    assert!(text(&app, &change).await.contains(r#"value="Baking""#));
    let html = text(&app, &format!("/admin/articles/{id}/history/")).await;
    assert!(html.contains("Cooking → Baking"));
    assert!(html.contains("root → writer"));

    let response = post_admin(&app, &format!("/admin/articles/{id}/delete/"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.get(&format!("/admin/articles/{id}/change/"))
            .await
            .status(),
        404
    );
    let recent = text(&app, "/admin/").await;
    assert!(recent.contains("Baking") && recent.contains("delete"));
}

#[actix_web::test]
async fn group_and_article_pages_check_each_permission() {
    let app = spawn_admin_app().await;
    let staff = create_user(&app, NewAccount::staff("staff")).await;
    let author = create_user(&app, NewAccount::staff("author")).await;
    let db = app.db.client().await;
    let group: Uuid = db
        .query_one(
            "INSERT INTO groups (id, name) VALUES (gen_random_uuid(), 'Ops') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let article: Uuid = db
        .query_one(
            "INSERT INTO articles (id, name, author_id) VALUES (gen_random_uuid(), 'Hi', $1) \
             RETURNING id",
            &[&author],
        )
        .await
        .unwrap()
        .get(0);
    login_ok(&app, "staff").await;

    for path in [
        "/admin/groups/".to_owned(),
        "/admin/groups/add/".to_owned(),
        format!("/admin/groups/{group}/change/"),
        format!("/admin/groups/{group}/history/"),
        "/admin/articles/".to_owned(),
        format!("/admin/articles/{article}/change/"),
        format!("/admin/articles/{article}/delete/"),
    ] {
        assert_eq!(app.get(&path).await.status(), 403, "GET {path}");
    }

    grant(&app, staff, "articles.view").await;
    grant(&app, staff, "groups.view").await;
    let html = text(&app, "/admin/articles/").await;
    assert!(!html.contains("/admin/articles/add/"), "no add link");
    let html = text(&app, &format!("/admin/articles/{article}/change/")).await;
    assert!(!html.contains(r#"name="_save""#) && !html.contains("/delete/"));
    for (path, fields) in [
        ("/admin/groups/add/".to_owned(), vec![("name", "X")]),
        (
            format!("/admin/groups/{group}/change/"),
            vec![("name", "X")],
        ),
        (format!("/admin/groups/{group}/delete/"), vec![]),
        (
            "/admin/articles/add/".to_owned(),
            vec![("name", "X"), ("author", "author")],
        ),
        (
            format!("/admin/articles/{article}/change/"),
            vec![("name", "X"), ("author", "author")],
        ),
        (format!("/admin/articles/{article}/delete/"), vec![]),
    ] {
        assert_eq!(
            post_admin(&app, &path, &fields).await.status(),
            403,
            "POST {path}"
        );
    }
    let changed: i64 = db
        .query_one("SELECT count(*) FROM admin_log", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(changed, 0, "nothing was written");
}

#[actix_web::test]
async fn user_data_is_escaped_everywhere_it_is_shown() {
    let (app, _) = app_as_superuser().await;
    let evil = r#"<script>alert("x")</script>"#;
    let response = post_admin(
        &app,
        "/admin/articles/add/",
        &[
            ("name", evil),
            ("author", "root"),
            ("body", evil),
            ("_continue", "1"),
        ],
    )
    .await;
    let change = location(&response);
    let id = change.split('/').nth(3).unwrap().to_owned();

    for path in [
        "/admin/articles/".to_owned(),
        change.clone(),
        format!("/admin/articles/{id}/history/"),
        format!("/admin/articles/{id}/delete/"),
        "/admin/".to_owned(),
    ] {
        let html = text(&app, &path).await;
        assert!(!html.contains("<script>alert"), "unescaped on {path}");
        assert!(
            html.contains("&#60;script&#62;alert"),
            "shown escaped on {path}"
        );
    }
}

#[actix_web::test]
async fn articles_and_groups_are_deleted_in_bulk_after_confirmation() {
    let (app, root) = app_as_superuser().await;
    let db = app.db.client().await;
    let mut ids = Vec::new();
    for name in ["One", "Two", "Three"] {
        let id: Uuid = db
            .query_one(
                "INSERT INTO articles (id, name, author_id) VALUES (gen_random_uuid(), $1, $2) \
                 RETURNING id",
                &[&name, &root],
            )
            .await
            .unwrap()
            .get(0);
        ids.push(id.to_string());
    }
    let group: Uuid = db
        .query_one(
            "INSERT INTO groups (id, name) VALUES (gen_random_uuid(), 'Ops') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let html = text(&app, "/admin/articles/").await;
    assert!(html.contains(r#"name="_selected_action""#) && html.contains("Delete selected"));
    let selection = [
        ("_selected_action", ids[0].as_str()),
        ("_selected_action", ids[1].as_str()),
    ];
    let response = post_admin(&app, "/admin/articles/", &selection).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Are you sure?") && html.contains("One (by root)"));
    let mut confirmed = selection.to_vec();
    confirmed.push(("confirm", "yes"));
    let response = post_admin(&app, "/admin/articles/", &confirmed).await;
    assert_eq!(response.status(), 303);
    assert!(
        text(&app, "/admin/articles/")
            .await
            .contains("Successfully deleted 2 article(s).")
    );
    let left: i64 = db
        .query_one("SELECT count(*) FROM articles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
    let logged: i64 = db
        .query_one(
            "SELECT count(*) FROM admin_log WHERE object_type = 'articles' AND action = 'delete'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 2, "one history row per article");

    let group_s = group.to_string();
    let response = post_admin(
        &app,
        "/admin/groups/",
        &[("_selected_action", group_s.as_str()), ("confirm", "yes")],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.get(&format!("/admin/groups/{group}/change/"))
            .await
            .status(),
        404
    );

    // Without the delete permission: no checkboxes, and the post is refused.
    let viewer = create_user(&app, NewAccount::staff("viewer")).await;
    grant(&app, viewer, "articles.view").await;
    login_ok(&app, "viewer").await;
    let html = text(&app, "/admin/articles/").await;
    assert!(!html.contains("Delete selected"));
    let response = post_admin(
        &app,
        "/admin/articles/",
        &[("_selected_action", ids[2].as_str()), ("confirm", "yes")],
    )
    .await;
    assert_eq!(response.status(), 403);
}
