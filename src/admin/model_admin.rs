//! The declarative admin, after Django's `ModelAdmin`: a model declares its names, columns,
//! search, filters, ordering and bulk actions, and how to load, describe, list and delete its
//! objects; the generic pages here do the rest — the change list (search, filters, sorting,
//! paging, bulk actions), the delete confirmation and delete, the bulk-delete confirmation, the
//! history page — and [`register`] mounts them. A model file keeps only what is its own: how
//! its form fields are built (laid out by its `FIELDSETS`, rendered by [`super::forms`]), its
//! saves, and pages no other model has.

use std::future::Future;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::history;
use super::kit::{
    self, Admin, Head, NOTHING_SELECTED, PageCtx, PageLink, clip, flash, page, parse_id, redirect,
};
use crate::auth::csrf::{AdminForm, FormData};
use crate::auth::staff::Perms;
use crate::db;
use crate::error::AdminError;
use crate::models::{RowCount, User};
use crate::state::AppState;

/// A sortable column of the change list: its `o` value and its header.
pub struct Column {
    pub name: &'static str,
    pub label: &'static str,
}

impl Column {
    pub const fn new(name: &'static str, label: &'static str) -> Self {
        Column { name, label }
    }
}

/// A filter of the change list: its query parameter, its label, and what it takes.
pub struct Filter {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: FilterKind,
}

impl Filter {
    pub const fn yes_no(name: &'static str, label: &'static str) -> Self {
        Filter {
            name,
            label,
            kind: FilterKind::YesNo,
        }
    }

    pub const fn choice(
        name: &'static str,
        label: &'static str,
        choices: &'static [(&'static str, &'static str)],
    ) -> Self {
        Filter {
            name,
            label,
            kind: FilterKind::Choice(choices),
        }
    }

    pub const fn date(name: &'static str, label: &'static str) -> Self {
        Filter {
            name,
            label,
            kind: FilterKind::Date,
        }
    }

    pub const fn text(name: &'static str, label: &'static str) -> Self {
        Filter {
            name,
            label,
            kind: FilterKind::Text,
        }
    }
}

pub enum FilterKind {
    /// Yes (`1`, `true`, `yes`), no (`0`, `false`, `no`) or all.
    YesNo,
    /// One of `(value, label)`, or all.
    Choice(&'static [(&'static str, &'static str)]),
    /// A day, `YYYY-MM-DD`.
    Date,
    /// Free text, up to 150 characters.
    Text,
}

/// A bulk action of the change list: its `action` value, its label, and the permission it needs.
pub struct BulkAction {
    pub name: &'static str,
    pub label: &'static str,
    pub permission: &'static str,
}

impl BulkAction {
    pub const fn new(name: &'static str, label: &'static str, permission: &'static str) -> Self {
        BulkAction {
            name,
            label,
            permission,
        }
    }
}

/// Every model's first action (Django's `delete_selected`).
pub const DELETE_SELECTED: BulkAction = BulkAction::new("delete", "Delete selected", "delete");

/// The history message of an object deleted by a bulk action.
pub const BULK_DELETED: &str = "Deleted (bulk action).";

/// A cell of a change-list row.
pub enum Cell {
    Text(String),
    /// A ✔ or ✘.
    Flag(bool),
}

/// A form's sections: a legend ("" for none) and the names of its fields in order.
pub type Fieldsets = &'static [(&'static str, &'static [&'static str])];

/// How many objects a filtered list holds.
pub use crate::models::row_count::MatchCount as Count;

