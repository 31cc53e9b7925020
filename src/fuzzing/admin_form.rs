//! The back office's input handling under the fuzzer: the list query strings (search, filters,
//! sorting, paging) and the links built from them, the `next` redirect check, the users, groups
//! and articles forms, and the CSV export's rows.
//!
//! Modes (first byte modulo 9), the rest being a query string or a url-encoded form body:
//! 0. users list query; 1. articles list query; 2. groups list query; 3. a `next` target (raw and
//!    as the login form's field); 4. users add form; 5. users change form (with
//!    `_changelist_filters`); 6. groups form; 7. articles form; 8. a CSV export row (fields
//!    separated by NUL) and the password summary.
//!
//! Besides never panicking: what a list parses must survive the trip through the links it builds
//! (a filter kept, clipped or dropped the same way every time), an accepted `next` must resolve to
//! an admin path on this site, posted text must not keep CR line ends, and a CSV row must parse
//! back into its fields with no cell that a spreadsheet would run as a formula.

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use crate::admin::articles::{self, Articles};
use crate::admin::groups::{self, Groups};
use crate::admin::kit::{FieldErrors, PageLink, after_save, safe_next, selected_ids};
use crate::admin::model_admin::{ListParams, ModelAdmin};
use crate::admin::passwords::check_new_password;
use crate::admin::users::{self, UserValues, Users, changelist_filters, csv_row, password_summary};
use crate::auth::accounts;
use crate::auth::csrf::FormData;
use crate::auth::password::UserAttributes;
use crate::models::User;

/// One fuzz input. Panics when an invariant breaks.
pub fn fuzz(data: &[u8]) {
    let Some((mode, rest)) = super::split_mode(data, 9) else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode {
        0 => users_list(&text),
        1 => articles_list(&text),
        2 => check_list::<Groups>(&text),
        3 => next(rest, &text),
        4 => users_add(&FormData::parse(rest)),
        5 => users_change(&FormData::parse(rest)),
        6 => groups_form(&FormData::parse(rest)),
        7 => articles_form(&FormData::parse(rest)),
        _ => csv(&text),
    }
}

/// Counts to build page links for: empty, one page, a few pages, around the current page, huge.
fn counts(page: i64, per_page: i64) -> [i64; 6] {
    [
        0,
        1,
        per_page + 1,
        page.saturating_mul(per_page),
        page.saturating_sub(1)
            .saturating_mul(per_page)
            .saturating_add(1),
        10_000_000_000,
    ]
}

fn check_page_links(links: &[PageLink], page: i64, reparse: impl Fn(&str) -> i64) {
    assert!(links.len() <= 7, "{} page links", links.len());
    let mut previous = 0;
    for link in links {
        let n: i64 = link
            .label
            .parse()
            .expect("a page link's label is its number");
        assert!(n > previous, "page links out of order");
        previous = n;
        assert_eq!(link.current, n == page);
        let query = link.url.strip_prefix('?').expect("a page link is a query");
        assert_eq!(reparse(query), n, "the link to page {n} is {query:?}");
    }
}

fn trimmed(s: &str) -> bool {
    s.trim() == s
}

/// What a list understood of its query, to compare with what its links give back.
fn seen(l: &ListParams) -> String {
    format!("{:?}", (&l.q, &l.filters, &l.order, l.page, l.per_page))
}

