//! The users' bulk actions beyond delete (activate, deactivate, sign out everywhere) and the
//! CSV export of a filtered list.

use super::*;

/// Applies a bulk action other than delete to `users` (locked and within the actor's reach: see
/// the generic bulk page) and logs one row per changed user; never deactivates the acting user.
/// Returns how many changed. Run it in a transaction.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    actor: &User,
    action: &str,
    users: &[User],
) -> QueryResult<usize> {
    let mut done = 0;
    for user in users {
        let mut changes = Changes::default();
        let (log_action, message) = match action {
            "activate" if !user.is_active => {
                User::set_active(conn, user.id, true).await?;
                changes.diff("is_active", false, true);
                (Action::Bulk, "Activated (bulk action).")
            }
            "deactivate" if user.is_active && user.id != actor.id => {
                User::set_active(conn, user.id, false).await?;
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
            target::<Users>(user.id, &user.username),
            log_action,
            message,
            changes.into_value(),
        )
        .await?;
        done += 1;
    }
    Ok(done)
}

/// Ends every session, API token and web session of the user (see `auth::sign_out`). The web
/// sessions' refresh tokens are revoked at Cognito by the background revoker (the deleted rows
/// queue them: see `auth::web::revocations`).
pub async fn sign_out_everywhere(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<DateTime<Utc>> {
    let (now, _ended) = crate::auth::sign_out::everywhere(conn, id).await?;
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
    let params = list_params(req.query_string());
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
                let query = list_query(&params);
                Ok::<_, db::DbError>(query.batch_after(&mut conn, after, EXPORT_BATCH).await?)
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
