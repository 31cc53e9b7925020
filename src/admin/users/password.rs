//! The page where a staff member sets another user's password (one's own is changed on
//! `password_change/`, with the old one).

use super::*;

#[derive(Template)]
#[template(path = "admin/users/password.html")]
struct SetPasswordPage {
    page_title: String,
    ctx: PageCtx,
    id: Uuid,
    username: String,
    errors: FieldErrors,
    help: Vec<String>,
}

/// One's own password is changed here, with the old one.
const OWN_PASSWORD_PAGE: &str = "/admin/password_change/";

/// `GET /admin/users/{id}/password/` (one's own: a redirect to [`OWN_PASSWORD_PAGE`])
pub async fn password_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "change")?;
    let id = parse_id(&path)?;
    if id == admin.staff.user.id {
        return Ok(redirect(OWN_PASSWORD_PAGE));
    }
    let mut conn = db::connection(&state.pool).await?;
    let user = load_managed::<Users>(&mut conn, &admin, id).await?;
    page(&SetPasswordPage {
        page_title: format!("Change password: {}", user.username),
        ctx: admin.ctx,
        id,
        username: user.username,
        errors: FieldErrors::new(),
        help: password_help(),
    })
}

/// `POST /admin/users/{id}/password/`
pub async fn password_submit(
    admin: Admin,
    path: web::Path<String>,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "change")?;
    let id = parse_id(&path)?;
    if id == admin.staff.user.id {
        // Without the old password a hijacked session could make itself permanent.
        return Err(AdminError::Forbidden);
    }
    let form = form.0;
    let mut conn = db::connection(&state.pool).await?;
    let user = load_managed::<Users>(&mut conn, &admin, id).await?;
    let mut errors = FieldErrors::new();
    check_new_password(
        form.get("password1"),
        form.get("password2"),
        UserAttributes {
            username: &user.username,
            email: &user.email,
            first_name: &user.first_name,
            last_name: &user.last_name,
        },
        "password2",
        &mut errors,
    );
    if !errors.is_empty() {
        return page(&SetPasswordPage {
            page_title: format!("Change password: {}", user.username),
            ctx: admin.ctx,
            id,
            username: user.username,
            errors,
            help: password_help(),
        });
    }
    let hash = hash_blocking(form.get("password2").to_owned()).await?;
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    // Checked again under the row lock: the target may have gained rights while Argon2 ran.
    conn.transaction(async |conn| {
        let user = lock_managed::<Users>(conn, &actor_perms, id).await?;
        set_password_logged(conn, &actor, &user, hash).await
    })
    .await?;
    flash(&admin.session, "Password changed successfully.");
    Ok(redirect(&format!("/admin/users/{id}/change/")))
}
