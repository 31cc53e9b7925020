//! A fake Amazon Cognito managed login (authorization server) for tests of the web sign-in: the
//! OAuth 2 code flow with PKCE, refresh (with optional rotation), revocation and logout, behaving
//! as AWS documents them (COGNITO.md §7) and minting tokens shaped exactly like Cognito's (§2),
//! signed with the test keys of `minting.rs`, so the app's real verifier accepts them.
//!
//! It is stricter than AWS where a lenient answer would hide an app bug: PKCE (S256) is required,
//! the scope must name `openid`, a client with a secret must use HTTP Basic, a code is dead after
//! the first attempt to exchange it. Bad requests get 400s, never a panic: the handlers take
//! parameters as text and check them one by one. Knobs make it slow, failing or lying (see
//! [`Tamper`]) for failure tests; counters and a request log show what the app sent.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::ServerHandle;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde_json::{Map, Value, json};
use url::{Url, form_urlencoded};

use crate::minting::{ISSUER, TestKey, access_key, attacker_key, id_key, jwks_body, now};

/// The web app client the fake knows from the start (Cognito client ids: 25–26 `[0-9a-z]`).
pub const WEB_CLIENT_ID: &str = "7web0client0id0abcdefghij";
/// Its secret (Cognito's are 50–52 `[0-9a-z]` characters).
pub const WEB_CLIENT_SECRET: &str = "1s3cr3t0for0the0web0client0abcdefghijklmnopqrstuvw";
/// The scopes the web client may ask for (the app client's "allowed OAuth scopes").
pub const WEB_CLIENT_SCOPES: &str = "openid email profile aws.cognito.signin.user.admin";
/// The managed login's own session cookie: while the browser holds it, `/oauth2/authorize`
/// signs in without asking (until `/logout`).
pub const SESSION_COOKIE: &str = "cognito_fake_session";
/// The user pool whose JWKS the fake serves (`minting::ISSUER` names it).
pub const POOL_ID: &str = "eu-west-1_GateTest1";
/// What [`Tamper::OtherAudience`] puts in `aud` / `client_id`.
pub const OTHER_CLIENT_ID: &str = "6other0client0id0abcdefgh";
/// What [`Tamper::OtherIssuer`] puts in `iss`: a real-looking pool that is not the app's.
pub const OTHER_ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OtherPool";
/// `{"cty":"JWT","enc":"A256GCM","alg":"RSA-OAEP"}`: the protected header of Cognito's refresh
/// tokens, which are JWEs nobody but Cognito can read.
const REFRESH_HEADER: &str = r#"{"cty":"JWT","enc":"A256GCM","alg":"RSA-OAEP"}"#;
const FORM: &str = "application/x-www-form-urlencoded";

/// A user of the pool who can sign in on the login page.
#[derive(Clone, Debug)]
pub struct FakeUser {
    pub username: String,
    pub password: String,
    pub sub: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub groups: Vec<String>,
}

impl FakeUser {
    /// A user with a fresh `sub`, `<username>@example.com`, named Jane Doe, in no group.
    pub fn new(username: &str, password: &str) -> Self {
        FakeUser {
            username: username.to_owned(),
            password: password.to_owned(),
            sub: uuid::Uuid::new_v4().to_string(),
            email: format!("{username}@example.com"),
            given_name: "Jane".to_owned(),
            family_name: "Doe".to_owned(),
            groups: Vec::new(),
        }
    }

    pub fn with_groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| (*g).to_owned()).collect();
        self
    }

    pub fn with_sub(mut self, sub: &str) -> Self {
        sub.clone_into(&mut self.sub);
        self
    }

    pub fn with_email(mut self, email: &str) -> Self {
        email.clone_into(&mut self.email);
        self
    }

    pub fn with_names(mut self, given_name: &str, family_name: &str) -> Self {
        given_name.clone_into(&mut self.given_name);
        family_name.clone_into(&mut self.family_name);
        self
    }
}

/// A lie the next authorization-code exchange tells (and only that one), for tests of the app's
/// checks of what the token endpoint returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// The id token's `nonce` is not the one of the authorize request.
    WrongNonce,
    /// The id token's `aud` and the access token's `client_id` are [`OTHER_CLIENT_ID`].
    OtherAudience,
    /// Both tokens are signed with `attacker_key()` (a kid the JWKS does not have).
    ForeignKey,
    /// Both tokens carry `iss` = [`OTHER_ISSUER`].
    OtherIssuer,
    /// The access token's `sub` is another user's.
    SubMismatch,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The query's parameters for a GET, the form body's for a POST, in order, repeats kept.
    pub fields: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
}

