//! Argon2id password hashing and Django's password validators.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

pub const MIN_PASSWORD_LENGTH: usize = 10;

/// OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .expect("the OWASP parameters are valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). CPU-heavy: call it
/// from a blocking thread in request paths.
pub fn hash_password(password: &SecretString) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks `password` against a stored PHC string. A malformed stored hash verifies as false.
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password at the current parameters: verified against when the account does
/// not exist, so "no such user" takes as long as "wrong password".
pub static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = SaltString::generate(&mut OsRng);
    hash_password(&SecretString::from(random.as_str().to_owned()))
        .expect("hashing a random password cannot fail")
});

/// The 20,000 most common passwords, lower-cased (Django's list; see common-passwords.NOTICE).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().collect());

/// What the password will be checked against for similarity.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserAttributes<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
}

/// Django's four validators. Returns every problem, in a stable order; empty means acceptable.
pub fn validate_password(password: &str, user: UserAttributes<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        problems.push(format!(
            "This password is too short. It must contain at least {MIN_PASSWORD_LENGTH} characters."
        ));
    }
    if let Some(attribute) = too_similar(password, user) {
        problems.push(format!("The password is too similar to the {attribute}."));
    }
    if COMMON_PASSWORDS.contains(password.trim().to_lowercase().as_str()) {
        problems.push("This password is too common.".to_owned());
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_owned());
    }
    problems
}

const MAX_SIMILARITY: f64 = 0.7;

/// Django's `UserAttributeSimilarityValidator`: the password against each attribute and each of
/// its word parts, by the ratio of shared characters (difflib's `quick_ratio`).
fn too_similar(password: &str, user: UserAttributes<'_>) -> Option<&'static str> {
    let password = password.to_lowercase();
    let attributes = [
        ("username", user.username),
        ("email address", user.email),
        ("first name", user.first_name),
        ("last name", user.last_name),
    ];
    for (label, value) in attributes {
        let value = value.to_lowercase();
        if value.is_empty() {
            continue;
        }
        // A password far longer than the attribute cannot reach the ratio; skip the work.
        if password.chars().count() as f64 >= 10.0 * value.chars().count() as f64 {
            continue;
        }
        let parts = std::iter::once(value.as_str())
            .chain(value.split(|c: char| !c.is_alphanumeric() && c != '_'));
        for part in parts.filter(|p| !p.is_empty()) {
            if quick_ratio(&password, part) >= MAX_SIMILARITY {
                return Some(label);
            }
        }
    }
    None
}

fn quick_ratio(a: &str, b: &str) -> f64 {
    let mut counts = std::collections::HashMap::<char, i32>::new();
    for c in b.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let mut matches = 0usize;
    for c in a.chars() {
        if let Some(n) = counts.get_mut(&c)
            && *n > 0
        {
            *n -= 1;
            matches += 1;
        }
    }
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        1.0
    } else {
        2.0 * matches as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_at_owasp_parameters_and_verify() {
        let pw = SecretString::from("correct horse battery staple");
        let hash = hash_password(&pw).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&pw, &hash));
        assert!(!verify_password(&SecretString::from("wrong"), &hash));
        assert!(!verify_password(&pw, "not a phc string"));
        assert_ne!(hash, hash_password(&pw).unwrap(), "salted");
    }

    #[test]
    fn validators_match_djangos() {
        let none = UserAttributes::default();
        assert!(validate_password("tangerine-orbit-42", none).is_empty());
        assert_eq!(
            validate_password("short", none),
            ["This password is too short. It must contain at least 10 characters."]
        );
        assert!(
            validate_password("password123", none).contains(&"This password is too common.".into())
        );
        assert!(
            validate_password("Password123", none).contains(&"This password is too common.".into())
        );
        assert!(
            validate_password("83920174652", none)
                .contains(&"This password is entirely numeric.".into())
        );
        let alice = UserAttributes {
            username: "alice.wonderland",
            email: "alice@example.com",
            ..Default::default()
        };
        assert_eq!(
            validate_password("wonderland!", alice),
            ["The password is too similar to the username."]
        );
        assert!(validate_password("tangerine-orbit-42", alice).is_empty());
    }

    #[test]
    fn common_list_is_loaded() {
        assert!(COMMON_PASSWORDS.len() > 19_000);
        assert!(COMMON_PASSWORDS.contains("qwerty"));
    }
}
