//! Revocations outlive both the logged-out token and the local user row (issue 11, points 1–2):
//! a sign-in stays revoked for as long as it can mint tokens, and deleting a user (or signing
//! them out everywhere) refuses every earlier sign-in even though the row is gone.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::admin_helpers::{NewAccount, bulk_user_action, create_user, login_ok, post_admin};
use crate::cognito::*;
use crate::helpers::TestApp;
use crate::tokens::{count_users, delete_users_with_sub};

async fn user_id(app: &TestApp, sub: &str) -> Uuid {
    app.db
        .client()
        .await
        .query_one("SELECT id FROM users WHERE cognito_sub = $1", &[&sub])
        .await
        .unwrap()
        .get(0)
}

/// The API and the back office on one app, with a signed-in superuser.
async fn api_with_admin(jwks: &JwksServer) -> TestApp {
    let app = spawn_api(jwks, &[("COOKIE_SECURE", "false")]).await;
    create_user(&app, NewAccount::superuser("root")).await;
    login_ok(&app, "root").await;
    app
}

async fn assert_revoked_and_not_provisioned(app: &TestApp, token: &str, sub: &str) {
    assert_invalid_token(app.me(token).await, "token_revoked").await;
    assert_eq!(count_users(app, sub).await, 0, "no user was provisioned");
}

/// A later token of the same sign-in (a refresh): same `origin_jti` and `auth_time`.
fn refreshed(claims: &Value, exp_in: i64) -> Value {
    let mut later = claims.clone();
    later["jti"] = json!(Uuid::new_v4().to_string());
    later["iat"] = json!(now());
    later["exp"] = json!(now() + exp_in);
    later
}

#[actix_web::test]
async fn a_logout_outlives_the_logged_out_token_and_every_later_prune() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();
    let mut short = access_claims(&sub, "u");
    short["exp"] = json!(now() + 2);
    let token_a = access_key().sign(&short);
    assert_eq!(app.me(&token_a).await.status(), 200);
    assert_eq!(
        app.post_with_token("/api/v1/logout", &token_a)
            .await
            .status(),
        204
    );

    // Token A expires; any other logout prunes what has expired.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_invalid_token(app.me(&token_a).await, "token_expired").await;
    let other = access_key().sign(&access_claims(&new_sub(), "other"));
    assert_eq!(
        app.post_with_token("/api/v1/logout", &other).await.status(),
        204
    );

    // Token B, refreshed later from the same sign-in, must still be refused.
    let token_b = access_key().sign(&refreshed(&short, 3600));
    assert_invalid_token(app.me(&token_b).await, "token_revoked").await;

    // Kept for the refresh-token lifetime (30 days by default) from the sign-in.
    let kept_days: f64 = app
        .db
        .client()
        .await
        .query_one(
            "SELECT extract(epoch FROM expires_at - now())::float8 / 86400 \
             FROM revoked_tokens WHERE sub = $1",
            &[&sub],
        )
        .await
        .unwrap()
        .get(0);
    assert!(kept_days > 30.0, "kept {kept_days} days");
}

