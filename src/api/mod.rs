//! The JSON API for app users.
//!
//! Every route under `/api/v1` requires a valid Cognito token: the scope carries the guard, so a
//! new route is protected without anyone remembering to. The exceptions are explicit and few: the
//! signed Cognito hook under `/api/v1/hooks`, and the OpenAPI document. Routes are registered
//! through utoipa-actix-web, which documents each one as it registers it, so the OpenAPI document
//! cannot miss a route.
//!
//! This file is the router; the OpenAPI document and its pages are built in `openapi.rs`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, web};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::cognito::require_cognito_user;
use crate::error::{ApiError, ErrorCode};

pub mod articles;
pub mod cors;
pub mod docs;
pub mod hooks;
pub mod input;
pub mod logout;
pub mod me;
pub mod openapi;

pub use openapi::{ApiSpec, docs_html, hooks_openapi_json, openapi_json};

/// Registers every API route, without cross-origin access (what the OpenAPI document is built
/// from; the server registers [`routes`] with its origins, the same list).
pub fn config(cfg: &mut ServiceConfig) {
    routes(&[])(cfg);
}

/// Registers every API route, with CORS for the exact `origins` (`CORS_ALLOWED_ORIGINS`).
pub fn routes(origins: &[String]) -> impl FnOnce(&mut ServiceConfig) + use<> {
    let cors = cors::layer(origins);
    move |cfg| register(cfg, cors)
}

fn register(cfg: &mut ServiceConfig, cors: actix_cors::Cors) {
    // Registered before `/api/v1` so it is matched first: public to the token guard, protected by
    // its own signature instead.
    cfg.service(
        scope("/api/v1/hooks")
            .service(hooks::post_confirmation)
            .default_service(web::to(fallback)),
    );
    cfg.service(
        scope("/api/v1")
            .wrap(from_fn(require_cognito_user))
            // Outside the guard: a preflight carries no token.
            .wrap(cors)
            .wrap(from_fn(cors::outcome))
            .service(me::get)
            .service(me::update)
            .service(logout::logout)
            .service(articles::list)
            .service(articles::create)
            .service(articles::read)
            .service(articles::update)
            .service(articles::remove)
            .default_service(web::to(fallback)),
    );
}

/// Unmatched API requests: 405 with `Allow` for a known path, JSON 404 otherwise.
async fn fallback(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let spec = req.app_data::<web::Data<ApiSpec>>();
    if let Some(methods) = spec.and_then(|s| s.allowed(req.path())) {
        let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
        let allow = allow.join(", ");
        let mut error = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            format!("{} is not allowed here; use {allow}.", req.method()),
        );
        if let Ok(value) = HeaderValue::from_str(&allow) {
            error = error.with_header(header::ALLOW, value);
        }
        return Err(error);
    }
    Err(ApiError::not_found())
}
