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

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::lifecycle::removal::{drop_database_and_users, remove_site, Removal, Steps};
use crate::outside::bench::{BenchFacts, SiteDir};
use crate::outside::mariadb::registry::{Row, Status};
use crate::outside::mariadb::{Db, SYSTEM_SCHEMAS};
use crate::shared::cli::CleanupArgs;
use crate::shared::context::Context;
use crate::shared::report::{
    print_json, progress, round2, untouched, CleanupReport, Code, Item, ScanStats,
};

/// The seed's safety delay before anything is dropped.
const COUNTDOWN: Duration = Duration::from_secs(5);

pub struct Options {
    pub pattern: Option<String>,
    pub orphans: bool,
    pub db_pattern: String,
    pub dry_run: bool,
    pub yes: bool,
    pub timeout: Duration,
}

/// A glob over subdomains: a-z, 0-9, '-', '*' and '?', and at least one character that
/// is not a wildcard (a pattern that matches every tenant is refused).
pub fn validate_site_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > 63 {
        return Err("--pattern must be 1 to 63 characters".into());
    }
    if !p
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-*?".contains(&b))
    {
        return Err(
            "--pattern may hold only a-z, 0-9, '-', '*' and '?' (it matches subdomains)".into(),
        );
    }
    if p.bytes().all(|b| b == b'*' || b == b'?') {
        return Err("--pattern must contain at least one letter, digit or '-': a pattern of wildcards alone would drop every tenant".into());
    }
    Ok(())
}

