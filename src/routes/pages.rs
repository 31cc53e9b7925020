use askama::Template;
use askama_web::WebTemplate;

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct Index {
    page_title: String,
}

/// `GET /`: what this server is, for a person who opens it in a browser.
pub async fn index() -> Index {
    Index {
        page_title: "Home".into(),
    }
}
