use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::row_repr;
use crate::schema::{articles, users};

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = articles, check_for_backend(diesel::pg::Pg))]
pub struct Article {
    pub id: Uuid,
    pub name: String,
    pub body: String,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(Article, "Article", |a| a.id);

#[derive(Insertable)]
#[diesel(table_name = articles, check_for_backend(diesel::pg::Pg))]
pub struct NewArticle<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub body: &'a str,
    pub author_id: Uuid,
}

impl NewArticle<'_> {
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<Article> {
        diesel::insert_into(articles::table)
            .values(self)
            .returning(Article::as_returning())
            .get_result(conn)
            .await
    }
}

/// What a change may set on an article (`None` leaves a column as it is).
#[derive(AsChangeset, Default)]
#[diesel(table_name = articles, check_for_backend(diesel::pg::Pg))]
pub struct ArticleChanges<'a> {
    pub name: Option<&'a str>,
    pub body: Option<&'a str>,
    pub author_id: Option<Uuid>,
}

/// How a list of articles is sorted; every order ends with the id, so pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleOrder {
    Name,
    Author,
    CreatedAt,
}

/// Which articles a list shows and how.
pub struct ArticleSearch<'a> {
    /// Every word must occur in the name (case-insensitive; `%` and `_` are literal).
    pub words: Vec<&'a str>,
    /// The author's username, in any case (empty: any author).
    pub author: &'a str,
    pub order: ArticleOrder,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

impl Article {
    /// The article and its author's username.
    pub async fn find_with_author(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<(Article, String)>> {
        articles::table
            .inner_join(users::table)
            .filter(articles::id.eq(id))
            .select((Article::as_select(), users::username))
            .first(conn)
            .await
            .optional()
    }

    /// The articles `ids` with their authors' usernames, by name; with `lock`, the article rows
    /// locked for update first (inside a transaction).
    pub async fn with_authors(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> QueryResult<Vec<(Article, String)>> {
        if lock {
            articles::table
                .filter(articles::id.eq_any(ids))
                .for_update()
                .select(articles::id)
                .load::<Uuid>(conn)
                .await?;
        }
        articles::table
            .inner_join(users::table)
            .filter(articles::id.eq_any(ids))
            .order((articles::name.asc(), articles::id.asc()))
            .select((Article::as_select(), users::username))
            .load(conn)
            .await
    }

    /// The article's row, locked for update (inside a transaction).
    pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Article> {
        articles::table
            .find(id)
            .for_update()
            .select(Article::as_select())
            .first(conn)
            .await
    }

    /// Applies `changes`; `None` when the article does not exist.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &ArticleChanges<'_>,
    ) -> QueryResult<Option<Article>> {
        diesel::update(articles::table.find(id))
            .set(changes)
            .returning(Article::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// Applies `changes` only if the article is still at version `updated_at` (`None`: it
    /// changed or went since it was read).
    pub async fn update_if_current(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        updated_at: DateTime<Utc>,
        changes: &ArticleChanges<'_>,
    ) -> QueryResult<Option<Article>> {
        diesel::update(
            articles::table
                .filter(articles::id.eq(id))
                .filter(articles::updated_at.eq(updated_at)),
        )
        .set(changes)
        .returning(Article::as_returning())
        .get_result(conn)
        .await
        .optional()
    }

    /// Deletes the article if it is still at version `updated_at`; whether it did.
    pub async fn delete_if_current(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        updated_at: DateTime<Utc>,
    ) -> QueryResult<bool> {
        let deleted = diesel::delete(
            articles::table
                .filter(articles::id.eq(id))
                .filter(articles::updated_at.eq(updated_at)),
        )
        .execute(conn)
        .await?;
        Ok(deleted > 0)
    }

    pub async fn delete_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
        diesel::delete(articles::table.filter(articles::id.eq_any(ids)))
            .execute(conn)
            .await
    }

    /// How many articles match `search`, and one page of them with their authors' usernames.
    pub async fn search(
        conn: &mut AsyncPgConnection,
        search: &ArticleSearch<'_>,
    ) -> QueryResult<(i64, Vec<(Article, String)>)> {
        let filtered = || {
            let mut q = articles::table.inner_join(users::table).into_boxed();
            for word in &search.words {
                q = q.filter(articles::name.ilike(crate::db::like_pattern(word)));
            }
            if !search.author.is_empty() {
                // ILIKE without wildcards: the author's username in any case.
                q = q.filter(users::username.ilike(crate::db::like_escape(search.author)));
            }
            q
        };
        let count: i64 = filtered().count().get_result(conn).await?;
        let q = filtered();
        let q = match (search.order, search.descending) {
            (ArticleOrder::Name, false) => q.order((articles::name.asc(), articles::id.asc())),
            (ArticleOrder::Name, true) => q.order((articles::name.desc(), articles::id.desc())),
            (ArticleOrder::Author, false) => q.order((users::username.asc(), articles::id.asc())),
            (ArticleOrder::Author, true) => q.order((users::username.desc(), articles::id.desc())),
            (ArticleOrder::CreatedAt, false) => {
                q.order((articles::created_at.asc(), articles::id.asc()))
            }
            (ArticleOrder::CreatedAt, true) => {
                q.order((articles::created_at.desc(), articles::id.desc()))
            }
        };
        let rows = q
            .select((Article::as_select(), users::username))
            .limit(search.limit)
            .offset(search.offset)
            .load(conn)
            .await?;
        Ok((count, rows))
    }

    /// How many articles `author` wrote, and the names of the first `limit` (by name).
    pub async fn names_by_author(
        conn: &mut AsyncPgConnection,
        author: Uuid,
        limit: i64,
    ) -> QueryResult<(i64, Vec<String>)> {
        let count = articles::table
            .filter(articles::author_id.eq(author))
            .count()
            .get_result(conn)
            .await?;
        let names = articles::table
            .filter(articles::author_id.eq(author))
            .order(articles::name.asc())
            .select(articles::name)
            .limit(limit)
            .load(conn)
            .await?;
        Ok((count, names))
    }

    /// How many articles the users `authors` wrote together.
    pub async fn count_by_authors(
        conn: &mut AsyncPgConnection,
        authors: &[Uuid],
    ) -> QueryResult<i64> {
        articles::table
            .filter(articles::author_id.eq_any(authors))
            .count()
            .get_result(conn)
            .await
    }
}