/// Any model's change list: what it parses survives the trip through the links it builds.
fn check_list<M: ModelAdmin>(qs: &str) {
    let p = ListParams::parse::<M>(qs);
    assert!(p.page >= 1);
    assert!(M::PAGE_SIZES.contains(&p.per_page));
    assert!(
        M::COLUMNS
            .iter()
            .any(|c| c.name == p.order.trim_start_matches('-')),
        "{p:?}"
    );
    assert!(p.q.chars().count() <= 200 && trimmed(&p.q), "q {:?}", p.q);
    for name in M::FILTERS.iter().map(|f| f.name) {
        let text = p.text(name);
        assert!(
            text.chars().count() <= 150 && trimmed(text),
            "filter {text:?}"
        );
    }
    let _ = p.is_filtered();

    // The list's own link (and the change form's way back) keeps exactly what was understood.
    let canonical = p.query_with(&[]);
    let again = ListParams::parse::<M>(&canonical);
    assert_eq!(
        seen(&again),
        seen(&p),
        "{qs:?} → {canonical:?} does not keep the list's parameters"
    );
    assert_eq!(again.query_with(&[]), canonical);

    for head in p.heads(M::COLUMNS) {
        let query = head.url.strip_prefix('?').expect("a query");
        let sorted = ListParams::parse::<M>(query);
        assert_eq!(sorted.page, 1);
        let expected = ListParams {
            order: sorted.order.clone(),
            page: 1,
            ..p.clone()
        };
        assert_eq!(seen(&sorted), seen(&expected), "{qs:?}: {query:?}");
    }
    for count in counts(p.page, p.per_page) {
        check_page_links(&p.page_links(count), p.page, |q| {
            let linked = ListParams::parse::<M>(q);
            let expected = ListParams {
                page: linked.page,
                ..p.clone()
            };
            assert_eq!(seen(&linked), seen(&expected), "{qs:?}: {q:?}");
            linked.page
        });
    }
}

fn users_list(qs: &str) {
    check_list::<Users>(qs);
    let canonical = users::list_params(qs).query_with(&[]);
    assert_eq!(changelist_filters(qs), canonical);
}

fn articles_list(qs: &str) {
    let p = articles::list_params(qs);
    // The order asked for when it names a column, else newest first.
    let asked = FormData::parse(qs.as_bytes()).get("o").to_owned();
    if Articles::COLUMNS
        .iter()
        .any(|c| c.name == asked.trim_start_matches('-'))
    {
        assert_eq!(p.order, asked, "{qs:?}");
    } else {
        assert_eq!(p.order, "-created_at", "{qs:?}");
    }
    check_list::<Articles>(qs);
}

fn check_next(next: &str) {
    let Some(accepted) = safe_next(next) else {
        return;
    };
    assert_eq!(accepted, next);
    actix_web::http::header::HeaderValue::from_str(accepted)
        .expect("an accepted next is a valid Location header");
    // Where a browser would go: dot segments (also %2e-encoded ones) resolved.
    let base = url::Url::parse("https://gatehouse.example/admin/login/").expect("static URL");
    let resolved = base
        .join(accepted)
        .expect("an accepted next is a valid URL");
    assert_eq!(
        resolved.origin(),
        base.origin(),
        "next {accepted:?} leaves the site"
    );
    assert!(
        resolved.path().starts_with("/admin/"),
        "next {accepted:?} resolves to {}",
        resolved.path()
    );
}

fn next(raw: &[u8], text: &str) {
    check_next(text);
    check_next(FormData::parse(raw).get("next"));
}

fn check_username(username: &str) {
    if accounts::validate_username(username).is_ok() {
        let n = username.chars().count();
        assert!((1..=accounts::MAX_USERNAME_LEN).contains(&n));
        assert!(
            username
                .chars()
                .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
        );
    }
}

fn check_email(raw: &str) -> String {
    match accounts::normalize_email(raw) {
        Ok(email) => {
            assert!(email.chars().count() <= accounts::MAX_EMAIL_LEN);
            assert!(!email.contains(char::is_whitespace), "{email:?}");
            assert_eq!(email, email.to_lowercase());
            assert_eq!(
                accounts::normalize_email(&email).ok().as_deref(),
                Some(email.as_str()),
                "normalising twice changes {raw:?}"
            );
            email
        }
        Err(_) => raw.to_owned(),
    }
}

