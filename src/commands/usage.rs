//! `usage [<site> | --all]`: each tenant's enabled users, database size, file storage and
//! last login against its plan, with an `over` flag. One tenant is read under its lock;
//! `--all` reads every active or suspended tenant of the bench without locks (it changes
//! nothing), in the same few statements whatever their number (`Db::usage`).

use std::time::{Duration, Instant};

use crate::cli::UsageArgs;
use crate::context::Context;
use crate::error::Error;
use crate::lifecycle::held::hold;
use crate::lifecycle::usage::measure;
use crate::output::{round2, Output, UsageReport};
use crate::outside::mariadb::registry::Status;

pub async fn run(args: UsageArgs) -> Result<Output, Error> {
    let started = Instant::now();
    let ctx = Context::resolve(&args.conn).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let tenants = [Status::Active, Status::Suspended];
    let mut warnings = vec![];
    let (tenants, queries) = match &args.site {
        Some(arg) => {
            let site = ctx
                .site_name(arg)
                .map_err(|e| Error::from(e).for_site(arg))?;
            let mut held = hold(&ctx, &site, "usage", &tenants, deadline)
                .await
                .map_err(|e| e.for_site(&site))?;
            let before = held.dbs.sites().queries();
            let rows = [held.row.clone()];
            let got = measure(&ctx, held.dbs.sites(), &rows, deadline)
                .await
                .map_err(|e| e.for_site(&site))?;
            (got, held.dbs.sites().queries() - before)
        }
        None => {
            let facts = ctx.bench.facts(deadline).await?;
            let mut dbs = ctx.connect().await?;
            let control = dbs.control();
            let rows = match (&facts.bench_id, ctx.registry.upgrade(control).await?) {
                (Some(id), true) => ctx.registry.rows_with_status(control, id, &tenants).await?,
                _ => vec![],
            };
            let db = dbs.sites();
            let before = db.queries();
            let got = measure(&ctx, db, &rows, deadline).await?;
            for r in rows
                .iter()
                .filter(|r| !got.iter().any(|u| u.site == r.site))
            {
                warnings.push(format!(
                    "{}: its database {} is gone or not a Frappe schema",
                    r.site, r.db_name
                ));
            }
            (got, db.queries() - before)
        }
    };
    Ok(Output::Usage {
        report: UsageReport {
            success: true,
            tenants,
            queries,
            warnings,
            elapsed: round2(started.elapsed().as_secs_f64()),
        },
        json: args.json,
    })
}
