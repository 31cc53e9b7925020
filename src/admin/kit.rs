//! The admin kit: what every back-office page uses. The page context templates get, the
//! [`Admin`] extractor (who asks, what they may do), one-time messages, page and redirect
//! answers, and the `next` check of the login form.

use std::collections::{BTreeMap, HashSet};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use askama::Template;
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use futures_util::future::{Ready, ready};
use uuid::Uuid;

use crate::auth::csrf::{self, FormData};
use crate::auth::staff::{Perms, Staff};
use crate::error::AdminError;
use crate::models::Permission;

/// What every admin template gets: who is signed in, the CSRF token for forms, permissions for
/// showing only the links the user may follow.
#[derive(Default)]
pub struct PageCtx {
    /// Empty when nobody is signed in (login and error pages).
    pub username: String,
    pub csrf: String,
    pub perms: Perms,
    /// One-time messages ("The user … was changed successfully."), shown once then dropped.
    pub messages: Vec<String>,
}

impl PageCtx {
    pub fn anonymous(csrf: String) -> Self {
        PageCtx {
            username: String::new(),
            csrf,
            perms: Perms::default(),
            messages: Vec::new(),
        }
    }

    pub fn signed_in(&self) -> bool {
        !self.username.is_empty()
    }

    pub fn can(&self, model: &str, action: &str) -> bool {
        self.perms.can(model, action)
    }
}

/// The signed-in staff member of a guarded admin page, with their session and page context.
pub struct Admin {
    pub staff: Staff,
    pub session: Session,
    pub ctx: PageCtx,
}

impl Admin {
    /// A 403 page unless the staff member may do `action` on `model`.
    pub fn require(&self, model: &str, action: &str) -> Result<(), AdminError> {
        if self.staff.perms.can(model, action) {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }
}

impl FromRequest for Admin {
    type Error = AdminError;
    type Future = Ready<Result<Self, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(staff) = req.extensions().get::<Staff>().cloned() else {
            // Only reachable if a route were mounted outside the guarded scope.
            return ready(Err(AdminError::internal(
                "Admin extractor without require_staff",
            )));
        };
        let session = req.get_session();
        ready(match csrf::token(&session) {
            Ok(token) => Ok(Admin {
                ctx: PageCtx {
                    username: staff.user.username.clone(),
                    csrf: token,
                    perms: staff.perms.clone(),
                    messages: take_flashes(&session),
                },
                staff,
                session,
            }),
            Err(e) => Err(AdminError::internal(e)),
        })
    }
}

const FLASH_KEY: &str = "flash";

/// Queues a message for the next admin page this session sees (Django's messages framework).
pub fn flash(session: &Session, message: &str) {
    let mut queued: Vec<String> = session.get(FLASH_KEY).ok().flatten().unwrap_or_default();
    // The cookie holds at most 4 KB: a few short messages only.
    if queued.len() < 5 {
        queued.push(message.chars().take(300).collect());
    }
    if let Err(e) = session.insert(FLASH_KEY, queued) {
        tracing::warn!(error = %e, "could not queue a flash message");
    }
}

fn take_flashes(session: &Session) -> Vec<String> {
    match session.remove_as::<Vec<String>>(FLASH_KEY) {
        Some(Ok(messages)) => messages,
        _ => Vec::new(),
    }
}

/// Renders `template` as an HTML page with `status`; admin pages are never cached (Django's
/// `never_cache`), since they show private data.
pub fn page_with_status<T: Template>(
    status: StatusCode,
    template: &T,
) -> Result<HttpResponse, AdminError> {
    let body = template.render().map_err(AdminError::internal)?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn page<T: Template>(template: &T) -> Result<HttpResponse, AdminError> {
    page_with_status(StatusCode::OK, template)
}

/// 303 See Other: after a POST, the browser GETs `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A `next` target we are willing to send someone to after login: an admin path on this site,
/// also once a browser has resolved it (`/admin/../x` and `/admin/%2e%2e/x` lead to `/x`).
pub fn safe_next(next: &str) -> Option<&str> {
    let shaped = next.starts_with("/admin/")
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if !shaped {
        return None;
    }
    let base = url::Url::parse("https://gatehouse.invalid/admin/").ok()?;
    let resolved = base.join(next).ok()?;
    let stays = resolved.origin() == base.origin() && resolved.path().starts_with("/admin/");
    stays.then_some(next)
}

/// What is wrong with a posted form: messages per field, shown next to each field.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(BTreeMap<&'static str, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_default().push(message.into());
    }

    pub fn add_all(&mut self, field: &'static str, messages: impl IntoIterator<Item = String>) {
        self.0.entry(field).or_default().extend(messages);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// The fields with errors.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }

    /// The messages of `field` (templates: `errors.of("name")`).
    pub fn of(&self, field: &str) -> Vec<String> {
        self.0.get(field).cloned().unwrap_or_default()
    }
}

