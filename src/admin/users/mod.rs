//! Users admin, after Django's UserAdmin. The change list (search, filters, per-page choice,
//! bulk actions), delete and history are the generic ones of [`ModelAdmin`], declared here; the
//! rest is the users' own: the add and change forms (with optimistic locking), the set-password
//! page, "sign out everywhere", clearing a lock-out, the bulk actions beyond delete and the CSV
//! export.

mod actions;
mod add;
mod change;
mod password;

pub use actions::{CSV_HEADER, csv_row, sign_out_everywhere};
// For src/fuzzing only (unit tests and the `fuzzing` feature).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use change::changelist_filters;
pub use change::{UserValues, password_summary, save_user};

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::forms::{Field, FormPage, Input, Row, Tool};
use super::groups::perms_of_groups;
use super::history::{self, Action, Changes, format_time};
use super::kit::{
    Admin, Choice, FieldErrors, PageCtx, after_save, flash, page, parse_id, permission_choices,
    redirect,
};
use super::lock::{self, SaveError};
use super::model_admin::{
    BulkAction, Cell, Column, Count, DELETE_SELECTED, Fieldsets, Filter, ListParams, ModelAdmin,
    Related, load_managed, load_one, lock_managed, target,
};
use super::passwords::{check_new_password, hash_blocking, password_help, set_password_logged};
use crate::auth::accounts;
use crate::auth::csrf::{AdminForm, FormData};
use crate::auth::password::UserAttributes;
use crate::auth::staff::{self, Perms};
use crate::db;
use crate::error::AdminError;
use crate::models::{
    Article, CognitoSignout, Group, NewUser, User, UserChanges, UserListQuery, UserOrder, new_id,
};
use crate::state::AppState;

const MODEL: &str = "users";
/// Filtered lists count matches up to this many; beyond it the page says "More than …".
pub const COUNT_CAP: i64 = 10_000;
const MAX_NAME_LEN: usize = 150;

pub struct Users;

impl ModelAdmin for Users {
    type Object = User;

