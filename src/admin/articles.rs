//! Articles admin: the change list (search by name, filter by author), the add and change
//! forms. Delete, bulk delete and history are the generic ones of [`ModelAdmin`].

use actix_web::{HttpResponse, web};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::forms::{Field, FormPage, Input, Row};
use super::history::{self, Action, Changes};
use super::kit::{Admin, FieldErrors, after_save, flash, page, parse_id, redirect};
use super::lock::{self, SaveError};
use super::model_admin::{
    Cell, Column, Count, Fieldsets, Filter, ListParams, ModelAdmin, Related, load_one, target,
};
use crate::auth::csrf::{AdminForm, FormData};
use crate::db;
use crate::error::AdminError;
use crate::models::{
    Article, ArticleChanges, ArticleOrder, ArticleSearch, NewArticle, User, new_id,
};
use crate::state::AppState;

const MODEL: &str = "articles";
const MAX_NAME_LEN: usize = 50;

/// An article as the back office shows it: the row and its author's username.
pub struct Articles;

impl ModelAdmin for Articles {
    type Object = (Article, String);

    const MODEL: &'static str = MODEL;
    const SINGULAR: &'static str = "article";
    const PLURAL: &'static str = "articles";
    const NAME_FIELD: &'static str = "name";
    const COLUMNS: &'static [Column] = &[
        Column::new("created_at", "Created"),
        Column::new("name", "Name"),
        Column::new("author", "Author"),
    ];
    const DEFAULT_ORDER: &'static str = "-created_at";
    const SEARCH_FIELDS: &'static [&'static str] = &["name"];
    const FILTERS: &'static [Filter] = &[Filter::text("author", "Author (username)")];
    const FIELDSETS: Fieldsets = &[("", &["name", "author", "body"])];

    fn id((article, _): &Self::Object) -> Uuid {
        article.id
    }

    fn name((article, _): &Self::Object) -> &str {
        &article.name
    }

    fn label((article, author): &Self::Object) -> String {
        format!("{} (by {author})", article.name)
    }

    fn cells((article, author): &Self::Object) -> Vec<Cell> {
        vec![
            Cell::Text(article.name.clone()),
            Cell::Text(author.clone()),
            Cell::Text(history::format_time(article.created_at)),
        ]
    }

    async fn load(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        lock: bool,
    ) -> QueryResult<Vec<Self::Object>> {
        Article::with_authors(conn, ids, lock).await
    }

    async fn list(
        conn: &mut AsyncPgConnection,
        params: &ListParams,
    ) -> QueryResult<(Option<Count>, Vec<Self::Object>)> {
        let (column, descending) = params.sort();
        let search = ArticleSearch {
            words: params.words().collect(),
            author: params.text("author"),
            order: match column {
                "name" => ArticleOrder::Name,
                "author" => ArticleOrder::Author,
                _ => ArticleOrder::CreatedAt,
            },
            descending,
            limit: params.per_page,
            offset: params.offset(),
        };
        let (count, rows) = Article::search(conn, &search).await?;
        Ok((params.is_filtered().then_some(Count::Exact(count)), rows))
    }

    async fn related(
        _conn: &mut AsyncPgConnection,
        (article, author): &Self::Object,
    ) -> QueryResult<Vec<Related>> {
        Ok(vec![Related::line(format!(
            "Article: {} (by {author})",
            article.name
        ))])
    }

    async fn delete(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
        Article::delete_many(conn, ids).await
    }

    fn routes(cfg: &mut web::ServiceConfig) {
        cfg.service(
            web::resource("/articles/add/")
                .route(web::get().to(add_page))
                .route(web::post().to(add_submit)),
        )
        .service(
            web::resource("/articles/{id}/change/")
                .route(web::get().to(change_page))
                .route(web::post().to(change_submit)),
        );
    }
}

/// The list's parameters from its query string: newest first unless `o` names a column.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn list_params(query_string: &str) -> ListParams {
    ListParams::parse::<Articles>(query_string)
}

