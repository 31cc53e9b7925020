//! Users admin, after Django's UserAdmin: list (search, filters, sorting, paging, bulk actions),
//! add, change (with optimistic locking), delete, history, set password, sign out everywhere.

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::history::{self, Action, Changes, Target, format_time};
use super::index::table_count;
use super::login::{
    FieldErrors, check_new_password, hash_blocking, password_help, set_password_logged,
};
use super::user_list::{COLUMNS, ListParams, PAGE_SIZES};
use super::{Admin, AdminError, PageCtx, flash, page, redirect};
use crate::accounts;
use crate::auth::csrf::{AdminForm, FormData};
use crate::auth::password::UserAttributes;
use crate::auth::staff;
use crate::db;
use crate::models::{Group, NewUser, User, new_id};
use crate::schema::{articles, groups, permissions, user_groups, user_permissions, users};
use crate::startup::AppState;

const MODEL: &str = "users";
/// Filtered lists count matches up to this many; beyond it the page says "More than …".
pub const COUNT_CAP: i64 = 10_000;
const MAX_NAME_LEN: usize = 150;

fn parse_id(raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw).map_err(|_| AdminError::NotFound)
}

async fn load_user(conn: &mut AsyncPgConnection, id: Uuid) -> Result<User, AdminError> {
    User::find(conn, id).await?.ok_or(AdminError::NotFound)
}

/// Only superusers may act on a superuser's account: anyone else with `users.change` could
/// otherwise set a superuser's password and log in as them (a known Django admin footgun).
fn may_manage(actor: &User, target: &User) -> bool {
    actor.is_superuser || !target.is_superuser
}

/// Loads a user the staff member means to change, set a password for, or delete.
async fn load_managed(
    conn: &mut AsyncPgConnection,
    admin: &Admin,
    id: Uuid,
) -> Result<User, AdminError> {
    let user = load_user(conn, id).await?;
    if may_manage(&admin.staff.user, &user) {
        Ok(user)
    } else {
        Err(AdminError::Forbidden)
    }
}

fn target(user: &User) -> Target<'_> {
    Target {
        object_type: MODEL,
        id: user.id,
        repr: &user.username,
    }
}

// ---------------------------------------------------------------------------------------------
// List and bulk actions

pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub source: &'static str,
    pub created: String,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        UserRow {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            is_staff: u.is_staff,
            is_active: u.is_active,
            source: if u.cognito_sub.is_some() {
                "Cognito"
            } else {
                "local"
            },
            created: u.created_at.format("%Y-%m-%d %H:%M").to_string(),
        }
    }
}

pub struct ColumnHead {
    pub label: &'static str,
    pub url: String,
    /// "▲", "▼" or "".
    pub arrow: &'static str,
}

pub struct PageLink {
    pub label: String,
    pub url: String,
    pub current: bool,
}

/// Bulk actions: (value, label, permission needed).
pub const ACTIONS: &[(&str, &str, &str)] = &[
    ("delete", "Delete selected users", "delete"),
    ("activate", "Activate selected users", "change"),
    ("deactivate", "Deactivate selected users", "change"),
    ("signout", "Sign selected users out everywhere", "change"),
];

#[derive(Template)]
#[template(path = "admin/users/list.html")]
struct ListPage {
    page_title: String,
    ctx: PageCtx,
    params: ListParams,
    rows: Vec<UserRow>,
    heads: Vec<ColumnHead>,
    summary: String,
    pages: Vec<PageLink>,
    page_sizes: Vec<i64>,
    export_url: String,
    actions: Vec<(&'static str, &'static str)>,
    invalid: String,
    /// Appended to each row's change link: the list's filters, to come back to after saving.
    row_suffix: String,
}

fn page_links(params: &ListParams, count: i64) -> Vec<PageLink> {
    let last = ((count + params.per_page - 1) / params.per_page).max(1);
    if last == 1 {
        return Vec::new();
    }
    let mut numbers: Vec<i64> = vec![1, last];
    numbers.extend((params.page - 2).max(1)..=(params.page + 2).min(last));
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| PageLink {
            label: n.to_string(),
            url: format!("?{}", params.query_with(&[("p", &n.to_string())])),
            current: n == params.page,
        })
        .collect()
}

