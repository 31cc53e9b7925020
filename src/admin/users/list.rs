//! Users list, bulk actions and CSV export.

use super::*;

/// Bulk actions: (value, label, permission needed).
pub const ACTIONS: &[(&str, &str, &str)] = &[
    ("delete", "Delete selected users", "delete"),
    ("activate", "Activate selected users", "change"),
    ("deactivate", "Deactivate selected users", "change"),
    ("signout", "Sign selected users out everywhere", "change"),
];

#[derive(Template)]
#[template(path = "admin/users/list.html")]
struct ListPage {
    page_title: String,
    ctx: PageCtx,
    params: ListParams,
    rows: Vec<UserRow>,
    heads: Vec<crate::admin::simple::Head>,
    summary: String,
    pages: Vec<PageLink>,
    page_sizes: Vec<i64>,
    export_url: String,
    actions: Vec<(&'static str, &'static str)>,
    invalid: String,
    /// Appended to each row's change link: the list's filters, to come back to after saving.
    row_suffix: String,
}

pub(crate) fn page_links(params: &ListParams, count: i64) -> Vec<PageLink> {
    let last = (count.saturating_add(params.per_page - 1) / params.per_page).max(1);
    if last == 1 {
        return Vec::new();
    }
    let mut numbers: Vec<i64> = vec![1, last];
    numbers.extend(params.page.saturating_sub(2).max(1)..=params.page.saturating_add(2).min(last));
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| PageLink {
            label: n.to_string(),
            url: format!("?{}", params.query_with(&[("p", &n.to_string())])),
            current: n == params.page,
        })
        .collect()
}

/// `GET /admin/users/`
pub async fn list(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let params = ListParams::parse(req.query_string());
    let mut conn = db::connection(&state.pool).await?;
    let total = table_count(&mut conn, MODEL).await?;
    let (count, rows) = conn
        .transaction(async |conn| params.load_page(conn, COUNT_CAP).await)
        .await?;
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    let (summary, count) = match count {
        None => (format!("{} users", total.display()), total.n),
        Some(c) => {
            let matches = match c {
                Count::Exact(n) => format!("{n} result{}", plural(n)),
                Count::MoreThan(n) => format!("More than {n} results"),
                Count::About(n) => format!("about {n} results"),
            };
            (
                format!("{matches} ({} total)", total.display()),
                c.pages_of(),
            )
        }
    };
    let heads = COLUMNS
        .iter()
        .map(|(name, label)| {
            let (arrow, next) = crate::admin::simple::sort_toggle(&params.order, name);
            crate::admin::simple::Head {
                label,
                url: format!("?{}", params.query_with(&[("o", &next)])),
                arrow,
            }
        })
        .collect();
    let actions = ACTIONS
        .iter()
        .filter(|(_, _, perm)| admin.ctx.can(MODEL, perm))
        .map(|(value, label, _)| (*value, *label))
        .collect();
    let current = params.query_with(&[]);
    let row_suffix = if current.is_empty() {
        String::new()
    } else {
        format!(
            "?_changelist_filters={}",
            url::form_urlencoded::byte_serialize(current.as_bytes()).collect::<String>()
        )
    };
    page(&ListPage {
        page_title: "Select user to change".into(),
        row_suffix,
        pages: page_links(&params, count),
        export_url: format!("/admin/users/export.csv?{}", params.query_with(&[])),
        invalid: params.invalid.join(", "),
        rows: rows.iter().map(UserRow::from).collect(),
        ctx: admin.ctx,
        params,
        heads,
        summary,
        page_sizes: PAGE_SIZES.to_vec(),
        actions,
    })
}

#[derive(Template)]
#[template(path = "admin/users/action_confirm.html")]
struct ActionConfirmPage {
    page_title: String,
    ctx: PageCtx,
    action: &'static str,
    label: &'static str,
    users: Vec<UserRow>,
    related_articles: i64,
}

