//! `GET /admin/`: the models this staff member may see, with counts, and their recent actions.

use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::history::{self, LogRow};
use super::{Admin, AdminError, PageCtx, page};
use crate::db;
use crate::startup::AppState;

/// The models of the back office: (permission prefix and table, plural label, URL).
pub const MODELS: &[(&str, &str, &str)] = &[
    ("articles", "Articles", "/admin/articles/"),
    ("groups", "Groups", "/admin/groups/"),
    ("users", "Users", "/admin/users/"),
];

/// Above this many rows (by the planner's estimate) a table is counted by estimate only: an exact
/// `COUNT(*)` scans the whole table, Django admin's known pain on big tables.
pub const EXACT_COUNT_LIMIT: i64 = 50_000;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A row count for display: exact when small, the planner's estimate when large.
#[derive(Debug, Clone, Copy)]
pub struct RowCount {
    pub n: i64,
    pub exact: bool,
}

impl RowCount {
    pub fn display(&self) -> String {
        if self.exact {
            self.n.to_string()
        } else {
            format!("about {}", self.n)
        }
    }
}

/// Counts `table`, one of [`MODELS`] (the name is checked against that list, never taken from
/// input).
pub async fn table_count(
    conn: &mut AsyncPgConnection,
    table: &'static str,
) -> Result<RowCount, AdminError> {
    if !MODELS.iter().any(|(t, _, _)| *t == table) {
        return Err(AdminError::internal(format!(
            "count of unknown table {table}"
        )));
    }
    let estimate: Option<Count> = diesel::sql_query(
        "SELECT reltuples::bigint AS n FROM pg_class WHERE oid = to_regclass($1)",
    )
    .bind::<Text, _>(table)
    .get_result(conn)
    .await
    .ok();
    // -1 means "never analysed": the table may be small, count it.
    if let Some(Count { n }) = estimate
        && n >= EXACT_COUNT_LIMIT
    {
        return Ok(RowCount { n, exact: false });
    }
    let exact: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result(conn)
        .await?;
    Ok(RowCount {
        n: exact.n,
        exact: true,
    })
}

pub struct ModelRow {
    pub label: &'static str,
    pub url: &'static str,
    pub add_url: String,
    pub count: String,
    pub can_add: bool,
}

#[derive(Template)]
#[template(path = "admin/index.html")]
struct IndexPage {
    page_title: String,
    ctx: PageCtx,
    models: Vec<ModelRow>,
    recent: Vec<LogRow>,
}

pub async fn index(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, AdminError> {
    let mut conn = db::connection(&state.pool).await?;
    let mut models = Vec::new();
    for (table, label, url) in MODELS {
        if !admin.ctx.can(table, "view") {
            continue;
        }
        let count = table_count(&mut conn, table).await?;
        models.push(ModelRow {
            label,
            url,
            add_url: format!("{url}add/"),
            count: count.display(),
            can_add: admin.ctx.can(table, "add"),
        });
    }
    let recent = history::recent_for_user(&mut conn, admin.staff.user.id, 10).await?;
    page(&IndexPage {
        page_title: "Site administration".into(),
        ctx: admin.ctx,
        models,
        recent,
    })
}
