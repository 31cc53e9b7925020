//! Groups admin: name and permissions (grouped checkboxes); list, add, change, delete, history.

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::history::{self, Action, Changes, Target};
use super::lock::{self, SaveError};
use super::simple::{
    self, BulkKind, DeleteConfirmPage, ObjectListPage, PER_PAGE, Row, Selected, SimpleParams,
};
use super::users::ChoiceGroup;
use super::{Admin, AdminError, PageCtx, flash, page, redirect};
use crate::auth::csrf::{AdminForm, FormData};
use crate::auth::staff::Perms;
use crate::db;
use crate::models::{Group, new_id};
use crate::schema::{group_permissions, groups, permissions, user_groups};
use crate::startup::AppState;

const MODEL: &str = "groups";
const COLUMNS: &[(&str, &str)] = &[("name", "Name"), ("created_at", "Created")];

fn parse_id(raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw).map_err(|_| AdminError::NotFound)
}

async fn load_group(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Group, AdminError> {
    groups::table
        .find(id)
        .select(Group::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(AdminError::NotFound)
}

/// The ids of the permissions group `id` grants.
async fn permission_ids(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<HashSet<Uuid>> {
    Ok(group_permissions::table
        .filter(group_permissions::group_id.eq(id))
        .select(group_permissions::permission_id)
        .load::<Uuid>(conn)
        .await?
        .into_iter()
        .collect())
}

/// The permission codenames of each of the groups `ids` (groups without any are absent).
pub(crate) async fn codenames_by_group(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, HashSet<String>>> {
    let rows: Vec<(Uuid, String)> = group_permissions::table
        .inner_join(permissions::table)
        .filter(group_permissions::group_id.eq_any(ids))
        .select((group_permissions::group_id, permissions::codename))
        .load(conn)
        .await?;
    let mut by_group: HashMap<Uuid, HashSet<String>> = HashMap::new();
    for (group, codename) in rows {
        by_group.entry(group).or_default().insert(codename);
    }
    Ok(by_group)
}

/// The rights the groups `ids` grant together, as [`Perms`] to compare with an actor's.
pub(crate) async fn perms_of_groups(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Perms> {
    Ok(Perms {
        superuser: false,
        codenames: codenames_by_group(conn, ids)
            .await?
            .into_values()
            .flatten()
            .collect(),
    })
}

/// The list's parameters from its query string.
pub(crate) fn list_params(query_string: &str) -> SimpleParams {
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    SimpleParams::parse(query_string, &names, COLUMNS[0].0, "")
}

/// `GET /admin/groups/`
pub async fn list(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let params = list_params(req.query_string());
    let filtered = || {
        let mut q = groups::table.into_boxed();
        for word in params.q.split_whitespace().take(8) {
            q = q.filter(groups::name.ilike(db::like_pattern(word)));
        }
        q
    };
    let mut conn = db::connection(&state.pool).await?;
    let count: i64 = filtered().count().get_result(&mut conn).await?;
    let ordered = match (params.column(), params.descending()) {
        ("created_at", false) => filtered().order_by(groups::created_at.asc()),
        ("created_at", true) => filtered().order_by(groups::created_at.desc()),
        (_, true) => filtered().order_by(groups::name.desc()),
        (_, false) => filtered().order_by(groups::name.asc()),
    };
    let rows: Vec<Group> = ordered
        .then_order_by(groups::id.asc())
        .select(Group::as_select())
        .limit(PER_PAGE)
        .offset(params.offset())
        .load(&mut conn)
        .await?;
    page(&ObjectListPage {
        page_title: "Select group to change".into(),
        list_url: "/admin/groups/",
        add_url: "/admin/groups/add/",
        can_add: admin.ctx.can(MODEL, "add"),
        can_delete: admin.ctx.can(MODEL, "delete"),
        ctx: admin.ctx,
        search_label: "Search by name",
        filter_name: "",
        filter_label: "",
        heads: simple::heads(&params, "", COLUMNS),
        pages: simple::pages(&params, "", count),
        summary: format!("{count} group{}", if count == 1 { "" } else { "s" }),
        rows: rows
            .into_iter()
            .map(|g| Row {
                id: g.id,
                url: format!("/admin/groups/{}/change/", g.id),
                cells: vec![g.name, history::format_time(g.created_at)],
            })
            .collect(),
        params,
    })
}

#[derive(Template)]
#[template(path = "admin/group_form.html")]
struct GroupFormPage {
    page_title: String,
    ctx: PageCtx,
    /// None on the add form.
    id: Option<Uuid>,
    name: String,
    error: String,
    /// Form-wide error (a stale save).
    conflict: String,
    /// The group's version when this form was rendered (change form only).
    updated_at_token: String,
    readonly: bool,
    /// Only superusers change a group's permissions: others see them disabled (and post them
    /// back unchanged through hidden fields, so a rename keeps them).
    can_grant: bool,
    /// Why a change form is read-only although the viewer has `groups.change`.
    out_of_reach: bool,
    perm_groups: Vec<ChoiceGroup>,
}

async fn form_page(
    conn: &mut AsyncPgConnection,
    admin: Admin,
    id: Option<Uuid>,
    name: String,
    perms: &HashSet<Uuid>,
    error: String,
) -> Result<HttpResponse, AdminError> {
    form_page_with(conn, admin, id, name, perms, error, String::new(), None).await
}

/// The form with a form-wide `conflict` message, and the version token `lock` (`None`: the
/// group's current one; a re-shown form keeps the token it was posted with, so a change saved
/// meanwhile is not silently overwritten by the next try). The token must have been read before
/// `perms`.
#[allow(clippy::too_many_arguments)]
async fn form_page_with(
    conn: &mut AsyncPgConnection,
    admin: Admin,
    id: Option<Uuid>,
    name: String,
    perms: &HashSet<Uuid>,
    error: String,
    conflict: String,
    lock: Option<&str>,
) -> Result<HttpResponse, AdminError> {
    // Only superusers change permissions: others see them as stored, not as posted (a form
    // re-shown after a conflict must not carry back permissions changed since).
    let none = HashSet::new();
    let stored: HashSet<Uuid>;
    let perms = match id {
        Some(id) if !admin.staff.perms.superuser => {
            stored = permission_ids(conn, id).await?;
            &stored
        }
        None if !admin.staff.perms.superuser => &none,
        _ => perms,
    };
    let perm_groups = simple::permission_choices(conn, perms).await?;
    let updated_at_token = match (id, lock) {
        (Some(_), Some(lock)) => lock.to_owned(),
        (Some(id), None) => lock::token(load_group(conn, id).await?.updated_at),
        (None, _) => String::new(),
    };
    let may_change = admin.ctx.can(MODEL, "change");
    let out_of_reach = match id {
        Some(id) if may_change => !within_reach(conn, &admin.staff.perms, id).await?,
        _ => false,
    };
    let readonly = id.is_some() && (!may_change || out_of_reach);
    page(&GroupFormPage {
        page_title: if id.is_some() {
            format!("Change group {name}")
        } else {
            "Add group".into()
        },
        ctx: admin.ctx,
        id,
        name,
        error,
        conflict,
        updated_at_token,
        readonly,
        can_grant: admin.staff.perms.superuser,
        out_of_reach,
        perm_groups,
    })
}

/// Whether the group's stored permissions are all the actor's own: only then may a non-superuser
/// rename it or hand out its membership.
async fn within_reach(conn: &mut AsyncPgConnection, actor: &Perms, id: Uuid) -> QueryResult<bool> {
    if actor.superuser {
        return Ok(true);
    }
    Ok(actor.is_superset_of(&perms_of_groups(conn, &[id]).await?))
}

/// A 403 unless the groups `ids` are all within the actor's reach: deleting a group takes its
/// rights from every member, so it is managing their membership.
async fn require_reach(
    conn: &mut AsyncPgConnection,
    actor: &Perms,
    ids: &[Uuid],
) -> Result<(), AdminError> {
    if actor.superuser || actor.is_superset_of(&perms_of_groups(conn, ids).await?) {
        Ok(())
    } else {
        Err(AdminError::Forbidden)
    }
}

/// `GET /admin/groups/add/`
pub async fn add_page(
    admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    let mut conn = db::connection(&state.pool).await?;
    form_page(
        &mut conn,
        admin,
        None,
        String::new(),
        &HashSet::new(),
        String::new(),
    )
    .await
}

pub(crate) fn posted(form: &FormData) -> (String, HashSet<Uuid>) {
    let perms = form
        .all("permissions")
        .into_iter()
        .filter_map(|v| Uuid::parse_str(v).ok())
        .collect();
    (form.get("name").trim().to_owned(), perms)
}

pub(crate) fn check_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("This field is required.".into())
    } else if name.chars().count() > 150 {
        Some("At most 150 characters.".into())
    } else {
        None
    }
}

/// Permission codenames of `ids` that exist, sorted.
async fn codenames(
    conn: &mut AsyncPgConnection,
    ids: &HashSet<Uuid>,
) -> QueryResult<Vec<(Uuid, String)>> {
    permissions::table
        .filter(permissions::id.eq_any(ids.iter().copied().collect::<Vec<_>>()))
        .order(permissions::codename.asc())
        .select((permissions::id, permissions::codename))
        .load(conn)
        .await
}

/// Creates (`id` None) or updates a group with its permissions, logging old and new in the same
/// transaction. An update is refused as stale unless the group is still at version `lock` (the
/// `updated_at` its form was rendered with). A taken name is a unique violation. Only a
/// superuser (`actor_perms`) may set permissions, and others may only rename a group whose
/// permissions they hold all of ([`SaveError::Forbidden`] otherwise, with nothing written).
#[allow(clippy::too_many_arguments)]
pub async fn save_group(
    conn: &mut AsyncPgConnection,
    actor: &crate::models::User,
    actor_perms: &Perms,
    id: Option<Uuid>,
    lock: &str,
    name: &str,
    perms: &HashSet<Uuid>,
) -> Result<Uuid, SaveError> {
    conn.transaction(async |conn| {
        let new_perms = codenames(conn, perms).await?;
        let mut changes = Changes::default();
        let (id, action) = match id {
            None => {
                if !actor_perms.superuser && !new_perms.is_empty() {
                    return Err(SaveError::Forbidden);
                }
                let id = new_id();
                diesel::insert_into(groups::table)
                    .values((groups::id.eq(id), groups::name.eq(name)))
                    .execute(conn)
                    .await?;
                changes.diff("name", None, Some(name));
                (id, Action::Add)
            }
            Some(id) => {
                let old: Group = groups::table
                    .find(id)
                    .for_update()
                    .select(Group::as_select())
                    .first(conn)
                    .await?;
                if !lock::is_current(old.updated_at, lock) {
                    return Err(SaveError::Stale);
                }
                let old_ids = permission_ids(conn, id).await?;
                let old_perms = codenames(conn, &old_ids).await?;
                if !actor_perms.superuser {
                    let held = Perms {
                        superuser: false,
                        codenames: old_perms.iter().map(|(_, c)| c.clone()).collect(),
                    };
                    if old_perms != new_perms || !actor_perms.is_superset_of(&held) {
                        return Err(SaveError::Forbidden);
                    }
                }
                diesel::update(groups::table.find(id))
                    .set(groups::name.eq(name))
                    .execute(conn)
                    .await?;
                changes.diff("name", old.name.as_str(), name);
                let names = |v: &Vec<(Uuid, String)>| -> Vec<String> {
                    v.iter().map(|(_, c)| c.clone()).collect()
                };
                changes.diff("permissions", names(&old_perms), names(&new_perms));
                if old_perms != new_perms {
                    // The name may be unchanged: move the group's version on all the same.
                    lock::touch(conn, lock::Versioned::Groups, id).await?;
                }
                diesel::delete(group_permissions::table.filter(group_permissions::group_id.eq(id)))
                    .execute(conn)
                    .await?;
                (id, Action::Change)
            }
        };
        diesel::insert_into(group_permissions::table)
            .values(
                new_perms
                    .iter()
                    .map(|(p, _)| {
                        (
                            group_permissions::group_id.eq(id),
                            group_permissions::permission_id.eq(*p),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
            .execute(conn)
            .await?;
        if matches!(action, Action::Add) {
            let list: Vec<String> = new_perms.iter().map(|(_, c)| c.clone()).collect();
            changes.diff("permissions", Vec::new(), list);
        }
        let message = match action {
            Action::Add => "Added.".to_owned(),
            _ => changes.message(),
        };
        history::write(
            conn,
            actor,
            Target {
                object_type: MODEL,
                id,
                repr: name,
            },
            action,
            &message,
            changes.into_value(),
        )
        .await?;
        Ok::<_, SaveError>(id)
    })
    .await
}

async fn submit(
    admin: Admin,
    id: Option<Uuid>,
    form: FormData,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let (name, perms) = posted(&form);
    let mut conn = db::connection(&state.pool).await?;
    if let Some(id) = id {
        load_group(&mut conn, id).await?;
    }
    let lock = form.get(lock::FIELD);
    if let Some(error) = check_name(&name) {
        return form_page_with(
            &mut conn,
            admin,
            id,
            name,
            &perms,
            error,
            String::new(),
            Some(lock),
        )
        .await;
    }
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let saved = match save_group(&mut conn, &actor, &actor_perms, id, lock, &name, &perms).await {
        Ok(saved) => saved,
        Err(SaveError::Forbidden) => return Err(AdminError::Forbidden),
        Err(SaveError::Stale) => {
            let conflict = lock::conflict_message("group");
            let response = form_page_with(
                &mut conn,
                admin,
                id,
                name,
                &perms,
                String::new(),
                conflict,
                None,
            )
            .await?;
            return Ok(lock::conflict(response));
        }
        Err(SaveError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => {
            let error = "A group with that name already exists.".to_owned();
            return form_page_with(
                &mut conn,
                admin,
                id,
                name,
                &perms,
                error,
                String::new(),
                Some(lock),
            )
            .await;
        }
        // Deleted by someone else while this form was open.
        Err(SaveError::Db(diesel::result::Error::NotFound)) => return Err(AdminError::NotFound),
        Err(SaveError::Db(e)) => return Err(e.into()),
    };
    flash(
        &admin.session,
        &format!(
            "The group “{name}” was {} successfully.",
            if id.is_some() { "changed" } else { "added" }
        ),
    );
    Ok(redirect(&if form.has("_continue") {
        format!("/admin/groups/{saved}/change/")
    } else if form.has("_addanother") {
        "/admin/groups/add/".to_owned()
    } else {
        "/admin/groups/".to_owned()
    }))
}

/// `POST /admin/groups/add/`
pub async fn add_submit(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    submit(admin, None, form.0, state).await
}

/// `GET /admin/groups/{id}/change/`
pub async fn change_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let group = load_group(&mut conn, id).await?;
    let perms = permission_ids(&mut conn, id).await?;
    // The token is the version read before the permissions: if a save lands in between, the form
    // shows newer permissions under an older token, and its save is refused as stale rather than
    // silently dropping that save's permissions.
    let lock = lock::token(group.updated_at);
    form_page_with(
        &mut conn,
        admin,
        Some(id),
        group.name,
        &perms,
        String::new(),
        String::new(),
        Some(&lock),
    )
    .await
}

/// `POST /admin/groups/{id}/change/`
pub async fn change_submit(
    admin: Admin,
    path: web::Path<String>,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "change")?;
    let id = parse_id(&path)?;
    submit(admin, Some(id), form.0, state).await
}

/// `GET /admin/groups/{id}/delete/`
pub async fn delete_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "delete")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let group = load_group(&mut conn, id).await?;
    require_reach(&mut conn, &admin.staff.perms, &[id]).await?;
    let members: i64 = user_groups::table
        .filter(user_groups::group_id.eq(id))
        .count()
        .get_result(&mut conn)
        .await?;
    let perms: i64 = group_permissions::table
        .filter(group_permissions::group_id.eq(id))
        .count()
        .get_result(&mut conn)
        .await?;
    page(&DeleteConfirmPage {
        page_title: "Are you sure?".into(),
        ctx: admin.ctx,
        kind: "group",
        items: vec![
            format!("Group: {}", group.name),
            format!("{members} membership(s) (the users themselves stay)"),
            format!("{perms} permission grant(s)"),
        ],
        repr: group.name,
        action_url: format!("/admin/groups/{id}/delete/"),
        back_url: format!("/admin/groups/{id}/change/"),
    })
}

/// `POST /admin/groups/{id}/delete/`
pub async fn delete_submit(
    admin: Admin,
    path: web::Path<String>,
    _form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "delete")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let group = load_group(&mut conn, id).await?;
    require_reach(&mut conn, &admin.staff.perms, &[id]).await?;
    let target = Target {
        object_type: MODEL,
        id,
        repr: &group.name,
    };
    history::delete_logged(&mut conn, &admin.staff.user, target, "name", |conn, id| {
        diesel::delete(groups::table.find(id)).execute(conn)
    })
    .await?;
    flash(
        &admin.session,
        &format!("The group “{}” was deleted successfully.", group.name),
    );
    Ok(redirect("/admin/groups/"))
}

/// `GET /admin/groups/{id}/history/`
pub async fn history_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let group = load_group(&mut conn, id).await?;
    history::history_page(&mut conn, admin.ctx, MODEL, id, group.name).await
}

/// `POST /admin/groups/`: delete the ticked groups, after a confirmation page; one history row
/// per group, all in one transaction.
pub async fn bulk_delete(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "delete")?;
    let mut conn = db::connection(&state.pool).await?;
    require_reach(
        &mut conn,
        &admin.staff.perms,
        &simple::selected_ids(&form.0),
    )
    .await?;
    drop(conn);
    let kind = BulkKind {
        model: MODEL,
        singular: "group",
        plural: "groups",
        list_url: "/admin/groups/",
    };
    simple::bulk_delete(
        admin,
        &form.0,
        &state,
        kind,
        async |conn: &mut AsyncPgConnection, ids: &[Uuid]| {
            let rows: Vec<Group> = groups::table
                .filter(groups::id.eq_any(ids))
                .order(groups::name.asc())
                .select(Group::as_select())
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|g| Selected {
                    id: g.id,
                    label: g.name.clone(),
                    name: g.name,
                })
                .collect())
        },
        |conn, ids| diesel::delete(groups::table.filter(groups::id.eq_any(ids))).execute(conn),
    )
    .await
}
