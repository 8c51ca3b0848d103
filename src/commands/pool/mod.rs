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
use crate::context::{install_apps, setup_defaults, Context};
use crate::error::{Code, Error};
use crate::lifecycle::apps::{install_missing_apps, wanted_apps};
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_site, Proof, Target};
use crate::lifecycle::setup::{defaults_locale, set_up_ahead, Locale};
use crate::lifecycle::template;
use crate::output::{
    round2, BenchFill, Item, Made, Output, PoolFillAllReport, PoolFillOutput, PoolFillReport,
    TemplateMeta,
};
use crate::outside::bench::{run_tag, BenchFacts};
use crate::outside::frappe::Frappe;
use crate::outside::mariadb::registry::{NewRow, SitePath, Status};
use crate::outside::mariadb::{new_db_name, Conns, Db};
use crate::progress::progress;
use crate::signup::{site_name, SetupChoices, TOOL_SITE_PREFIX};
use std::time::Duration;
use tokio::time::Instant;

/// `pool fill --size N [--bench NAME | --all]`.
pub async fn run_fill(args: PoolFillArgs) -> Result<Output, Error> {
    let apps = install_apps(&args.apps.install_apps);
    let timeout = Duration::from_secs(args.timeout);
    let setup = setup_defaults(&args.setup);
    if args.all {
        let benches = Context::inventory(&args.conn, false).await?;
        let mut all = PoolFillAllReport {
            success: true,
            benches: vec![],
        };
        for (name, ctx) in benches {
            progress(&format!("Bench {name}:"));
            let report = fill(&ctx, args.size, &apps, timeout, !args.no_template, &setup).await;
            all.success &= report.success;
            all.benches.push(BenchFill {
                bench: name,
                report,
            });
        }
        return Ok(Output::PoolFill(PoolFillOutput::All(all)));
    }
    let ctx = Context::resolve(&args.conn).await?;
    let report = fill(&ctx, args.size, &apps, timeout, !args.no_template, &setup).await;
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
    setup: &SetupChoices,
) -> PoolFillReport {
    let started = Instant::now();
    let mut report = PoolFillReport::default();
    // Standbys are set up with the wizard's defaults: checked before anything is made.
    let locale = match defaults_locale(&ctx.bench, setup, started + timeout).await {
        Ok(l) => l,
        Err(e) => {
            report.error = Some(e.message);
            return report;
        }
    };
    let (mut dbs, facts, bench_id, ready) = match lock_pool(ctx).await {
        Ok(p) => p,
        Err(e) if e.code == Code::SiteBusy => {
            progress(&format!("⚠ {e}"));
            report.warnings.push(e.message);
            report.success = true;
            report.elapsed = round2(started.elapsed().as_secs_f64());
            return report;
        }
        Err(e) => {
            report.error = Some(e.message);
            return report;
        }
    };
    let (wanted, template) = what_standbys_get(
        ctx,
        &facts,
        install_apps,
        use_template,
        &mut report.warnings,
    )
    .await;
    let fill = Filling {
        ctx,
        facts: &facts,
        bench_id: &bench_id,
        apps: &wanted,
        template: template.as_ref(),
        locale: &locale,
    };
    let need = (size as usize).saturating_sub(ready);
    make_standbys(&fill, &mut dbs, ready, need, timeout, &mut report).await;
    report.standby = ctx
        .registry
        .rows_with_status(dbs.control(), &bench_id, &[Status::Standby])
        .await
        .map(|r| r.len())
        .unwrap_or_default();
    let _ = ctx
        .registry
        .release_bench_lock(dbs.control(), "pool-fill", &bench_id)
        .await;
    report.success = report.failed.is_empty();
    report.elapsed = round2(started.elapsed().as_secs_f64());
    report
}

/// `need` standbys, one after another, each in the report as made or failed.
async fn make_standbys(
    fill: &Filling<'_>,
    dbs: &mut Conns,
    ready: usize,
    need: usize,
    timeout: Duration,
    report: &mut PoolFillReport,
) {
    let how = match fill.template {
        Some(_) => "from the template",
        None => "fresh new-site",
    };
    progress(&format!(
        "Pool: {ready} standby site(s) ready, {need} to make ({how})"
    ));
    for k in 1..=need {
        let clock = Instant::now();
        let id = Secret::random(10).expose().to_ascii_lowercase();
        let site = site_name(
            &format!("{TOOL_SITE_PREFIX}standby-{id}"),
            &fill.ctx.site_domain,
        );
        progress(&format!("[{k}/{need}] Creating standby {site}..."));
        match make_standby(fill, dbs, &site, clock + timeout, &mut report.warnings).await {
            Ok(made) => {
                let seconds = round2(clock.elapsed().as_secs_f64());
                progress(&format!("  ✓ ready in {seconds:.2}s"));
                report.created.push(Made { seconds, ..made });
            }
            Err(failed) => report.failed.push(failed),
        }
    }
}

