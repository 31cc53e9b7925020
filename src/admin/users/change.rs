//! Users change form, sign out everywhere, clear lock-out.

use super::add::check_username;
use super::*;

/// The editable values of the change form, from the row or from a post.
#[derive(Clone)]
pub struct UserValues {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub email_verified: bool,
    pub groups: HashSet<Uuid>,
    pub perms: HashSet<Uuid>,
}

impl UserValues {
    pub(crate) fn from_form(form: &FormData) -> Self {
        let ids = |name| -> HashSet<Uuid> {
            form.all(name)
                .into_iter()
                .filter_map(|v| Uuid::parse_str(v).ok())
                .collect()
        };
        UserValues {
            username: form.get("username").trim().to_owned(),
            email: form.get("email").trim().to_owned(),
            first_name: form.get("first_name").trim().to_owned(),
            last_name: form.get("last_name").trim().to_owned(),
            is_active: form.has("is_active"),
            is_staff: form.has("is_staff"),
            is_superuser: form.has("is_superuser"),
            email_verified: form.has("email_verified"),
            groups: ids("groups"),
            perms: ids("user_permissions"),
        }
    }
}

async fn current_values(conn: &mut AsyncPgConnection, user: &User) -> QueryResult<UserValues> {
    let (groups, perms) = User::group_and_permission_ids(conn, user.id).await?;
    Ok(UserValues {
        username: user.username.clone(),
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        is_active: user.is_active,
        is_staff: user.is_staff,
        is_superuser: user.is_superuser,
        email_verified: user.email_verified,
        groups,
        perms,
    })
}

/// Django's password widget: the algorithm and parameters, a few salt characters, never the hash.
pub fn password_summary(hash: Option<&str>) -> String {
    let Some(hash) = hash else {
        return "No password set (unusable: this account cannot log in to the back office).".into();
    };
    let parts: Vec<&str> = hash.split('$').collect();
    match parts.as_slice() {
        ["", algorithm, version, params, salt, _] => {
            let salt: String = salt.chars().take(6).collect();
            format!("{algorithm} {version} {params} salt {salt}…")
        }
        _ => "Unknown password format.".into(),
    }
}

/// The list's query string a change form came from (Django's `_changelist_filters`), rebuilt
/// from its parsed parameters so only known, well-formed parameters survive.
pub(crate) fn changelist_filters(raw: &str) -> String {
    list_params(raw).query_with(&[])
}

