//! The staff back office under `/admin/`: server-rendered askama pages behind a session guard.
//!
//! Layout: `scope()` mounts everything; `login.rs` is the only public part (login, logout,
//! password change), every other page sits behind [`crate::auth::staff::require_staff`] and takes
//! an [`Admin`] extractor (who is asking, what they may do, the page context for templates).

pub mod articles;
pub mod groups;
pub mod history;
pub mod index;
pub mod lock;
pub mod login;
pub mod simple;
pub mod user_list;
pub mod users;

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::SameSite;
use actix_web::dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use futures_util::future::{Ready, ready};

use crate::auth::csrf;
use crate::auth::staff::{Perms, Staff, require_staff};
use crate::config::Settings;
use crate::db::DbError;
use crate::telemetry;

pub const SESSION_COOKIE: &str = "gatehouse_session";

/// The session cookie: encrypted and authenticated with `SECRET_KEY`, HttpOnly, SameSite=Lax,
/// Secure per `COOKIE_SECURE`, sent only to `/admin`. It lives until the browser closes; the idle
/// timeout and absolute lifetime are checked against times stored inside it.
pub fn session_middleware(settings: &Settings) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), settings.secret_key.clone())
        .cookie_name(SESSION_COOKIE.to_owned())
        .cookie_secure(settings.cookie_secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/admin".to_owned())
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(BrowserSession::default())
        .build()
}

/// Everything under `/admin`, wrapped in the session middleware (from [`session_middleware`]).
/// Mounted by `startup.rs`.
pub fn scope(
    session: SessionMiddleware<CookieSessionStore>,
) -> actix_web::Scope<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // Compute the dummy hash now, not during the first login of an unknown account, whose answer
    // would otherwise be measurably slower than a wrong password's.
    std::sync::LazyLock::force(&crate::auth::password::DUMMY_HASH);
    web::scope("/admin")
        .wrap(session)
        .route("", web::get().to(|| async { redirect("/admin/") }))
        .service(
            web::resource("/login/")
                .route(web::get().to(login::login_page))
                .route(web::post().to(login::login_submit)),
        )
        .service(
            web::resource("/logout/")
                .route(web::post().to(login::logout))
                // A link or an image must not log anyone out (Django 5 refuses GET too).
                .default_service(web::to(|| async {
                    HttpResponse::MethodNotAllowed()
                        .insert_header((header::ALLOW, "POST"))
                        .finish()
                })),
        )
        .service(
            // Everything else needs a staff session; unknown URLs too (they reveal nothing).
            web::scope("")
                .wrap(from_fn(require_staff))
                .route("/", web::get().to(index::index))
                .service(
                    web::resource("/password_change/")
                        .route(web::get().to(login::password_change_page))
                        .route(web::post().to(login::password_change_submit)),
                )
                .route(
                    "/password_change/done/",
                    web::get().to(login::password_change_done),
                )
                .service(
                    web::resource("/users/")
                        .route(web::get().to(users::list))
                        .route(web::post().to(users::bulk_action)),
                )
                .route("/users/export.csv", web::get().to(users::export_csv))
                .service(
                    web::resource("/users/add/")
                        .route(web::get().to(users::add_page))
                        .route(web::post().to(users::add_submit)),
                )
                .service(
                    web::resource("/users/{id}/change/")
                        .route(web::get().to(users::change_page))
                        .route(web::post().to(users::change_submit)),
                )
                .service(
                    web::resource("/users/{id}/delete/")
                        .route(web::get().to(users::delete_page))
                        .route(web::post().to(users::delete_submit)),
                )
                .service(
                    web::resource("/users/{id}/password/")
                        .route(web::get().to(users::password_page))
                        .route(web::post().to(users::password_submit)),
                )
                .route("/users/{id}/history/", web::get().to(users::history_page))
                .route("/users/{id}/signout/", web::post().to(users::signout))
                .route("/users/{id}/unlock/", web::post().to(users::unlock))
                .service(
                    web::resource("/groups/")
                        .route(web::get().to(groups::list))
                        .route(web::post().to(groups::bulk_delete)),
                )
                .service(
                    web::resource("/groups/add/")
                        .route(web::get().to(groups::add_page))
                        .route(web::post().to(groups::add_submit)),
                )
                .service(
                    web::resource("/groups/{id}/change/")
                        .route(web::get().to(groups::change_page))
                        .route(web::post().to(groups::change_submit)),
                )
                .service(
                    web::resource("/groups/{id}/delete/")
                        .route(web::get().to(groups::delete_page))
                        .route(web::post().to(groups::delete_submit)),
                )
                .route("/groups/{id}/history/", web::get().to(groups::history_page))
                .service(
                    web::resource("/articles/")
                        .route(web::get().to(articles::list))
                        .route(web::post().to(articles::bulk_delete)),
                )
                .service(
                    web::resource("/articles/add/")
                        .route(web::get().to(articles::add_page))
                        .route(web::post().to(articles::add_submit)),
                )
                .service(
                    web::resource("/articles/{id}/change/")
                        .route(web::get().to(articles::change_page))
                        .route(web::post().to(articles::change_submit)),
                )
                .service(
                    web::resource("/articles/{id}/delete/")
                        .route(web::get().to(articles::delete_page))
                        .route(web::post().to(articles::delete_submit)),
                )
                .route(
                    "/articles/{id}/history/",
                    web::get().to(articles::history_page),
                )
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(AdminError::NotFound)
                })),
        )
}