/// A model of the back office. Queries are functions of `crate::models`; an implementation
/// only chooses them. The futures are `Send` because they run inside transactions.
pub trait ModelAdmin: 'static {
    type Object: Send + Sync;

    /// The permission prefix, the table counted on the index, and the URL segment.
    const MODEL: &'static str;
    const SINGULAR: &'static str;
    const PLURAL: &'static str;
    /// The field whose value names an object (its history rows keep it after a delete).
    const NAME_FIELD: &'static str;
    const COLUMNS: &'static [Column];
    /// `o` when the query names no column: a column name, `-` first for descending.
    const DEFAULT_ORDER: &'static str;
    /// The fields `list` matches search words against (Django's `search_fields`), as labels.
    const SEARCH_FIELDS: &'static [&'static str];
    const FILTERS: &'static [Filter] = &[];
    /// The choices of "per page" (none shown when there is one).
    const PAGE_SIZES: &'static [i64] = &[100];
    const DEFAULT_PAGE_SIZE: i64 = 100;
    /// What a filtered list counts: "1 group (2 total)", or "1 result (2 total)".
    const MATCHED: (&'static str, &'static str) = (Self::SINGULAR, Self::PLURAL);
    const ACTIONS: &'static [BulkAction] = &[DELETE_SELECTED];
    /// A link to download the filtered list, if the model has one.
    const EXPORT_URL: Option<&'static str> = None;
    /// The change form's sections (Django's `fieldsets`), each built by the model (see
    /// [`super::forms`]).
    const FIELDSETS: Fieldsets;
    /// The add form's sections, when they differ.
    const ADD_FIELDSETS: Fieldsets = Self::FIELDSETS;

    fn id(object: &Self::Object) -> Uuid;
    /// The object's name: page titles, messages, history rows.
    fn name(object: &Self::Object) -> &str;
    /// How confirmation pages list the object.
    fn label(object: &Self::Object) -> String {
        Self::name(object).to_owned()
    }
    /// The row of the change list, one cell per column (the first links to the change form).
    fn cells(object: &Self::Object) -> Vec<Cell>;

    /// The objects `ids` that exist, in the order confirmation pages show them; with `lock`, their
    /// rows locked for update (inside a transaction).
    fn load(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> impl Future<Output = QueryResult<Vec<Self::Object>>> + Send;

    /// One page of the list as `params` asks, and how many match when it is filtered (`None`:
    /// the whole table, counted by [`RowCount`]).
    fn list(
        conn: &mut AsyncPgConnection,
        params: &ListParams,
    ) -> impl Future<Output = QueryResult<(Option<Count>, Vec<Self::Object>)>> + Send;

    /// What goes with the object when it is deleted, for its confirmation page.
    fn related(
        conn: &mut AsyncPgConnection,
        object: &Self::Object,
    ) -> impl Future<Output = QueryResult<Vec<Related>>> + Send;

    /// Deletes the objects `ids`; returns how many went.
    fn delete(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> impl Future<Output = QueryResult<usize>> + Send;

    /// Whether the staff member may manage every one of `objects` (beyond the model permission:
    /// users and groups may only be managed within one's own rights). Checked again under the
    /// row locks before anything is written.
    fn may_manage(
        conn: &mut AsyncPgConnection,
        actor: &Perms,
        objects: &[Self::Object],
    ) -> impl Future<Output = QueryResult<bool>> + Send {
        let _ = (conn, actor, objects);
        async { Ok(true) }
    }

    /// Why `actor` may not delete the object at all (one's own account), if so.
    fn undeletable(actor: &User, object: &Self::Object) -> Option<&'static str> {
        let _ = (actor, object);
        None
    }

    /// Applies a bulk action other than delete to `objects` (locked, within reach), writing their
    /// history rows; returns how many changed.
    fn apply(
        conn: &mut AsyncPgConnection,
        actor: &User,
        action: &'static str,
        objects: &[Self::Object],
    ) -> impl Future<Output = Result<usize, AdminError>> + Send {
        let _ = (conn, actor, action, objects);
        async { Ok(0) }
    }

    /// A line for the bulk confirmation page of `action` (what else goes with the objects).
    fn bulk_note(
        conn: &mut AsyncPgConnection,
        action: &'static str,
        objects: &[Self::Object],
    ) -> impl Future<Output = QueryResult<String>> + Send {
        let _ = (conn, action, objects);
        async { Ok(String::new()) }
    }

    /// The model's own pages (forms and the like), mounted beside the generic ones.
    fn routes(cfg: &mut web::ServiceConfig);
}

