//! `/account/`: the signed-in user's profile, their web sessions, and sign-out controls.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::{Early, Nav, Page, our_form, private, problem, render, see_other, web_auth};
use crate::auth::cognito::AuthError;
use crate::auth::csrf::FormData;
use crate::auth::sign_out;
use crate::auth::web::session::{self, SignedIn, hash_secret, request_ip};
use crate::auth::web::{WebAuth, revocations};
use crate::db::{self, DbError};
use crate::models::{ProfileChanges, User, WebSession};
use crate::state::AppState;

const MAX_NAME_CHARS: usize = 150;

#[derive(Template)]
#[template(path = "portal/account.html")]
struct AccountPage {
    page_title: String,
    nav: Nav,
    notice: &'static str,
    username: String,
    email: String,
    email_verified: bool,
    groups: Vec<String>,
    form: ProfileForm,
    sessions: Vec<SessionRow>,
}

/// The profile form's values and their errors (empty: none).
struct ProfileForm {
    first_name: String,
    last_name: String,
    errors: NameErrors,
}

#[derive(Default)]
struct NameErrors {
    first_name: String,
    last_name: String,
}

struct SessionRow {
    id: Uuid,
    current: bool,
    device: String,
    ip: String,
    started: String,
    started_iso: String,
    seen: String,
    seen_iso: String,
}

/// The session of this request, or the answer to give instead: the sign-in page for a browser
/// without one, an error page when the service cannot tell.
async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
    web: &WebAuth,
) -> Result<(SignedIn, Vec<u8>), Early> {
    let Some(secret) = web.session_secret(req) else {
        return Err(Early::from(see_other("/auth/login?next=/account/")));
    };
    match session::current(web, state, &secret, request_ip(req, state)).await {
        Ok(signed_in) => Ok((signed_in, hash_secret(&secret))),
        Err(AuthError::SessionExpired) => Err(Early::from(
            private(HttpResponse::SeeOther())
                .insert_header((header::LOCATION, "/auth/login?next=/account/"))
                .cookie(web.removal(web.session_cookie_name()))
                .finish(),
        )),
        Err(AuthError::UserInactive) => Err(Early::from(problem(
            StatusCode::FORBIDDEN,
            "Account deactivated",
            "This account is deactivated.",
            "",
        ))),
        Err(e) => {
            tracing::warn!(code = %e.code(), reason = %e.message(), "account page unavailable");
            Err(Early::from(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                &e.message(),
                "/account/",
            )))
        }
    }
}

/// A form of the account page: from this site, with this session's CSRF token.
async fn account_form(
    req: &HttpRequest,
    state: &AppState,
    web: &WebAuth,
    payload: web::Payload,
) -> Result<(SignedIn, Vec<u8>, FormData), Early> {
    let form = our_form(req, web, payload).await?;
    let (signed_in, id_hash) = signed_in(req, state, web).await?;
    if !web.sealer.csrf_matches(&id_hash, form.get("csrf_token")) {
        return Err(Early::from(problem(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form was stale or not sent from this site. Reload the page and try again.",
            "/account/",
        )));
    }
    Ok((signed_in, id_hash, form))
}

/// Runs `query` on a pooled connection; an outage becomes the page that says so.
async fn query<T>(
    state: &AppState,
    query: impl AsyncFnOnce(&mut AsyncPgConnection) -> QueryResult<T>,
) -> Result<T, Early> {
    let result = match db::connection(&state.pool).await {
        Ok(mut conn) => query(&mut conn).await.map_err(DbError::from),
        Err(e) => Err(e),
    };
    result.map_err(|e| {
        tracing::warn!(error = %e, "account page: the database failed");
        Early::from(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The service is unavailable. Try again in a moment.",
            "/account/",
        ))
    })
}

pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Page {
    let web = web_auth(&req)?;
    let (signed_in, id_hash) = signed_in(&req, &state, web).await?;
    let notice = match FormData::parse(req.query_string().as_bytes()).get("done") {
        "profile" => "Your profile was saved.",
        "session" => "That session was signed out.",
        _ => "",
    };
    let form = ProfileForm {
        first_name: signed_in.user.first_name.clone(),
        last_name: signed_in.user.last_name.clone(),
        errors: NameErrors::default(),
    };
    show(
        web,
        &state,
        signed_in,
        &id_hash,
        notice,
        form,
        StatusCode::OK,
    )
    .await
}

/// The account page, with the profile form as given.
async fn show(
    web: &WebAuth,
    state: &AppState,
    signed_in: SignedIn,
    id_hash: &[u8],
    notice: &'static str,
    form: ProfileForm,
    status: StatusCode,
) -> Page {
    let (user_id, idle_since) = (
        signed_in.user.id,
        session::idle_since(web, chrono::Utc::now()),
    );
    let sessions = query(state, async |conn| {
        WebSession::of_user(conn, user_id, idle_since).await
    })
    .await?;
    let user = signed_in.user;
    let page = AccountPage {
        page_title: "Your account".into(),
        nav: Nav {
            name: display_name(&user),
            csrf: web.sealer.csrf_token(id_hash),
        },
        notice,
        username: user.username,
        email: user.email,
        email_verified: user.email_verified,
        groups: signed_in.claims.groups().to_vec(),
        form,
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id,
                current: s.id == signed_in.session.id,
                device: describe_device(&s.user_agent),
                ip: s
                    .ip
                    .map_or_else(|| "unknown".into(), |ip| ip.addr().to_string()),
                started: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                started_iso: s.created_at.to_rfc3339(),
                seen: s.last_seen_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                seen_iso: s.last_seen_at.to_rfc3339(),
            })
            .collect(),
    };
    Ok(render(status, &page))
}