/// `POST /admin/users/`: a bulk action; the first post shows a confirmation page, the confirmed
/// one does the work, one history row per user, all in one transaction.
pub async fn bulk_action(
    admin: Admin,
    form: AdminForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let form = form.0;
    let Some(&(action, label, perm)) = ACTIONS.iter().find(|(a, _, _)| *a == form.get("action"))
    else {
        flash(&admin.session, "No action selected.");
        return Ok(redirect("/admin/users/"));
    };
    admin.require(MODEL, perm)?;
    let ids: Vec<Uuid> = form
        .all("_selected_action")
        .into_iter()
        .filter_map(|v| Uuid::parse_str(v).ok())
        .take(1000)
        .collect();
    if ids.is_empty() {
        flash(&admin.session, crate::admin::simple::NOTHING_SELECTED);
        return Ok(redirect("/admin/users/"));
    }
    let mut conn = db::connection(&state.pool).await?;
    let me = admin.staff.user.id;
    if form.get("confirm") != "yes" {
        let selected: Vec<User> = users::table
            .filter(users::id.eq_any(&ids))
            .order(users::username.asc())
            .select(User::as_select())
            .load(&mut conn)
            .await?;
        check_reach(&mut conn, &admin.staff.perms, &selected).await?;
        let related_articles = if action == "delete" {
            articles::table
                .filter(articles::author_id.eq_any(&ids))
                .count()
                .get_result(&mut conn)
                .await?
        } else {
            0
        };
        return page(&ActionConfirmPage {
            page_title: "Are you sure?".into(),
            ctx: admin.ctx,
            action,
            label,
            users: selected.iter().map(UserRow::from).collect(),
            related_articles,
        });
    }
    let actor = admin.staff.user.clone();
    let actor_perms = admin.staff.perms.clone();
    let done = conn
        .transaction(async |conn| apply_bulk(conn, &actor, &actor_perms, action, &ids, me).await)
        .await?;
    flash(
        &admin.session,
        &format!(
            "{label}: done for {done} user{}.",
            if done == 1 { "" } else { "s" }
        ),
    );
    Ok(redirect("/admin/users/"))
}

/// A 403 unless every one of `selected` is within the actor's reach: a bulk action is refused
/// whole rather than done for some, so nothing is written.
async fn check_reach(
    conn: &mut AsyncPgConnection,
    actor: &staff::Perms,
    selected: &[User],
) -> Result<(), AdminError> {
    if actor.superuser || actor.is_superset_of(&staff::combined_perms(conn, selected).await?) {
        Ok(())
    } else {
        Err(AdminError::Forbidden)
    }
}

/// Applies a bulk action to `ids` (never to the acting user for delete and deactivate) and logs
/// one row per changed user. Returns how many changed. Refused whole ([`AdminError::Forbidden`])
/// if any of them is out of the actor's reach; run it in a transaction.
pub async fn apply_bulk(
    conn: &mut AsyncPgConnection,
    actor: &User,
    actor_perms: &staff::Perms,
    action: &str,
    ids: &[Uuid],
    me: Uuid,
) -> Result<usize, AdminError> {
    let selected: Vec<User> = users::table
        .filter(users::id.eq_any(ids))
        .order(users::username.asc())
        .for_update()
        .select(User::as_select())
        .load(conn)
        .await?;
    // Under the row locks, before anything is written.
    check_reach(conn, actor_perms, &selected).await?;
    let mut done = 0;
    for user in &selected {
        let mut changes = Changes::default();
        let (log_action, message) = match action {
            "delete" if user.id != me => {
                history::write_deletion(
                    conn,
                    actor,
                    target(user),
                    "username",
                    crate::admin::simple::BULK_DELETED,
                )
                .await?;
                diesel::delete(users::table.find(user.id))
                    .execute(conn)
                    .await?;
                done += 1;
                continue;
            }
            "activate" if !user.is_active => {
                diesel::update(users::table.find(user.id))
                    .set(users::is_active.eq(true))
                    .execute(conn)
                    .await?;
                changes.diff("is_active", false, true);
                (Action::Bulk, "Activated (bulk action).")
            }
            "deactivate" if user.is_active && user.id != me => {
                diesel::update(users::table.find(user.id))
                    .set(users::is_active.eq(false))
                    .execute(conn)
                    .await?;
                // Its sessions and API sign-ins end too: a reactivation must not revive them.
                sign_out_everywhere(conn, user.id).await?;
                changes.diff("is_active", true, false);
                (Action::Bulk, "Deactivated (bulk action).")
            }
            "signout" => {
                let before = match &user.cognito_sub {
                    Some(sub) => CognitoSignout::latest_for_sub(conn, sub).await?,
                    None => None,
                };
                let now = sign_out_everywhere(conn, user.id).await?;
                changes.diff(
                    "tokens_valid_after",
                    before.map(format_time),
                    Some(format_time(now)),
                );
                (Action::Bulk, "Signed out everywhere (bulk action).")
            }
            _ => continue,
        };
        history::write(
            conn,
            actor,
            target(user),
            log_action,
            message,
            changes.into_value(),
        )
        .await?;
        done += 1;
    }
    Ok(done)
}

