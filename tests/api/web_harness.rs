//! The app with web sign-in configured against the fake managed login
//! (`tests/support/fake_cognito.rs`), and the steps a browser takes through it.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::Value;

use crate::fake_cognito::{FakeCognito, FakeUser, WEB_CLIENT_ID, WEB_CLIENT_SECRET};
use crate::helpers::{TestApp, TestDb, new_browser, spawn_app_on_listener, test_settings};
use crate::minting::{CLIENT_ID, ISSUER};

pub const PASSWORD: &str = "correct horse battery staple";
/// The session cookie's name in development (plain HTTP); `__Host-` prefixed when secure.
pub const SESSION_COOKIE: &str = "gatehouse_web";
pub const SECURE_SESSION_COOKIE: &str = "__Host-gatehouse_web";

pub struct WebApp {
    pub app: TestApp,
    pub fake: FakeCognito,
    /// `PUBLIC_URL`: the app's own address.
    pub public_url: String,
}

/// Settings of an instance against `fake` (shared by every instance of one test).
fn overrides(
    fake: &FakeCognito,
    public_url: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = [
        ("GATEHOUSE_ENV", "development"),
        ("COGNITO_ISSUER", ISSUER),
        ("COGNITO_JWKS_URL", fake.jwks_url().as_str()),
        ("COGNITO_CLIENT_IDS", CLIENT_ID),
        ("COGNITO_DOMAIN", fake.base.as_str()),
        ("COGNITO_WEB_CLIENT_ID", WEB_CLIENT_ID),
        ("COGNITO_WEB_CLIENT_SECRET", WEB_CLIENT_SECRET),
        ("PUBLIC_URL", public_url),
        ("DATABASE_POOL_SIZE", "20"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        all.retain(|(key, _)| key != k);
        all.push(((*k).to_owned(), (*v).to_owned()));
    }
    all
}

fn settings(db_url: &str, pairs: &[(String, String)]) -> gatehouse::config::Settings {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    test_settings(db_url, &pairs)
}

/// A fake managed login with user `jane` (password [`PASSWORD`]) and the app configured for it.
pub async fn spawn_web_app() -> WebApp {
    spawn_web_app_with(&[]).await
}

pub async fn spawn_web_app_with(extra: &[(&str, &str)]) -> WebApp {
    let fake = FakeCognito::start().await;
    fake.add_user(FakeUser::new("jane", PASSWORD).with_groups(&["editors"]));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let public_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    fake.allow_callback(&format!("{public_url}/auth/callback"));
    fake.allow_sign_out(&format!("{public_url}/auth/signed-out"));
    let db = TestDb::migrated().await;
    let settings = settings(&db.url, &overrides(&fake, &public_url, extra));
    let app = spawn_app_on_listener(db, settings, listener);
    wait_ready(&app.address).await;
    WebApp {
        app,
        fake,
        public_url,
    }
}

async fn wait_ready(address: &str) {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{address}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Another instance of the same app on the same database (as behind a load balancer).
pub struct Instance {
    pub address: String,
    handle: ServerHandle,
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl WebApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }

    pub async fn second_instance(&self) -> Instance {
        self.second_instance_with(&[]).await
    }

    /// Another instance, with settings of its own on top (another `SECRET_KEY`, …).
    pub async fn second_instance_with(&self, extra: &[(&str, &str)]) -> Instance {
        let settings = settings(
            &self.app.db.url,
            &overrides(&self.fake, &self.public_url, extra),
        );
        let pool = gatehouse::db::build_pool(&settings.database);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let app = gatehouse::startup::Application::build_on(listener, settings, pool).unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        wait_ready(&address).await;
        Instance { address, handle }
    }

    /// `GET /auth/login?next=…` in `browser`: the redirect to the managed login.
    pub async fn start_sign_in(&self, browser: &reqwest::Client, next: Option<&str>) -> String {
        let mut url = self.url("/auth/login");
        if let Some(next) = next {
            url = format!("{url}?next={}", urlencode(next));
        }
        let response = browser.get(url).send().await.unwrap();
        assert_eq!(response.status(), 302, "/auth/login redirects to Cognito");
        location(&response)
    }

    /// The whole sign-in of `username` in `browser`; returns the callback's answer.
    pub async fn sign_in_as(
        &self,
        browser: &reqwest::Client,
        username: &str,
        next: Option<&str>,
    ) -> reqwest::Response {
        let authorize = self.start_sign_in(browser, next).await;
        let callback = self
            .fake
            .sign_in(browser, &authorize, username, PASSWORD)
            .await;
        browser.get(callback).send().await.unwrap()
    }

    /// A browser signed in as `jane`.
    pub async fn signed_in_browser(&self) -> reqwest::Client {
        let browser = new_browser();
        let response = self.sign_in_as(&browser, "jane", None).await;
        assert_eq!(response.status(), 303, "sign-in succeeds");
        browser
    }

    /// A cookie-authenticated API call as a script of this site makes it.
    pub async fn api(
        &self,
        browser: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = browser
            .request(method, self.url(path))
            .header("X-CSRF", "1")
            .header("Origin", &self.public_url);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    pub async fn me(&self, browser: &reqwest::Client) -> reqwest::Response {
        self.api(browser, reqwest::Method::GET, "/api/v1/me", None)
            .await
    }

    /// Runs one SQL statement on the app's database (arranging a state the test needs).
    pub async fn sql(&self, statement: &str) {
        self.app
            .db
            .client()
            .await
            .execute(statement, &[])
            .await
            .unwrap();
    }

    /// Rows in `table` (web_sessions, users, web_sign_ins, …).
    pub async fn count(&self, table: &str) -> i64 {
        self.app
            .db
            .client()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }

    /// The CSRF token of the account page's forms.
    pub async fn account_csrf(&self, browser: &reqwest::Client) -> String {
        let html = browser
            .get(self.url("/account/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_from(&html)
    }

    /// A form POST from a page of this site.
    pub async fn post_form(
        &self,
        browser: &reqwest::Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        browser
            .post(self.url(path))
            .header("Origin", &self.public_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(crate::admin_helpers::encode(fields))
            .send()
            .await
            .unwrap()
    }
}

pub fn csrf_from(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `Set-Cookie` line for `name`, if the answer sets it.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value a `Set-Cookie` line sets.
pub fn cookie_value(line: &str) -> String {
    let (_, rest) = line.split_once('=').unwrap();
    rest.split(';').next().unwrap().to_owned()
}

/// Status and `error.code` of a JSON error answer.
pub async fn code_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

// Helpers of the failure, account-page and staff tests (web_failures.rs, web_account.rs).

/// Undoes the HTML escaping of a template value.
fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// The message of a problem page (`id="problem"`), unescaped; empty if there is none.
pub fn problem_message(html: &str) -> String {
    let Some((_, rest)) = html.split_once(r#"id="problem">"#) else {
        return String::new();
    };
    unescape(rest.split_once("</p>").map_or(rest, |(m, _)| m))
}

/// The target of a page's "Try again" link (`id="retry"`), unescaped, if it has one.
pub fn retry_href(html: &str) -> Option<String> {
    let (_, rest) = html.split_once(r#"id="retry" href=""#)?;
    Some(unescape(rest.split_once('"')?.0))
}

/// SHA-256 of a session cookie's secret: what `web_sessions.id_hash` holds.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

impl WebApp {
    /// A fresh browser signed in as `username`, and its session cookie's secret.
    pub async fn browser_of(&self, username: &str) -> (reqwest::Client, String) {
        let browser = crate::helpers::new_browser();
        let answer = self.sign_in_as(&browser, username, None).await;
        assert_eq!(answer.status(), 303, "sign-in of {username} succeeds");
        let line = set_cookie(answer.headers(), SESSION_COOKIE).expect("a session cookie");
        (browser, cookie_value(&line))
    }

    /// The id (the account page's name) of the session whose cookie holds `secret`.
    pub async fn session_id_of(&self, secret: &str) -> uuid::Uuid {
        self.app
            .db
            .client()
            .await
            .query_one(
                "SELECT id FROM web_sessions WHERE id_hash = $1",
                &[&secret_hash(secret)],
            )
            .await
            .expect("a session with this secret")
            .get(0)
    }

    /// `GET /api/v1/me` with exactly this session cookie, from a client of its own (a browser
    /// that kept the cookie whatever the app said since).
    pub async fn me_with_cookie(&self, secret: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url("/api/v1/me"))
            .header("Cookie", format!("{SESSION_COOKIE}={secret}"))
            .header("X-CSRF", "1")
            .send()
            .await
            .unwrap()
    }

    /// `GET url` in `browser`, following redirects as a browser does (across hosts; a relative
    /// `Location` resolved against the current URL). Returns the last URL and its answer.
    pub async fn follow(
        &self,
        browser: &reqwest::Client,
        url: &str,
    ) -> (String, reqwest::Response) {
        let mut url = url::Url::parse(&self.url("/")).unwrap().join(url).unwrap();
        for _ in 0..10 {
            let answer = browser.get(url.as_str()).send().await.unwrap();
            if !answer.status().is_redirection() {
                return (url.to_string(), answer);
            }
            url = url.join(&location(&answer)).unwrap();
        }
        panic!("more than 10 redirects, the last to {url}");
    }
}
