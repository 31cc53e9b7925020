//! Users delete confirmation, history and set-password pages.

use super::*;

#[derive(Template)]
#[template(path = "admin/users/delete.html")]
struct DeletePage {
    page_title: String,
    ctx: PageCtx,
    user: UserRow,
    articles: Vec<String>,
    article_count: i64,
    memberships: i64,
    permissions: i64,
    is_self: bool,
}

/// `GET /admin/users/{id}/delete/`: what goes with the user.
pub async fn delete_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "delete")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let user = load_managed(&mut conn, &admin, id).await?;
    let article_count = articles::table
        .filter(articles::author_id.eq(id))
        .count()
        .get_result(&mut conn)
        .await?;
    let articles = articles::table
        .filter(articles::author_id.eq(id))
        .order(articles::name.asc())
        .select(articles::name)
        .limit(20)
        .load(&mut conn)
        .await?;
    let memberships = user_groups::table
        .filter(user_groups::user_id.eq(id))
        .count()
        .get_result(&mut conn)
        .await?;
    let permissions = user_permissions::table
        .filter(user_permissions::user_id.eq(id))
        .count()
        .get_result(&mut conn)
        .await?;
    page(&DeletePage {
        page_title: "Are you sure?".into(),
        is_self: id == admin.staff.user.id,
        ctx: admin.ctx,
        user: UserRow::from(&user),
        articles,
        article_count,
        memberships,
        permissions,
    })
}

/// `POST /admin/users/{id}/delete/`
pub async fn delete_submit(
    admin: Admin,
    path: web::Path<String>,
    _form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "delete")?;
    let id = parse_id(&path)?;
    if id == admin.staff.user.id {
        return Err(AdminError::BadRequest(
            "You cannot delete your own account.".into(),
        ));
    }
    let mut conn = db::connection(&state.pool).await?;
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let user = conn
        .transaction(async |conn| {
            let user = lock_managed(conn, &actor_perms, id).await?;
            history::write_deletion(conn, &actor, target(&user), "username", "Deleted.").await?;
            diesel::delete(users::table.find(id)).execute(conn).await?;
            Ok::<_, AdminError>(user)
        })
        .await?;
    flash(
        &admin.session,
        &format!("The user “{}” was deleted successfully.", user.username),
    );
    Ok(redirect("/admin/users/"))
}

/// `GET /admin/users/{id}/history/`
pub async fn history_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let user = load_user(&mut conn, id).await?;
    history::history_page(&mut conn, admin.ctx, MODEL, id, user.username).await
}

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

impl SetPasswordPage {
    fn errors_for(&self, field: &str) -> Vec<String> {
        self.errors.get(field).cloned().unwrap_or_default()
    }
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
    let user = load_managed(&mut conn, &admin, id).await?;
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
    let user = load_managed(&mut conn, &admin, id).await?;
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
        let user = lock_managed(conn, &actor_perms, id).await?;
        set_password_logged(conn, &actor, &user, hash).await
    })
    .await?;
    flash(&admin.session, "Password changed successfully.");
    Ok(redirect(&format!("/admin/users/{id}/change/")))
}
