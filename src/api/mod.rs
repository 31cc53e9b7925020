//! The JSON API for app users. Everything under `/api/v1` requires a valid Cognito token unless
//! it is registered in `public` (none yet): deny by default, by construction.

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::auth::cognito::require_cognito_user;

pub mod logout;
pub mod me;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(from_fn(require_cognito_user))
            .route("/me", web::get().to(me::get))
            .route("/logout", web::post().to(logout::post)),
    );
}
