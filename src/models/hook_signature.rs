use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::hook_signatures;

/// Records a verified hook signature. `false` when it was already used: a replay. Concurrent
/// deliveries of one signature serialise on the primary key, so exactly one gets `true`.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    signature: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::delete(hook_signatures::table.filter(hook_signatures::expires_at.lt(diesel::dsl::now)))
        .execute(conn)
        .await?;
    let inserted = diesel::insert_into(hook_signatures::table)
        .values((
            hook_signatures::signature.eq(signature),
            hook_signatures::expires_at.eq(expires_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}
