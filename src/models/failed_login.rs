use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ipnet::IpNet;
use uuid::Uuid;

use super::row_repr;
use crate::schema::failed_logins;

/// One failed back-office login, counted by the throttle.
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = failed_logins, check_for_backend(diesel::pg::Pg))]
pub struct FailedLogin {
    pub id: Uuid,
    pub username: String,
    pub ip: Option<IpNet>,
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(FailedLogin, "FailedLogin", |f| f.id);

#[derive(Insertable)]
#[diesel(table_name = failed_logins, check_for_backend(diesel::pg::Pg))]
pub struct NewFailedLogin<'a> {
    pub id: Uuid,
    pub username: &'a str,
    pub ip: Option<IpNet>,
    pub user_agent: &'a str,
}

/// Advisory-lock classes (the two-key form): an account key and an address never share a lock,
/// and every caller takes the account's before the address's, so two attempts cannot deadlock.
const LOCK_ACCOUNT: i32 = 1;
const LOCK_ADDRESS: i32 = 2;

impl NewFailedLogin<'_> {
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(failed_logins::table)
            .values(self)
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl FailedLogin {
    /// Takes the transaction-scoped locks of an account key and an address, so attempts for
    /// either are counted one at a time.
    pub async fn lock_keys(
        conn: &mut AsyncPgConnection,
        key: &str,
        ip: Option<IpNet>,
    ) -> QueryResult<()> {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<Integer, _>(LOCK_ACCOUNT)
            .bind::<Text, _>(key)
            .execute(conn)
            .await?;
        if let Some(ip) = ip {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind::<Integer, _>(LOCK_ADDRESS)
                .bind::<Text, _>(ip.to_string())
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Failures recorded under the account key `key` since `since`.
    pub async fn count_for_account(
        conn: &mut AsyncPgConnection,
        key: &str,
        since: DateTime<Utc>,
    ) -> QueryResult<i64> {
        failed_logins::table
            .filter(failed_logins::username.eq(key))
            .filter(failed_logins::created_at.gt(since))
            .count()
            .get_result(conn)
            .await
    }

    /// Failures recorded from the address `ip` since `since`.
    pub async fn count_for_address(
        conn: &mut AsyncPgConnection,
        ip: IpNet,
        since: DateTime<Utc>,
    ) -> QueryResult<i64> {
        failed_logins::table
            .filter(failed_logins::ip.eq(ip))
            .filter(failed_logins::created_at.gt(since))
            .count()
            .get_result(conn)
            .await
    }

    /// Drops the failures of the account key and of the address recorded before `before`.
    pub async fn prune(
        conn: &mut AsyncPgConnection,
        key: &str,
        ip: Option<IpNet>,
        before: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::delete(
            failed_logins::table
                .filter(failed_logins::username.eq(key))
                .filter(failed_logins::created_at.lt(before)),
        )
        .execute(conn)
        .await?;
        if let Some(ip) = ip {
            diesel::delete(
                failed_logins::table
                    .filter(failed_logins::ip.eq(ip))
                    .filter(failed_logins::created_at.lt(before)),
            )
            .execute(conn)
            .await?;
        }
        Ok(())
    }

    /// Drops every failure of the account key; returns how many.
    pub async fn clear_account(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<usize> {
        diesel::delete(failed_logins::table.filter(failed_logins::username.eq(key)))
            .execute(conn)
            .await
    }

    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        diesel::delete(failed_logins::table.find(id))
            .execute(conn)
            .await?;
        Ok(())
    }
}
