use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::row_repr;
use crate::schema::{group_permissions, permissions, user_groups, user_permissions};

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

impl Permission {
    /// Every permission, by codename.
    pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Permission>> {
        permissions::table
            .order(permissions::codename.asc())
            .select(Permission::as_select())
            .load(conn)
            .await
    }

    /// `(id, codename)` of the permissions `ids` that exist, by codename.
    pub async fn codenames(
        conn: &mut AsyncPgConnection,
        ids: &HashSet<Uuid>,
    ) -> QueryResult<Vec<(Uuid, String)>> {
        permissions::table
            .filter(permissions::id.eq_any(ids.iter().copied().collect::<Vec<_>>()))
            .order(permissions::codename.asc())
            .select((permissions::id, permissions::codename))
            .load(conn)
            .await
    }
}

impl Permission {
    /// Every codename the users `ids` hold, directly or through a group, in two queries.
    pub async fn codenames_of_users(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<HashSet<String>> {
        let mut codenames: HashSet<String> = user_permissions::table
            .inner_join(permissions::table)
            .filter(user_permissions::user_id.eq_any(ids))
            .select(permissions::codename)
            .distinct()
            .load::<String>(conn)
            .await?
            .into_iter()
            .collect();
        let via_groups: Vec<String> = user_groups::table
            .inner_join(
                group_permissions::table.on(group_permissions::group_id.eq(user_groups::group_id)),
            )
            .inner_join(permissions::table.on(permissions::id.eq(group_permissions::permission_id)))
            .filter(user_groups::user_id.eq_any(ids))
            .select(permissions::codename)
            .distinct()
            .load(conn)
            .await?;
        codenames.extend(via_groups);
        Ok(codenames)
    }
}