/// The bench's fill lock, with its facts, its id and how many standbys are ready. Counted
/// and made under one lock per bench, held by this connection until it closes: fills from
/// cron on several hosts never make more than the target (`SITE_BUSY` when another holds
/// it).
async fn lock_pool(ctx: &Context) -> Result<(Conns, BenchFacts, String, usize), Error> {
    let (mut dbs, facts) = prepare(ctx).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let bench_id = match facts.bench_id.clone() {
        Some(id) => id,
        None => ctx
            .bench
            .bench_id(true, deadline)
            .await?
            .ok_or_else(|| Error::new(Code::BenchFailed, "could not create the bench id"))?,
    };
    // Standbys made on a bench that is not the inventory's would be claimed as its.
    if let Some(want) = ctx.bench_id.as_ref().filter(|w| **w != bench_id) {
        return Err(Error::config(format!(
            "this bench's id is {bench_id}, not the inventory's {want}: another bench at \
             that address? Nothing was made"
        )));
    }
    if !ctx
        .registry
        .try_bench_lock(dbs.control(), "pool-fill", &bench_id)
        .await?
    {
        return Err(Error::new(Code::SiteBusy, BUSY));
    }
    let ready = ctx
        .registry
        .rows_with_status(dbs.control(), &bench_id, &[Status::Standby])
        .await?
        .len();
    Ok((dbs, facts, bench_id, ready))
}

/// The apps every standby gets, and the template they are restored from if it fits.
async fn what_standbys_get(
    ctx: &Context,
    facts: &BenchFacts,
    install_apps: &[String],
    use_template: bool,
    warnings: &mut Vec<String>,
) -> (Vec<String>, Option<TemplateMeta>) {
    let (wanted, missing) = wanted_apps(install_apps, &facts.apps);
    for app in missing {
        warnings.push(format!(
            "app {app} is not available on this bench; standby sites do not have it"
        ));
    }
    if !use_template {
        return (wanted, None);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let template = match template::check(&ctx.bench, facts, &wanted, deadline).await {
        Ok(Ok(meta)) => Some(meta),
        Ok(Err(why)) => {
            warnings.push(format!("template not used: {why}"));
            None
        }
        Err(e) => {
            warnings.push(format!("template not used: {e}"));
            None
        }
    };
    (wanted, template)
}

/// What every standby of one fill is made with.
struct Filling<'a> {
    ctx: &'a Context,
    facts: &'a BenchFacts,
    bench_id: &'a str,
    apps: &'a [String],
    template: Option<&'a TemplateMeta>,
    /// The setup wizard's defaults, completed on each standby.
    locale: &'a Locale,
}

/// One standby: registered under its own lock and a database name drawn for it, made,
/// proven to answer over HTTP, then `standby`; removed again (and its row ended) if any of
/// that fails.
async fn make_standby(
    f: &Filling<'_>,
    dbs: &mut Conns,
    site: &str,
    deadline: Instant,
    warnings: &mut Vec<String>,
) -> Result<Made, Item> {
    let ctx = f.ctx;
    let fail = |e: String| item("standby", site.to_string(), Some(e));
    let path = match f.template {
        Some(_) => SitePath::Template,
        None => SitePath::Fresh,
    };
    let db_name = new_db_name();
    let row_id = register_standby(f, dbs, site, &db_name, path)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let result = match build_standby(f, dbs.sites(), site, &db_name, deadline).await {
        Ok(()) => {
            // Not `?`: the site's lock below is released whatever the registry says.
            let control = dbs.control();
            let recorded = match ctx.registry.set_step(control, row_id, "ready").await {
                Ok(()) => {
                    ctx.registry
                        .finish(control, row_id, Status::Standby, None)
                        .await
                }
                Err(e) => Err(e),
            };
            recorded.map_err(|e| fail(e.to_string())).map(|()| Made {
                site: site.to_string(),
                db_name: db_name.clone(),
                path,
                seconds: 0.0,
            })
        }
        Err(e) => Err(undo_standby(f, dbs, site, &db_name, row_id, e, warnings).await),
    };
    let _ = dbs.control().unlock_site(site).await;
    result
}

