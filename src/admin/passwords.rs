//! The password fields of the back office's forms (one's own password change, a staff member
//! setting another's): the validators' help, the checks, hashing off the async threads, and the
//! logged save.

use actix_web::web;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use secrecy::SecretString;

use super::history::{self, Action, Changes, Target};
use super::kit::FieldErrors;
use crate::auth::password::{self, UserAttributes};
use crate::error::AdminError;
use crate::models::User;

/// The password rules, as shown under a new-password field.
pub fn password_help() -> Vec<String> {
    vec![
        format!("At least {} characters.", password::MIN_PASSWORD_LENGTH),
        "Not entirely numeric.".into(),
        "Not too similar to the username, names or email address.".into(),
        "Not a commonly used password.".into(),
    ]
}

/// Checks a new password typed twice against the validators; errors go on `field2`.
pub fn check_new_password(
    new1: &str,
    new2: &str,
    user: UserAttributes<'_>,
    field2: &'static str,
    errors: &mut FieldErrors,
) {
    if new1 != new2 {
        errors.add(field2, "The two password fields didn't match.");
        return;
    }
    let problems = password::validate_password(new2, user);
    if !problems.is_empty() {
        errors.add_all(field2, problems);
    }
}

/// Hashes on the blocking pool (Argon2 is CPU-heavy).
pub async fn hash_blocking(new: String) -> Result<String, AdminError> {
    web::block(move || password::hash_password(&SecretString::from(new)))
        .await
        .map_err(AdminError::internal)?
        .map_err(AdminError::internal)
}

/// Sets `target`'s password, bumps its session epoch and logs who did it, in one transaction.
/// Returns the new epoch.
pub async fn set_password_logged(
    conn: &mut AsyncPgConnection,
    actor: &User,
    target: &User,
    hash: String,
) -> Result<i32, AdminError> {
    let epoch = conn
        .transaction(async |conn| {
            let epoch = User::set_password_hash(conn, target.id, &hash).await?;
            let mut changes = Changes::default();
            changes.mark("password", "changed");
            history::write(
                conn,
                actor,
                Target {
                    object_type: "users",
                    id: target.id,
                    repr: &target.username,
                },
                Action::Change,
                "Changed password.",
                changes.into_value(),
            )
            .await?;
            Ok::<_, diesel::result::Error>(epoch)
        })
        .await?;
    Ok(epoch)
}
