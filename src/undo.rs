//! Removing one site completely: `bench drop-site`, then whatever bench left behind (the
//! folder, the database, the DB users). Provision's rollback, `cleanup`, `pool drain` and
//! the resolution of killed runs all remove sites this way, and report every step.

use std::collections::BTreeSet;

use tokio::time::Instant;

use crate::bench::CommonConfig;
use crate::context::Context;
use crate::mariadb::Db;
use crate::report::Undo;

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

/// Removes `site`, whose database the caller knows to be `db_name`, and returns the steps.
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
) -> Vec<Undo> {
    let mut steps = Steps::default();
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
    if let Some(c) = &config {
        match c.db_name.as_deref() {
            Some(d) if d == db_name => {
                let r = bench
                    .drop_site(site, &ctx.root(), common, deadline)
                    .await
                    .map_err(|e| e.to_string());
                steps.record(format!("bench drop-site {site}"), r);
            }
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
        return steps.0;
    }
    drop_database_and_users(db, db_name, &mut steps).await;
    steps.0
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

/// Progress lines for people, on stderr; stdout carries only the JSON result.
pub fn progress(line: &str) {
    eprintln!("{line}");
}
