//! Pieces shared by the smaller admins (groups, articles): a list page with search, one extra
//! filter, sortable columns and paging; a delete confirmation page; the permission checkboxes.

use std::collections::{BTreeMap, HashSet};

use askama::Template;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use actix_web::HttpResponse;
use diesel_async::AsyncConnection;
use futures_util::future::BoxFuture;

use super::user_list::{clip, parse_page};
use super::users::{Choice, ChoiceGroup, PageLink};
use super::{Admin, AdminError, PageCtx, flash, history, page, redirect};
use crate::auth::csrf::FormData;
use crate::db;
use crate::models::Permission;
use crate::schema::permissions;
use crate::startup::AppState;

pub const PER_PAGE: i64 = 100;

/// `q`, `o`, `p` and one optional filter (`author` for articles), parsed leniently.
#[derive(Debug, Clone, Default)]
pub struct SimpleParams {
    pub q: String,
    pub order: String,
    pub page: i64,
    pub filter: String,
}

impl SimpleParams {
    /// `columns` are the sortable names; `default_order` applies when `o` names none of them.
    pub fn parse(
        query_string: &str,
        columns: &[&str],
        default_order: &str,
        filter_name: &str,
    ) -> Self {
        let f = FormData::parse(query_string.as_bytes());
        let o = f.get("o");
        let order = if columns.contains(&o.trim_start_matches('-')) {
            o.to_owned()
        } else {
            default_order.to_owned()
        };
        SimpleParams {
            q: clip(f.get("q"), 200),
            order,
            page: parse_page(f.get("p")),
            filter: if filter_name.is_empty() {
                String::new()
            } else {
                clip(f.get(filter_name), 150)
            },
        }
    }

    pub fn descending(&self) -> bool {
        self.order.starts_with('-')
    }

    pub fn column(&self) -> &str {
        self.order.trim_start_matches('-')
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(PER_PAGE)
    }

    pub fn query_with(&self, filter_name: &str, o: &str, p: i64) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            s.append_pair("q", &self.q);
        }
        if !filter_name.is_empty() && !self.filter.is_empty() {
            s.append_pair(filter_name, &self.filter);
        }
        s.append_pair("o", o);
        if p > 1 {
            s.append_pair("p", &p.to_string());
        }
        s.finish()
    }
}

/// A column header: label, link that sorts by it, and the current arrow.
pub struct Head {
    pub label: &'static str,
    pub url: String,
    pub arrow: &'static str,
}

/// For a column header: the arrow showing the current order, and the `o` value its link sets
/// (ascending first, then descending).
pub fn sort_toggle(order: &str, name: &str) -> (&'static str, String) {
    if order == name {
        ("▲", format!("-{name}"))
    } else if order.strip_prefix('-') == Some(name) {
        ("▼", name.to_owned())
    } else {
        ("", name.to_owned())
    }
}

