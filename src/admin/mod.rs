//! The staff back office under `/admin/`: server-rendered askama pages behind a session guard.
//!
//! This file is the router: [`scope`] mounts everything. `login.rs` is the only public part
//! (login, logout), every other page sits behind [`crate::auth::staff::require_staff`] and takes
//! a [`kit::Admin`] extractor (who is asking, what they may do, the page context for templates).
//! The pieces every page uses are in `kit.rs`; each model is one file declaring its
//! [`model_admin::ModelAdmin`], registered here, with its forms laid out by [`forms`].

pub mod articles;
pub mod forms;
pub mod groups;
pub mod history;
pub mod index;
pub mod kit;
pub mod lock;
pub mod login;
pub mod model_admin;
pub mod passwords;
pub mod users;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_web::body::MessageBody;
use actix_web::cookie::SameSite;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};

use crate::auth::staff::require_staff;
use crate::config::Settings;
use crate::error::AdminError;
use articles::Articles;
use groups::Groups;
use kit::redirect;
use model_admin::register;
use users::Users;

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
                .configure(register::<Users>)
                .configure(register::<Groups>)
                .configure(register::<Articles>)
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(AdminError::NotFound)
                })),
        )
}
