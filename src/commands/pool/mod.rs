//! The standby pool: sites made ahead of time (`pool fill`), each a registry row in
//! `standby`, handed to a sign-up by `provision` in about a second instead of a new-site.
//!
//! A claim takes the oldest standby with `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent
//! sign-ups never get the same one; takes the standby's own lock (a cleanup or drain of
//! it holds it too); checks it is whole; and renames its folder to the tenant's site
//! name in one rename(2). Frappe routes by Host header to the folder of that name, and
//! keys its Redis cache by database name, which the rename keeps. A claim that fails
//! before the rename puts the standby back untouched; after it, the site is dropped.
//!
//! No secret is kept for a standby: a claim gives the site a fresh Administrator
//! password (`Db::set_administrator_password`) and forgets it after the sign-up.

mod drain;
mod status;

pub use drain::run_drain;
pub use status::run_status;

use crate::basics::secret::Secret;
use crate::cli::PoolFillArgs;
use crate::context::{install_apps, Context};
use crate::error::Error;
use crate::lifecycle::apps::{install_missing_apps, wanted_apps};
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_site, Proof, Target};
use crate::lifecycle::template;
use crate::output::{
    round2, BenchFill, Item, Made, Output, PoolFillAllReport, PoolFillOutput, PoolFillReport,
    TemplateMeta,
};
use crate::outside::bench::{run_tag, BenchFacts};
use crate::outside::frappe::Frappe;
use crate::outside::mariadb::registry::{NewRow, SitePath, Status};
use crate::outside::mariadb::{new_db_name, Db};
use crate::progress::progress;
use crate::signup::{site_name, TOOL_SITE_PREFIX};
use std::time::Duration;
use tokio::time::Instant;

/// `pool fill --size N [--bench NAME | --all]`.
pub async fn run_fill(args: PoolFillArgs) -> Result<Output, Error> {
    let apps = install_apps(&args.apps.install_apps);
    let timeout = Duration::from_secs(args.timeout);
    if args.all {
        let benches = Context::inventory(&args.conn, false).await?;
        let mut all = PoolFillAllReport {
            success: true,
            benches: vec![],
        };
        for (name, ctx) in benches {
            progress(&format!("Bench {name}:"));
            let report = fill(&ctx, args.size, &apps, timeout, !args.no_template).await;
            all.success &= report.success;
            all.benches.push(BenchFill {
                bench: name,
                report,
            });
        }
        return Ok(Output::PoolFill(PoolFillOutput::All(all)));
    }
    let ctx = Context::resolve(&args.conn).await?;
    let report = fill(&ctx, args.size, &apps, timeout, !args.no_template).await;
    Ok(Output::PoolFill(PoolFillOutput::One(report)))
}

/// `pool fill --size N`: standby sites until N are ready, one after another (new-site
/// is CPU-bound; on a small host in parallel they only slow each other).
pub async fn fill(
    ctx: &Context,
    size: u32,
    install_apps: &[String],
    timeout: Duration,
    use_template: bool,
) -> PoolFillReport {
    let started = Instant::now();
    let mut report = PoolFillReport::default();
    let setup_deadline = Instant::now() + Duration::from_secs(60);
    let prepared = async {
        let (mut db, facts) = prepare(ctx).await?;
        let bench_id = match facts.bench_id.clone() {
            Some(id) => id,
            None => ctx
                .bench
                .bench_id(true, setup_deadline)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("could not create the bench id")?,
        };
        // Standbys made on a bench that is not the inventory's would be claimed as its.
        if let Some(want) = ctx.bench_id.as_ref().filter(|w| **w != bench_id) {
            return Err(format!(
                "this bench's id is {bench_id}, not the inventory's {want}: another bench at \
                 that address? Nothing was made"
            ));
        }
        // Count and make under one lock per bench, held by this connection until it
        // closes: fills from cron on several hosts never make more than the target.
        if !ctx
            .registry
            .try_bench_lock(&mut db, "pool-fill", &bench_id)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err(BUSY.to_string());
        }
        let ready = ctx
            .registry
            .rows_with_status(&mut db, &bench_id, &[Status::Standby])
            .await
            .map_err(|e| e.to_string())?
            .len();
        Ok::<_, String>((db, facts, bench_id, ready))
    }
    .await;
    let (mut db, facts, bench_id, ready) = match prepared {
        Ok(p) => p,
        Err(e) if e == BUSY => {
            progress(&format!("⚠ {e}"));
            report.warnings.push(e);
            report.success = true;
            report.elapsed = round2(started.elapsed().as_secs_f64());
            return report;
        }
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let (wanted, missing) = wanted_apps(install_apps, &facts.apps);
    for app in missing {
        report.warnings.push(format!(
            "app {app} is not available on this bench; standby sites do not have it"
        ));
    }
    let template = if use_template {
        match template::check(&ctx.bench, &facts, &wanted, setup_deadline).await {
            Ok(Ok(meta)) => Some(meta),
            Ok(Err(why)) => {
                report.warnings.push(format!("template not used: {why}"));
                None
            }
            Err(e) => {
                report.warnings.push(format!("template not used: {e}"));
                None
            }
        }
    } else {
        None
    };
    let need = (size as usize).saturating_sub(ready);
    progress(&format!(
        "Pool: {ready} standby site(s) ready, {need} to make ({})",
        if template.is_some() {
            "from the template"
        } else {
            "fresh new-site"
        }
    ));
    for k in 1..=need {
        let clock = Instant::now();
        let deadline = clock + timeout;
        let id = Secret::random(10).expose().to_ascii_lowercase();
        let site = site_name(&format!("{TOOL_SITE_PREFIX}standby-{id}"), &ctx.site_domain);
        progress(&format!("[{k}/{need}] Creating standby {site}..."));
        match make_standby(
            ctx,
            &mut db,
            &facts,
            &bench_id,
            &site,
            &wanted,
            template.as_ref(),
            deadline,
            &mut report.warnings,
        )
        .await
        {
            Ok(made) => {
                progress(&format!(
                    "  ✓ ready in {:.2}s",
                    clock.elapsed().as_secs_f64()
                ));
                report.created.push(Made {
                    seconds: round2(clock.elapsed().as_secs_f64()),
                    ..made
                });
            }
            Err(failed) => report.failed.push(failed),
        }
    }
    report.standby = ctx
        .registry
        .rows_with_status(&mut db, &bench_id, &[Status::Standby])
        .await
        .map(|r| r.len())
        .unwrap_or_default();
    let _ = ctx
        .registry
        .release_bench_lock(&mut db, "pool-fill", &bench_id)
        .await;
    report.success = report.failed.is_empty();
    report.elapsed = round2(started.elapsed().as_secs_f64());
    report
}