/// The change form. `lock` is the version token to carry (`None`: the user's current one; a form
/// re-shown for its errors keeps the token it was posted with, so a change saved meanwhile is not
/// silently overwritten by the next try).
#[allow(clippy::too_many_arguments)]
async fn change_page_for(
    conn: &mut AsyncPgConnection,
    admin: Admin,
    user: &User,
    values: UserValues,
    errors: FieldErrors,
    conflict: String,
    filters: &str,
    lock: Option<&str>,
) -> Result<HttpResponse, AdminError> {
    let all_groups = Group::all(conn).await?;
    let actor = &admin.staff.perms;
    let group_ids: Vec<Uuid> = all_groups.iter().map(|g| g.id).collect();
    let by_group = Group::codenames_by_group(conn, &group_ids).await?;
    let may_hand_out = |id: &Uuid| {
        actor.superuser
            || (actor.can("groups", "change")
                && actor.is_superset_of(&staff::Perms {
                    superuser: false,
                    codenames: by_group.get(id).cloned().unwrap_or_default(),
                }))
    };
    // What the viewer may not change is shown as stored, not as posted: a form re-shown after a
    // conflict must not carry back values a superuser has changed since.
    let mut values = values;
    let mut stored_groups = values.groups.clone();
    if !actor.superuser {
        let stored = current_values(conn, user).await?;
        values.is_superuser = stored.is_superuser;
        values.perms = stored.perms;
        stored_groups = stored.groups;
    }
    let perm_groups = permission_choices(conn, &values.perms, !actor.superuser).await?;
    let locked_out = staff::is_locked_out(conn, user).await?;
    let reachable = Users::may_manage(conn, actor, std::slice::from_ref(user)).await?;
    let tokens_valid_after = match &user.cognito_sub {
        Some(sub) => CognitoSignout::latest_for_sub(conn, sub).await?,
        None => None,
    };
    let show = |t: Option<DateTime<Utc>>| t.map(format_time).unwrap_or_else(|| "—".into());
    let may_change = admin.ctx.can(MODEL, "change");
    let readonly = !may_change || !reachable;
    let is_self = user.id == admin.staff.user.id;
    let id = user.id;
    let mut groups = Some(
        all_groups
            .into_iter()
            .map(|g| {
                let locked = !may_hand_out(&g.id);
                let chosen = if locked {
                    &stored_groups
                } else {
                    &values.groups
                };
                Choice {
                    checked: chosen.contains(&g.id),
                    locked,
                    id: g.id,
                    label: g.name,
                }
            })
            .collect::<Vec<_>>(),
    );
    let mut perm_groups = Some(perm_groups);
    let v = &values;
    let field = |name: &str| {
        let check = |label, checked| Row::new(label, Field::Checkbox(checked, false));
        let name_input = |value: &str| Input::text(value).max(MAX_NAME_LEN);
        let read_only = |label, text| Row::new(label, Field::ReadOnly(text, None));
        Some(match name {
            "password" => {
                let link = if is_self {
                    Some(("/admin/password_change/".into(), "(change your password)"))
                } else {
                    (!readonly).then(|| (format!("/admin/users/{id}/password/"), "(change)"))
                };
                let text = password_summary(user.password_hash.as_deref());
                Row::new("Password", Field::ReadOnly(text, link))
            }
            "first_name" => Row::new("First name", name_input(&v.first_name)),
            "last_name" => Row::new("Last name", name_input(&v.last_name)),
            "is_active" => check("Active", v.is_active).help([
                "Unselect this instead of deleting accounts. Deactivating ends the user's sessions.",
            ]),
            "is_staff" => check("Staff status", v.is_staff)
                .help(["Designates whether the user can log into this admin site."]),
            "is_superuser" => {
                let field = Field::Checkbox(v.is_superuser, !actor.superuser);
                let mut help = "Has all permissions without explicitly assigning them.".to_owned();
                if !actor.superuser {
                    help.push_str(
                        " Only superusers may change this and the user permissions; groups only \
                         with the permission to change groups, and only groups whose permissions \
                         you hold all of.",
                    );
                }
                Row::new("Superuser status", field).help([help])
            }
            "groups" => {
                let choices = groups.take()?;
                let none = choices.is_empty().then_some("No groups exist yet.");
                Row::new("Groups", Field::Choices("id_group_", choices)).help(none)
            }
            "user_permissions" => Row::new(
                "User permissions",
                Field::ChoiceGroups("id_perm_", perm_groups.take()?),
            ),
            "cognito_sub" => read_only(
                "Cognito sub",
                user.cognito_sub.clone().unwrap_or_else(|| "—".into()),
            ),
            "tokens_valid_after" => read_only("API tokens valid after", show(tokens_valid_after)),
            "email_verified" => check("Email verified", v.email_verified),
            "last_login" => read_only("Last login", show(user.last_login)),
            "created_at" => read_only("Created", format_time(user.created_at)),
            "updated_at" => read_only("Updated", format_time(user.updated_at)),
            _ => return account_field(name, &v.username, &v.email),
        })
    };
    let lock = lock.map_or_else(|| lock::token(user.updated_at), str::to_owned);
    let object = Some((id, user.username.as_str(), lock));
    let mut form = FormPage::new::<Users>(admin.ctx, object, readonly, &errors, field)?;
    form.conflict = conflict;
    form.changelist_filters = Some(changelist_filters(filters));
    form.delete &= !readonly;
    if may_change && !reachable {
        form.notice = "This account holds permissions you do not, so only someone who holds all \
                       of them (or a superuser) may change it, set its password or sign it out.";
    }
    form.tools.push(Tool {
        url: format!("/admin/users/{id}/signout/"),
        label: "Sign out everywhere",
        class: "btn-outline-warning",
    });
    if locked_out && actor.superuser {
        form.tools.push(Tool {
            url: format!("/admin/users/{id}/unlock/"),
            label: "Clear login lock-out",
            class: "btn-outline-danger",
        });
    }
    if locked_out {
        form.warning = "This account is locked out after too many failed logins.";
    }
    page(&form)
}

