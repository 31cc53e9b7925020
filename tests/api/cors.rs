//! CORS: a listed origin's scripts may call the API (preflight answered before the token guard);
//! any other origin gets nothing that would let a browser read an answer.

use reqwest::{Method, Response};
use serde_json::Value;

use crate::cognito::*;
use crate::helpers::TestApp;

const APP: &str = "https://app.example.com";
const OTHER: &str = "https://evil.example.net";

async fn spawn(origins: &str) -> (JwksServer, TestApp) {
    let jwks = JwksServer::start(&[access_key()]).await;
    let mut overrides = vec![];
    if !origins.is_empty() {
        overrides.push(("CORS_ALLOWED_ORIGINS", origins));
    }
    let app = spawn_api(&jwks, &overrides).await;
    (jwks, app)
}

async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> Response {
    app.client
        .request(Method::OPTIONS, format!("{}{path}", app.address))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
        .send()
        .await
        .unwrap()
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .unwrap_or_default()
}

fn no_cors_headers(response: &Response) {
    let leaked: Vec<&str> = response
        .headers()
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    assert!(
        leaked.is_empty(),
        "CORS headers for an unlisted origin: {leaked:?}"
    );
    assert!(
        header(response, "vary").contains("origin"),
        "caches must key on Origin"
    );
}

/// `GET /api/v1/me` as a script on `origin` sends it, with a token or without.
async fn me_from(app: &TestApp, origin: &str, token: Option<&str>) -> Response {
    let mut request = app
        .client
        .get(format!("{}/api/v1/me", app.address))
        .header("Origin", origin);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A refused preflight: `status`, the JSON error `cors_rejected`, no `Allow-Origin`.
async fn assert_refused(response: Response, status: u16, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        "",
        "{what}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cors_rejected", "{what}");
}

#[actix_web::test]
async fn a_listed_origin_reads_answers_with_their_headers() {
    let (_jwks, app) = spawn(&format!("{APP}, https://other-app.example.com")).await;
    let token = access_key().sign(&access_claims(&new_sub(), "spa"));

    let created = app
        .client
        .post(format!("{}/api/v1/articles", app.address))
        .bearer_auth(&token)
        .header("Origin", APP)
        .json(&serde_json::json!({"name": "From the SPA"}))
        .send()
        .await
        .unwrap();

    assert_eq!(created.status(), 201);
    assert_eq!(header(&created, "access-control-allow-origin"), APP);
    assert_eq!(header(&created, "access-control-allow-credentials"), "true");
    let exposed = header(&created, "access-control-expose-headers");
    for name in [
        "etag",
        "location",
        "www-authenticate",
        "x-request-id",
        "retry-after",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    assert!(header(&created, "vary").contains("origin"));

    // An error is readable too, so the app can tell "sign in again" from "try later".
    let refused = me_from(&app, "https://other-app.example.com", None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        header(&refused, "access-control-allow-origin"),
        "https://other-app.example.com"
    );
    assert!(header(&refused, "www-authenticate").starts_with("bearer"));
}

#[actix_web::test]
async fn a_preflight_is_answered_before_the_token_guard() {
    let (_jwks, app) = spawn(APP).await;

    let response = preflight(
        &app,
        "/api/v1/articles/0191d2c4-0000-7000-8000-000000000000",
        APP,
        "PATCH",
        "authorization, content-type, if-match, x-csrf",
    )
    .await;

    assert_eq!(
        response.status(),
        200,
        "no token on a preflight, and none needed"
    );
    assert_eq!(header(&response, "access-control-allow-origin"), APP);
    assert_eq!(
        header(&response, "access-control-allow-credentials"),
        "true"
    );
    let methods = header(&response, "access-control-allow-methods");
    for method in ["get", "post", "patch", "delete"] {
        assert!(methods.contains(method), "{method}: {methods}");
    }
    let headers = header(&response, "access-control-allow-headers");
    for name in ["authorization", "content-type", "if-match", "x-csrf"] {
        assert!(headers.contains(name), "{name}: {headers}");
    }
    assert_eq!(header(&response, "access-control-max-age"), "600");
    assert_ne!(header(&response, "access-control-allow-origin"), "*");
}

#[actix_web::test]
async fn an_unlisted_origin_gets_nothing() {
    let (_jwks, app) = spawn(APP).await;
    let token = access_key().sign(&access_claims(&new_sub(), "other"));

    // The request itself is served (a server cannot stop it), but the browser may not read it.
    let response = me_from(&app, OTHER, Some(&token)).await;
    assert_eq!(response.status(), 200);
    no_cors_headers(&response);

    for origin in [
        OTHER,
        "null",
        "https://app.example.com.evil.net",
        "http://app.example.com",
    ] {
        let refused = preflight(&app, "/api/v1/me", origin, "GET", "authorization").await;
        no_cors_headers(&refused);
        assert_refused(refused, 403, origin).await;
    }

    // A preflight without an Origin is malformed: 400, in the same JSON.
    let malformed = app
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/me", app.address))
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    no_cors_headers(&malformed);
    assert_refused(malformed, 400, "no Origin").await;

    // A listed origin asking for a header or method the API does not take.
    for (method, headers) in [("PATCH", "authorization, x-evil"), ("PUT", "authorization")] {
        let refused = preflight(&app, "/api/v1/me", APP, method, headers).await;
        assert_refused(refused, 403, &format!("{method} {headers}")).await;
    }
}

#[actix_web::test]
async fn by_default_no_origin_is_allowed_and_same_origin_calls_are_unchanged() {
    let (_jwks, app) = spawn("").await;
    let token = access_key().sign(&access_claims(&new_sub(), "native"));

    let refused = preflight(&app, "/api/v1/me", APP, "GET", "authorization").await;
    no_cors_headers(&refused);
    assert_refused(refused, 403, "no origin listed").await;

    let cross = me_from(&app, APP, Some(&token)).await;
    assert_eq!(cross.status(), 200);
    no_cors_headers(&cross);

    // A native app sends no Origin: its answers carry no CORS headers at all.
    let native = app.me(&token).await;
    assert_eq!(native.status(), 200);
    no_cors_headers(&native);
}

#[actix_web::test]
async fn the_hook_and_the_back_office_take_no_cross_origin_calls() {
    let (_jwks, app) = spawn(APP).await;

    for path in ["/api/v1/hooks/cognito/post-confirmation", "/admin/login/"] {
        let response = preflight(&app, path, APP, "POST", "content-type").await;

        assert_eq!(
            header(&response, "access-control-allow-origin"),
            "",
            "{path}"
        );
        assert_ne!(response.status(), 200, "{path}");
    }
}
