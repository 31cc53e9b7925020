//! The API's hot path, piece by piece: verifying one Cognito access token with a warm key cache,
//! and the whole guard (verification + the user lookup with its revocation check) against a real
//! PostgreSQL. `DATABASE_URL` names the server (default postgres://postgres@127.0.0.1:5432/postgres);
//! the benchmark makes its own database (a copy of the tests' migrated template) and drops it.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use actix_web::test::TestRequest;
use actix_web::web;
use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::auth::cognito::{JwksCache, Verifier, guard};
use gatehouse::config::Settings;
use gatehouse::state::AppState;

#[path = "../tests/support/minting.rs"]
mod minting;
use minting::*;
#[path = "../tests/support/template_db.rs"]
mod template_db;

fn settings(db_url: &str) -> Settings {
    let env = [
        ("DATABASE_URL", db_url),
        // Keys are loaded from memory; the http:// URL below is never fetched.
        ("GATEHOUSE_ENV", "development"),
        ("COGNITO_ISSUER", ISSUER),
        ("COGNITO_CLIENT_IDS", CLIENT_ID),
        ("COGNITO_JWKS_URL", "http://127.0.0.1:9/unused"),
        (
            "SECRET_KEY",
            "bench-secret-key-that-is-long-enough-0123456789",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Settings::from_map(&env).expect("bench settings")
}

fn verifier(settings: &Settings) -> Arc<Verifier> {
    let cognito = settings.cognito.clone().expect("cognito configured");
    let jwks = Arc::new(
        JwksCache::new(cognito.jwks_url.clone(), Duration::from_secs(10)).expect("client"),
    );
    jwks.load_from_bytes(jwks_body(&[access_key(), id_key()]).as_bytes())
        .expect("keys");
    Arc::new(Verifier::new(cognito, jwks))
}

fn bench_verify(c: &mut Criterion) {
    let settings = settings("postgres://postgres@127.0.0.1:5432/unused");
    let verifier = verifier(&settings);
    let token = access_key().sign(&access_claims(&new_sub(), "bench"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    c.bench_function("verify access token (warm key cache)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(verifier.verify(black_box(&token)).await.expect("valid")) })
    });
}

fn bench_guard(c: &mut Criterion) {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("gatehouse_bench_{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A copy of the migrated template the tests use (built here first if missing).
    let template = template_db::migrated_template(&server);
    let admin = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .expect("bench needs PostgreSQL at DATABASE_URL");
        tokio::spawn(conn);
        client
            .batch_execute(&template.create_sql(&name))
            .await
            .expect("create bench db");
        client
    });
    let url = template_db::url_with_db(&server, &name);

    let settings = settings(&url);
    let verifier = web::Data::from(verifier(&settings));
    let state = web::Data::new(AppState {
        pool: gatehouse::db::build_pool(&settings.database),
        settings: Arc::new(settings),
    });
    let token = access_key().sign(&access_claims(&new_sub(), "bench"));
    let request = TestRequest::default()
        .app_data(state.clone())
        .app_data(verifier.clone())
        .insert_header(("Authorization", format!("Bearer {token}")))
        .to_http_request();
    // First call provisions the user; the benchmark measures the steady state.
    rt.block_on(guard::authenticate(&request))
        .expect("provisioned");

    c.bench_function("guard: verify + user lookup (warm)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(guard::authenticate(&request).await.expect("ok")) })
    });

    drop(state);
    rt.block_on(async {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    });
}

criterion_group!(benches, bench_verify, bench_guard);
criterion_main!(benches);
