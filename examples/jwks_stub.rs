//! A stand-in for a Cognito user pool, for load tests: serves a JWKS on the given address and
//! writes a valid access token (one hour) to the given file, and one more (another user) to each
//! further file named. It also plays a managed login that signs everyone in as one user without
//! asking (`/oauth2/authorize`, `/oauth2/token`, `/oauth2/revoke`), so a load script can get a web
//! session (`load/web_session.sh`); the tests use the strict fake in `tests/support/` instead.
//!
//! `cargo run --release --example jwks_stub -- 127.0.0.1:18790 /tmp/token [/tmp/token2 …]`

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

#[path = "../tests/support/minting.rs"]
mod minting;
use minting::*;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(token_file)) = (args.next(), args.next()) else {
        eprintln!("usage: jwks_stub ADDR TOKEN_FILE");
        std::process::exit(2);
    };
    let body = jwks_body(&[access_key(), id_key()]);
    let token = access_key().sign(&access_claims(&new_sub(), "loadtest"));
    std::fs::write(&token_file, &token)?;
    for (n, file) in args.enumerate() {
        let token = access_key().sign(&access_claims(&new_sub(), &format!("loadtest{}", n + 2)));
        std::fs::write(&file, &token)?;
    }
    eprintln!("jwks_stub: issuer {ISSUER}, client {CLIENT_ID}, JWKS on http://{addr}/");
    HttpServer::new(move || {
        let body = body.clone();
        App::new()
            .route("/oauth2/authorize", web::get().to(authorize))
            .route("/oauth2/token", web::post().to(issue_tokens))
            .route(
                "/oauth2/revoke",
                web::post().to(|| async { HttpResponse::Ok().finish() }),
            )
            .default_service(web::to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }))
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}

/// The web client `load/web_session.sh` configures.
const WEB_CLIENT_ID: &str = "7web0client0id0abcdefghij";

fn query(req: &HttpRequest) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// Signs in at once: the code carries the nonce back to the token request.
async fn authorize(req: HttpRequest) -> HttpResponse {
    let q = query(&req);
    let field = |name: &str| q.get(name).cloned().unwrap_or_default();
    let code = URL_SAFE_NO_PAD.encode(field("nonce"));
    let location = format!(
        "{}?code={code}&state={}",
        field("redirect_uri"),
        field("state")
    );
    HttpResponse::Found()
        .insert_header(("Location", location))
        .finish()
}

async fn issue_tokens(body: web::Bytes) -> HttpResponse {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let nonce = form
        .get("code")
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|n| String::from_utf8(n).ok())
        .unwrap_or_default();
    let sub = "0b5e6f0e-0000-4000-8000-00000000web1";
    let mut access = access_claims(sub, "webload");
    access["client_id"] = json!(WEB_CLIENT_ID);
    let mut id = id_claims(sub, "webload", "webload@example.com");
    id["aud"] = json!(WEB_CLIENT_ID);
    id["nonce"] = json!(nonce);
    id["origin_jti"] = access["origin_jti"].clone();
    HttpResponse::Ok().json(json!({
        "id_token": id_key().sign(&id),
        "access_token": access_key().sign(&access),
        "refresh_token": format!("eyJjdHkiOiJKV1QifQ.{}", "r".repeat(1600)),
        "expires_in": 3600,
        "token_type": "Bearer",
    }))
}
