//! Act only on what the tool made. Each test here sets up the state that would make a
//! destructive or privileged path hurt something the run did not make (a live tenant, the
//! registry, the admin account, a file outside the bench) and checks that it does not.

use std::process::Stdio;

use crate::common::*;
use serde_json::Value;

fn site_of(sub: &str) -> String {
    format!("{sub}.localhost")
}

/// The registry as a version before instance identity left it: the columns and keys
/// migration 3 adds are gone, and so is its record, so the next run migrates again.
fn as_an_earlier_version_left_it(w: &World) {
    let t = format!("`{}`.tenants", w.registry);
    w.sql(
        &format!(
            "ALTER TABLE {t} DROP INDEX IF EXISTS one_live_row, DROP INDEX IF EXISTS one_row_per_db, \
             DROP COLUMN IF EXISTS live_site, DROP COLUMN IF EXISTS unique_db_name, \
             DROP COLUMN IF EXISTS db_unique, DROP COLUMN IF EXISTS run_tag"
        ),
        vec![],
    );
    w.sql(
        &format!(
            "DELETE FROM `{}`.schema_migrations WHERE version > 2",
            w.registry
        ),
        vec![],
    );
}

/// Inserts a registry row as a killed or failed run would have left it.
fn insert_row(w: &World, site: &str, db: &str, status: &str, standby: Option<&str>) -> u64 {
    let sub = site.split('.').next().unwrap();
    w.sql(
        &format!(
            "INSERT INTO `{}`.tenants (bench_id, site, subdomain, db_name, organization, email, \
             status, path, step, error, standby_site, created_at, updated_at) VALUES \
             (?, ?, ?, ?, 'Acme', 'jane@acme.com', ?, ?, 'create-site', NULL, ?, \
             UTC_TIMESTAMP(6) - INTERVAL 1 DAY, UTC_TIMESTAMP(6) - INTERVAL 1 DAY)",
            w.registry
        ),
        vec![
            w.bench_id().into(),
            site.into(),
            sub.into(),
            db.into(),
            status.into(),
            if standby.is_some() { "pool" } else { "fresh" }.into(),
            standby.map(String::from).into(),
        ],
    );
    let q = format!(
        "SELECT MAX(id) FROM `{}`.tenants WHERE site = ? AND status = ? AND db_name = ?",
        w.registry
    );
    sql_value_at(w.url(), &q, vec![site.into(), status.into(), db.into()])
        .unwrap()
        .parse()
        .unwrap()
}

/// The live tenant is whole: its folder names its database, which holds its user, and
/// `verify` passes.
fn assert_tenant_whole(w: &World, sub: &str, db: &str) {
    let site = site_of(sub);
    let config = std::fs::read_to_string(w.bench.site_dir(&site).join("site_config.json"))
        .unwrap_or_else(|_| panic!("{site} lost its folder"));
    assert!(config.contains(db), "{site}'s config no longer names {db}");
    assert!(database_exists_at(w.url(), db), "{site} lost its database");
    assert!(db_user_exists_at(w.url(), db), "{site} lost its DB user");
    let v = w.verify(sub);
    assert_eq!(v.code, 0, "verify {site}: {}\n{}", v.json, v.stderr);
}

