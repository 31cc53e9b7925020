//! The articles API and PATCH /me, through real HTTP with minted tokens.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cognito::*;
use crate::helpers::TestApp;

struct Caller {
    token: String,
}

fn caller(username: &str, groups: &[&str]) -> Caller {
    let mut claims = access_claims(&new_sub(), username);
    if !groups.is_empty() {
        claims["cognito:groups"] = json!(groups);
    }
    Caller {
        token: access_key().sign(&claims),
    }
}

async fn api() -> (JwksServer, TestApp) {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    (jwks, app)
}

async fn create(app: &TestApp, who: &Caller, name: &str) -> Value {
    let response = app
        .call(
            Method::POST,
            "/api/v1/articles",
            &who.token,
            Some(&json!({"name": name, "body": "text"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn error(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

#[actix_web::test]
async fn create_sets_author_location_and_etag_and_trims_the_name() {
    let (_jwks, app) = api().await;
    let alice = caller("alice", &[]);

    let response = app
        .call(
            Method::POST,
            "/api/v1/articles",
            &alice.token,
            Some(&json!({"name": "  Hello  "})),
        )
        .await;

    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let article: Value = response.json().await.unwrap();
    assert_eq!(article["name"], "Hello");
    assert_eq!(article["body"], "");
    assert_eq!(article["author"]["username"], "alice");
    assert_eq!(
        location,
        format!("/api/v1/articles/{}", article["id"].as_str().unwrap())
    );
    let read = app.call(Method::GET, &location, &alice.token, None).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"].to_str().unwrap(), etag);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read, article);
    assert!(chrono::DateTime::parse_from_rfc3339(read["created_at"].as_str().unwrap()).is_ok());
}

#[actix_web::test]
async fn only_the_author_or_an_editor_may_change_others_may_read() {
    let (_jwks, app) = api().await;
    let (alice, bob, editor) = (
        caller("alice", &[]),
        caller("bob", &[]),
        caller("ed", &["editors"]),
    );
    let article = create(&app, &alice, "Mine").await;
    let path = format!("/api/v1/articles/{}", article["id"].as_str().unwrap());

    assert_eq!(
        app.call(Method::GET, &path, &bob.token, None)
            .await
            .status(),
        200
    );
    let (status, err) = error(
        app.call(
            Method::PATCH,
            &path,
            &bob.token,
            Some(&json!({"name": "Theirs"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (403, Some("permission_denied"))
    );
    let (status, _) = error(app.call(Method::DELETE, &path, &bob.token, None).await).await;
    assert_eq!(status, 403);

    let edited = app
        .call(
            Method::PATCH,
            &path,
            &editor.token,
            Some(&json!({"body": "edited"})),
        )
        .await;
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(
        (edited["name"].as_str(), edited["body"].as_str()),
        (Some("Mine"), Some("edited"))
    );
    assert_eq!(
        edited["author"]["username"], "alice",
        "an editor does not take authorship"
    );

    assert_eq!(
        app.call(Method::DELETE, &path, &alice.token, None)
            .await
            .status(),
        204
    );
    let (status, err) = error(app.call(Method::GET, &path, &alice.token, None).await).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
}

#[actix_web::test]
async fn a_stale_if_match_gets_412_and_the_current_one_succeeds() {
    let (_jwks, app) = api().await;
    let alice = caller("alice", &[]);
    let created = app
        .call(
            Method::POST,
            "/api/v1/articles",
            &alice.token,
            Some(&json!({"name": "v1"})),
        )
        .await;
    let first_etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let article: Value = created.json().await.unwrap();
    let path = format!("/api/v1/articles/{}", article["id"].as_str().unwrap());
    let patch = |etag: &str, name: &str| {
        app.client
            .patch(format!("{}{path}", app.address))
            .bearer_auth(&alice.token)
            .header("If-Match", etag)
            .json(&json!({ "name": name }))
            .send()
    };

    let second = patch(&first_etag, "v2").await.unwrap();
    assert_eq!(second.status(), 200);
    let second_etag = second.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(second_etag, first_etag);

    let (status, err) = error(patch(&first_etag, "v3").await.unwrap()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (412, Some("precondition_failed"))
    );
    assert_eq!(
        patch(&format!("W/{second_etag}"), "v3")
            .await
            .unwrap()
            .status(),
        412,
        "weak tags never match"
    );
    assert_eq!(patch(&second_etag, "v3").await.unwrap().status(), 200);
    let current: Value = app
        .call(Method::GET, &path, &alice.token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["name"], "v3");
    let stale_delete = app
        .client
        .delete(format!("{}{path}", app.address))
        .bearer_auth(&alice.token)
        .header("If-Match", &first_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale_delete.status(), 412);
}

#[actix_web::test]
async fn list_paginates_searches_and_orders() {
    let (_jwks, app) = api().await;
    let alice = caller("alice", &[]);
    for name in ["Rust 2024", "rusty nails", "Python", "50% off", "a_b"] {
        create(&app, &alice, name).await;
    }
    let list = |query: &str| {
        let app = &app;
        let token = alice.token.clone();
        let query = query.to_owned();
        async move {
            let response = app
                .call(
                    Method::GET,
                    &format!("/api/v1/articles{query}"),
                    &token,
                    None,
                )
                .await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let (_, newest) = list("").await;
    assert_eq!(newest["total"], 5);
    assert_eq!(names(&newest)[0], "a_b", "newest first by default");
    assert_eq!(newest["next"], Value::Null);

    let (_, page1) = list("?per_page=2").await;
    assert_eq!(names(&page1).len(), 2);
    assert_eq!(page1["next"], "/api/v1/articles?page=2&per_page=2");
    assert_eq!(page1["previous"], Value::Null);
    let (_, page3) = list("?per_page=2&page=3").await;
    assert_eq!(names(&page3).len(), 1);
    assert_eq!(page3["next"], Value::Null);

    let (status, past_end) = list("?page=99").await;
    assert_eq!(status, 200);
    assert_eq!(past_end["items"], json!([]));
    assert_eq!(past_end["total"], 5);

    let (_, search) = list("?search=RUST&ordering=name").await;
    assert_eq!(names(&search), ["Rust 2024", "rusty nails"]);
    let (_, percent) = list("?search=50%25").await;
    assert_eq!(names(&percent), ["50% off"], "% is a literal");
    let (_, underscore) = list("?search=_").await;
    assert_eq!(names(&underscore), ["a_b"], "_ is a literal");
    let (_, by_name_desc) = list("?ordering=-name").await;
    assert_eq!(names(&by_name_desc)[0], "rusty nails");

    for bad in [
        "?per_page=101",
        "?per_page=0",
        "?page=-1",
        "?page=abc",
        "?ordering=body",
    ] {
        let (status, body) = list(bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("validation_error")),
            "{bad}"
        );
    }
}

#[actix_web::test]
async fn bad_input_gets_precise_errors() {
    let (_jwks, app) = api().await;
    let alice = caller("alice", &[]);
    let post = |body: &str, content_type: &str| {
        app.client
            .post(format!("{}/api/v1/articles", app.address))
            .bearer_auth(&alice.token)
            .header("Content-Type", content_type.to_owned())
            .body(body.to_owned())
            .send()
    };

    let (status, err) = error(post(r#"{"name": "x",}"#, "application/json").await.unwrap()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("malformed_json"))
    );
    assert!(
        err["message"].as_str().unwrap().contains("line 1, column"),
        "{err}"
    );

    let (status, err) = error(
        post(
            r#"{"name": 5, "author": "me", "colour": "red"}"#,
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("validation_error"))
    );
    assert!(
        err["fields"]["name"][0]
            .as_str()
            .unwrap()
            .contains("Expected a string")
    );
    assert_eq!(err["fields"]["author"][0], "This field is read-only.");
    assert_eq!(err["fields"]["colour"][0], "Unknown field.");

    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(51)}), "name"),
        (json!({"name": "ok", "body": "x".repeat(100_001)}), "body"),
        (json!({"name": null}), "name"),
    ] {
        let (status, err) = error(post(&body.to_string(), "application/json").await.unwrap()).await;
        assert_eq!(status, 422, "{body}");
        assert!(err["fields"][field].is_array(), "{err}");
    }
    let (status, err) = error(post("[1,2]", "application/json").await.unwrap()).await;
    assert_eq!(
        (status, err["fields"]["non_field_errors"][0].as_str()),
        (422, Some("Expected a JSON object."))
    );
    let (status, err) = error(post(r#"{"name":"x"}"#, "text/plain").await.unwrap()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let huge = format!(r#"{{"name":"x","body":"{}"}}"#, "x".repeat(300_000));
    let (status, err) = error(post(&huge, "application/json").await.unwrap()).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // 50 characters that are 4 bytes each are still 50 characters.
    let emoji = app
        .call(
            Method::POST,
            "/api/v1/articles",
            &alice.token,
            Some(&json!({"name": "🦀".repeat(50)})),
        )
        .await;
    assert_eq!(emoji.status(), 201);
}

#[actix_web::test]
async fn ids_routes_and_methods_answer_in_json() {
    let (_jwks, app) = api().await;
    let alice = caller("alice", &[]);

    for path in [
        "/api/v1/articles/not-a-uuid",
        "/api/v1/articles/0191d2c4-0000-7000-8000-000000000000",
        "/api/v1/nothing-here",
    ] {
        let (status, err) = error(app.call(Method::GET, path, &alice.token, None).await).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let response = app
        .call(
            Method::PUT,
            "/api/v1/articles",
            &alice.token,
            Some(&json!({})),
        )
        .await;
    assert_eq!(response.headers()["allow"], "GET, POST");
    let (status, err) = error(response).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let response = app
        .call(
            Method::POST,
            "/api/v1/articles/0191d2c4-0000-7000-8000-000000000000",
            &alice.token,
            None,
        )
        .await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, PATCH, DELETE");
}

#[actix_web::test]
async fn patch_me_changes_names_and_refuses_read_only_fields() {
    let (_jwks, app) = api().await;
    let alice = caller("alice", &[]);

    let response = app
        .call(
            Method::PATCH,
            "/api/v1/me",
            &alice.token,
            Some(&json!({"first_name": " Alice ", "last_name": "Liddell"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(
        (me["first_name"].as_str(), me["last_name"].as_str()),
        (Some("Alice"), Some("Liddell"))
    );
    let again: Value = app.me(&alice.token).await.json().await.unwrap();
    assert_eq!(again["first_name"], "Alice");

    let (status, err) = error(
        app.call(
            Method::PATCH,
            "/api/v1/me",
            &alice.token,
            Some(&json!({"email": "x@y.z", "is_active": false, "is_staff": true})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("validation_error"))
    );
    assert_eq!(err["fields"]["email"][0], "This field is read-only.");
    assert_eq!(err["fields"]["is_active"][0], "This field is read-only.");
    assert_eq!(err["fields"]["is_staff"][0], "Unknown field.");
    let unchanged: Value = app.me(&alice.token).await.json().await.unwrap();
    assert_eq!(unchanged["is_active"], true);
}