    const MODEL: &'static str = MODEL;
    const SINGULAR: &'static str = "user";
    const PLURAL: &'static str = "users";
    const NAME_FIELD: &'static str = "username";
    const COLUMNS: &'static [Column] = &[
        Column::new("username", "Username"),
        Column::new("email", "Email address"),
        Column::new("is_staff", "Staff"),
        Column::new("is_active", "Active"),
        Column::new("source", "Source"),
        Column::new("created_at", "Created"),
    ];
    const DEFAULT_ORDER: &'static str = "username";
    const SEARCH_FIELDS: &'static [&'static str] = &["username", "email", "Cognito sub"];
    const FILTERS: &'static [Filter] = &[
        Filter::yes_no("is_staff", "Staff"),
        Filter::yes_no("is_superuser", "Superuser"),
        Filter::yes_no("is_active", "Active"),
        Filter::choice(
            "source",
            "Source",
            &[("cognito", "Cognito"), ("local", "Local")],
        ),
        Filter::date("created_from", "Created from"),
        Filter::date("created_to", "Created to"),
    ];
    const PAGE_SIZES: &'static [i64] = &[25, 50, 100, 200];
    const DEFAULT_PAGE_SIZE: i64 = 100;
    const MATCHED: (&'static str, &'static str) = ("result", "results");
    const ACTIONS: &'static [BulkAction] = &[
        BulkAction::new("delete", "Delete selected users", "delete"),
        BulkAction::new("activate", "Activate selected users", "change"),
        BulkAction::new("deactivate", "Deactivate selected users", "change"),
        BulkAction::new("signout", "Sign selected users out everywhere", "change"),
    ];
    const EXPORT_URL: Option<&'static str> = Some("/admin/users/export.csv");
    const FIELDSETS: Fieldsets = &[
        ("Account", &["username", "email", "password"]),
        ("Personal info", &["first_name", "last_name"]),
        (
            "Permissions",
            &[
                "is_active",
                "is_staff",
                "is_superuser",
                "groups",
                "user_permissions",
            ],
        ),
        (
            "Cognito",
            &["cognito_sub", "tokens_valid_after", "email_verified"],
        ),
        (
            "Important dates",
            &["last_login", "created_at", "updated_at"],
        ),
    ];
    const ADD_FIELDSETS: Fieldsets = &[("", &["username", "email", "password1", "password2"])];

    fn id(user: &User) -> Uuid {
        user.id
    }

    fn name(user: &User) -> &str {
        &user.username
    }

    fn label(user: &User) -> String {
        if user.email.is_empty() {
            user.username.clone()
        } else {
            format!("{} ({})", user.username, user.email)
        }
    }

    fn cells(user: &User) -> Vec<Cell> {
        vec![
            Cell::Text(user.username.clone()),
            Cell::Text(user.email.clone()),
            Cell::Flag(user.is_staff),
            Cell::Flag(user.is_active),
            Cell::Text(
                if user.cognito_sub.is_some() {
                    "Cognito"
                } else {
                    "local"
                }
                .into(),
            ),
            Cell::Text(user.created_at.format("%Y-%m-%d %H:%M").to_string()),
        ]
    }

    async fn load(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> QueryResult<Vec<User>> {
        User::load_many(conn, ids, lock).await
    }

    async fn list(
        conn: &mut AsyncPgConnection,
        params: &ListParams,
    ) -> QueryResult<(Option<Count>, Vec<User>)> {
        list_query(params).load_page(conn, COUNT_CAP).await
    }

    async fn related(conn: &mut AsyncPgConnection, user: &User) -> QueryResult<Vec<Related>> {
        const SHOWN: i64 = 20;
        let (articles, names) = Article::names_by_author(conn, user.id, SHOWN).await?;
        let (memberships, permissions) =
            User::membership_and_permission_counts(conn, user.id).await?;
        Ok(vec![
            Related::line(format!("User: {}", user.username)),
            Related {
                text: format!("{articles} article(s)"),
                more: articles > names.len() as i64,
                names,
            },
            Related::line(format!("{memberships} group membership(s)")),
            Related::line(format!("{permissions} direct permission(s)")),
        ])
    }

    async fn delete(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
        User::delete_many(conn, ids).await
    }

    /// Staff may edit, set the password of, sign out, deactivate or delete only accounts whose
    /// rights are all their own (a superuser's only if they are one): anyone with `users.change`
    /// could otherwise set a stronger account's password and sign in as it.
    async fn may_manage(
        conn: &mut AsyncPgConnection,
        actor: &Perms,
        users: &[User],
    ) -> QueryResult<bool> {
        Ok(actor.superuser || actor.is_superset_of(&staff::combined_perms(conn, users).await?))
    }

    fn undeletable(actor: &User, user: &User) -> Option<&'static str> {
        (actor.id == user.id).then_some("You cannot delete your own account.")
    }

    async fn apply(
        conn: &mut AsyncPgConnection,
        actor: &User,
        action: &'static str,
        users: &[User],
    ) -> Result<usize, AdminError> {
        Ok(actions::apply(conn, actor, action, users).await?)
    }

    async fn bulk_note(
        conn: &mut AsyncPgConnection,
        action: &'static str,
        users: &[User],
    ) -> QueryResult<String> {
        if action != DELETE_SELECTED.name {
            return Ok(String::new());
        }
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let articles = Article::count_by_authors(conn, &ids).await?;
        Ok(format!(
            "Their group memberships, permissions and {articles} article(s) go with them."
        ))
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/users/export.csv", web::get().to(actions::export_csv))
            .service(
                web::resource("/users/add/")
                    .route(web::get().to(add::add_page))
                    .route(web::post().to(add::add_submit)),
            )
            .service(
                web::resource("/users/{id}/change/")
                    .route(web::get().to(change::change_page))
                    .route(web::post().to(change::change_submit)),
            )
            .service(
                web::resource("/users/{id}/password/")
                    .route(web::get().to(password::password_page))
                    .route(web::post().to(password::password_submit)),
            )
            .route("/users/{id}/signout/", web::post().to(change::signout))
            .route("/users/{id}/unlock/", web::post().to(change::unlock));
    }
}

/// The fields both forms have.
fn account_field(name: &str, username: &str, email: &str) -> Option<Row> {
    let username = Input::text(username).max(150).required().no_caps();
    let help = "Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.";
    match name {
        "username" => Some(Row::new("Username", username).help([help])),
        "email" => Some(Row::new(
            "Email address",
            Input::new("email", email).max(254),
        )),
        _ => None,
    }
}