/// A line of the delete confirmation page, with the names under it (at most a few).
pub struct Related {
    pub text: String,
    pub names: Vec<String>,
    /// More names than shown.
    pub more: bool,
}

impl Related {
    pub fn line(text: String) -> Self {
        Related {
            text,
            names: Vec::new(),
            more: false,
        }
    }
}

/// Mounts the model's change list (GET) and bulk actions (POST) at `/<model>/`, its delete and
/// history pages, and its own pages.
pub fn register<M: ModelAdmin>(cfg: &mut web::ServiceConfig) {
    let base = format!("/{}", M::MODEL);
    cfg.service(
        web::resource(format!("{base}/"))
            .route(web::get().to(list::<M>))
            .route(web::post().to(bulk::<M>)),
    )
    .service(
        web::resource(format!("{base}/{{id}}/delete/"))
            .route(web::get().to(delete_page::<M>))
            .route(web::post().to(delete_submit::<M>)),
    )
    .route(
        &format!("{base}/{{id}}/history/"),
        web::get().to(history_page::<M>),
    );
    M::routes(cfg);
}

/// A filter's value as understood.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Unset,
    Flag(bool),
    Choice(&'static str),
    /// The text as the form shows it, and the day when it is one.
    Date(String, Option<NaiveDate>),
    Text(String),
}

/// At most this many search words are used (each adds a condition).
pub const MAX_WORDS: usize = 8;

/// A change list's parameters, parsed leniently from its query string (a bad value is ignored and
/// named in `invalid`, never a 400 or a 500).
#[derive(Debug, Clone)]
pub struct ListParams {
    pub q: String,
    /// One per declared filter, in their order.
    pub filters: Vec<(&'static str, FilterValue)>,
    /// Column name, with `-` for descending.
    pub order: String,
    pub page: i64,
    pub per_page: i64,
    pub invalid: Vec<&'static str>,
    pub(crate) default_order: &'static str,
    pub(crate) default_per_page: i64,
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl ListParams {
    pub fn parse<M: ModelAdmin>(query_string: &str) -> Self {
        Self::parse_for(
            query_string,
            M::COLUMNS,
            M::FILTERS,
            M::DEFAULT_ORDER,
            M::PAGE_SIZES,
            M::DEFAULT_PAGE_SIZE,
        )
    }

    pub fn parse_for(
        query_string: &str,
        columns: &[Column],
        filters: &'static [Filter],
        default_order: &'static str,
        page_sizes: &[i64],
        default_per_page: i64,
    ) -> Self {
        let f = FormData::parse(query_string.as_bytes());
        let mut invalid = Vec::new();
        let filters = filters
            .iter()
            .map(|filter| {
                let raw = f.get(filter.name);
                let value = match &filter.kind {
                    FilterKind::YesNo if raw.is_empty() => FilterValue::Unset,
                    FilterKind::YesNo => match parse_bool(raw) {
                        Some(b) => FilterValue::Flag(b),
                        None => {
                            invalid.push(filter.name);
                            FilterValue::Unset
                        }
                    },
                    FilterKind::Choice(_) if raw.is_empty() => FilterValue::Unset,
                    FilterKind::Choice(choices) => {
                        match choices.iter().find(|(value, _)| *value == raw) {
                            Some((value, _)) => FilterValue::Choice(value),
                            None => {
                                invalid.push(filter.name);
                                FilterValue::Unset
                            }
                        }
                    }
                    FilterKind::Date => {
                        // Parsed from the same clipped text the form and the links show, so a
                        // link never drops (or adds) a date filter the page applied.
                        let raw = clip(raw, 20);
                        if raw.is_empty() {
                            FilterValue::Unset
                        } else {
                            let day = NaiveDate::parse_from_str(&raw, "%Y-%m-%d").ok();
                            if day.is_none() {
                                invalid.push(filter.name);
                            }
                            FilterValue::Date(raw, day)
                        }
                    }
                    FilterKind::Text => match clip(raw, 150) {
                        text if text.is_empty() => FilterValue::Unset,
                        text => FilterValue::Text(text),
                    },
                };
                (filter.name, value)
            })
            .collect();
        let o = f.get("o");
        let order = if columns
            .iter()
            .any(|c| c.name == o.strip_prefix('-').unwrap_or(o))
        {
            o.to_owned()
        } else {
            if !o.is_empty() {
                invalid.push("o");
            }
            default_order.to_owned()
        };
        let per_page = f
            .get("per")
            .parse::<i64>()
            .ok()
            .filter(|n| page_sizes.contains(n))
            .unwrap_or(default_per_page);
        ListParams {
            q: clip(f.get("q"), 200),
            filters,
            order,
            page: kit::parse_page(f.get("p")),
            per_page,
            invalid,
            default_order,
            default_per_page,
        }
    }

    fn value(&self, name: &str) -> &FilterValue {
        self.filters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&FilterValue::Unset, |(_, v)| v)
    }

    /// A yes/no filter's value.
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.value(name) {
            FilterValue::Flag(b) => Some(*b),
            _ => None,
        }
    }