impl Recorded {
    /// The first value of a field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Tokens the token endpoint handed out, in order.
#[derive(Clone, Debug)]
pub struct Issued {
    pub grant_type: String,
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

struct Client {
    secret: Option<String>,
    scopes: Vec<String>,
    callbacks: Vec<String>,
    sign_outs: Vec<String>,
}

/// An authorize request waiting for the login form.
struct Pending {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    scope: String,
    username: String,
    auth_time: i64,
    expires: Instant,
    used: bool,
}

struct Refresh {
    client_id: String,
    username: String,
    /// The family: every token descending from one sign-in shares it.
    origin_jti: String,
    auth_time: i64,
    scope: String,
    revoked: bool,
    /// Set when rotated away: usable until then (the grace period).
    usable_until: Option<Instant>,
}

impl Refresh {
    fn live(&self, at: Instant) -> bool {
        !self.revoked && self.usable_until.is_none_or(|until| at < until)
    }
}

struct Session {
    username: String,
    auth_time: i64,
}

struct State {
    clients: HashMap<String, Client>,
    users: HashMap<String, FakeUser>,
    pending: HashMap<String, Pending>,
    codes: HashMap<String, Code>,
    refresh: HashMap<String, Refresh>,
    sessions: HashMap<String, Session>,
    calls: HashMap<String, usize>,
    requests: Vec<Recorded>,
    issued: Vec<Issued>,
    token_ttl: i64,
    code_ttl: Duration,
    rotation: bool,
    grace: Duration,
    token_delay: Duration,
    token_status: Option<u16>,
    revoke_status: Option<u16>,
    refuse_refresh: bool,
    tamper: Option<Tamper>,
    tamper_refresh: Option<Tamper>,
}

type Shared = Mutex<State>;

/// A lock that survives a poisoned mutex: a failed assertion in one test's helper must not turn
/// every later request into a panic.
fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fake, serving on `base` (`http://127.0.0.1:<port>`) until dropped.
pub struct FakeCognito {
    pub base: String,
    state: Arc<Shared>,
    handle: ServerHandle,
}

impl FakeCognito {
    pub async fn start() -> Self {
        let mut clients = HashMap::new();
        clients.insert(
            WEB_CLIENT_ID.to_owned(),
            Client {
                secret: Some(WEB_CLIENT_SECRET.to_owned()),
                scopes: WEB_CLIENT_SCOPES.split(' ').map(str::to_owned).collect(),
                callbacks: Vec::new(),
                sign_outs: Vec::new(),
            },
        );
        let state = Arc::new(Mutex::new(State {
            clients,
            users: HashMap::new(),
            pending: HashMap::new(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            sessions: HashMap::new(),
            calls: HashMap::new(),
            requests: Vec::new(),
            issued: Vec::new(),
            token_ttl: 3600,
            code_ttl: Duration::from_secs(600),
            rotation: false,
            grace: Duration::ZERO,
            token_delay: Duration::ZERO,
            token_status: None,
            revoke_status: None,
            refuse_refresh: false,
            tamper: None,
            tamper_refresh: None,
        }));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .service(web::resource("/oauth2/authorize").to(authorize))
                .service(web::resource("/login").to(login))
                .service(web::resource("/oauth2/token").to(token))
                .service(web::resource("/oauth2/revoke").to(revoke))
                .service(web::resource("/logout").to(logout))
                .service(web::resource(format!("/{POOL_ID}/.well-known/jwks.json")).to(jwks))
                .default_service(web::to(not_found))
        })
        // Two workers: the app's concurrent refreshes must really overlap here.
        .workers(2)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        FakeCognito {
            base: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/{POOL_ID}/.well-known/jwks.json", self.base)
    }

    pub fn authorize_endpoint(&self) -> String {
        format!("{}/oauth2/authorize", self.base)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }

    pub fn revoke_endpoint(&self) -> String {
        format!("{}/oauth2/revoke", self.base)
    }

    pub fn logout_endpoint(&self) -> String {
        format!("{}/logout", self.base)
    }

    /// Adds (or replaces, by username) a user. Tokens are minted from the current record, so
    /// replacing a user changes what the next refresh returns (e.g. groups), as on Cognito.
    pub fn add_user(&self, user: FakeUser) {
        self.state().users.insert(user.username.clone(), user);
    }

    /// Adds a callback URL of the web client (compared byte for byte, as AWS does).
    pub fn allow_callback(&self, url: &str) {
        self.allow_callback_for(WEB_CLIENT_ID, url);
    }

    /// Adds a sign-out URL of the web client.
    pub fn allow_sign_out(&self, url: &str) {
        self.allow_sign_out_for(WEB_CLIENT_ID, url);
    }

    /// `None` makes the web client public: it authenticates with `client_id` in the body.
    pub fn set_client_secret(&self, secret: Option<String>) {
        if let Some(client) = self.state().clients.get_mut(WEB_CLIENT_ID) {
            client.secret = secret;
        }
    }

