//! Removing one site instance completely: `bench drop-site`, then whatever bench left
//! behind (the folder, the database, the DB users). Provision's rollback, `cleanup`, `pool
//! drain`, the template build and the resolution of killed runs all remove sites this way,
//! and report every step. A site's identity is its database: a removal acts on a folder
//! only when the folder's config names the instance's database, on nothing without the
//! site's lock, and on nothing the guard keeps.

use tokio::time::Instant;

use super::guard::Guard;
use crate::context::Context;
use crate::output::{RemovedBy, Undo};
use crate::outside::bench::CommonConfig;
use crate::outside::mariadb::catalog::FRAPPE_MARKER_TABLES;
use crate::outside::mariadb::registry::{Row, Status};
use crate::outside::mariadb::{Conns, Db};
use crate::progress::progress;

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

    /// A step that is no change and no failure: something left alone, said so.
    pub fn note(&mut self, action: String) {
        progress(&format!("  · {action}"));
        self.0.push(Undo {
            action,
            ok: true,
            detail: None,
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

/// How a removal knows the database it is told about is the site's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// This run drew the name and made the site, under the site's lock.
    MadeByThisRun,
    /// Registry row `id` records it.
    Row(u64),
    /// Only the site folder's `site_config.json` names it: the database must hold Frappe's
    /// tables to be dropped.
    Config,
}

/// One site instance to remove: the site, and the database that is its identity.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub site: &'a str,
    pub db_name: &'a str,
    pub proof: Proof,
}

impl Target<'_> {
    fn row(&self) -> Option<u64> {
        match self.proof {
            Proof::Row(id) => Some(id),
            _ => None,
        }
    }
}

/// Removes the site instance registry row `row` records, then ends the row: `done` when
/// everything went, `failed` otherwise (with `note`). Ending the row is one of the steps.
#[allow(clippy::too_many_arguments)]
pub async fn remove_recorded(
    ctx: &Context,
    dbs: &mut Conns,
    common: &CommonConfig,
    row: &Row,
    done: Status,
    note: Option<&str>,
    guard: &Guard,
    deadline: Instant,
) -> Removal {
    let target = Target {
        site: &row.site,
        db_name: &row.db_name,
        proof: Proof::Row(row.id),
    };
    let mut removal = remove_site(ctx, dbs, common, &target, guard, deadline).await;
    let status = match removal.complete() {
        true => done,
        false => Status::Failed,
    };
    let r = ctx
        .registry
        .finish(dbs.control(), row.id, status, note)
        .await;
    let mut steps = Steps(std::mem::take(&mut removal.steps));
    let action = format!("mark row {} {}", row.id, status.as_str());
    steps.record(action, r.map_err(|e| e.to_string()));
    removal.steps = steps.0;
    removal
}

/// Why a run must not act on `site` any more.
pub fn lost_lock(site: &str) -> String {
    format!(
        "this run no longer holds the lock of {site} (its MariaDB connection was lost?), so \
         another run may be working on it: nothing more was done; `cleanup --orphans` \
         resolves what is left"
    )
}

