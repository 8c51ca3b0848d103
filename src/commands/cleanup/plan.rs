//! What a cleanup would remove, found before anything is: sites matching `--pattern`
//! (each locked as it is planned), and for `--orphans` the databases, DB users, killed
//! runs and stale registry rows, from one catalog scan, one listing of `sites/` and a few
//! registry reads. Each item is one site instance, known by its database; what the guard
//! keeps (system schemas, the registry, the admin account, what another site, live row or
//! other registry on the server names) is never planned, and a site whose folder and live
//! row disagree about its database is left alone. An orphan is taken only when nothing
//! makes it uncertain: the registry this bench was used with, every bench's sites read,
//! every config parsed, and this bench's databases on the server scanned.

use super::known::{elsewhere_than_its_sites, known, own_registry};
use super::Options;
use crate::context::Context;
use crate::error::Error;
use crate::lifecycle::guard::Guard;
use crate::output::{round2, CleanupReport, Item, ScanStats};
use crate::outside::bench::{BenchFacts, SiteDir};
use crate::outside::mariadb::catalog::{Catalog, FRAPPE_MARKER_TABLES};
use crate::outside::mariadb::registry::{Row, Status};
use crate::outside::mariadb::{Conns, Db, SYSTEM_SCHEMAS};
use std::collections::BTreeSet;
use tokio::time::Instant;

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
pub(super) enum Work {
    /// A site folder `--pattern` matched: the instance its config names, and the registry
    /// row of that instance (its id and status), if it has one.
    Site {
        site: String,
        db_name: Option<String>,
        row: Option<(u64, Status)>,
    },
    /// A run killed midway: its row, and whether its claim can simply be undone.
    Run {
        row: Box<Row>,
        back_to_pool: bool,
    },
    Database(String),
    /// A DB user named like a site's whose database is gone.
    User(String),
    /// A live registry row whose instance is gone (its database, and any folder holding
    /// it): nothing is left to remove, the row only has to say so.
    Forget(u64),
    /// A killed or failed run's row whose site was made again by a later run that is live
    /// now (row `by`): what it named is that tenant's, so nothing is removed, the row is
    /// only closed. Rows of versions before instance identity share their database name
    /// with every attempt at their site, so this is how they end.
    Superseded {
        id: u64,
        by: u64,
    },
}

pub(super) struct Plan {
    pub work: Vec<(Item, Work)>,
    pub facts: BenchFacts,
    /// Whether the registry exists (its live rows were read).
    pub registry: bool,
    /// What the plan was checked against: still true when nothing waits between the
    /// plan and the removal (`--yes`); read again after a countdown (`guard_now`).
    pub guard: Guard,
}

/// What the planner reads, once: the server's catalog (with `--orphans`), the registry's
/// live rows, this bench's facts and sites, and the sites of the inventory's other benches.
struct Scan {
    catalog: Option<Catalog>,
    registry: bool,
    live: BTreeSet<String>,
    facts: BenchFacts,
    sites: Vec<SiteDir>,
    /// Databases and DB users some site folder of any inventory bench names.
    referenced: BTreeSet<String>,
    /// With `--orphans`, why no orphan is certain, each a clause: the sites of another
    /// bench on this database server could not be read, a site's config is not JSON, or
    /// none of this bench's sites has its database on the server scanned.
    uncertain: Vec<String>,
    /// Benches on other database servers whose sites could not be read: said, no more.
    unread_elsewhere: Vec<String>,
    guard: Guard,
}

/// Finds what to remove. Sites and killed runs are locked here (a busy one is skipped)
/// and stay locked until the run ends, so no provision starts on them in between.
pub(super) async fn plan(
    ctx: &Context,
    dbs: &mut Conns,
    opts: &Options,
    deadline: Instant,
    report: &mut CleanupReport,
) -> Result<Plan, Error> {
    let clock = Instant::now();
    let scan = scan(ctx, dbs, opts, deadline).await?;
    if !scan.uncertain.is_empty() {
        report.warnings.push(format!(
            "no database or DB user was taken for an orphan: {}",
            scan.uncertain.join("; ")
        ));
    }
    if !scan.unread_elsewhere.is_empty() {
        report.warnings.push(format!(
            "the sites of {} (on other database servers) could not be read",
            scan.unread_elsewhere.join(", ")
        ));
    }
    let mut work: Vec<(Item, Work)> = vec![];
    let matched = match &opts.pattern {
        Some(pattern) => pattern_sites(ctx, dbs, &scan, pattern, report, &mut work).await?,
        None => BTreeSet::new(),
    };
    if let Some(catalog) = &scan.catalog {
        let handled = runs(ctx, dbs, opts, &scan, &matched, report, &mut work).await?;
        orphans(ctx, opts, &scan, catalog, &handled, &mut work);
        report.scan = Some(ScanStats {
            databases: catalog.databases.len(),
            frappe_databases: catalog.frappe.len(),
            catalog_queries: catalog.queries,
            seconds: round2(clock.elapsed().as_secs_f64()),
        });
    }
    Ok(Plan {
        work,
        facts: scan.facts,
        registry: scan.registry,
        guard: scan.guard,
    })
}