/// What every admin template gets: who is signed in, the CSRF token for forms, permissions for
/// showing only the links the user may follow.
pub struct PageCtx {
    /// Empty when nobody is signed in (login and error pages).
    pub username: String,
    pub csrf: String,
    pub perms: Perms,
    /// One-time messages ("The user … was changed successfully."), shown once then dropped.
    pub messages: Vec<String>,
}

impl PageCtx {
    pub fn anonymous(csrf: String) -> Self {
        PageCtx {
            username: String::new(),
            csrf,
            perms: Perms::default(),
            messages: Vec::new(),
        }
    }

    pub fn signed_in(&self) -> bool {
        !self.username.is_empty()
    }

    pub fn can(&self, model: &str, action: &str) -> bool {
        self.perms.can(model, action)
    }
}

/// The signed-in staff member of a guarded admin page, with their session and page context.
pub struct Admin {
    pub staff: Staff,
    pub session: Session,
    pub ctx: PageCtx,
}

impl Admin {
    /// A 403 page unless the staff member may do `action` on `model`.
    pub fn require(&self, model: &str, action: &str) -> Result<(), AdminError> {
        if self.staff.perms.can(model, action) {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }
}

impl FromRequest for Admin {
    type Error = AdminError;
    type Future = Ready<Result<Self, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(staff) = req.extensions().get::<Staff>().cloned() else {
            // Only reachable if a route were mounted outside the guarded scope.
            return ready(Err(AdminError::internal(
                "Admin extractor without require_staff",
            )));
        };
        let session = req.get_session();
        ready(match csrf::token(&session) {
            Ok(token) => Ok(Admin {
                ctx: PageCtx {
                    username: staff.user.username.clone(),
                    csrf: token,
                    perms: staff.perms.clone(),
                    messages: take_flashes(&session),
                },
                staff,
                session,
            }),
            Err(e) => Err(AdminError::internal(e)),
        })
    }
}

const FLASH_KEY: &str = "flash";

/// Queues a message for the next admin page this session sees (Django's messages framework).
pub fn flash(session: &Session, message: &str) {
    let mut queued: Vec<String> = session.get(FLASH_KEY).ok().flatten().unwrap_or_default();
    // The cookie holds at most 4 KB: a few short messages only.
    if queued.len() < 5 {
        queued.push(message.chars().take(300).collect());
    }
    if let Err(e) = session.insert(FLASH_KEY, queued) {
        tracing::warn!(error = %e, "could not queue a flash message");
    }
}

fn take_flashes(session: &Session) -> Vec<String> {
    match session.remove_as::<Vec<String>>(FLASH_KEY) {
        Some(Ok(messages)) => messages,
        _ => Vec::new(),
    }
}

