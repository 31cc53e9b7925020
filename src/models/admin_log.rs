use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::row_repr;
use crate::schema::admin_log;

/// One entry of the back office's history.
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = admin_log, check_for_backend(diesel::pg::Pg))]
pub struct AdminLogEntry {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub username: String,
    pub object_type: String,
    pub object_id: String,
    pub object_repr: String,
    pub action: String,
    pub change_message: String,
    /// `{"field": {"old": …, "new": …}}`.
    pub changes: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(AdminLogEntry, "AdminLogEntry", |e| e.id);

#[derive(Insertable)]
#[diesel(table_name = admin_log, check_for_backend(diesel::pg::Pg))]
pub struct NewAdminLogEntry<'a> {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub username: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub object_repr: &'a str,
    pub action: &'a str,
    pub change_message: &'a str,
    pub changes: serde_json::Value,
}