async fn scan(
    ctx: &Context,
    dbs: &mut Conns,
    opts: &Options,
    deadline: Instant,
) -> Result<Scan, Error> {
    let registry = ctx.registry.upgrade(dbs.control()).await?;
    let facts = ctx.bench.facts(deadline).await?;
    own_registry(ctx, dbs, opts, &facts, registry).await?;
    // The catalog before the sites: Frappe writes a site's config before it creates its
    // database, so every database seen here already has its config on disk below, and a
    // new-site in flight is never taken for an orphan.
    let catalog = match opts.orphans {
        true => Some(dbs.sites().scan_catalog().await?),
        false => None,
    };
    let known = known(ctx, dbs, opts, &facts, registry, deadline).await?;
    let guard = known.guard(ctx);
    let mut uncertain = known.uncertain;
    if let Some(catalog) = &catalog {
        uncertain.extend(elsewhere_than_its_sites(&known.sites, catalog));
    }
    let referenced = known
        .everywhere
        .iter()
        .filter_map(|s| s.config.as_ref())
        .flat_map(|c| [c.db_name.clone(), c.db_user().map(String::from)])
        .flatten()
        .collect();
    Ok(Scan {
        catalog,
        registry,
        live: known.live_rows.iter().map(|r| r.db_name.clone()).collect(),
        guard,
        facts,
        sites: known.sites,
        referenced,
        uncertain,
        unread_elsewhere: known.unread_elsewhere,
    })
}

/// `--pattern`: the sites of SITE_DOMAIN whose subdomain matches, each the instance its
/// folder's config names; returns their names.
async fn pattern_sites(
    ctx: &Context,
    dbs: &mut Conns,
    scan: &Scan,
    pattern: &str,
    report: &mut CleanupReport,
    work: &mut Vec<(Item, Work)>,
) -> Result<BTreeSet<String>, Error> {
    let suffix = format!(".{}", ctx.site_domain);
    let hits: Vec<&SiteDir> = scan
        .sites
        .iter()
        .filter(|s| {
            s.name
                .strip_suffix(&suffix)
                .is_some_and(|sub| !sub.contains('.') && glob_match(pattern, sub))
        })
        .collect();
    let names: Vec<String> = hits.iter().map(|s| s.name.clone()).collect();
    let rows = match (&scan.facts.bench_id, scan.registry) {
        (Some(id), true) => {
            ctx.registry
                .rows_of_sites(dbs.control(), id, &names)
                .await?
        }
        _ => vec![],
    };
    let mut matched = BTreeSet::new();
    for s in hits {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.site == s.name).collect();
        match pattern_site(dbs, scan, s, &mine).await? {
            Ok(planned) => {
                matched.insert(s.name.clone());
                work.push(planned);
            }
            Err(skipped) => report.skipped.push(skipped),
        }
    }
    Ok(matched)
}

