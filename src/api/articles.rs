//! Articles, the Agiliq tutorial's demo model, made complete: paginated, searchable, ordered,
//! owned (author or the editors group may change), with ETags so a stale PATCH gets 412.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{FieldErrors, Fields, JsonObject, parse_id};
use crate::auth::cognito::{Caller, CognitoUser};
use crate::db;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::models::{Article, ArticleChanges, ArticleOrder, ArticleSearch, NewArticle, new_id};
use crate::state::AppState;

pub const MAX_NAME_CHARS: usize = 50;
pub const MAX_BODY_CHARS: usize = 100_000;
pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Serialize, ToSchema)]
pub struct Author {
    pub id: Uuid,
    pub username: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Article)]
pub struct ArticleOut {
    pub id: Uuid,
    /// 1–50 characters.
    pub name: String,
    pub body: String,
    pub author: Author,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ArticleOut {
    fn new(article: Article, author_username: String) -> Self {
        ArticleOut {
            id: article.id,
            name: article.name,
            body: article.body,
            author: Author {
                id: article.author_id,
                username: author_username,
            },
            created_at: article.created_at,
            updated_at: article.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ArticlePage {
    pub items: Vec<ArticleOut>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub page: i64,
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: i64,
    /// Articles matching the search, over all pages.
    #[schema(minimum = 0)]
    pub total: i64,
    /// The next page's URL (path and query), or null on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
    /// The previous page's URL (path and query), or null on the first page.
    #[schema(required = true)]
    pub previous: Option<String>,
}

// Only for the OpenAPI document: the body is checked field by field (see `input`), and these
// constraints are those checks'.
/// A new article. Unknown and read-only fields, `null`, NUL characters and blank names are
/// refused with `validation_error`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ArticleCreate {
    /// 1–50 characters after trimming.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    name: String,
    /// At most 100,000 characters.
    #[schema(max_length = 100000, pattern = r"^[^\u0000]*$", nullable = false)]
    body: Option<String>,
}

/// The fields to change; those left out stay as they are. Refused as for a new article.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ArticlePatch {
    /// 1–50 characters after trimming.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$",
        nullable = false
    )]
    name: Option<String>,
    /// At most 100,000 characters.
    #[schema(max_length = 100000, pattern = r"^[^\u0000]*$", nullable = false)]
    body: Option<String>,
}

/// The orders a list can be sorted in; `-` means descending. Ties break by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArticleOrdering {
    NewestFirst,
    OldestFirst,
    Name,
    NameDescending,
}

impl ArticleOrdering {
    const ALL: [(Self, &'static str); 4] = [
        (Self::NewestFirst, "-created_at"),
        (Self::OldestFirst, "created_at"),
        (Self::Name, "name"),
        (Self::NameDescending, "-name"),
    ];

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, s)| *s == raw).map(|(o, _)| *o)
    }

    fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map_or("-created_at", |(_, s)| s)
    }

    /// The query parameter's schema: exactly the accepted values, and `x-enum-varnames` naming
    /// them after the variants: generators cannot make names of `-created_at` and `-name`
    /// (openapi-python-client called them `VALUE_0` and `VALUE_3`).
    fn schema() -> utoipa::openapi::Object {
        use utoipa::openapi::extensions::ExtensionsBuilder;
        use utoipa::openapi::{ObjectBuilder, Type};
        let names: Vec<String> = Self::ALL.iter().map(|(o, _)| format!("{o:?}")).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::ALL.iter().map(|(_, s)| *s)))
            .default(Some(Self::NewestFirst.as_str().into()))
            .extensions(Some(
                ExtensionsBuilder::new()
                    .add("x-enum-varnames", names)
                    .build(),
            ))
            .build()
    }

    fn order(self) -> (ArticleOrder, bool) {
        match self {
            Self::NewestFirst => (ArticleOrder::CreatedAt, true),
            Self::OldestFirst => (ArticleOrder::CreatedAt, false),
            Self::Name => (ArticleOrder::Name, false),
            Self::NameDescending => (ArticleOrder::Name, true),
        }
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: Option<i64>,
    /// Case-insensitive substring of the name (trimmed; blank means no search).
    #[param(max_length = 100, pattern = r"^[^\u0000]*$")]
    search: Option<String>,
    /// Sort order: newest first unless said otherwise.
    #[param(schema_with = ArticleOrdering::schema)]
    ordering: Option<String>,
}

