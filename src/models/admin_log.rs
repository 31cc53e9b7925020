use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
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

impl NewAdminLogEntry<'_> {
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(admin_log::table)
            .values(self)
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl AdminLogEntry {
    /// The newest `limit` entries written by `user_id`.
    pub async fn recent_by(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        limit: i64,
    ) -> QueryResult<Vec<AdminLogEntry>> {
        admin_log::table
            .filter(admin_log::user_id.eq(user_id))
            .order((admin_log::created_at.desc(), admin_log::id.desc()))
            .limit(limit)
            .select(AdminLogEntry::as_select())
            .load(conn)
            .await
    }

    /// Every entry about one object (at most 1,000), oldest first.
    pub async fn for_object(
        conn: &mut AsyncPgConnection,
        object_type: &str,
        id: Uuid,
    ) -> QueryResult<Vec<AdminLogEntry>> {
        admin_log::table
            .filter(admin_log::object_type.eq(object_type))
            .filter(admin_log::object_id.eq(id.to_string()))
            .order((admin_log::created_at.asc(), admin_log::id.asc()))
            .limit(1000)
            .select(AdminLogEntry::as_select())
            .load(conn)
            .await
    }
}
