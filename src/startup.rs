//! Builds the HTTP server: shared state, middleware, routes, and the listener.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use utoipa_actix_web::AppExt;

use crate::admin;
use crate::api::{self, ApiSpec};
use crate::auth::cognito::{self, Verifier};
use crate::auth::web::{WebAuth, revocations};
use crate::config::Settings;
use crate::db::Pool;
use crate::error::ApiError;
use crate::portal;
use crate::routes::{health, pages, static_files};
use crate::state::AppState;
use crate::telemetry;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `settings.bind` (port 0 picks a free port) and prepares the server; nothing is served
    /// until [`Application::run_until_stopped`].
    /// Must be called inside the actix system (it starts the JWKS refresher).
    pub fn build(settings: Settings, pool: Pool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.bind)?;
        Self::build_on(listener, settings, pool)
    }

    /// Like [`Application::build`] on a listener bound beforehand (tests that must know the port
    /// before the settings, such as `PUBLIC_URL`, are made).
    pub fn build_on(
        listener: TcpListener,
        settings: Settings,
        pool: Pool,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let server = run(listener, Arc::new(settings), pool)?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests; signals are handled by actix itself).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish within the shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn security_headers(settings: &Settings) -> DefaultHeaders {
    // Browsers apply form-action to the redirects after a form's POST too: the sign-out forms
    // are answered with a redirect to the managed login's /logout, which must be allowed.
    let form_action = match &settings.web {
        Some(web) => format!("'self' {}", web.domain),
        None => "'self'".to_owned(),
    };
    let mut headers = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            format!(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                 form-action {form_action}"
            ),
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if settings.cookie_secure {
        headers = headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    headers
}

fn run(listener: TcpListener, settings: Arc<Settings>, pool: Pool) -> std::io::Result<Server> {
    let cognito = match &settings.cognito {
        Some(c) => Some(cognito::start(c).map_err(std::io::Error::other)?),
        None => None,
    };
    let state = web::Data::new(AppState {
        pool,
        settings: settings.clone(),
    });
    // Absent when web sign-in is not configured: `/auth/*` then says so.
    let web_auth = WebAuth::new(&settings, cognito.clone())
        .map_err(std::io::Error::other)?
        .map(web::Data::new);
    if let Some(web_auth) = &web_auth {
        revocations::spawn_worker(&web_auth.clone().into_inner(), state.pool.clone());
    }
    // Absent when no user pool is configured: the API then answers `cognito_not_configured`.
    let verifier: Option<web::Data<Verifier>> = cognito.map(web::Data::from);
    let spec = web::Data::new(ApiSpec::build(api::config));
    let app_settings = settings.clone();
    let mut server = HttpServer::new(move || {
        let mut app = App::new().app_data(state.clone());
        if let Some(verifier) = &verifier {
            app = app.app_data(verifier.clone());
        }
        if let Some(web_auth) = &web_auth {
            app = app.app_data(web_auth.clone());
        }
        let app = app
            .app_data(spec.clone())
            .wrap(security_headers(&app_settings))
            .wrap(from_fn(telemetry::request_middleware));
        // The API goes through utoipa-actix-web (documented as registered); the document itself
        // was built once, above.
        let (app, _) = app
            .into_utoipa_app()
            .configure(api::routes(&app_settings.cors_allowed_origins))
            .split_for_parts();
        app.route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .route("/api/openapi.json", web::get().to(api::openapi_json))
            .route(
                "/api/hooks/openapi.json",
                web::get().to(api::hooks_openapi_json),
            )
            .route("/api/docs", web::get().to(api::docs_html))
            .route("/", web::get().to(pages::index))
            .configure(portal::configure)
            .route("/static/{path:.*}", web::get().to(static_files::serve))
            .service(admin::scope(admin::session_middleware(&app_settings)))
            .default_service(web::to(|| async { Err::<(), _>(ApiError::not_found()) }))
    })
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    .listen(listener)?;
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}
