//! `GET /auth/login` and `GET /auth/callback`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{Early, Page, private, problem, web_auth};
use crate::auth::csrf::FormData;
use crate::auth::web::session::request_ip;
use crate::auth::web::sign_in::{self, Callback, Failure};
use crate::state::AppState;

/// Starts a sign-in: a pending row for a fresh `state`, the browser's sign-in cookie, and off to
/// the managed login. `next` (a path on this site) is where the user lands afterwards.
pub async fn login(req: HttpRequest, state: web::Data<AppState>) -> Page {
    let web = web_auth(&req)?;
    let query = FormData::parse(req.query_string().as_bytes());
    let browser = req.cookie(web.sign_in_cookie_name());
    let started = sign_in::start(
        web,
        &state,
        browser.as_ref().map(|c| c.value()),
        query.get("next"),
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "could not start a web sign-in");
        Early::from(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "The service is unavailable. Try again in a moment.",
            "/auth/login",
        ))
    })?;
    Ok(private(HttpResponse::Found())
        .insert_header((header::LOCATION, started.authorize_url))
        .cookie(web.sign_in_cookie(started.browser_value))
        .finish())
}

/// Finishes a sign-in: checks everything, then starts a fresh session (a new id whatever the
/// browser held before, so a planted cookie cannot be carried into it).
pub async fn callback(req: HttpRequest, state: web::Data<AppState>) -> Page {
    let web = web_auth(&req)?;
    let query = FormData::parse(req.query_string().as_bytes());
    let field =
        |name| Some(query.get(name).to_owned()).filter(|v| query.has(name) && !v.is_empty());
    let callback = Callback {
        code: field("code"),
        state: field("state"),
        error: field("error"),
        error_description: field("error_description"),
    };
    let browser = req.cookie(web.sign_in_cookie_name());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let outcome = sign_in::finish(
        web,
        &state,
        callback,
        browser.as_ref().map(|c| c.value()),
        user_agent,
        request_ip(&req, &state),
    )
    .await;
    Ok(match outcome {
        Ok(finished) => {
            if let Some(old) = web.session_secret(&req)
                && let Err(e) = sign_in::sign_out(web, &state, &old).await
            {
                tracing::warn!(error = %e, "could not end the browser's previous session");
            }
            private(HttpResponse::SeeOther())
                .insert_header((header::LOCATION, finished.next))
                .cookie(web.session_cookie(finished.secret))
                .finish()
        }
        Err(failure) => {
            match &failure {
                Failure::Database(_) | Failure::Unavailable(_) => {
                    tracing::warn!(reason = %failure, "web sign-in failed")
                }
                _ => tracing::info!(reason = %failure, "web sign-in refused"),
            }
            let heading = match &failure {
                Failure::Refused(error) if error == "access_denied" => "Sign-in cancelled",
                _ => "Sign-in failed",
            };
            let retry = match failure {
                // The managed login still remembers who signed in, and would hand the same
                // sign-in straight back from /auth/login: start again through its logout, so the
                // next attempt asks who is signing in (and when).
                Failure::Revoked | Failure::Inactive | Failure::NotProvisioned => {
                    web.login.logout_url()
                }
                _ => "/auth/login".to_owned(),
            };
            problem(failure.status(), heading, &failure.message(), &retry)
        }
    })
}
