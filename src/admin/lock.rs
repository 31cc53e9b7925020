//! Optimistic locking for the change forms (users, groups, articles).
//!
//! A change form carries the object's `updated_at` as it was when the form was rendered (hidden
//! field `updated_at`). The save locks the row (`SELECT … FOR UPDATE`), compares, and refuses with
//! [`SaveError::Stale`] when someone saved in between; the handler then shows the form again with
//! the entries kept, a "changed by someone else" message and status 409. `updated_at` moves on
//! every real change of the row (the trigger makes it strictly increase), and `bump_version` (of
//! `User` and `Group`) moves it when only the object's relations changed (a user's groups, a
//! group's permissions), so no change can slip past the comparison.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};

/// The hidden form field holding the token.
pub const FIELD: &str = "updated_at";

/// The token of a row version: its `updated_at` to the microsecond (what Postgres stores).
pub fn token(updated_at: DateTime<Utc>) -> String {
    updated_at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Whether the posted token names this version (an absent or garbled token never does).
pub fn is_current(updated_at: DateTime<Utc>, posted: &str) -> bool {
    token(updated_at) == posted
}

/// Why a change was not saved.
#[derive(Debug)]
pub enum SaveError {
    /// Someone saved the object after this form was loaded.
    Stale,
    /// The change reaches beyond the actor's rights (checked under the row lock, so it holds for
    /// the version being saved); nothing was written.
    Forbidden,
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for SaveError {
    fn from(e: diesel::result::Error) -> Self {
        SaveError::Db(e)
    }
}

/// The message above a form whose save was refused as stale.
pub fn conflict_message(kind: &str) -> String {
    format!(
        "This {kind} was changed by someone else after you opened this form, so your changes \
         were not saved. Your entries are shown below; compare them with the current history \
         and save again."
    )
}

/// The re-rendered form of a refused stale save answers 409 Conflict.
pub fn conflict(mut response: HttpResponse) -> HttpResponse {
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::CONFLICT;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_microseconds_and_garbage_never_matches() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T01:02:03.456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(token(t), "2026-11-26T01:02:03.456789Z");
        assert!(is_current(t, "2026-11-26T01:02:03.456789Z"));
        assert!(!is_current(t, ""));
        assert!(!is_current(t, "2026-11-26T01:02:03.456788Z"));
    }
}
