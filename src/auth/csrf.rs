//! CSRF protection for the back office: a synchronizer token kept in the (encrypted) session,
//! rendered as a hidden field in every form, and checked in constant time by the [`AdminForm`]
//! extractor, which also checks `Origin` (or `Referer`) against the request's own host. Every
//! state-changing admin handler takes an `AdminForm`, so no POST is handled without both checks.

use actix_session::{Session, SessionExt, SessionInsertError};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use subtle::ConstantTimeEq;

use crate::error::AdminError;

/// The hidden form field's name (Django's).
pub const FIELD: &str = "csrfmiddlewaretoken";
const SESSION_KEY: &str = "csrf";
/// Form bodies above this are refused (the largest admin form is far below it).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// 32 random bytes as hex (also the staff session id).
pub(crate) fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces the session's token (at login, so a token seen before login is worthless after).
pub fn rotate_token(session: &Session) -> Result<String, SessionInsertError> {
    let token = new_token();
    session.insert(SESSION_KEY, &token)?;
    Ok(token)
}

/// The session's token, created on first use (the login form needs one before any login).
pub fn token(session: &Session) -> Result<String, SessionInsertError> {
    match session.get::<String>(SESSION_KEY).ok().flatten() {
        Some(token) => Ok(token),
        None => rotate_token(session),
    }
}

/// Same length and same bytes, in time independent of where they differ.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// `host[:port]` of an `Origin` or `Referer` value, lower-cased.
fn authority_of(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// The POST must come from a page of this site: `Origin` (or, when a browser leaves it out,
/// `Referer`) must name the host the request was sent to.
fn check_origin(req: &HttpRequest) -> Result<(), AdminError> {
    let header_value = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    let source = header_value(header::ORIGIN).or_else(|| header_value(header::REFERER));
    let Some(source) = source else {
        return Err(AdminError::Csrf(
            "The request named no Origin or Referer, so it cannot be shown to come from this site."
                .into(),
        ));
    };
    let expected = req.connection_info().host().to_ascii_lowercase();
    let trimmed = expected
        .strip_suffix(":80")
        .or_else(|| expected.strip_suffix(":443"))
        .unwrap_or(&expected);
    match authority_of(source) {
        Some(authority) if authority == expected || authority == trimmed => Ok(()),
        _ => Err(AdminError::Csrf(
            "The request came from another site (its Origin does not match this host).".into(),
        )),
    }
}

/// A url-encoded form body, with repeated fields kept (checkbox lists, selected rows).
#[derive(Debug, Clone, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses a form body or query string. NUL characters are dropped: PostgreSQL text cannot
    /// hold them, and no form field or filter has a use for one.
    pub fn parse(body: &[u8]) -> Self {
        let clean = |s: std::borrow::Cow<'_, str>| {
            if s.contains('\0') {
                s.replace('\0', "")
            } else {
                s.into_owned()
            }
        };
        FormData(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (clean(k), clean(v)))
                .collect(),
        )
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Whether `name` was sent at all (checkboxes, submit buttons).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A POSTed admin form whose CSRF token and origin were checked.
pub struct AdminForm(pub FormData);

impl FromRequest for AdminForm {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Self, AdminError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            check_origin(&req)?;
            let body = body
                .await
                .map_err(|_| AdminError::BadRequest("The form could not be read.".into()))?;
            if body.len() > MAX_FORM_BYTES {
                return Err(AdminError::BadRequest("The form is too large.".into()));
            }
            let form = FormData::parse(&body);
            let expected = req.get_session().get::<String>(SESSION_KEY).ok().flatten();
            match expected {
                Some(expected) if tokens_match(&expected, form.get(FIELD)) => Ok(AdminForm(form)),
                Some(_) => Err(AdminError::Csrf(
                    "The form's security token is missing or wrong. Reload the page and try again."
                        .into(),
                )),
                None => Err(AdminError::Csrf(
                    "Your session cookie is missing or has expired. Make sure cookies are \
                     enabled, reload the page and try again."
                        .into(),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        let t = new_token();
        assert_eq!(t.len(), 64);
        assert!(tokens_match(&t, &t.clone()));
        assert!(!tokens_match(&t, ""));
        assert!(!tokens_match(&t, &t[..63]));
        assert!(!tokens_match(&t, &new_token()));
    }

    #[test]
    fn origins_reduce_to_host_and_port() {
        assert_eq!(
            authority_of("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            authority_of("https://Admin.Example.com/admin/users/?q=x").as_deref(),
            Some("admin.example.com")
        );
        assert_eq!(authority_of("null"), None);
    }

    #[test]
    fn forms_drop_nul_characters() {
        let f = FormData::parse(b"name=a%00b&q%00=%00");
        assert_eq!(f.get("name"), "ab");
        assert!(f.has("q"));
        assert_eq!(f.get("q"), "");
    }

    #[test]
    fn forms_keep_repeated_fields() {
        let f = FormData::parse(b"a=1&g=x&g=y&name=Zo%C3%AB+B");
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.all("g"), ["x", "y"]);
        assert_eq!(f.get("name"), "Zoë B");
        assert_eq!(f.get("missing"), "");
        assert!(!f.has("missing"));
    }
}
