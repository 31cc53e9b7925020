//! Property test: whatever body arrives at any write endpoint, the answer is never a 5xx, and
//! every 4xx is the API's JSON error (`{"error": {"code", "message"}}`).
//!
//! The endpoints are read from the served OpenAPI document (every POST, PUT, PATCH and DELETE), so
//! a new write route is fuzzed without anyone remembering to add it. Each case is one generated
//! request (body, content type, `If-Match`, path id) sent to every one of them. Bodies are biased
//! towards what the handlers read (known field names, Cognito event shapes, signed hook payloads)
//! so they get past the parsers: strings with NUL, blanks, right-to-left marks, lengths at and
//! past each limit; numbers, nulls, arrays and objects where strings belong; cut-off and non-JSON
//! bytes.
//!
//! 500 cases by default; `PROPTEST_CASES=N` for more or fewer, `PROPTEST_RNG_SEED=S` to replay a
//! run (a failure prints its seed and the smallest failing request proptest shrank it to).

use std::cell::RefCell;
use std::fmt;
use std::sync::mpsc;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::cognito::*;
use crate::hooks::signature;

const HOOK_SECRET: &str = "hook-secret-0123456789abcdef0123456789";
const HOOK_PATH: &str = "/api/v1/hooks/cognito/post-confirmation";

/// Names the handlers read, so generated objects often reach field validation and the database.
const FIELDS: &[&str] = &[
    "name",
    "body",
    "first_name",
    "last_name",
    "email",
    "username",
    "id",
    "author",
    "groups",
    "is_active",
    "is_staff",
    "created_at",
    "updated_at",
    "userName",
    "userPoolId",
    "triggerSource",
    "request",
    "userAttributes",
    "",
];

/// The fields `POST`/`PATCH` of articles and `PATCH /me` accept.
const WRITABLE: &[&str] = &["name", "body", "first_name", "last_name"];

const ATTRIBUTES: &[&str] = &[
    "sub",
    "email",
    "email_verified",
    "given_name",
    "family_name",
    "cognito:user_status",
];

/// Strings that have broken web apps before.
const NASTY: &[&str] = &[
    "",
    " ",
    "\t\n",
    "\u{0}",
    "a\u{0}b",
    "\u{202e}gnp.exe",
    "\u{feff}",
    "🦀",
    "é",
    "'; DROP TABLE users; --",
    "%",
    "_",
    "\\",
    "\"",
    "<script>alert(1)</script>",
    "true",
    "null",
    "eu-west-1_GateTest1",
    "eu-west-1_Other",
    "PostConfirmation_ConfirmSignUp",
];

/// Lengths at and just past the limits (article names 50, search 100, sub 128, names 150, jti
/// 255, article bodies 100,000).
const LENGTHS: &[usize] = &[
    49, 50, 51, 100, 101, 128, 129, 150, 151, 255, 256, 100_000, 100_001,
];

const EDGE_NUMBERS: &[u64] = &[0, 1, u64::MAX];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ._@+-]{0,24}",
        3 => prop::collection::vec(any::<char>(), 0..16).prop_map(|c| c.into_iter().collect::<String>()),
        3 => select(NASTY).prop_map(str::to_owned),
        1 => select(LENGTHS).prop_map(|n| "x".repeat(n)),
        1 => (select(NASTY), 1usize..200).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => select(FIELDS).prop_map(str::to_owned), 1 => text()]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(EDGE_NUMBERS).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a field the handlers read: mostly a string, sometimes anything else.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![4 => text().prop_map(Value::String), 1 => json_value()]
}

/// An object of (mostly) known fields: what `PATCH /me` and the article endpoints read.
fn fields_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), field_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Only the fields one endpoint takes (an article's name and body, the caller's names), so
/// that many bodies are valid and reach the database.
fn writable_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        select(WRITABLE).prop_map(str::to_owned),
        prop_oneof![6 => text().prop_map(Value::String), 1 => json_value()],
        1..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Something shaped like Cognito's PostConfirmation event, with any field possibly wrong.
