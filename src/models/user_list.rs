//! The users change list's query: search words, flags, source, creation dates, a sort column
//! and a page, turned into Diesel queries whose time does not grow with the table (see
//! [`UserListQuery::load_page`]).

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Text, Untyped};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::row_count::MatchCount;
use super::user::User;
use crate::schema::users;

/// Filtered lists whose matches the planner estimates above this are not counted: the page says
/// "about N". Below it the planner's guesses for `ILIKE '%word%'` are too rough to show (it
/// falls back to a fixed fraction), so matches are counted, up to a cap.
pub const ESTIMATE_ABOVE: i64 = 50_000;

/// The columns a users list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserOrder {
    #[default]
    Username,
    Email,
    IsStaff,
    IsActive,
    /// Local accounts (no sub) first when ascending.
    Source,
    CreatedAt,
}

/// Which users a list shows, in which order, which page.
#[derive(Debug, Clone, Default)]
pub struct UserListQuery<'a> {
    /// Every word must match the username, the email or the Cognito sub.
    pub words: Vec<&'a str>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    pub is_active: Option<bool>,
    /// `Some(true)`: Cognito users only; `Some(false)`: local accounts only.
    pub cognito: Option<bool>,
    pub created_from: Option<NaiveDate>,
    /// Inclusive.
    pub created_to: Option<NaiveDate>,
    pub order: UserOrder,
    pub descending: bool,
    /// From 1.
    pub page: i64,
    pub per_page: i64,
}

