//! Claiming a standby for a sign-up: the oldest whole standby of a set of benches (the
//! one bench of the run, or every bench a placement may use), taken with `FOR UPDATE
//! SKIP LOCKED` so concurrent sign-ups never share one, checked under its site lock on
//! its own bench; broken ones are marked failed and stepped over.

use tokio::time::Instant;

use crate::context::Context;
use crate::outside::bench::run_tag;
use crate::outside::mariadb::registry::{Claimant, Row, Status};
use crate::outside::mariadb::Db;
use crate::progress::progress;

/// How many broken standbys one claim steps over before giving up on the pool.
const MAX_CLAIM_TRIES: usize = 5;

/// A standby taken for a sign-up: its registry row, which already names the tenant.
pub struct Claim {
    pub row: Row,
    pub standby: String,
    /// Which of the candidate benches it is on.
    pub bench: usize,
}

/// Takes the oldest whole standby of the `benches` (bench id and how to reach it) for
/// `claimant`: `None` when there is none. A standby found broken is marked `failed`
/// (cleanup --orphans removes it) and skipped.
pub async fn claim(
    benches: &[(&str, &Context)],
    db: &mut Db,
    claimant: &Claimant<'_>,
    deadline: Instant,
) -> Result<Option<Claim>, String> {
    let Some((_, first)) = benches.first() else {
        return Ok(None);
    };
    let ids: Vec<&str> = benches.iter().map(|(id, _)| *id).collect();
    let mut tried = vec![];
    while tried.len() < MAX_CLAIM_TRIES {
        let Some(row) = first
            .registry
            .claim_standby(db, &ids, "claim", Some(claimant), &tried, run_tag())
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        tried.push(row.id);
        let Some(bench) = benches.iter().position(|(id, _)| *id == row.bench_id) else {
            continue; // cannot happen: the claim picked among these ids
        };
        let ctx = benches[bench].1;
        let standby = row.standby_site.clone().unwrap_or_default();
        if !db
            .try_lock_site(&standby)
            .await
            .map_err(|e| e.to_string())?
        {
            // A cleanup or drain is removing it right now.
            ctx.registry
                .unclaim(db, row.id, Status::Standby, None)
                .await
                .map_err(|e| e.to_string())?;
            continue;
        }
        // Unreachable, its bench's own database server is no fault of the standby's: it
        // goes back to the pool as it was.
        let Ok(mut own) = own_server(ctx, &standby).await else {
            ctx.registry
                .unclaim(db, row.id, Status::Standby, None)
                .await
                .map_err(|e| e.to_string())?;
            let _ = db.unlock_site(&standby).await;
            continue;
        };
        let site_db = own.as_mut().unwrap_or(&mut *db);
        match standby_problem(ctx, site_db, &standby, &row.db_name, deadline).await {
            None => {
                return Ok(Some(Claim {
                    row,
                    standby,
                    bench,
                }))
            }
            Some(problem) => {
                progress(&format!(
                    "⚠ standby {standby} is broken ({problem}); trying the next"
                ));
                ctx.registry
                    .unclaim(
                        db,
                        row.id,
                        Status::Failed,
                        Some(&format!("standby broken: {problem}")),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = db.unlock_site(&standby).await;
            }
        }
    }
    Ok(None)
}

/// A connection to the bench's own database server, when it has one (`None`: the
/// registry's server holds its sites); `Err` when that server does not answer (said).
async fn own_server(ctx: &Context, standby: &str) -> Result<Option<Db>, ()> {
    let Some(server) = &ctx.db_server else {
        return Ok(None);
    };
    ctx.db.connect().await.map(Some).map_err(|e| {
        progress(&format!(
            "⚠ standby {standby} skipped: database server {server}: {e}"
        ))
    })
}

/// Why a standby cannot be handed out, or `None` when its folder names its database and
/// that database holds Frappe's tables.
pub async fn standby_problem(
    ctx: &Context,
    db: &mut Db,
    site: &str,
    db_name: &str,
    deadline: Instant,
) -> Option<String> {
    match ctx.bench.site_config(site, deadline).await {
        Ok(Some(c)) if c.db_name.as_deref() == Some(db_name) => {}
        Ok(Some(_)) => return Some("its site_config.json names another database".into()),
        Ok(None) => return Some("no site folder or site_config.json".into()),
        Err(e) => return Some(e.to_string()),
    }
    match db.marker_tables(db_name).await {
        Ok(4) => None,
        Ok(_) => Some(format!("database {db_name} lacks Frappe's tables")),
        Err(e) => Some(e.to_string()),
    }
}
