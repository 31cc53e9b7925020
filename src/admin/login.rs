//! Login, logout (POST only) and the staff member's own password change.

use actix_session::SessionExt;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::kit::{Admin, FieldErrors, PageCtx, page, page_with_status, redirect, safe_next};
use super::passwords::{check_new_password, hash_blocking, password_help, set_password_logged};
use crate::auth::client_ip;
use crate::auth::csrf::{self, AdminForm};
use crate::auth::password::UserAttributes;
use crate::auth::staff::{self, LoginOutcome, PasswordCheck};
use crate::db;
use crate::error::AdminError;
use crate::state::AppState;

/// The message for every failed login, whatever the reason (no account enumeration).
pub const LOGIN_FAILED: &str = "Please enter the correct username (or email) and password for a \
     staff account. Note that the password is case-sensitive.";
pub const LOGIN_THROTTLED: &str = "Too many failed login attempts. This account or address is \
     locked for 15 minutes after the last failures; try again later or ask a superuser to clear \
     the lock-out.";

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    page_title: String,
    ctx: PageCtx,
    login: String,
    next: String,
    error: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

fn login_page_with(
    req: &HttpRequest,
    status: StatusCode,
    login: String,
    next: String,
    error: &str,
) -> Result<HttpResponse, AdminError> {
    let token = csrf::token(&req.get_session()).map_err(AdminError::internal)?;
    page_with_status(
        status,
        &LoginPage {
            page_title: "Log in".into(),
            ctx: PageCtx::anonymous(token),
            login,
            next: safe_next(&next).unwrap_or_default().to_owned(),
            error: error.to_owned(),
        },
    )
}

/// `GET /admin/login/`
pub async fn login_page(
    req: HttpRequest,
    query: Option<web::Query<NextQuery>>,
) -> Result<HttpResponse, AdminError> {
    let next = query.map(|q| q.into_inner().next).unwrap_or_default();
    login_page_with(&req, StatusCode::OK, String::new(), next, "")
}

fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// 429 with `Retry-After`: the login throttle refuses before any password is checked.
fn throttled(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(staff::THROTTLE_WINDOW.as_secs()),
    );
    response
}

/// `POST /admin/login/`
pub async fn login_submit(
    req: HttpRequest,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let form = form.0;
    let login = form.get("username").trim().to_owned();
    let next = form.get("next").to_owned();
    if login.is_empty() || form.get("password").is_empty() {
        return login_page_with(
            &req,
            StatusCode::OK,
            login,
            next,
            "Enter both a username (or email) and a password.",
        );
    }
    let password = SecretString::from(form.get("password").to_owned());
    let client = client_ip::of_request(&req, &state);
    let ip = client.map(client_ip::throttle_net);
    let mut conn = db::connection(&state.pool).await?;
    match staff::attempt_login(&mut conn, &login, password, ip, &user_agent(&req)).await? {
        LoginOutcome::Success(user) => {
            let max_age = state.settings.session_max_age;
            staff::start_session(&mut conn, &req.get_session(), &user, max_age).await?;
            tracing::info!(user = %user, client = ?client, "staff login");
            Ok(redirect(safe_next(&next).unwrap_or("/admin/")))
        }
        LoginOutcome::Failed => {
            tracing::info!(client = ?client, "staff login failed");
            login_page_with(&req, StatusCode::OK, login, next, LOGIN_FAILED)
        }
        LoginOutcome::Throttled => {
            tracing::warn!(client = ?client, "staff login throttled");
            let status = StatusCode::TOO_MANY_REQUESTS;
            Ok(throttled(login_page_with(
                &req,
                status,
                login,
                next,
                LOGIN_THROTTLED,
            )?))
        }
    }
}

#[derive(Template)]
#[template(path = "admin/logged_out.html")]
struct LoggedOutPage {
    page_title: String,
    ctx: PageCtx,
}

/// `POST /admin/logout/` (GET is not routed: a link or an image must not log anyone out).
pub async fn logout(
    req: HttpRequest,
    _form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let session = req.get_session();
    match db::connection(&state.pool).await {
        Ok(mut conn) => staff::end_session(&mut conn, &session).await?,
        Err(e) => {
            // The cookie goes anyway; the error page says the logout did not fully happen.
            session.purge();
            return Err(e.into());
        }
    }
    page(&LoggedOutPage {
        page_title: "Logged out".into(),
        ctx: PageCtx::anonymous(String::new()),
    })
}

#[derive(Template)]
#[template(path = "admin/password_change.html")]
struct PasswordChangePage {
    page_title: String,
    ctx: PageCtx,
    errors: FieldErrors,
    help: Vec<String>,
}

fn password_change_form(admin: Admin, errors: FieldErrors) -> Result<HttpResponse, AdminError> {
    password_change_form_with(StatusCode::OK, admin, errors)
}

fn password_change_form_with(
    status: StatusCode,
    admin: Admin,
    errors: FieldErrors,
) -> Result<HttpResponse, AdminError> {
    page_with_status(
        status,
        &PasswordChangePage {
            page_title: "Password change".into(),
            ctx: admin.ctx,
            errors,
            help: password_help(),
        },
    )
}

/// `GET /admin/password_change/`
pub async fn password_change_page(admin: Admin) -> Result<HttpResponse, AdminError> {
    password_change_form(admin, FieldErrors::new())
}

/// `POST /admin/password_change/`
pub async fn password_change_submit(
    req: HttpRequest,
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let form = form.0;
    let user = admin.staff.user.clone();
    let mut errors = FieldErrors::new();
    let old = SecretString::from(form.get("old_password").to_owned());
    let client = client_ip::of_request(&req, &state);
    let ip = client.map(client_ip::throttle_net);
    let mut conn = db::connection(&state.pool).await?;
    // Guesses of the old password count as failed logins: a hijacked session gets no more tries.
    match staff::check_own_password(&mut conn, &user, old, ip, &user_agent(&req)).await? {
        PasswordCheck::Right => {}
        PasswordCheck::Wrong => {
            tracing::info!(user = %user, client = ?client, "wrong old password on password change");
            errors.add(
                "old_password",
                "Your old password was entered incorrectly. Please enter it again.",
            );
        }
        PasswordCheck::Throttled => {
            tracing::warn!(user = %user, client = ?client, "password change throttled");
            errors.add("old_password", LOGIN_THROTTLED);
            let status = StatusCode::TOO_MANY_REQUESTS;
            return Ok(throttled(password_change_form_with(status, admin, errors)?));
        }
    }
    check_new_password(
        form.get("new_password1"),
        form.get("new_password2"),
        UserAttributes {
            username: &user.username,
            email: &user.email,
            first_name: &user.first_name,
            last_name: &user.last_name,
        },
        "new_password2",
        &mut errors,
    );
    if !errors.is_empty() {
        return password_change_form(admin, errors);
    }
    let hash = hash_blocking(form.get("new_password2").to_owned()).await?;
    let epoch = set_password_logged(&mut conn, &user, &user, hash).await?;
    // This session stays valid; every other session of this user ends.
    staff::update_session_epoch(&admin.session, epoch).map_err(AdminError::internal)?;
    Ok(redirect("/admin/password_change/done/"))
}

#[derive(Template)]
#[template(path = "admin/password_change_done.html")]
struct PasswordChangeDonePage {
    page_title: String,
    ctx: PageCtx,
}

/// `GET /admin/password_change/done/`
pub async fn password_change_done(admin: Admin) -> Result<HttpResponse, AdminError> {
    page(&PasswordChangeDonePage {
        page_title: "Password change successful".into(),
        ctx: admin.ctx,
    })
}
