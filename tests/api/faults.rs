//! Faults under load: the database going away and coming back, a JWKS that is slow, failing,
//! garbage or huge, and SIGTERM with requests in flight. What must hold: answers stay precise
//! (503 with a code, never a 500 or a hang), the process stays up, service returns by itself.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::cognito::*;
use crate::helpers::{TestApp, TestDb, spawn_app_on, test_settings};

/// A TCP proxy in front of PostgreSQL that a test can cut: `cut()` drops every proxied connection
/// and turns new ones away, as a restarting server does, until `restore()`.
struct DbProxy {
    port: u16,
    up: watch::Sender<bool>,
}

impl DbProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, watcher) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watcher = watcher.clone();
                if !*watcher.borrow() {
                    continue; // dropped: the client sees the connection close at once
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watcher.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        DbProxy { port, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

fn cognito_overrides(jwks: &JwksServer) -> Vec<(&'static str, String)> {
    vec![
        ("GATEHOUSE_ENV", "development".to_owned()),
        ("COGNITO_ISSUER", ISSUER.to_owned()),
        ("COGNITO_JWKS_URL", jwks.url.clone()),
        ("COGNITO_CLIENT_IDS", CLIENT_ID.to_owned()),
    ]
}

async fn wait_ready(app: &TestApp) {
    for _ in 0..100 {
        if app.get("/readyz").await.status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the app never became ready");
}

#[actix_web::test]
async fn a_database_outage_answers_503_promptly_and_service_returns_by_itself() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let db = TestDb::migrated().await;
    let mut url = url::Url::parse(&db.url).unwrap();
    let target = SocketAddr::new(
        url.host_str().unwrap().parse().unwrap(),
        url.port().unwrap_or(5432),
    );
    let proxy = DbProxy::start(target).await;
    url.set_port(Some(proxy.port)).unwrap();
    let overrides = cognito_overrides(&jwks);
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = Arc::new(spawn_app_on(db, test_settings(url.as_str(), &overrides)));
    wait_ready(&app).await;
    let token = access_key().sign(&access_claims(&new_sub(), "steady"));
    assert_eq!(app.me(&token).await.status(), 200);

    // Steady load through the outage: every answer is 200 or a 503 that says why.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (app, token, stop) = (app.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let response = app.me(&token).await;
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap();
                    seen.push((status, body["error"]["code"].clone(), started.elapsed()));
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let down = app.me(&token).await;
    assert_eq!(down.status(), 503);
    assert_eq!(down.headers()["retry-after"], "1");
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"]["database"]["status"], "error", "{ready}");
    tokio::time::sleep(Duration::from_millis(700)).await;

    proxy.restore();
    let back = Instant::now();
    while app.me(&token).await.status() != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "service returned within 2 s of the database"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);

    let mut unavailable = 0;
    for task in load {
        for (status, code, elapsed) in task.await.unwrap() {
            match status {
                200 => {}
                503 => {
                    assert_eq!(code, "database_unavailable");
                    unavailable += 1;
                }
                other => panic!("status {other} ({code}) during the outage"),
            }
            // Bounded by the pool's wait (2 s in tests): a dead database never hangs a request.
            assert!(
                elapsed < Duration::from_secs(3),
                "a request took {elapsed:?}"
            );
        }
    }
    assert!(unavailable > 0, "the load saw the outage");
}

#[actix_web::test]
async fn a_failing_huge_or_slow_jwks_costs_new_kids_a_prompt_503_and_cached_keys_keep_working() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[MIN_REFETCH]).await;
    let known = access_key().sign(&access_claims(&new_sub(), "known"));
    let new_kid = rotated_key().sign(&access_claims(&new_sub(), "new"));
    jwks.set_keys(&[access_key(), rotated_key()]);

    jwks.set_status(500);
    let (status, code, _) = refusal(app.me(&new_kid).await).await;
    assert_eq!((status, code.as_str()), (503, "jwks_unavailable"));
    assert_eq!(app.me(&known).await.status(), 200);
    jwks.set_status(200);

    for garbage in [
        "<html>502 Bad Gateway</html>",
        "{\"keys\": 7}",
        "\u{0}\u{1}\u{2}",
    ] {
        jwks.set_body(garbage);
        refetch_allowed_again().await;
        let hits = jwks.hits();
        let (status, code, _) = refusal(app.me(&new_kid).await).await;
        assert_eq!(jwks.hits(), hits + 1, "{garbage} was fetched");
        assert_eq!(
            (status, code.as_str()),
            (503, "jwks_unavailable"),
            "{garbage}"
        );
        assert_eq!(app.me(&known).await.status(), 200);
    }

    // 10 MB: the fetch stops reading at 64 KiB.
    jwks.set_body(&format!(
        "{{\"keys\":[],\"padding\":\"{}\"}}",
        "x".repeat(10 << 20)
    ));
    refetch_allowed_again().await;
    let (status, code, _) = refusal(app.me(&new_kid).await).await;
    assert_eq!((status, code.as_str()), (503, "jwks_unavailable"));
    assert_eq!(app.me(&known).await.status(), 200);

    // Ten seconds to answer: a new kid waits about a second, not ten, and known keys never wait.
    jwks.set_keys(&[access_key(), rotated_key()]);
    jwks.set_delay(Duration::from_secs(10));
    refetch_allowed_again().await;
    let started = Instant::now();
    let (slow, cached) = futures_util::future::join(app.me(&new_kid), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = app.me(&known).await;
        (response.status().as_u16(), started.elapsed())
    })
    .await;
    let waited = started.elapsed();
    let (status, code, _) = refusal(slow).await;
    assert_eq!((status, code.as_str()), (503, "jwks_unavailable"));
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    assert_eq!(cached.0, 200);
    assert!(cached.1 < Duration::from_secs(1), "a cached key waited");
}

#[actix_web::test]
async fn sigterm_under_load_finishes_in_flight_requests_refuses_new_ones_and_exits_0() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let db = TestDb::migrated().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("WORKERS", "2")
        .env("SHUTDOWN_TIMEOUT_SECONDS", "10")
        .env("RUST_LOG", "warn")
        .env("GATEHOUSE_ENV", "development")
        .env("COGNITO_ISSUER", ISSUER)
        .env("COGNITO_JWKS_URL", &jwks.url)
        .env("COGNITO_CLIENT_IDS", CLIENT_ID)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..150 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server became ready");
    let token = access_key().sign(&access_claims(&new_sub(), "writer"));
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // A request in flight across the signal: the headers now, the body after SIGTERM.
    let body = br#"{"name": "Sent across a shutdown", "body": "still saved"}"#;
    let mut in_flight = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    in_flight
        .write_all(
            format!(
                "POST /api/v1/articles HTTP/1.1\r\nHost: localhost\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    in_flight.write_all(&body[..10]).await.unwrap();

    // Load on fresh connections until the end.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (base, token, stop) = (base.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap();
                let (mut ok, mut refused) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    match client
                        .get(format!("{base}/api/v1/me"))
                        .bearer_auth(&token)
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            assert_eq!(status, 200, "an answer during shutdown: {body}");
                            ok += 1;
                        }
                        Err(_) => {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (ok, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "new connections are refused once shutdown begins"
    );

    in_flight.write_all(&body[10..]).await.unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the in-flight request finished: {answer}"
    );
    let saved: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM articles WHERE name = 'Sent across a shutdown'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(saved, 1);

    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let took = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(took < Duration::from_secs(10), "exited after {took:?}");
    let mut answered = 0;
    for task in load {
        answered += task.await.unwrap().0;
    }
    assert!(answered > 0, "the load was served before the signal");
}
