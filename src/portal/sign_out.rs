//! `POST /auth/logout` and the page Cognito sends the browser back to, `GET /auth/signed-out`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Serialize;

use super::{Nav, html, not_configured, our_form, private, problem, web_auth};
use crate::auth::web::session::{CSRF_HEADER, hash_secret, well_formed};
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
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let Some(web) = web_auth(&req) else {
        return not_configured();
    };
    let form = match our_form(&req, web, payload).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let by_script = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes()) == Some(b"1");
    if let Some(secret) = web.session_secret(&req).filter(|s| well_formed(s)) {
        let csrf_ok = by_script
            || web
                .sealer
                .csrf_matches(&hash_secret(&secret), form.get("csrf_token"));
        if !csrf_ok {
            return problem(
                StatusCode::FORBIDDEN,
                "Request refused",
                "The sign-out form was stale or not sent from this site. Use the Sign out button.",
                "/account/",
            );
        }
        if let Err(e) = sign_in::sign_out(web, &state, &secret).await {
            tracing::warn!(error = %e, "signing out failed");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out failed",
                "The service is unavailable. Try again in a moment.",
                "/account/",
            );
        }
    }
    let logout_url = web.login.logout_url();
    let mut answer = if by_script {
        private(HttpResponse::Ok())
    } else {
        private(HttpResponse::SeeOther())
    };
    answer.cookie(web.removal(web.session_cookie_name()));
    if by_script {
        answer.json(LogoutAnswer { logout_url })
    } else {
        answer
            .insert_header((actix_web::http::header::LOCATION, logout_url))
            .finish()
    }
}

pub async fn signed_out() -> HttpResponse {
    let page = SignedOut {
        page_title: "Signed out".into(),
        nav: Nav::default(),
    };
    match page.render() {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => {
            tracing::error!(error = %e, "rendering the signed-out page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
