use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::row_repr;
use crate::schema::{group_permissions, groups, user_groups};

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = groups, check_for_backend(diesel::pg::Pg))]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(Group, "Group", |g| g.id);

#[derive(Insertable)]
#[diesel(table_name = groups, check_for_backend(diesel::pg::Pg))]
pub struct NewGroup<'a> {
    pub id: Uuid,
    pub name: &'a str,
}

/// Membership of a user in a group.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_groups, check_for_backend(diesel::pg::Pg))]
pub struct UserGroup {
    pub user_id: Uuid,
    pub group_id: Uuid,
    #[diesel(skip_insertion)]
    pub created_at: DateTime<Utc>,
}
row_repr!(UserGroup, "UserGroup", |m| format_args!(
    "{} {}",
    m.user_id, m.group_id
));

/// A permission granted to every member of a group.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_permissions, check_for_backend(diesel::pg::Pg))]
pub struct GroupPermission {
    pub group_id: Uuid,
    pub permission_id: Uuid,
    #[diesel(skip_insertion)]
    pub created_at: DateTime<Utc>,
}
row_repr!(GroupPermission, "GroupPermission", |m| format_args!(
    "{} {}",
    m.group_id, m.permission_id
));