pub fn display_name(user: &User) -> String {
    let full = format!("{} {}", user.first_name, user.last_name);
    let full = full.trim();
    if full.is_empty() {
        user.username.clone()
    } else {
        full.to_owned()
    }
}

/// A name as the form sends it: trimmed, at most 150 characters, no control characters.
fn clean_name(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(format!("Use at most {MAX_NAME_CHARS} characters."));
    }
    if value.chars().any(char::is_control) {
        return Err("Control characters are not allowed.".into());
    }
    Ok(value.to_owned())
}

/// `POST /account/profile`: the names (email and groups come from Cognito).
pub async fn save_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Page {
    let web = web_auth(&req)?;
    let (signed_in, id_hash, form) = account_form(&req, &state, web, payload).await?;
    let (first, last) = (
        clean_name(form.get("first_name")),
        clean_name(form.get("last_name")),
    );
    let (Ok(first_name), Ok(last_name)) = (&first, &last) else {
        let form = ProfileForm {
            first_name: form.get("first_name").to_owned(),
            last_name: form.get("last_name").to_owned(),
            errors: NameErrors {
                first_name: first.err().unwrap_or_default(),
                last_name: last.err().unwrap_or_default(),
            },
        };
        return show(
            web,
            &state,
            signed_in,
            &id_hash,
            "",
            form,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let changes = ProfileChanges {
        email: None,
        email_verified: None,
        first_name: Some(first_name)
            .filter(|n| **n != signed_in.user.first_name)
            .map(String::as_str),
        last_name: Some(last_name)
            .filter(|n| **n != signed_in.user.last_name)
            .map(String::as_str),
    };
    if !changes.is_empty() {
        let user_id = signed_in.user.id;
        query(&state, async |conn| {
            User::update_profile(conn, user_id, &changes).await
        })
        .await?;
        tracing::info!(user = %signed_in.user, "profile changed on the account page");
    }
    Ok(see_other("/account/?done=profile"))
}

/// `POST /account/sessions/{id}/end`: one of the user's sessions (this one: a full sign-out).
pub async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Page {
    let web = web_auth(&req)?;
    let (signed_in, _, _) = account_form(&req, &state, web, payload).await?;
    let Ok(id) = path.parse::<Uuid>() else {
        return Ok(see_other("/account/"));
    };
    let user_id = signed_in.user.id;
    let ended = query(&state, async |conn| {
        WebSession::end_of_user(conn, user_id, id).await
    })
    .await?;
    // Someone else's session id, or one already ended: nothing to do, and nothing to tell.
    let Some(ended) = ended else {
        return Ok(see_other("/account/?done=session"));
    };
    tracing::info!(session = %ended, user = %signed_in.user, "web session ended from the account page");
    revocations::revoke_now(web, &state.pool, &[ended.id]).await;
    if ended.id == signed_in.session.id {
        return Ok(signed_out(web));
    }
    Ok(see_other("/account/?done=session"))
}

/// `POST /account/sessions/end-all`: every web session, every API token of earlier sign-ins, and
/// then this browser's managed-login session.
pub async fn end_all_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Page {
    let web = web_auth(&req)?;
    let (signed_in, _, _) = account_form(&req, &state, web, payload).await?;
    let user_id = signed_in.user.id;
    let (_, ended) = query(&state, async |conn| {
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            sign_out::everywhere(conn, user_id).await
        })
        .await
    })
    .await?;
    tracing::info!(user = %signed_in.user, sessions = ended.len(), "signed out everywhere from the account page");
    let ids: Vec<Uuid> = ended.iter().map(|s| s.id).collect();
    revocations::revoke_now(web, &state.pool, &ids).await;
    Ok(signed_out(web))
}

/// This browser's session is gone: clear the cookie, then end the managed-login session.
fn signed_out(web: &WebAuth) -> HttpResponse {
    private(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, web.login.logout_url()))
        .cookie(web.removal(web.session_cookie_name()))
        .finish()
}

/// "Firefox on Windows" from a User-Agent, enough to tell one's devices apart.
pub fn describe_device(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        "Opera"
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        ""
    };
    let os = if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        ""
    };
    match (browser, os) {
        ("", "") if ua.is_empty() => "Unknown device".into(),
        ("", "") => ua.chars().take(60).collect(),
        (b, "") => b.into(),
        ("", o) => o.into(),
        (b, o) => format!("{b} on {o}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_plainly() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_device(chrome), "Chrome on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_device(safari), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 Edg/130.0";
        assert_eq!(describe_device(edge), "Edge on Windows");
        assert_eq!(describe_device(""), "Unknown device");
        assert_eq!(describe_device("curl/8.0"), "curl/8.0");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Jane "), Ok("Jane".into()));
        assert_eq!(clean_name(""), Ok(String::new()));
        assert!(clean_name(&"x".repeat(151)).is_err());
        assert!(clean_name("a\u{7}b").is_err());
    }
}