    /// Another app client of the pool (same allowed scopes), e.g. to show a code or refresh
    /// token is bound to the client it was issued to.
    pub fn add_client(&self, client_id: &str, secret: Option<&str>) {
        self.state().clients.insert(
            client_id.to_owned(),
            Client {
                secret: secret.map(str::to_owned),
                scopes: WEB_CLIENT_SCOPES.split(' ').map(str::to_owned).collect(),
                callbacks: Vec::new(),
                sign_outs: Vec::new(),
            },
        );
    }

    pub fn allow_callback_for(&self, client_id: &str, url: &str) {
        if let Some(client) = self.state().clients.get_mut(client_id) {
            client.callbacks.push(url.to_owned());
        }
    }

    pub fn allow_sign_out_for(&self, client_id: &str, url: &str) {
        if let Some(client) = self.state().clients.get_mut(client_id) {
            client.sign_outs.push(url.to_owned());
        }
    }

    /// Lifetime of the id and access tokens (`exp - iat`, `expires_in`); default 3600 s.
    pub fn set_token_ttl(&self, secs: i64) {
        self.state().token_ttl = secs;
    }

    /// Lifetime of an authorization code; default 10 minutes (AWS's, not configurable there).
    pub fn set_code_ttl(&self, ttl: Duration) {
        self.state().code_ttl = ttl;
    }

    /// Refresh-token rotation on the client (default off).
    pub fn set_rotation(&self, on: bool) {
        self.state().rotation = on;
    }

    /// How long a rotated-away refresh token still works (`RetryGracePeriodSeconds`, default 0).
    pub fn set_grace_period(&self, secs: u64) {
        self.state().grace = Duration::from_secs(secs);
    }

    /// The token endpoint waits this long before answering. It does its work first (a code is
    /// spent, a token rotated), as when the answer of a slow server is lost on the way back.
    pub fn set_token_delay(&self, delay: Duration) {
        self.state().token_delay = delay;
    }

    /// The token endpoint answers this status with `{"error":"internal_error"}` and does nothing.
    pub fn set_token_status(&self, status: Option<u16>) {
        self.state().token_status = status;
    }

    /// The revocation endpoint answers this status (RFC 7009 §2.2.1: 503 when it cannot now) and
    /// revokes nothing.
    pub fn set_revoke_status(&self, status: Option<u16>) {
        self.state().revoke_status = status;
    }

    /// Every refresh is refused with `invalid_grant` (the user was disabled, signed out
    /// globally, or the token expired).
    pub fn refuse_refresh(&self, refuse: bool) {
        self.state().refuse_refresh = refuse;
    }

    /// The next authorization-code exchange lies this way.
    pub fn tamper_next(&self, tamper: Tamper) {
        self.state().tamper = Some(tamper);
    }

    /// The next refresh lies this way.
    pub fn tamper_next_refresh(&self, tamper: Tamper) {
        self.state().tamper_refresh = Some(tamper);
    }

    /// How many requests of a kind arrived, refused ones included: `authorize`, `login`,
    /// `login_failed`, `token`, `token:<grant_type>`, `revoke`, `logout`, `jwks`.
    pub fn calls(&self, what: &str) -> usize {
        self.state().calls.get(what).copied().unwrap_or(0)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// Requests to one path, e.g. `/oauth2/token`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.state()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn issued(&self) -> Vec<Issued> {
        self.state().issued.clone()
    }

    /// Whether this refresh token was revoked (itself or its family). Unknown tokens: false.
    pub fn revoked(&self, refresh_token: &str) -> bool {
        self.state()
            .refresh
            .get(refresh_token)
            .is_some_and(|r| r.revoked)
    }

    /// Refresh tokens that would be accepted now.
    pub fn live_refresh_tokens(&self) -> usize {
        let at = Instant::now();
        self.state().refresh.values().filter(|r| r.live(at)).count()
    }

    /// Managed-login sessions (browsers that would skip the login form).
    pub fn sessions(&self) -> usize {
        self.state().sessions.len()
    }