    /// A choice filter's value.
    pub fn choice(&self, name: &str) -> Option<&'static str> {
        match self.value(name) {
            FilterValue::Choice(c) => Some(c),
            _ => None,
        }
    }

    /// A date filter's day (none when absent or not a day).
    pub fn date(&self, name: &str) -> Option<NaiveDate> {
        match self.value(name) {
            FilterValue::Date(_, day) => *day,
            _ => None,
        }
    }

    /// A text filter's value (empty when absent).
    pub fn text(&self, name: &str) -> &str {
        match self.value(name) {
            FilterValue::Text(t) => t,
            _ => "",
        }
    }

    /// The search words (every one must match; Django's search rule).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.q.split_whitespace().take(MAX_WORDS)
    }

    /// Whether anything narrows the list (then the count is of the matches, not the table).
    pub fn is_filtered(&self) -> bool {
        !self.q.is_empty()
            || self.filters.iter().any(|(_, v)| match v {
                FilterValue::Unset => false,
                FilterValue::Date(_, day) => day.is_some(),
                _ => true,
            })
    }

    /// The sort column and whether it is descending.
    pub fn sort(&self) -> (&str, bool) {
        match self.order.strip_prefix('-') {
            Some(column) => (column, true),
            None => (&self.order, false),
        }
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// The query string of this list with some parameters replaced (`""` removes one). Paging
    /// restarts unless `p` itself is set.
    pub fn query_with(&self, overrides: &[(&str, &str)]) -> String {
        // The current page only in the link to this very list; any other link starts at page 1.
        let page = if overrides.is_empty() && self.page > 1 {
            self.page.to_string()
        } else {
            String::new()
        };
        let per = self.per_page.to_string();
        let mut pairs: Vec<(&str, &str)> = vec![("q", &self.q)];
        for (name, value) in &self.filters {
            pairs.push((
                name,
                match value {
                    FilterValue::Unset => "",
                    FilterValue::Flag(true) => "1",
                    FilterValue::Flag(false) => "0",
                    FilterValue::Choice(c) => c,
                    FilterValue::Date(raw, _) | FilterValue::Text(raw) => raw,
                },
            ));
        }
        pairs.push((
            "o",
            if self.order == self.default_order {
                ""
            } else {
                &self.order
            },
        ));
        pairs.push((
            "per",
            if self.per_page == self.default_per_page {
                ""
            } else {
                &per
            },
        ));
        pairs.push(("p", &page));
        for (k, v) in overrides {
            if let Some(slot) = pairs.iter_mut().find(|(name, _)| name == k) {
                slot.1 = v;
            }
        }
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }

    /// The links to other pages of this list of `count` rows.
    pub fn page_links(&self, count: i64) -> Vec<PageLink> {
        kit::page_links(self.page, self.per_page, count, |n| {
            format!("?{}", self.query_with(&[("p", &n.to_string())]))
        })
    }

    /// The column headers: each links to this list sorted by it.
    pub fn heads(&self, columns: &[Column]) -> Vec<Head> {
        columns
            .iter()
            .map(|c| {
                let (arrow, next) = kit::sort_toggle(&self.order, c.name);
                Head {
                    label: c.label,
                    url: format!("?{}", self.query_with(&[("o", &next)])),
                    arrow,
                }
            })
            .collect()
    }
}

