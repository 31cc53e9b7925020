//! "Sign out everywhere" for one user, whoever asks (staff, or the user on their account page):
//! staff sessions, API tokens and web sessions all end at once.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::models::{CognitoSignout, User, WebSession};

/// Ends every session of the user: staff sessions by epoch, Cognito tokens from sign-ins before
/// now by a `cognito_signouts` row (keyed by the Cognito identity, so it survives the user's
/// deletion), and web sessions by deleting them. Returns the time and the ended web sessions
/// (whose refresh tokens the caller may revoke at Cognito once the transaction is committed).
/// The user row is updated first: a web sign-in holding it (see `auth::web::sign_in`) finishes
/// before, and its session is deleted here.
pub async fn everywhere(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<(DateTime<Utc>, Vec<WebSession>)> {
    let now = Utc::now();
    User::bump_session_epoch(conn, user_id).await?;
    CognitoSignout::sign_out_user(conn, user_id, now).await?;
    let ended = WebSession::end_all_of_user(conn, user_id).await?;
    Ok((now, ended))
}
