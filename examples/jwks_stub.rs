//! A stand-in for a Cognito user pool, for load tests: serves a JWKS on the given address and
//! writes a valid access token (one hour) to the given file, and one more (another user) to each
//! further file named.
//!
//! `cargo run --release --example jwks_stub -- 127.0.0.1:18790 /tmp/token [/tmp/token2 …]`

use actix_web::{App, HttpResponse, HttpServer, web};

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
        App::new().default_service(web::to(move || {
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
