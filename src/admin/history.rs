//! The audit trail: one `admin_log` row per add, change, delete or bulk action on an object,
//! written by the caller inside the same transaction as the change itself.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::models::{AdminLogEntry, NewAdminLogEntry, User, new_id};

/// Field-by-field changes: `{"field": {"old": …, "new": …}}`. Secrets never go in here.
#[derive(Debug, Default)]
pub struct Changes(Map<String, Value>);

impl Changes {
    /// Records `field` only when the value actually changed.
    pub fn diff<T: serde::Serialize + PartialEq>(&mut self, field: &str, old: T, new: T) {
        if old != new {
            self.0
                .insert(field.to_owned(), json!({ "old": old, "new": new }));
        }
    }

    /// Records that something changed without saying how (a password: never its hash).
    pub fn mark(&mut self, field: &str, note: &str) {
        self.0.insert(field.to_owned(), json!({ "note": note }));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// "Changed email and is_staff." — Django's change message.
    pub fn message(&self) -> String {
        if self.0.is_empty() {
            return "No fields changed.".into();
        }
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        format!("Changed {}.", names.join(", "))
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// What happened to the object.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Add,
    Change,
    Delete,
    /// A bulk action other than delete (activate, sign out everywhere, …).
    Bulk,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Change => "change",
            Action::Delete => "delete",
            Action::Bulk => "action",
        }
    }
}

/// The object a log row is about.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub object_type: &'a str,
    pub id: Uuid,
    pub repr: &'a str,
}

pub async fn write(
    conn: &mut AsyncPgConnection,
    actor: &User,
    target: Target<'_>,
    action: Action,
    message: &str,
    changes: Value,
) -> QueryResult<()> {
    let object_id = target.id.to_string();
    let repr: String = target.repr.chars().take(200).collect();
    NewAdminLogEntry {
        id: new_id(),
        user_id: Some(actor.id),
        username: &actor.username,
        object_type: target.object_type,
        object_id: &object_id,
        object_repr: &repr,
        action: action.as_str(),
        change_message: message,
        changes,
    }
    .insert(conn)
    .await
}

/// One history row as pages show it.
pub struct LogRow {
    pub when: String,
    pub who: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub object_repr: String,
    pub message: String,
    /// `(field, old, new)` as display text.
    pub changes: Vec<(String, String, String)>,
}

fn show(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(Value::String(s)) if s.is_empty() => "(empty)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

impl From<AdminLogEntry> for LogRow {
    fn from(e: AdminLogEntry) -> Self {
        let changes = match &e.changes {
            Value::Object(map) => map
                .iter()
                .map(|(field, v)| match v.get("note") {
                    Some(note) => (field.clone(), show(Some(note)), String::new()),
                    None => (field.clone(), show(v.get("old")), show(v.get("new"))),
                })
                .collect(),
            _ => Vec::new(),
        };
        LogRow {
            when: format_time(e.created_at),
            who: e.username,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            object_repr: e.object_repr,
            message: e.change_message,
            changes,
        }
    }
}

/// The newest entries written by `user_id` (the index's "My actions").
pub async fn recent_for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    let rows = AdminLogEntry::recent_by(conn, user_id, limit).await?;
    Ok(rows.into_iter().map(LogRow::from).collect())
}

/// Every entry about one object, oldest first (Django's history page order).
pub async fn for_object(
    conn: &mut AsyncPgConnection,
    object_type: &str,
    id: Uuid,
) -> QueryResult<Vec<LogRow>> {
    let rows = AdminLogEntry::for_object(conn, object_type, id).await?;
    Ok(rows.into_iter().map(LogRow::from).collect())
}

#[derive(askama::Template)]
#[template(path = "admin/history.html")]
struct HistoryPage {
    page_title: String,
    ctx: super::kit::PageCtx,
    object_repr: String,
    change_url: String,
    rows: Vec<LogRow>,
}

/// The history page of one object (`/admin/<model>/<id>/history/`), oldest entry first.
pub async fn history_page(
    conn: &mut AsyncPgConnection,
    ctx: super::kit::PageCtx,
    object_type: &str,
    id: Uuid,
    repr: String,
) -> Result<actix_web::HttpResponse, crate::error::AdminError> {
    let rows = for_object(conn, object_type, id).await?;
    super::kit::page(&HistoryPage {
        page_title: format!("Change history: {repr}"),
        ctx,
        object_repr: repr,
        change_url: format!("/admin/{object_type}/{id}/change/"),
        rows,
    })
}

/// The history row of a deletion: the field that named the object, with its last value.
pub async fn write_deletion(
    conn: &mut AsyncPgConnection,
    actor: &User,
    target: Target<'_>,
    field: &str,
    message: &str,
) -> QueryResult<()> {
    let mut changes = Changes::default();
    changes.diff(field, Some(target.repr), None);
    write(
        conn,
        actor,
        target,
        Action::Delete,
        message,
        changes.into_value(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_changes_are_recorded() {
        let mut c = Changes::default();
        c.diff("email", "a@x.io", "a@x.io");
        assert!(c.is_empty());
        c.diff("email", "a@x.io", "b@x.io");
        c.diff("is_staff", false, true);
        c.mark("password", "changed");
        assert_eq!(c.message(), "Changed email, is_staff, password.");
        let v = c.into_value();
        assert_eq!(v["email"]["old"], "a@x.io");
        assert_eq!(v["is_staff"]["new"], true);
        assert_eq!(v["password"]["note"], "changed");
    }
}