/// A checkbox of a multiple choice (a user's groups, a group's permissions).
pub struct Choice {
    pub id: Uuid,
    pub label: String,
    pub checked: bool,
    /// Shown disabled: the viewer may not change it (a ticked one is posted back unchanged).
    pub locked: bool,
}

/// Checkboxes under a heading (permissions grouped by model).
pub struct ChoiceGroup {
    pub title: String,
    pub choices: Vec<Choice>,
}

/// Ids in admin paths are UUIDs; anything else names nothing.
pub fn parse_id(raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw).map_err(|_| AdminError::NotFound)
}

/// Where a saved form goes next: "Save and add another", "Save and continue editing", or the
/// list (Django's three save buttons).
pub fn after_save(form: &FormData, model: &str, id: Uuid) -> String {
    if form.has("_addanother") {
        format!("/admin/{model}/add/")
    } else if form.has("_continue") {
        format!("/admin/{model}/{id}/change/")
    } else {
        format!("/admin/{model}/")
    }
}

/// A page link under a list.
pub struct PageLink {
    pub label: String,
    pub url: String,
    pub current: bool,
}

/// A list's column header: label, link that sorts by it, and the current arrow.
pub struct Head {
    pub label: &'static str,
    pub url: String,
    pub arrow: &'static str,
}

/// For a column header: the arrow showing the current order, and the `o` value its link sets
/// (ascending first, then descending).
pub fn sort_toggle(order: &str, name: &str) -> (&'static str, String) {
    if order == name {
        ("▲", format!("-{name}"))
    } else if order.strip_prefix('-') == Some(name) {
        ("▼", name.to_owned())
    } else {
        ("", name.to_owned())
    }
}

/// Pages beyond this are ignored like any other bad `p` (no list is that long; bigger numbers
/// only overflow the paging arithmetic).
pub const MAX_PAGE: i64 = 1_000_000_000;

/// `p`: a page number from 1 to [`MAX_PAGE`], else 1.
pub fn parse_page(value: &str) -> i64 {
    value
        .parse::<i64>()
        .ok()
        .filter(|p| (1..=MAX_PAGE).contains(p))
        .unwrap_or(1)
}

/// A query value trimmed and cut to `max` characters, with no whitespace left at the cut, so the
/// links built from it parse back to the same value.
pub fn clip(value: &str, max: usize) -> String {
    let clipped: String = value.trim().chars().take(max).collect();
    clipped.trim_end().to_owned()
}

/// Links to the first, last and nearby pages of a list of `count` rows, `per_page` a page;
/// `url(n)` is the link to page `n`. None when everything fits on one page.
pub fn page_links(
    page: i64,
    per_page: i64,
    count: i64,
    url: impl Fn(i64) -> String,
) -> Vec<PageLink> {
    let last = (count.saturating_add(per_page - 1) / per_page).max(1);
    if last == 1 {
        return Vec::new();
    }
    let mut numbers: Vec<i64> = vec![1, last];
    numbers.extend(page.saturating_sub(2).max(1)..=page.saturating_add(2).min(last));
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| PageLink {
            label: n.to_string(),
            url: url(n),
            current: n == page,
        })
        .collect()
}

/// Django's answer to an action posted with no row ticked.
pub const NOTHING_SELECTED: &str =
    "Items must be selected in order to perform actions on them. No items have been changed.";

/// The ids ticked on a list (`_selected_action`), at most 1,000; malformed ones are dropped.
pub fn selected_ids(form: &FormData) -> Vec<Uuid> {
    form.all("_selected_action")
        .into_iter()
        .filter_map(|v| Uuid::parse_str(v).ok())
        .take(1000)
        .collect()
}

/// Every permission as checkboxes grouped by model, with `checked` ticked, `locked` or not.
pub async fn permission_choices(
    conn: &mut AsyncPgConnection,
    checked: &HashSet<Uuid>,
    locked: bool,
) -> QueryResult<Vec<ChoiceGroup>> {
    let mut groups: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
    for p in Permission::all(conn).await? {
        let model = p.codename.split('.').next().unwrap_or("other").to_owned();
        groups.entry(model).or_default().push(Choice {
            id: p.id,
            checked: checked.contains(&p.id),
            label: p.name,
            locked,
        });
    }
    Ok(groups
        .into_iter()
        .map(|(title, choices)| ChoiceGroup { title, choices })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/admin/users/?q=a"), Some("/admin/users/?q=a"));
        assert_eq!(safe_next("/admin/./users/"), Some("/admin/./users/"));
        assert_eq!(safe_next("/admin/users/../"), Some("/admin/users/../"));
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/admin/",
            "/admin/\\evil",
            "/static/x",
            // Caught by the admin_form fuzz target's checks: dot segments, plain or percent-encoded.
            "/admin/../static/x",
            "/admin/%2e%2e/static/x",
            "/admin/.%2E/x",
            "/admin/..",
            "/admin/users/../../x",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }
}
