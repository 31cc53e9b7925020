//! Machine-to-machine (`client_credentials`) tokens are services, never users (issue 11, point 6):
//! routes that need a person answer 403 `user_required`, article reads need `API_READ_SCOPE`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cognito::*;
use crate::helpers::TestApp;

async fn users(app: &TestApp) -> i64 {
    app.db
        .client()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0)
}

async fn article_by_a_person(app: &TestApp) -> String {
    let person = access_key().sign(&access_claims(&new_sub(), "author"));
    let response = app
        .call(
            Method::POST,
            "/api/v1/articles",
            &person,
            Some(&json!({"name": "Hello", "body": "text"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let article: Value = response.json().await.unwrap();
    article["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_machine_token_is_refused_where_a_person_is_needed_and_never_provisioned() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let id = article_by_a_person(&app).await;
    let before = users(&app).await;
    let service = access_key().sign(&client_credentials_claims("gatehouse/articles.read"));
    let article = format!("/api/v1/articles/{id}");
    let body = json!({"name": "Changed"});

    for (method, path, body) in [
        (Method::GET, "/api/v1/me", None),
        (
            Method::PATCH,
            "/api/v1/me",
            Some(&json!({"first_name": "Bot"})),
        ),
        (Method::POST, "/api/v1/logout", None),
        (
            Method::POST,
            "/api/v1/articles",
            Some(&json!({"name": "Spam"})),
        ),
        (Method::PATCH, article.as_str(), Some(&body)),
        (Method::DELETE, article.as_str(), None),
    ] {
        let response = app.call(method.clone(), path, &service, body).await;
        let (status, code, _) = refusal(response).await;
        assert_eq!(
            (status, code.as_str()),
            (403, "user_required"),
            "{method} {path}"
        );
    }

    assert_eq!(users(&app).await, before, "no users row for a service");
    let articles: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM articles WHERE name = 'Hello'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(articles, 1, "nothing changed or deleted");
    assert_eq!(
        app.get_with_token(&article, &service).await.status(),
        200,
        "still there"
    );
}

#[actix_web::test]
async fn a_machine_token_reads_articles_only_with_the_read_scope() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let id = article_by_a_person(&app).await;
    let article = format!("/api/v1/articles/{id}");
    let before = users(&app).await;
    let reader = access_key().sign(&client_credentials_claims(
        "gatehouse/other gatehouse/articles.read",
    ));
    let unscoped = access_key().sign(&client_credentials_claims("gatehouse/articles.write"));

    let list = app.get_with_token("/api/v1/articles", &reader).await;
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["items"][0]["id"], json!(id));
    assert_eq!(app.get_with_token(&article, &reader).await.status(), 200);

    for path in ["/api/v1/articles", article.as_str()] {
        let (status, code, challenge) = refusal(app.get_with_token(path, &unscoped).await).await;
        assert_eq!(
            (status, code.as_str()),
            (403, "insufficient_scope"),
            "{path}"
        );
        assert!(
            challenge.is_some_and(|c| c.contains(r#"scope="gatehouse/articles.read""#)),
            "{path}"
        );
    }
    assert_eq!(users(&app).await, before, "no users row for a service");
}

#[actix_web::test]
async fn the_read_scope_is_a_setting() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[("API_READ_SCOPE", "reports/read")]).await;
    let reader = access_key().sign(&client_credentials_claims("reports/read"));
    let default_scope = access_key().sign(&client_credentials_claims("gatehouse/articles.read"));

    assert_eq!(
        app.get_with_token("/api/v1/articles", &reader)
            .await
            .status(),
        200
    );
    let (status, code, _) =
        refusal(app.get_with_token("/api/v1/articles", &default_scope).await).await;
    assert_eq!((status, code.as_str()), (403, "insufficient_scope"));
}

#[actix_web::test]
async fn a_person_needs_no_read_scope_and_a_user_token_without_username_is_still_a_person() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let person = access_key().sign(&access_claims(&new_sub(), "jane"));
    assert_eq!(
        app.get_with_token("/api/v1/articles", &person)
            .await
            .status(),
        200
    );
    // Only a token whose subject is the app client itself counts as a service.
    let sub = new_sub();
    let mut nameless = access_claims(&sub, "x");
    nameless.as_object_mut().unwrap().remove("username");
    assert_eq!(app.me(&access_key().sign(&nameless)).await.status(), 200);
}

/// Every operation the API documents, with a machine token that holds no scope of ours: all
/// refused, so a route added later that forgets to ask for a person (or a scope) fails here.
#[actix_web::test]
async fn every_documented_operation_refuses_a_machine_token_without_scopes() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let id = article_by_a_person(&app).await;
    let before = users(&app).await;
    let service = access_key().sign(&client_credentials_claims("other-api/things.read"));
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();

    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // Only token-guarded operations (the hook is signed, not token-guarded).
            if !op["security"].is_array() {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let path = path.replace("{id}", &id);
            let body = op["requestBody"]
                .is_object()
                .then(|| json!({"name": "Bot", "first_name": "Bot"}));
            let response = app
                .call(method.clone(), &path, &service, body.as_ref())
                .await;
            let (status, code, _) = refusal(response).await;
            assert!(
                status == 403 && ["user_required", "insufficient_scope"].contains(&code.as_str()),
                "{method} {path}: {status} {code}"
            );
            tried += 1;
        }
    }
    assert!(tried >= 8, "every guarded operation was tried ({tried})");
    assert_eq!(users(&app).await, before, "no users row for a service");
}