/// A filter as the list's form shows it.
struct FilterField {
    name: &'static str,
    label: &'static str,
    /// `select`, `date` or `text`.
    widget: &'static str,
    value: String,
    /// `(value, label)` of a select, after "All".
    options: Vec<(&'static str, &'static str)>,
}

/// A row of the change list.
struct ListRow {
    id: Uuid,
    url: String,
    name: String,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "admin/object_list.html")]
struct ListPage {
    page_title: String,
    ctx: PageCtx,
    model: &'static str,
    singular: &'static str,
    can_add: bool,
    export_url: String,
    invalid: String,
    search_label: String,
    params: ListParams,
    filters: Vec<FilterField>,
    page_sizes: Vec<i64>,
    summary: String,
    heads: Vec<Head>,
    rows: Vec<ListRow>,
    /// Appended to each row's change link: the list's filters, to come back to after saving.
    row_suffix: String,
    /// The bulk actions this staff member may run, as a menu (when the model has several).
    actions: Vec<(&'static str, &'static str)>,
    /// A "Delete selected" button instead (when delete is the model's only action).
    delete_button: bool,
    pages: Vec<PageLink>,
}

impl ListPage {
    fn selectable(&self) -> bool {
        self.delete_button || !self.actions.is_empty()
    }
}

/// "Search by name", "Search by username, email or Cognito sub".
fn search_label(fields: &[&str]) -> String {
    match fields {
        [] => "Search".to_owned(),
        [one] => format!("Search by {one}"),
        [rest @ .., last] => format!("Search by {} or {last}", rest.join(", ")),
    }
}

fn plural(n: i64, (one, many): (&'static str, &'static str)) -> &'static str {
    if n == 1 { one } else { many }
}