/// Ends every session and API token of the user: staff sessions by epoch, Cognito tokens from
/// sign-ins before now by a `cognito_signouts` row (keyed by the Cognito identity, so it survives
/// the user's deletion).
pub async fn sign_out_everywhere(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<DateTime<Utc>> {
    let now = Utc::now();
    diesel::update(users::table.find(id))
        .set(users::session_epoch.eq(users::session_epoch + 1))
        .execute(conn)
        .await?;
    CognitoSignout::sign_out_user(conn, id, now).await?;
    Ok(now)
}

/// Rows per query of the CSV export: a few MB of memory at most, and few round trips.
const EXPORT_BATCH: i64 = 5000;

/// Appends one CSV field: quoted when needed, and a leading `= + - @` defused so a spreadsheet
/// does not run it as a formula (CSV injection).
fn push_csv_field(line: &mut String, value: &str) {
    let defuse = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if value.contains([',', '"', '\n', '\r']) {
        line.push('"');
        if defuse {
            line.push('\'');
        }
        line.push_str(&value.replace('"', "\"\""));
        line.push('"');
    } else {
        if defuse {
            line.push('\'');
        }
        line.push_str(value);
    }
}

/// Appends a user's CSV line (with its CRLF) to `out`.
pub fn push_csv_row(out: &mut String, u: &User) {
    use std::fmt::Write as _;
    let _ = write!(out, "{},", u.id);
    for field in [
        u.username.as_str(),
        &u.email,
        &u.first_name,
        &u.last_name,
        u.cognito_sub.as_deref().unwrap_or_default(),
    ] {
        push_csv_field(out, field);
        out.push(',');
    }
    let _ = write!(
        out,
        "{},{},{},{},",
        u.email_verified, u.is_active, u.is_staff, u.is_superuser
    );
    if let Some(t) = u.last_login {
        out.push_str(&t.to_rfc3339());
    }
    out.push(',');
    out.push_str(&u.created_at.to_rfc3339());
    out.push_str("\r\n");
}

pub fn csv_row(u: &User) -> String {
    let mut line = String::with_capacity(256);
    push_csv_row(&mut line, u);
    line
}

pub const CSV_HEADER: &str = "id,username,email,first_name,last_name,cognito_sub,email_verified,\
is_active,is_staff,is_superuser,last_login,created_at\r\n";

/// `GET /admin/users/export.csv?<list filters>`: every matching user, streamed in batches by
/// keyset, so a million rows never sit in memory at once.
pub async fn export_csv(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    admin.require(MODEL, "view")?;
    let params = ListParams::parse(req.query_string());
    let pool = state.pool.clone();
    // State: (after this id, finished?). The header goes out first.
    let header = futures_util::stream::once(async {
        Ok::<_, actix_web::Error>(web::Bytes::from_static(CSV_HEADER.as_bytes()))
    });
    let rows = futures_util::stream::unfold(Some(None::<Uuid>), move |cursor| {
        let pool = pool.clone();
        let params = params.clone();
        async move {
            let after = cursor?;
            let batch = async {
                let mut conn = db::connection(&pool).await?;
                Ok::<_, db::DbError>(params.batch_after(&mut conn, after, EXPORT_BATCH).await?)
            }
            .await;
            match batch {
                Ok(users) if users.is_empty() => None,
                Ok(users) => {
                    let last = users.last().map(|u| u.id);
                    let next = if (users.len() as i64) < EXPORT_BATCH {
                        None
                    } else {
                        Some(last)
                    };
                    let mut chunk = String::with_capacity(users.len() * 200);
                    for u in &users {
                        push_csv_row(&mut chunk, u);
                    }
                    Some((Ok(web::Bytes::from(chunk)), next))
                }
                Err(e) => {
                    // Headers are gone already: cut the stream so the file is visibly incomplete.
                    tracing::error!(error = %e, "CSV export failed");
                    Some((
                        Err(actix_web::error::ErrorInternalServerError("export failed")),
                        None,
                    ))
                }
            }
        }
    });
    use futures_util::StreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"users.csv\"",
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .streaming(header.chain(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_at_the_largest_pages_do_not_overflow() {
        let mut params = ListParams::parse("per=200");
        for page in [i64::MAX, i64::MAX - 2, crate::admin::user_list::MAX_PAGE] {
            params.page = page;
            let links = page_links(&params, i64::MAX);
            // Beyond the last page nothing is current; no arithmetic may overflow.
            let current = links.iter().any(|l| l.current);
            assert_eq!(current, page == crate::admin::user_list::MAX_PAGE, "{page}");
            assert!(links.len() <= 7);
        }
    }
}