/// `GET /admin/users/`
pub async fn list(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let params = ListParams::parse(req.query_string());
    let mut conn = db::connection(&state.pool).await?;
    let total = table_count(&mut conn, MODEL).await?;
    let (summary, count, rows) = conn
        .transaction(async |conn| {
            if params.trigram_search() {
                // Local to this transaction: steer the planner to the trigram indexes.
                diesel::sql_query("SET LOCAL enable_seqscan = off")
                    .execute(conn)
                    .await?;
            }
            let (summary, count, among) = if params.is_filtered() {
                let (n, all_ids) = params.count_capped(conn, COUNT_CAP).await?;
                let matches = if all_ids.is_some() {
                    format!("{n} result{}", if n == 1 { "" } else { "s" })
                } else {
                    format!("More than {n} results")
                };
                (format!("{matches} ({} total)", total.display()), n, all_ids)
            } else {
                (format!("{} users", total.display()), total.n, None)
            };
            let rows = params.page_rows(conn, among.as_deref()).await?;
            Ok::<_, diesel::result::Error>((summary, count, rows))
        })
        .await?;
    let heads = COLUMNS
        .iter()
        .map(|(name, label)| {
            let (arrow, next) = if params.order == *name {
                ("▲", format!("-{name}"))
            } else if params.order == format!("-{name}") {
                ("▼", (*name).to_owned())
            } else {
                ("", (*name).to_owned())
            };
            ColumnHead {
                label,
                url: format!("?{}", params.query_with(&[("o", &next)])),
                arrow,
            }
        })
        .collect();
    let actions = ACTIONS
        .iter()
        .filter(|(_, _, perm)| admin.ctx.can(MODEL, perm))
        .map(|(value, label, _)| (*value, *label))
        .collect();
    let current = params.query_with(&[]);
    let row_suffix = if current.is_empty() {
        String::new()
    } else {
        format!(
            "?_changelist_filters={}",
            url::form_urlencoded::byte_serialize(current.as_bytes()).collect::<String>()
        )
    };
    page(&ListPage {
        page_title: "Select user to change".into(),
        row_suffix,
        pages: page_links(&params, count),
        export_url: format!("/admin/users/export.csv?{}", params.query_with(&[])),
        invalid: params.invalid.join(", "),
        rows: rows.iter().map(UserRow::from).collect(),
        ctx: admin.ctx,
        params,
        heads,
        summary,
        page_sizes: PAGE_SIZES.to_vec(),
        actions,
    })
}

#[derive(Template)]
#[template(path = "admin/users/action_confirm.html")]
struct ActionConfirmPage {
    page_title: String,
    ctx: PageCtx,
    action: &'static str,
    label: &'static str,
    users: Vec<UserRow>,
    related_articles: i64,
}

/// `POST /admin/users/`: a bulk action; the first post shows a confirmation page, the confirmed
/// one does the work, one history row per user, all in one transaction.
pub async fn bulk_action(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let form = form.0;
    let Some(&(action, label, perm)) = ACTIONS.iter().find(|(a, _, _)| *a == form.get("action"))
    else {
        flash(&admin.session, "No action selected.");
        return Ok(redirect("/admin/users/"));
    };
    admin.require(MODEL, perm)?;
    let ids: Vec<Uuid> = form
        .all("_selected_action")
        .into_iter()
        .filter_map(|v| Uuid::parse_str(v).ok())
        .take(1000)
        .collect();
    if ids.is_empty() {
        flash(
            &admin.session,
            "Items must be selected in order to perform actions on them. No items have been changed.",
        );
        return Ok(redirect("/admin/users/"));
    }
    let mut conn = db::connection(&state.pool).await?;
    let me = admin.staff.user.id;
    if form.get("confirm") != "yes" {
        let selected: Vec<User> = users::table
            .filter(users::id.eq_any(&ids))
            .order(users::username.asc())
            .select(User::as_select())
            .load(&mut conn)
            .await?;
        let related_articles = if action == "delete" {
            articles::table
                .filter(articles::author_id.eq_any(&ids))
                .count()
                .get_result(&mut conn)
                .await?
        } else {
            0
        };
        return page(&ActionConfirmPage {
            page_title: "Are you sure?".into(),
            ctx: admin.ctx,
            action,
            label,
            users: selected.iter().map(UserRow::from).collect(),
            related_articles,
        });
    }
    let actor = admin.staff.user.clone();
    let done = conn
        .transaction(async |conn| apply_bulk(conn, &actor, action, &ids, me).await)
        .await?;
    flash(
        &admin.session,
        &format!(
            "{label}: done for {done} user{}.",
            if done == 1 { "" } else { "s" }
        ),
    );
    Ok(redirect("/admin/users/"))
}

