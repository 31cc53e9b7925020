//! Browser tests: the back office, a single-page app's API calls and the web sign-in, in headless
//! Chromium over WebDriver (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs).
//! Without chromedriver the test says so and passes, unless `GATEHOUSE_REQUIRE_BROWSER=1` (set by
//! `.ci/run`) makes that a failure.
//! Screenshots land in `target/screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::admin_helpers::*;
use crate::cognito::{JwksServer, access_claims, access_key, new_sub, spawn_api};
use crate::web_harness::{PASSWORD as WEB_PASSWORD, SESSION_COOKIE, spawn_web_app};

/// chromedriver on a free port, and a fresh Chromium profile; both cleaned up on drop.
struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Chromium outlives chromedriver unless its session was closed (a test that failed
        // midway did not): its processes are the ones started with this test's own profile.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(&self.profile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn chromedriver_installed() -> bool {
    Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn start_browser() -> Option<(Client, Driver)> {
    if !chromedriver_installed() {
        assert!(
            std::env::var("GATEHOUSE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "chromedriver is required (GATEHOUSE_REQUIRE_BROWSER=1) but not installed"
        );
        eprintln!("SKIPPED: chromedriver not installed (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = std::env::temp_dir().join(format!("gatehouse-chrome-{}", uuid::Uuid::new_v4()));
    let driver = Driver {
        child,
        port,
        profile,
    };
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", driver.profile.display()),
            ]
        }),
    );
    // chromedriver needs a moment to listen.
    for _ in 0..50 {
        if let Ok(client) = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return Some((client, driver));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("could not start a WebDriver session on {url}");
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save_screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks what `locator` finds and waits for the next page: the old document must go stale and
/// the new one finish loading (a click does not wait for the navigation it starts).
async fn click_to(browser: &Client, locator: Locator<'_>) {
    let old = browser.find(Locator::Css("html")).await.unwrap();
    let target = browser.find(locator).await.unwrap();
    let as_arg = serde_json::to_value(&target).unwrap();
    if target.click().await.is_err() {
        // Headless Chromium sometimes reports an element low on a long page as covered; a
        // script click submits the same form with the same button.
        browser
            .execute("arguments[0].click()", vec![as_arg])
            .await
            .unwrap();
    }
    for _ in 0..200 {
        if old.tag_name().await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for _ in 0..200 {
        let state = browser
            .execute("return document.readyState", vec![])
            .await
            .unwrap();
        if state == "complete" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the page after clicking did not load");
}

async fn click(browser: &Client, css: &str) {
    click_to(browser, Locator::Css(css)).await;
}

async fn page_text(browser: &Client) -> String {
    browser.source().await.unwrap()
}

/// The whole staff journey: log in, add a user, find it, change it, read its history, delete it,
/// log out.
#[actix_web::test]
async fn staff_journey_in_a_real_browser() {
    let Some((browser, _driver)) = start_browser().await else {
        return;
    };
    let app = spawn_admin_app().await;
    create_user(&app, NewAccount::superuser("root")).await;
    let base = &app.address;

    // Anonymous: the admin sends us to the login form.
    browser.goto(&format!("{base}/admin/")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/admin/login/")
    );
    fill(&browser, "#id_username", "ROOT").await;
    fill(&browser, "#id_password", PASSWORD).await;
    click(&browser, "form button[type=submit]").await;
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/admin/",
        "{}",
        page_text(&browser).await
    );
    assert!(page_text(&browser).await.contains("Site administration"));

    // Add a user through the add form.
    browser
        .goto(&format!("{base}/admin/users/add/"))
        .await
        .unwrap();
    fill(&browser, "#id_username", "browser.user").await;
    fill(&browser, "#id_email", "Browser.User@Example.com").await;
    fill(&browser, "#id_password1", "violet-harbour-77").await;
    fill(&browser, "#id_password2", "violet-harbour-77").await;
    click(&browser, "button[name=_save]").await;
    assert!(page_text(&browser).await.contains("was added successfully"));

    // Find it with the search box.
    browser.goto(&format!("{base}/admin/users/")).await.unwrap();
    fill(&browser, "#id_q", "browser").await;
    click(&browser, "form.gh-filters button[type=submit]").await;
    let html = page_text(&browser).await;
    assert!(html.contains("1 result (2 total)"), "{html}");
    save_screenshot(&browser, "users_list.png").await;
    browser.set_window_size(390, 844).await.unwrap();
    save_screenshot(&browser, "users_list_phone.png").await;
    let overflow = browser
        .execute(
            "return Array.from(document.querySelectorAll('body *')).filter(e => !e.closest('.table-responsive') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 15).join(' | ')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow, "",
        "nothing but the table (which scrolls) is wider than a phone"
    );
    let page_width = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(page_width, 0, "the page itself does not scroll sideways");
    browser.set_window_size(1280, 1000).await.unwrap();

    // Change it.
    click_to(&browser, Locator::LinkText("browser.user")).await;
    fill(&browser, "#id_first_name", "Brow").await;
    fill(&browser, "#id_last_name", "Ser").await;
    click(&browser, "button[name=_continue]").await;
    let html = page_text(&browser).await;
    assert!(html.contains("was changed successfully"), "{html}");
    assert!(html.contains("browser.user@example.com"));
    save_screenshot(&browser, "user_change_form.png").await;

    // Its history shows the change, field by field.
    click_to(&browser, Locator::LinkText("History")).await;
    let html = page_text(&browser).await;
    assert!(
        html.contains("first_name") && html.contains("Brow"),
        "{html}"
    );
    save_screenshot(&browser, "user_history.png").await;

    // Delete it, confirming.
    browser.back().await.unwrap();
    click_to(&browser, Locator::LinkText("Delete")).await;
    assert!(page_text(&browser).await.contains("Are you sure?"));
    click(&browser, "button.btn-danger").await;
    let html = page_text(&browser).await;
    assert!(html.contains("was deleted successfully"), "{html}");
    assert!(!html.contains(">browser.user</a>"));

    // Log out (a POST form in the navbar).
    click(&browser, "form[action='/admin/logout/'] button").await;
    assert!(page_text(&browser).await.contains("Logged out"));
    browser.goto(&format!("{base}/admin/")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/admin/login/")
    );

    browser.close().await.unwrap();
}

/// A blank page on an origin of its own (127.0.0.1, another port than the API's): where a
/// single-page app would be served from.
async fn serve_blank_page() -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().default_service(actix_web::web::to(|| async {
            actix_web::HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body("<!doctype html><title>an app</title>")
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (origin, handle)
}

/// What a single-page app does: create an article (a preflighted JSON POST with a token), read
/// the exposed `ETag` and `Location`, change it with `If-Match`, see a stale `If-Match` refused,
/// and read a 401's challenge. Resolves to the outcomes, or to `{blocked}` when the browser
/// refuses the cross-origin call.
const SPA_CALLS: &str = r#"
const [api, token, done] = arguments;
(async () => {
  const json = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  const created = await fetch(`${api}/api/v1/articles`, {
    method: "POST", headers: json, body: JSON.stringify({ name: "From a browser" }),
  });
  const etag = created.headers.get("ETag");
  const location = created.headers.get("Location");
  const changed = await fetch(api + location, {
    method: "PATCH", headers: { ...json, "If-Match": etag }, body: JSON.stringify({ name: "Renamed" }),
  });
  const stale = await fetch(api + location, {
    method: "DELETE", headers: { Authorization: json.Authorization, "If-Match": etag },
  });
  const anonymous = await fetch(`${api}/api/v1/me`);
  return {
    created: created.status, etag, location,
    changed: changed.status, name: (await changed.json()).name,
    stale: stale.status, staleCode: (await stale.json()).error.code,
    anonymous: anonymous.status, challenge: anonymous.headers.get("WWW-Authenticate"),
    requestId: anonymous.headers.get("X-Request-Id"),
  };
})().then(done, (e) => done({ blocked: String(e) }));
"#;

/// CORS as Chromium enforces it: the listed origin's script calls the API and reads the headers
/// it needs; another origin's script gets nothing, and its write never reaches the API.
#[actix_web::test]
async fn a_single_page_app_calls_the_api_across_origins() {
    let Some((browser, _driver)) = start_browser().await else {
        return;
    };
    let (listed, _listed_server) = serve_blank_page().await;
    let (unlisted, _unlisted_server) = serve_blank_page().await;
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[("CORS_ALLOWED_ORIGINS", listed.as_str())]).await;
    let token = access_key().sign(&access_claims(&new_sub(), "spa.user"));
    let args = vec![json!(app.address), json!(token)];

    browser.goto(&format!("{listed}/")).await.unwrap();
    let done = browser
        .execute_async(SPA_CALLS, args.clone())
        .await
        .unwrap();

    assert_eq!(done["created"], 201, "{done}");
    assert!(
        done["etag"].as_str().is_some_and(|e| e.starts_with('"')),
        "{done}"
    );
    assert!(
        done["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("/api/v1/articles/")),
        "{done}"
    );
    assert_eq!(done["changed"], 200, "{done}");
    assert_eq!(done["name"], "Renamed");
    assert_eq!(
        (done["stale"].clone(), done["staleCode"].clone()),
        (json!(412), json!("precondition_failed"))
    );
    assert_eq!(done["anonymous"], 401);
    assert!(
        done["challenge"]
            .as_str()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{done}"
    );
    assert!(
        done["requestId"].as_str().is_some_and(|id| id.len() == 36),
        "{done}"
    );

    browser.goto(&format!("{unlisted}/")).await.unwrap();
    let done = browser.execute_async(SPA_CALLS, args).await.unwrap();

    assert!(
        done["blocked"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "{done}"
    );
    // Its preflight was refused, so its POST was never sent: one article, the listed origin's.
    let list: serde_json::Value = app
        .get_with_token("/api/v1/articles", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1, "{list}");

    // Ends the WebDriver session, and with it Chromium (stopping chromedriver alone leaves it).
    browser.close().await.unwrap();
}

/// The page's own script calling the API with the session cookie (no token in JS): with the
/// `X-CSRF` header, and without it. Resolves to both statuses, the bodies, and `document.cookie`.
const SAME_ORIGIN_CALLS: &str = r#"
const done = arguments[0];
(async () => {
  const me = await fetch("/api/v1/me", { credentials: "same-origin", headers: { "X-CSRF": "1" } });
  const bare = await fetch("/api/v1/me", { credentials: "same-origin" });
  return {
    me: me.status, body: await me.json(),
    bare: bare.status, bareBody: await bare.json(),
    cookies: document.cookie,
  };
})().then(done, (e) => done({ failed: String(e) }));
"#;

/// The web sign-in as a person goes through it: the account page sends the browser to the
/// managed login, the password brings it back signed in, the profile is changed, the page's
/// script calls the API with the cookie, and signing out ends both sessions.
#[actix_web::test]
async fn web_sign_in_journey() {
    let Some((browser, _driver)) = start_browser().await else {
        return;
    };
    let w = spawn_web_app().await;
    let app = &w.app.address;
    assert_eq!(app, &w.public_url, "the browser uses the app's public URL");

    // Anonymous: /account/ → /auth/login → the managed login's form.
    browser.goto(&format!("{app}/account/")).await.unwrap();
    let url = browser.current_url().await.unwrap();
    assert_eq!(
        (url.origin().ascii_serialization(), url.path()),
        (w.fake.base.clone(), "/oauth2/authorize"),
        "{}",
        page_text(&browser).await
    );
    save_screenshot(&browser, "web-signin-1-login.png").await;

    fill(&browser, "#username", "jane").await;
    fill(&browser, "#password", WEB_PASSWORD).await;
    click(&browser, "#signin").await;
    let url = browser.current_url().await.unwrap();
    assert_eq!(
        url.as_str(),
        format!("{app}/account/"),
        "{}",
        page_text(&browser).await
    );
    assert_eq!(text_of(&browser, "h1").await, "Your account");
    assert!(
        text_of(&browser, "#email")
            .await
            .starts_with("jane@example.com")
    );
    assert_eq!(text_of(&browser, "#groups .badge").await, "editors");
    let rows = browser
        .find_all(Locator::Css("#sessions tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one session: this one");
    let row = rows[0].text().await.unwrap();
    assert!(
        row.starts_with("Chrome on Linux this browser") && row.contains("127.0.0.1"),
        "{row}"
    );
    assert_eq!(w.count("web_sessions").await, 1);
    save_screenshot(&browser, "web-signin-2-account.png").await;

    // Change the first name with the profile form.
    fill(&browser, "#first_name", "Janet").await;
    click(&browser, "#save-profile").await;
    assert_eq!(
        browser.current_url().await.unwrap().as_str(),
        format!("{app}/account/?done=profile")
    );
    assert_eq!(
        text_of(&browser, "#notice").await,
        "Your profile was saved."
    );
    let field = browser.find(Locator::Css("#first_name")).await.unwrap();
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some("Janet"));
    let stored: String = w
        .app
        .db
        .client()
        .await
        .query_one("SELECT first_name FROM users WHERE username = 'jane'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "Janet");
    assert!(page_text(&browser).await.contains("Janet Doe"), "the nav");
    save_screenshot(&browser, "web-signin-3-saved.png").await;

    // The page's script calls the API with the cookie alone, and only with the CSRF header.
    let done = browser
        .execute_async(SAME_ORIGIN_CALLS, vec![])
        .await
        .unwrap();
    assert_eq!(done["me"], 200, "{done}");
    assert_eq!(done["body"]["username"], "jane", "{done}");
    assert_eq!(done["body"]["first_name"], "Janet", "{done}");
    assert_eq!(done["bare"], 403, "{done}");
    assert_eq!(done["bareBody"]["error"]["code"], "csrf_required", "{done}");
    // The browser holds the session cookie, but no script can read it.
    let cookies = done["cookies"].as_str().unwrap();
    assert!(!cookies.contains(SESSION_COOKIE), "{cookies}");
    let held = browser.get_all_cookies().await.unwrap();
    let session = held
        .iter()
        .find(|c| c.name() == SESSION_COOKIE)
        .expect("the browser holds the session cookie");
    assert_eq!(session.http_only(), Some(true));

    // Sign out: our session ends, then the managed login's, and Cognito sends the browser back.
    click(&browser, "#sign-out").await;
    let url = browser.current_url().await.unwrap();
    assert_eq!(
        url.as_str(),
        format!("{app}/auth/signed-out"),
        "{}",
        page_text(&browser).await
    );
    assert_eq!(text_of(&browser, "h1").await, "You are signed out");
    browser.find(Locator::Css("#sign-in")).await.unwrap();
    save_screenshot(&browser, "web-signin-4-signed-out.png").await;
    assert_eq!(w.count("web_sessions").await, 0);
    assert_eq!(w.fake.sessions(), 0, "the managed-login session ended");
    assert_eq!(w.fake.calls("logout"), 1);
    let held = browser.get_all_cookies().await.unwrap();
    assert!(
        !held.iter().any(|c| c.name() == SESSION_COOKIE),
        "the session cookie is gone"
    );

    // The account page leads to the login form again: no silent sign-in.
    browser.goto(&format!("{app}/account/")).await.unwrap();
    let url = browser.current_url().await.unwrap();
    assert_eq!(
        (url.origin().ascii_serialization(), url.path()),
        (w.fake.base.clone(), "/oauth2/authorize"),
        "{}",
        page_text(&browser).await
    );
    browser.find(Locator::Css("#signin")).await.unwrap();
    save_screenshot(&browser, "web-signin-5-login-again.png").await;
    assert_eq!(w.count("web_sessions").await, 0);
    assert_eq!(w.fake.calls("login"), 1, "the password was asked once");

    browser.close().await.unwrap();
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
