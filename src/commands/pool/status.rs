//! `pool status`: the standby sites of this bench (or, with --all, of every bench of the
//! inventory, cordoned ones included) with their health, and claims under way or killed
//! midway.

use crate::cli::PoolStatusArgs;
use crate::context::Context;
use crate::error::Error;
use crate::output::{Output, PoolStatusReport, Standby};
use crate::outside::mariadb::registry::Status;
use std::time::Duration;
use tokio::time::Instant;

/// `pool status [--json] [--bench NAME | --all]`.
pub async fn run_status(args: PoolStatusArgs) -> Result<Output, Error> {
    let json = args.json;
    if args.all {
        let benches = Context::inventory(&args.conn, true).await?;
        let mut all = PoolStatusReport {
            success: true,
            standby: vec![],
            claimed: vec![],
            warnings: vec![],
        };
        for (name, ctx) in benches {
            match status(&ctx).await {
                // Each entry already names its bench (`ctx.bench_name`).
                Ok(r) => {
                    all.standby.extend(r.standby);
                    all.claimed.extend(r.claimed);
                }
                Err(e) => all.warnings.push(format!("bench {name} skipped: {e}")),
            }
        }
        return Ok(Output::PoolStatus { report: all, json });
    }
    let ctx = Context::resolve(&args.conn).await?;
    let report = status(&ctx).await?;
    Ok(Output::PoolStatus { report, json })
}

/// `pool status`: this bench's standby sites (and claims under way) with their health.
pub async fn status(ctx: &Context) -> Result<PoolStatusReport, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut dbs = ctx.connect().await?;
    let facts = ctx.bench.facts(deadline).await?;
    let mut report = PoolStatusReport {
        success: true,
        standby: vec![],
        claimed: vec![],
        warnings: vec![],
    };
    let Some(bench_id) = facts.bench_id else {
        return Ok(report);
    };
    if !ctx.registry.upgrade(dbs.control()).await? {
        return Ok(report);
    }
    let catalog = dbs.sites().scan_catalog().await?;
    let sites = ctx.bench.list_sites(deadline).await?;
    let rows = ctx
        .registry
        .rows_with_status(
            dbs.control(),
            &bench_id,
            &[Status::Standby, Status::Claimed],
        )
        .await?;
    for row in rows {
        let folder_ok = sites.iter().any(|s| {
            s.name == row.site
                && s.config.as_ref().and_then(|c| c.db_name.as_deref())
                    == Some(row.db_name.as_str())
        });
        let healthy =
            folder_ok && catalog.frappe.contains(&row.db_name) && catalog.has_user(&row.db_name);
        let entry = Standby {
            healthy,
            row: (&row).into(),
            bench: ctx.bench_name.clone(),
        };
        if entry.row.status == Status::Standby {
            report.standby.push(entry);
        } else {
            report.claimed.push(entry);
        }
    }
    Ok(report)
}