fn hook_event() -> impl Strategy<Value = Value> {
    let attributes = prop::collection::btree_map(
        prop_oneof![4 => select(ATTRIBUTES).prop_map(str::to_owned), 1 => text()],
        prop_oneof![6 => text().prop_map(Value::String), 1 => json_value()],
        0..6,
    );
    (
        prop::option::of(field_value()),
        prop::option::of(field_value()),
        prop_oneof![4 => text().prop_map(Value::String), 1 => json_value()],
        attributes,
        any::<bool>(),
    )
        .prop_map(|(pool, trigger, user_name, attributes, wrapped)| {
            let mut event = Map::new();
            if let Some(pool) = pool {
                event.insert("userPoolId".into(), pool);
            }
            if let Some(trigger) = trigger {
                event.insert("triggerSource".into(), trigger);
            }
            event.insert("userName".into(), user_name);
            let attributes = Value::Object(attributes.into_iter().collect());
            // Sometimes `request` is the attributes themselves: a wrong shape.
            let request = if wrapped {
                json!({ "userAttributes": attributes })
            } else {
                attributes
            };
            event.insert("request".into(), request);
            Value::Object(event)
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => writable_object().prop_map(|v| v.to_string().into_bytes()),
        3 => fields_object().prop_map(|v| v.to_string().into_bytes()),
        3 => hook_event().prop_map(|v| v.to_string().into_bytes()),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        // Cut anywhere, even inside a multi-byte character.
        1 => (fields_object(), any::<prop::sample::Index>()).prop_map(|(v, at)| {
            let mut bytes = v.to_string().into_bytes();
            bytes.truncate(at.index(bytes.len() + 1));
            bytes
        }),
    ]
}

/// Which object a `{id}` in a path names.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The caller's own article.
    Own,
    /// A UUID that names nothing.
    Missing,
    /// Not a UUID at all.
    Garbage,
}

#[derive(Clone)]
struct Case {
    body: Vec<u8>,
    content_type: Option<&'static str>,
    if_match: Option<String>,
    target: Target,
    /// The hook's signature is valid (else absent or wrong), so the body reaches the handler.
    signed: bool,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("content_type", &self.content_type)
            .field("if_match", &self.if_match)
            .field("target", &self.target)
            .field("signed", &self.signed)
            .finish()
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        body(),
        prop_oneof![
            8 => Just(Some("application/json")),
            1 => Just(Some("application/merge-patch+json")),
            1 => Just(Some("application/json; charset=latin1")),
            1 => Just(Some("text/plain")),
            1 => Just(None),
        ],
        prop::option::weighted(
            0.2,
            prop_oneof![Just("*".to_owned()), "\"[a-z0-9-]{0,40}\""],
        ),
        prop_oneof![6 => Just(Target::Own), 1 => Just(Target::Missing), 1 => Just(Target::Garbage)],
        prop::bool::weighted(0.85),
    )
        .prop_map(|(body, content_type, if_match, target, signed)| Case {
            body,
            content_type,
            if_match,
            target,
            signed,
        })
}

/// The app and its JWKS stub, served by an actix system on a thread of their own, so the property
/// runs in plain synchronous code (proptest's runner) and talks to it over HTTP.
struct Served {
    address: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start() -> Self {
        let (address_tx, address_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let jwks = JwksServer::start(&[access_key()]).await;
                let app = spawn_api(&jwks, &[("COGNITO_HOOK_SECRET", HOOK_SECRET)]).await;
                address_tx.send(app.address.clone()).unwrap();
                // Until the test ends (or panics, dropping the sender).
                let _ = stopped.await;
                drop(app);
                drop(jwks);
            });
        });
        let address = address_rx.recv().expect("the app starts");
        Served {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The write operations (method, path template) the served OpenAPI document lists.
fn write_operations(doc: &Value) -> Vec<(Method, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (name, method) in [
            ("post", Method::POST),
            ("put", Method::PUT),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
        ] {
            if item.get(name).is_some() {
                operations.push((method, path.clone()));
            }
        }
    }
    operations
}

/// What the property needs between cases: the caller's token (renewed after a logout) and their
/// article (re-created after a delete).
struct World {
    client: reqwest::Client,
    address: String,
    token: String,
    sub: String,
    article: String,
}