/// The users list's query from its parameters.
fn list_query(params: &ListParams) -> UserListQuery<'_> {
    let (column, descending) = params.sort();
    UserListQuery {
        words: params.words().collect(),
        is_staff: params.flag("is_staff"),
        is_superuser: params.flag("is_superuser"),
        is_active: params.flag("is_active"),
        cognito: params.choice("source").map(|s| s == "cognito"),
        created_from: params.date("created_from"),
        created_to: params.date("created_to"),
        order: match column {
            "email" => UserOrder::Email,
            "is_staff" => UserOrder::IsStaff,
            "is_active" => UserOrder::IsActive,
            "source" => UserOrder::Source,
            "created_at" => UserOrder::CreatedAt,
            _ => UserOrder::Username,
        },
        descending,
        page: params.page,
        per_page: params.per_page,
    }
}

/// The list's parameters from its query string.
pub(crate) fn list_params(query_string: &str) -> ListParams {
    ListParams::parse::<Users>(query_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_ignored_and_named() {
        let p = list_params(
            "q=+al%25ice+&is_staff=maybe&source=x&created_from=2024-13-01&o=password_hash&p=-3&per=7",
        );
        assert_eq!(p.q, "al%ice");
        assert_eq!(p.flag("is_staff"), None);
        assert_eq!(p.choice("source"), None);
        assert_eq!(p.date("created_from"), None);
        assert_eq!(p.order, "username");
        assert_eq!(p.page, 1);
        assert_eq!(p.per_page, Users::DEFAULT_PAGE_SIZE);
        assert_eq!(p.invalid, ["is_staff", "source", "created_from", "o"]);
    }

    #[test]
    fn huge_pages_are_ignored() {
        for p in ["9223372036854775807", "1000000001", "99999999999999999999"] {
            assert_eq!(list_params(&format!("p={p}")).page, 1, "{p}");
        }
        assert_eq!(
            list_params("p=1000000000").page,
            super::super::kit::MAX_PAGE
        );
    }

    #[test]
    fn clipped_values_survive_the_links() {
        // Caught by the admin_form fuzz target's checks: a date after 20 spaces filtered the page, but the
        // links (clipped to 20 characters) dropped it; a search cut at 200 characters kept a
        // trailing space that the next parse trimmed.
        let p = list_params(&format!("created_from={}2024-01-01", "+".repeat(20)));
        assert!(p.date("created_from").is_some());
        assert_eq!(p.query_with(&[]), "created_from=2024-01-01");
        let q = format!("q={}+b", "a".repeat(199));
        let p = list_params(&q);
        assert_eq!(p.q, "a".repeat(199));
        let again = list_params(&p.query_with(&[]));
        assert_eq!(again.q, p.q);
        assert_eq!(again.query_with(&[]), p.query_with(&[]));
    }

    #[test]
    fn links_keep_filters_and_restart_paging() {
        let p = list_params("q=bob&is_active=1&o=-created_at&p=3&per=25");
        assert!(p.is_filtered());
        assert_eq!(
            p.query_with(&[]),
            "q=bob&is_active=1&o=-created_at&per=25&p=3"
        );
        assert_eq!(
            p.query_with(&[("o", "email")]),
            "q=bob&is_active=1&o=email&per=25"
        );
        assert_eq!(
            p.query_with(&[("p", "4")]),
            "q=bob&is_active=1&o=-created_at&per=25&p=4"
        );
        assert!(!list_params("").is_filtered());
    }

    #[test]
    fn page_links_at_the_largest_pages_do_not_overflow() {
        let mut params = list_params("per=200");
        for page in [i64::MAX, i64::MAX - 2, super::super::kit::MAX_PAGE] {
            params.page = page;
            let links = params.page_links(i64::MAX);
            // Beyond the last page nothing is current; no arithmetic may overflow.
            let current = links.iter().any(|l| l.current);
            assert_eq!(current, page == super::super::kit::MAX_PAGE, "{page}");
            assert!(links.len() <= 7);
        }
    }
}