#[actix_web::test]
async fn a_repeated_revocation_only_ever_extends() {
    use diesel_async::{AsyncConnection, AsyncPgConnection};
    use gatehouse::models::{NewRevokedToken, new_id};

    let db = crate::helpers::TestDb::migrated().await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::days(60);
    let sooner = chrono::Utc::now() + chrono::Duration::days(1);
    for expires_at in [later, sooner] {
        NewRevokedToken {
            id: new_id(),
            issuer: ISSUER,
            jti: "sign-in",
            sub: "s",
            expires_at,
        }
        .insert(&mut conn)
        .await
        .unwrap();
    }

    let row = db
        .client()
        .await
        .query_one("SELECT count(*), max(expires_at) FROM revoked_tokens", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    let kept: chrono::DateTime<chrono::Utc> = row.get(1);
    assert!((kept - later).num_seconds().abs() < 1, "{kept} vs {later}");
}

/// Both issuer formats of one pool are configured: a logout made with a token in one format
/// refuses the same sign-in's tokens in the other (revocations are matched by sign-in alone).
#[actix_web::test]
async fn a_logout_in_one_issuer_format_refuses_the_other_format_too() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let updated = ISSUER.replace("cognito-idp.", "issuer-cognito-idp.");
    let both = format!("{ISSUER},{updated}");
    let app = spawn_api(&jwks, &[("COGNITO_ISSUER", both.as_str())]).await;
    let sub = new_sub();
    let mut original = access_claims(&sub, "jane");
    original["iss"] = json!(updated);
    let token = access_key().sign(&original);
    assert_eq!(
        app.post_with_token("/api/v1/logout", &token).await.status(),
        204
    );

    let mut other_format = refreshed(&original, 3600);
    other_format["iss"] = json!(ISSUER);

    assert_invalid_token(
        app.me(&access_key().sign(&other_format)).await,
        "token_revoked",
    )
    .await;
}

#[actix_web::test]
async fn deleting_a_user_in_the_back_office_keeps_their_sign_ins_refused() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = api_with_admin(&jwks).await;
    let sub = new_sub();
    let logged_out = access_key().sign(&access_claims(&sub, "jane"));
    let other_sign_in = access_key().sign(&access_claims(&sub, "jane"));
    assert_eq!(app.me(&logged_out).await.status(), 200);
    assert_eq!(
        app.post_with_token("/api/v1/logout", &logged_out)
            .await
            .status(),
        204
    );
    let id = user_id(&app, &sub).await;

    let response = post_admin(&app, &format!("/admin/users/{id}/delete/"), &[]).await;

    assert_eq!(response.status(), 303);
    assert_eq!(count_users(&app, &sub).await, 0, "deleted");
    assert_revoked_and_not_provisioned(&app, &logged_out, &sub).await;
    // A sign-in from before the deletion, never logged out, is refused too.
    assert_revoked_and_not_provisioned(&app, &other_sign_in, &sub).await;
    // Also on the create path of the other routes.
    let (status, code, _) =
        refusal(app.get_with_token("/api/v1/articles", &other_sign_in).await).await;
    assert_eq!((status, code.as_str()), (401, "token_revoked"));
    assert_eq!(count_users(&app, &sub).await, 0);

    // A genuinely new sign-in after the deletion provisions a fresh account.
    let mut fresh = access_claims(&sub, "jane");
    fresh["auth_time"] = json!(now() + 1);
    let me = app.me(&access_key().sign(&fresh)).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_ne!(me["id"], json!(id.to_string()), "a new account");
    assert_eq!(count_users(&app, &sub).await, 1);
}

#[actix_web::test]
async fn deleting_a_user_with_sql_keeps_their_sign_ins_refused() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();
    let logged_out = access_key().sign(&access_claims(&sub, "jane"));
    assert_eq!(app.me(&logged_out).await.status(), 200);
    assert_eq!(
        app.post_with_token("/api/v1/logout", &logged_out)
            .await
            .status(),
        204
    );

    delete_users_with_sub(&app, &sub).await;

    assert_revoked_and_not_provisioned(&app, &logged_out, &sub).await;
    let mut later = access_claims(&sub, "jane");
    later["auth_time"] = json!(now() + 1);
    assert_eq!(app.me(&access_key().sign(&later)).await.status(), 200);
    assert_eq!(count_users(&app, &sub).await, 1);
    // The new row records the issuer its tokens carry.
    let issuer: Option<String> = app
        .db
        .client()
        .await
        .query_one(
            "SELECT cognito_issuer FROM users WHERE cognito_sub = $1",
            &[&sub],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(issuer.as_deref(), Some(ISSUER));
}