/// Applies a bulk action to `ids` (never to the acting user for delete and deactivate) and logs
/// one row per changed user. Returns how many changed.
pub async fn apply_bulk(
    conn: &mut AsyncPgConnection,
    actor: &User,
    action: &str,
    ids: &[Uuid],
    me: Uuid,
) -> QueryResult<usize> {
    let selected: Vec<User> = users::table
        .filter(users::id.eq_any(ids))
        .order(users::username.asc())
        .for_update()
        .select(User::as_select())
        .load(conn)
        .await?;
    let mut done = 0;
    for user in selected.iter().filter(|u| may_manage(actor, u)) {
        let mut changes = Changes::default();
        let (log_action, message) = match action {
            "delete" if user.id != me => {
                changes.diff("username", Some(&user.username), None);
                history::write(
                    conn,
                    actor,
                    target(user),
                    Action::Delete,
                    "Deleted (bulk action).",
                    changes.into_value(),
                )
                .await?;
                diesel::delete(users::table.find(user.id))
                    .execute(conn)
                    .await?;
                done += 1;
                continue;
            }
            "activate" if !user.is_active => {
                diesel::update(users::table.find(user.id))
                    .set(users::is_active.eq(true))
                    .execute(conn)
                    .await?;
                changes.diff("is_active", false, true);
                (Action::Bulk, "Activated (bulk action).")
            }
            "deactivate" if user.is_active && user.id != me => {
                diesel::update(users::table.find(user.id))
                    .set((
                        users::is_active.eq(false),
                        users::session_epoch.eq(users::session_epoch + 1),
                    ))
                    .execute(conn)
                    .await?;
                changes.diff("is_active", true, false);
                (Action::Bulk, "Deactivated (bulk action).")
            }
            "signout" => {
                let now = sign_out_everywhere(conn, user.id).await?;
                changes.diff(
                    "tokens_valid_after",
                    user.tokens_valid_after.map(format_time),
                    Some(format_time(now)),
                );
                (Action::Bulk, "Signed out everywhere (bulk action).")
            }
            _ => continue,
        };
        history::write(
            conn,
            actor,
            target(user),
            log_action,
            message,
            changes.into_value(),
        )
        .await?;
        done += 1;
    }
    Ok(done)
}

/// Ends every session and API token of the user: staff sessions by epoch, Cognito tokens issued
/// before now by `tokens_valid_after`.
pub async fn sign_out_everywhere(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<DateTime<Utc>> {
    let now = Utc::now();
    diesel::update(users::table.find(id))
        .set((
            users::tokens_valid_after.eq(now),
            users::session_epoch.eq(users::session_epoch + 1),
        ))
        .execute(conn)
        .await?;
    Ok(now)
}

// ---------------------------------------------------------------------------------------------
// Add

#[derive(Template)]
#[template(path = "admin/users/add.html")]
struct AddPage {
    page_title: String,
    ctx: PageCtx,
    username: String,
    email: String,
    errors: FieldErrors,
    help: Vec<String>,
}

impl AddPage {
    fn errors_for(&self, field: &str) -> Vec<String> {
        self.errors.get(field).cloned().unwrap_or_default()
    }
}

/// `GET /admin/users/add/`
pub async fn add_page(admin: Admin) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    page(&AddPage {
        page_title: "Add user".into(),
        ctx: admin.ctx,
        username: String::new(),
        email: String::new(),
        errors: FieldErrors::new(),
        help: password_help(),
    })
}

