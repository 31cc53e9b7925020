//! The OpenAPI documents describe every API route, and every route they describe exists; what
//! they say is what client generators need (the generators themselves run in load/clients.sh).

use serde_json::Value;

use crate::cognito::*;
use crate::helpers::TestApp;

#[actix_web::test]
async fn the_document_lists_every_route_with_its_security_and_errors() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;

    let response = app.get("/api/openapi.json").await;

    assert_eq!(response.status(), 200, "public: no token needed");
    let (mut doc, hooks) = documents(&app).await;
    let hook_paths = hooks["paths"].as_object().unwrap().clone();
    doc["paths"]
        .as_object_mut()
        .unwrap()
        .extend(hook_paths.into_iter());
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
        "id=\"schema-Article\"",
        "id=\"schema-ErrorBody\"",
        "precondition_failed",
        "<code>If-Match</code>",
        "<code>ETag</code>, <code>Location</code>",
        "<code>Retry-After</code>",
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

/// The app API's document and the hook's, as served.
async fn documents(app: &TestApp) -> (Value, Value) {
    let mut docs = Vec::new();
    for path in ["/api/openapi.json", "/api/hooks/openapi.json"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path} is public");
        docs.push(response.json::<Value>().await.unwrap());
    }
    let hooks = docs.pop().unwrap();
    (docs.pop().unwrap(), hooks)
}

/// Every operation of a document, with its method and path.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (method.to_uppercase(), path.clone(), op))
        })
        .collect()
}

#[actix_web::test]
async fn the_documents_say_what_client_generators_need() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let (doc, hooks) = documents(&app).await;

    // Operation ids: unique, and named for what they do.
    let mut ids: Vec<(String, String, String)> = operations(&doc)
        .into_iter()
        .chain(operations(&hooks))
        .map(|(m, p, op)| (op["operationId"].as_str().unwrap().to_owned(), m, p))
        .collect();
    ids.sort();
    let expected = [
        (
            "cognitoPostConfirmation",
            "POST",
            "/api/v1/hooks/cognito/post-confirmation",
        ),
        ("createArticle", "POST", "/api/v1/articles"),
        ("deleteArticle", "DELETE", "/api/v1/articles/{id}"),
        ("getArticle", "GET", "/api/v1/articles/{id}"),
        ("getMe", "GET", "/api/v1/me"),
        ("listArticles", "GET", "/api/v1/articles"),
        ("logout", "POST", "/api/v1/logout"),
        ("updateArticle", "PATCH", "/api/v1/articles/{id}"),
        ("updateMe", "PATCH", "/api/v1/me"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(i, m, p)| (i.to_string(), m.to_string(), p.to_string()))
        .collect();
    assert_eq!(ids, expected);

    // The app document holds the app API only; the hook and its schemas are in their own.
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| !p.contains("hooks"))
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for hook_only in ["PostConfirmationEvent", "EventRequest", "HookResult"] {
        assert!(
            !schemas.contains_key(hook_only),
            "{hook_only} in the app document"
        );
        assert!(
            hooks["components"]["schemas"][hook_only].is_object(),
            "{hook_only}"
        );
    }
    assert!(
        hooks["components"]["securitySchemes"].is_null(),
        "the hook takes no token"
    );
    let tags = |d: &Value| -> Vec<String> {
        d["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(tags(&doc), ["me", "articles"]);
    assert_eq!(tags(&hooks), ["hooks"]);
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(hooks["servers"][0]["url"], "/");

    for (method, path, op) in operations(&doc).into_iter().chain(operations(&hooks)) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let description = response["description"].as_str().unwrap_or("");
            assert!(
                !description.is_empty(),
                "{method} {path} {status}: no description"
            );
            assert_eq!(
                response["headers"]["X-Request-Id"]["required"], true,
                "{method} {path} {status}: X-Request-Id"
            );
            if status == "503" {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{method} {path} 503: Retry-After"
                );
            }
        }
    }

    // Optimistic locking is visible to generated clients.
    let article = &doc["paths"]["/api/v1/articles/{id}"];
    for method in ["patch", "delete"] {
        let if_match = article[method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "If-Match")
            .unwrap_or_else(|| panic!("{method}: no If-Match"));
        assert_eq!(if_match["in"], "header");
        assert_eq!(if_match["required"], false);
        assert!(
            article[method]["responses"]["412"].is_object(),
            "{method}: 412"
        );
    }
    for (op, status) in [
        (&article["get"], "200"),
        (&article["patch"], "200"),
        (&doc["paths"]["/api/v1/articles"]["post"], "201"),
    ] {
        // Always sent: typed as present, not optional.
        assert_eq!(
            op["responses"][status]["headers"]["ETag"]["required"], true,
            "{op}"
        );
    }
    let created = &doc["paths"]["/api/v1/articles"]["post"]["responses"]["201"];
    assert_eq!(created["headers"]["Location"]["required"], true);
    assert_eq!(
        doc["paths"]["/api/v1/me"]["get"]["responses"]["401"]["headers"]["WWW-Authenticate"]["required"],
        true
    );

    // Fixed sets are enums; paging has its defaults and bounds.
    let params = doc["paths"]["/api/v1/articles"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["schema"]
            .clone()
    };
    let ordering = param("ordering");
    let ordering = if ordering["$ref"].is_string() {
        doc["components"]["schemas"]["ArticleOrdering"].clone()
    } else {
        ordering
    };
    let mut values: Vec<&str> = ordering["enum"]
        .as_array()
        .or_else(|| ordering["oneOf"][1]["enum"].as_array())
        .unwrap_or_else(|| panic!("{ordering}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Generators name enum members after the values, and `-name` makes none: the names are given.
    let names: Vec<&str> = ordering["x-enum-varnames"]
        .as_array()
        .unwrap_or_else(|| panic!("{ordering}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(names.len(), values.len(), "{ordering}");
    values.sort();
    assert_eq!(values, ["-created_at", "-name", "created_at", "name"]);
    assert_eq!(param("page")["default"], 1);
    assert_eq!(param("page")["minimum"], 1);
    assert_eq!(param("per_page")["default"], 20);
    assert_eq!(param("per_page")["maximum"], 100);

    let codes: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let all: Vec<&str> = gatehouse::error::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, all);
    for code in [
        "missing_token",
        "validation_error",
        "precondition_failed",
        "internal_error",
    ] {
        assert!(codes.contains(&code), "{code}");
    }

    // Required, optional and nullable as the server answers.
    let detail = &schemas["ErrorDetail"];
    assert_eq!(detail["required"], serde_json::json!(["code", "message"]));
    for optional in ["fields", "request_id"] {
        let schema = detail["properties"][optional].to_string();
        assert!(
            !schema.contains("null"),
            "{optional} is never null: {schema}"
        );
    }
    let page = &schemas["ArticlePage"];
    for field in ["items", "page", "per_page", "total", "next", "previous"] {
        assert!(
            page["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == field),
            "{field} is always sent"
        );
    }
    assert!(page["properties"]["next"].to_string().contains("null"));
    for schema in ["Me", "Article"] {
        let properties = schemas[schema]["properties"].as_object().unwrap();
        let required = schemas[schema]["required"].as_array().unwrap();
        assert_eq!(
            properties.len(),
            required.len(),
            "{schema}: every field is always sent"
        );
    }
}