fn status_of(w: &World, id: u64) -> String {
    w.rows()
        .into_iter()
        .find(|r| r["id"] == id)
        .map(|r| r["status"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn stale_rows_an_earlier_version_left_never_cost_the_live_tenant() {
    let w = World::alone(&[]);
    let sub = unique("again");
    let site = site_of(&sub);
    let r = w.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let db = r.json["dbName"].as_str().unwrap().to_string();

    // Before instance identity every attempt at one site had the same database name, so
    // the rows earlier attempts left name the live tenant's database.
    as_an_earlier_version_left_it(&w);
    let stale = [
        insert_row(&w, &site, &db, "provisioning", None),
        insert_row(
            &w,
            &site,
            &db,
            "claimed",
            Some("ft-standby-0123456789.localhost"),
        ),
        insert_row(&w, &site, &db, "failed", None),
    ];

    let c = w.run(&["cleanup", "--orphans", "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_tenant_whole(&w, &sub, &db);
    for id in stale {
        assert_eq!(status_of(&w, id), "rolled_back", "row {id}: {}", c.json);
    }
    assert_eq!(w.row("status", "active")["db_name"], db.as_str());
    // Resolved for good: the next cleanup finds nothing to do.
    let again = w.run(&["cleanup", "--orphans", "--dry-run"]);
    assert_eq!(
        again.json["planned"],
        serde_json::json!([]),
        "{}",
        again.json
    );
}

#[test]
fn a_failed_attempts_row_is_resolved_without_touching_the_tenant_made_after_it() {
    let w = World::alone(&[]);
    let sub = unique("retry");
    let site = site_of(&sub);
    let r = w.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let db = r.json["dbName"].as_str().unwrap().to_string();

    // Earlier attempts that failed with something left behind: one under the name an
    // earlier version gave every attempt at this site, one under a name of its own whose
    // half-made database and DB user are still there.
    let legacy = site_lock_name(&site)
        .trim_start_matches("frappe-tenant:")
        .to_string();
    let own = format!("ft_{:016x}", rand::random::<u64>());
    w.sql(&format!("CREATE DATABASE `{own}`"), vec![]);
    w.sql(
        &format!("CREATE USER '{own}'@'%' IDENTIFIED BY 'x'"),
        vec![],
    );
    let failed = [
        insert_row(&w, &site, &legacy, "failed", None),
        insert_row(&w, &site, &own, "failed", None),
    ];
    // The second is a row this version wrote: its database name was drawn for it alone.
    w.sql(
        &format!(
            "UPDATE `{}`.tenants SET db_unique = 1 WHERE id = ?",
            w.registry
        ),
        vec![failed[1].into()],
    );

    let c = w.run(&["cleanup", "--orphans", "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_tenant_whole(&w, &sub, &db);
    for id in failed {
        assert_eq!(status_of(&w, id), "rolled_back", "row {id}: {}", c.json);
    }
    assert!(
        !database_exists_at(w.url(), &own),
        "the failed attempt's database stays"
    );
    assert!(
        !db_user_exists_at(w.url(), &own),
        "the failed attempt's DB user stays"
    );
    // Its item says the folder was left, and whose it is.
    let item = c.json["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dbName"] == own.as_str())
        .unwrap_or_else(|| panic!("no item for {own}: {}", c.json));
    let left =
        format!("leave sites/{site}: its site_config.json names database {db}, another instance");
    assert!(
        item["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == left.as_str()),
        "{item}"
    );
    drop_database_and_user_at(w.url(), &own);
}

#[test]
fn a_run_killed_before_its_folder_existed_is_undone_not_handed_to_the_pool() {
    let w = World::new(&[]);
    let site = site_of(&unique("early"));
    // The registry and the bench's id, as an earlier sign-up left them.
    let first = w.provision(&unique("first"), &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.json, first.stderr);
    // A sign-up killed in new-site after its database and DB user, before its folder.
    let own = format!("ft_{:016x}", rand::random::<u64>());
    w.sql(&format!("CREATE DATABASE `{own}`"), vec![]);
    w.sql(
        &format!("CREATE USER '{own}'@'%' IDENTIFIED BY 'x'"),
        vec![],
    );
    let id = insert_row(&w, &site, &own, "provisioning", None);
    w.sql(
        &format!(
            "UPDATE `{}`.tenants SET db_unique = 1 WHERE id = ?",
            w.registry
        ),
        vec![id.into()],
    );

    let c = w.run(&["cleanup", "--orphans", "--db-pattern", &own, "--yes"]);
    let left = (
        database_exists_at(w.url(), &own),
        db_user_exists_at(w.url(), &own),
    );
    drop_database_and_user_at(w.url(), &own);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_eq!(left, (false, false), "database, DB user left: {}", c.json);
    assert_eq!(status_of(&w, id), "rolled_back", "{}", c.json);
}

/// A folder matching the pattern whose `site_config.json` names `db` (and `db_user`).
fn evil_site(w: &World, sub: &str, db: &str) -> String {
    let site = site_of(sub);
    let dir = w.bench.site_dir(&site);
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({"db_name": db, "db_password": "x", "db_type": "mariadb"});
    std::fs::write(dir.join("site_config.json"), config.to_string()).unwrap();
    site
}

/// Frappe's marker tables, so a database looks like a site's to every guard but the one
/// that knows whose it is.
fn frappe_tables(w: &World, db: &str) {
    for t in ["tabDocType", "tabSingles", "tabDefaultValue", "__Auth"] {
        w.sql(&format!("CREATE TABLE `{db}`.`{t}` (x INT)"), vec![]);
    }
}

#[test]
fn cleanup_pattern_refuses_a_site_whose_config_names_the_registry() {
    let w = World::new(&[]);
    let r = w.provision(&unique("real"), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    frappe_tables(&w, &w.registry);
    let sub = unique("evil");
    let site = evil_site(&w, &sub, &w.registry);

    let c = w.run(&["cleanup", "--pattern", &sub, "--yes"]);
    assert!(
        database_exists(&w.registry),
        "the registry was dropped: {}",
        c.json
    );
    assert!(w.bench.site_dir(&site).exists(), "{}", c.json);
    assert_eq!(c.json["skipped"][0]["name"], site, "{}", c.json);
    assert!(
        c.json["dropped"].as_array().unwrap().is_empty(),
        "{}",
        c.json
    );
}

#[test]
fn cleanup_pattern_refuses_a_site_whose_config_names_the_admin_accounts_database() {
    let w = World::new(&[]);
    let admin = AdminAccount::create();
    // The database named like the account is what lets Frappe's drop-site connect with
    // it (see the README); it and the account are the operator's.
    sql(&format!("CREATE DATABASE `{}`", admin.user));
    frappe_tables(&w, &admin.user);
    let sub = unique("evil");
    let site = evil_site(&w, &sub, &admin.user);

    let mut cmd = w.tool();
    cmd.env("MARIADB_URL", admin.url())
        .args(["cleanup", "--pattern", &sub, "--yes"]);
    let c = run(cmd);
    assert!(
        db_user_exists(&admin.user),
        "the admin account was dropped: {}",
        c.json
    );
    assert!(
        database_exists(&admin.user),
        "its database was dropped: {}",
        c.json
    );
    assert!(w.bench.site_dir(&site).exists(), "{}", c.json);
    assert_eq!(c.json["skipped"][0]["name"], site, "{}", c.json);
}

#[test]
fn cleanup_pattern_refuses_a_site_whose_config_names_another_sites_database() {
    let w = World::new(&[]);
    let victim = unique("victim");
    let r = w.provision(&victim, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let db = r.json["dbName"].as_str().unwrap().to_string();
    let sub = unique("evil");
    let site = evil_site(&w, &sub, &db);

    let c = w.run(&["cleanup", "--pattern", &sub, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_tenant_whole(&w, &victim, &db);
    assert!(w.bench.site_dir(&site).exists(), "{}", c.json);
    assert_eq!(c.json["skipped"][0]["name"], site, "{}", c.json);
    assert_eq!(w.bench.calls_of("drop-site"), 0, "{}", c.json);
}

#[test]
fn cleanup_pattern_leaves_a_tenant_whose_folder_now_names_another_database() {
    let w = World::new(&[]);
    let sub = unique("moved");
    let r = w.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let db = r.json["dbName"].as_str().unwrap().to_string();
    // Someone points the tenant's folder at another Frappe database, one no row names.
    let other = format!("_{:016x}", rand::random::<u64>());
    w.sql(&format!("CREATE DATABASE `{other}`"), vec![]);
    frappe_tables(&w, &other);
    let site = evil_site(&w, &sub, &other);

    let c = w.run(&["cleanup", "--pattern", &sub, "--yes"]);
    let other_kept = database_exists_at(w.url(), &other);
    w.sql(&format!("DROP DATABASE IF EXISTS `{other}`"), vec![]);
    assert!(
        other_kept,
        "a database the tenant's row does not name was dropped: {}",
        c.json
    );
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert!(database_exists_at(w.url(), &db), "{}", c.json);
    assert!(w.bench.site_dir(&site).exists(), "{}", c.json);
    assert_eq!(c.json["skipped"][0]["name"], site, "{}", c.json);
    assert_eq!(w.bench.calls_of("drop-site"), 0, "{}", c.json);
}

#[test]
fn cleanup_pattern_refuses_a_database_without_frappes_tables() {
    let w = World::new(&[]);
    let foreign = format!("someones_{:08x}", rand::random::<u32>());
    sql(&format!("CREATE DATABASE `{foreign}`"));
    sql(&format!("CREATE TABLE `{foreign}`.invoices (x INT)"));
    let sub = unique("evil");
    let site = evil_site(&w, &sub, &foreign);

    let c = w.run(&["cleanup", "--pattern", &sub, "--yes"]);
    let kept = database_exists(&foreign);
    sql(&format!("DROP DATABASE IF EXISTS `{foreign}`"));
    assert!(
        kept,
        "a database without Frappe's tables was dropped: {}",
        c.json
    );
    assert!(w.bench.site_dir(&site).exists(), "{}", c.json);
    assert_eq!(c.json["skipped"][0]["name"], site, "{}", c.json);
}

/// A run killed inside new-site, after Frappe made the site's folders and before it wrote
/// site_config.json: the folder, which no config names, is the run's (its row says it was
/// making this site, under the lock cleanup now holds) and goes, so the subdomain is free
/// again.
#[test]
fn a_killed_runs_folder_without_config_goes_with_its_row() {
    let w = World::new(&[]);
    // A first sign-up makes the registry and the bench id the row needs.
    let first = w.provision(&unique("first"), &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.json, first.stderr);
    let sub = unique("halfmade");
    let site = site_of(&sub);
    let db = format!("ft_{:016x}", rand::random::<u64>());
    let id = insert_row(&w, &site, &db, "provisioning", None);
    let dir = w.bench.site_dir(&site);
    std::fs::create_dir_all(dir.join("locks")).unwrap();
    std::fs::write(dir.join("locks/installing.lock"), "").unwrap();

    let c = w.run(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert!(!dir.exists(), "the half-made folder stays: {}", c.json);
    assert_eq!(status_of(&w, id), "rolled_back", "{}", c.json);
}

/// Two deployments of the tool (staging and production, each with its own registry)
/// share one MariaDB server. One's orphan scan must not take the other's tenants: a
/// database another registry on the server names is that registry's business.
#[test]
fn an_orphan_scan_leaves_what_another_registry_on_the_server_names() {
    let a = World::new(&[]);
    let b = World::new(&[]);
    let mine = a.provision(&unique("mine"), &[]);
    assert_eq!(mine.code, 0, "{}\n{}", mine.json, mine.stderr);
    let theirs = b.provision(&unique("theirs"), &[]);
    assert_eq!(theirs.code, 0, "{}\n{}", theirs.json, theirs.stderr);
    let db = theirs.json["dbName"].as_str().unwrap();

    let c = a.run(&["cleanup", "--orphans", "--db-pattern", db, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert!(database_exists_at(b.url(), db), "{}", c.json);
    assert!(db_user_exists_at(b.url(), db), "{}", c.json);
    assert_eq!(c.json["planned"], serde_json::json!([]), "{}", c.json);
}

#[test]
fn a_lost_mariadb_connection_during_new_site_stops_the_run_before_any_removal() {
    let w = World::new(&[]);
    let sub = unique("blip");
    let site = site_of(&sub);
    let pause = w.bench.path().join("pause");
    let mut cmd = w.tool();
    cmd.env("BENCH_DOUBLE_PAUSE", &pause);
    provision_args(&mut cmd, &sub);
    let child = spawn(cmd);
    let reached = pause.with_extension("reached");
    wait_for("new-site is under way", 30, || reached.exists());

    // The run's connection goes (a network blip, a server restart, wait_timeout), and with
    // it the site lock: another run (a cleanup) takes the lock meanwhile.
    let lock = site_lock_name(&site);
    let owner = sql_value_at(w.url(), "SELECT IS_USED_LOCK(?)", vec![lock.clone().into()])
        .expect("the run holds its site lock");
    w.sql(&format!("KILL CONNECTION {owner}"), vec![]);
    let other = HeldLock::take(w.url(), &lock);
    std::fs::write(&pause, "").unwrap();
    let r = finish(child);
    drop(other);

    // Something may be left, and the rollback says why it did not act.
    assert_eq!(r.code, 4, "{}", r.json);
    assert!(
        r.json["rollback"]
            .to_string()
            .contains("no longer holds the lock"),
        "the failure says the lock was lost: {}",
        r.json
    );
    assert_eq!(w.bench.calls_of("drop-site"), 0, "{}\n{}", r.json, r.stderr);
    assert!(
        w.bench.site_dir(&site).exists(),
        "removed without the lock: {}",
        r.json
    );
    let db = w.bench.databases_of(&site).pop().unwrap();
    assert!(
        database_exists_at(w.url(), &db),
        "dropped without the lock: {}",
        r.json
    );
    // What the run left is a row cleanup --orphans resolves.
    let c = w.run(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_site_gone(&w.bench, &site);
}

#[test]
fn a_success_whose_json_cannot_be_written_is_rolled_back() {
    let w = World::new(&[]);
    let sub = unique("epipe");
    let site = site_of(&sub);
    let mut cmd = w.tool();
    provision_args(&mut cmd, &sub);
    // The caller went away: nobody will ever read the API secret.
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_site_gone(&w.bench, &site);
    assert_eq!(w.row("site", &site)["status"], "rolled_back");
}

// ------------------------------------------------------------------ symlinks, as root

/// A root-owned place outside the bench, as the system's own files are.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.path().join("precious"), "root's own\n").unwrap();
        Self { dir }
    }

    /// Nothing in it was written, truncated, added or chowned.
    fn assert_untouched(&self, what: &Value) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(self.dir.path()).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (0, 0),
            "the directory was chowned: {what}"
        );
        let names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["precious"], "files were added: {what}");
        let p = self.dir.path().join("precious");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "root's own\n",
            "{what}"
        );
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (0, 0),
            "the file was chowned: {what}"
        );
    }
}

/// These tests are about what root does; CI runs as root, and must.
fn as_root() -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root || std::env::var("CI").is_err(),
        "CI must run the tests as root: the symlink tests are about root"
    );
    root
}

/// The bench's `sites/` belongs to another account (bench drops to `frappe_user`), so a
/// chown by the tool would show.
fn bench_owned_by_nobody(w: &World) {
    let sites = w.bench.path().join("sites");
    std::os::unix::fs::chown(&sites, Some(65534), Some(65534)).unwrap();
}

#[test]
fn as_root_a_symlinked_tool_folder_is_refused_not_followed() {
    if !as_root() {
        return;
    }
    let w = World::new(&[]);
    bench_owned_by_nobody(&w);
    let outside = Outside::new();
    std::os::unix::fs::symlink(
        outside.dir.path(),
        w.bench.path().join("sites/.frappe-tenant"),
    )
    .unwrap();
    let r = w.provision(&unique("link"), &[]);
    outside.assert_untouched(&r.json);
    assert_ne!(r.code, 0, "{}", r.json);
    assert!(
        r.json["error"].as_str().unwrap().contains("symbolic link"),
        "{}",
        r.json
    );
}

#[test]
fn as_root_a_symlinked_temporary_file_is_never_written_through() {
    if !as_root() {
        return;
    }
    let w = World::new(&[]);
    bench_owned_by_nobody(&w);
    let outside = Outside::new();
    let dir = w.bench.path().join("sites/.frappe-tenant");
    std::fs::create_dir_all(&dir).unwrap();
    // The bench's owner plants links where the tool's temporary files would go, at every
    // name it can guess (today: a name built from the process id). The test retries until
    // the tool's pid falls among the planted names.
    let r = loop {
        let next: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let planted = next..next + 5000;
        for pid in planted.clone() {
            let link = dir.join(format!("bench-id.tmp-{pid}"));
            let _ = std::os::unix::fs::symlink(outside.dir.path().join("precious"), link);
        }
        let mut cmd = w.tool();
        provision_args(&mut cmd, &unique("tmp"));
        let child = spawn(cmd);
        let pid = child.id();
        let r = finish(child);
        if planted.contains(&pid) {
            break r;
        }
        // Another run of the tool made the bench id already: start again on a new bench id.
        let _ = std::fs::remove_file(dir.join("bench-id"));
    };
    outside.assert_untouched(&r.json);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
}

#[test]
fn as_root_a_symlinked_standby_folder_is_never_handed_out() {
    if !as_root() {
        return;
    }
    let w = World::new(&[]);
    bench_owned_by_nobody(&w);
    let standby = w.fill(1).remove(0).0;
    // The standby's folder is swapped for a link to a copy of it outside the bench.
    let outside = tempfile::tempdir().unwrap();
    let copy = outside.path().join("site");
    let folder = w.bench.site_dir(&standby);
    std::fs::rename(&folder, &copy).unwrap();
    std::os::unix::fs::symlink(&copy, &folder).unwrap();

    let sub = unique("claim");
    let r = w.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_ne!(
        r.json["path"], "pool",
        "a symlinked standby was claimed: {}",
        r.json
    );
    let meta = std::fs::symlink_metadata(w.bench.site_dir(&site_of(&sub))).unwrap();
    assert!(meta.is_dir(), "the tenant's folder is a link");
    // Nothing outside was moved or removed.
    assert!(copy.join("site_config.json").exists());
}