/// An admin failure, answered with an HTML page in the admin's style.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("CSRF check failed: {0}")]
    Csrf(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("database unavailable")]
    Unavailable,
    /// The detail was logged when this was made; the page shows none of it.
    #[error("internal error")]
    Internal,
}

impl AdminError {
    /// A real server fault: `detail` goes to the log, never to the page.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "admin internal error");
        AdminError::Internal
    }

    fn texts(&self) -> (&'static str, String) {
        match self {
            AdminError::NotFound => (
                "Page not found",
                "There is nothing at this address, or it has been deleted.".into(),
            ),
            AdminError::Forbidden => (
                "Permission denied",
                "You do not have permission to view or do this. Ask a superuser if you need to."
                    .into(),
            ),
            AdminError::Csrf(why) => ("Forbidden (CSRF check failed)", why.clone()),
            AdminError::BadRequest(why) => ("Bad request", why.clone()),
            AdminError::Unavailable => (
                "Database unavailable",
                "The database cannot be reached right now. Try again in a moment.".into(),
            ),
            AdminError::Internal => (
                "Server error",
                match telemetry::current_request_id() {
                    Some(id) => format!(
                        "Something went wrong on our side. Quote request id {id} when reporting it."
                    ),
                    None => "Something went wrong on our side.".into(),
                },
            ),
        }
    }

    /// The error page itself (also used by the guard middleware, which has no handler).
    pub fn render_page(&self) -> HttpResponse {
        let (heading, message) = self.texts();
        let page = ErrorPage {
            page_title: heading.to_owned(),
            ctx: PageCtx::anonymous(String::new()),
            status: self.status_code().as_u16(),
            heading,
            message,
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if matches!(self, AdminError::Unavailable) {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        match page.render() {
            Ok(body) => response.content_type("text/html; charset=utf-8").body(body),
            Err(e) => {
                tracing::error!(error = %e, "rendering the admin error page failed");
                response
                    .content_type("text/plain; charset=utf-8")
                    .body(format!("{heading}: {}", page.message))
            }
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::Forbidden | AdminError::Csrf(_) => StatusCode::FORBIDDEN,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.render_page()
    }
}

impl From<DbError> for AdminError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            AdminError::Unavailable
        } else {
            AdminError::internal(e)
        }
    }
}

impl From<diesel::result::Error> for AdminError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::Query(e).into()
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage {
    page_title: String,
    ctx: PageCtx,
    status: u16,
    heading: &'static str,
    message: String,
}

/// Renders `template` as an HTML page with `status`; admin pages are never cached (Django's
/// `never_cache`), since they show private data.
pub fn page_with_status<T: Template>(
    status: StatusCode,
    template: &T,
) -> Result<HttpResponse, AdminError> {
    let body = template.render().map_err(AdminError::internal)?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn page<T: Template>(template: &T) -> Result<HttpResponse, AdminError> {
    page_with_status(StatusCode::OK, template)
}

/// 303 See Other: after a POST, the browser GETs `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A `next` target we are willing to send someone to after login: an admin path on this site,
/// also once a browser has resolved it (`/admin/../x` and `/admin/%2e%2e/x` lead to `/x`).
pub fn safe_next(next: &str) -> Option<&str> {
    let shaped = next.starts_with("/admin/")
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if !shaped {
        return None;
    }
    let base = url::Url::parse("https://gatehouse.invalid/admin/").ok()?;
    let resolved = base.join(next).ok()?;
    let stays = resolved.origin() == base.origin() && resolved.path().starts_with("/admin/");
    stays.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/admin/users/?q=a"), Some("/admin/users/?q=a"));
        assert_eq!(safe_next("/admin/./users/"), Some("/admin/./users/"));
        assert_eq!(safe_next("/admin/users/../"), Some("/admin/users/../"));
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/admin/",
            "/admin/\\evil",
            "/static/x",
            // Caught by the admin_form fuzz target's checks: dot segments, plain or percent-encoded.
            "/admin/../static/x",
            "/admin/%2e%2e/static/x",
            "/admin/.%2E/x",
            "/admin/..",
            "/admin/users/../../x",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }
}