const IF_MATCH: &str = "The `ETag` of the version you read (or `*`): the write happens only if the \
    article is still that version, else 412 `precondition_failed`. Without it, the last write wins.";

/// The version a client must quote in `If-Match`: it changes with every write.
fn etag(article: &Article) -> String {
    format!(
        "\"{}-{:x}\"",
        article.id.simple(),
        article.updated_at.timestamp_micros()
    )
}

fn with_etag(mut response: HttpResponse, article: &Article) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(&etag(article)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// RFC 9110 §13.1.1: `*` or a list of strong tags; weak tags never match.
fn if_match_allows(req: &HttpRequest, article: &Article) -> bool {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let current = etag(article);
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current)
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        ErrorCode::PreconditionFailed,
        "The article changed since you read it (If-Match does not match its ETag); fetch it again.",
    )
}

fn article_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "No such article.",
    )
}

async fn load(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(Article, String), ApiError> {
    Article::find_with_author(conn, id)
        .await?
        .ok_or_else(article_not_found)
}

/// Loads an article for a write: 404 when absent, 403 when the caller may not change it, 412 when
/// `If-Match` names another version.
async fn load_for_change(
    req: &HttpRequest,
    caller: &CognitoUser,
    state: &AppState,
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<(Article, String), ApiError> {
    let (article, author) = load(conn, id).await?;
    may_change(caller, &article, state)?;
    if !if_match_allows(req, &article) {
        return Err(precondition_failed());
    }
    Ok((article, author))
}

/// Only the author, or a member of the editors group (`API_EDITOR_GROUP`), may change an article.
fn may_change(caller: &CognitoUser, article: &Article, state: &AppState) -> Result<(), ApiError> {
    let editor_group = &state.settings.api_editor_group;
    if article.author_id == caller.user.id
        || caller.claims.groups().iter().any(|g| g == editor_group)
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::PermissionDenied,
            format!(
                "Only the author or a member of the {editor_group:?} group may change this article."
            ),
        ))
    }
}

struct ListParams {
    page: i64,
    per_page: i64,
    search: Option<String>,
    ordering: ArticleOrdering,
}

fn list_params(query: &HashMap<String, String>) -> Result<ListParams, ApiError> {
    let mut errors = FieldErrors::default();
    let mut number = |name: &str, default: i64, max: i64| match query.get(name) {
        None => default,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.add(name, format!("Expected a whole number from 1 to {max}."));
                default
            }
        },
    };
    let page = number("page", 1, 1_000_000);
    let per_page = number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE);
    let ordering = match query.get("ordering") {
        None => ArticleOrdering::NewestFirst,
        Some(raw) => ArticleOrdering::parse(raw).unwrap_or_else(|| {
            errors.add(
                "ordering",
                "Expected one of name, -name, created_at, -created_at.",
            );
            ArticleOrdering::NewestFirst
        }),
    };
    let search = query
        .get("search")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
        errors.add(
            "search",
            "Ensure this field has no more than 100 characters.",
        );
    } else if search.as_ref().is_some_and(|s| s.contains('\0')) {
        errors.add("search", "NUL characters are not allowed.");
    }
    errors.finish(ListParams {
        page,
        per_page,
        search,
        ordering,
    })
}

fn page_url(params: &ListParams, page: i64) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    url.append_pair("page", &page.to_string());
    url.append_pair("per_page", &params.per_page.to_string());
    if let Some(search) = &params.search {
        url.append_pair("search", search);
    }
    if params.ordering != ArticleOrdering::NewestFirst {
        url.append_pair("ordering", params.ordering.as_str());
    }
    format!("/api/v1/articles?{}", url.finish())
}

