//! Removing one site completely: `bench drop-site`, then whatever bench left behind (the
//! folder, the database, the DB users). Provision's rollback, `cleanup`, `pool drain` and
//! the resolution of killed runs all remove sites this way, and report every step.

use std::collections::BTreeSet;

use tokio::time::Instant;

use crate::outside::bench::CommonConfig;
use crate::outside::mariadb::Db;
use crate::shared::context::Context;
use crate::shared::report::{progress, RemovedBy, Undo};

/// Collects undo steps and shows each on stderr as it happens.
#[derive(Default)]
pub struct Steps(pub Vec<Undo>);

impl Steps {
    pub fn record(&mut self, action: String, r: Result<(), String>) {
        match &r {
            Ok(()) => progress(&format!("  ✓ {action}")),
            Err(e) => progress(&format!("  ✗ {action}: {e}")),
        }
        self.0.push(Undo {
            action,
            ok: r.is_ok(),
            detail: r.err(),
        });
    }

    pub fn all_ok(&self) -> bool {
        self.0.iter().all(|u| u.ok)
    }
}

/// What removing one site did: the steps, who did the removing, and what the reports
/// should warn about. The removal is complete (nothing of the site is left) exactly when
/// every step succeeded: bench's drop-site is a step only when it works; when it fails
/// (or cannot work) that is a warning, and the folder and MariaDB steps after it remove
/// whatever is left either way.
#[derive(Debug, Default)]
pub struct Removal {
    pub steps: Vec<Undo>,
    pub removed_by: Option<RemovedBy>,
    pub warnings: Vec<String>,
}

impl Removal {
    pub fn complete(&self) -> bool {
        self.steps.iter().all(|u| u.ok)
    }

    /// Moves the warnings into a report's list, each once however many sites said it.
    pub fn warn_into(&mut self, list: &mut Vec<String>) {
        for w in self.warnings.drain(..) {
            if !list.contains(&w) {
                list.push(w);
            }
        }
    }
}

/// Removes `site`, whose database the caller knows to be `db_name`.
///
/// A folder whose `site_config.json` names another database is not this site any more
/// (someone made one by hand at that name): it is left alone and the mismatch reported.
/// Databases in `protected` (referenced by other sites of the bench) are never dropped.
pub async fn remove_site(
    ctx: &Context,
    db: &mut Db,
    common: &CommonConfig,
    site: &str,
    db_name: &str,
    protected: &BTreeSet<String>,
    deadline: Instant,
) -> Removal {
    let mut steps = Steps::default();
    let mut warnings = vec![];
    let bench = &ctx.bench;
    let config = match bench.site_config(site, deadline).await {
        Ok(c) => c,
        Err(e) => {
            steps.record(
                format!("read sites/{site}/site_config.json"),
                Err(e.to_string()),
            );
            None
        }
    };
    let mut folder_is_ours = true;
    let mut bench_dropped = false;
    if let Some(c) = &config {
        match c.db_name.as_deref() {
            Some(d) if d == db_name => match bench_cannot_drop(ctx, db).await {
                Some(why) => {
                    progress(&format!("  ⚠ {why}"));
                    warnings.push(why);
                }
                None => match bench.drop_site(site, &ctx.root(), common, deadline).await {
                    Ok(()) => {
                        bench_dropped = true;
                        steps.record(format!("bench drop-site {site}"), Ok(()));
                    }
                    Err(e) => {
                        progress(&format!("  ⚠ bench drop-site {site}: {e}"));
                        warnings.push(format!(
                            "bench drop-site {site} failed ({e}); the tool removed what it left"
                        ));
                    }
                },
            },
            other => {
                folder_is_ours = false;
                steps.record(
                    format!("check sites/{site}"),
                    Err(format!(
                        "its site_config.json names database {}, not {db_name}: left alone",
                        other.unwrap_or("(none)")
                    )),
                );
            }
        }
    }
    let before = steps.0.len();
    if folder_is_ours && bench.site_dir_exists(site, deadline).await.unwrap_or(true) {
        let r = bench
            .remove_site_dir(site, deadline)
            .await
            .map_err(|e| e.to_string());
        steps.record(format!("remove sites/{site}"), r);
    }
    if protected.contains(db_name) {
        steps.record(
            format!("keep database {db_name}"),
            Err("another site of the bench references it".into()),
        );
    } else {
        drop_database_and_users(db, db_name, &mut steps).await;
    }
    let tool_removed = steps.0[before..].iter().any(|u| u.ok);
    Removal {
        removed_by: match (bench_dropped, tool_removed) {
            (true, false) => Some(RemovedBy::Bench),
            (true, true) => Some(RemovedBy::BenchAndMariadb),
            (false, true) => Some(RemovedBy::Mariadb),
            (false, false) => None,
        },
        steps: steps.0,
        warnings,
    }
}

/// Why `bench drop-site` cannot work with this MariaDB admin account, if it cannot.
///
/// Frappe v15's drop-site connects as the admin account with a database named like the
/// account unless the account is `root` or `frappe.flags.root_login`, which only
/// new-site sets (frappe/database/mariadb/database.py, `get_connection_settings`; the
/// flag is set in frappe/installer.py `_new_site`). So with any other account it fails
/// with `(1049, "Unknown database '<account>'")`, unless such a database exists.
async fn bench_cannot_drop(ctx: &Context, db: &mut Db) -> Option<String> {
    let user = &ctx.db.user;
    if user == "root" || db.database_exists(user).await.unwrap_or(false) {
        return None;
    }
    Some(format!(
        "bench drop-site was not run: Frappe v15's drop-site cannot use the MariaDB admin \
         account '{user}' (it opens a database named '{user}', which does not exist); \
         the tool removes the folder, database and DB users itself"
    ))
}

/// Drops a site database and its DB users (named like the database, as Frappe v15
/// creates them) when they exist.
pub async fn drop_database_and_users(db: &mut Db, db_name: &str, steps: &mut Steps) {
    match db.database_exists(db_name).await {
        Ok(false) => {}
        Ok(true) => {
            let r = db.drop_database(db_name).await.map_err(|e| e.to_string());
            steps.record(format!("drop database {db_name}"), r);
        }
        Err(e) => steps.record(format!("check database {db_name}"), Err(e.to_string())),
    }
    match db.user_hosts(db_name).await {
        Ok(hosts) => {
            for host in hosts {
                let r = db
                    .drop_user(db_name, &host)
                    .await
                    .map_err(|e| e.to_string());
                steps.record(format!("drop DB user {db_name}@{host}"), r);
            }
        }
        Err(e) => steps.record(format!("check DB user {db_name}"), Err(e.to_string())),
    }
}
