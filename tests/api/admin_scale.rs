//! The users list at scale: estimated and capped counts, stable ids-first paging, searches that
//! mix broad and selective words, and the CSV export of every row.

use std::collections::HashSet;

use gatehouse::db;
use gatehouse::seed::seed_users;
use uuid::Uuid;

use crate::admin_helpers::*;
use crate::helpers::{TestApp, test_settings};

async fn seed(app: &TestApp, n: i64) {
    let pool = db::build_pool(&test_settings(&app.db.url, &[]).database);
    let mut conn = db::connection(&pool).await.unwrap();
    seed_users(&mut conn, n, &mut |_| {}).await.unwrap();
}

/// The ids of a list page's rows, in order.
fn row_ids(html: &str) -> Vec<Uuid> {
    html.split("name=\"_selected_action\" value=\"")
        .skip(1)
        .map(|rest| Uuid::parse_str(&rest[..36]).unwrap())
        .collect()
}

/// The result count line.
fn summary(html: &str) -> String {
    let start = html.find("id=\"result-count\">").unwrap() + "id=\"result-count\">".len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

/// Pretends the last ANALYZE saw `n` users (the tests run as a Postgres superuser): the planner
/// scales its estimates to it, as it would on a table that size.
async fn pretend_users(app: &TestApp, n: i64) {
    app.db
        .client()
        .await
        .batch_execute(&format!(
            "UPDATE pg_class SET reltuples = {n} WHERE relname = 'users'"
        ))
        .await
        .unwrap();
}

async fn ids_where(app: &TestApp, condition: &str, order: &str) -> Vec<Uuid> {
    app.db
        .client()
        .await
        .query(
            &format!("SELECT id FROM users WHERE {condition} ORDER BY {order}"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[actix_web::test]
async fn broad_filters_show_the_estimate_and_narrow_ones_an_exact_or_capped_count() {
    let (app, _) = app_as_superuser().await;
    seed(&app, 12_000).await;

    // Counted up to the cap: about 11,400 active users are "more than 10000".
    let html = text(&app, "/admin/users/?is_active=1").await;
    assert_eq!(summary(&html), "More than 10000 results (12001 total)");
    assert_eq!(row_ids(&html).len(), 100);
    let html = text(&app, "/admin/users/?is_active=0").await;
    let inactive = ids_where(&app, "NOT is_active", "username, id").await;
    assert_eq!(
        summary(&html),
        format!("{} results (12001 total)", inactive.len())
    );
    assert_eq!(row_ids(&html), inactive[..100]);

    // On a table the planner believes is 2,000,000 rows, a broad filter is not counted at all.
    pretend_users(&app, 2_000_000).await;
    let html = text(&app, "/admin/users/?is_active=1&o=-email").await;
    let s = summary(&html);
    assert!(
        s.starts_with("about ") && s.ends_with(" results (about 2000000 total)"),
        "{s}"
    );
    let active = ids_where(&app, "is_active", "email DESC, id DESC").await;
    assert_eq!(row_ids(&html), active[..100]);
    // A broad filter with fewer rows than a page: the page itself is the exact count.
    let html = text(&app, "/admin/users/?is_active=1&q=root").await;
    assert_eq!(summary(&html), "1 result (about 2000000 total)");
    // Narrow ones are still counted exactly.
    let html = text(&app, "/admin/users/?is_staff=1").await;
    let staff = ids_where(&app, "is_staff", "username, id").await;
    assert_eq!(
        summary(&html),
        format!(
            "{} result{} (about 2000000 total)",
            staff.len(),
            if staff.len() == 1 { "" } else { "s" }
        )
    );
    assert_eq!(row_ids(&html), staff);
}

#[actix_web::test]
async fn a_search_mixing_a_broad_and_a_selective_word_finds_exactly_the_matches() {
    let (app, _) = app_as_superuser().await;
    seed(&app, 3000).await;
    let both = "(username || ' ' || email || ' ' || coalesce(cognito_sub, '')) ILIKE '%olivia%' \
                AND (username || ' ' || email || ' ' || coalesce(cognito_sub, '')) ILIKE '%shop.example%'";
    let expected = ids_where(&app, both, "created_at DESC, id DESC").await;
    assert!(!expected.is_empty());

    for believed in [3000, 2_000_000] {
        pretend_users(&app, believed).await;
        let html = text(
            &app,
            "/admin/users/?q=Olivia+shop.example&o=-created_at&per=200",
        )
        .await;
        assert!(
            summary(&html).starts_with(&format!("{} result", expected.len())),
            "{believed}: {}",
            summary(&html)
        );
        assert_eq!(row_ids(&html), expected, "{believed}");
    }
    // One- and two-letter words have no trigram; they still filter.
    let html = text(&app, "/admin/users/?q=li+shop.example&per=200").await;
    let expected = ids_where(
        &app,
        "(username || ' ' || email || ' ' || coalesce(cognito_sub, '')) ILIKE '%li%' \
         AND (username || ' ' || email || ' ' || coalesce(cognito_sub, '')) ILIKE '%shop.example%'",
        "username, id",
    )
    .await;
    assert_eq!(row_ids(&html)[..], expected[..expected.len().min(200)]);
}

#[actix_web::test]
async fn paging_through_every_sort_visits_each_user_once_in_order() {
    let (app, _) = app_as_superuser().await;
    seed(&app, 1200).await;
    let orders = [
        ("username", "username, id"),
        ("-username", "username DESC, id DESC"),
        ("email", "email, id"),
        ("is_staff", "is_staff, id"),
        ("-is_active", "is_active DESC, id DESC"),
        ("source", "cognito_sub IS NOT NULL, id"),
        ("-created_at", "created_at DESC, id DESC"),
    ];
    for (o, sql_order) in orders {
        let expected = ids_where(&app, "true", sql_order).await;
        let mut seen = Vec::new();
        for p in 1..=7 {
            let html = text(&app, &format!("/admin/users/?o={o}&per=200&p={p}")).await;
            seen.extend(row_ids(&html));
        }
        assert_eq!(seen.len(), 1201, "{o}");
        assert_eq!(seen, expected, "{o}");
    }
    // A page past the end is empty, not an error.
    assert!(row_ids(&text(&app, "/admin/users/?p=99").await).is_empty());
}

#[actix_web::test]
async fn csv_export_streams_every_user_once() {
    let (app, _) = app_as_superuser().await;
    seed(&app, 3500).await;

    let response = app.get("/admin/users/export.csv").await;

    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed"
    );
    let body = response.text().await.unwrap();
    let ids: Vec<&str> = body.lines().skip(1).map(|l| &l[..36]).collect();
    assert_eq!(ids.len(), 3501);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3501);
    let filtered = text(&app, "/admin/users/export.csv?is_active=0").await;
    let inactive = ids_where(&app, "NOT is_active", "id").await;
    assert_eq!(filtered.lines().count(), inactive.len() + 1);
}