/// `*` any run of characters, `?` one character, anything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A DB account name Frappe v15 gives a site by default (`_` + 16 hex of SHA-1), or this
/// tool does (`ft_` + 16 hex of SHA-256).
fn looks_like_site_user(user: &str) -> bool {
    let hex = user.strip_prefix("ft_").or_else(|| user.strip_prefix('_'));
    hex.is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// What one planned item does when carried out.
enum Work {
    Site {
        site: String,
        db_name: Option<String>,
    },
    /// A run killed midway: its row, and whether its claim can simply be undone.
    Run {
        row: Box<Row>,
        back_to_pool: bool,
    },
    Database(String),
    User {
        user: String,
        hosts: Vec<String>,
    },
    /// A live registry row whose site folder and database are both gone: nothing is left
    /// to remove, the row only has to say so.
    Forget(u64),
}

pub async fn cleanup(ctx: &Context, opts: &Options) -> CleanupReport {
    let started = Instant::now();
    let mut report = CleanupReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut db = match ctx.db.connect().await {
        Ok(db) => db,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let plan_deadline = Instant::now() + Duration::from_secs(120);
    let planned = plan(ctx, &mut db, opts, plan_deadline, &mut report).await;
    let (work, facts, protected) = match planned {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e);
            report.elapsed = round2(started.elapsed().as_secs_f64());
            return report;
        }
    };
    for (item, _) in &work {
        report.planned.push(item.clone());
    }
    if work.is_empty() {
        progress("Nothing to clean up.");
    } else {
        progress(&format!("{} to remove:", work.len()));
        for (item, _) in &work {
            progress(&format!(
                "  {} {}{}",
                item.kind,
                item.name,
                item.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
    }
    if opts.dry_run || work.is_empty() {
        report.success = report.error.is_none();
        report.elapsed = round2(started.elapsed().as_secs_f64());
        return report;
    }
    let interrupted = watch_signals();
    if !opts.yes {
        progress(&format!(
            "Removing them in {} seconds; press Ctrl-C to abort.",
            COUNTDOWN.as_secs()
        ));
        let until = Instant::now() + COUNTDOWN;
        while Instant::now() < until && !interrupted.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if interrupted.load(Ordering::SeqCst) {
            progress("Aborted: nothing was removed.");
            report.error = Some("interrupted during the countdown; nothing was removed".into());
            report.elapsed = round2(started.elapsed().as_secs_f64());
            return report;
        }
    }
    let n = work.len();
    for (k, (mut item, what)) in work.into_iter().enumerate() {
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
        let mut removal = carry_out(ctx, &mut db, &facts, &protected, what, deadline).await;
        removal.warn_into(&mut report.warnings);
        item.removed_by = removal.removed_by;
        item.actions = removal.steps;
        if item.actions.iter().all(|u| u.ok) {
            report.dropped.push(item);
        } else {
            report.failed.push(item);
        }
    }
    if interrupted.load(Ordering::SeqCst) {
        report.error = Some("interrupted; the items not reached are listed under skipped".into());
    }
    report.conclude("Cleanup", started.into_std());
    report
}

type Plan = (Vec<(Item, Work)>, BenchFacts, BTreeSet<String>);

/// Finds what to remove. Sites and killed runs are locked here (a busy one is skipped)
/// and stay locked until the run ends, so no provision starts on them in between.
async fn plan(
    ctx: &Context,
    db: &mut Db,
    opts: &Options,
    deadline: Instant,
    report: &mut CleanupReport,
) -> Result<Plan, String> {
    let mut work: Vec<(Item, Work)> = vec![];
    // The catalog before the sites: Frappe writes a site's config before it creates its
    // database, so every database seen here already has its config on disk below, and a
    // new-site in flight is never taken for an orphan.
    let scan_clock = Instant::now();
    let catalog = if opts.orphans {
        Some(db.scan_catalog().await.map_err(|e| e.to_string())?)
    } else {
        None
    };
    // Only --orphans reads the registry here (a --pattern drop marks its row later).
    let registry_exists = catalog
        .as_ref()
        .is_some_and(|c| c.databases.contains(ctx.registry.name()));
    let live: BTreeSet<String> = if registry_exists {
        ctx.registry
            .live_databases(db)
            .await
            .map_err(|e| e.to_string())?
    } else {
        BTreeSet::new()
    };
    let facts = ctx.bench.facts(deadline).await.map_err(|e| e.to_string())?;
    let sites = ctx
        .bench
        .list_sites(deadline)
        .await
        .map_err(|e| e.to_string())?;
    let referenced: BTreeSet<String> = sites
        .iter()
        .filter_map(|s| s.config.as_ref()?.db_name.clone())
        .collect();
    let referenced_users: BTreeSet<String> = sites
        .iter()
        .filter_map(|s| s.config.as_ref()?.db_user().map(String::from))
        .collect();

    // --pattern: sites of SITE_DOMAIN whose subdomain matches. `matched` collects every
    // site this cleanup will remove; the databases of all others stay protected.
    let mut matched: BTreeSet<String> = BTreeSet::new();
    if let Some(pattern) = &opts.pattern {
        let suffix = format!(".{}", ctx.site_domain);
        for s in &sites {
            let Some(sub) = s.name.strip_suffix(&suffix) else {
                continue;
            };
            if sub.contains('.') || !glob_match(pattern, sub) {
                continue;
            }
            let db_name = s.config.as_ref().and_then(|c| c.db_name.clone());
            let mut item = item("site", &s.name, db_name.clone(), None);
            if !db.try_lock_site(&s.name).await.map_err(|e| e.to_string())? {
                item.reason = Some("another run (a provision or cleanup) holds its lock".into());
                report.skipped.push(item);
                continue;
            }
            matched.insert(s.name.clone());
            if s.config.is_none() {
                item.reason = Some("folder without site_config.json".into());
            }
            work.push((
                item,
                Work::Site {
                    site: s.name.clone(),
                    db_name,
                },
            ));
        }
    }
    let Some(catalog) = catalog else {
        let protected = kept_databases(&sites, &matched);
        return Ok((work, facts, protected));
    };
    // Runs killed midway (or rolled back only partly): their registry rows.
    let mut handled: BTreeSet<String> = BTreeSet::new();
    if let (true, Some(bench_id)) = (registry_exists, &facts.bench_id) {
        let rows = ctx
            .registry
            .rows_with_status(
                db,
                bench_id,
                &[
                    Status::Provisioning,
                    Status::Claimed,
                    Status::Failed,
                    Status::Active,
                    Status::Standby,
                ],
            )
            .await
            .map_err(|e| e.to_string())?;
        for row in rows {
            if matched.contains(&row.site) || !glob_match(&opts.db_pattern, &row.db_name) {
                continue;
            }
            if matches!(row.status, Status::Active | Status::Standby) {
                let gone = !sites.iter().any(|d| d.name == row.site)
                    && !catalog.databases.contains(&row.db_name);
                if gone {
                    let reason = format!(
                        "registry says {} but its folder and database are gone",
                        row.status.as_str()
                    );
                    let it = item("row", &row.site, Some(row.db_name.clone()), Some(reason));
                    work.push((it, Work::Forget(row.id)));
                }
                continue;
            }
            let mut it = item("run", &row.site, Some(row.db_name.clone()), None);
            if !db
                .try_lock_site(&row.site)
                .await
                .map_err(|e| e.to_string())?
            {
                it.reason = Some(format!("{} and still running", row.status.as_str()));
                report.skipped.push(it);
                continue;
            }
            handled.insert(row.db_name.clone());
            matched.insert(row.site.clone());
            // A claim killed before its rename left the standby whole under its own name.
            let back_to_pool = row.status == Status::Claimed
                && row.standby_site.as_ref().is_some_and(|s| {
                    sites
                        .iter()
                        .any(|d| &d.name == s && config_names(d, &row.db_name))
                })
                && !sites.iter().any(|d| d.name == row.site);
            it.reason = Some(format!(
                "{} at step {}{}",
                row.status.as_str(),
                row.step.as_deref().unwrap_or("?"),
                if back_to_pool {
                    ": back to the pool"
                } else {
                    ""
                }
            ));
            work.push((
                it,
                Work::Run {
                    row: Box::new(row),
                    back_to_pool,
                },
            ));
        }
    }
    let orphans: Vec<String> = catalog
        .frappe
        .iter()
        .filter(|d| !SYSTEM_SCHEMAS.contains(&d.as_str()) && d.as_str() != ctx.registry.name())
        .filter(|d| !referenced.contains(*d) && !live.contains(*d) && !handled.contains(*d))
        .filter(|d| glob_match(&opts.db_pattern, d))
        .cloned()
        .collect();
    for d in &orphans {
        work.push((
            item(
                "database",
                d,
                Some(d.clone()),
                Some("Frappe schema, no site references it".into()),
            ),
            Work::Database(d.clone()),
        ));
    }
    for (user, hosts) in &catalog.users {
        let in_use = referenced_users.contains(user)
            || live.contains(user)
            || handled.contains(user)
            || orphans.contains(user)
            || *user == ctx.db.user;
        if in_use || !looks_like_site_user(user) || catalog.databases.contains(user) {
            continue;
        }
        if !glob_match(&opts.db_pattern, user) {
            continue;
        }
        work.push((
            item(
                "db-user",
                user,
                None,
                Some("named like a site's DB user; its database is gone".into()),
            ),
            Work::User {
                user: user.clone(),
                hosts: hosts.clone(),
            },
        ));
    }
    let protected = kept_databases(&sites, &matched);
    report.scan = Some(ScanStats {
        databases: catalog.databases.len(),
        frappe_databases: catalog.frappe.len(),
        catalog_queries: catalog.queries,
        seconds: round2(scan_clock.elapsed().as_secs_f64()),
    });
    Ok((work, facts, protected))
}

/// Databases that the sites staying on the bench reference: never dropped, whatever else
/// a cleanup does.
fn kept_databases(sites: &[SiteDir], removing: &BTreeSet<String>) -> BTreeSet<String> {
    sites
        .iter()
        .filter(|s| !removing.contains(&s.name))
        .filter_map(|s| s.config.as_ref()?.db_name.clone())
        .collect()
}

fn config_names(site: &SiteDir, db_name: &str) -> bool {
    site.config.as_ref().and_then(|c| c.db_name.as_deref()) == Some(db_name)
}

async fn carry_out(
    ctx: &Context,
    db: &mut Db,
    facts: &BenchFacts,
    protected: &BTreeSet<String>,
    work: Work,
    deadline: Instant,
) -> Removal {
    let mut removal = Removal::default();
    let mut steps = Steps::default();
    match work {
        Work::Site { site, db_name } => {
            match db_name {
                Some(d) => {
                    removal =
                        remove_site(ctx, db, &facts.common, &site, &d, protected, deadline).await;
                    steps.0 = std::mem::take(&mut removal.steps);
                }
                None => {
                    let r = ctx
                        .bench
                        .remove_site_dir(&site, deadline)
                        .await
                        .map_err(|e| e.to_string());
                    steps.record(format!("remove sites/{site}"), r);
                }
            }
            if let (Some(bench_id), true) = (&facts.bench_id, steps.all_ok()) {
                // Sites made by hand have no row; that is fine, the update changes nothing.
                let r = ctx
                    .registry
                    .mark_dropped(db, bench_id, &site)
                    .await
                    .map_err(|e| e.to_string());
                steps.record(format!("mark {site} dropped in the registry"), r);
            }
        }
        Work::Run { row, back_to_pool } => {
            if back_to_pool {
                let r = ctx
                    .registry
                    .unclaim(db, row.id, Status::Standby, None)
                    .await
                    .map_err(|e| e.to_string());
                steps.record(
                    format!(
                        "return standby {} to the pool",
                        row.standby_site.unwrap_or_default()
                    ),
                    r,
                );
            } else {
                removal = remove_site(
                    ctx,
                    db,
                    &facts.common,
                    &row.site,
                    &row.db_name,
                    protected,
                    deadline,
                )
                .await;
                steps.0 = std::mem::take(&mut removal.steps);
                let status = if steps.all_ok() {
                    Status::RolledBack
                } else {
                    Status::Failed
                };
                let note = format!(
                    "resolved by cleanup --orphans (was {} at step {})",
                    row.status.as_str(),
                    row.step.as_deref().unwrap_or("?")
                );
                let r = ctx
                    .registry
                    .finish(db, row.id, status, Some(&note))
                    .await
                    .map_err(|e| e.to_string());
                steps.record(format!("mark {} {}", row.site, status.as_str()), r);
            }
        }
        Work::Database(d) => drop_database_and_users(db, &d, &mut steps).await,
        Work::Forget(id) => {
            let r = ctx
                .registry
                .finish(
                    db,
                    id,
                    Status::Dropped,
                    Some("gone when cleanup --orphans looked"),
                )
                .await
                .map_err(|e| e.to_string());
            steps.record("mark the registry row dropped".into(), r);
        }
        Work::User { user, hosts } => {
            for host in hosts {
                let r = db.drop_user(&user, &host).await.map_err(|e| e.to_string());
                steps.record(format!("drop DB user {user}@{host}"), r);
            }
        }
    }
    removal.steps = steps.0;
    removal
}

fn item(kind: &'static str, name: &str, db_name: Option<String>, reason: Option<String>) -> Item {
    Item {
        kind,
        name: name.to_string(),
        db_name,
        reason,
        actions: vec![],
        removed_by: None,
    }
}

/// Set when SIGINT or SIGTERM arrives: the countdown aborts, a running cleanup stops
/// after the item in hand.
fn watch_signals() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        f.store(true, Ordering::SeqCst);
    });
    flag
}

