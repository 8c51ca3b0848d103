//! What a cleanup would remove, found before anything is: sites matching `--pattern`
//! (each locked as it is planned), and for `--orphans` the databases, DB users, killed
//! runs and stale registry rows, from one catalog scan, one listing of `sites/` and two
//! registry reads. Each item is one site instance, known by its database; what the guard
//! keeps (system schemas, the registry, the admin account, what another site or live row
//! names) is never planned, and a site whose folder and live row disagree about its
//! database is left alone.

use super::Options;
use crate::context::Context;
use crate::lifecycle::guard::Guard;
use crate::output::{round2, CleanupReport, Item, ScanStats};
use crate::outside::bench::{BenchFacts, SiteDir};
use crate::outside::mariadb::catalog::FRAPPE_MARKER_TABLES;
use crate::outside::mariadb::registry::{LiveRow, Row, Status};
use crate::outside::mariadb::{Db, SYSTEM_SCHEMAS};
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
    User {
        user: String,
        hosts: Vec<String>,
    },
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

pub(super) type Plan = (Vec<(Item, Work)>, BenchFacts, Guard);

/// Finds what to remove. Sites and killed runs are locked here (a busy one is skipped)
/// and stay locked until the run ends, so no provision starts on them in between.
pub(super) async fn plan(
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
    let registry_exists = ctx.registry.upgrade(db).await.map_err(|e| e.to_string())?;
    let live_rows: Vec<LiveRow> = if registry_exists {
        ctx.registry
            .live_rows(db)
            .await
            .map_err(|e| e.to_string())?
    } else {
        vec![]
    };
    let live: BTreeSet<String> = live_rows.iter().map(|r| r.db_name.clone()).collect();
    let facts = ctx.bench.facts(deadline).await.map_err(|e| e.to_string())?;
    let sites = ctx
        .bench
        .list_sites(deadline)
        .await
        .map_err(|e| e.to_string())?;
    // The other benches of the inventory share the server: a database only one of their
    // sites names (a site made there by hand) is nobody's orphan. When one cannot be read,
    // no database or DB user is taken for an orphan this time.
    let mut elsewhere: Vec<SiteDir> = vec![];
    let mut unread: Vec<String> = vec![];
    if opts.orphans && registry_exists {
        for b in ctx.registry.benches(db).await.map_err(|e| e.to_string())? {
            if Some(&b.bench_id) == facts.bench_id.as_ref() {
                continue;
            }
            let listed = match Context::for_bench(&opts.conn, &b) {
                Ok(other) => other
                    .bench
                    .list_sites(deadline)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match listed {
                Ok(s) => elsewhere.extend(s),
                Err(e) => unread.push(format!("bench {} ({e})", b.name)),
            }
        }
    }
    if !unread.is_empty() {
        report.warnings.push(format!(
            "no database or DB user was taken for an orphan: the sites of {} could not be read",
            unread.join(", ")
        ));
    }
    let everywhere: Vec<SiteDir> = sites.iter().chain(&elsewhere).cloned().collect();
    let referenced: BTreeSet<String> = everywhere
        .iter()
        .filter_map(|s| s.config.as_ref()?.db_name.clone())
        .collect();
    let referenced_users: BTreeSet<String> = everywhere
        .iter()
        .filter_map(|s| s.config.as_ref()?.db_user().map(String::from))
        .collect();

    let guard = Guard::fixed(ctx).knowing(&everywhere, &live_rows);
    // --pattern: sites of SITE_DOMAIN whose subdomain matches, each the instance its
    // folder's config names.
    let mut matched: BTreeSet<String> = BTreeSet::new();
    if let Some(pattern) = &opts.pattern {
        let suffix = format!(".{}", ctx.site_domain);
        let hits: Vec<&SiteDir> = sites
            .iter()
            .filter(|s| {
                s.name
                    .strip_suffix(&suffix)
                    .is_some_and(|sub| !sub.contains('.') && glob_match(pattern, sub))
            })
            .collect();
        let names: Vec<String> = hits.iter().map(|s| s.name.clone()).collect();
        let rows = match (&facts.bench_id, registry_exists) {
            (Some(id), true) => ctx
                .registry
                .rows_of_sites(db, id, &names)
                .await
                .map_err(|e| e.to_string())?,
            _ => vec![],
        };
        for s in hits {
            let db_name = s.config.as_ref().and_then(|c| c.db_name.clone());
            let mut item = item("site", &s.name, db_name.clone(), None);
            if !db.try_lock_site(&s.name).await.map_err(|e| e.to_string())? {
                item.reason = Some("another run (a provision or cleanup) holds its lock".into());
                report.skipped.push(item);
                continue;
            }
            let mine: Vec<&Row> = rows.iter().filter(|r| r.site == s.name).collect();
            let live = mine.iter().find(|r| r.status.is_live());
            let refusal = match (&db_name, live) {
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
                (Some(d), Some(l)) => guard.database(d, &s.name, Some(l.id)),
                // Only the folder says whose the database is: it must look like a site's.
                (Some(d), None) => match guard.database(d, &s.name, None) {
                    Some(why) => Some(why),
                    None => not_a_site_database(db, d).await?,
                },
                (None, None) => None,
            };
            if let Some(why) = refusal {
                item.reason = Some(why);
                report.skipped.push(item);
                let _ = db.unlock_site(&s.name).await;
                continue;
            }
            // The row of the instance the folder holds: its live row, else its latest.
            let row = live.copied().or_else(|| {
                mine.iter()
                    .rev()
                    .find(|r| Some(&r.db_name) == db_name.as_ref())
                    .copied()
            });
            matched.insert(s.name.clone());
            if s.config.is_none() {
                item.reason = Some("folder without site_config.json".into());
            }
            work.push((
                item,
                Work::Site {
                    site: s.name.clone(),
                    db_name,
                    row: row.map(|r| (r.id, r.status)),
                },
            ));
        }
    }
    let Some(catalog) = catalog else {
        return Ok((work, facts, guard));
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
                    Status::Dropping,
                    Status::Active,
                    Status::Standby,
                ],
            )
            .await
            .map_err(|e| e.to_string())?;
        for row in &rows {
            if matched.contains(&row.site) || !glob_match(&opts.db_pattern, &row.db_name) {
                continue;
            }
            if matches!(row.status, Status::Active | Status::Standby) {
                // Its instance is its database: gone when that is, and no folder holds it.
                let folder = sites.iter().find(|d| d.name == row.site);
                let gone = !catalog.databases.contains(&row.db_name)
                    && !folder.is_some_and(|f| f.config.is_none() || config_names(f, &row.db_name));
                if gone {
                    let reason = format!(
                        "registry says {} but its database is gone and no folder holds it",
                        row.status.as_str()
                    );
                    let it = item("row", &row.site, Some(row.db_name.clone()), Some(reason));
                    work.push((it, Work::Forget(row.id)));
                }
                continue;
            }
            // The site was made again later and is live: this row's run is over, and what
            // it names is (for an earlier version's row, whose database name every attempt
            // shared) or may be the live tenant's. Never removed on this row's word.
            let again = rows
                .iter()
                .find(|l| l.site == row.site && l.id != row.id && l.status.is_live());
            if let Some(l) = again.filter(|l| !row.db_unique || l.db_name == row.db_name) {
                let reason = format!(
                    "{} at step {}, but {} was made again (row {}, {}): closed, nothing removed",
                    row.status.as_str(),
                    row.step.as_deref().unwrap_or("?"),
                    row.site,
                    l.id,
                    l.status.as_str()
                );
                let it = item("run", &row.site, Some(row.db_name.clone()), Some(reason));
                work.push((
                    it,
                    Work::Superseded {
                        id: row.id,
                        by: l.id,
                    },
                ));
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
                    row: Box::new(row.clone()),
                    back_to_pool,
                },
            ));
        }
    }
    let orphans: Vec<String> = catalog
        .frappe
        .iter()
        .filter(|_| unread.is_empty())
        .filter(|d| !SYSTEM_SCHEMAS.contains(&d.as_str()) && d.as_str() != ctx.registry.name())
        .filter(|d| !referenced.contains(*d) && !live.contains(*d) && !handled.contains(*d))
        .filter(|d| guard.database(d, "", None).is_none())
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
        if in_use
            || !unread.is_empty()
            || !looks_like_site_user(user)
            || catalog.databases.contains(user)
            || guard.user(user, "", None).is_some()
        {
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
    report.scan = Some(ScanStats {
        databases: catalog.databases.len(),
        frappe_databases: catalog.frappe.len(),
        catalog_queries: catalog.queries,
        seconds: round2(scan_clock.elapsed().as_secs_f64()),
    });
    Ok((work, facts, guard))
}

/// Why `d`, which only a site folder's config names, is not to be dropped: it exists
/// without Frappe's tables (someone else's data), or `None`.
async fn not_a_site_database(db: &mut Db, d: &str) -> Result<Option<String>, String> {
    if !db.database_exists(d).await.map_err(|e| e.to_string())? {
        return Ok(None);
    }
    let n = db.marker_tables(d).await.map_err(|e| e.to_string())?;
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