    /// Plays the user at the managed login: opens `authorize_url` with `browser` (no redirects
    /// followed, cookies kept), fills the form and returns the `Location` Cognito sends the browser
    /// to (the app's callback with `code` and `state`, or with `error`). If the managed-login
    /// session cookie skips the form, returns the authorize answer's `Location` at once.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        username: &str,
        password: &str,
    ) -> String {
        let page = browser
            .get(authorize_url)
            .send()
            .await
            .expect("the authorize request reaches the fake");
        if page.status() == 302 {
            return location(&page);
        }
        let status = page.status();
        let html = page.text().await.expect("login page body");
        assert_eq!(status, 200, "authorize answered {status}: {html}");
        let request = hidden_request(&html).expect("the login page carries the request id");
        let answer = browser
            .post(format!("{}/login", self.base))
            .header(CONTENT_TYPE.as_str(), FORM)
            .body(form_body(&[
                ("username", username),
                ("password", password),
                ("request", &request),
            ]))
            .send()
            .await
            .expect("the login form reaches the fake");
        if answer.status() != 302 {
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            panic!("sign-in as {username} answered {status}, not 302: {text}");
        }
        location(&answer)
    }
}

impl Drop for FakeCognito {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// The query parameters of a URL (the last value of a repeated one), to inspect what the app
/// asked the authorize endpoint for or what came back to its callback.
pub fn authorize_params(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// `BASE64URL(SHA256(verifier))`: the S256 code challenge of RFC 7636 §4.2.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// A fresh PKCE verifier (43 characters) and its challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_b64(32);
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_auth(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret)))
    )
}

/// A form body, properly encoded.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The claims of a JWT, read without checking the signature (tests check the header's kid
/// against the JWKS instead). Panics on anything that is not a JWT: tests want that loud.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = || -> Value {
        let part = parts.next().expect("a JWT part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    (decode(), decode())
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("an ASCII Location")
        .to_owned()
}

fn hidden_request(html: &str) -> Option<String> {
    let after = html.split_once(r#"name="request" value=""#)?.1;
    Some(after.split_once('"')?.0.to_owned())
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// An opaque refresh token the size and shape of Cognito's (a JWE of ~1.8 KB): apps must store
/// it as a blob of that size and never parse it.
fn new_refresh_token() -> String {
    format!(
        "{}.{}.{}.{}.{}",
        URL_SAFE_NO_PAD.encode(REFRESH_HEADER),
        random_b64(256),
        random_b64(12),
        random_b64(1000),
        random_b64(16)
    )
}

/// Parameters of a query string or form body, repeats kept (RFC 6749 §3.1 forbids them).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(input: &[u8]) -> Self {
        Params(form_urlencoded::parse(input).into_owned().collect())
    }

    /// A parameter's (first) value; an empty one counts as omitted (RFC 6749 §3.1). Endpoints
    /// refuse repeats before they trust this.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn repeated(&self, name: &str) -> bool {
        self.0.iter().filter(|(k, _)| k == name).count() > 1
    }

    fn any_repeated(&self) -> bool {
        let mut seen = HashSet::new();
        self.0.iter().any(|(k, _)| !seen.insert(k.as_str()))
    }
}

impl State {
    fn count(&mut self, what: &str) {
        *self.calls.entry(what.to_owned()).or_default() += 1;
    }

    fn record(&mut self, req: &HttpRequest, params: &Params) {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.requests.push(Recorded {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            fields: params.0.clone(),
            authorization: header(AUTHORIZATION),
            content_type: header(CONTENT_TYPE),
        });
    }

    /// A single-use code for a signed-in user (10 minutes, like AWS).
    fn new_code(&mut self, pending: &Pending, username: &str, auth_time: i64) -> String {
        let code = uuid::Uuid::new_v4().to_string();
        self.codes.insert(
            code.clone(),
            Code {
                client_id: pending.client_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                code_challenge: pending.code_challenge.clone(),
                nonce: pending.nonce.clone(),
                scope: pending.scope.clone(),
                username: username.to_owned(),
                auth_time,
                expires: Instant::now() + self.code_ttl,
                used: false,
            },
        );
        code
    }

