//! Back-office test helpers: staff accounts, CSRF tokens scraped from pages, form posts that carry
//! the token and a same-site `Origin`, as a browser's would.

use gatehouse::auth::password::hash_password;
use secrecy::SecretString;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app_with};

pub const PASSWORD: &str = "tangerine-orbit-42";

/// The app over plain HTTP: cookies without `Secure`, or the test client would never send them.
pub async fn spawn_admin_app() -> TestApp {
    spawn_app_with(&[("COOKIE_SECURE", "false")]).await
}

pub async fn hash(password: &str) -> String {
    let password = SecretString::from(password.to_owned());
    tokio::task::spawn_blocking(move || hash_password(&password).unwrap())
        .await
        .unwrap()
}

#[derive(Clone, Copy)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    /// `None`: an unusable password.
    pub password: Option<&'a str>,
    pub staff: bool,
    pub superuser: bool,
    pub active: bool,
}

impl<'a> NewAccount<'a> {
    pub fn staff(username: &'a str) -> Self {
        NewAccount {
            username,
            email: "",
            password: Some(PASSWORD),
            staff: true,
            superuser: false,
            active: true,
        }
    }

    pub fn superuser(username: &'a str) -> Self {
        NewAccount {
            superuser: true,
            ..Self::staff(username)
        }
    }
}

pub async fn create_user(app: &TestApp, account: NewAccount<'_>) -> Uuid {
    let hash = match account.password {
        Some(p) => Some(hash(p).await),
        None => None,
    };
    let id = Uuid::now_v7();
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO users (id, username, email, password_hash, is_staff, is_superuser, \
             is_active) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &account.username,
                &account.email,
                &hash,
                &account.staff,
                &account.superuser,
                &account.active,
            ],
        )
        .await
        .unwrap();
    id
}

pub async fn grant(app: &TestApp, user_id: Uuid, codename: &str) {
    let n = app
        .db
        .client()
        .await
        .execute(
            "INSERT INTO user_permissions (user_id, permission_id) \
             SELECT $1, id FROM permissions WHERE codename = $2",
            &[&user_id, &codename],
        )
        .await
        .unwrap();
    assert_eq!(n, 1, "no permission {codename}");
}

/// The CSRF token of the first form on a page.
pub fn csrf_from(html: &str) -> String {
    let marker = r#"name="csrfmiddlewaretoken" value=""#;
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

/// The optimistic-lock token (`updated_at`) of a change form.
pub fn lock_from(html: &str) -> String {
    let marker = r#"name="updated_at" value=""#;
    let start = html.find(marker).expect("page has a lock field") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

/// POSTs `fields` as a browser on this site would (with `Origin`), and nothing else added.
pub async fn post_raw(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("Origin", &app.address)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(fields))
        .send()
        .await
        .unwrap()
}

/// GETs `page` and POSTs `fields` to `path` with the CSRF token found on that page.
pub async fn post_from(
    app: &TestApp,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = app.get(page).await.text().await.unwrap();
    let token = csrf_from(&html);
    let mut all = vec![("csrfmiddlewaretoken", token.as_str())];
    all.extend_from_slice(fields);
    post_raw(app, path, &all).await
}

/// POSTs to an admin URL as the signed-in user (token taken from the index page).
pub async fn post_admin(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    post_from(app, "/admin/", path, fields).await
}

pub async fn login(app: &TestApp, login: &str, password: &str) -> reqwest::Response {
    post_from(
        app,
        "/admin/login/",
        "/admin/login/",
        &[("username", login), ("password", password)],
    )
    .await
}

/// Logs in and checks it worked.
pub async fn login_ok(app: &TestApp, username: &str) {
    let response = login(app, username, PASSWORD).await;
    assert_eq!(response.status(), 303, "login of {username} should succeed");
}

/// An app with a signed-in superuser `root`.
pub async fn app_as_superuser() -> (TestApp, Uuid) {
    let app = spawn_admin_app().await;
    let id = create_user(&app, NewAccount::superuser("root")).await;
    login_ok(&app, "root").await;
    (app, id)
}

/// The `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("gatehouse_session="))
        .expect("the response sets the session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Logs `username` in from a browser of its own (this browser's session is left alone) and returns
/// that browser's session cookie (`name=value`).
pub async fn session_elsewhere(app: &TestApp, username: &str) -> String {
    let client = crate::helpers::new_browser();
    let url = format!("{}/admin/login/", app.address);
    let html = client.get(&url).send().await.unwrap().text().await.unwrap();
    let response = client
        .post(&url)
        .header("Origin", &app.address)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("csrfmiddlewaretoken", csrf_from(&html).as_str()),
            ("username", username),
            ("password", PASSWORD),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "login of {username} should succeed");
    session_cookie(&response)
}

/// GET with exactly this cookie, from a client of its own (another browser holding that session).
pub async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.address))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The body of a page that must answer 200.
pub async fn text(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}

/// The id of a seeded permission, as a form posts it.
pub async fn permission_id(app: &TestApp, codename: &str) -> String {
    let id: uuid::Uuid = app
        .db
        .client()
        .await
        .query_one(
            "SELECT id FROM permissions WHERE codename = $1",
            &[&codename],
        )
        .await
        .unwrap()
        .get(0);
    id.to_string()
}

/// A confirmed bulk action of the users list on one account.
pub async fn bulk_user_action(app: &TestApp, action: &str, id: Uuid) -> reqwest::Response {
    let id = id.to_string();
    post_admin(
        app,
        "/admin/users/",
        &[
            ("action", action),
            ("_selected_action", id.as_str()),
            ("confirm", "yes"),
        ],
    )
    .await
}

/// Moves every recorded login failure out of the throttle's 15-minute window.
pub async fn age_failed_logins(app: &TestApp) {
    app.db
        .client()
        .await
        .execute(
            "UPDATE failed_logins SET created_at = now() - interval '16 minutes'",
            &[],
        )
        .await
        .unwrap();
}
