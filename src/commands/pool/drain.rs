//! `pool drain`: every standby of this bench dropped, each under its site lock; never a
//! tenant, never another bench's standby.

use super::{item, prepare};
use crate::cli::PoolDrainArgs;
use crate::context::Context;
use crate::error::Error;
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_site, Proof, Target};
use crate::output::{CleanupReport, Output, Undo};
use crate::outside::bench::run_tag;
use crate::outside::mariadb::registry::Status;
use crate::progress::progress;
use std::time::Duration;
use tokio::time::Instant;

/// `pool drain`.
pub async fn run_drain(args: PoolDrainArgs) -> Result<Output, Error> {
    let ctx = Context::resolve(&args.conn).await?;
    Ok(Output::Cleanup(
        drain(&ctx, Duration::from_secs(args.timeout)).await,
    ))
}

/// `pool drain`: drops every standby site of this bench, each claimed first so no
/// sign-up can take one being dropped.
pub async fn drain(ctx: &Context, timeout: Duration) -> CleanupReport {
    let started = Instant::now();
    let mut report = CleanupReport::default();
    let prepared = prepare(ctx).await;
    let (mut db, facts) = match prepared {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let Some(bench_id) = facts.bench_id.clone() else {
        report.success = true;
        return report;
    };
    // What no drop may take: read once, before the first.
    let guard = match guard_for(ctx, &mut db).await {
        Ok(g) => g,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let mut tried = vec![];
    loop {
        let row = match ctx
            .registry
            .claim_standby(
                &mut db,
                &[bench_id.as_str()],
                "drain",
                None,
                &tried,
                run_tag(),
            )
            .await
        {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => {
                report.error = Some(e.to_string());
                break;
            }
        };
        tried.push(row.id);
        let site = row.site.clone();
        let mut entry = item("standby", site.clone(), None);
        entry.db_name = Some(row.db_name.clone());
        if !db.try_lock_site(&site).await.unwrap_or(false) {
            let _ = ctx
                .registry
                .unclaim(&mut db, row.id, Status::Standby, None)
                .await;
            entry.reason = Some("another run holds its lock".into());
            report.skipped.push(entry);
            continue;
        }
        progress(&format!("[{}] Dropping standby {site}...", tried.len()));
        report.planned.push(entry.clone());
        let target = Target {
            site: &site,
            db_name: &row.db_name,
            proof: Proof::Row(row.id),
        };
        let deadline = Instant::now() + timeout;
        let mut removal = remove_site(ctx, &mut db, &facts.common, &target, &guard, deadline).await;
        removal.warn_into(&mut report.warnings);
        let mut ok = removal.complete();
        entry.removed_by = removal.removed_by;
        entry.actions = removal.steps;
        let status = if ok { Status::Dropped } else { Status::Failed };
        if let Err(e) = ctx.registry.finish(&mut db, row.id, status, None).await {
            ok = false;
            entry.actions.push(Undo {
                action: format!("mark {site} {} in the registry", status.as_str()),
                ok: false,
                detail: Some(e.to_string()),
            });
        }
        let _ = db.unlock_site(&site).await;
        if ok {
            report.dropped.push(entry);
        } else {
            report.failed.push(entry);
        }
    }
    report.conclude("Pool drain", started.into_std());
    report
}

/// The guard of this bench: its site folders and every live registry row.
async fn guard_for(ctx: &Context, db: &mut crate::outside::mariadb::Db) -> Result<Guard, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let sites = ctx
        .bench
        .list_sites(deadline)
        .await
        .map_err(|e| e.to_string())?;
    let live = ctx
        .registry
        .live_rows(db)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Guard::fixed(ctx).knowing(&sites, &live))
}
