//! Users add form.

use super::*;

/// The add form: what was typed, and what is wrong with it.
fn add_form(
    admin: Admin,
    username: &str,
    email: &str,
    errors: &FieldErrors,
) -> Result<HttpResponse, AdminError> {
    let mut form = FormPage::new::<Users>(admin.ctx, None, false, errors, |name| {
        let password = Input::new("password", "").required();
        account_field(name, username, email).or_else(|| match name {
            "password1" => Some(Row::new("Password", password).help(password_help())),
            "password2" => Some(Row::new("Password confirmation", password)),
            _ => None,
        })
    })?;
    if let Some(first) = form.fieldsets.first_mut() {
        first.description =
            "First, enter a username and password. Then you'll be able to edit more user options.";
    }
    page(&form)
}

/// `GET /admin/users/add/`
pub async fn add_page(admin: Admin) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    add_form(admin, "", "", &FieldErrors::new())
}

/// Checks a username (rule and case-insensitive uniqueness, ignoring `except`).
pub(super) async fn check_username(
    conn: &mut AsyncPgConnection,
    username: &str,
    except: Option<Uuid>,
    errors: &mut FieldErrors,
) -> Result<(), AdminError> {
    if let Err(e) = accounts::validate_username(username) {
        errors.add("username", e.to_string());
        return Ok(());
    }
    if let Some(existing) = User::find_by_username(conn, username).await?
        && Some(existing.id) != except
    {
        errors.add("username", "A user with that username already exists.");
    }
    Ok(())
}

/// `POST /admin/users/add/`
pub async fn add_submit(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    let form = form.0;
    let username = form.get("username").trim().to_owned();
    let mut errors = FieldErrors::new();
    let mut conn = db::connection(&state.pool).await?;
    check_username(&mut conn, &username, None, &mut errors).await?;
    let email = match accounts::normalize_email(form.get("email")) {
        Ok(e) => e,
        Err(e) => {
            errors.add("email", e.to_string());
            form.get("email").to_owned()
        }
    };
    check_new_password(
        form.get("password1"),
        form.get("password2"),
        UserAttributes {
            username: &username,
            email: &email,
            ..Default::default()
        },
        "password2",
        &mut errors,
    );
    if !errors.is_empty() {
        return add_form(admin, &username, &email, &errors);
    }
    let hash = hash_blocking(form.get("password2").to_owned()).await?;
    let actor = admin.staff.user.clone();
    let created = conn
        .transaction(async |conn| {
            let user = NewUser {
                id: new_id(),
                username: &username,
                email: &email,
                password_hash: Some(&hash),
                cognito_sub: None,
                email_verified: false,
                first_name: "",
                last_name: "",
                is_active: true,
                is_staff: false,
                is_superuser: false,
            }
            .insert(conn)
            .await?;
            let mut changes = Changes::default();
            changes.diff("username", None, Some(&user.username));
            changes.diff("email", None, Some(&user.email));
            changes.mark("password", "set");
            history::write(
                conn,
                &actor,
                target::<Users>(user.id, &user.username),
                Action::Add,
                "Added.",
                changes.into_value(),
            )
            .await?;
            Ok::<_, diesel::result::Error>(user)
        })
        .await;
    let user = match created {
        Ok(user) => user,
        // Lost a race with another add of the same name.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            errors.add("username", "A user with that username already exists.");
            return add_form(admin, &username, &email, &errors);
        }
        Err(e) => return Err(e.into()),
    };
    flash(
        &admin.session,
        &format!(
            "The user “{}” was added successfully. You may edit it again below.",
            user.username
        ),
    );
    // As Django's UserAdmin: plain "Save" on add continues to the change form.
    let next = if form.has("_addanother") {
        "/admin/users/add/".to_owned()
    } else {
        format!("/admin/users/{}/change/", user.id)
    };
    Ok(redirect(&next))
}