    /// An id and an access token as Cognito mints them (claims of COGNITO.md §2).
    fn mint(&self, grant: &Grant<'_>, tamper: Option<Tamper>) -> (String, String) {
        let user = grant.user;
        let iat = now();
        let exp = iat + self.token_ttl;
        let event_id = uuid::Uuid::new_v4().to_string();
        let issuer = if tamper == Some(Tamper::OtherIssuer) {
            OTHER_ISSUER
        } else {
            ISSUER
        };
        let audience = if tamper == Some(Tamper::OtherAudience) {
            OTHER_CLIENT_ID
        } else {
            grant.client_id
        };
        let access_sub = if tamper == Some(Tamper::SubMismatch) {
            uuid::Uuid::new_v4().to_string()
        } else {
            user.sub.clone()
        };
        let (access_signer, id_signer): (&TestKey, &TestKey) = if tamper == Some(Tamper::ForeignKey)
        {
            (attacker_key(), attacker_key())
        } else {
            (access_key(), id_key())
        };

        let mut access = Map::new();
        access.insert("sub".into(), json!(access_sub));
        if !user.groups.is_empty() {
            access.insert("cognito:groups".into(), json!(user.groups));
        }
        access.insert("iss".into(), json!(issuer));
        access.insert("version".into(), json!(2));
        access.insert("client_id".into(), json!(audience));
        access.insert("origin_jti".into(), json!(grant.origin_jti));
        access.insert("event_id".into(), json!(event_id));
        access.insert("token_use".into(), json!("access"));
        access.insert("scope".into(), json!(grant.scope));
        access.insert("auth_time".into(), json!(grant.auth_time));
        access.insert("exp".into(), json!(exp));
        access.insert("iat".into(), json!(iat));
        access.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        access.insert("username".into(), json!(user.username));
        let access_token = access_signer.sign(&Value::Object(access));

        // OIDC Core §3.1.3.6: the left half of SHA-256 of the access token.
        let hash = digest(&SHA256, access_token.as_bytes());
        let at_hash = URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16]);
        let nonce = match tamper {
            Some(Tamper::WrongNonce) => Some(format!("not-{}", random_b64(16))),
            _ => grant.nonce.map(str::to_owned),
        };
        let mut id = Map::new();
        id.insert("at_hash".into(), json!(at_hash));
        id.insert("sub".into(), json!(user.sub));
        id.insert("email_verified".into(), json!(true));
        if !user.groups.is_empty() {
            id.insert("cognito:groups".into(), json!(user.groups));
        }
        id.insert("iss".into(), json!(issuer));
        id.insert("cognito:username".into(), json!(user.username));
        id.insert("origin_jti".into(), json!(grant.origin_jti));
        id.insert("aud".into(), json!(audience));
        id.insert("event_id".into(), json!(event_id));
        id.insert("token_use".into(), json!("id"));
        id.insert("auth_time".into(), json!(grant.auth_time));
        if let Some(nonce) = nonce {
            id.insert("nonce".into(), json!(nonce));
        }
        id.insert("exp".into(), json!(exp));
        id.insert("iat".into(), json!(iat));
        id.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        id.insert("email".into(), json!(user.email));
        id.insert("given_name".into(), json!(user.given_name));
        id.insert("family_name".into(), json!(user.family_name));
        let id_token = id_signer.sign(&Value::Object(id));
        (id_token, access_token)
    }
}

/// What the tokens of one issue are about.
struct Grant<'a> {
    client_id: &'a str,
    user: &'a FakeUser,
    scope: &'a str,
    origin_jti: &'a str,
    auth_time: i64,
    nonce: Option<&'a str>,
}

/// The page the managed login shows when it cannot send the browser back (unknown client, a
/// redirect_uri that is not a callback URL): no redirect, as AWS does.
fn error_page(error: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html><html><head><title>Error</title></head><body>\
             <h1>An error was encountered with the requested page.</h1>\
             <p id=\"error\">{}</p><p id=\"error_description\">{}</p></body></html>",
            escape(error),
            escape(description)
        ))
}