fn users_add(form: &FormData) {
    let username = form.get("username").trim();
    check_username(username);
    let email = check_email(form.get("email"));
    let (p1, p2) = (form.get("password1"), form.get("password2"));
    let mut errors = FieldErrors::new();
    check_new_password(
        p1,
        p2,
        UserAttributes {
            username,
            email: &email,
            ..Default::default()
        },
        "password2",
        &mut errors,
    );
    if p1 != p2 {
        assert!(errors.has("password2"));
    }
    assert!(errors.fields().all(|k| k == "password2"));
}

fn users_change(form: &FormData) {
    let values = UserValues::from_form(form);
    for field in [
        &values.username,
        &values.email,
        &values.first_name,
        &values.last_name,
    ] {
        assert!(trimmed(field), "{field:?}");
    }
    check_username(&values.username);
    check_email(&values.email);
    assert_eq!(values.is_active, form.has("is_active"));
    let filters = changelist_filters(form.get("_changelist_filters"));
    assert_eq!(changelist_filters(&filters), filters);
    let id = Uuid::nil();
    let after = after_save(form, "users", id);
    assert!(
        [
            "/admin/users/add/".to_owned(),
            format!("/admin/users/{id}/change/"),
            "/admin/users/".to_owned()
        ]
        .contains(&after)
    );
    assert!(selected_ids(form).len() <= 1000);
    if let Some(action) = Users::ACTIONS.iter().find(|a| a.name == form.get("action")) {
        assert!(!action.name.is_empty());
    }
}

fn groups_form(form: &FormData) {
    let (name, perms) = groups::posted(form);
    assert!(trimmed(&name));
    if groups::check_name(&name).is_none() {
        assert!((1..=150).contains(&name.chars().count()));
    }
    assert!(perms.len() <= form.all("permissions").len());
}

fn articles_form(form: &FormData) {
    let values = articles::posted(form);
    assert!(trimmed(&values.name) && trimmed(&values.author));
    assert!(
        !values.body.contains('\r'),
        "the body keeps a CR: {:?}",
        values.body
    );
    if articles::check_name(&values.name).is_none() {
        assert!(!values.name.is_empty());
    }
    let _ = after_save(form, "articles", Uuid::nil());
}

/// RFC 4180 fields of one record; `None` unless `row` is exactly one CRLF-terminated record.
fn parse_csv_record(row: &str) -> Option<Vec<String>> {
    let body = row.strip_suffix("\r\n")?;
    let mut fields = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Some(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Some(fields);
                    }
                    Some(',') => break,
                    Some('"' | '\r' | '\n') => return None,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

fn csv(text: &str) {
    let mut parts = text.split('\0');
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let (username, email, first_name, last_name, sub, hash) =
        (next(), next(), next(), next(), next(), next());
    let at = Utc.timestamp_opt(1_700_000_000, 0).single();
    let at = at.expect("a valid timestamp");
    let user = User {
        id: Uuid::nil(),
        username,
        email,
        password_hash: Some(hash),
        cognito_sub: Some(sub),
        email_verified: false,
        first_name,
        last_name,
        is_active: true,
        is_staff: false,
        is_superuser: false,
        last_login: None,
        session_epoch: 0,
        created_at: at,
        updated_at: at,
    };
    let row = csv_row(&user);
    let fields = parse_csv_record(&row).unwrap_or_else(|| panic!("not one CSV record: {row:?}"));
    assert_eq!(fields.len(), 12, "{row:?}");
    let written = [
        &user.username,
        &user.email,
        &user.first_name,
        &user.last_name,
        user.cognito_sub.as_ref().expect("set above"),
    ];
    for (field, value) in fields[1..6].iter().zip(written) {
        let defused = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let expected = if defused {
            format!("'{value}")
        } else {
            value.clone()
        };
        assert_eq!(field, &expected);
        assert!(
            !field.starts_with(['=', '+', '-', '@']),
            "a formula cell: {field:?}"
        );
    }
    let _ = password_summary(user.password_hash.as_deref());
}
