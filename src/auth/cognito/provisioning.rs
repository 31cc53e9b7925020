//! Local users for Cognito identities (Django's RemoteUserBackend, done right): created on first
//! sight, race-free, and kept in step with the profile Cognito reports.

use diesel_async::AsyncPgConnection;

use super::verify::Claims;
use crate::auth::accounts;
use crate::db::DbError;
use crate::models::{NewUser, ProfileChanges, User, new_id};

/// Profile fields as we store them (email lower-cased, names clipped); `None` = not reported.
#[derive(Debug, Default, Clone)]
pub struct Profile {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

impl Profile {
    pub fn new(
        email: Option<&str>,
        email_verified: Option<bool>,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Self {
        // PostgreSQL text cannot hold NUL: such a value is left out, like any we cannot store.
        let storable = |s: &&str| !s.contains('\0');
        let clip = |s: Option<&str>| {
            s.filter(storable)
                .map(|v| v.chars().take(accounts::MAX_USERNAME_LEN).collect())
        };
        Profile {
            // An address we cannot store is left out rather than refusing the identity.
            email: email
                .filter(storable)
                .and_then(|e| accounts::normalize_email(e).ok()),
            email_verified,
            first_name: clip(first_name),
            last_name: clip(last_name),
        }
    }

    /// Only id tokens carry profile attributes.
    pub fn from_claims(claims: &Claims) -> Self {
        if !claims.is_id_token() {
            return Profile::default();
        }
        Profile::new(
            claims.email.as_deref(),
            claims.email_verified,
            claims.given_name.as_deref(),
            claims.family_name.as_deref(),
        )
    }
}

pub struct Identity<'a> {
    pub sub: &'a str,
    /// The `iss` of the token, recorded so sign-outs are keyed by issuer and `sub`; `None` when
    /// unknown (the post-confirmation hook).
    pub issuer: Option<&'a str>,
    /// The Cognito user name, when known.
    pub username: Option<&'a str>,
    pub profile: Profile,
}

impl<'a> Identity<'a> {
    pub fn from_claims(claims: &'a Claims) -> Self {
        Identity {
            sub: &claims.sub,
            issuer: Some(&claims.iss),
            username: claims.cognito_username(),
            profile: Profile::from_claims(claims),
        }
    }
}

/// A Cognito user name we can take as ours: it must pass the staff username rules (1–150 letters,
/// digits and `@ . + - _`, so no control, bidi or other format characters that could disguise
/// it in the back office); otherwise the user is named by `sub`.
fn usable_username(name: &str) -> bool {
    accounts::validate_username(name).is_ok()
}

/// The user for `identity.sub`, created if missing. Race-free: concurrent callers all insert with
/// `ON CONFLICT DO NOTHING` and then read the one row that won.
pub async fn find_or_create(
    conn: &mut AsyncPgConnection,
    identity: &Identity<'_>,
) -> Result<User, DbError> {
    let p = &identity.profile;
    let preferred = identity
        .username
        .filter(|name| usable_username(name))
        .unwrap_or(identity.sub);
    // The Cognito name may already belong to someone else here, and so, rarely, may the `sub`
    // (usernames are free text to staff): then the user is named by their new id, which no one
    // can have taken.
    let id = new_id();
    let by_id = id.to_string();
    for username in [preferred, identity.sub, by_id.as_str()] {
        let new = NewUser {
            id,
            username,
            email: p.email.as_deref().unwrap_or(""),
            password_hash: None,
            cognito_sub: Some(identity.sub),
            email_verified: p.email_verified.unwrap_or(false),
            first_name: p.first_name.as_deref().unwrap_or(""),
            last_name: p.last_name.as_deref().unwrap_or(""),
            is_active: true,
            is_staff: false,
            is_superuser: false,
        };
        let inserted = new.insert_from_cognito(conn, identity.issuer).await?;
        if let Some(user) = inserted {
            tracing::info!(user = %user, "provisioned a user from Cognito");
            return Ok(user);
        }
        if let Some(user) = User::find_by_cognito_sub(conn, identity.sub).await? {
            return Ok(user);
        }
    }
    // Only if a username equal to a fresh UUIDv7 existed: never, short of a corrupted table.
    Err(DbError::Query(diesel::result::Error::NotFound))
}

fn changed<'a>(new: &'a Option<String>, old: &str) -> Option<&'a str> {
    new.as_deref().filter(|n| *n != old)
}

/// Stores the reported profile, writing only when something changed.
pub async fn sync_profile(
    conn: &mut AsyncPgConnection,
    user: User,
    profile: &Profile,
) -> Result<User, DbError> {
    let changes = ProfileChanges {
        email: changed(&profile.email, &user.email),
        email_verified: profile.email_verified.filter(|v| *v != user.email_verified),
        first_name: changed(&profile.first_name, &user.first_name),
        last_name: changed(&profile.last_name, &user.last_name),
    };
    if changes.is_empty() {
        return Ok(user);
    }
    Ok(User::update_profile(conn, user.id, &changes).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usable_cognito_names_become_usernames() {
        assert!(usable_username("janedoe@example.com"));
        assert!(!usable_username(""));
        assert!(!usable_username("   "));
        assert!(!usable_username("nul\0name"));
        assert!(!usable_username("bad\nname"));
        assert!(!usable_username(&"x".repeat(151)));
        // Bidi overrides and other format characters would disguise the name.
        assert!(!usable_username("admin\u{202e}nimda"));
        assert!(!usable_username("jane\u{200b}doe"));
        assert!(!usable_username("jane doe"));
    }

    #[test]
    fn profiles_are_normalised() {
        let p = Profile::new(Some(" Jane@Example.COM "), Some(true), Some("Jane"), None);
        assert_eq!(p.email.as_deref(), Some("jane@example.com"));
        assert_eq!(
            Profile::new(Some("not an email"), None, None, None).email,
            None
        );
        let nul = Profile::new(Some("a\0@example.com"), None, Some("J\0"), Some("Doe"));
        assert_eq!(nul.email, None);
        assert_eq!(nul.first_name, None);
        assert_eq!(nul.last_name.as_deref(), Some("Doe"));
    }
}