/// `GET /admin/users/{id}/change/`
pub async fn change_page(
    admin: Admin,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    // The row (and so the token) is read before the groups and permissions: a save landing in
    // between makes this form stale instead of letting it drop that save's groups.
    let user = load_one::<Users>(&mut conn, id, false).await?;
    let values = current_values(&mut conn, &user).await?;
    let query = FormData::parse(req.query_string().as_bytes());
    let (errors, filters) = (FieldErrors::new(), query.get("_changelist_filters"));
    change_page_for(
        &mut conn,
        admin,
        &user,
        values,
        errors,
        String::new(),
        filters,
        None,
    )
    .await
}

/// Saves validated `new` values over the user if nobody saved it since `lock` (its `updated_at`
/// when the form was loaded), writing the history row in the same transaction.
///
/// Refused with [`SaveError::Forbidden`] (nothing written) unless the user is within the reach
/// of `actor_perms`; and, for a non-superuser, if the save changes superuser status or direct
/// permissions, or the membership of a group without `groups.change` or whose permissions
/// they do not all hold.
pub async fn save_user(
    conn: &mut AsyncPgConnection,
    actor: &User,
    actor_perms: &staff::Perms,
    id: Uuid,
    lock: &str,
    new: &UserValues,
) -> Result<(), SaveError> {
    conn.transaction(async |conn| {
        let user = User::load_many(conn, &[id], true)
            .await?
            .pop()
            .ok_or(diesel::result::Error::NotFound)?;
        if !lock::is_current(user.updated_at, lock) {
            return Err(SaveError::Stale);
        }
        let old = current_values(conn, &user).await?;
        // Checked under the row lock, against the version being overwritten.
        if !Users::may_manage(conn, actor_perms, std::slice::from_ref(&user)).await? {
            return Err(SaveError::Forbidden);
        }
        if !actor_perms.superuser {
            if new.is_superuser != old.is_superuser || new.perms != old.perms {
                return Err(SaveError::Forbidden);
            }
            let moved: Vec<Uuid> = old
                .groups
                .symmetric_difference(&new.groups)
                .copied()
                .collect();
            if !moved.is_empty() {
                let granted = perms_of_groups(conn, &moved).await?;
                if !actor_perms.can("groups", "change") || !actor_perms.is_superset_of(&granted) {
                    return Err(SaveError::Forbidden);
                }
            }
        }
        let mut changes = Changes::default();
        changes.diff("username", &old.username, &new.username);
        changes.diff("email", &old.email, &new.email);
        changes.diff("first_name", &old.first_name, &new.first_name);
        changes.diff("last_name", &old.last_name, &new.last_name);
        changes.diff("is_active", old.is_active, new.is_active);
        changes.diff("is_staff", old.is_staff, new.is_staff);
        changes.diff("email_verified", old.email_verified, new.email_verified);
        let is_superuser = new.is_superuser;
        changes.diff("is_superuser", old.is_superuser, is_superuser);
        let deactivated = old.is_active && !new.is_active;
        let row = UserChanges {
            username: &new.username,
            email: &new.email,
            first_name: &new.first_name,
            last_name: &new.last_name,
            is_active: new.is_active,
            is_staff: new.is_staff,
            is_superuser,
            email_verified: new.email_verified,
        };
        User::update(conn, id, &row).await?;
        if deactivated {
            // Its staff sessions and API sign-ins end at once: a reactivation must not bring the
            // earlier ones back.
            sign_out_everywhere(conn, id).await?;
        }
        if old.groups != new.groups || old.perms != new.perms {
            let (old_groups, old_perms) = User::names_of(conn, &old.groups, &old.perms).await?;
            let (new_groups, new_perms) =
                User::set_groups_and_permissions(conn, id, &new.groups, &new.perms).await?;
            changes.diff("groups", old_groups, new_groups);
            changes.diff("user_permissions", old_perms, new_perms);
            // No column of the row may have changed: move its version on all the same.
            User::bump_version(conn, id).await?;
        }
        let message = changes.message();
        let repr = new.username.clone();
        history::write(
            conn,
            actor,
            target::<Users>(id, &repr),
            Action::Change,
            &message,
            changes.into_value(),
        )
        .await?;
        Ok(())
    })
    .await
}

