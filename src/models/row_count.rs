//! How many rows a table holds, for list summaries and the index: exact when small, the
//! planner's estimate when large (an exact `COUNT(*)` scans the whole table, Django admin's known
//! pain on big tables).

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The tables that may be counted: their names go into SQL, so only these are accepted.
const COUNTED: &[&str] = &["articles", "groups", "users"];

/// Above this many rows (by the planner's estimate) a table is counted by estimate only.
pub const EXACT_COUNT_LIMIT: i64 = 50_000;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A row count for display: exact when small, the planner's estimate when large.
#[derive(Debug, Clone, Copy)]
pub struct RowCount {
    pub n: i64,
    pub exact: bool,
}

impl RowCount {
    pub fn display(&self) -> String {
        if self.exact {
            self.n.to_string()
        } else {
            format!("about {}", self.n)
        }
    }

    /// Counts `table`, one of the tables the back office lists (any other name is refused,
    /// never put into SQL).
    pub async fn of(conn: &mut AsyncPgConnection, table: &str) -> diesel::QueryResult<Self> {
        let Some(table) = COUNTED.iter().find(|t| **t == table) else {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("count of unknown table {table}").into(),
            ));
        };
        let estimate: Option<Count> = diesel::sql_query(
            "SELECT reltuples::bigint AS n FROM pg_class WHERE oid = to_regclass($1)",
        )
        .bind::<Text, _>(*table)
        .get_result(conn)
        .await
        .ok();
        // -1 means "never analysed": the table may be small, count it.
        if let Some(Count { n }) = estimate
            && n >= EXACT_COUNT_LIMIT
        {
            return Ok(RowCount { n, exact: false });
        }
        let exact: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(conn)
            .await?;
        Ok(RowCount {
            n: exact.n,
            exact: true,
        })
    }
}

/// How many rows a filtered list matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchCount {
    Exact(i64),
    /// More than this many (the cap of a counted list).
    MoreThan(i64),
    /// The planner's estimate.
    About(i64),
}

impl MatchCount {
    /// How many rows the page links should reach.
    pub fn pages_of(&self) -> i64 {
        match *self {
            MatchCount::Exact(n) | MatchCount::MoreThan(n) | MatchCount::About(n) => n,
        }
    }
}