/// One matched site: its item and work, or the item skipped with why (under its lock, or
/// busy).
async fn pattern_site(
    dbs: &mut Conns,
    scan: &Scan,
    s: &SiteDir,
    rows: &[&Row],
) -> Result<Result<(Item, Work), Item>, Error> {
    let db_name = s.config.as_ref().and_then(|c| c.db_name.clone());
    let mut item = item("site", &s.name, db_name.clone(), None);
    if !dbs.control().try_lock_site(&s.name).await? {
        item.reason = Some("another run (a provision or cleanup) holds its lock".into());
        return Ok(Err(item));
    }
    let live = rows.iter().find(|r| r.status.is_live());
    let refusal = match (&db_name, live) {
        // Being rewritten by Frappe, or broken: it may name any database.
        _ if s.unparsed.is_some() => Some(format!(
            "its site_config.json could not be parsed ({}): left alone",
            s.unparsed.as_deref().unwrap_or_default()
        )),
        // A suspended tenant is kept for its customer: `resume` it, or it stays.
        (_, Some(l)) if l.status == Status::Suspended => Some(format!(
            "suspended (registry row {}): a suspended tenant is never removed; resume it first",
            l.id
        )),
        (Some(d), Some(l)) if &l.db_name != d => Some(format!(
            "its folder holds database {d}, but its live registry row {} names {}: \
             left alone (see `verify`)",
            l.id, l.db_name
        )),
        (None, Some(l)) => Some(format!(
            "a folder without site_config.json, while registry row {} says {}: left alone",
            l.id,
            l.status.as_str()
        )),
        (Some(d), Some(l)) => scan.guard.database(d, &s.name, Some(l.id)),
        // Only the folder says whose the database is: it must look like a site's.
        (Some(d), None) => match scan.guard.database(d, &s.name, None) {
            Some(why) => Some(why),
            None => not_a_site_database(dbs.sites(), d).await?,
        },
        (None, None) => None,
    };
    if let Some(why) = refusal {
        item.reason = Some(why);
        let _ = dbs.control().unlock_site(&s.name).await;
        return Ok(Err(item));
    }
    // The row of the instance the folder holds: its live row, else its latest.
    let row = live.copied().or_else(|| {
        rows.iter()
            .rev()
            .find(|r| Some(&r.db_name) == db_name.as_ref())
            .copied()
    });
    if s.config.is_none() {
        item.reason = Some("folder without site_config.json".into());
    }
    let work = Work::Site {
        site: s.name.clone(),
        db_name,
        row: row.map(|r| (r.id, r.status)),
    };
    Ok(Ok((item, work)))
}

/// `--orphans`, the registry's side: rows of runs killed midway (or rolled back only
/// partly) and live rows whose instance is gone. Returns the databases of the runs
/// taken on, which the orphan scan leaves to them.
#[allow(clippy::too_many_arguments)]
async fn runs(
    ctx: &Context,
    dbs: &mut Conns,
    opts: &Options,
    scan: &Scan,
    matched: &BTreeSet<String>,
    report: &mut CleanupReport,
    work: &mut Vec<(Item, Work)>,
) -> Result<BTreeSet<String>, Error> {
    let mut handled = BTreeSet::new();
    let (true, Some(bench_id), Some(catalog)) =
        (scan.registry, &scan.facts.bench_id, &scan.catalog)
    else {
        return Ok(handled);
    };
    let statuses = [
        Status::Provisioning,
        Status::Claimed,
        Status::Failed,
        Status::Dropping,
        Status::Active,
        Status::Standby,
    ];
    let rows = ctx
        .registry
        .rows_with_status(dbs.control(), bench_id, &statuses)
        .await?;
    for row in &rows {
        if matched.contains(&row.site) || !glob_match(&opts.db_pattern, &row.db_name) {
            continue;
        }
        if matches!(row.status, Status::Active | Status::Standby) {
            if let Some(planned) = gone(scan, catalog, row) {
                work.push(planned);
            }
            continue;
        }
        if let Some(planned) = superseded(&rows, row) {
            work.push(planned);
            continue;
        }
        let mut it = item("run", &row.site, Some(row.db_name.clone()), None);
        if !dbs.control().try_lock_site(&row.site).await? {
            it.reason = Some(format!("{} and still running", row.status.as_str()));
            report.skipped.push(it);
            continue;
        }
        handled.insert(row.db_name.clone());
        work.push(killed_run(scan, row, it));
    }
    Ok(handled)
}

/// A live row whose instance is its database: gone when that is and no folder holds it.
fn gone(scan: &Scan, catalog: &Catalog, row: &Row) -> Option<(Item, Work)> {
    let folder = scan.sites.iter().find(|d| d.name == row.site);
    let held = folder.is_some_and(|f| f.config.is_none() || config_names(f, &row.db_name));
    if catalog.databases.contains(&row.db_name) || held {
        return None;
    }
    let reason = format!(
        "registry says {} but its database is gone and no folder holds it",
        row.status.as_str()
    );
    let it = item("row", &row.site, Some(row.db_name.clone()), Some(reason));
    Some((it, Work::Forget(row.id)))
}

