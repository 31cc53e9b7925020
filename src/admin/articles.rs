//! Articles admin: list with search and an author filter, add, change, delete, history.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::history::{self, Action, Changes, Target};
use super::lock::{self, SaveError};
use super::login::FieldErrors;
use super::simple::{
    self, BulkKind, DeleteConfirmPage, ObjectListPage, PER_PAGE, Row, Selected, SimpleParams,
};
use super::{Admin, AdminError, PageCtx, flash, page, redirect};
use crate::auth::csrf::{AdminForm, FormData};
use crate::db;
use crate::models::{Article, NewArticle, User, new_id};
use crate::schema::{articles, users};
use crate::startup::AppState;

const MODEL: &str = "articles";
const COLUMNS: &[(&str, &str)] = &[
    ("created_at", "Created"),
    ("name", "Name"),
    ("author", "Author"),
];
const MAX_NAME_LEN: usize = 50;

fn parse_id(raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw).map_err(|_| AdminError::NotFound)
}

async fn load_article(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<(Article, String), AdminError> {
    articles::table
        .inner_join(users::table)
        .filter(articles::id.eq(id))
        .select((Article::as_select(), users::username))
        .first(conn)
        .await
        .optional()?
        .ok_or(AdminError::NotFound)
}

/// The list's parameters from its query string: newest first unless `o` names a column. (It
/// used to look for `o=` anywhere in the query string, so `?foo=1` or `?o=bogus` sorted oldest
/// first; the admin_form fuzz target's order check caught it.)
pub(crate) fn list_params(query_string: &str) -> SimpleParams {
    SimpleParams::parse(
        query_string,
        &["created_at", "name", "author"],
        "-created_at",
        "author",
    )
}

/// `GET /admin/articles/?q=&author=&o=&p=`
pub async fn list(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let params = list_params(req.query_string());
    let filtered = || {
        let mut q = articles::table.inner_join(users::table).into_boxed();
        for word in params.q.split_whitespace().take(8) {
            q = q.filter(articles::name.ilike(db::like_pattern(word)));
        }
        if !params.filter.is_empty() {
            // ILIKE without wildcards: the author's username in any case.
            q = q.filter(users::username.ilike(db::like_escape(&params.filter)));
        }
        q
    };
    let mut conn = db::connection(&state.pool).await?;
    let count: i64 = filtered().count().get_result(&mut conn).await?;
    let ordered = match (params.column(), params.descending()) {
        ("name", false) => filtered().order_by(articles::name.asc()),
        ("name", true) => filtered().order_by(articles::name.desc()),
        ("author", false) => filtered().order_by(users::username.asc()),
        ("author", true) => filtered().order_by(users::username.desc()),
        (_, false) => filtered().order_by(articles::created_at.asc()),
        (_, true) => filtered().order_by(articles::created_at.desc()),
    };
    let rows: Vec<(Article, String)> = ordered
        .then_order_by(articles::id.asc())
        .select((Article::as_select(), users::username))
        .limit(PER_PAGE)
        .offset(params.offset())
        .load(&mut conn)
        .await?;
    page(&ObjectListPage {
        page_title: "Select article to change".into(),
        list_url: "/admin/articles/",
        add_url: "/admin/articles/add/",
        can_add: admin.ctx.can(MODEL, "add"),
        can_delete: admin.ctx.can(MODEL, "delete"),
        ctx: admin.ctx,
        search_label: "Search by name",
        filter_name: "author",
        filter_label: "Author (username)",
        heads: simple::heads(&params, "author", COLUMNS),
        pages: simple::pages(&params, "author", count),
        summary: format!("{count} article{}", if count == 1 { "" } else { "s" }),
        rows: rows
            .into_iter()
            .map(|(a, author)| Row {
                id: a.id,
                url: format!("/admin/articles/{}/change/", a.id),
                cells: vec![a.name, author, history::format_time(a.created_at)],
            })
            .collect(),
        params,
    })
}

#[derive(Template)]
#[template(path = "admin/article_form.html")]
struct ArticleFormPage {
    page_title: String,
    ctx: PageCtx,
    id: Option<Uuid>,
    name: String,
    body: String,
    author: String,
    /// The article's version when the form was first rendered (change form only).
    updated_at_token: String,
    errors: FieldErrors,
    /// Form-wide error (a stale save).
    conflict: String,
    readonly: bool,
}

impl ArticleFormPage {
    fn errors_for(&self, field: &str) -> Vec<String> {
        self.errors.get(field).cloned().unwrap_or_default()
    }
}

pub(crate) struct Values {
    pub(crate) name: String,
    pub(crate) body: String,
    pub(crate) author: String,
    /// The version token the form carries (empty on the add form).
    pub(crate) lock: String,
}

fn form_page(
    admin: Admin,
    id: Option<Uuid>,
    values: Values,
    errors: FieldErrors,
) -> Result<HttpResponse, AdminError> {
    form_page_with(admin, id, values, errors, String::new())
}

fn form_page_with(
    admin: Admin,
    id: Option<Uuid>,
    values: Values,
    errors: FieldErrors,
    conflict: String,
) -> Result<HttpResponse, AdminError> {
    page(&ArticleFormPage {
        page_title: match id {
            Some(_) => format!("Change article {}", values.name),
            None => "Add article".into(),
        },
        readonly: id.is_some() && !admin.ctx.can(MODEL, "change"),
        ctx: admin.ctx,
        id,
        name: values.name,
        body: values.body,
        author: values.author,
        updated_at_token: values.lock,
        errors,
        conflict,
    })
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
        errors.entry("name").or_default().push(problem);
    }
    let author = User::find_by_username(conn, &values.author).await?;
    if author.is_none() {
        errors
            .entry("author")
            .or_default()
            .push("No user with that username.".into());
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

pub(crate) fn after_save(form: &FormData, id: Uuid) -> String {
    if form.has("_continue") {
        format!("/admin/articles/{id}/change/")
    } else if form.has("_addanother") {
        "/admin/articles/add/".into()
    } else {
        "/admin/articles/".into()
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
        return form_page(admin, None, values, errors);
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
                Target {
                    object_type: MODEL,
                    id: article.id,
                    repr: &article.name,
                },
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
    Ok(redirect(&after_save(&form, article.id)))
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
    let (article, author) = load_article(&mut conn, id).await?;
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
    load_article(&mut conn, id).await?;
    let author = validate(&mut conn, &values, &mut errors).await?;
    let Some(author) = author.filter(|_| errors.is_empty()) else {
        return form_page(admin, Some(id), values, errors);
    };
    let actor = admin.staff.user.clone();
    let saved = conn
        .transaction(async |conn| {
            // The old values are read under the row lock, so the history shows what this save
            // really replaced.
            let old: Article = articles::table
                .find(id)
                .for_update()
                .select(Article::as_select())
                .first(conn)
                .await?;
            if !lock::is_current(old.updated_at, &values.lock) {
                return Err(SaveError::Stale);
            }
            let old_author: String = users::table
                .find(old.author_id)
                .select(users::username)
                .first(conn)
                .await?;
            diesel::update(articles::table.find(id))
                .set((
                    articles::name.eq(&values.name),
                    articles::body.eq(&values.body),
                    articles::author_id.eq(author.id),
                ))
                .execute(conn)
                .await?;
            let mut changes = Changes::default();
            changes.diff("name", &old.name, &values.name);
            changes.diff("body", &old.body, &values.body);
            changes.diff("author", &old_author, &author.username);
            history::write(
                conn,
                &actor,
                Target {
                    object_type: MODEL,
                    id,
                    repr: &values.name,
                },
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
            let (fresh, _) = load_article(&mut conn, id).await?;
            let values = Values {
                lock: lock::token(fresh.updated_at),
                ..values
            };
            let response = form_page_with(
                admin,
                Some(id),
                values,
                errors,
                lock::conflict_message("article"),
            )?;
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
    Ok(redirect(&after_save(&form, id)))
}

/// `GET /admin/articles/{id}/delete/`
pub async fn delete_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "delete")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let (article, author) = load_article(&mut conn, id).await?;
    page(&DeleteConfirmPage {
        page_title: "Are you sure?".into(),
        ctx: admin.ctx,
        kind: "article",
        items: vec![format!("Article: {} (by {author})", article.name)],
        repr: article.name,
        action_url: format!("/admin/articles/{id}/delete/"),
        back_url: format!("/admin/articles/{id}/change/"),
    })
}

/// `POST /admin/articles/{id}/delete/`
pub async fn delete_submit(
    admin: Admin,
    path: web::Path<String>,
    _form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "delete")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let (article, _) = load_article(&mut conn, id).await?;
    let target = Target {
        object_type: MODEL,
        id,
        repr: &article.name,
    };
    history::delete_logged(&mut conn, &admin.staff.user, target, "name", |conn, id| {
        diesel::delete(articles::table.find(id)).execute(conn)
    })
    .await?;
    flash(
        &admin.session,
        &format!("The article “{}” was deleted successfully.", article.name),
    );
    Ok(redirect("/admin/articles/"))
}

/// `GET /admin/articles/{id}/history/`
pub async fn history_page(
    admin: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let id = parse_id(&path)?;
    let mut conn = db::connection(&state.pool).await?;
    let (article, _) = load_article(&mut conn, id).await?;
    history::history_page(&mut conn, admin.ctx, MODEL, id, article.name).await
}

/// `POST /admin/articles/`: delete the ticked articles, after a confirmation page; one history
/// row per article, all in one transaction.
pub async fn bulk_delete(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let kind = BulkKind {
        model: MODEL,
        singular: "article",
        plural: "articles",
        list_url: "/admin/articles/",
    };
    simple::bulk_delete(
        admin,
        &form.0,
        &state,
        kind,
        async |conn: &mut AsyncPgConnection, ids: &[Uuid]| {
            let rows: Vec<(Article, String)> = articles::table
                .inner_join(users::table)
                .filter(articles::id.eq_any(ids))
                .order(articles::name.asc())
                .select((Article::as_select(), users::username))
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(a, author)| Selected {
                    id: a.id,
                    label: format!("{} (by {author})", a.name),
                    name: a.name,
                })
                .collect())
        },
        |conn, ids| diesel::delete(articles::table.filter(articles::id.eq_any(ids))).execute(conn),
    )
    .await
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
