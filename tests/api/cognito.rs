//! Test doubles for Cognito: a JWKS served on 127.0.0.1 that tests control, and the app
//! configured against it. Keys and tokens come from `tests/support/minting.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};
pub use crate::minting::*;

struct JwksState {
    body: String,
    status: u16,
    delay: Duration,
    paths: Vec<String>,
}

/// A JWKS endpoint on 127.0.0.1 whose content, status and latency tests change at will, and that
/// counts what it was asked.
pub struct JwksServer {
    pub url: String,
    pub base: String,
    state: Arc<Mutex<JwksState>>,
    hits: Arc<AtomicUsize>,
    handle: ServerHandle,
}

async fn serve_jwks(
    req: HttpRequest,
    state: web::Data<Mutex<JwksState>>,
    hits: web::Data<AtomicUsize>,
) -> HttpResponse {
    hits.fetch_add(1, Ordering::SeqCst);
    let (body, status, delay) = {
        let mut s = state.lock().unwrap();
        s.paths.push(req.path().to_owned());
        (s.body.clone(), s.status, s.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(body)
}

impl JwksServer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let state = Arc::new(Mutex::new(JwksState {
            body: jwks_body(keys),
            status: 200,
            delay: Duration::ZERO,
            paths: Vec::new(),
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (
            web::Data::from(state.clone()),
            web::Data::from(hits.clone()),
        );
        let server = HttpServer::new(move || {
            App::new()
                .app_data(s.clone())
                .app_data(h.clone())
                .default_service(web::to(serve_jwks))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let base = format!("http://127.0.0.1:{port}");
        JwksServer {
            url: format!("{base}/eu-west-1_GateTest1/.well-known/jwks.json"),
            base,
            state,
            hits,
            handle,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn paths(&self) -> Vec<String> {
        self.state.lock().unwrap().paths.clone()
    }

    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.set_body(&jwks_body(keys));
    }

    pub fn set_body(&self, body: &str) {
        self.state.lock().unwrap().body = body.to_owned();
    }

    pub fn set_status(&self, status: u16) {
        self.state.lock().unwrap().status = status;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// The least `COGNITO_JWKS_MIN_REFETCH_SECONDS` allows; tests that refetch more than once wait
/// [`refetch_allowed_again`] between unknown-kid requests.
pub const MIN_REFETCH: (&str, &str) = ("COGNITO_JWKS_MIN_REFETCH_SECONDS", "1");

/// Waits until an unknown kid may cause another JWKS fetch (see [`MIN_REFETCH`]).
pub async fn refetch_allowed_again() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// The app configured for the test pool, with its JWKS served by `jwks`. Waits (bounded) until
/// the keys are loaded when the JWKS is healthy.
pub async fn spawn_api(jwks: &JwksServer, overrides: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        // The test JWKS is served over plain HTTP, which only development allows.
        ("GATEHOUSE_ENV", "development"),
        ("COGNITO_ISSUER", ISSUER),
        ("COGNITO_JWKS_URL", jwks.url.as_str()),
        ("COGNITO_CLIENT_IDS", CLIENT_ID),
    ];
    settings.extend_from_slice(overrides);
    let app = spawn_app_with(&settings).await;
    for _ in 0..100 {
        if app.get("/readyz").await.status() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app
}

impl TestApp {
    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the app")
    }

    pub async fn post_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the app")
    }

    /// Any API call with a token and an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request reaches the app")
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.get_with_token("/api/v1/me", token).await
    }
}

/// Status, error code and `WWW-Authenticate` of a refusal.
pub async fn refusal(response: reqwest::Response) -> (u16, String, Option<String>) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.expect("a JSON error body");
    let code = body["error"]["code"].as_str().expect("a code").to_owned();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a message: {body}"
    );
    (status, code, challenge)
}

/// Asserts a 401 `invalid_token` refusal with this code.
pub async fn assert_invalid_token(response: reqwest::Response, code: &str) {
    let (status, actual, challenge) = refusal(response).await;
    assert_eq!((status, actual.as_str()), (401, code));
    let challenge = challenge.expect("a WWW-Authenticate challenge");
    assert!(
        challenge
            .starts_with(r#"Bearer realm="gatehouse", error="invalid_token", error_description=""#),
        "{challenge}"
    );
}