/// Checks a username (rule and case-insensitive uniqueness, ignoring `except`).
async fn check_username(
    conn: &mut AsyncPgConnection,
    username: &str,
    except: Option<Uuid>,
    errors: &mut FieldErrors,
) -> Result<(), AdminError> {
    if let Err(e) = accounts::validate_username(username) {
        errors.entry("username").or_default().push(e.to_string());
        return Ok(());
    }
    if let Some(existing) = User::find_by_username(conn, username).await?
        && Some(existing.id) != except
    {
        errors
            .entry("username")
            .or_default()
            .push("A user with that username already exists.".into());
    }
    Ok(())
}

fn after_save(form: &FormData, id: Uuid) -> String {
    if form.has("_addanother") {
        "/admin/users/add/".into()
    } else if form.has("_continue") {
        format!("/admin/users/{id}/change/")
    } else {
        "/admin/users/".into()
    }
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
            errors.entry("email").or_default().push(e.to_string());
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
        return page(&AddPage {
            page_title: "Add user".into(),
            ctx: admin.ctx,
            username,
            email,
            errors,
            help: password_help(),
        });
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
                target(&user),
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
            errors
                .entry("username")
                .or_default()
                .push("A user with that username already exists.".into());
            return page(&AddPage {
                page_title: "Add user".into(),
                ctx: admin.ctx,
                username,
                email,
                errors,
                help: password_help(),
            });
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

// ---------------------------------------------------------------------------------------------
// Change

pub struct Choice {
    pub id: Uuid,
    pub label: String,
    pub checked: bool,
}

pub struct ChoiceGroup {
    pub title: String,
    pub choices: Vec<Choice>,
}

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
    fn from_form(form: &FormData) -> Self {
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
    let groups = user_groups::table
        .filter(user_groups::user_id.eq(user.id))
        .select(user_groups::group_id)
        .load::<Uuid>(conn)
        .await?
        .into_iter()
        .collect();
    let perms = user_permissions::table
        .filter(user_permissions::user_id.eq(user.id))
        .select(user_permissions::permission_id)
        .load::<Uuid>(conn)
        .await?
        .into_iter()
        .collect();
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

#[derive(Template)]
#[template(path = "admin/users/change.html")]
struct ChangePage {
    page_title: String,
    ctx: PageCtx,
    id: Uuid,
    values: UserValues,
    errors: FieldErrors,
    /// Form-wide error (a stale save).
    conflict: String,
    updated_at_token: String,
    /// Query string of the list this form was opened from, kept through saves.
    changelist_filters: String,
    readonly: bool,
    /// Only superusers grant superuser status, groups and permissions (no self-escalation).
    can_grant: bool,
    password: String,
    groups: Vec<Choice>,
    perm_groups: Vec<ChoiceGroup>,
    cognito_sub: String,
    tokens_valid_after: String,
    last_login: String,
    created_at: String,
    updated_at: String,
    locked_out: bool,
}

impl ChangePage {
    fn errors_for(&self, field: &str) -> Vec<String> {
        self.errors.get(field).cloned().unwrap_or_default()
    }
}

fn lock_token(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The list's query string a change form came from (Django's `_changelist_filters`), rebuilt
/// from its parsed parameters so only known, well-formed parameters survive.
fn changelist_filters(raw: &str) -> String {
    ListParams::parse(raw).query_with(&[])
}

async fn change_page_for(
    conn: &mut AsyncPgConnection,
    admin: Admin,
    user: &User,
    values: UserValues,
    errors: FieldErrors,
    conflict: String,
    filters: &str,
) -> Result<HttpResponse, AdminError> {
    let all_groups: Vec<Group> = groups::table
        .order(groups::name.asc())
        .select(Group::as_select())
        .load(conn)
        .await?;
    let perm_groups = super::simple::permission_choices(conn, &values.perms).await?;
    let locked_out = staff::is_locked_out(conn, user).await?;
    let show = |t: Option<DateTime<Utc>>| t.map(format_time).unwrap_or_else(|| "—".into());
    page(&ChangePage {
        page_title: format!("Change user {}", user.username),
        readonly: !admin.ctx.can(MODEL, "change") || !may_manage(&admin.staff.user, user),
        can_grant: admin.staff.perms.superuser,
        ctx: admin.ctx,
        id: user.id,
        groups: all_groups
            .into_iter()
            .map(|g| Choice {
                id: g.id,
                checked: values.groups.contains(&g.id),
                label: g.name,
            })
            .collect(),
        perm_groups,
        values,
        errors,
        conflict,
        updated_at_token: lock_token(user.updated_at),
        changelist_filters: changelist_filters(filters),
        password: password_summary(user.password_hash.as_deref()),
        cognito_sub: user.cognito_sub.clone().unwrap_or_else(|| "—".into()),
        tokens_valid_after: show(user.tokens_valid_after),
        last_login: show(user.last_login),
        created_at: format_time(user.created_at),
        updated_at: format_time(user.updated_at),
        locked_out,
    })
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
    let user = load_user(&mut conn, id).await?;
    let values = current_values(&mut conn, &user).await?;
    let query = FormData::parse(req.query_string().as_bytes());
    change_page_for(
        &mut conn,
        admin,
        &user,
        values,
        FieldErrors::new(),
        String::new(),
        query.get("_changelist_filters"),
    )
    .await
}

/// Why a change was not saved.
pub enum SaveError {
    /// Someone saved the user after this form was loaded.
    Stale,
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for SaveError {
    fn from(e: diesel::result::Error) -> Self {
        SaveError::Db(e)
    }
}

async fn names_of(
    conn: &mut AsyncPgConnection,
    group_ids: &HashSet<Uuid>,
    perm_ids: &HashSet<Uuid>,
) -> QueryResult<(Vec<String>, Vec<String>)> {
    let g: Vec<String> = groups::table
        .filter(groups::id.eq_any(group_ids.iter().copied().collect::<Vec<_>>()))
        .order(groups::name.asc())
        .select(groups::name)
        .load(conn)
        .await?;
    let p: Vec<String> = permissions::table
        .filter(permissions::id.eq_any(perm_ids.iter().copied().collect::<Vec<_>>()))
        .order(permissions::codename.asc())
        .select(permissions::codename)
        .load(conn)
        .await?;
    Ok((g, p))
}

/// Saves validated `new` values over the user if nobody saved it since `lock` (its `updated_at`
/// when the form was loaded), writing the history row in the same transaction.
pub async fn save_user(
    conn: &mut AsyncPgConnection,
    actor: &User,
    id: Uuid,
    lock: &str,
    new: &UserValues,
    may_grant: bool,
) -> Result<(), SaveError> {
    conn.transaction(async |conn| {
        let user: User = users::table
            .find(id)
            .for_update()
            .select(User::as_select())
            .first(conn)
            .await?;
        if lock_token(user.updated_at) != lock {
            return Err(SaveError::Stale);
        }
        let old = current_values(conn, &user).await?;
        let mut changes = Changes::default();
        changes.diff("username", &old.username, &new.username);
        changes.diff("email", &old.email, &new.email);
        changes.diff("first_name", &old.first_name, &new.first_name);
        changes.diff("last_name", &old.last_name, &new.last_name);
        changes.diff("is_active", old.is_active, new.is_active);
        changes.diff("is_staff", old.is_staff, new.is_staff);
        changes.diff("email_verified", old.email_verified, new.email_verified);
        let is_superuser = if may_grant {
            new.is_superuser
        } else {
            old.is_superuser
        };
        changes.diff("is_superuser", old.is_superuser, is_superuser);
        let deactivated = old.is_active && !new.is_active;
        diesel::update(users::table.find(id))
            .set((
                users::username.eq(&new.username),
                users::email.eq(&new.email),
                users::first_name.eq(&new.first_name),
                users::last_name.eq(&new.last_name),
                users::is_active.eq(new.is_active),
                users::is_staff.eq(new.is_staff),
                users::is_superuser.eq(is_superuser),
                users::email_verified.eq(new.email_verified),
                // Deactivation ends the user's staff sessions at once.
                users::session_epoch.eq(users::session_epoch + i32::from(deactivated)),
            ))
            .execute(conn)
            .await?;
        if may_grant && (old.groups != new.groups || old.perms != new.perms) {
            let (old_groups, old_perms) = names_of(conn, &old.groups, &old.perms).await?;
            diesel::delete(user_groups::table.filter(user_groups::user_id.eq(id)))
                .execute(conn)
                .await?;
            diesel::delete(user_permissions::table.filter(user_permissions::user_id.eq(id)))
                .execute(conn)
                .await?;
            // Only ids that exist are linked: a forged id is dropped, not a 500.
            let group_ids: Vec<Uuid> = groups::table
                .filter(groups::id.eq_any(new.groups.iter().copied().collect::<Vec<_>>()))
                .select(groups::id)
                .load(conn)
                .await?;
            let perm_ids: Vec<Uuid> = permissions::table
                .filter(permissions::id.eq_any(new.perms.iter().copied().collect::<Vec<_>>()))
                .select(permissions::id)
                .load(conn)
                .await?;
            let (new_groups, new_perms) = names_of(
                conn,
                &group_ids.iter().copied().collect(),
                &perm_ids.iter().copied().collect(),
            )
            .await?;
            diesel::insert_into(user_groups::table)
                .values(
                    group_ids
                        .iter()
                        .map(|g| (user_groups::user_id.eq(id), user_groups::group_id.eq(*g)))
                        .collect::<Vec<_>>(),
                )
                .execute(conn)
                .await?;
            diesel::insert_into(user_permissions::table)
                .values(
                    perm_ids
                        .iter()
                        .map(|p| {
                            (
                                user_permissions::user_id.eq(id),
                                user_permissions::permission_id.eq(*p),
                            )
                        })
                        .collect::<Vec<_>>(),
                )
                .execute(conn)
                .await?;
            changes.diff("groups", old_groups, new_groups);
            changes.diff("user_permissions", old_perms, new_perms);
        }
        let message = changes.message();
        let repr = new.username.clone();
        history::write(
            conn,
            actor,
            Target {
                object_type: MODEL,
                id,
                repr: &repr,
            },
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
    let user = load_managed(&mut conn, &admin, id).await?;
    let mut values = UserValues::from_form(&form);
    let mut errors = FieldErrors::new();
    check_username(&mut conn, &values.username, Some(id), &mut errors).await?;
    match accounts::normalize_email(&values.email) {
        Ok(e) => values.email = e,
        Err(e) => errors.entry("email").or_default().push(e.to_string()),
    }
    for (field, value) in [
        ("first_name", &values.first_name),
        ("last_name", &values.last_name),
    ] {
        if value.chars().count() > MAX_NAME_LEN {
            errors
                .entry(field)
                .or_default()
                .push(format!("At most {MAX_NAME_LEN} characters."));
        }
    }
    if id == admin.staff.user.id && (!values.is_active || !values.is_staff) {
        errors
            .entry("is_active")
            .or_default()
            .push("You cannot remove your own active or staff status.".into());
    }
    let may_grant = admin.staff.perms.superuser;
    if !may_grant {
        // Shown read-only to them: keep what is stored.
        let current = current_values(&mut conn, &user).await?;
        values.groups = current.groups;
        values.perms = current.perms;
        values.is_superuser = current.is_superuser;
    }
    if !errors.is_empty() {
        let filters = form.get("_changelist_filters");
        return change_page_for(
            &mut conn,
            admin,
            &user,
            values,
            errors,
            String::new(),
            filters,
        )
        .await;
    }
    let actor = admin.staff.user.clone();
    let lock = form.get("updated_at").to_owned();
    match save_user(&mut conn, &actor, id, &lock, &values, may_grant).await {
        Ok(_) => {}
        Err(SaveError::Stale) => {
            let fresh = load_user(&mut conn, id).await?;
            return change_page_for(
                &mut conn,
                admin,
                &fresh,
                values,
                errors,
                "This user was changed by someone else after you opened this form, so your \
                 changes were not saved. Your entries are shown below; compare them with the \
                 current history and save again."
                    .into(),
                form.get("_changelist_filters"),
            )
            .await;
        }
        Err(SaveError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => {
            errors
                .entry("username")
                .or_default()
                .push("A user with that username already exists.".into());
            let filters = form.get("_changelist_filters");
            return change_page_for(
                &mut conn,
                admin,
                &user,
                values,
                errors,
                String::new(),
                filters,
            )
            .await;
        }
        Err(SaveError::Db(e)) => return Err(e.into()),
    }
    flash(
        &admin.session,
        &format!("The user “{}” was changed successfully.", values.username),
    );
    let filters = changelist_filters(form.get("_changelist_filters"));
    let next = match after_save(&form, id) {
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
    load_managed(&mut conn, &admin, id).await?;
    let actor = admin.staff.user.clone();
    let done = conn
        .transaction(async |conn| apply_bulk(conn, &actor, "signout", &[id], actor.id).await)
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
    let user = load_user(&mut conn, id).await?;
    let actor = admin.staff.user.clone();
    conn.transaction(async |conn| {
        let cleared = staff::clear_lockout(conn, &user).await?;
        let mut changes = Changes::default();
        changes.mark("failed_logins", &format!("{cleared} cleared"));
        history::write(
            conn,
            &actor,
            target(&user),
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

// ---------------------------------------------------------------------------------------------
// Delete, history, password

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
    let user = load_managed(&mut conn, &admin, id).await?;
    let actor = admin.staff.user.clone();
    conn.transaction(async |conn| {
        let mut changes = Changes::default();
        changes.diff("username", Some(&user.username), None);
        history::write(
            conn,
            &actor,
            target(&user),
            Action::Delete,
            "Deleted.",
            changes.into_value(),
        )
        .await?;
        diesel::delete(users::table.find(id)).execute(conn).await?;
        Ok::<_, diesel::result::Error>(())
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

/// `GET /admin/users/{id}/password/`
pub async fn password_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "change")?;
    let id = parse_id(&path)?;
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
    let epoch = set_password_logged(&mut conn, &admin.staff.user, &user, hash).await?;
    if id == admin.staff.user.id {
        staff::update_session_epoch(&admin.session, epoch).map_err(AdminError::internal)?;
    }
    flash(&admin.session, "Password changed successfully.");
    Ok(redirect(&format!("/admin/users/{id}/change/")))
}

// ---------------------------------------------------------------------------------------------
// CSV export

const EXPORT_BATCH: i64 = 1000;

/// One CSV field: quoted when needed, and a leading `= + - @` defused so a spreadsheet does not
/// run it as a formula (CSV injection).
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub fn csv_row(u: &User) -> String {
    let fields = [
        u.id.to_string(),
        u.username.clone(),
        u.email.clone(),
        u.first_name.clone(),
        u.last_name.clone(),
        u.cognito_sub.clone().unwrap_or_default(),
        u.email_verified.to_string(),
        u.is_active.to_string(),
        u.is_staff.to_string(),
        u.is_superuser.to_string(),
        u.last_login.map(|t| t.to_rfc3339()).unwrap_or_default(),
        u.created_at.to_rfc3339(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

pub const CSV_HEADER: &str = "id,username,email,first_name,last_name,cognito_sub,email_verified,\
is_active,is_staff,is_superuser,last_login,created_at\r\n";

/// `GET /admin/users/export.csv?<list filters>`: every matching user, streamed in batches by
/// keyset, so a million rows never sit in memory at once.
pub async fn export_csv(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let params = ListParams::parse(req.query_string());
    let pool = state.pool.clone();
    // State: (after this id, finished?). The header goes out first.
    let header = futures_util::stream::once(async {
        Ok::<_, actix_web::Error>(web::Bytes::from_static(CSV_HEADER.as_bytes()))
    });
    let rows = futures_util::stream::unfold(Some(None::<Uuid>), move |cursor| {
        let pool = pool.clone();
        let params = params.clone();
        async move {
            let after = cursor?;
            let batch = async {
                let mut conn = db::connection(&pool).await?;
                Ok::<_, db::DbError>(params.batch_after(&mut conn, after, EXPORT_BATCH).await?)
            }
            .await;
            match batch {
                Ok(users) if users.is_empty() => None,
                Ok(users) => {
                    let last = users.last().map(|u| u.id);
                    let next = if (users.len() as i64) < EXPORT_BATCH {
                        None
                    } else {
                        Some(last)
                    };
                    let chunk: String = users.iter().map(csv_row).collect();
                    Some((Ok(web::Bytes::from(chunk)), next))
                }
                Err(e) => {
                    // Headers are gone already: cut the stream so the file is visibly incomplete.
                    tracing::error!(error = %e, "CSV export failed");
                    Some((
                        Err(actix_web::error::ErrorInternalServerError("export failed")),
                        None,
                    ))
                }
            }
        }
    });
    use futures_util::StreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"users.csv\"",
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .streaming(header.chain(rows)))
}