pub fn heads(
    params: &SimpleParams,
    filter_name: &str,
    columns: &[(&str, &'static str)],
) -> Vec<Head> {
    columns
        .iter()
        .map(|(name, label)| {
            let (arrow, next) = sort_toggle(&params.order, name);
            Head {
                label,
                url: format!("?{}", params.query_with(filter_name, &next, 1)),
                arrow,
            }
        })
        .collect()
}

pub fn pages(params: &SimpleParams, filter_name: &str, count: i64) -> Vec<PageLink> {
    let last = (count.saturating_add(PER_PAGE - 1) / PER_PAGE).max(1);
    if last == 1 {
        return Vec::new();
    }
    let mut numbers: Vec<i64> = vec![1, last];
    numbers.extend(params.page.saturating_sub(2).max(1)..=params.page.saturating_add(2).min(last));
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| PageLink {
            label: n.to_string(),
            url: format!("?{}", params.query_with(filter_name, &params.order, n)),
            current: n == params.page,
        })
        .collect()
}

/// One row: link target and cells (the first cell is the link).
pub struct Row {
    pub id: Uuid,
    pub url: String,
    pub cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/object_list.html")]
pub struct ObjectListPage {
    pub page_title: String,
    pub ctx: PageCtx,
    pub list_url: &'static str,
    pub add_url: &'static str,
    pub can_add: bool,
    pub params: SimpleParams,
    pub search_label: &'static str,
    /// (`name`, label) of the extra filter input, or empty.
    pub filter_name: &'static str,
    pub filter_label: &'static str,
    pub heads: Vec<Head>,
    pub rows: Vec<Row>,
    pub summary: String,
    pub pages: Vec<PageLink>,
    /// Rows get checkboxes and a "Delete selected" button (Django's `delete_selected`).
    pub can_delete: bool,
}

#[derive(Template)]
#[template(path = "admin/delete_confirm.html")]
pub struct DeleteConfirmPage {
    pub page_title: String,
    pub ctx: PageCtx,
    pub kind: &'static str,
    pub repr: String,
    pub items: Vec<String>,
    pub action_url: String,
    pub back_url: String,
}

/// Every permission as checkboxes grouped by model, with `checked` ticked.
pub async fn permission_choices(
    conn: &mut AsyncPgConnection,
    checked: &HashSet<Uuid>,
) -> QueryResult<Vec<ChoiceGroup>> {
    let all: Vec<Permission> = permissions::table
        .order(permissions::codename.asc())
        .select(Permission::as_select())
        .load(conn)
        .await?;
    let mut groups: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
    for p in all {
        let model = p.codename.split('.').next().unwrap_or("other").to_owned();
        groups.entry(model).or_default().push(Choice {
            id: p.id,
            checked: checked.contains(&p.id),
            label: p.name,
            locked: false,
        });
    }
    Ok(groups
        .into_iter()
        .map(|(title, choices)| ChoiceGroup { title, choices })
        .collect())
}

#[derive(Template)]
#[template(path = "admin/bulk_delete_confirm.html")]
pub struct BulkDeleteConfirmPage {
    pub page_title: String,
    pub ctx: PageCtx,
    pub kind_plural: &'static str,
    /// (id, what it is).
    pub items: Vec<(Uuid, String)>,
    pub action_url: &'static str,
}

/// Django's answer to an action posted with no row ticked.
pub const NOTHING_SELECTED: &str =
    "Items must be selected in order to perform actions on them. No items have been changed.";

/// The history message of an object deleted by a bulk action.
pub const BULK_DELETED: &str = "Deleted (bulk action).";

/// One object ticked for "Delete selected": the name its history row records, and how the
/// confirmation page shows it.
pub struct Selected {
    pub id: Uuid,
    pub name: String,
    pub label: String,
}

/// Which admin a bulk delete belongs to.
pub struct BulkKind {
    pub model: &'static str,
    pub singular: &'static str,
    pub plural: &'static str,
    pub list_url: &'static str,
}

/// "Delete selected" for the smaller admins: nothing ticked → back to the list; not yet
/// confirmed → the confirmation page; confirmed → one history row per object and the delete, in
/// one transaction. `load` reads the ticked objects (in display order), `delete` removes them.
pub async fn bulk_delete(
    admin: Admin,
    form: &FormData,
    state: &AppState,
    kind: BulkKind,
    load: impl AsyncFnOnce(&mut AsyncPgConnection, &[Uuid]) -> QueryResult<Vec<Selected>>,
    // A plain fn returning a boxed future: the transaction needs a `Send` future, which an
    // `AsyncFn` bound cannot promise.
    delete: for<'c> fn(&'c mut AsyncPgConnection, Vec<Uuid>) -> BoxFuture<'c, QueryResult<usize>>,
) -> Result<HttpResponse, AdminError> {
    admin.require(kind.model, "delete")?;
    let ids = selected_ids(form);
    if ids.is_empty() {
        flash(&admin.session, NOTHING_SELECTED);
        return Ok(redirect(kind.list_url));
    }
    let mut conn = db::connection(&state.pool).await?;
    let selected = load(&mut conn, &ids).await?;
    if form.get("confirm") != "yes" {
        return page(&BulkDeleteConfirmPage {
            page_title: "Are you sure?".into(),
            ctx: admin.ctx,
            kind_plural: kind.plural,
            items: selected.into_iter().map(|s| (s.id, s.label)).collect(),
            action_url: kind.list_url,
        });
    }
    let actor = admin.staff.user.clone();
    let done = conn
        .transaction(async |conn| {
            let objects: Vec<(Uuid, &str)> =
                selected.iter().map(|s| (s.id, s.name.as_str())).collect();
            history::write_deletions(conn, &actor, kind.model, "name", &objects, BULK_DELETED)
                .await?;
            delete(conn, objects.iter().map(|(id, _)| *id).collect()).await
        })
        .await?;
    flash(
        &admin.session,
        &format!("Successfully deleted {done} {}(s).", kind.singular),
    );
    Ok(redirect(kind.list_url))
}

/// The ids ticked on a list (`_selected_action`), at most 1,000; malformed ones are dropped.
pub fn selected_ids(form: &FormData) -> Vec<Uuid> {
    form.all("_selected_action")
        .into_iter()
        .filter_map(|v| Uuid::parse_str(v).ok())
        .take(1000)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_at_the_largest_pages_do_not_overflow() {
        // Caught by the admin_form fuzz target's checks: `?p=9223372036854775807` overflowed `page + 2`
        // (a panic in debug builds, a wrapped range in release ones).
        let params = SimpleParams::parse("p=9223372036854775807", &["name"], "name", "");
        assert_eq!(params.page, 1);
        for page in [i64::MAX, i64::MAX - 1, crate::admin::user_list::MAX_PAGE] {
            let params = SimpleParams {
                page,
                ..params.clone()
            };
            let links = pages(&params, "", i64::MAX);
            // Beyond the last page nothing is current; no arithmetic may overflow.
            let current = links.iter().any(|l| l.current);
            assert_eq!(current, page == crate::admin::user_list::MAX_PAGE, "{page}");
        }
    }

    #[test]
    fn filters_are_clipped_without_trailing_space() {
        let params = SimpleParams::parse(
            &format!("author={}+b&q=+x+", "a".repeat(149)),
            &["name"],
            "name",
            "author",
        );
        assert_eq!(params.filter, "a".repeat(149));
        assert_eq!(params.q, "x");
    }
}