/// List articles, newest first unless `ordering` says otherwise.
#[utoipa::path(
    tag = "articles",
    operation_id = "listArticles",
    params(ListQuery),
    responses(
        (status = 200, body = ArticlePage, description = "One page of articles"),
        (status = 401, body = ErrorBody, description = "No valid token"),
        (status = 403, body = ErrorBody, description = "insufficient_scope: a machine-to-machine token without API_READ_SCOPE"),
        (status = 422, body = ErrorBody, description = "validation_error: a bad page, per_page, ordering or search"),
    ),
    security(("bearer" = []))
)]
#[get("/articles")]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<web::Json<ArticlePage>, ApiError> {
    caller.require_read_scope(&state.settings.api_read_scope)?;
    let params = list_params(&query)?;
    let mut conn = db::connection(&state.pool).await?;
    let (order, descending) = params.ordering.order();
    let search = ArticleSearch {
        // The whole search is one pattern, `%` and `_` literal: "50%" finds the text "50%".
        words: params.search.as_deref().into_iter().collect(),
        author: "",
        order,
        descending,
        limit: params.per_page,
        offset: (params.page - 1) * params.per_page,
    };
    let (total, rows) = Article::search(&mut conn, &search).await?;
    let last_page = (total + params.per_page - 1) / params.per_page;
    Ok(web::Json(ArticlePage {
        items: rows
            .into_iter()
            .map(|(a, author)| ArticleOut::new(a, author))
            .collect(),
        page: params.page,
        per_page: params.per_page,
        total,
        next: (params.page < last_page).then(|| page_url(&params, params.page + 1)),
        previous: (params.page > 1)
            .then(|| page_url(&params, (params.page - 1).min(last_page.max(1)))),
    }))
}

/// Create an article; the caller is its author.
#[utoipa::path(
    tag = "articles",
    operation_id = "createArticle",
    request_body = ArticleCreate,
    responses(
        (status = 201, body = ArticleOut, description = "Created",
            headers(
                ("Location" = String, description = "The new article's path: `/api/v1/articles/{id}`"),
                ("ETag" = String, description = "Its version, for `If-Match` on a later change"),
            )),
        (status = 400, body = ErrorBody, description = "malformed_json"),
        (status = 413, body = ErrorBody, description = "payload_too_large"),
        (status = 403, body = ErrorBody, description = "user_required: a machine-to-machine token cannot write"),
        (status = 415, body = ErrorBody, description = "unsupported_media_type"),
        (status = 422, body = ErrorBody, description = "validation_error"),
    ),
    security(("bearer" = []))
)]
#[post("/articles")]
pub async fn create(
    caller: CognitoUser,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut f = Fields::new(
        &body.0,
        &["name", "body"],
        &["id", "author", "created_at", "updated_at"],
    );
    f.require("name");
    let name = f.string("name", true, 1, MAX_NAME_CHARS);
    let text = f
        .string("body", false, 0, MAX_BODY_CHARS)
        .unwrap_or_default();
    let name = f.errors.finish(name)?.unwrap_or_default();
    let mut conn = db::connection(&state.pool).await?;
    let article = NewArticle {
        id: new_id(),
        name: &name,
        body: &text,
        author_id: caller.user.id,
    }
    .insert(&mut conn)
    .await?;
    let location = format!("/api/v1/articles/{}", article.id);
    let response = HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(ArticleOut::new(
            article.clone(),
            caller.user.username.clone(),
        ));
    Ok(with_etag(response, &article))
}