/// A run's row whose site was made again later and is live: the run is over, and what it
/// names is (for an earlier version's row, whose database name every attempt shared) or
/// may be the live tenant's. Never removed on this row's word: only closed.
fn superseded(rows: &[Row], row: &Row) -> Option<(Item, Work)> {
    let again = rows
        .iter()
        .find(|l| l.site == row.site && l.id != row.id && l.status.is_live())
        .filter(|l| !row.db_unique || l.db_name == row.db_name)?;
    let reason = format!(
        "{} at step {}, but {} was made again (row {}, {}): closed, nothing removed",
        row.status.as_str(),
        row.step.as_deref().unwrap_or("?"),
        row.site,
        again.id,
        again.status.as_str()
    );
    let it = item("run", &row.site, Some(row.db_name.clone()), Some(reason));
    let work = Work::Superseded {
        id: row.id,
        by: again.id,
    };
    Some((it, work))
}

/// A run killed midway, under its site's lock now: undone, or (a claim killed before its
/// rename left the standby whole under its own name) its standby put back.
fn killed_run(scan: &Scan, row: &Row, mut it: Item) -> (Item, Work) {
    let back_to_pool = row.status == Status::Claimed
        && row.standby_site.as_ref().is_some_and(|s| {
            scan.sites
                .iter()
                .any(|d| &d.name == s && config_names(d, &row.db_name))
        })
        && !scan.sites.iter().any(|d| d.name == row.site);
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
    let work = Work::Run {
        row: Box::new(row.clone()),
        back_to_pool,
    };
    (it, work)
}

/// `--orphans`, the server's side: databases holding Frappe's tables that no site and no
/// live row names, and DB users named like a site's whose database is gone. None at all
/// while another bench's sites could not be read.
fn orphans(
    ctx: &Context,
    opts: &Options,
    scan: &Scan,
    catalog: &Catalog,
    handled: &BTreeSet<String>,
    work: &mut Vec<(Item, Work)>,
) {
    if !scan.uncertain.is_empty() {
        return;
    }
    let unclaimed = |name: &String| {
        !scan.referenced.contains(name)
            && !scan.live.contains(name)
            && !handled.contains(name)
            && glob_match(&opts.db_pattern, name)
    };
    let databases: Vec<String> = catalog
        .frappe
        .iter()
        .filter(|d| !SYSTEM_SCHEMAS.contains(&d.as_str()) && d.as_str() != ctx.registry.name())
        .filter(|d| unclaimed(d) && scan.guard.database(d, "", None).is_none())
        .cloned()
        .collect();
    for d in &databases {
        let reason = "Frappe schema, no site references it".to_string();
        let it = item("database", d, Some(d.clone()), Some(reason));
        work.push((it, Work::Database(d.clone())));
    }
    for user in catalog.users.keys() {
        let orphan = unclaimed(user)
            && !databases.contains(user)
            && *user != ctx.db.user
            && *user != ctx.control.user
            && looks_like_site_user(user)
            && !catalog.databases.contains(user)
            && scan.guard.user(user, "", None).is_none();
        if !orphan {
            continue;
        }
        let reason = "named like a site's DB user; its database is gone".to_string();
        let work_item = Work::User(user.clone());
        work.push((item("db-user", user, None, Some(reason)), work_item));
    }
}

/// Why `d`, which only a site folder's config names, is not to be dropped: it exists
/// without Frappe's tables (someone else's data), or `None`.
async fn not_a_site_database(db: &mut Db, d: &str) -> Result<Option<String>, Error> {
    if !db.database_exists(d).await? {
        return Ok(None);
    }
    let n = db.marker_tables(d).await?;
    Ok((n < FRAPPE_MARKER_TABLES.len()).then(|| {
        format!("its config names database {d}, which does not hold Frappe's tables: left alone")
    }))
}

fn config_names(site: &SiteDir, db_name: &str) -> bool {
    site.config.as_ref().and_then(|c| c.db_name.as_deref()) == Some(db_name)
}

pub(super) fn item(
    kind: &'static str,
    name: &str,
    db_name: Option<String>,
    reason: Option<String>,
) -> Item {
    Item {
        kind,
        name: name.to_string(),
        db_name,
        reason,
        actions: vec![],
        removed_by: None,
    }
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
        // A subdomain is at most 63 characters (one DNS label), and so is a pattern.
        assert!(validate_site_pattern(&"a".repeat(63)).is_ok());
        let long = "a".repeat(64);
        for bad in ["", "*", "**?", "Test-*", "a.b", "a/b", "a b", &long] {
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