/// `cleanup --pattern GLOB | --orphans`.
pub async fn run(args: CleanupArgs) -> u8 {
    let ctx = match Context::or_report(&args.conn, "") {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(p) = &args.pattern {
        if let Err(e) = validate_site_pattern(p) {
            return untouched(Code::InvalidInput, e, "");
        }
    }
    if args.db_pattern.is_empty() {
        return untouched(
            Code::InvalidInput,
            "--db-pattern must not be empty".into(),
            "",
        );
    }
    let opts = Options {
        pattern: args.pattern,
        orphans: args.orphans,
        db_pattern: args.db_pattern,
        dry_run: args.dry_run,
        yes: args.yes,
        timeout: Duration::from_secs(args.timeout),
    };
    let report = cleanup(&ctx, &opts).await;
    print_json(&report);
    report.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("test-*", "test-a", true),
            ("test-*", "test-", true),
            ("test-*", "atest-a", false),
            ("*-demo", "acme-demo", true),
            ("t?st", "test", true),
            ("t?st", "tst", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("_abc*", "_abc0123", true),
        ] {
            assert_eq!(glob_match(p, t), m, "{p} vs {t}");
        }
    }

    #[test]
    fn site_patterns_must_say_something() {
        assert!(validate_site_pattern("test-*").is_ok());
        for bad in ["", "*", "**?", "Test-*", "a.b", "a/b", "a b"] {
            assert!(validate_site_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn site_users_are_recognised_by_name() {
        assert!(looks_like_site_user("_0123456789abcdef"));
        assert!(looks_like_site_user("ft_0123456789abcdef"));
        for other in [
            "root",
            "_0123",
            "ft_0123456789ABCDEF",
            "wordpress",
            "_0123456789abcdefg",
            "mariadb.sys",
        ] {
            assert!(!looks_like_site_user(other), "{other}");
        }
    }
}
