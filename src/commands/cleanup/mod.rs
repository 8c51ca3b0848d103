//! `cleanup`: drops test tenants by subdomain pattern (`--pattern`), and orphaned
//! databases and DB users (`--orphans`), which also finishes runs that were killed midway.
//! It plans first (and a dry run stops there), shows the plan and waits 5 seconds unless
//! told `--yes`, then removes item by item, each under its site's lock, with `[k/n]`
//! progress on stderr and one JSON summary on stdout.
//!
//! What `--orphans` may drop: a database holding Frappe's tables that no site of this
//! bench references and the registry does not list as live, with its DB users; and a DB
//! user named like a Frappe site's (`_` or `ft_` and 16 hex digits) whose database is
//! gone; and registry rows of sites whose folder and database are both gone are marked
//! dropped, so the registry stays true. Never: system schemas, the registry, a database without Frappe's tables, an
//! account in use by the tool.

mod known;
mod plan;

use known::guard_now;
pub use plan::{glob_match, validate_site_pattern};
use plan::{plan, Work};

use crate::basics::signals::StopSignals;
use crate::cli::CleanupArgs;
use crate::context::Context;
use crate::error::Error;
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{
    drop_database_and_users, drop_users, lost_lock, remove_recorded, remove_site, Proof, Removal,
    Steps, Target,
};
use crate::output::{round2, CleanupReport, Item, Output};
use crate::outside::bench::{run_tag, BenchFacts};
use crate::outside::mariadb::registry::{Row, Status};
use crate::outside::mariadb::Conns;
use crate::progress::progress;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The seed's safety delay before anything is dropped.
const COUNTDOWN: Duration = Duration::from_secs(5);

pub struct Options {
    /// How this command reached MariaDB and its bench: the inventory's other benches are
    /// reached with the same credentials.
    pub conn: crate::cli::ConnectOpts,
    pub pattern: Option<String>,
    pub orphans: bool,
    pub db_pattern: String,
    pub dry_run: bool,
    pub yes: bool,
    pub timeout: Duration,
}

pub async fn cleanup(ctx: &Context, opts: &Options) -> CleanupReport {
    let started = Instant::now();
    let mut report = CleanupReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let planned = async {
        let mut dbs = ctx.connect().await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let p = plan(ctx, &mut dbs, opts, deadline, &mut report).await?;
        Ok::<_, Error>((dbs, p))
    }
    .await;
    let (mut dbs, plan) = match planned {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e.to_string());
            report.elapsed = round2(started.elapsed().as_secs_f64());
            return report;
        }
    };
    report.planned = plan.work.iter().map(|(item, _)| item.clone()).collect();
    announce(&plan.work);
    if opts.dry_run || plan.work.is_empty() {
        report.success = report.error.is_none();
        report.elapsed = round2(started.elapsed().as_secs_f64());
        return report;
    }
    let interrupted = watch_signals();
    if !opts.yes && !countdown(&interrupted).await {
        progress("Aborted: nothing was removed.");
        report.error = Some("interrupted during the countdown; nothing was removed".into());
        report.elapsed = round2(started.elapsed().as_secs_f64());
        return report;
    }
    // After a countdown, what keeps a database is read again: a site may have been put
    // back meanwhile. With --yes the plan's guard is a moment old.
    let guard = match opts.yes {
        true => plan.guard,
        false => {
            let deadline = Instant::now() + Duration::from_secs(120);
            match guard_now(ctx, &mut dbs, opts, &plan.facts, plan.registry, deadline).await {
                Ok(g) => g,
                Err(e) => {
                    report.error = Some(e.to_string());
                    report.elapsed = round2(started.elapsed().as_secs_f64());
                    return report;
                }
            }
        }
    };
    let (n, facts) = (plan.work.len(), &plan.facts);
    for (k, (mut item, what)) in plan.work.into_iter().enumerate() {
        if interrupted.load(Ordering::SeqCst) {
            item.reason = Some("interrupted before it was reached".into());
            report.skipped.push(item);
            continue;
        }
        progress(&format!(
            "[{}/{n}] Removing {} {}...",
            k + 1,
            item.kind,
            item.name
        ));
        let deadline = Instant::now() + opts.timeout;
        let mut removal = carry_out(ctx, &mut dbs, facts, &guard, what, deadline).await;
        removal.warn_into(&mut report.warnings);
        item.removed_by = removal.removed_by;
        item.actions = removal.steps;
        match item.actions.iter().all(|u| u.ok) {
            true => report.dropped.push(item),
            false => report.failed.push(item),
        }
    }
    if interrupted.load(Ordering::SeqCst) {
        report.error = Some("interrupted; the items not reached are listed under skipped".into());
    }
    report.conclude("Cleanup", started.into_std());
    report
}

