//! The app users' web pages: sign-in through Cognito's managed login (`/auth/*`) and their
//! account page (`/account/*`). Tokens never reach the browser: it holds one opaque session
//! cookie (see `auth::web`).

use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use askama::Template;

use crate::auth::csrf::FormData;
use crate::auth::web::WebAuth;

pub mod account;
pub mod sign_in;
pub mod sign_out;
pub mod user;

/// Form bodies above this are refused (the largest form here is two names).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What the navigation bar shows: the signed-in user's name (empty: nobody) and the CSRF token
/// of the sign-out form.
#[derive(Default)]
pub struct Nav {
    pub name: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "portal/problem.html")]
struct Problem<'a> {
    page_title: String,
    nav: Nav,
    heading: &'a str,
    message: &'a str,
    /// A link to start again; empty: none.
    retry: &'a str,
}

/// Registers `/auth/*` and `/account/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/login", web::get().to(sign_in::login))
        .route("/auth/callback", web::get().to(sign_in::callback))
        .route("/auth/signed-out", web::get().to(sign_out::signed_out))
        .route("/auth/logout", web::post().to(sign_out::logout))
        .route("/auth/user", web::get().to(user::current_user))
        .route(
            "/account",
            web::get().to(|| async { see_other("/account/") }),
        )
        .route("/account/", web::get().to(account::page))
        .route("/account/profile", web::post().to(account::save_profile))
        .route(
            "/account/sessions/end-all",
            web::post().to(account::end_all_sessions),
        )
        .route(
            "/account/sessions/{id}/end",
            web::post().to(account::end_session),
        );
}

/// An answer that cuts a request short (the way to sign in, a refusal, an outage page), so that
/// handlers and their helpers can use `?`; actix sends the response as it is.
pub struct Early(Box<HttpResponse>);

impl From<HttpResponse> for Early {
    fn from(answer: HttpResponse) -> Self {
        Early(Box::new(answer))
    }
}

impl From<Early> for actix_web::Error {
    fn from(early: Early) -> Self {
        InternalError::from_response("answered early", *early.0).into()
    }
}

/// What a page handler returns.
type Page = Result<HttpResponse, Early>;

/// An HTML answer that is never cached: every page here is about one person's session.
fn html(status: StatusCode, body: String) -> HttpResponse {
    private(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn private(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    builder
}

/// A template as an HTML answer (a template that fails to render is a server fault).
fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The page for anything that went wrong, with a link to start again when that can help.
fn problem(status: StatusCode, heading: &str, message: &str, retry: &str) -> HttpResponse {
    render(
        status,
        &Problem {
            page_title: heading.to_owned(),
            nav: Nav::default(),
            heading,
            message,
            retry,
        },
    )
}

fn see_other(location: &str) -> HttpResponse {
    private(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// The web sign-in of this server, or the page saying it is not configured.
fn web_auth(req: &HttpRequest) -> Result<&web::Data<WebAuth>, Early> {
    req.app_data::<web::Data<WebAuth>>().ok_or_else(|| {
        Early::from(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Web sign-in is not configured",
            "This server has no managed-login domain or web app client configured \
             (COGNITO_DOMAIN, COGNITO_WEB_CLIENT_ID).",
            "",
        ))
    })
}

/// A form posted by one of our pages: its body, after the `Origin` check (browsers send it on
/// every POST; it must be the site itself or a CORS origin).
async fn our_form(
    req: &HttpRequest,
    web: &WebAuth,
    payload: web::Payload,
) -> Result<FormData, Early> {
    if !web.origin_allowed(req) {
        let origin = req.headers().get(header::ORIGIN);
        tracing::info!(?origin, "form refused: not from this site");
        return Err(Early::from(problem(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form was not sent from this site.",
            "/account/",
        )));
    }
    let body = payload.to_bytes_limited(MAX_FORM_BYTES).await;
    match body {
        Ok(Ok(bytes)) => Ok(FormData::parse(&bytes)),
        _ => Err(Early::from(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request refused",
            "The form is too large.",
            "/account/",
        ))),
    }
}
