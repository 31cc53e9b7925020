//! Groups admin: name and permissions (grouped checkboxes) on the add and change forms. The
//! change list, delete, bulk delete and history are the generic ones of [`ModelAdmin`].

use std::collections::HashSet;

use actix_web::{HttpResponse, web};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::forms::{Field, FormPage, Input, Row};
use super::history::{self, Action, Changes};
use super::kit::{
    Admin, FieldErrors, after_save, flash, page, parse_id, permission_choices, redirect,
};
use super::lock::{self, SaveError};
use super::model_admin::{
    Cell, Column, Count, Fieldsets, ListParams, ModelAdmin, Related, load_one, target,
};
use crate::auth::csrf::{AdminForm, FormData};
use crate::auth::staff::Perms;
use crate::db;
use crate::error::AdminError;
use crate::models::{Group, GroupChanges, NewGroup, Permission, new_id};
use crate::state::AppState;

const MODEL: &str = "groups";

pub struct Groups;

impl ModelAdmin for Groups {
    type Object = Group;

    const MODEL: &'static str = MODEL;
    const SINGULAR: &'static str = "group";
    const PLURAL: &'static str = "groups";
    const NAME_FIELD: &'static str = "name";
    const COLUMNS: &'static [Column] = &[
        Column::new("name", "Name"),
        Column::new("created_at", "Created"),
    ];
    const DEFAULT_ORDER: &'static str = "name";
    const SEARCH_FIELDS: &'static [&'static str] = &["name"];
    const FIELDSETS: Fieldsets = &[("", &["name", "permissions"])];

    fn id(group: &Group) -> Uuid {
        group.id
    }

    fn name(group: &Group) -> &str {
        &group.name
    }

    fn cells(group: &Group) -> Vec<Cell> {
        vec![
            Cell::Text(group.name.clone()),
            Cell::Text(history::format_time(group.created_at)),
        ]
    }

    async fn load(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> QueryResult<Vec<Group>> {
        Group::load_many(conn, ids, lock).await
    }

    async fn list(
        conn: &mut AsyncPgConnection,
        params: &ListParams,
    ) -> QueryResult<(Option<Count>, Vec<Group>)> {
        let words: Vec<&str> = params.words().collect();
        let (column, descending) = params.sort();
        let (count, rows) = Group::search(
            conn,
            &words,
            column == "created_at",
            descending,
            params.per_page,
            params.offset(),
        )
        .await?;
        Ok((params.is_filtered().then_some(Count::Exact(count)), rows))
    }

    async fn related(conn: &mut AsyncPgConnection, group: &Group) -> QueryResult<Vec<Related>> {
        let (members, perms) = Group::member_and_permission_counts(conn, group.id).await?;
        Ok(vec![
            Related::line(format!("Group: {}", group.name)),
            Related::line(format!(
                "{members} membership(s) (the users themselves stay)"
            )),
            Related::line(format!("{perms} permission grant(s)")),
        ])
    }

    async fn delete(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
        Group::delete_many(conn, ids).await
    }

    /// Only groups whose permissions are all one's own: deleting a group takes its rights from
    /// every member, so it is managing their membership.
    async fn may_manage(
        conn: &mut AsyncPgConnection,
        actor: &Perms,
        groups: &[Group],
    ) -> QueryResult<bool> {
        let ids: Vec<Uuid> = groups.iter().map(|g| g.id).collect();
        Ok(actor.superuser || actor.is_superset_of(&perms_of_groups(conn, &ids).await?))
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        cfg.service(
            web::resource("/groups/add/")
                .route(web::get().to(add_page))
                .route(web::post().to(add_submit)),
        )
        .service(
            web::resource("/groups/{id}/change/")
                .route(web::get().to(change_page))
                .route(web::post().to(change_submit)),
        );
    }
}