/// `GET /admin/<model>/?q=&<filters>&o=&per=&p=`
pub async fn list<M: ModelAdmin>(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(M::MODEL, "view")?;
    let params = ListParams::parse::<M>(req.query_string());
    let mut conn = db::connection(&state.pool).await?;
    let total = RowCount::of(&mut conn, M::MODEL).await?;
    let (count, objects) = conn
        .transaction(async |conn| M::list(conn, &params).await)
        .await?;
    let (summary, count) = match count {
        None => (
            format!(
                "{} {}",
                total.display(),
                plural(total.n, (M::SINGULAR, M::PLURAL))
            ),
            total.n,
        ),
        Some(c) => {
            let matches = match c {
                Count::Exact(n) => format!("{n} {}", plural(n, M::MATCHED)),
                Count::MoreThan(n) => format!("More than {n} {}", M::MATCHED.1),
                Count::About(n) => format!("about {n} {}", M::MATCHED.1),
            };
            (
                format!("{matches} ({} total)", total.display()),
                c.pages_of(),
            )
        }
    };
    let allowed: Vec<(&'static str, &'static str)> = M::ACTIONS
        .iter()
        .filter(|a| admin.ctx.can(M::MODEL, a.permission))
        .map(|a| (a.name, a.label))
        .collect();
    let (actions, delete_button) = if M::ACTIONS.len() > 1 {
        (allowed, false)
    } else {
        (Vec::new(), !allowed.is_empty())
    };
    let current = params.query_with(&[]);
    let row_suffix = if current.is_empty() {
        String::new()
    } else {
        format!(
            "?_changelist_filters={}",
            url::form_urlencoded::byte_serialize(current.as_bytes()).collect::<String>()
        )
    };
    let filters = M::FILTERS
        .iter()
        .zip(&params.filters)
        .map(|(filter, (_, value))| {
            let (widget, options): (_, Vec<(&'static str, &'static str)>) = match &filter.kind {
                FilterKind::YesNo => ("select", vec![("1", "Yes"), ("0", "No")]),
                FilterKind::Choice(choices) => ("select", choices.to_vec()),
                FilterKind::Date => ("date", Vec::new()),
                FilterKind::Text => ("text", Vec::new()),
            };
            FilterField {
                name: filter.name,
                label: filter.label,
                widget,
                value: match value {
                    FilterValue::Unset => String::new(),
                    FilterValue::Flag(b) => if *b { "1" } else { "0" }.to_owned(),
                    FilterValue::Choice(c) => (*c).to_owned(),
                    FilterValue::Date(raw, _) | FilterValue::Text(raw) => raw.clone(),
                },
                options,
            }
        })
        .collect();
    page(&ListPage {
        page_title: format!("Select {} to change", M::SINGULAR),
        model: M::MODEL,
        singular: M::SINGULAR,
        can_add: admin.ctx.can(M::MODEL, "add"),
        export_url: M::EXPORT_URL
            .map(|url| format!("{url}?{current}"))
            .unwrap_or_default(),
        invalid: params.invalid.join(", "),
        search_label: search_label(M::SEARCH_FIELDS),
        filters,
        page_sizes: if M::PAGE_SIZES.len() > 1 {
            M::PAGE_SIZES.to_vec()
        } else {
            Vec::new()
        },
        summary,
        heads: params.heads(M::COLUMNS),
        rows: objects
            .iter()
            .map(|o| ListRow {
                id: M::id(o),
                url: format!("/admin/{}/{}/change/", M::MODEL, M::id(o)),
                name: M::name(o).to_owned(),
                cells: M::cells(o),
            })
            .collect(),
        row_suffix,
        actions,
        delete_button,
        pages: params.page_links(count),
        ctx: admin.ctx,
        params,
    })
}

/// Loads one object, 404 when it does not exist.
pub async fn load_one<M: ModelAdmin>(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lock: bool,
) -> Result<M::Object, AdminError> {
    M::load(conn, &[id], lock)
        .await?
        .pop()
        .ok_or(AdminError::NotFound)
}

/// A 403 unless the staff member may manage every one of `objects`.
pub async fn require_manage<M: ModelAdmin>(
    conn: &mut AsyncPgConnection,
    actor: &Perms,
    objects: &[M::Object],
) -> Result<(), AdminError> {
    if M::may_manage(conn, actor, objects).await? {
        Ok(())
    } else {
        Err(AdminError::Forbidden)
    }
}

/// Loads one object the staff member means to change: 404 when missing, 403 when out of reach.
pub async fn load_managed<M: ModelAdmin>(
    conn: &mut AsyncPgConnection,
    admin: &Admin,
    id: Uuid,
) -> Result<M::Object, AdminError> {
    let object = load_one::<M>(conn, id, false).await?;
    require_manage::<M>(conn, &admin.staff.perms, std::slice::from_ref(&object)).await?;
    Ok(object)
}

/// [`load_managed`] inside a transaction: locks the row and checks again just before the write,
/// so the check holds for the version being changed.
pub async fn lock_managed<M: ModelAdmin>(
    conn: &mut AsyncPgConnection,
    actor: &Perms,
    id: Uuid,
) -> Result<M::Object, AdminError> {
    let object = load_one::<M>(conn, id, true).await?;
    require_manage::<M>(conn, actor, std::slice::from_ref(&object)).await?;
    Ok(object)
}

