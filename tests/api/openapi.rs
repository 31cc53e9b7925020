//! The OpenAPI document describes every API route, and every route it describes exists.

use serde_json::Value;

use crate::cognito::*;

#[actix_web::test]
async fn the_document_lists_every_route_with_its_security_and_errors() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;

    let response = app.get("/api/openapi.json").await;

    assert_eq!(response.status(), 200, "public: no token needed");
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    documented.sort();

    // Every route the server answers (the registration list in src/api/mod.rs), as documented.
    let expected = [
        ("DELETE", "/api/v1/articles/{id}"),
        ("GET", "/api/v1/articles"),
        ("GET", "/api/v1/articles/{id}"),
        ("GET", "/api/v1/me"),
        ("PATCH", "/api/v1/articles/{id}"),
        ("PATCH", "/api/v1/me"),
        ("POST", "/api/v1/articles"),
        ("POST", "/api/v1/hooks/cognito/post-confirmation"),
        ("POST", "/api/v1/logout"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // And each documented operation is really served: no 404 or 405 from the router.
    let token = access_key().sign(&access_claims(&new_sub(), "doc"));
    for (method, path) in &documented {
        let url = path.replace("{id}", "0191d2c4-0000-7000-8000-000000000000");
        let response = app
            .call(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                &url,
                &token,
                None,
            )
            .await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            status != 405,
            "{method} {path} is documented but not routed"
        );
        assert!(
            status != 404 || code == "not_found" && path.contains("{id}") || path.contains("hooks"),
            "{method} {path}: {status} {body}"
        );
        // Guarded operations say which responses they may give.
        let op = &paths[path.as_str()][method.to_lowercase()];
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
        if !path.contains("hooks") {
            assert!(
                op["security"].is_array(),
                "{method} {path} declares the bearer scheme"
            );
        }
    }
}

#[actix_web::test]
async fn the_docs_page_shows_every_operation_without_script() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;

    let response = app.get("/api/docs").await;

    assert_eq!(response.status(), 200, "public");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    for expected in [
        "GET /api/v1/me",
        "PATCH /api/v1/articles/{id}",
        "POST /api/v1/hooks/cognito/post-confirmation",
        "id=\"schema-ArticleOut\"",
        "id=\"schema-ErrorBody\"",
        "precondition_failed",
    ] {
        assert!(html.contains(expected), "{expected}");
    }
    assert!(!html.contains("<script>"), "no inline script");
}

#[actix_web::test]
async fn every_operation_documents_the_errors_it_can_give() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();

    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let mut expected = vec!["500", "503"];
            if op["security"].is_array() {
                expected.extend(["400", "401", "403"]);
            }
            if op["requestBody"].is_object() {
                expected.extend(["400", "413", "422"]);
            }
            if path.contains("{id}") {
                expected.push("404");
            }
            for status in expected {
                let response = &responses[status];
                assert!(response.is_object(), "{method} {path}: no {status}");
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
}