/// `POST /admin/users/{id}/change/`
pub async fn change_submit(
    admin: Admin,
    path: web::Path<String>,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "change")?;
    let id = parse_id(&path)?;
    let form = form.0;
    let mut conn = db::connection(&state.pool).await?;
    let user = load_managed::<Users>(&mut conn, &admin, id).await?;
    let mut values = UserValues::from_form(&form);
    let mut errors = FieldErrors::new();
    check_username(&mut conn, &values.username, Some(id), &mut errors).await?;
    match accounts::normalize_email(&values.email) {
        Ok(e) => values.email = e,
        Err(e) => errors.add("email", e.to_string()),
    }
    for (field, value) in [
        ("first_name", &values.first_name),
        ("last_name", &values.last_name),
    ] {
        if value.chars().count() > MAX_NAME_LEN {
            errors.add(field, format!("At most {MAX_NAME_LEN} characters."));
        }
    }
    if id == admin.staff.user.id && (!values.is_active || !values.is_staff) {
        errors.add(
            "is_active",
            "You cannot remove your own active or staff status.",
        );
    }
    let (lock, filters) = (form.get(lock::FIELD), form.get("_changelist_filters"));
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let saved = if errors.is_empty() {
        save_user(&mut conn, &actor, &actor_perms, id, lock, &values).await
    } else {
        Ok(())
    };
    match saved {
        Ok(()) => {}
        Err(SaveError::Forbidden) => return Err(AdminError::Forbidden),
        Err(SaveError::Stale) => {
            let fresh = load_one::<Users>(&mut conn, id, false).await?;
            let conflict = lock::conflict_message("user");
            let response = change_page_for(
                &mut conn, admin, &fresh, values, errors, conflict, filters, None,
            )
            .await?;
            return Ok(lock::conflict(response));
        }
        Err(SaveError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => errors.add("username", "A user with that username already exists."),
        // Deleted by someone else while this form was open.
        Err(SaveError::Db(diesel::result::Error::NotFound)) => return Err(AdminError::NotFound),
        Err(SaveError::Db(e)) => return Err(e.into()),
    }
    if !errors.is_empty() {
        let (conflict, lock) = (String::new(), Some(lock));
        return change_page_for(
            &mut conn, admin, &user, values, errors, conflict, filters, lock,
        )
        .await;
    }
    flash(
        &admin.session,
        &format!("The user “{}” was changed successfully.", values.username),
    );
    let filters = changelist_filters(form.get("_changelist_filters"));
    let next = match after_save(&form, MODEL, id) {
        list if list == "/admin/users/" && !filters.is_empty() => format!("{list}?{filters}"),
        other => other,
    };
    Ok(redirect(&next))
}

/// `POST /admin/users/{id}/signout/`: "sign out everywhere".
pub async fn signout(
    admin: Admin,
    path: web::Path<String>,
    _form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "change")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    load_managed::<Users>(&mut conn, &admin, id).await?;
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let done = conn
        .transaction(async |conn| {
            let user = lock_managed::<Users>(conn, &actor_perms, id).await?;
            Ok::<_, AdminError>(actions::apply(conn, &actor, "signout", &[user]).await?)
        })
        .await?;
    if done == 0 {
        return Err(AdminError::NotFound);
    }
    if id == actor.id {
        // Signing oneself out everywhere includes this session.
        admin.session.purge();
        return Ok(redirect("/admin/login/"));
    }
    flash(
        &admin.session,
        "The user was signed out everywhere: staff sessions ended and API tokens issued before now are refused.",
    );
    Ok(redirect(&format!("/admin/users/{id}/change/")))
}

/// `POST /admin/users/{id}/unlock/`: a superuser clears the account's login lock-out.
pub async fn unlock(
    admin: Admin,
    path: web::Path<String>,
    _form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    if !admin.staff.perms.superuser {
        return Err(AdminError::Forbidden);
    }
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let user = load_one::<Users>(&mut conn, id, false).await?;
    let actor = admin.staff.user.clone();
    conn.transaction(async |conn| {
        let cleared = staff::clear_lockout(conn, &user).await?;
        let mut changes = Changes::default();
        changes.mark("failed_logins", &format!("{cleared} cleared"));
        history::write(
            conn,
            &actor,
            target::<Users>(user.id, &user.username),
            Action::Change,
            "Cleared login lock-out.",
            changes.into_value(),
        )
        .await
    })
    .await?;
    flash(&admin.session, "The login lock-out was cleared.");
    Ok(redirect(&format!("/admin/users/{id}/change/")))
}