impl UserListQuery<'_> {
    /// Whether anything narrows the list (then the count is of the matches, not the table).
    pub fn is_filtered(&self) -> bool {
        !self.words.is_empty()
            || self.is_staff.is_some()
            || self.is_superuser.is_some()
            || self.is_active.is_some()
            || self.cognito.is_some()
            || self.created_from.is_some()
            || self.created_to.is_some()
    }

    fn words(&self) -> impl Iterator<Item = &str> {
        self.words.iter().copied()
    }

    /// The list's conditions. A search word flagged in `broad` (one that matches a large share of
    /// the users) is tested row by row with `strpos`, which no index serves: the trigram indexes
    /// then only fetch the rows of the selective words, instead of building a bitmap of, say,
    /// every `shop.example` address to intersect with a few thousand `olivia`s.
    fn filtered_with(&self, broad: &[bool]) -> users::BoxedQuery<'static, Pg> {
        let mut query = users::table.into_boxed();
        for (i, word) in self.words().enumerate() {
            // Every word must match one of the fields (Django's search rule).
            if broad.get(i).copied().unwrap_or(false) {
                query = query.filter(
                    sql::<Bool>(
                        "strpos(lower(users.username || ' ' || users.email || ' ' || \
                         coalesce(users.cognito_sub, '')), lower(",
                    )
                    .bind::<Text, _>(word.to_owned())
                    .sql(")) > 0"),
                );
            } else {
                let pattern = crate::db::like_pattern(word);
                query = query.filter(
                    users::username
                        .ilike(pattern.clone())
                        .or(users::email.ilike(pattern.to_lowercase()))
                        .or(users::cognito_sub.ilike(pattern).assume_not_null()),
                );
            }
        }
        // The flags go in as literal conditions (`is_staff`, `NOT is_staff`), not `= $1`: a
        // generic plan cannot use the partial index on staff for a bound parameter.
        macro_rules! flag {
            ($wanted:expr, $column:expr) => {
                match $wanted {
                    Some(true) => query = query.filter($column),
                    Some(false) => query = query.filter(diesel::dsl::not($column)),
                    None => {}
                }
            };
        }
        flag!(self.is_staff, users::is_staff);
        flag!(self.is_superuser, users::is_superuser);
        flag!(self.is_active, users::is_active);
        match self.cognito {
            Some(true) => query = query.filter(users::cognito_sub.is_not_null()),
            Some(false) => query = query.filter(users::cognito_sub.is_null()),
            None => {}
        }
        let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
        if let Some(d) = self.created_from {
            query = query.filter(users::created_at.ge(midnight(d)));
        }
        if let Some(d) = self.created_to.and_then(|d| d.succ_opt()) {
            query = query.filter(users::created_at.lt(midnight(d)));
        }
        query
    }

    fn filtered(&self) -> users::BoxedQuery<'static, Pg> {
        self.filtered_with(&[])
    }

    /// Sorted by the chosen column, then by id in the same direction: a unique tie-breaker keeps
    /// pages stable, and one `(column, id)` index serves both directions.
    fn ordered(&self, query: users::BoxedQuery<'static, Pg>) -> users::BoxedQuery<'static, Pg> {
        macro_rules! by {
            ($column:expr) => {
                if self.descending {
                    query.order_by(($column.desc(), users::id.desc()))
                } else {
                    query.order_by(($column.asc(), users::id.asc()))
                }
            };
        }
        match self.order {
            UserOrder::Email => by!(users::email),
            UserOrder::IsStaff => by!(users::is_staff),
            UserOrder::IsActive => by!(users::is_active),
            UserOrder::Source => by!(users::cognito_sub.is_not_null()),
            UserOrder::CreatedAt => by!(users::created_at),
            UserOrder::Username => by!(users::username),
        }
    }

    fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// The page's ids, found in the index ordered like the list (index-only when nothing but the
    /// order is asked), then never more than a page of rows read.
    async fn walk(&self, conn: &mut AsyncPgConnection, broad: &[bool]) -> QueryResult<Vec<Uuid>> {
        self.ordered(self.filtered_with(broad))
            .select(users::id)
            .limit(self.per_page)
            .offset(self.offset())
            .load(conn)
            .await
    }

    /// One page of the list and how many users match, in a time that does not grow with the
    /// table (but for deep pages of a long list, which walk an index up to their offset):
    ///
    /// - unfiltered: the caller's table count, and the page walked off the sort index;
    /// - more than [`ESTIMATE_ABOVE`] matches by the planner's estimate: "about N", and the page
    ///   walked off the sort index, testing each row (broad matches soon fill a page);
    /// - otherwise counted up to `cap`: search words fetch every match (at most `cap` + 1) through
    ///   the trigram indexes and the page is sorted among them in the same statement; flags alone
    ///   are counted in their indexes and the page walked.
    pub async fn load_page(
        &self,
        conn: &mut AsyncPgConnection,
        cap: i64,
    ) -> QueryResult<(Option<MatchCount>, Vec<User>)> {
        // Planning and running a page takes milliseconds; compiling it with LLVM would take more.
        diesel::sql_query("SET LOCAL jit = off")
            .execute(conn)
            .await?;
        if !self.is_filtered() {
            let ids = self.walk(conn, &[]).await?;
            return Ok((None, rows_by_ids(conn, &ids).await?));
        }
        let estimate = estimate_rows(conn, self.filtered().select(users::id)).await?;
        let words: Vec<&str> = self.words().collect();
        if estimate > ESTIMATE_ABOVE {
            let ids = self.walk(conn, &vec![true; words.len()]).await?;
            let count = if self.page == 1 && (ids.len() as i64) < self.per_page {
                MatchCount::Exact(ids.len() as i64)
            } else {
                MatchCount::About(estimate)
            };
            return Ok((Some(count), rows_by_ids(conn, &ids).await?));
        }
        if words.is_empty() {
            let n = capped_count(conn, self.filtered().select(users::id), cap).await?;
            let ids = self.walk(conn, &[]).await?;
            let count = if n > cap {
                MatchCount::MoreThan(cap)
            } else {
                MatchCount::Exact(n)
            };
            return Ok((Some(count), rows_by_ids(conn, &ids).await?));
        }
        // Words of one or two characters have no trigram: they can only be tested row by row.
        let long = |w: &str| w.chars().count() >= 3;
        let mut broad: Vec<bool> = words.iter().map(|w| !long(w)).collect();
        if words.len() > 1 {
            for (i, word) in words.iter().enumerate().filter(|(_, w)| long(w)) {
                let one = UserListQuery {
                    words: vec![*word],
                    ..UserListQuery::default()
                };
                broad[i] =
                    estimate_rows(conn, one.filtered().select(users::id)).await? > ESTIMATE_ABOVE;
            }
        }
        if broad.iter().all(|b| *b) {
            // Every long word broad: let them all fetch through the indexes after all.
            for (i, word) in words.iter().enumerate() {
                broad[i] = !long(word);
            }
        }
        if broad.iter().any(|b| !b) {
            // Local to this transaction: the planner underrates how selective `ILIKE '%word%'`
            // is and, with a LIMIT, would pick a full scan hoping to stop early, which takes a
            // second at a million rows when matches are rare.
            diesel::sql_query("SET LOCAL enable_seqscan = off")
                .execute(conn)
                .await?;
        }
        let (n, ids) = self.capped_page(conn, &broad, cap).await?;
        if n <= cap {
            return Ok((Some(MatchCount::Exact(n)), rows_by_ids(conn, &ids).await?));
        }
        diesel::sql_query("SET LOCAL enable_seqscan = on")
            .execute(conn)
            .await?;
        let ids = self.walk(conn, &broad).await?;
        Ok((
            Some(MatchCount::MoreThan(cap)),
            rows_by_ids(conn, &ids).await?,
        ))
    }

    /// Up to `cap + 1` matches with their sort keys, materialised once; returns how many there
    /// are and the ids of this page among them.
    async fn capped_page(
        &self,
        conn: &mut AsyncPgConnection,
        broad: &[bool],
        cap: i64,
    ) -> QueryResult<(i64, Vec<Uuid>)> {
        let matches = self
            .filtered_with(broad)
            .select((
                users::id,
                users::username,
                users::email,
                users::is_staff,
                users::is_active,
                users::cognito_sub.is_not_null(),
                users::created_at,
            ))
            .limit(cap + 1);
        let key = match self.order {
            UserOrder::Username => "username",
            UserOrder::Email => "email",
            UserOrder::IsStaff => "is_staff",
            UserOrder::IsActive => "is_active",
            UserOrder::Source => "cognito",
            UserOrder::CreatedAt => "created_at",
        };
        let dir = if self.descending { "DESC" } else { "ASC" };
        let found: CappedPage = Wrapped {
            before: "WITH m (id, username, email, is_staff, is_active, cognito, created_at) \
                     AS MATERIALIZED ("
                .to_owned(),
            inner: matches,
            // Column name and direction come from the match above, never from the request.
            after: format!(
                ") SELECT (SELECT count(*) FROM m) AS n, \
                 ARRAY(SELECT id FROM m ORDER BY {key} {dir}, id {dir} LIMIT {} OFFSET {}) AS ids",
                self.per_page,
                self.offset()
            ),
        }
        .get_result(conn)
        .await?;
        Ok((found.n, found.ids))
    }

    /// Every match, in order, in batches of `batch` rows by keyset on the id (for the CSV
    /// export: memory stays bounded whatever the table size).
    pub async fn batch_after(
        &self,
        conn: &mut AsyncPgConnection,
        after: Option<Uuid>,
        batch: i64,
    ) -> QueryResult<Vec<User>> {
        let mut query = self.filtered().order_by(users::id.asc());
        if let Some(after) = after {
            query = query.filter(users::id.gt(after));
        }
        query
            .select(User::as_select())
            .limit(batch)
            .load(conn)
            .await
    }
}

