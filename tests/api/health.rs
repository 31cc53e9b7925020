use serde_json::Value;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn healthz_answers_ok_with_a_request_id() {
    let app = spawn_app().await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;

    let response = app.get("/healthz").await;

    let h = response.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // Secure cookies are on by default outside development, and HSTS with them.
    assert!(h.contains_key("strict-transport-security"));
}

#[actix_web::test]
async fn no_hsts_when_cookies_are_not_secure() {
    let app = crate::helpers::spawn_app_with(&[("COOKIE_SECURE", "false")]).await;

    let response = app.get("/healthz").await;

    assert!(!response.headers().contains_key("strict-transport-security"));
}

#[actix_web::test]
async fn readyz_is_ready_while_the_database_answers() {
    let app = spawn_app().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["status"], "ok");
}

#[actix_web::test]
async fn readyz_names_the_failed_check_without_the_database_error_when_it_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.db.drop_now().await;
    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "error");
    // Which check failed, and nothing of the database's own error text.
    assert_eq!(
        body["checks"]["database"],
        serde_json::json!({"status": "error"}),
        "{body}"
    );
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
    let direct = gatehouse::db::ping(&app.pool, std::time::Duration::from_secs(2)).await;
    assert!(direct.unwrap_err().is_unavailable());
}

#[actix_web::test]
async fn readyz_is_unavailable_when_postgres_is_unreachable_at_start() {
    // Nothing listens on port 1: connection refused, as when the server is down. The app must
    // still start (migrations off) and report it.
    let settings = crate::helpers::test_settings(
        "postgres://postgres@127.0.0.1:1/nowhere",
        &[("RUN_MIGRATIONS", "false")],
    );
    let pool = gatehouse::db::build_pool(&settings.database);
    let app = gatehouse::startup::Application::build(settings, pool).unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", app.port());
    actix_web::rt::spawn(app.run_until_stopped());

    let response = reqwest::get(&url).await.unwrap();

    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"]["status"], "error");
}

#[actix_web::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app().await;

    let response = app.get("/no/such/page").await;

    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().is_some());
}
