//! What a cleanup would remove, found before anything is: sites matching `--pattern`
//! (each locked as it is planned), and for `--orphans` the databases, DB users, killed
//! runs and stale registry rows, from one catalog scan, one listing of `sites/` and one
//! registry read. Never a system schema, the registry, a database some kept site
//! references, or the account the tool connects with.

use super::Options;
use crate::outside::bench::{BenchFacts, SiteDir};
use crate::outside::mariadb::registry::{Row, Status};
use crate::outside::mariadb::{Db, SYSTEM_SCHEMAS};
use crate::shared::context::Context;
use crate::shared::report::{round2, CleanupReport, Item, ScanStats};
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

pub(super) type Plan = (Vec<(Item, Work)>, BenchFacts, BTreeSet<String>);

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