/// The rights the groups `ids` grant together, as [`Perms`] to compare with an actor's.
pub(crate) async fn perms_of_groups(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Perms> {
    Ok(Perms {
        superuser: false,
        codenames: Group::codenames_by_group(conn, ids)
            .await?
            .into_values()
            .flatten()
            .collect(),
    })
}

/// The form with a form-wide `conflict` message, and the version token `lock` (`None`: the
/// group's current one; a re-shown form keeps the token it was posted with, so a change saved
/// meanwhile is not silently overwritten by the next try). The token must have been read before
/// `perms`.
#[allow(clippy::too_many_arguments)]
async fn form_page(
    conn: &mut AsyncPgConnection,
    admin: Admin,
    id: Option<Uuid>,
    name: String,
    perms: &HashSet<Uuid>,
    errors: FieldErrors,
    conflict: String,
    lock: Option<&str>,
) -> Result<HttpResponse, AdminError> {
    // Only superusers change permissions: others see them as stored, not as posted (a form
    // re-shown after a conflict must not carry back permissions changed since), disabled, and
    // post them back unchanged through hidden fields, so a rename keeps them.
    let can_grant = admin.staff.perms.superuser;
    let none = HashSet::new();
    let stored: HashSet<Uuid>;
    let perms = match id {
        Some(id) if !can_grant => {
            stored = Group::permission_ids(conn, id).await?;
            &stored
        }
        None if !can_grant => &none,
        _ => perms,
    };
    let mut perm_groups = Some(permission_choices(conn, perms, !can_grant).await?);
    let field = |field: &str| {
        Some(match field {
            "name" => Row::new("Name", Input::text(&name).max(150).required()),
            "permissions" => {
                let row = Row::new(
                    "Permissions",
                    Field::ChoiceGroups("id_perm_", perm_groups.take()?),
                );
                row.help(
                    (!can_grant).then_some("Only superusers may change a group's permissions."),
                )
            }
            _ => return None,
        })
    };
    let lock = match (id, lock) {
        (Some(_), Some(lock)) => lock.to_owned(),
        (Some(id), None) => lock::token(load_one::<Groups>(conn, id, false).await?.updated_at),
        (None, _) => String::new(),
    };
    let may_change = admin.ctx.can(MODEL, "change");
    // Why a change form is read-only although the viewer has `groups.change`.
    let out_of_reach = match id {
        Some(id) if may_change => !within_reach(conn, &admin.staff.perms, id).await?,
        _ => false,
    };
    let readonly = id.is_some() && (!may_change || out_of_reach);
    let object = id.map(|id| (id, name.as_str(), lock));
    let mut form = FormPage::new::<Groups>(admin.ctx, object, readonly, &errors, field)?;
    form.conflict = conflict;
    if out_of_reach {
        form.notice = "This group grants permissions you do not hold, so you may not rename it \
                       or hand out its membership.";
    }
    page(&form)
}

/// Whether the group's stored permissions are all the actor's own: only then may a non-superuser
/// rename it or hand out its membership.
async fn within_reach(conn: &mut AsyncPgConnection, actor: &Perms, id: Uuid) -> QueryResult<bool> {
    if actor.superuser {
        return Ok(true);
    }
    Ok(actor.is_superset_of(&perms_of_groups(conn, &[id]).await?))
}

/// `GET /admin/groups/add/`
pub async fn add_page(
    admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    let mut conn = db::connection(&state.pool).await?;
    let (name, perms, errors) = (String::new(), HashSet::new(), FieldErrors::new());
    form_page(
        &mut conn,
        admin,
        None,
        name,
        &perms,
        errors,
        String::new(),
        None,
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
        let new_perms = Permission::codenames(conn, perms).await?;
        let mut changes = Changes::default();
        let (id, action) = match id {
            None => {
                if !actor_perms.superuser && !new_perms.is_empty() {
                    return Err(SaveError::Forbidden);
                }
                let id = new_id();
                NewGroup { id, name }.insert(conn).await?;
                changes.diff("name", None, Some(name));
                (id, Action::Add)
            }
            Some(id) => {
                let old = Group::load_many(conn, &[id], true)
                    .await?
                    .pop()
                    .ok_or(diesel::result::Error::NotFound)?;
                if !lock::is_current(old.updated_at, lock) {
                    return Err(SaveError::Stale);
                }
                let old_ids = Group::permission_ids(conn, id).await?;
                let old_perms = Permission::codenames(conn, &old_ids).await?;
                if !actor_perms.superuser {
                    let held = Perms {
                        superuser: false,
                        codenames: old_perms.iter().map(|(_, c)| c.clone()).collect(),
                    };
                    if old_perms != new_perms || !actor_perms.is_superset_of(&held) {
                        return Err(SaveError::Forbidden);
                    }
                }
                Group::update(conn, id, &GroupChanges { name: Some(name) }).await?;
                changes.diff("name", old.name.as_str(), name);
                let names = |v: &Vec<(Uuid, String)>| -> Vec<String> {
                    v.iter().map(|(_, c)| c.clone()).collect()
                };
                changes.diff("permissions", names(&old_perms), names(&new_perms));
                if old_perms != new_perms {
                    // The name may be unchanged: move the group's version on all the same.
                    Group::bump_version(conn, id).await?;
                }
                (id, Action::Change)
            }
        };
        let granted: Vec<Uuid> = new_perms.iter().map(|(p, _)| *p).collect();
        Group::set_permissions(conn, id, &granted).await?;
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
            target::<Groups>(id, name),
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
        load_one::<Groups>(&mut conn, id, false).await?;
    }
    let lock = form.get(lock::FIELD);
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let saved = match check_name(&name) {
        Some(error) => Err(error),
        None => match save_group(&mut conn, &actor, &actor_perms, id, lock, &name, &perms).await {
            Ok(saved) => Ok(saved),
            Err(SaveError::Forbidden) => return Err(AdminError::Forbidden),
            Err(SaveError::Stale) => {
                let conflict = lock::conflict_message("group");
                let errors = FieldErrors::new();
                let response =
                    form_page(&mut conn, admin, id, name, &perms, errors, conflict, None).await?;
                return Ok(lock::conflict(response));
            }
            Err(SaveError::Db(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) => Err("A group with that name already exists.".to_owned()),
            // Deleted by someone else while this form was open.
            Err(SaveError::Db(diesel::result::Error::NotFound)) => {
                return Err(AdminError::NotFound);
            }
            Err(SaveError::Db(e)) => return Err(e.into()),
        },
    };
    let saved = match saved {
        Ok(saved) => saved,
        Err(error) => {
            let mut errors = FieldErrors::new();
            errors.add("name", error);
            let (conflict, lock) = (String::new(), Some(lock));
            return form_page(&mut conn, admin, id, name, &perms, errors, conflict, lock).await;
        }
    };
    flash(
        &admin.session,
        &format!(
            "The group “{name}” was {} successfully.",
            if id.is_some() { "changed" } else { "added" }
        ),
    );
    Ok(redirect(&after_save(&form, MODEL, saved)))
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
    let group = load_one::<Groups>(&mut conn, id, false).await?;
    let perms = Group::permission_ids(&mut conn, id).await?;
    // The token is the version read before the permissions: if a save lands in between, the form
    // shows newer permissions under an older token, and its save is refused as stale rather than
    // silently dropping that save's permissions.
    let lock = lock::token(group.updated_at);
    form_page(
        &mut conn,
        admin,
        Some(id),
        group.name,
        &perms,
        FieldErrors::new(),
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