pub(crate) struct Values {
    pub(crate) name: String,
    pub(crate) body: String,
    pub(crate) author: String,
    /// The version token the form carries (empty on the add form).
    pub(crate) lock: String,
}

impl Values {
    fn field(&self, name: &str) -> Option<Row> {
        Some(match name {
            "name" => Row::new("Name", Input::text(&self.name).max(MAX_NAME_LEN).required()),
            "author" => Row::new(
                "Author (username)",
                Input::text(&self.author).required().no_caps(),
            ),
            "body" => Row::new("Body", Field::TextArea(self.body.clone(), 10)),
            _ => return None,
        })
    }
}

fn form_page(
    admin: Admin,
    id: Option<Uuid>,
    values: Values,
    errors: FieldErrors,
    conflict: String,
) -> Result<HttpResponse, AdminError> {
    let readonly = id.is_some() && !admin.ctx.can(MODEL, "change");
    let object = id.map(|id| (id, values.name.as_str(), values.lock.clone()));
    let field = |name: &str| values.field(name);
    let mut form = FormPage::new::<Articles>(admin.ctx, object, readonly, &errors, field)?;
    form.conflict = conflict;
    page(&form)
}

/// `GET /admin/articles/add/`
pub async fn add_page(admin: Admin) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    let author = admin.staff.user.username.clone();
    form_page(
        admin,
        None,
        Values {
            name: String::new(),
            body: String::new(),
            author,
            lock: String::new(),
        },
        FieldErrors::new(),
        String::new(),
    )
}

/// What is wrong with an article name, if anything.
pub(crate) fn check_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("This field is required.".into())
    } else if name.chars().count() > MAX_NAME_LEN {
        Some(format!(
            "Ensure this value has at most {MAX_NAME_LEN} characters (it has {}).",
            name.chars().count()
        ))
    } else {
        None
    }
}

/// Validates a posted article; returns the author on success.
async fn validate(
    conn: &mut AsyncPgConnection,
    values: &Values,
    errors: &mut FieldErrors,
) -> Result<Option<User>, AdminError> {
    if let Some(problem) = check_name(&values.name) {
        errors.add("name", problem);
    }
    let author = User::find_by_username(conn, &values.author).await?;
    if author.is_none() {
        errors.add("author", "No user with that username.");
    }
    Ok(author)
}

pub(crate) fn posted(form: &FormData) -> Values {
    Values {
        name: form.get("name").trim().to_owned(),
        // Browsers send CRLF line ends; store LF. A lone CR (old Mac line ends, hand-made
        // posts) is a line end too, not a character to keep.
        body: form.get("body").replace("\r\n", "\n").replace('\r', "\n"),
        author: form.get("author").trim().to_owned(),
        lock: form.get(lock::FIELD).to_owned(),
    }
}

/// `POST /admin/articles/add/`
pub async fn add_submit(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "add")?;
    let form = form.0;
    let values = posted(&form);
    let mut errors = FieldErrors::new();
    let mut conn = db::connection(&state.pool).await?;
    let author = validate(&mut conn, &values, &mut errors).await?;
    let Some(author) = author.filter(|_| errors.is_empty()) else {
        return form_page(admin, None, values, errors, String::new());
    };
    let actor = admin.staff.user.clone();
    let article = conn
        .transaction(async |conn| {
            let article = NewArticle {
                id: new_id(),
                name: &values.name,
                body: &values.body,
                author_id: author.id,
            }
            .insert(conn)
            .await?;
            let mut changes = Changes::default();
            changes.diff("name", None, Some(&article.name));
            changes.diff("author", None, Some(&author.username));
            history::write(
                conn,
                &actor,
                target::<Articles>(article.id, &article.name),
                Action::Add,
                "Added.",
                changes.into_value(),
            )
            .await?;
            Ok::<_, diesel::result::Error>(article)
        })
        .await?;
    flash(
        &admin.session,
        &format!("The article “{}” was added successfully.", article.name),
    );
    Ok(redirect(&after_save(&form, MODEL, article.id)))
}