/// What is about to go, on stderr.
fn announce(work: &[(Item, Work)]) {
    if work.is_empty() {
        return progress("Nothing to clean up.");
    }
    progress(&format!("{} to remove:", work.len()));
    for (item, _) in work {
        let why = item
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        progress(&format!("  {} {}{why}", item.kind, item.name));
    }
}

/// The seed's safety delay; false when interrupted meanwhile.
async fn countdown(interrupted: &AtomicBool) -> bool {
    progress(&format!(
        "Removing them in {} seconds; press Ctrl-C to abort.",
        COUNTDOWN.as_secs()
    ));
    let until = Instant::now() + COUNTDOWN;
    while Instant::now() < until && !interrupted.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !interrupted.load(Ordering::SeqCst)
}

async fn carry_out(
    ctx: &Context,
    dbs: &mut Conns,
    facts: &BenchFacts,
    guard: &Guard,
    work: Work,
    deadline: Instant,
) -> Removal {
    let mut steps = Steps::default();
    match work {
        Work::Site { site, db_name, row } => {
            return remove_matched(ctx, dbs, facts, guard, &site, db_name, row, deadline).await
        }
        Work::Run { row, back_to_pool } if back_to_pool => {
            let r = ctx
                .registry
                .unclaim(dbs.control(), row.id, Status::Standby, None)
                .await;
            let standby = row.standby_site.clone().unwrap_or_default();
            steps.record(format!("return standby {standby} to the pool"), text(r));
        }
        Work::Run { row, .. } => return resolve_run(ctx, dbs, facts, guard, &row, deadline).await,
        Work::Superseded { id, by } => {
            let note = format!(
                "closed by cleanup --orphans: its site was made again (row {by}); nothing removed"
            );
            let r = ctx
                .registry
                .finish(dbs.control(), id, Status::RolledBack, Some(&note))
                .await;
            steps.record(format!("mark row {id} rolled_back"), text(r));
        }
        Work::Database(d) => {
            let users = std::slice::from_ref(&d);
            drop_database_and_users(dbs.sites(), &d, users, guard, "", None, &mut steps).await
        }
        Work::Forget(id) => {
            let note = Some("gone when cleanup --orphans looked");
            let r = ctx
                .registry
                .finish(dbs.control(), id, Status::Dropped, note)
                .await;
            steps.record(format!("mark row {id} dropped"), text(r));
        }
        // Through the guard, as a site's own DB users go: the admin accounts and
        // MariaDB's own are never dropped, whatever the plan said.
        Work::User(user) => {
            let users = std::slice::from_ref(&user);
            drop_users(dbs.sites(), users, guard, "", None, &mut steps).await
        }
    }
    Removal {
        steps: steps.0,
        ..Removal::default()
    }
}

fn text<T, E: ToString>(r: Result<T, E>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| e.to_string())
}

