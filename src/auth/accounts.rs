//! Account operations shared by the CLI and the back office: input rules, superuser creation,
//! password changes. Plain functions over a connection; no HTTP here.

use diesel_async::AsyncPgConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::password::{self, UserAttributes};
use crate::db::DbError;
use crate::models::{NewUser, User, new_id};

pub const MAX_USERNAME_LEN: usize = 150;
pub const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    InvalidUsername(String),
    #[error("{0}")]
    InvalidEmail(String),
    #[error("A user with the username {0:?} already exists.")]
    UsernameTaken(String),
    #[error("{}", .0.join(" "))]
    WeakPassword(Vec<String>),
    #[error("No user named {0:?}.")]
    NoSuchUser(String),
    #[error(transparent)]
    Hash(#[from] password::HashError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Db(DbError::Query(e))
    }
}

/// Django's username rule: 1–150 of letters, digits and `@ . + - _`.
pub fn validate_username(username: &str) -> Result<(), AccountError> {
    let len = username.chars().count();
    if len == 0 {
        return Err(AccountError::InvalidUsername(
            "The username must not be empty.".into(),
        ));
    }
    if len > MAX_USERNAME_LEN {
        return Err(AccountError::InvalidUsername(format!(
            "The username must have at most {MAX_USERNAME_LEN} characters (it has {len})."
        )));
    }
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
    {
        return Err(AccountError::InvalidUsername(
            "Enter a valid username: letters, digits and @ . + - _ only.".into(),
        ));
    }
    Ok(())
}

/// Trims and lower-cases an address and checks its shape; an empty address is allowed (staff
/// accounts need none). Real deliverability is Cognito's business, not ours.
pub fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Ok(email);
    }
    let invalid =
        || AccountError::InvalidEmail(format!("Enter a valid email address ({email:?})."));
    if email.chars().count() > MAX_EMAIL_LEN || email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    match email.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@') =>
        {
            Ok(email)
        }
        _ => Err(invalid()),
    }
}

pub struct NewSuperuser {
    pub username: String,
    pub email: String,
    pub password: SecretString,
}

/// Checks a would-be superuser before anything is written, so an interactive prompt can ask again.
pub fn check_new_superuser(input: &NewSuperuser) -> Result<String, AccountError> {
    validate_username(&input.username)?;
    let email = normalize_email(&input.email)?;
    let problems = password::validate_password(
        input.password.expose_secret(),
        UserAttributes {
            username: &input.username,
            email: &email,
            ..Default::default()
        },
    );
    if !problems.is_empty() {
        return Err(AccountError::WeakPassword(problems));
    }
    Ok(email)
}

/// Creates an active staff superuser with a usable password.
pub async fn create_superuser(
    conn: &mut AsyncPgConnection,
    input: &NewSuperuser,
) -> Result<User, AccountError> {
    let email = check_new_superuser(input)?;
    if User::find_by_username(conn, &input.username)
        .await?
        .is_some()
    {
        return Err(AccountError::UsernameTaken(input.username.clone()));
    }
    let hash = password::hash_password(&input.password)?;
    let new = NewUser {
        id: new_id(),
        username: &input.username,
        email: &email,
        password_hash: Some(&hash),
        cognito_sub: None,
        email_verified: false,
        first_name: "",
        last_name: "",
        is_active: true,
        is_staff: true,
        is_superuser: true,
    };
    match new.insert(conn).await {
        Ok(user) => Ok(user),
        // Lost a race with another insert of the same name: same answer as the check above.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(AccountError::UsernameTaken(input.username.clone())),
        Err(e) => Err(e.into()),
    }
}

/// Sets a new password after the validators pass, ending the user's staff sessions.
pub async fn change_password(
    conn: &mut AsyncPgConnection,
    username: &str,
    new_password: &SecretString,
) -> Result<User, AccountError> {
    let user = User::find_by_username(conn, username)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(username.to_owned()))?;
    let problems = password::validate_password(
        new_password.expose_secret(),
        UserAttributes {
            username: &user.username,
            email: &user.email,
            first_name: &user.first_name,
            last_name: &user.last_name,
        },
    );
    if !problems.is_empty() {
        return Err(AccountError::WeakPassword(problems));
    }
    let hash = password::hash_password(new_password)?;
    User::set_password_hash(conn, user.id, &hash).await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_djangos_rule() {
        assert!(validate_username("alice.b+ops@corp-1_x").is_ok());
        assert!(validate_username("Zoë").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("has space").is_err());
        assert!(validate_username("semi;colon").is_err());
        assert!(validate_username(&"a".repeat(151)).is_err());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(normalize_email("").unwrap(), "");
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "a b@c.d",
            "a@.com",
            "a@com.",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