/// `GET /admin/articles/{id}/change/`
pub async fn change_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let (article, author) = load_one::<Articles>(&mut conn, id, false).await?;
    form_page(
        admin,
        Some(id),
        Values {
            name: article.name,
            body: article.body,
            author,
            lock: lock::token(article.updated_at),
        },
        FieldErrors::new(),
        String::new(),
    )
}

/// `POST /admin/articles/{id}/change/`
pub async fn change_submit(
    admin: Admin,
    path: web::Path<String>,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "change")?;
    let id = parse_id(&path)?;
    let form = form.0;
    let values = posted(&form);
    let mut errors = FieldErrors::new();
    let mut conn = db::connection(&state.pool).await?;
    load_one::<Articles>(&mut conn, id, false).await?;
    let author = validate(&mut conn, &values, &mut errors).await?;
    let Some(author) = author.filter(|_| errors.is_empty()) else {
        return form_page(admin, Some(id), values, errors, String::new());
    };
    let actor = admin.staff.user.clone();
    let saved = conn
        .transaction(async |conn| {
            // The old values are read under the row lock, so the history shows what this save
            // really replaced.
            let old = Article::lock(conn, id).await?;
            if !lock::is_current(old.updated_at, &values.lock) {
                return Err(SaveError::Stale);
            }
            let old_author = User::username_of(conn, old.author_id).await?;
            let changes = ArticleChanges {
                name: Some(&values.name),
                body: Some(&values.body),
                author_id: Some(author.id),
            };
            Article::update(conn, id, &changes).await?;
            let mut changes = Changes::default();
            changes.diff("name", &old.name, &values.name);
            changes.diff("body", &old.body, &values.body);
            changes.diff("author", &old_author, &author.username);
            history::write(
                conn,
                &actor,
                target::<Articles>(id, &values.name),
                Action::Change,
                &changes.message(),
                changes.into_value(),
            )
            .await?;
            Ok::<(), SaveError>(())
        })
        .await;
    match saved {
        Ok(()) => {}
        Err(SaveError::Stale) => {
            let (fresh, _) = load_one::<Articles>(&mut conn, id, false).await?;
            let values = Values {
                lock: lock::token(fresh.updated_at),
                ..values
            };
            let conflict = lock::conflict_message("article");
            let response = form_page(admin, Some(id), values, errors, conflict)?;
            return Ok(lock::conflict(response));
        }
        Err(SaveError::Forbidden) => return Err(AdminError::Forbidden),
        // Deleted by someone else while this form was open.
        Err(SaveError::Db(diesel::result::Error::NotFound)) => return Err(AdminError::NotFound),
        Err(SaveError::Db(e)) => return Err(e.into()),
    }
    flash(
        &admin.session,
        &format!("The article “{}” was changed successfully.", values.name),
    );
    Ok(redirect(&after_save(&form, MODEL, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_unless_o_names_a_column() {
        // Found by the admin_form fuzz target: any `o=` in the query string (`?foo=1`, `?o=x`)
        // used to switch the list to oldest first.
        for query in ["", "foo=1", "o=", "o=bogus", "author=bob&q=o%3D"] {
            assert_eq!(list_params(query).order, "-created_at", "{query:?}");
        }
        assert_eq!(list_params("o=name").order, "name");
        assert_eq!(list_params("o=-author").order, "-author");
        assert_eq!(list_params("o=created_at").order, "created_at");
    }

    #[test]
    fn body_line_ends_become_lf() {
        // Caught by the admin_form fuzz target's checks: a lone CR was stored as is.
        let form = FormData::parse(b"name=a&body=one%0D%0Atwo%0Dthree%0D%0D%0Afour%0A&author=x");
        assert_eq!(posted(&form).body, "one\ntwo\nthree\n\nfour\n");
    }
}
