//! Static assets compiled into the binary: the image ships one file, and no CDN is involved.

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: String,
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        (
            $path,
            $content_type,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $path)).as_slice(),
        )
    };
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        asset!("app.css", "text/css; charset=utf-8"),
        asset!(
            "vendor/bootstrap-5.3.9/bootstrap.min.css",
            "text/css; charset=utf-8"
        ),
        asset!(
            "vendor/bootstrap-5.3.9/bootstrap.bundle.min.js",
            "text/javascript; charset=utf-8"
        ),
    ]
    .into_iter()
    .map(|(path, content_type, body)| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        Asset {
            path,
            content_type,
            body,
            etag: format!("\"{:016x}\"", hasher.finish()),
        }
    })
    .collect()
});

/// `GET /static/{path}` with an ETag; versioned vendor paths are cached for a year.
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path.as_str()) else {
        return Err(ApiError::not_found());
    };
    let cache = if asset.path.starts_with("vendor/") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == asset.etag));
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, asset.etag.as_str()));
    if matches {
        return Ok(response.finish());
    }
    Ok(response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ))
        .body(asset.body))
}
