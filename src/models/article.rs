use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::row_repr;
use crate::schema::articles;

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