/// A redirect to `uri` with parameters appended to its query.
fn redirect_with(uri: &str, pairs: &[(&str, Option<&str>)]) -> HttpResponse {
    let Ok(mut url) = Url::parse(uri) else {
        return error_page("invalid_request", "the redirect_uri is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    HttpResponse::Found()
        .insert_header((LOCATION, url.as_str()))
        .finish()
}

/// RFC 6749 §4.1.2.1: an error the browser carries back to the client.
fn redirect_error(uri: &str, error: &str, description: &str, state: Option<&str>) -> HttpResponse {
    redirect_with(
        uri,
        &[
            ("error", Some(error)),
            ("error_description", Some(description)),
            ("state", state),
        ],
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn login_page(request: &str, username: &str, error: Option<&str>) -> HttpResponse {
    let error = error.map_or_else(String::new, |e| {
        format!(
            r#"<p id="loginErrorMessage" class="error">{}</p>"#,
            escape(e)
        )
    });
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            r#"<!DOCTYPE html>
<html><head><title>Signin</title></head><body>
<h1>Sign in</h1>
{error}
<form method="post" action="/login">
<input type="hidden" name="request" value="{request}">
<label for="username">Username</label>
<input id="username" name="username" type="text" value="{username}" autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit" id="signin">Sign in</button>
<button type="submit" name="deny" value="1" id="deny">Cancel</button>
</form>
</body></html>"#,
            request = escape(request),
            username = escape(username),
        ))
}

fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().finish()
}

/// The session id of the browser's session cookie, if the fake still knows it.
fn session_of(req: &HttpRequest) -> Option<String> {
    Some(req.cookie(SESSION_COOKIE)?.value().to_owned())
}

/// `GET /oauth2/authorize`.
async fn authorize(req: HttpRequest, data: web::Data<Shared>) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    let mut s = lock(&data);
    s.record(&req, &params);
    s.count("authorize");
    if req.method() != Method::GET {
        return method_not_allowed();
    }

    // Until the redirect_uri is known good, errors stay on the fake's own page: sending them to
    // an unvetted URI would make the fake an open redirector.
    if params.repeated("client_id") || params.repeated("redirect_uri") {
        return error_page("invalid_request", "client_id or redirect_uri sent twice");
    }
    let Some(client_id) = params.get("client_id") else {
        return error_page("invalid_request", "client_id is missing");
    };
    let Some(client) = s.clients.get(client_id) else {
        return error_page("invalid_client", "no such client");
    };
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .filter(|uri| client.callbacks.iter().any(|c| c == uri))
    else {
        return error_page("redirect_mismatch", "redirect_uri is not a callback URL");
    };
    let state = params.get("state");
    let refuse = |error, description| redirect_error(redirect_uri, error, description, state);

    if params.any_repeated() {
        return refuse("invalid_request", "a parameter was sent twice");
    }
    match params.get("response_type") {
        None => return refuse("invalid_request", "response_type is missing"),
        Some("code") => {}
        Some(_) => return refuse("unsupported_response_type", "only code is supported"),
    }
    let Some(scope) = params.get("scope") else {
        return refuse("invalid_scope", "scope is missing");
    };
    let mut granted: Vec<&str> = Vec::new();
    for wanted in scope.split(' ') {
        if !client.scopes.iter().any(|s| s == wanted) {
            return refuse("invalid_scope", "a scope is not allowed for this client");
        }
        if !granted.contains(&wanted) {
            granted.push(wanted);
        }
    }
    if !granted.contains(&"openid") {
        return refuse("invalid_scope", "openid is required");
    }
    // PKCE is required, and only S256 (RFC 7636 §4.4.1: an unsupported method is
    // invalid_request). Without a method RFC 7636 means `plain`, so that is refused too.
    match params.get("code_challenge_method") {
        Some("S256") => {}
        Some(_) => return refuse("invalid_request", "code_challenge_method must be S256"),
        None => return refuse("invalid_request", "PKCE is required (S256)"),
    }
    let Some(code_challenge) = params.get("code_challenge").filter(|c| {
        c.len() == 43
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) else {
        return refuse(
            "invalid_request",
            "code_challenge must be 43 base64url characters",
        );
    };

    let pending = Pending {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope: granted.join(" "),
        state: state.map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
    };

    // The managed login remembers the browser: no form while its session lasts.
    let session = session_of(&req)
        .and_then(|id| s.sessions.get(&id))
        .map(|session| (session.username.clone(), session.auth_time));
    if let Some((username, auth_time)) = session
        && s.users.contains_key(&username)
    {
        // auth_time stays the time the user typed the password (OIDC Core §2).
        let code = s.new_code(&pending, &username, auth_time);
        return redirect_with(
            redirect_uri,
            &[
                ("code", Some(code.as_str())),
                ("state", pending.state.as_deref()),
            ],
        );
    }
    let request = uuid::Uuid::new_v4().simple().to_string();
    s.pending.insert(request.clone(), pending);
    login_page(&request, "", None)
}

/// `POST /login`: the form of the login page.
async fn login(req: HttpRequest, body: web::Bytes, data: web::Data<Shared>) -> HttpResponse {
    let params = Params::parse(&body);
    let mut s = lock(&data);
    s.record(&req, &params);
    s.count("login");
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    let Some(request) = params.get("request") else {
        return error_page("invalid_request", "the login form lost its request");
    };
    let Some(pending) = s.pending.remove(request) else {
        return error_page("invalid_request", "no such sign-in in progress");
    };
    if params.get("deny").is_some() {
        return redirect_error(
            &pending.redirect_uri,
            "access_denied",
            "the user cancelled",
            pending.state.as_deref(),
        );
    }
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let known = s
        .users
        .get(username)
        .is_some_and(|u| u.password == password);
    if !known {
        s.count("login_failed");
        s.pending.insert(request.to_owned(), pending);
        return login_page(request, username, Some("Incorrect username or password."));
    }

    let auth_time = now();
    let code = s.new_code(&pending, username, auth_time);
    let session = random_b64(32);
    s.sessions.insert(
        session.clone(),
        Session {
            username: username.to_owned(),
            auth_time,
        },
    );
    let mut response = redirect_with(
        &pending.redirect_uri,
        &[
            ("code", Some(code.as_str())),
            ("state", pending.state.as_deref()),
        ],
    );
    let cookie = Cookie::build(SESSION_COOKIE, session)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    // Cannot fail: the cookie's name and value are plain ASCII.
    let _ = response.add_cookie(&cookie);
    response
}

fn oauth_error(error: &str) -> HttpResponse {
    oauth_error_status(StatusCode::BAD_REQUEST, error)
}

fn oauth_error_status(status: StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(json!({ "error": error }).to_string())
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM))
}

