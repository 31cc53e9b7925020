//! `POST /auth/logout` and the page Cognito sends the browser back to, `GET /auth/signed-out`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Serialize;

use super::{Early, Nav, Page, our_form, private, problem, render, web_auth};
use crate::auth::web::session::{has_csrf_header, hash_secret, well_formed};
use crate::auth::web::sign_in;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "portal/signed_out.html")]
struct SignedOut {
    page_title: String,
    nav: Nav,
}

#[derive(Serialize)]
struct LogoutAnswer {
    /// Where the single-page app sends the browser next, to end the managed-login session too.
    logout_url: String,
}

/// Ends the session (row deleted, refresh token revoked at Cognito, cookie cleared), then sends
/// the browser to Cognito's `/logout` so the managed-login session ends as well. A form posts
/// `csrf_token`; a script sends `X-CSRF: 1` and gets the logout URL as JSON instead of a redirect.
pub async fn logout(req: HttpRequest, state: web::Data<AppState>, payload: web::Payload) -> Page {
    let web = web_auth(&req)?;
    let form = our_form(&req, web, payload).await?;
    let by_script = has_csrf_header(&req);
    if let Some(secret) = web.session_secret(&req).filter(|s| well_formed(s)) {
        let csrf_ok = by_script
            || web
                .sealer
                .csrf_matches(&hash_secret(&secret), form.get("csrf_token"));
        if !csrf_ok {
            return Err(Early::from(problem(
                StatusCode::FORBIDDEN,
                "Request refused",
                "The sign-out form was stale or not sent from this site. Use the Sign out button.",
                "/account/",
            )));
        }
        sign_in::sign_out(web, &state, &secret).await.map_err(|e| {
            tracing::warn!(error = %e, "signing out failed");
            Early::from(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out failed",
                "The service is unavailable. Try again in a moment.",
                "/account/",
            ))
        })?;
    }
    let logout_url = web.login.logout_url();
    let removal = web.removal(web.session_cookie_name());
    Ok(if by_script {
        private(HttpResponse::Ok())
            .cookie(removal)
            .json(LogoutAnswer { logout_url })
    } else {
        private(HttpResponse::SeeOther())
            .cookie(removal)
            .insert_header((header::LOCATION, logout_url))
            .finish()
    })
}

pub async fn signed_out() -> HttpResponse {
    render(
        StatusCode::OK,
        &SignedOut {
            page_title: "Signed out".into(),
            nav: Nav::default(),
        },
    )
}