/// Removes the site instance `t`: its folder only when its `site_config.json` names the
/// instance's database, the database and its DB users only when the guard lets them go,
/// and nothing at all unless this connection still holds the site's lock. A folder that
/// holds another instance is left alone (that is no failure: it is not this instance's).
pub async fn remove_site(
    ctx: &Context,
    dbs: &mut Conns,
    common: &CommonConfig,
    t: &Target<'_>,
    guard: &Guard,
    deadline: Instant,
) -> Removal {
    let exists = match may_remove(dbs, t, guard).await {
        Ok(exists) => exists,
        Err(refused) => {
            return Removal {
                steps: vec![refused],
                ..Removal::default()
            }
        }
    };
    let mut steps = Steps::default();
    let (folder, users) = whose_folder(ctx, t, &mut steps, deadline).await;
    // The folder's config was the only proof that the database is this site's: gone or
    // changed since the plan, nothing goes on its word.
    if t.proof == Proof::Config && folder != Folder::Ours {
        if folder == Folder::Another {
            steps.record(
                format!("check sites/{}/site_config.json", t.site),
                Err(format!(
                    "it no longer names database {}: nothing of {} was removed",
                    t.db_name, t.site
                )),
            );
        }
        return Removal {
            steps: steps.0,
            ..Removal::default()
        };
    }
    let mut warnings = vec![];
    let mut bench_dropped = false;
    let users_free = users
        .iter()
        .all(|u| guard.user(u, t.site, t.row()).is_none());
    if folder == Folder::Ours && exists && users_free {
        match drop_with_bench(ctx, dbs.sites(), common, t.site, deadline).await {
            Ok(()) => {
                bench_dropped = true;
                steps.record(format!("bench drop-site {}", t.site), Ok(()));
            }
            Err(why) => {
                progress(&format!("  ⚠ {why}"));
                warnings.push(why);
            }
        }
    }
    let before = steps.0.len();
    let bench = &ctx.bench;
    if folder == Folder::Ours
        && bench
            .site_dir_exists(t.site, deadline)
            .await
            .unwrap_or(true)
    {
        let r = bench
            .remove_site_dir(t.site, deadline)
            .await
            .map_err(|e| e.to_string());
        steps.record(format!("remove sites/{}", t.site), r);
    }
    let db = dbs.sites();
    drop_database_and_users(db, t.db_name, &users, guard, t.site, t.row(), &mut steps).await;
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

/// Whether anything of `t` may go: the registry's connection still holds the site's lock,
/// the guard lets its database go, and a database only a config names holds Frappe's
/// tables (on the bench's database server). Says whether the database exists, or the one
/// failed step that refuses it all.
async fn may_remove(dbs: &mut Conns, t: &Target<'_>, guard: &Guard) -> Result<bool, Undo> {
    let refused = |action: String, why: String| Undo {
        action,
        ok: false,
        detail: Some(why),
    };
    let (site, db_name) = (t.site, t.db_name);
    if !dbs.control().holds_site_lock(site).await {
        return Err(refused(
            format!("check the lock of {site}"),
            lost_lock(site),
        ));
    }
    if let Some(why) = guard.database(db_name, site, t.row()) {
        let why = format!("{why}: nothing of {site} was removed");
        return Err(refused(format!("keep database {db_name}"), why));
    }
    let check = || format!("check database {db_name}");
    let db = dbs.sites();
    let exists = db
        .database_exists(db_name)
        .await
        .map_err(|e| refused(check(), e.to_string()))?;
    if t.proof == Proof::Config && exists {
        let n = db
            .marker_tables(db_name)
            .await
            .map_err(|e| refused(check(), e.to_string()))?;
        if n < FRAPPE_MARKER_TABLES.len() {
            let why = format!(
                "it does not hold Frappe's tables, so it is no site's: nothing of {site} was removed"
            );
            return Err(refused(format!("keep database {db_name}"), why));
        }
    }
    Ok(exists)
}

/// Whose the folder is (this instance's when its config names the instance's database),
/// and the DB users of the instance (its database's name, and its config's `db_user`).
async fn whose_folder(
    ctx: &Context,
    t: &Target<'_>,
    steps: &mut Steps,
    deadline: Instant,
) -> (Folder, Vec<String>) {
    let (site, db_name) = (t.site, t.db_name);
    let mut users = vec![db_name.to_string()];
    let folder = match ctx.bench.site_config(site, deadline).await {
        Ok(Some(c)) if c.db_name.as_deref() == Some(db_name) => {
            if let Some(u) = c.db_user().filter(|u| *u != db_name) {
                users.push(u.to_string());
            }
            Folder::Ours
        }
        Ok(Some(c)) => {
            let theirs = c.db_name.as_deref().unwrap_or("(none)");
            steps.note(format!(
                "leave sites/{site}: its site_config.json names database {theirs}, another instance"
            ));
            Folder::Another
        }
        // No config: a new-site that never got as far as writing it, under our lock.
        Ok(None) if t.proof != Proof::Config => Folder::Ours,
        Ok(None) => Folder::Another,
        Err(e) => {
            steps.record(
                format!("read sites/{site}/site_config.json"),
                Err(e.to_string()),
            );
            Folder::Unreadable
        }
    };
    (folder, users)
}

/// `bench drop-site`, where it can work; why not otherwise (a warning: the tool removes
/// what is left itself).
async fn drop_with_bench(
    ctx: &Context,
    db: &mut Db,
    common: &CommonConfig,
    site: &str,
    deadline: Instant,
) -> Result<(), String> {
    if let Some(why) = bench_cannot_drop(ctx, db).await {
        return Err(why);
    }
    ctx.bench
        .drop_site(site, &ctx.root(), common, deadline)
        .await
        .map_err(|e| format!("bench drop-site {site} failed ({e}); the tool removed what it left"))
}

#[derive(Debug, PartialEq, Eq)]
enum Folder {
    /// Holds this instance (or nothing identifiable, made under this run's lock).
    Ours,
    /// Holds another instance, or nothing that proves it is this one: left alone.
    Another,
    /// Could not be read (a link, say): left alone, and the removal is not complete.
    Unreadable,
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

/// Drops a database and the DB users of a site (named like the database, as Frappe v15
/// creates them, or as its config's `db_user` says) where they exist and the guard lets
/// them go; what the guard keeps is a failed step, since it stays.
pub async fn drop_database_and_users(
    db: &mut Db,
    db_name: &str,
    users: &[String],
    guard: &Guard,
    site: &str,
    row: Option<u64>,
    steps: &mut Steps,
) {
    match guard.database(db_name, site, row) {
        Some(why) => steps.record(format!("keep database {db_name}"), Err(why)),
        None => match db.database_exists(db_name).await {
            Ok(false) => {}
            Ok(true) => {
                let r = db.drop_database(db_name).await.map_err(|e| e.to_string());
                steps.record(format!("drop database {db_name}"), r);
            }
            Err(e) => steps.record(format!("check database {db_name}"), Err(e.to_string())),
        },
    }
    drop_users(db, users, guard, site, row, steps).await;
}

/// Drops the DB users `users` on every host they exist for, unless the guard keeps them
/// (a failed step, since they stay).
pub async fn drop_users(
    db: &mut Db,
    users: &[String],
    guard: &Guard,
    site: &str,
    row: Option<u64>,
    steps: &mut Steps,
) {
    for user in users {
        match db.user_hosts(user).await {
            Ok(hosts) if hosts.is_empty() => {}
            Ok(hosts) => {
                if let Some(why) = guard.user(user, site, row) {
                    steps.record(format!("keep DB user {user}"), Err(why));
                    continue;
                }
                for host in hosts {
                    let r = db.drop_user(user, &host).await.map_err(|e| e.to_string());
                    steps.record(format!("drop DB user {user}@{host}"), r);
                }
            }
            Err(e) => steps.record(format!("check DB user {user}"), Err(e.to_string())),
        }
    }
}