/// One article.
#[utoipa::path(
    tag = "articles",
    operation_id = "getArticle",
    params(("id" = Uuid, Path, description = "Article id")),
    responses(
        (status = 200, body = ArticleOut, description = "The article",
            headers(("ETag" = String, description = "Its version, for `If-Match` on a change"))),
        (status = 403, body = ErrorBody, description = "insufficient_scope: a machine-to-machine token without API_READ_SCOPE"),
        (status = 404, body = ErrorBody, description = "not_found (also for an id that is not a UUID)"),
    ),
    security(("bearer" = []))
)]
#[get("/articles/{id}")]
pub async fn read(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_read_scope(&state.settings.api_read_scope)?;
    let id = parse_id(&id).ok_or_else(article_not_found)?;
    let mut conn = db::connection(&state.pool).await?;
    let (article, author) = load(&mut conn, id).await?;
    let response = HttpResponse::Ok().json(ArticleOut::new(article.clone(), author));
    Ok(with_etag(response, &article))
}

/// Change an article's name or body. Send `If-Match` with the ETag you read to avoid
/// overwriting someone else's change.
#[utoipa::path(
    tag = "articles",
    operation_id = "updateArticle",
    params(
        ("id" = Uuid, Path, description = "Article id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = IF_MATCH),
    ),
    request_body = ArticlePatch,
    responses(
        (status = 200, body = ArticleOut, description = "The changed article",
            headers(("ETag" = String, description = "Its new version"))),
        (status = 403, body = ErrorBody, description = "permission_denied: not the author nor an editor; user_required: a machine-to-machine token"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 412, body = ErrorBody, description = "precondition_failed: If-Match is stale"),
        (status = 422, body = ErrorBody, description = "validation_error"),
    ),
    security(("bearer" = []))
)]
#[patch("/articles/{id}")]
pub async fn update(
    req: HttpRequest,
    caller: CognitoUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id).ok_or_else(article_not_found)?;
    let mut f = Fields::new(
        &body.0,
        &["name", "body"],
        &["id", "author", "created_at", "updated_at"],
    );
    let name = f.string("name", true, 1, MAX_NAME_CHARS);
    let text = f.string("body", false, 0, MAX_BODY_CHARS);
    let (name, text) = f.errors.finish((name, text))?;
    let mut conn = db::connection(&state.pool).await?;
    let (article, author) = load_for_change(&req, &caller, &state, &mut conn, id).await?;
    let updated = if name.is_none() && text.is_none() {
        article
    } else {
        // The version read above is the one being changed: a concurrent write in between makes
        // this match nothing, and the client hears 412 instead of losing that write.
        let changes = ArticleChanges {
            name: name.as_deref(),
            body: text.as_deref(),
            author_id: None,
        };
        Article::update_if_current(&mut conn, id, article.updated_at, &changes)
            .await?
            .ok_or_else(precondition_failed)?
    };
    let response = HttpResponse::Ok().json(ArticleOut::new(updated.clone(), author));
    Ok(with_etag(response, &updated))
}

/// Delete an article (author or editors).
#[utoipa::path(
    tag = "articles",
    operation_id = "deleteArticle",
    params(
        ("id" = Uuid, Path, description = "Article id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = IF_MATCH),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody, description = "permission_denied, or user_required for a machine-to-machine token"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 412, body = ErrorBody, description = "precondition_failed"),
    ),
    security(("bearer" = []))
)]
#[delete("/articles/{id}")]
pub async fn remove(
    req: HttpRequest,
    caller: CognitoUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id).ok_or_else(article_not_found)?;
    let mut conn = db::connection(&state.pool).await?;
    let (article, _) = load_for_change(&req, &caller, &state, &mut conn, id).await?;
    if !Article::delete_if_current(&mut conn, id, article.updated_at).await? {
        // Changed (or deleted) between our read and this delete.
        return Err(precondition_failed());
    }
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_checked() {
        let q = |pairs: &[(&str, &str)]| {
            list_params(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert!(q(&[]).is_ok());
        for bad in [
            ("page", "0"),
            ("page", "x"),
            ("per_page", "101"),
            ("ordering", "body"),
        ] {
            let err = q(&[bad]).err().unwrap();
            assert_eq!(err.code, "validation_error");
            assert!(err.fields.unwrap().contains_key(bad.0));
        }
    }
}
