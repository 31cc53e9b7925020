//! `GET /admin/`: the models this staff member may see, with counts, and their recent actions.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::articles::Articles;
use super::groups::Groups;
use super::history::{self, LogRow};
use super::kit::{Admin, PageCtx, page};
use super::model_admin::ModelAdmin;
use super::users::Users;
use crate::db;
use crate::error::AdminError;
use crate::models::RowCount;
use crate::state::AppState;

/// The models of the back office, as the index lists them: (permission prefix and table, plural
/// label, URL).
const MODELS: [(&str, &str); 3] = [
    (Articles::MODEL, "Articles"),
    (Groups::MODEL, "Groups"),
    (Users::MODEL, "Users"),
];

pub struct ModelRow {
    pub label: &'static str,
    pub url: String,
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
    for (table, label) in MODELS {
        if !admin.ctx.can(table, "view") {
            continue;
        }
        let count = RowCount::of(&mut conn, table).await?;
        models.push(ModelRow {
            label,
            url: format!("/admin/{table}/"),
            add_url: format!("/admin/{table}/add/"),
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
