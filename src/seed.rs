//! `gatehouse seed --users N`: N realistic app users, for measuring the back office at scale.
//!
//! Seeded user number `g` (1, 2, …) always gets the same username, so the command is idempotent:
//! it finds how many seeded users are already there (a binary search over `g`, each probe one
//! lookup in the unique username index) and inserts only the missing ones. The rows come from
//! `INSERT … SELECT … FROM generate_series`, 100,000 per statement, all in one transaction: an
//! interrupted run leaves nothing behind. When the load at least doubles the table, the secondary
//! indexes are dropped first and rebuilt once at the end (much faster than keeping them up to date
//! row by row); the unique ones stay, so conflicts are still caught.
//!
//! The data is shaped like a consumer app's user base, so filters are selective the way they would
//! be in production: first and last names from a list of about 110 each, four username styles,
//! email domains from a weighted list (`example.com` 30 %, `mail.example` 25 %,
//! `shop.example` 15 %, …), 85 % Cognito users, 5 % deactivated, 80 % verified emails,
//! 0.05 % staff, 0.01 % superusers, sign-ups spread over three years (ids are UUIDv7 of the
//! sign-up time, as the app makes them), 70 % with a last login. Seeded users have no usable
//! password.

use std::time::Instant;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Rows per `INSERT` statement.
pub const BATCH: i64 = 100_000;
/// The most users one run may ask for.
pub const MAX_USERS: i64 = 100_000_000;
/// Below this many new rows, keeping the indexes is cheaper than rebuilding them.
const REBUILD_INDEXES_FROM: i64 = 50_000;

