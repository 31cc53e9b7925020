//! Web sign-in for app users through Cognito's managed login (a backend-for-frontend): the code
//! flow with PKCE, tokens kept server-side behind one opaque cookie, one refresh at a time per
//! session across every instance, and real sign-out.
//!
//! `managed_login.rs` speaks to Cognito, `seal.rs` keeps tokens encrypted at rest, `sign_in.rs`
//! starts and finishes a sign-in, `session.rs` turns a cookie into a signed-in user, and
//! `revocations.rs` revokes the refresh tokens of ended sessions.

pub mod managed_login;
pub mod revocations;
pub mod seal;
pub mod session;
pub mod sign_in;

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};

pub use managed_login::{EndpointError, ManagedLogin};
pub use seal::Sealer;
pub use session::{SignedIn, hash_secret};

use super::cognito::Verifier;
use crate::config::{Settings, WebSignInSettings};

/// The session cookie: `__Host-` binds it to this exact host, path `/`, and `Secure`.
const SESSION_COOKIE_SECURE: &str = "__Host-gatehouse_web";
/// Without `Secure` (development over plain HTTP) a browser refuses the `__Host-` prefix.
const SESSION_COOKIE_PLAIN: &str = "gatehouse_web";
/// Binds a pending sign-in's `state` to the browser that started it.
const SIGN_IN_COOKIE_SECURE: &str = "__Host-gatehouse_sign_in";
const SIGN_IN_COOKIE_PLAIN: &str = "gatehouse_sign_in";
/// How long a started sign-in may take.
pub const SIGN_IN_TTL_SECONDS: i64 = 600;

/// Everything web sign-in needs, registered as `web::Data<WebAuth>` when it is configured.
pub struct WebAuth {
    pub login: ManagedLogin,
    pub sealer: Sealer,
    pub verifier: Arc<Verifier>,
    cookie_secure: bool,
    /// Origins whose cookie-authenticated unsafe API calls are accepted: the site and the CORS
    /// origins (which alone a browser lets send the session cookie cross-origin).
    allowed_origins: Vec<String>,
}

impl WebAuth {
    /// `None` when web sign-in is not configured (or there is no user pool to verify against).
    pub fn new(
        settings: &Settings,
        verifier: Option<Arc<Verifier>>,
    ) -> Result<Option<Self>, reqwest::Error> {
        let (Some(web), Some(verifier)) = (&settings.web, verifier) else {
            return Ok(None);
        };
        let mut allowed_origins = vec![web.public_url.clone()];
        allowed_origins.extend(settings.cors_allowed_origins.iter().cloned());
        Ok(Some(WebAuth {
            login: ManagedLogin::new(web.clone())?,
            sealer: Sealer::new(&settings.secret_key),
            verifier,
            cookie_secure: settings.cookie_secure,
            allowed_origins,
        }))
    }

    pub fn settings(&self) -> &WebSignInSettings {
        self.login.settings()
    }

    pub fn session_cookie_name(&self) -> &'static str {
        if self.cookie_secure {
            SESSION_COOKIE_SECURE
        } else {
            SESSION_COOKIE_PLAIN
        }
    }

    pub fn sign_in_cookie_name(&self) -> &'static str {
        if self.cookie_secure {
            SIGN_IN_COOKIE_SECURE
        } else {
            SIGN_IN_COOKIE_PLAIN
        }
    }

    fn cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.cookie_secure)
            // Lax: sent on the top-level navigation back from Cognito, never on cross-site
            // subrequests.
            .same_site(SameSite::Lax)
            .finish()
    }

    /// The session cookie: a browser-session cookie; the server decides when the session ends.
    pub fn session_cookie(&self, secret: String) -> Cookie<'static> {
        self.cookie(self.session_cookie_name(), secret)
    }

    pub fn sign_in_cookie(&self, value: String) -> Cookie<'static> {
        let mut cookie = self.cookie(self.sign_in_cookie_name(), value);
        cookie.set_max_age(time::Duration::seconds(SIGN_IN_TTL_SECONDS));
        cookie
    }

    /// A cookie that deletes `name` (same attributes, so the browser matches it).
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new());
        cookie.make_removal();
        cookie
    }

    /// The session secret the request carries, if any.
    pub fn session_secret(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.session_cookie_name())
            .map(|c| c.value().to_owned())
    }

    /// Whether the request's `Origin` is the site or a CORS origin (absent: no).
    pub fn origin_allowed(&self, req: &HttpRequest) -> bool {
        req.headers()
            .get(actix_web::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|origin| self.allowed_origins.iter().any(|o| o == origin))
    }
}
