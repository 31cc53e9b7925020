//! Revoking the refresh tokens of ended web sessions at Cognito (`/oauth2/revoke`).
//!
//! A trigger queues the token of every deleted session row (`web_revocations`), in the deleting
//! transaction. The request that ended a session takes its queue entries and revokes at once, so
//! a sign-out is complete when it answers; whatever else ends sessions (staff actions, the user's
//! deletion, pruning of idle sessions) is revoked by [`spawn_worker`] within seconds, and an entry
//! whose revocation failed is retried with backoff. Each entry is revoked once: entries are taken
//! with `DELETE … RETURNING` or locked with `SKIP LOCKED`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::WebAuth;
use super::managed_login::EndpointError;
use super::session::{Column, context};
use crate::db::{self, DbError, Pool};
use crate::models::WebRevocation;

/// How often each instance looks for due revocations.
const POLL: Duration = Duration::from_secs(5);
const BATCH: i64 = 20;
/// Retries back off from 30 s to an hour; after this many the entry is dropped (with a warning):
/// by then about a day has passed.
const MAX_ATTEMPTS: i32 = 30;

/// What became of one revocation.
enum Outcome {
    Done,
    /// Cognito did not answer: try again later.
    Retry,
}

async fn revoke_one(web: &WebAuth, entry: &WebRevocation) -> Outcome {
    let Ok(token) = web.sealer.open_string(
        &context(entry.session_id, Column::Refresh),
        &entry.refresh_token,
    ) else {
        tracing::warn!(session = %entry.session_id, "queued refresh token does not open (SECRET_KEY changed?); dropped");
        return Outcome::Done;
    };
    match web.login.revoke(&token).await {
        Ok(()) => Outcome::Done,
        // Already revoked, expired, or not this client's: nothing more to do.
        Err(EndpointError::Refused { error }) => {
            tracing::info!(session = %entry.session_id, error, "Cognito refused a revocation");
            Outcome::Done
        }
        Err(EndpointError::Unavailable(why)) => {
            tracing::warn!(session = %entry.session_id, why, "revocation failed; will retry");
            Outcome::Retry
        }
    }
}

fn backoff(attempts: i32) -> TimeDelta {
    let seconds = 30_i64.saturating_mul(1 << attempts.clamp(0, 7));
    TimeDelta::seconds(seconds.min(3600))
}

async fn reschedule(conn: &mut AsyncPgConnection, entry: &WebRevocation) -> Result<(), DbError> {
    let attempts = entry.attempts + 1;
    if attempts >= MAX_ATTEMPTS {
        tracing::warn!(session = %entry.session_id, "revocation given up after {attempts} attempts");
        return Ok(());
    }
    WebRevocation::retry_at(
        conn,
        entry.session_id,
        &entry.refresh_token,
        attempts,
        Utc::now() + backoff(attempts),
    )
    .await?;
    Ok(())
}

/// Revokes the tokens of sessions this request just ended (after its transaction committed).
/// Best effort: the sessions are gone already; a failure is left to the worker.
pub async fn revoke_now(web: &WebAuth, pool: &Pool, session_ids: &[Uuid]) {
    if session_ids.is_empty() {
        return;
    }
    let result = async {
        let mut conn = db::connection(pool).await?;
        let entries = WebRevocation::take(&mut conn, session_ids).await?;
        // No connection is held while Cognito answers.
        drop(conn);
        for entry in entries {
            if let Outcome::Retry = revoke_one(web, &entry).await {
                let mut conn = db::connection(pool).await?;
                reschedule(&mut conn, &entry).await?;
            }
        }
        Ok::<_, DbError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "revoking ended sessions' tokens: left to the worker");
    }
}

/// Revokes what is due, in batches, until nothing is; returns how many were handled.
pub async fn drain(web: &WebAuth, pool: &Pool) -> Result<usize, DbError> {
    let mut handled = 0;
    loop {
        let mut conn = db::connection(pool).await?;
        let batch = conn
            .transaction::<_, DbError, _>(async |conn| {
                let due = WebRevocation::lock_due(conn, BATCH).await?;
                for entry in &due {
                    WebRevocation::done(conn, entry.session_id).await?;
                    if let Outcome::Retry = revoke_one(web, entry).await {
                        reschedule(conn, entry).await?;
                    }
                }
                Ok(due.len())
            })
            .await?;
        handled += batch;
        if batch < BATCH as usize {
            return Ok(handled);
        }
    }
}

/// Starts the background revoker of this instance; it stops when the server's `WebAuth` goes.
pub fn spawn_worker(web: &Arc<WebAuth>, pool: Pool) {
    let web: Weak<WebAuth> = Arc::downgrade(web);
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            let Some(web) = web.upgrade() else { return };
            match drain(&web, &pool).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(revoked = n, "queued refresh tokens revoked"),
                Err(e) => tracing::warn!(error = %e, "revocation queue unavailable"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(1).num_seconds(), 60);
        assert_eq!(backoff(2).num_seconds(), 120);
        assert_eq!(backoff(7).num_seconds(), 3600);
        assert_eq!(backoff(29).num_seconds(), 3600);
        assert_eq!(backoff(-1).num_seconds(), 30);
    }
}