/// The seeded rows numbered `$1` to `$2` (of `$3` in all, which sets the pace of sign-ups): every
/// column derived from `g` by `hashint8extended`, so a run is repeatable.
const SEED_ROWS: &str = r#"
WITH firsts AS (SELECT ARRAY['Olivia','Liam','Emma','Noah','Amelia','Oliver','Ava','Elijah',
       'Sophia','James','Isabella','William','Mia','Benjamin','Charlotte','Lucas','Harper','Henry',
       'Evelyn','Theodore','Luna','Jack','Ella','Levi','Chloe','Alexander','Layla','Jackson','Nora',
       'Mateo','Zoe','Daniel','Lily','Michael','Hannah','Mason','Aria','Sebastian','Grace','Ethan',
       'Ellie','Logan','Scarlett','Owen','Penelope','Samuel','Riley','Jacob','Victoria','Asher',
       'Madison','Aiden','Stella','John','Hazel','Joseph','Aurora','Wyatt','Violet','David','Lucy',
       'Leo','Anna','Luke','Sofia','Julian','Camila','Hudson','Gianna','Grayson','Aaliyah',
       'Matthew','Maya','Ezra','Naomi','Gabriel','Elena','Carter','Sarah','Isaac','Leah','Jayden',
       'Ruby','Lincoln','Alice','Anthony','Clara','Dylan','Eva','Thomas','Ines','Hugo','Fatima',
       'Yusuf','Mei','Kenji','Priya','Arjun','Zara','Omar','Chiara','Marco','Freya','Lars','Ana',
       'Diego','Sakura','Hiroshi'] AS a),
     lasts AS (SELECT ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller',
       'Davis','Rodriguez','Martinez','Hernandez','Lopez','Gonzalez','Wilson','Anderson','Thomas',
       'Taylor','Moore','Jackson','Martin','Lee','Perez','Thompson','White','Harris','Sanchez',
       'Clark','Ramirez','Lewis','Robinson','Walker','Young','Allen','King','Wright','Scott',
       'Torres','Nguyen','Hill','Flores','Green','Adams','Nelson','Baker','Hall','Rivera',
       'Campbell','Mitchell','Carter','Roberts','Muller','Schmidt','Schneider','Fischer','Weber',
       'Meyer','Wagner','Becker','Dubois','Moreau','Laurent','Bernard','Rossi','Russo','Ferrari',
       'Esposito','Bianchi','Romano','Silva','Santos','Oliveira','Costa','Pereira','Kowalski',
       'Nowak','Novak','Horvat','Jansen','de Vries','Bakker','Visser','Andersson','Johansson',
       'Nielsen','Hansen','Larsen','Sato','Suzuki','Takahashi','Tanaka','Kim','Park','Choi','Chen',
       'Wang','Li','Zhang','Singh','Kumar','Patel','O''Brien','Murphy','Kelly'] AS a),
     domains AS (SELECT ARRAY['example.com','example.com','example.com','example.com',
       'example.com','example.com','mail.example','mail.example','mail.example','mail.example',
       'mail.example','shop.example','shop.example','shop.example','example.org','example.org',
       'corp.example','corp.example','post.example','example.net'] AS a),
     numbered AS (
       SELECT g,
              hashint8extended(g, 1) AS h1, hashint8extended(g, 2) AS h2,
              hashint8extended(g, 3) AS h3, hashint8extended(g, 4) AS h4,
              -- Three years of sign-ups, oldest first, with up to an hour of jitter.
              now() - interval '1095 days' * (1 - g::float8 / $3)
                    - interval '1 second' * (abs(hashint8extended(g, 5)) % 3600) AS created
       FROM generate_series($1::bigint, $2::bigint) AS g
     ),
     named AS (
       SELECT r.*,
              f.a[1 + abs(r.h1) % array_length(f.a, 1)] AS first,
              l.a[1 + abs(r.h2) % array_length(l.a, 1)] AS last,
              d.a[1 + abs(r.h3) % array_length(d.a, 1)] AS domain,
              abs(r.h4) % 10000 AS p
       FROM numbered r, firsts f, lasts l, domains d
     ),
     seeded AS (
       SELECT s.*,
              CASE abs(s.h1 / 7) % 4
                WHEN 0 THEN lower(s.first) || '.' || s.slug || s.g
                WHEN 1 THEN lower(s.first) || s.slug || s.g
                WHEN 2 THEN lower(left(s.first, 1)) || s.slug || '_' || s.g
                ELSE lower(s.first) || '_' || s.g
              END AS username
       FROM (SELECT n.*, lower(replace(replace(n.last, ' ', ''), '''', '')) AS slug
             FROM named n) s
     )
"#;

/// The columns inserted from `seeded`; the id is a UUIDv7 of the sign-up time.
const INSERT_SEEDED: &str = r#"
INSERT INTO users (id, username, email, cognito_sub, email_verified, first_name, last_name,
                   is_active, is_staff, is_superuser, last_login, created_at, updated_at)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                 PLACING substring(int8send(floor(extract(epoch FROM s.created) * 1000)::bigint)
                                   FROM 3)
                 FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
       s.username,
       lower(s.first) || '.' || s.slug || s.g || '@' || s.domain,
       CASE WHEN s.p < 8500 THEN gen_random_uuid()::text END,
       abs(s.h3 / 1000) % 10 < 8,
       s.first,
       s.last,
       abs(s.h2 / 1000) % 20 <> 7,
       s.p < 5,
       s.p < 1,
       CASE WHEN abs(s.h1 / 1000) % 10 < 7
            THEN s.created + (now() - s.created) * ((abs(s.h3) % 1000) / 1000.0) END,
       s.created,
       s.created
FROM seeded s
ON CONFLICT DO NOTHING
"#;

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Bool)]
    found: bool,
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

#[derive(QueryableByName)]
struct Estimate {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Seeded users found from an earlier run.
    pub existing: i64,
    /// Rows inserted now.
    pub inserted: i64,
    /// Seeded numbers skipped because their username was already taken by someone else.
    pub skipped: i64,
    pub rebuilt_indexes: bool,
}

/// Whether seeded user number `g` exists.
async fn seeded_exists(conn: &mut AsyncPgConnection, g: i64, n: i64) -> QueryResult<bool> {
    let sql = format!(
        "{SEED_ROWS} SELECT EXISTS (SELECT 1 FROM users u, seeded s \
         WHERE lower(u.username) = lower(s.username)) AS found"
    );
    let found: Found = diesel::sql_query(sql)
        .bind::<BigInt, _>(g)
        .bind::<BigInt, _>(g)
        .bind::<BigInt, _>(n)
        .get_result(conn)
        .await?;
    Ok(found.found)
}

/// How many seeded users (numbered from 1, without gaps) are already there, at most `n`.
async fn seeded_count(conn: &mut AsyncPgConnection, n: i64) -> QueryResult<i64> {
    if !seeded_exists(conn, 1, n).await? {
        return Ok(0);
    }
    // Invariant: user `lo` exists; user `hi + 1` does not, or `hi` is `n`.
    let (mut lo, mut hi) = (1, n);
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        if seeded_exists(conn, mid, n).await? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// Makes seeded users 1 to `n` exist; `progress` hears after each batch (rows done so far).
pub async fn seed_users(
    conn: &mut AsyncPgConnection,
    n: i64,
    progress: &mut (dyn FnMut(i64) + Send),
) -> QueryResult<SeedReport> {
    let n = n.clamp(0, MAX_USERS);
    let report = conn
        .transaction(async |conn| {
            // Loading is one long transaction; the app's per-statement limit would cut it short.
            diesel::sql_query("SET LOCAL statement_timeout = 0")
                .execute(conn)
                .await?;
            diesel::sql_query("SET LOCAL maintenance_work_mem = '256MB'")
                .execute(conn)
                .await?;
            diesel::sql_query("SET LOCAL synchronous_commit = off")
                .execute(conn)
                .await?;
            let existing = seeded_count(conn, n).await?;
            let wanted = n - existing;
            if wanted == 0 {
                return Ok::<_, diesel::result::Error>(SeedReport {
                    existing,
                    inserted: 0,
                    skipped: 0,
                    rebuilt_indexes: false,
                });
            }
            let rows: Estimate = diesel::sql_query(
                "SELECT greatest(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = 'users'::regclass",
            )
            .get_result(conn)
            .await?;
            let rebuild = wanted >= REBUILD_INDEXES_FROM && wanted >= rows.n;
            let mut dropped = Vec::new();
            if rebuild {
                // Plain secondary indexes only: unique ones and constraints stay.
                dropped = diesel::sql_query(
                    "SELECT c.relname::text AS name, pg_get_indexdef(i.indexrelid) AS def \
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE i.indrelid = 'users'::regclass AND NOT i.indisunique \
                       AND NOT i.indisprimary \
                       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
                     ORDER BY c.relname",
                )
                .load::<IndexDef>(conn)
                .await?;
                for index in &dropped {
                    diesel::sql_query(format!("DROP INDEX \"{}\"", index.name.replace('"', "")))
                        .execute(conn)
                        .await?;
                }
            }
            let insert = format!("{SEED_ROWS}{INSERT_SEEDED}");
            let mut inserted = 0;
            let mut lo = existing + 1;
            while lo <= n {
                let hi = (lo + BATCH - 1).min(n);
                inserted += diesel::sql_query(&insert)
                    .bind::<BigInt, _>(lo)
                    .bind::<BigInt, _>(hi)
                    .bind::<BigInt, _>(n)
                    .execute(conn)
                    .await? as i64;
                progress(hi - existing);
                lo = hi + 1;
            }
            for index in &dropped {
                diesel::sql_query(&index.def).execute(conn).await?;
            }
            Ok::<_, diesel::result::Error>(SeedReport {
                existing,
                inserted,
                skipped: wanted - inserted,
                rebuilt_indexes: rebuild,
            })
        })
        .await?;
    if report.inserted > 0 {
        // Fresh statistics for the planner, and a visibility map for index-only scans.
        diesel::sql_query("VACUUM (ANALYZE) users")
            .execute(conn)
            .await?;
    }
    Ok(report)
}

/// The CLI's entry: seeds and prints what happened.
pub async fn run(conn: &mut AsyncPgConnection, n: i64) -> QueryResult<SeedReport> {
    let started = Instant::now();
    let mut progress = |done: i64| {
        eprintln!(
            "  {done} rows written ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    };
    let report = seed_users(conn, n, &mut progress).await?;
    println!(
        "Seeded users: {} wanted, {} already there, {} inserted, {} skipped (username taken){}, in {:.1} s.",
        n,
        report.existing,
        report.inserted,
        report.skipped,
        if report.rebuilt_indexes {
            ", indexes rebuilt"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );
    Ok(report)
}