/// Rows by id, in the order of `ids`.
async fn rows_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<User> = users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(conn)
        .await?;
    rows.sort_by_key(|u| ids.iter().position(|id| *id == u.id));
    Ok(rows)
}

/// A query between two pieces of SQL of ours, its bind parameters kept (Diesel has no `WITH`,
/// `EXPLAIN` or `count(*)` over a subquery with a `LIMIT`). Results load by column name.
struct Wrapped<Q> {
    before: String,
    inner: Q,
    after: String,
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Wrapped<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(&self.before);
        self.inner.walk_ast(out.reborrow())?;
        out.push_sql(&self.after);
        Ok(())
    }
}

impl<Q> QueryId for Wrapped<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Wrapped<Q> {
    type SqlType = Untyped;
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct CappedPage {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Array<diesel::sql_types::Uuid>)]
    ids: Vec<Uuid>,
}

/// The planner's estimate of the rows `query` returns (the `rows=` of its plan's top line), in a
/// fraction of a millisecond.
async fn estimate_rows<Q: QueryFragment<Pg> + Send>(
    conn: &mut AsyncPgConnection,
    query: Q,
) -> QueryResult<i64> {
    let plan: Vec<PlanLine> = Wrapped {
        before: "EXPLAIN ".to_owned(),
        inner: query,
        after: String::new(),
    }
    .load(conn)
    .await?;
    // (`first()` would be Diesel's query method here.)
    Ok(match plan.as_slice() {
        [top, ..] => plan_rows(&top.line).unwrap_or(0),
        [] => 0,
    })
}

/// `rows=123` out of a plan line such as `Seq Scan on users  (cost=0.00..1.05 rows=123 width=16)`.
fn plan_rows(line: &str) -> Option<i64> {
    let rest = &line[line.find(" rows=")? + " rows=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// How many rows `query` returns, counting no further than `cap + 1`.
async fn capped_count<Q: QueryFragment<Pg> + Send>(
    conn: &mut AsyncPgConnection,
    query: Q,
    cap: i64,
) -> QueryResult<i64> {
    let row: CountRow = Wrapped {
        before: "SELECT count(*) AS n FROM (".to_owned(),
        inner: query,
        after: format!(" LIMIT {}) AS capped", cap + 1),
    }
    .get_result(conn)
    .await?;
    Ok(row.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_rows_reads_the_estimate() {
        assert_eq!(
            plan_rows("Seq Scan on users  (cost=0.00..44848.00 rows=181818 width=16)"),
            Some(181_818)
        );
        assert_eq!(plan_rows("Limit"), None);
    }
}