/// The standby's lock and registry row, before anything is made.
async fn register_standby(
    f: &Filling<'_>,
    dbs: &mut Conns,
    site: &str,
    db_name: &str,
    path: SitePath,
) -> Result<u64, Error> {
    if !dbs.control().try_lock_site(site).await? {
        return Err(Error::new(
            Code::SiteBusy,
            "its name is locked by another run",
        ));
    }
    let row = NewRow {
        bench_id: f.bench_id,
        site,
        subdomain: site.split('.').next().unwrap_or_default(),
        db_name,
        organization: None,
        email: None,
        status: Status::Provisioning,
        path,
        step: "create-site",
        run_tag: run_tag(),
    };
    Ok(f.ctx.registry.insert(dbs.control(), &row).await?)
}

/// new-site, the apps, and the proof that it answers over HTTP. The Administrator
/// password is forgotten afterwards; a claim sets its own.
async fn build_standby(
    f: &Filling<'_>,
    db: &mut Db,
    site: &str,
    db_name: &str,
    deadline: Instant,
) -> Result<(), String> {
    let ctx = f.ctx;
    let admin = Secret::random(24);
    let sql = f.template.map(|t| t.sql.as_str());
    ctx.bench
        .new_site(
            site,
            db_name,
            &ctx.root(),
            &admin,
            &f.facts.common,
            sql,
            deadline,
        )
        .await
        .map_err(|e| e.to_string())?;
    install_missing_apps(ctx, db, site, db_name, f.apps, deadline)
        .await
        .map_err(|e| e.to_string())?;
    // Born with its encryption_key, so the sign-up that claims it only reads the key it
    // lends Administrator a secret under (in a container a write is several commands).
    ctx.bench
        .site_encryption_key_or_new(site, db_name, deadline)
        .await
        .map_err(|e| e.to_string())?;
    db.set_administrator_password(db_name, &admin)
        .await
        .map_err(|e| e.to_string())?;
    let frappe = Frappe::new(&ctx.frappe_url, site);
    let session = frappe
        .login("Administrator", &admin)
        .await
        .map_err(|e| format!("the standby does not answer over HTTP: {e}"))?;
    if set_up_ahead(db, &frappe, &session, db_name, f.locale, f.apps)
        .await
        .map_err(|e| format!("the setup wizard failed: {e}"))?
    {
        progress("  ✓ setup wizard completed with the defaults");
    }
    Ok(())
}

/// A standby that failed: removed (this run made it, under its lock), its row ended.
async fn undo_standby(
    f: &Filling<'_>,
    dbs: &mut Conns,
    site: &str,
    db_name: &str,
    row_id: u64,
    e: String,
    warnings: &mut Vec<String>,
) -> Item {
    let ctx = f.ctx;
    progress(&format!("  ✗ {e}"));
    let deadline = Instant::now() + Duration::from_secs(90);
    let target = Target {
        site,
        db_name,
        proof: Proof::MadeByThisRun,
    };
    let guard = Guard::fixed(ctx);
    let mut removal = remove_site(ctx, dbs, &f.facts.common, &target, &guard, deadline).await;
    removal.warn_into(warnings);
    let status = match removal.complete() {
        true => Status::RolledBack,
        false => Status::Failed,
    };
    let _ = ctx
        .registry
        .finish(dbs.control(), row_id, status, Some(&e))
        .await;
    Item {
        kind: "standby",
        name: site.to_string(),
        db_name: Some(db_name.to_string()),
        reason: Some(e),
        actions: removal.steps,
        removed_by: removal.removed_by,
    }
}

/// Another fill of the bench holds its lock: it will bring the pool to its target.
const BUSY: &str = "another pool fill of this bench is running; nothing made by this one";

/// The connections, the registry migrated, and the bench's facts.
pub(super) async fn prepare(ctx: &Context) -> Result<(Conns, BenchFacts), Error> {
    let mut dbs = ctx.connect().await?;
    ctx.registry.ensure(dbs.control()).await?;
    let facts = ctx
        .bench
        .facts(Instant::now() + Duration::from_secs(60))
        .await?;
    Ok((dbs, facts))
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
