use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::row_repr;
use crate::schema::{group_permissions, groups, permissions, user_groups};

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

/// What a change may set on a group.
#[derive(AsChangeset)]
#[diesel(table_name = groups, check_for_backend(diesel::pg::Pg))]
pub struct GroupChanges<'a> {
    pub name: Option<&'a str>,
}

impl NewGroup<'_> {
    /// Inserts the group; a taken name (in any case) is a unique violation.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(groups::table)
            .values(self)
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl Group {
    /// The groups `ids` that exist, by name; with `lock`, locked for update.
    pub async fn load_many(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> QueryResult<Vec<Group>> {
        let q = groups::table
            .filter(groups::id.eq_any(ids))
            .order((groups::name.asc(), groups::id.asc()))
            .select(Group::as_select());
        if lock {
            q.for_update().load(conn).await
        } else {
            q.load(conn).await
        }
    }

    /// Every group, by name.
    pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Group>> {
        groups::table
            .order(groups::name.asc())
            .select(Group::as_select())
            .load(conn)
            .await
    }

    /// How many groups have every word in their name, and one page of them.
    pub async fn search(
        conn: &mut AsyncPgConnection,
        words: &[&str],
        by_created: bool,
        descending: bool,
        limit: i64,
        offset: i64,
    ) -> QueryResult<(i64, Vec<Group>)> {
        let filtered = || {
            let mut q = groups::table.into_boxed();
            for word in words {
                q = q.filter(groups::name.ilike(crate::db::like_pattern(word)));
            }
            q
        };
        let count: i64 = filtered().count().get_result(conn).await?;
        let q = filtered();
        let q = match (by_created, descending) {
            (true, false) => q.order((groups::created_at.asc(), groups::id.asc())),
            (true, true) => q.order((groups::created_at.desc(), groups::id.desc())),
            (false, false) => q.order((groups::name.asc(), groups::id.asc())),
            (false, true) => q.order((groups::name.desc(), groups::id.desc())),
        };
        let rows = q
            .select(Group::as_select())
            .limit(limit)
            .offset(offset)
            .load(conn)
            .await?;
        Ok((count, rows))
    }

    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &GroupChanges<'_>,
    ) -> QueryResult<()> {
        diesel::update(groups::table.find(id))
            .set(changes)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn delete_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
        diesel::delete(groups::table.filter(groups::id.eq_any(ids)))
            .execute(conn)
            .await
    }

    /// The ids of the permissions group `id` grants.
    pub async fn permission_ids(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<HashSet<Uuid>> {
        Ok(group_permissions::table
            .filter(group_permissions::group_id.eq(id))
            .select(group_permissions::permission_id)
            .load::<Uuid>(conn)
            .await?
            .into_iter()
            .collect())
    }

    /// Replaces the permissions group `id` grants.
    pub async fn set_permissions(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        permissions: &[Uuid],
    ) -> QueryResult<()> {
        diesel::delete(group_permissions::table.filter(group_permissions::group_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::insert_into(group_permissions::table)
            .values(
                permissions
                    .iter()
                    .map(|p| {
                        (
                            group_permissions::group_id.eq(id),
                            group_permissions::permission_id.eq(*p),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The permission codenames of each of the groups `ids` (groups without any are absent).
    pub async fn codenames_by_group(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<HashMap<Uuid, HashSet<String>>> {
        let rows: Vec<(Uuid, String)> = group_permissions::table
            .inner_join(permissions::table)
            .filter(group_permissions::group_id.eq_any(ids))
            .select((group_permissions::group_id, permissions::codename))
            .load(conn)
            .await?;
        let mut by_group: HashMap<Uuid, HashSet<String>> = HashMap::new();
        for (group, codename) in rows {
            by_group.entry(group).or_default().insert(codename);
        }
        Ok(by_group)
    }

    /// How many members group `id` has, and how many permissions it grants.
    pub async fn member_and_permission_counts(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<(i64, i64)> {
        let members = user_groups::table
            .filter(user_groups::group_id.eq(id))
            .count()
            .get_result(conn)
            .await?;
        let permissions = group_permissions::table
            .filter(group_permissions::group_id.eq(id))
            .count()
            .get_result(conn)
            .await?;
        Ok((members, permissions))
    }
}

impl Group {
    /// Makes change forms loaded before stale although no column changed (only the
    /// permissions did).
    pub async fn bump_version(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        super::bump_version(conn, "groups", id).await
    }
}
