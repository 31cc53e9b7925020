use crate::helpers::spawn_app;

#[actix_web::test]
async fn home_page_is_html_with_our_own_bootstrap() {
    let app = spawn_app().await;

    let response = app.get("/").await;

    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"href="/static/vendor/bootstrap-5.3.9/bootstrap.min.css""#));
    assert!(!html.contains("cdn"), "no CDN");
    assert!(!html.contains("<script>"), "no inline script");
}

#[actix_web::test]
async fn static_assets_are_served_with_validators() {
    let app = spawn_app().await;

    let css = app
        .get("/static/vendor/bootstrap-5.3.9/bootstrap.min.css")
        .await;

    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = css.headers()["etag"].to_str().unwrap().to_owned();
    assert!(css.text().await.unwrap().contains("Bootstrap  v5.3.9"));

    let again = app
        .client
        .get(format!(
            "{}/static/vendor/bootstrap-5.3.9/bootstrap.min.css",
            app.address
        ))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let js = app
        .get("/static/vendor/bootstrap-5.3.9/bootstrap.bundle.min.js")
        .await;
    assert_eq!(js.status(), 200);
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
}

#[actix_web::test]
async fn only_listed_assets_exist() {
    let app = spawn_app().await;

    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/nope.css",
        "/static/",
    ] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
}