#[allow(clippy::too_many_arguments)]
async fn make_standby(
    ctx: &Context,
    db: &mut Db,
    facts: &BenchFacts,
    bench_id: &str,
    site: &str,
    wanted: &[String],
    template: Option<&TemplateMeta>,
    deadline: Instant,
    warnings: &mut Vec<String>,
) -> Result<Made, Item> {
    let db_name = new_db_name();
    let subdomain = site.split('.').next().unwrap_or_default();
    let path = if template.is_some() {
        SitePath::Template
    } else {
        SitePath::Fresh
    };
    let fail = |e: String| item("standby", site.to_string(), Some(e));
    if !db
        .try_lock_site(site)
        .await
        .map_err(|e| fail(e.to_string()))?
    {
        return Err(fail("its name is locked by another run".into()));
    }
    let row_id = ctx
        .registry
        .insert(
            db,
            &NewRow {
                bench_id,
                site,
                subdomain,
                db_name: &db_name,
                organization: None,
                email: None,
                status: Status::Provisioning,
                path,
                step: "create-site",
                run_tag: run_tag(),
            },
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    let made: Result<(), String> = async {
        let admin = Secret::random(24);
        ctx.bench
            .new_site(
                site,
                &db_name,
                &ctx.root(),
                &admin,
                &facts.common,
                template.map(|t| t.sql.as_str()),
                deadline,
            )
            .await
            .map_err(|e| e.to_string())?;
        install_missing_apps(ctx, db, site, &db_name, wanted, deadline)
            .await
            .map_err(|e| e.to_string())?;
        // Prove the site answers over HTTP before calling it ready. The password is
        // forgotten afterwards; a claim sets its own.
        db.set_administrator_password(&db_name, &admin)
            .await
            .map_err(|e| e.to_string())?;
        Frappe::new(&ctx.frappe_url, site)
            .login("Administrator", &admin)
            .await
            .map_err(|e| format!("the standby does not answer over HTTP: {e}"))?;
        Ok(())
    }
    .await;
    let result = match made {
        Ok(()) => {
            // Not `?`: the site's lock below is released whatever the registry says.
            let recorded = match ctx.registry.set_step(db, row_id, "ready").await {
                Ok(()) => ctx.registry.finish(db, row_id, Status::Standby, None).await,
                Err(e) => Err(e),
            };
            match recorded {
                Ok(()) => Ok(Made {
                    site: site.to_string(),
                    db_name: db_name.clone(),
                    path,
                    seconds: 0.0,
                }),
                Err(e) => Err(fail(e.to_string())),
            }
        }
        Err(e) => {
            progress(&format!("  ✗ {e}"));
            let undo_deadline = Instant::now() + Duration::from_secs(90);
            let target = Target {
                site,
                db_name: &db_name,
                proof: Proof::MadeByThisRun,
            };
            let guard = Guard::fixed(ctx);
            let mut removal =
                remove_site(ctx, db, &facts.common, &target, &guard, undo_deadline).await;
            removal.warn_into(warnings);
            let status = if removal.complete() {
                Status::RolledBack
            } else {
                Status::Failed
            };
            let _ = ctx.registry.finish(db, row_id, status, Some(&e)).await;
            Err(Item {
                kind: "standby",
                name: site.to_string(),
                db_name: Some(db_name.clone()),
                reason: Some(e),
                actions: removal.steps,
                removed_by: removal.removed_by,
            })
        }
    };
    let _ = db.unlock_site(site).await;
    result
}

/// Another fill of the bench holds its lock: it will bring the pool to its target.
const BUSY: &str = "another pool fill of this bench is running; nothing made by this one";

/// A connection with the registry migrated, and the bench's facts.
pub(super) async fn prepare(ctx: &Context) -> Result<(Db, BenchFacts), String> {
    let mut db = ctx.db.connect().await.map_err(|e| e.to_string())?;
    ctx.registry
        .ensure(&mut db)
        .await
        .map_err(|e| e.to_string())?;
    let facts = ctx
        .bench
        .facts(Instant::now() + Duration::from_secs(60))
        .await
        .map_err(|e| e.to_string())?;
    Ok((db, facts))
}

pub(super) fn item(kind: &'static str, name: String, reason: Option<String>) -> Item {
    Item {
        kind,
        name,
        db_name: None,
        reason,
        actions: vec![],
        removed_by: None,
    }
}
