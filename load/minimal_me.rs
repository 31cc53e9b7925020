//! The yardstick for the hot path: the least a server can do to answer `GET /api/v1/me` with a
//! valid Cognito access token. It parses the bearer token, verifies RS256 with a key fetched once,
//! and runs one indexed `SELECT` by `sub` through Gatehouse's own pool. No middleware, no
//! security headers, no request id, no revocation check, no provisioning, no error mapping.
//! `load/me.sh` runs it beside Gatehouse and compares requests/second.
//!
//! `DATABASE_URL=… COGNITO_ISSUER=… COGNITO_JWKS_URL=… BIND=127.0.0.1:18792 \
//!  cargo run --release --example minimal_me`

use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use gatehouse::config::Settings;
use gatehouse::db::{self, Pool};
use gatehouse::models::User;
use gatehouse::schema::users;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

struct State {
    pool: Pool,
    key: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

#[derive(Serialize)]
struct Me {
    id: uuid::Uuid,
    username: String,
    email: String,
}

async fn me(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let Some(token) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return HttpResponse::Unauthorized().finish();
    };
    let Ok(data) = jsonwebtoken::decode::<Claims>(token, &state.key, &state.validation) else {
        return HttpResponse::Unauthorized().finish();
    };
    let Ok(mut conn) = state.pool.get().await else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let found: QueryResult<User> = users::table
        .filter(users::cognito_sub.eq(&data.claims.sub))
        .select(User::as_select())
        .first(&mut conn)
        .await;
    match found {
        Ok(user) => HttpResponse::Ok().json(Me {
            id: user.id,
            username: user.username,
            email: user.email,
        }),
        Err(_) => HttpResponse::NotFound().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let settings = Settings::from_env().map_err(std::io::Error::other)?;
    let cognito = settings
        .cognito
        .clone()
        .ok_or_else(|| std::io::Error::other("COGNITO_ISSUER is required"))?;
    let body = reqwest::get(cognito.jwks_url.clone())
        .await
        .map_err(std::io::Error::other)?
        .bytes()
        .await
        .map_err(std::io::Error::other)?;
    let jwks: JwkSet = serde_json::from_slice(&body)?;
    let jwk =
        <[_]>::first(&jwks.keys).ok_or_else(|| std::io::Error::other("the JWKS has no key"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(std::io::Error::other)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&cognito.issuers);
    validation.validate_aud = false;
    let state = web::Data::new(State {
        pool: db::build_pool(&settings.database),
        key,
        validation,
    });
    eprintln!("minimal_me: listening on {}", settings.bind);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/api/v1/me", web::get().to(me))
    });
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    server.bind(settings.bind)?.run().await
}
