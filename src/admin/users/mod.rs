//! Users admin, after Django's UserAdmin: list (search, filters, sorting, paging, bulk actions),
//! add, change (with optimistic locking), delete, history, set password, sign out everywhere.

mod add;
mod change;
mod delete;
mod list;

pub use add::{add_page, add_submit};
pub use change::{
    Choice, ChoiceGroup, UserValues, change_page, change_submit, password_summary, save_user,
    signout, unlock,
};
pub use delete::{delete_page, delete_submit, history_page, password_page, password_submit};
pub use list::{
    ACTIONS, CSV_HEADER, apply_bulk, bulk_action, csv_row, export_csv, list, sign_out_everywhere,
};
// For src/fuzzing only, which exists only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub(crate) use {change::changelist_filters, list::page_links};

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::history::{self, Action, Changes, Target, format_time};
use super::index::table_count;
use super::lock::{self, SaveError};
use super::login::{
    FieldErrors, check_new_password, hash_blocking, password_help, set_password_logged,
};
use super::user_list::{COLUMNS, Count, ListParams, PAGE_SIZES};
use super::{Admin, AdminError, PageCtx, flash, page, redirect};
use crate::accounts;
use crate::auth::csrf::{AdminForm, FormData};
use crate::auth::password::UserAttributes;
use crate::auth::staff;
use crate::db;
use crate::models::{CognitoSignout, Group, NewUser, User, new_id};
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

/// Staff may edit, set the password of, sign out, deactivate or delete only an account whose
/// rights are all their own (a superuser's only if they are one): anyone with `users.change`
/// could otherwise set a stronger account's password and sign in as it.
async fn within_reach(
    conn: &mut AsyncPgConnection,
    actor: &staff::Perms,
    target: &User,
) -> QueryResult<bool> {
    if actor.superuser {
        return Ok(true);
    }
    Ok(actor.is_superset_of(&staff::load_perms(conn, target).await?))
}

/// Loads a user the staff member means to change, set a password for, sign out or delete: a 403
/// page if the account is out of their reach.
async fn load_managed(
    conn: &mut AsyncPgConnection,
    admin: &Admin,
    id: Uuid,
) -> Result<User, AdminError> {
    let user = load_user(conn, id).await?;
    if within_reach(conn, &admin.staff.perms, &user).await? {
        Ok(user)
    } else {
        Err(AdminError::Forbidden)
    }
}

/// [`load_managed`] inside a transaction: locks the row and checks again just before the write,
/// so the check holds for the version being changed.
async fn lock_managed(
    conn: &mut AsyncPgConnection,
    actor: &staff::Perms,
    id: Uuid,
) -> Result<User, AdminError> {
    let user: User = users::table
        .find(id)
        .for_update()
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(AdminError::NotFound)?;
    if within_reach(conn, actor, &user).await? {
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

pub struct PageLink {
    pub label: String,
    pub url: String,
    pub current: bool,
}

pub(crate) fn after_save(form: &FormData, id: Uuid) -> String {
    if form.has("_addanother") {
        "/admin/users/add/".into()
    } else if form.has("_continue") {
        format!("/admin/users/{id}/change/")
    } else {
        "/admin/users/".into()
    }
}