impl World {
    async fn new_article(&mut self) {
        let response = self
            .client
            .post(format!("{}/api/v1/articles", self.address))
            .bearer_auth(&self.token)
            .json(&json!({"name": "fuzz target"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        self.article = created["id"].as_str().unwrap().to_owned();
    }

    fn path(&self, template: &str, target: Target) -> String {
        let id = match target {
            Target::Own => self.article.clone(),
            Target::Missing => uuid::Uuid::new_v4().to_string(),
            Target::Garbage => "not-a-uuid".to_owned(),
        };
        template.replace("{id}", &id)
    }

    /// Sends the case to one operation; `Err` describes a broken property.
    async fn check(&mut self, method: &Method, template: &str, case: &Case) -> Result<u16, String> {
        let path = self.path(template, case.target);
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .bearer_auth(&self.token)
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("Content-Type", content_type);
        }
        if let Some(tag) = &case.if_match {
            request = request.header("If-Match", tag);
        }
        if template == HOOK_PATH {
            let now = chrono::Utc::now().timestamp();
            let header = if case.signed {
                signature(HOOK_SECRET, now, &case.body)
            } else {
                signature(HOOK_SECRET, now, b"something else")
            };
            request = request.header("X-Gatehouse-Signature", header);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: no answer: {e}"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        if status >= 500 {
            return Err(format!("{method} {path} answered {status}: {text}"));
        }
        if (400..500).contains(&status) {
            let body: Value = serde_json::from_str(&text).map_err(|_| {
                format!(
                    "{method} {path} answered {status} without a JSON body ({content_type}): {text}"
                )
            })?;
            let error = &body["error"];
            let ok = content_type.starts_with("application/json")
                && error["code"].as_str().is_some_and(|c| !c.is_empty())
                && error["message"].as_str().is_some_and(|m| !m.is_empty());
            if !ok {
                return Err(format!(
                    "{method} {path} answered {status} without the error shape: {text}"
                ));
            }
        }
        // Keep the world usable for the next case.
        if template.ends_with("/logout") && status == 204 {
            self.token = access_key().sign(&access_claims(&self.sub, "fuzzer"));
        }
        if method == Method::DELETE && status == 204 && matches!(case.target, Target::Own) {
            self.new_article().await;
        }
        Ok(status)
    }
}

#[test]
fn random_bodies_to_every_write_endpoint_never_produce_a_server_error() {
    let served = Served::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sub = new_sub();
    let token = access_key().sign(&access_claims(&sub, "fuzzer"));
    let mut world = World {
        client: reqwest::Client::new(),
        address: served.address.clone(),
        token,
        sub,
        article: String::new(),
    };
    let operations = runtime.block_on(async {
        world.new_article().await;
        let mut operations = Vec::new();
        for doc in ["openapi.json", "hooks/openapi.json"] {
            let doc: Value = world
                .client
                .get(format!("{}/api/{doc}", world.address))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            operations.extend(write_operations(&doc));
        }
        operations
    });
    for expected in [
        (Method::POST, "/api/v1/articles"),
        (Method::PATCH, "/api/v1/articles/{id}"),
        (Method::DELETE, "/api/v1/articles/{id}"),
        (Method::PATCH, "/api/v1/me"),
        (Method::POST, "/api/v1/logout"),
        (Method::POST, HOOK_PATH),
    ] {
        assert!(
            operations
                .iter()
                .any(|(m, p)| *m == expected.0 && p == expected.1),
            "{expected:?} missing from {operations:?}"
        );
    }

    let mut config = Config {
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 500;
    }
    // A seed of our own when none is given, so a failure names the run to replay.
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => rand::random(),
    };
    config.rng_seed = RngSeed::Fixed(seed);
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let world = RefCell::new(world);
    let statuses = RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let started = std::time::Instant::now();

    let result = runner.run(&case(), |case| {
        let mut world = world.borrow_mut();
        for (method, template) in &operations {
            let status = runtime
                .block_on(world.check(method, template, &case))
                .map_err(TestCaseError::fail)?;
            *statuses.borrow_mut().entry(status).or_default() += 1;
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => {
            panic!("PROPTEST_RNG_SEED={seed}: {reason}\nsmallest failing case: {case:#?}")
        }
        Err(e) => panic!("PROPTEST_RNG_SEED={seed}: {e}"),
    }
    let statuses = statuses.into_inner();
    eprintln!(
        "{cases} cases × {} write operations in {:?} (seed {seed}): {statuses:?}",
        operations.len(),
        started.elapsed()
    );
    // The generator reached past the parsers: valid bodies were accepted, and invalid ones were
    // refused for each reason (checked when there were enough cases to expect it).
    if cases >= 200 {
        for expected in [200, 201, 204, 400, 401, 404, 412, 413, 415, 422] {
            assert!(
                statuses.contains_key(&expected),
                "no {expected}: {statuses:?}"
            );
        }
    }
    drop(served);
}
