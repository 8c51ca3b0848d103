//! `pool drain`: every standby of this bench dropped, each under its site lock; never a
//! tenant, never another bench's standby.

use super::{item, prepare};
use crate::cli::PoolDrainArgs;
use crate::context::Context;
use crate::error::Error;
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_recorded, Removal};
use crate::output::{CleanupReport, Output};
use crate::outside::bench::{run_tag, BenchFacts};
use crate::outside::mariadb::registry::Row;
use crate::outside::mariadb::registry::Status;
use crate::outside::mariadb::Conns;
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
    let prepared = async {
        let (mut dbs, facts) = prepare(ctx).await?;
        // What no drop may take: read once, before the first.
        let guard = guard_for(ctx, &mut dbs).await?;
        Ok::<_, Error>((dbs, facts, guard))
    }
    .await;
    let (mut dbs, facts, guard) = match prepared {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let Some(bench_id) = facts.bench_id.clone() else {
        report.success = true;
        return report;
    };
    let mut tried = vec![];
    loop {
        let claimed = ctx
            .registry
            .claim_standby(
                dbs.control(),
                &[bench_id.as_str()],
                "drain",
                None,
                &tried,
                run_tag(),
            )
            .await;
        let row = match claimed {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => {
                report.error = Some(e.to_string());
                break;
            }
        };
        tried.push(row.id);
        let mut entry = item("standby", row.site.clone(), None);
        entry.db_name = Some(row.db_name.clone());
        if !dbs
            .control()
            .try_lock_site(&row.site)
            .await
            .unwrap_or(false)
        {
            let _ = ctx
                .registry
                .unclaim(dbs.control(), row.id, Status::Standby, None)
                .await;
            entry.reason = Some("another run holds its lock".into());
            report.skipped.push(entry);
            continue;
        }
        progress(&format!(
            "[{}] Dropping standby {}...",
            tried.len(),
            row.site
        ));
        report.planned.push(entry.clone());
        let deadline = Instant::now() + timeout;
        let mut removal = drop_standby(ctx, &mut dbs, &facts, &guard, &row, deadline).await;
        removal.warn_into(&mut report.warnings);
        entry.removed_by = removal.removed_by;
        entry.actions = removal.steps;
        let _ = dbs.control().unlock_site(&row.site).await;
        match entry.actions.iter().all(|u| u.ok) {
            true => report.dropped.push(entry),
            false => report.failed.push(entry),
        }
    }
    report.conclude("Pool drain", started.into_std());
    report
}

/// One claimed standby removed by its row's instance, and its row ended.
async fn drop_standby(
    ctx: &Context,
    dbs: &mut Conns,
    facts: &BenchFacts,
    guard: &Guard,
    row: &Row,
    deadline: Instant,
) -> Removal {
    let common = &facts.common;
    remove_recorded(
        ctx,
        dbs,
        common,
        row,
        Status::Dropped,
        None,
        guard,
        deadline,
    )
    .await
}

/// The guard of this bench: its site folders and every live registry row.
async fn guard_for(ctx: &Context, dbs: &mut Conns) -> Result<Guard, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let sites = ctx.bench.list_sites(deadline).await?;
    let live = ctx.registry.live_rows(dbs.control()).await?;
    Ok(Guard::fixed(ctx).knowing(&sites, &live))
}