/// The percent-decoding of application/x-www-form-urlencoded (`+` is a space).
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Client authentication of the token and revoke endpoints: HTTP Basic for a client with a
/// secret (RFC 6749 §2.3.1), `client_id` in the body for a public one. A body `client_id` next
/// to Basic must name the same client. Returns the client id, or the error code.
fn authenticate(s: &State, req: &HttpRequest, params: &Params) -> Result<String, &'static str> {
    let body_id = params.get("client_id");
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        let id = body_id.ok_or("invalid_client")?;
        let client = s.clients.get(id).ok_or("invalid_client")?;
        // A client with a secret must prove it; a secret in the body is not accepted here.
        return match client.secret {
            None => Ok(id.to_owned()),
            Some(_) => Err("invalid_client"),
        };
    };
    let (id, secret) = header
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| STANDARD.decode(encoded.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            Some((form_decode(id)?, form_decode(secret)?))
        })
        .ok_or("invalid_client")?;
    let client = s.clients.get(&id).ok_or("invalid_client")?;
    if client.secret.as_deref() != Some(secret.as_str()) {
        return Err("invalid_client");
    }
    if body_id.is_some_and(|b| b != id) {
        return Err("invalid_client");
    }
    Ok(id)
}

/// `POST /oauth2/token`.
async fn token(req: HttpRequest, body: web::Bytes, data: web::Data<Shared>) -> HttpResponse {
    let params = Params::parse(&body);
    let (answer, delay) = {
        let mut s = lock(&data);
        s.record(&req, &params);
        s.count("token");
        if let Some(grant_type) = params.get("grant_type") {
            s.count(&format!("token:{grant_type}"));
        }
        let answer = token_answer(&mut s, &req, &params);
        (answer, s.token_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    answer
}

fn token_answer(s: &mut State, req: &HttpRequest, params: &Params) -> HttpResponse {
    if let Some(status) = s.token_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return oauth_error_status(status, "internal_error");
    }
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    if !is_form(req) || params.any_repeated() {
        return oauth_error("invalid_request");
    }
    let client_id = match authenticate(s, req, params) {
        Ok(id) => id,
        Err(error) => return oauth_error(error),
    };
    let result = match params.get("grant_type") {
        Some("authorization_code") => exchange_code(s, &client_id, params),
        Some("refresh_token") => refresh(s, &client_id, params),
        Some(_) => Err("unsupported_grant_type"),
        None => Err("invalid_request"),
    };
    match result {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(body.to_string()),
        Err(error) => oauth_error(error),
    }
}

fn exchange_code(s: &mut State, client_id: &str, params: &Params) -> Result<Value, &'static str> {
    let (Some(code), Some(redirect_uri), Some(verifier)) = (
        params.get("code"),
        params.get("redirect_uri"),
        params.get("code_verifier"),
    ) else {
        return Err("invalid_request");
    };
    let entry = s.codes.get_mut(code).ok_or("invalid_grant")?;
    // A code presented by another client is not spent: that client cannot know it legitimately.
    if entry.client_id != client_id || entry.used {
        return Err("invalid_grant");
    }
    // Spent by this attempt whatever its outcome: the app gets one try per code, as on AWS.
    entry.used = true;
    let verifier_ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        && pkce_challenge(verifier) == entry.code_challenge;
    if Instant::now() >= entry.expires || entry.redirect_uri != redirect_uri || !verifier_ok {
        return Err("invalid_grant");
    }
    let (username, scope, nonce, auth_time) = (
        entry.username.clone(),
        entry.scope.clone(),
        entry.nonce.clone(),
        entry.auth_time,
    );
    let user = s.users.get(&username).ok_or("invalid_grant")?.clone();
    let origin_jti = uuid::Uuid::new_v4().to_string();
    let tamper = s.tamper.take();
    let (id_token, access_token) = s.mint(
        &Grant {
            client_id,
            user: &user,
            scope: &scope,
            origin_jti: &origin_jti,
            auth_time,
            nonce: nonce.as_deref(),
        },
        tamper,
    );
    let refresh_token = new_refresh_token();
    s.refresh.insert(
        refresh_token.clone(),
        Refresh {
            client_id: client_id.to_owned(),
            username,
            origin_jti,
            auth_time,
            scope,
            revoked: false,
            usable_until: None,
        },
    );
    Ok(s.respond(
        "authorization_code",
        id_token,
        access_token,
        Some(refresh_token),
    ))
}