/// A site `--pattern` matched: the instance its folder holds, its row marked `dropping`
/// first (killed midway, `--orphans` finishes it), then `dropped`, or `failed`.
#[allow(clippy::too_many_arguments)]
async fn remove_matched(
    ctx: &Context,
    dbs: &mut Conns,
    facts: &BenchFacts,
    guard: &Guard,
    site: &str,
    db_name: Option<String>,
    row: Option<(u64, Status)>,
    deadline: Instant,
) -> Removal {
    let mut steps = Steps::default();
    if let Some((id, was)) = row {
        let r = ctx
            .registry
            .mark_dropping(dbs.control(), id, was, run_tag())
            .await;
        let ok = r.is_ok();
        steps.record(format!("mark row {id} dropping"), text(r));
        if !ok {
            return Removal {
                steps: steps.0,
                ..Removal::default()
            };
        }
    }
    let mut removal = match &db_name {
        Some(d) => {
            let proof = row.map_or(Proof::Config, |(id, _)| Proof::Row(id));
            let target = Target {
                site,
                db_name: d,
                proof,
            };
            remove_site(ctx, dbs, &facts.common, &target, guard, deadline).await
        }
        // A folder without site_config.json names no database: only it goes.
        None if !dbs.control().holds_site_lock(site).await => {
            let mut s = Steps::default();
            s.record(format!("check the lock of {site}"), Err(lost_lock(site)));
            Removal {
                steps: s.0,
                ..Removal::default()
            }
        }
        None => {
            let mut s = Steps::default();
            let r = ctx.bench.remove_site_dir(site, deadline).await;
            s.record(format!("remove sites/{site}"), text(r));
            Removal {
                steps: s.0,
                ..Removal::default()
            }
        }
    };
    steps.0.append(&mut removal.steps);
    if let Some((id, _)) = row {
        let (status, error) = match steps.all_ok() {
            true => (Status::Dropped, None),
            false => (
                Status::Failed,
                Some("cleanup --pattern could not finish; cleanup --orphans does"),
            ),
        };
        let r = ctx.registry.finish(dbs.control(), id, status, error).await;
        steps.record(format!("mark row {id} {}", status.as_str()), text(r));
    }
    removal.steps = steps.0;
    removal
}

/// A run killed midway: its processes stopped (a SIGKILL may have left bench running in
/// a container), its own instance removed, its row ended.
async fn resolve_run(
    ctx: &Context,
    dbs: &mut Conns,
    facts: &BenchFacts,
    guard: &Guard,
    row: &Row,
    deadline: Instant,
) -> Removal {
    if let Some(tag) = &row.run_tag {
        if let Err(e) = ctx.bench.stop_run(tag, deadline).await {
            let mut steps = Steps::default();
            steps.record(
                format!("stop what run {tag} left running"),
                Err(format!("{e}; nothing of {} was removed", row.site)),
            );
            return Removal {
                steps: steps.0,
                ..Removal::default()
            };
        }
    }
    let note = format!(
        "resolved by cleanup --orphans (was {} at step {})",
        row.status.as_str(),
        row.step.as_deref().unwrap_or("?")
    );
    let common = &facts.common;
    remove_recorded(
        ctx,
        dbs,
        common,
        row,
        Status::RolledBack,
        Some(&note),
        guard,
        deadline,
    )
    .await
}

/// Set when SIGINT or SIGTERM arrives: the countdown aborts, a running cleanup stops
/// after the item in hand. Listening starts here, before the countdown is announced: a
/// Ctrl-C right after the prompt is never lost (it was, when the listener started later).
fn watch_signals() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    match StopSignals::listen() {
        Ok(mut signals) => {
            tokio::spawn(async move {
                signals.recv().await;
                f.store(true, Ordering::SeqCst);
            });
        }
        // Without a listener, a signal keeps its default action: it ends the process.
        Err(e) => progress(&format!(
            "⚠ cannot listen for Ctrl-C ({e}); it ends the process"
        )),
    }
    flag
}

/// `cleanup --pattern GLOB | --orphans`.
pub async fn run(args: CleanupArgs) -> Result<Output, Error> {
    let ctx = Context::resolve(&args.conn).await?;
    if let Some(p) = &args.pattern {
        validate_site_pattern(p).map_err(Error::invalid)?;
    }
    if args.db_pattern.is_empty() {
        return Err(Error::invalid("--db-pattern must not be empty"));
    }
    let opts = Options {
        conn: args.conn.clone(),
        pattern: args.pattern,
        orphans: args.orphans,
        db_pattern: args.db_pattern,
        dry_run: args.dry_run,
        yes: args.yes,
        timeout: Duration::from_secs(args.timeout),
    };
    Ok(Output::Cleanup(cleanup(&ctx, &opts).await))
}