#[actix_web::test]
async fn sign_out_everywhere_then_delete_still_refuses_older_sign_ins() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = api_with_admin(&jwks).await;
    let sub = new_sub();
    let mut old = access_claims(&sub, "jane");
    old["auth_time"] = json!(now() - 600);
    let old = access_key().sign(&old);
    assert_eq!(app.me(&old).await.status(), 200);
    let id = user_id(&app, &sub).await;

    let response = bulk_user_action(&app, "signout", id).await;
    assert_eq!(response.status(), 303);
    assert_invalid_token(app.me(&old).await, "token_revoked").await;
    // The change page shows when.
    let html = app
        .get(&format!("/admin/users/{id}/change/"))
        .await
        .text()
        .await
        .unwrap();
    let shown = html
        .split("API tokens valid after</dt><dd class=\"col-sm-8\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_default()
        .to_owned();
    assert!(shown.starts_with("20"), "a time is shown, got {shown:?}");

    // Delete the row behind the admin's back; the sign-out stays.
    app.db
        .client()
        .await
        .execute("DELETE FROM users WHERE id = $1", &[&id])
        .await
        .unwrap();
    assert_revoked_and_not_provisioned(&app, &old, &sub).await;
}

#[actix_web::test]
async fn sign_outs_recorded_before_issuers_were_apply_to_every_issuer() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = spawn_api(&jwks, &[]).await;
    let sub = new_sub();
    let mut old = access_claims(&sub, "jane");
    old["auth_time"] = json!(now() - 600);
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO cognito_signouts (issuer, sub, signed_out_at) \
             VALUES ('', $1, now() - interval '60 seconds')",
            &[&sub],
        )
        .await
        .unwrap();

    assert_revoked_and_not_provisioned(&app, &access_key().sign(&old), &sub).await;
    assert_eq!(
        app.me(&access_key().sign(&access_claims(&sub, "jane")))
            .await
            .status(),
        200
    );
}

/// Deactivating an account (a stolen token, a leaver) ends its staff sessions; it must end its API
/// sign-ins too. It used to only refuse them while the flag was off: reactivating the account,
/// by the change form or the bulk action, brought every earlier token back.
#[actix_web::test]
async fn a_deactivation_outlives_the_reactivation() {
    let jwks = JwksServer::start(&[access_key()]).await;
    let app = api_with_admin(&jwks).await;
    for via_form in [false, true] {
        let sub = new_sub();
        let mut old = access_claims(&sub, "jane");
        old["auth_time"] = json!(now() - 600);
        let old = access_key().sign(&old);
        assert_eq!(app.me(&old).await.status(), 200);
        let id = user_id(&app, &sub).await;
        let id_s = id.to_string();

        let deactivated = if via_form {
            let html = app
                .get(&format!("/admin/users/{id}/change/"))
                .await
                .text()
                .await
                .unwrap();
            let lock = crate::admin_helpers::lock_from(&html);
            post_admin(
                &app,
                &format!("/admin/users/{id}/change/"),
                &[
                    ("username", &format!("jane-{id_s}")[..20]),
                    ("email", ""),
                    ("first_name", ""),
                    ("last_name", ""),
                    ("updated_at", &lock),
                ],
            )
            .await
        } else {
            bulk_user_action(&app, "deactivate", id).await
        };
        assert_eq!(deactivated.status(), 303, "via form: {via_form}");
        let active: bool = app
            .db
            .client()
            .await
            .query_one("SELECT is_active FROM users WHERE id = $1", &[&id])
            .await
            .unwrap()
            .get(0);
        assert!(!active, "via form: {via_form}");
        let reactivated = bulk_user_action(&app, "activate", id).await;
        assert_eq!(reactivated.status(), 303);

        // The token from before the deactivation stays dead.
        assert_invalid_token(app.me(&old).await, "token_revoked").await;
        // A sign-in after the reactivation works.
        let mut fresh = access_claims(&sub, "jane");
        fresh["auth_time"] = json!(now() + 1);
        assert_eq!(app.me(&access_key().sign(&fresh)).await.status(), 200);
    }
}