#[derive(Template)]
#[template(path = "admin/delete_confirm.html")]
struct DeletePage {
    page_title: String,
    ctx: PageCtx,
    singular: &'static str,
    name: String,
    /// Why the object cannot be deleted (then there is no button).
    refused: &'static str,
    related: Vec<Related>,
    action_url: String,
    back_url: String,
}

/// `GET /admin/<model>/<id>/delete/`: what goes with the object.
pub async fn delete_page<M: ModelAdmin>(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(M::MODEL, "delete")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let object = load_managed::<M>(&mut conn, &admin, id).await?;
    let related = M::related(&mut conn, &object).await?;
    page(&DeletePage {
        page_title: "Are you sure?".into(),
        singular: M::SINGULAR,
        name: M::name(&object).to_owned(),
        refused: M::undeletable(&admin.staff.user, &object).unwrap_or_default(),
        related,
        action_url: format!("/admin/{}/{id}/delete/", M::MODEL),
        back_url: format!("/admin/{}/{id}/change/", M::MODEL),
        ctx: admin.ctx,
    })
}

/// `POST /admin/<model>/<id>/delete/`: the history row and the delete, in one transaction.
pub async fn delete_submit<M: ModelAdmin>(
    admin: Admin,
    path: web::Path<String>,
    _form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(M::MODEL, "delete")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let name = conn
        .transaction(async |conn| {
            let object = lock_managed::<M>(conn, &actor_perms, id).await?;
            if let Some(why) = M::undeletable(&actor, &object) {
                return Err(AdminError::BadRequest(why.into()));
            }
            let name = M::name(&object).to_owned();
            history::write_deletion(
                conn,
                &actor,
                target::<M>(id, &name),
                M::NAME_FIELD,
                "Deleted.",
            )
            .await?;
            M::delete(conn, &[id]).await?;
            Ok::<_, AdminError>(name)
        })
        .await?;
    flash(
        &admin.session,
        &format!("The {} “{name}” was deleted successfully.", M::SINGULAR),
    );
    Ok(redirect(&format!("/admin/{}/", M::MODEL)))
}

/// The object a history row is about.
pub fn target<M: ModelAdmin>(id: Uuid, name: &str) -> history::Target<'_> {
    history::Target {
        object_type: M::MODEL,
        id,
        repr: name,
    }
}

/// `GET /admin/<model>/<id>/history/`
pub async fn history_page<M: ModelAdmin>(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(M::MODEL, "view")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let object = load_one::<M>(&mut conn, id, false).await?;
    history::history_page(
        &mut conn,
        admin.ctx,
        M::MODEL,
        id,
        M::name(&object).to_owned(),
    )
    .await
}

#[derive(Template)]
#[template(path = "admin/bulk_confirm.html")]
struct BulkConfirmPage {
    page_title: String,
    ctx: PageCtx,
    action: &'static str,
    label: &'static str,
    is_delete: bool,
    plural: &'static str,
    note: String,
    /// (id, label).
    items: Vec<(Uuid, String)>,
    list_url: String,
}

