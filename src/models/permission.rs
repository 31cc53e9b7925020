use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::row_repr;
use crate::schema::{permissions, user_permissions};

/// A seeded permission such as `users.view` or `articles.change` (see the migrations).
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = permissions, check_for_backend(diesel::pg::Pg))]
pub struct Permission {
    pub id: Uuid,
    pub codename: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(Permission, "Permission", |p| p.codename);

/// A permission granted to one user directly.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_permissions, check_for_backend(diesel::pg::Pg))]
pub struct UserPermission {
    pub user_id: Uuid,
    pub permission_id: Uuid,
    #[diesel(skip_insertion)]
    pub created_at: DateTime<Utc>,
}
row_repr!(UserPermission, "UserPermission", |m| format_args!(
    "{} {}",
    m.user_id, m.permission_id
));