fn refresh(s: &mut State, client_id: &str, params: &Params) -> Result<Value, &'static str> {
    let presented = params.get("refresh_token").ok_or("invalid_request")?;
    if s.refuse_refresh {
        return Err("invalid_grant");
    }
    let at = Instant::now();
    let old = s
        .refresh
        .get(presented)
        .filter(|r| r.client_id == client_id && r.live(at))
        .ok_or("invalid_grant")?;
    let (username, origin_jti, auth_time, scope) = (
        old.username.clone(),
        old.origin_jti.clone(),
        old.auth_time,
        old.scope.clone(),
    );
    let user = s.users.get(&username).ok_or("invalid_grant")?.clone();
    // Refreshed tokens keep the sign-in's origin_jti and auth_time (OIDC Core §12.2), and carry
    // no nonce: there was no authorize request.
    let tamper = s.tamper_refresh.take();
    let (id_token, access_token) = s.mint(
        &Grant {
            client_id,
            user: &user,
            scope: &scope,
            origin_jti: &origin_jti,
            auth_time,
            nonce: None,
        },
        tamper,
    );
    let rotated = if s.rotation {
        let grace = s.grace;
        if let Some(old) = s.refresh.get_mut(presented) {
            // Retries within the grace period keep the original deadline.
            old.usable_until.get_or_insert(at + grace);
        }
        let new = new_refresh_token();
        s.refresh.insert(
            new.clone(),
            Refresh {
                client_id: client_id.to_owned(),
                username,
                origin_jti,
                auth_time,
                scope,
                revoked: false,
                usable_until: None,
            },
        );
        Some(new)
    } else {
        None
    };
    Ok(s.respond("refresh_token", id_token, access_token, rotated))
}

impl State {
    fn respond(
        &mut self,
        grant_type: &str,
        id_token: String,
        access_token: String,
        refresh_token: Option<String>,
    ) -> Value {
        let mut body = json!({
            "id_token": id_token,
            "access_token": access_token,
            "expires_in": self.token_ttl,
            "token_type": "Bearer",
        });
        if let Some(refresh_token) = &refresh_token {
            body["refresh_token"] = json!(refresh_token);
        }
        self.issued.push(Issued {
            grant_type: grant_type.to_owned(),
            id_token,
            access_token,
            refresh_token,
        });
        body
    }
}

/// `POST /oauth2/revoke` (RFC 7009): revokes a refresh token and its whole family.
async fn revoke(req: HttpRequest, body: web::Bytes, data: web::Data<Shared>) -> HttpResponse {
    let params = Params::parse(&body);
    let mut s = lock(&data);
    s.record(&req, &params);
    s.count("revoke");
    if let Some(status) = s.revoke_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return oauth_error_status(status, "internal_error");
    }
    if req.method() != Method::POST {
        return method_not_allowed();
    }
    if !is_form(&req) || params.any_repeated() {
        return oauth_error("invalid_request");
    }
    let client_id = match authenticate(&s, &req, &params) {
        Ok(id) => id,
        Err(error) => return oauth_error(error),
    };
    let Some(token) = params.get("token") else {
        return oauth_error("invalid_request");
    };
    let family = match s.refresh.get(token) {
        // RFC 7009 §2.1: a token of another client is refused, not revoked.
        Some(r) if r.client_id != client_id => return oauth_error("invalid_request"),
        Some(r) => Some(r.origin_jti.clone()),
        // RFC 7009 §2.2: an unknown token is no error (it may be gone already).
        None => None,
    };
    if let Some(family) = family {
        for r in s.refresh.values_mut().filter(|r| r.origin_jti == family) {
            r.revoked = true;
        }
    }
    HttpResponse::Ok().finish()
}

/// `GET /logout`: ends the managed-login session and sends the browser to `logout_uri`.
async fn logout(req: HttpRequest, data: web::Data<Shared>) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    let mut s = lock(&data);
    s.record(&req, &params);
    s.count("logout");
    if req.method() != Method::GET {
        return method_not_allowed();
    }
    let Some(client) = params.get("client_id").and_then(|id| s.clients.get(id)) else {
        return error_page("invalid_request", "unknown or missing client_id");
    };
    let Some(logout_uri) = params
        .get("logout_uri")
        .filter(|uri| client.sign_outs.iter().any(|o| o == uri))
        .map(str::to_owned)
    else {
        return error_page("invalid_request", "logout_uri is not a sign-out URL");
    };
    if let Some(session) = session_of(&req) {
        s.sessions.remove(&session);
    }
    let mut response = HttpResponse::Found()
        .insert_header((LOCATION, logout_uri))
        .finish();
    let mut cookie = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .finish();
    cookie.make_removal();
    let _ = response.add_cookie(&cookie);
    response
}

async fn jwks(req: HttpRequest, data: web::Data<Shared>) -> HttpResponse {
    {
        let mut s = lock(&data);
        s.record(&req, &Params(Vec::new()));
        s.count("jwks");
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(jwks_body(&[access_key(), id_key()]))
}

async fn not_found(req: HttpRequest, data: web::Data<Shared>) -> HttpResponse {
    lock(&data).record(&req, &Params::parse(req.query_string().as_bytes()));
    HttpResponse::NotFound().finish()
}