/// `POST /admin/<model>/`: a bulk action. Nothing ticked → back to the list; not yet confirmed →
/// the confirmation page; confirmed → the action and one history row per object, in one
/// transaction, refused whole (403, nothing written) if any object is out of reach.
pub async fn bulk<M: ModelAdmin>(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let form = form.0;
    let list_url = format!("/admin/{}/", M::MODEL);
    let posted = form.get("action");
    // A model whose only action is delete shows a button that names none.
    let action = match M::ACTIONS {
        [only] => Some(only),
        all => all.iter().find(|a| a.name == posted),
    };
    let Some(action) = action else {
        flash(&admin.session, "No action selected.");
        return Ok(redirect(&list_url));
    };
    admin.require(M::MODEL, action.permission)?;
    let ids = kit::selected_ids(&form);
    if ids.is_empty() {
        flash(&admin.session, NOTHING_SELECTED);
        return Ok(redirect(&list_url));
    }
    let mut conn = db::connection(&state.pool).await?;
    if form.get("confirm") != "yes" {
        let objects = M::load(&mut conn, &ids, false).await?;
        require_manage::<M>(&mut conn, &admin.staff.perms, &objects).await?;
        let note = M::bulk_note(&mut conn, action.name, &objects).await?;
        return page(&BulkConfirmPage {
            page_title: "Are you sure?".into(),
            ctx: admin.ctx,
            action: action.name,
            label: action.label,
            is_delete: action.name == DELETE_SELECTED.name,
            plural: M::PLURAL,
            note,
            items: objects.iter().map(|o| (M::id(o), M::label(o))).collect(),
            list_url,
        });
    }
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let done = conn
        .transaction(async |conn| {
            let objects = M::load(conn, &ids, true).await?;
            // Under the row locks, before anything is written.
            require_manage::<M>(conn, &actor_perms, &objects).await?;
            if action.name != DELETE_SELECTED.name {
                return M::apply(conn, &actor, action.name, &objects).await;
            }
            let doomed: Vec<&M::Object> = objects
                .iter()
                .filter(|o| M::undeletable(&actor, o).is_none())
                .collect();
            for object in &doomed {
                let target = target::<M>(M::id(object), M::name(object));
                history::write_deletion(conn, &actor, target, M::NAME_FIELD, BULK_DELETED).await?;
            }
            let ids: Vec<Uuid> = doomed.iter().map(|o| M::id(o)).collect();
            Ok(M::delete(conn, &ids).await?)
        })
        .await?;
    let message = if action.name == DELETE_SELECTED.name {
        format!("Successfully deleted {done} {}(s).", M::SINGULAR)
    } else {
        format!(
            "{}: done for {done} {}.",
            action.label,
            plural(done as i64, (M::SINGULAR, M::PLURAL))
        )
    };
    flash(&admin.session, &message);
    Ok(redirect(&list_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[Column] = &[
        Column::new("name", "Name"),
        Column::new("created_at", "Created"),
    ];
    const FILTERS: &[Filter] = &[
        Filter::yes_no("is_active", "Active"),
        Filter::choice(
            "source",
            "Source",
            &[("cognito", "Cognito"), ("local", "Local")],
        ),
        Filter::date("created_from", "Created from"),
        Filter::text("author", "Author"),
    ];

    fn parse(query: &str) -> ListParams {
        ListParams::parse_for(query, COLUMNS, FILTERS, "-created_at", &[25, 100], 100)
    }

    #[test]
    fn the_search_box_names_the_fields_searched() {
        assert_eq!(search_label(&["name"]), "Search by name");
        assert_eq!(
            search_label(&["username", "email", "Cognito sub"]),
            "Search by username, email or Cognito sub"
        );
    }

    #[test]
    fn links_keep_filters_and_restart_paging() {
        let p = parse("q=bob&is_active=1&author=ann&o=name&p=3&per=25");
        assert!(p.is_filtered());
        assert_eq!(
            p.query_with(&[]),
            "q=bob&is_active=1&author=ann&o=name&per=25&p=3"
        );
        assert_eq!(
            p.query_with(&[("o", "-name")]),
            "q=bob&is_active=1&author=ann&o=-name&per=25"
        );
        assert!(!parse("").is_filtered());
        assert!(!parse("created_from=junk").is_filtered());
    }

    #[test]
    fn clipped_values_survive_the_links() {
        let p = parse(&format!("created_from={}2024-01-01", "+".repeat(20)));
        assert!(p.date("created_from").is_some());
        let p = parse(&format!(
            "q={}+b&author={}+c",
            "a".repeat(199),
            "d".repeat(149)
        ));
        assert_eq!(p.q, "a".repeat(199));
        assert_eq!(p.text("author"), "d".repeat(149));
        let again = parse(&p.query_with(&[]));
        assert_eq!(again.query_with(&[]), p.query_with(&[]));
    }
}
