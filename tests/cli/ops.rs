//! Black-box tests of the ops commands `verify`, `list` and `cleanup`: the built binary
//! against the bench double, the fake Frappe (recorded fixtures) and the real MariaDB.
//! stdout JSON, stderr and the exit code are asserted separately.
//!
//! The MariaDB server is shared with other tests and with real benches. Every cleanup
//! here that drops something is scoped either to a bench of this test's own (`--pattern`
//! only sees that bench's sites) or, for `--orphans`, by `--db-pattern` to names this test
//! planted under a prefix nothing else on the server has; a guard drops what was planted
//! whether the test passes or not.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

/// The tenant user `provision_args` signs up.
const EMAIL: &str = "jane@acme.com";

/// Every check `verify` runs on a tenant with a registry row when given its keys.
const ALL_CHECKS: [&str; 16] = [
    "site-folder",
    "database",
    "frappe-schema",
    "db-user",
    "http",
    "user",
    "user-enabled",
    "system-user",
    "system-manager-role",
    "api-key",
    "api-secret",
    "saas-settings",
    "installed-apps",
    "setup-complete",
    "token-auth",
    "registry",
];

/// Frappe's marker tables: a database with all four is a Frappe schema.
const MARKERS: [&str; 4] = ["tabDocType", "tabSingles", "tabDefaultValue", "__Auth"];

/// The 1,000-database test compares the server's database count before and after it
/// plants; the other tests of this file create and drop databases, so it runs alone and
/// they hold this lock shared.
static SERVER_COUNT: RwLock<()> = RwLock::new(());

/// One tenant made by `Case::provision`.
struct Tenant {
    sub: String,
    site: String,
    db: String,
    key: String,
    secret: String,
}

struct Case {
    bench: TestBench,
    frappe: FakeFrappe,
    /// Sites whose database and DB user are dropped when the test ends, pass or fail.
    _shared: Option<RwLockReadGuard<'static, ()>>,
    _alone: Option<RwLockWriteGuard<'static, ()>>,
}

impl Case {
    fn new(apps: &[&str]) -> Self {
        let shared = SERVER_COUNT.read().unwrap_or_else(PoisonError::into_inner);
        Self::with_turn(apps, Some(shared), None)
    }

    /// A case no other test of this file runs beside.
    fn alone() -> Self {
        let alone = SERVER_COUNT.write().unwrap_or_else(PoisonError::into_inner);
        Self::with_turn(&[], None, Some(alone))
    }

    fn with_turn(
        apps: &[&str],
        shared: Option<RwLockReadGuard<'static, ()>>,
        alone: Option<RwLockWriteGuard<'static, ()>>,
    ) -> Self {
        let bench = TestBench::new(apps);
        let frappe = FakeFrappe::start(&bench);
        Self {
            bench,
            frappe,
            _shared: shared,
            _alone: alone,
        }
    }

    /// The bench's registry, empty, as any command that uses it leaves it: an orphan scan
    /// needs one.
    fn with_registry(self) -> Self {
        sql(&format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            self.bench.registry
        ));
        self
    }

    /// A site folder made by hand, `site_config.json` holding `config` (a JSON value, or
    /// any text as Frappe might leave it).
    fn site_folder(&self, site: &str, config: &str) -> std::path::PathBuf {
        let dir = self.bench.site_dir(site);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("site_config.json"), config).unwrap();
        dir.join("site_config.json")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = tool(&self.bench, &self.frappe);
        cmd.args(args);
        cmd
    }

    fn ops(&self, args: &[&str]) -> Run {
        run(self.cmd(args))
    }

    fn provision(&mut self, sub: &str) -> Tenant {
        let site = format!("{sub}.localhost");
        let mut cmd = tool(&self.bench, &self.frappe);
        provision_args(&mut cmd, sub);
        let r = run(cmd);
        assert_eq!(r.code, 0, "provision {sub}: {}\n{}", r.json, r.stderr);
        let db = self.bench.databases_of(&site).pop().unwrap();
        assert_eq!(r.json["dbName"], db.as_str());
        Tenant {
            sub: sub.into(),
            site,
            db,
            key: r.json["apiKey"].as_str().unwrap().into(),
            secret: r.json["apiSecret"].as_str().unwrap().into(),
        }
    }

    /// `verify <sub>`, with the tenant's API key and (through the environment) secret.
    fn verify(&self, t: &Tenant, with_keys: bool) -> Run {
        let mut cmd = self.cmd(&["verify", &t.sub]);
        if with_keys {
            cmd.args(["--api-key", &t.key])
                .env("TENANT_API_SECRET", &t.secret);
        }
        run(cmd)
    }

    fn bench_id(&self) -> Option<String> {
        std::fs::read_to_string(self.bench.path().join("sites/.frappe-tenant/bench-id"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The status of the site's latest registry row on this bench.
    fn registry_status(&self, site: &str) -> Option<String> {
        sql_value(
            &format!(
                "SELECT status FROM `{}`.tenants WHERE bench_id = ? AND site = ? \
                 ORDER BY id DESC LIMIT 1",
                self.bench.registry
            ),
            vec![self.bench_id()?.into(), site.into()],
        )
    }

    /// Folder with its config, database, DB user and an active registry row: all there.
    fn assert_intact(&self, t: &Tenant) {
        assert!(
            self.bench
                .site_dir(&t.site)
                .join("site_config.json")
                .exists(),
            "{} lost its folder",
            t.site
        );
        assert!(database_exists(&t.db), "{} lost its database", t.site);
        assert!(db_user_exists(&t.db), "{} lost its DB user", t.site);
        assert_eq!(
            self.registry_status(&t.site).as_deref(),
            Some("active"),
            "{}",
            t.site
        );
    }

    /// Removed the way bench removes a site (folder archived) and nothing left in MariaDB.
    fn assert_dropped(&self, site: &str, db: &str) {
        assert!(!self.bench.site_dir(site).exists(), "{site}: folder left");
        assert!(self.bench.archived(site), "{site}: folder not archived");
        assert!(!database_exists(db), "{site}: database left");
        assert!(!db_user_exists(db), "{site}: DB user left");
    }
}

/// verify's checks by name: (ok, detail).
fn checks(r: &Run) -> BTreeMap<String, (bool, String)> {
    r.json["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {}", r.json))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                (
                    c["ok"].as_bool().unwrap(),
                    c["detail"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// Asserts verify's verdict: exit 5, exactly `failing` failed, and every check of
/// `passing` ran and passed.
fn assert_fails_only(r: &Run, failing: &[&str], passing: &[&str]) {
    assert_eq!(r.code, 5, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["success"], false);
    let all = checks(r);
    let failed: BTreeSet<&str> = all
        .iter()
        .filter(|(_, (ok, _))| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(failed, failing.iter().copied().collect(), "{}", r.json);
    for name in passing {
        assert!(
            matches!(all.get(*name), Some((true, _))),
            "{name} should have run and passed: {}",
            r.json
        );
    }
    // Each failed check is shown to people too.
    for name in failing {
        assert!(
            r.stderr.contains(&format!("✗ {name}")),
            "{name}: {}",
            r.stderr
        );
    }
}

/// Every check but `except`.
fn checks_but(except: &[&str]) -> Vec<&'static str> {
    ALL_CHECKS
        .into_iter()
        .filter(|c| !except.contains(c))
        .collect()
}

/// A cleanup report's items (`planned`, `dropped`, …) by name.
fn items(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list of items: {list}"))
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

/// Names of a cleanup report's items, with their kind.
fn kinds(list: &Value) -> BTreeMap<String, String> {
    items(list)
        .into_iter()
        .map(|(n, i)| (n, i["kind"].as_str().unwrap().to_string()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        sleep(Duration::from_millis(100));
    }
}

/// Runs many statements on one connection, a couple of hundred per round trip: planting
/// a thousand databases with one `sql()` call each would open a thousand connections.
fn sql_batch(statements: &[String]) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use mysql_async::prelude::*;
        let mut conn = mysql_async::Conn::from_url(mariadb_url())
            .await
            .map_err(|e| e.to_string())?;
        for chunk in statements.chunks(200) {
            conn.query_drop(chunk.join(";\n"))
                .await
                .map_err(|e| format!("{e} (in the batch starting {})", chunk[0]))?;
        }
        conn.disconnect().await.map_err(|e| e.to_string())
    })
}

fn databases_with_prefix(prefix: &str) -> Vec<String> {
    sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        .into_iter()
        .map(mysql_async::from_row::<String>)
        .filter(|d| d.starts_with(prefix))
        .collect()
}

fn users_with_prefix(prefix: &str) -> Vec<(String, String)> {
    sql("SELECT User, Host FROM mysql.user")
        .into_iter()
        .map(mysql_async::from_row::<(String, String)>)
        .filter(|(u, _)| u.starts_with(prefix))
        .collect()
}

/// Databases and DB users a test plants, all named with one prefix (`_` and 6 hex digits)
/// that no database or user on the server had; when the guard goes, every database and
/// user with that prefix is dropped, pass or fail.
struct Planted {
    prefix: String,
}

impl Planted {
    fn new() -> Self {
        loop {
            let prefix = format!("_{:06x}", rand::random::<u32>() & 0xff_ffff);
            if databases_with_prefix(&prefix).is_empty() && users_with_prefix(&prefix).is_empty() {
                return Self { prefix };
            }
        }
    }

    /// A fresh name shaped like a Frappe site's database and DB user: `_` + 16 hex.
    fn name(&self) -> String {
        format!(
            "{}{:010x}",
            self.prefix,
            rand::random::<u64>() & 0xff_ffff_ffff
        )
    }

    /// A fresh database holding Frappe's marker tables, with a DB user of its name: what
    /// a site's database looks like to the orphan scan.
    fn frappe_database(&self) -> String {
        let d = self.name();
        let mut plant = plant_database(&d, &MARKERS);
        plant.extend(plant_user(&d));
        sql_batch(&plant).unwrap();
        d
    }

    /// The `--db-pattern` that reaches only what this guard planted.
    fn pattern(&self) -> String {
        format!("{}*", self.prefix)
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        let mut drops: Vec<String> = databases_with_prefix(&self.prefix)
            .iter()
            .map(|d| format!("DROP DATABASE IF EXISTS `{d}`"))
            .collect();
        drops.extend(
            users_with_prefix(&self.prefix)
                .iter()
                .map(|(u, h)| format!("DROP USER IF EXISTS '{u}'@'{h}'")),
        );
        if let Err(e) = sql_batch(&drops) {
            eprintln!("could not drop what was planted under {}: {e}", self.prefix);
        }
    }
}

/// A database holding the given tables (minimal columns; MyISAM: cheap to create).
fn plant_database(name: &str, tables: &[&str]) -> Vec<String> {
    let mut s = vec![format!("CREATE DATABASE `{name}`")];
    for t in tables {
        s.push(format!(
            "CREATE TABLE `{name}`.`{t}` (name varchar(140)) ENGINE=MyISAM"
        ));
    }
    s
}

/// A DB user named like the database, for every host, as Frappe v15 makes a site's.
fn plant_user(name: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY '{:016x}'",
            rand::random::<u64>()
        ),
        format!("GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'%'"),
    ]
}

/// Processes whose command line names `needle` (the tool's bench children name the site).
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        // Gone meanwhile, or a zombie (empty command line): neither runs anything.
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

// ------------------------------------------------------------------------------ verify

/// A healthy tenant on a bench that has nexus_core, so `installed-apps` has an app to check.
fn healthy(frappe_has_saas_settings: bool) -> (Case, Tenant) {
    let mut c = Case::new(&["nexus_core"]);
    if frappe_has_saas_settings {
        c.frappe = FakeFrappe::start(&c.bench).with_saas_settings();
    }
    let t = c.provision(&unique("v"));
    (c, t)
}

#[test]
fn a_healthy_tenant_verifies_clean() {
    let (c, t) = healthy(false);
    let r = c.verify(&t, true);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let j = &r.json;
    assert_eq!(j["success"], true);
    assert_eq!(j["site"], t.site);
    assert_eq!(j["dbName"], t.db);
    assert_eq!(j["email"], EMAIL);
    let all = checks(&r);
    // With the keys given and a registry row, every check runs: token-auth and registry too.
    assert_eq!(
        all.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        ALL_CHECKS.into_iter().collect(),
        "{j}"
    );
    let failed: Vec<_> = all.iter().filter(|(_, (ok, _))| !ok).collect();
    assert!(failed.is_empty(), "{failed:?}");
    // The user checked is the one the registry names, and the keys authenticate as them.
    assert!(all["user"].1.contains("the registry's"), "{j}");
    assert!(all["token-auth"].1.contains(EMAIL), "{j}");
    assert!(all["installed-apps"].1.contains("nexus_core"), "{j}");
    assert_eq!(j["registry"]["status"], "active");
    assert_eq!(j["registry"]["email"], EMAIL);
    assert_eq!(j["registry"]["dbName"], t.db);
    // People see one ✓ line per check on stderr; the secret never shows.
    assert_eq!(
        r.stderr.matches('✓').count(),
        ALL_CHECKS.len(),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&t.secret) && !j.to_string().contains(&t.secret));
    c.frappe.assert_no_unexpected();
}

#[test]
fn a_disabled_user_fails_user_enabled_only() {
    let (c, t) = healthy(false);
    sql_with(
        &format!("UPDATE `{}`.tabUser SET enabled = 0 WHERE name = ?", t.db),
        vec![EMAIL.into()],
    );
    let r = c.verify(&t, false);
    assert_fails_only(
        &r,
        &["user-enabled"],
        &checks_but(&["user-enabled", "token-auth"]),
    );
    assert_eq!(checks(&r)["user-enabled"].1, "disabled");
}

#[test]
fn a_user_without_system_manager_fails_its_role_check() {
    let (c, t) = healthy(false);
    sql_with(
        &format!(
            "DELETE FROM `{}`.`tabHas Role` WHERE parent = ? AND role = 'System Manager'",
            t.db
        ),
        vec![EMAIL.into()],
    );
    let r = c.verify(&t, false);
    let others = checks_but(&["system-manager-role", "token-auth"]);
    assert_fails_only(&r, &["system-manager-role"], &others);
    // No System Manager is left to find: the user still is, through the registry's email.
    assert_eq!(r.json["email"], EMAIL);
    assert!(
        checks(&r)["user"].1.contains("the registry's"),
        "{}",
        r.json
    );
}

#[test]
fn a_missing_api_secret_fails_the_secret_and_token_checks() {
    let (c, t) = healthy(false);
    sql(&format!(
        "DELETE FROM `{}`.__Auth WHERE fieldname = 'api_secret'",
        t.db
    ));
    let r = c.verify(&t, true);
    let others = checks_but(&["api-secret", "token-auth"]);
    assert_fails_only(&r, &["api-secret", "token-auth"], &others);
    assert_eq!(checks(&r)["api-secret"].1, "no api_secret in __Auth");
}

#[test]
fn changed_plan_settings_fail_saas_settings() {
    let (c, t) = healthy(true);
    // Before the change the plan is really compared (the DocType exists), and matches.
    let before = c.verify(&t, false);
    assert_eq!(before.code, 0, "{}\n{}", before.json, before.stderr);
    let detail = checks(&before)["saas-settings"].1.clone();
    assert!(detail.contains("plan_name=\"Free\""), "{detail}");
    sql(&format!(
        "UPDATE `{}`.tabSingles SET value = 'Pro' \
         WHERE doctype = 'SaaS Settings' AND field = 'plan_name'",
        t.db
    ));
    let r = c.verify(&t, false);
    let others = checks_but(&["saas-settings", "token-auth"]);
    assert_fails_only(&r, &["saas-settings"], &others);
    assert!(
        checks(&r)["saas-settings"].1.contains("plan_name=\"Pro\""),
        "{}",
        r.json
    );
}

#[test]
fn a_dropped_db_user_fails_the_db_user_check_only() {
    let (c, t) = healthy(false);
    for host in sql_with(
        "SELECT Host FROM mysql.user WHERE User = ?",
        vec![t.db.clone().into()],
    )
    .into_iter()
    .map(mysql_async::from_row::<String>)
    {
        sql(&format!("DROP USER '{}'@'{host}'", t.db));
    }
    let r = c.verify(&t, false);
    assert_fails_only(&r, &["db-user"], &checks_but(&["db-user", "token-auth"]));
    assert_eq!(checks(&r)["db-user"].1, format!("no DB user {}", t.db));
}

#[test]
fn a_key_other_than_the_sites_fails_the_key_and_token_checks() {
    let (c, t) = healthy(false);
    let mut cmd = c.cmd(&["verify", &t.sub, "--api-key", "0123456789abcdefghij"]);
    cmd.env("TENANT_API_SECRET", &t.secret);
    let r = run(cmd);
    let others = checks_but(&["api-key", "token-auth"]);
    assert_fails_only(&r, &["api-key", "token-auth"], &others);
    assert_eq!(
        checks(&r)["api-key"].1,
        "the site's api_key differs from --api-key"
    );
}

#[test]
fn without_the_registrys_email_verify_checks_the_sites_first_system_manager() {
    let (c, t) = healthy(false);
    // A row that names no one (made before the tool kept emails, say), and a second
    // System Manager made after the tenant's admin but sorting before it by name.
    sql_with(
        &format!(
            "UPDATE `{}`.tenants SET email = NULL WHERE site = ?",
            c.bench.registry
        ),
        vec![t.site.clone().into()],
    );
    let later = "aaron@acme.com";
    sql_with(
        &format!(
            "INSERT INTO `{d}`.tabUser (name, email, enabled, user_type, creation) \
             SELECT ?, ?, 1, 'System User', creation + INTERVAL 1 DAY FROM `{d}`.tabUser \
             WHERE name = ?",
            d = t.db
        ),
        vec![later.into(), later.into(), EMAIL.into()],
    );
    sql_with(
        &format!(
            "INSERT INTO `{}`.`tabHas Role` (name, parent, parenttype, parentfield, role) \
             VALUES (?, ?, 'User', 'roles', 'System Manager')",
            t.db
        ),
        vec![format!("hr-{later}").into(), later.into()],
    );
    let r = c.verify(&t, false);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["email"], EMAIL, "{}", r.json);
    let user = &checks(&r)["user"];
    assert!(user.0, "{}", r.json);
    assert!(
        user.1
            .contains("the first System Manager other than Administrator"),
        "{}",
        r.json
    );
}

#[test]
fn a_dropped_database_fails_database_schema_and_user_checks() {
    let (c, t) = healthy(false);
    sql(&format!("DROP DATABASE `{}`", t.db));
    let r = c.verify(&t, false);
    // The folder, DB user, HTTP side and registry row are all still there; what lives
    // in the database cannot be checked.
    assert_fails_only(
        &r,
        &["database", "frappe-schema", "user"],
        &["site-folder", "db-user", "http", "registry"],
    );
    let all = checks(&r);
    assert_eq!(all["database"].1, format!("{} does not exist", t.db));
    for unreadable in [
        "user-enabled",
        "api-secret",
        "saas-settings",
        "installed-apps",
    ] {
        assert!(!all.contains_key(unreadable), "{unreadable}: {}", r.json);
    }
}

#[test]
fn ops_commands_fail_untouched_when_mariadb_is_unreachable() {
    let c = Case::new(&[]);
    // A MariaDB that is down: every connection closed at once.
    let down = ClosedPort::new();
    for args in [
        vec!["verify", "acme"],
        vec!["list", "--json"],
        vec!["cleanup", "--pattern", "test-*", "--yes"],
    ] {
        let mut cmd = c.cmd(&args);
        cmd.env("MARIADB_URL", down.mysql_url());
        let r = run(cmd);
        assert_eq!(r.code, 1, "{args:?}: {}\n{}", r.json, r.stderr);
        assert_eq!(r.json["success"], false, "{args:?}");
        if args[0] != "cleanup" {
            assert_eq!(r.json["code"], "DB_UNAVAILABLE", "{args:?}: {}", r.json);
        } else {
            assert!(r.json["error"].is_string(), "{}", r.json);
        }
    }
    assert!(c.bench.calls().is_empty(), "bench must not run");
}

// -------------------------------------------------------------------------------- list

#[test]
fn list_shows_each_site_with_its_health_and_registry_row() {
    let mut c = Case::new(&[]);
    let t = c.provision(&unique("list"));
    let bare = format!("{}.localhost", unique("bare"));
    std::fs::create_dir_all(c.bench.site_dir(&bare)).unwrap();
    let by_site = |r: &Run| -> BTreeMap<String, Value> {
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(r.json["success"], true);
        r.json["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["site"].as_str().unwrap().to_string(), s.clone()))
            .collect()
    };
    let tenant = |database: bool| {
        json!({"site": t.site, "folder": true, "config": true, "dbName": t.db,
               "database": database, "frappeSchema": database, "dbUser": true,
               "healthy": database, "status": "active", "path": "fresh",
               "email": EMAIL, "organization": "Acme Inc"})
    };
    let r = c.ops(&["list", "--json"]);
    let sites = by_site(&r);
    // The bench is this test's own: exactly its two folders (the tool's hidden
    // sites/.frappe-tenant is not a site).
    assert_eq!(
        sites.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[&t.site, &bare])
    );
    assert_eq!(sites[&t.site], tenant(true));
    assert_eq!(
        sites[&bare],
        json!({"site": bare, "folder": true, "config": false, "dbName": null,
               "database": false, "frappeSchema": false, "dbUser": false,
               "healthy": false, "status": null, "path": null, "email": null,
               "organization": null})
    );

    sql(&format!("DROP DATABASE `{}`", t.db));
    let sites = by_site(&c.ops(&["list", "--json"]));
    assert_eq!(sites[&t.site], tenant(false));
}

// ----------------------------------------------------------------- cleanup --pattern

#[test]
fn cleanup_by_pattern_drops_only_the_matching_sites() {
    let mut c = Case::new(&[]);
    let tag = format!("{:08x}", rand::random::<u32>());
    let a = c.provision(&format!("test-{tag}-a"));
    let b = c.provision(&format!("test-{tag}-b"));
    let keep = c.provision(&format!("keep-{tag}"));
    let both = set(&[&a.site, &b.site]);

    // A dry run lists exactly the two and changes nothing.
    let dry = c.ops(&["cleanup", "--pattern", "test-*", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}\n{}", dry.json, dry.stderr);
    assert_eq!(
        (&dry.json["success"], &dry.json["dryRun"]),
        (&json!(true), &json!(true))
    );
    let planned = items(&dry.json["planned"]);
    assert_eq!(planned.keys().cloned().collect::<BTreeSet<_>>(), both);
    for t in [&a, &b] {
        assert_eq!(planned[&t.site]["kind"], "site");
        assert_eq!(planned[&t.site]["dbName"], t.db);
    }
    for none in ["dropped", "failed", "skipped"] {
        assert_eq!(dry.json[none], json!([]), "{none}: {}", dry.json);
    }
    for t in [&a, &b, &keep] {
        c.assert_intact(t);
    }

    // A pattern of wildcards alone would take every tenant: refused before anything.
    for p in ["*", "**"] {
        let r = c.ops(&["cleanup", "--pattern", p, "--yes"]);
        assert_eq!(
            (r.code, r.json["code"].as_str()),
            (2, Some("INVALID_INPUT")),
            "{p}: {}",
            r.json
        );
    }
    for t in [&a, &b, &keep] {
        c.assert_intact(t);
    }
    assert_eq!(c.bench.calls_of("drop-site"), 0);

    let r = c.ops(&["cleanup", "--pattern", "test-*", "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        (&r.json["success"], &r.json["dryRun"]),
        (&json!(true), &json!(false))
    );
    let dropped = items(&r.json["dropped"]);
    assert_eq!(dropped.keys().cloned().collect::<BTreeSet<_>>(), both);
    for item in dropped.values() {
        let actions = item["actions"].as_array().unwrap();
        assert!(
            !actions.is_empty() && actions.iter().all(|u| u["ok"] == true),
            "{item}"
        );
    }
    assert_eq!(
        (&r.json["failed"], &r.json["skipped"]),
        (&json!([]), &json!([]))
    );
    for t in [&a, &b] {
        c.assert_dropped(&t.site, &t.db);
        assert_eq!(c.registry_status(&t.site).as_deref(), Some("dropped"));
    }
    assert_eq!(c.bench.calls_of("drop-site"), 2);
    c.assert_intact(&keep);
    let v = c.verify(&keep, true);
    assert_eq!(v.code, 0, "the kept tenant still works: {}", v.json);
}

#[test]
fn ctrl_c_during_the_countdown_aborts_with_nothing_removed() {
    let mut c = Case::new(&[]);
    let t = c.provision(&unique("test"));
    let w = Watched::counting_down(c.cmd(&["cleanup", "--pattern", &t.sub]));
    // The countdown has begun (it said so): Ctrl-C now.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(w.child.id() as i32, libc::SIGINT) };
    let r = w.finish();
    assert_eq!(r.code, 1, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["success"], false);
    assert!(
        r.json["error"].as_str().unwrap().contains("interrupted"),
        "{}",
        r.json
    );
    assert_eq!(
        kinds(&r.json["planned"]),
        [(t.site.clone(), "site".to_string())].into()
    );
    assert_eq!(
        (&r.json["dropped"], &r.json["failed"]),
        (&json!([]), &json!([]))
    );
    assert!(r.stderr.contains("nothing was removed"), "{}", r.stderr);
    c.assert_intact(&t);
    assert_eq!(c.bench.calls_of("drop-site"), 0);
}

#[test]
fn without_yes_cleanup_waits_five_seconds_before_dropping() {
    let mut c = Case::new(&[]);
    let t = c.provision(&unique("test"));
    let started = Instant::now();
    let w = Watched::counting_down(c.cmd(&["cleanup", "--pattern", &t.sub]));
    // Before the countdown, what is about to go is named: Ctrl-C is an informed choice.
    let countdown = w
        .seen
        .iter()
        .position(|l| l.contains("press Ctrl-C"))
        .unwrap();
    let before = &w.seen[..countdown];
    assert!(
        before.iter().any(|l| l.contains("1 to remove"))
            && before
                .iter()
                .any(|l| l.trim() == format!("site {}", t.site)),
        "the sites to remove were not announced: {before:?}"
    );
    // The countdown has begun (it said so) and nothing is gone yet: the removal waits
    // for its end, five seconds after this line (no fixed sleep of ours races it).
    c.assert_intact(&t);
    assert!(
        !w.seen.iter().any(|l| l.contains("Removing site")),
        "removed before the countdown ended: {:?}",
        w.seen
    );
    let r = w.finish();
    // The tool cannot have finished sooner than its own countdown after it started.
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        kinds(&r.json["dropped"]),
        [(t.site.clone(), "site".to_string())].into()
    );
    assert!(took >= Duration::from_secs(5), "dropped after {took:?}");
    c.assert_dropped(&t.site, &t.db);
}

#[test]
fn a_folder_without_config_goes_only_while_the_cleanup_holds_its_lock() {
    let c = Case::new(&[]);
    // A half-made site: its folder and a log, no site_config.json to name a database.
    let folder = |sub: &str| {
        let site = format!("{sub}.localhost");
        let dir = c.bench.site_dir(&site);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(dir.join("logs/web.log"), "half made").unwrap();
        (site, dir)
    };
    let sub = unique("half");
    let (_, removed) = folder(&sub);
    let r = c.ops(&["cleanup", "--pattern", &sub, "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        r.json["dropped"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.json
    );
    assert_eq!(
        r.json["dropped"][0]["actions"][0]["action"],
        format!("remove sites/{sub}.localhost").as_str(),
        "{}",
        r.json
    );
    assert!(!removed.exists(), "{}", r.json);

    // The cleanup's MariaDB connection, and with it the site's lock, is lost during the
    // countdown and another run takes the lock: the folder is not the cleanup's to remove.
    let sub = unique("half");
    let (site, kept) = folder(&sub);
    let w = Watched::counting_down(c.cmd(&["cleanup", "--pattern", &sub]));
    let lock = site_lock_name(&site);
    let owner = sql_value_at(
        &c.bench.url,
        "SELECT IS_USED_LOCK(?)",
        vec![lock.clone().into()],
    )
    .expect("the cleanup holds the site's lock");
    sql(&format!("KILL CONNECTION {owner}"));
    let other = HeldLock::take(&c.bench.url, &lock);
    let r = w.finish();
    drop(other);
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(
        kept.join("logs/web.log").exists(),
        "removed without the lock: {}",
        r.json
    );
    assert!(
        r.json["failed"]
            .to_string()
            .contains("no longer holds the lock"),
        "the failure says the lock was lost: {}",
        r.json
    );
}

// ----------------------------------------------------------------- cleanup --orphans

/// A copy of a tenant's site, put back by hand during a `--pattern` cleanup's countdown,
/// names the tenant's database: nothing of the tenant goes, and its row says the cleanup
/// failed (so `--orphans` finishes it once the copy is gone), never that it was dropped.
#[test]
fn cleanup_pattern_keeps_a_database_a_site_names_by_the_end_of_the_countdown() {
    let mut c = Case::new(&[]);
    let t = c.provision(&unique("copied"));
    let w = Watched::counting_down(c.cmd(&["cleanup", "--pattern", &t.sub]));
    let copy = format!("{}.localhost", unique("copy"));
    c.site_folder(&copy, &json!({"db_name": t.db}).to_string());
    let r = w.finish();
    std::fs::remove_dir_all(c.bench.site_dir(&copy)).unwrap();
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(
        database_exists(&t.db) && db_user_exists(&t.db),
        "{}",
        r.json
    );
    assert!(c.bench.site_dir(&t.site).exists(), "{}", r.json);
    assert_eq!(
        c.registry_status(&t.site).as_deref(),
        Some("failed"),
        "{}",
        r.json
    );
}

/// Frappe rewrites a site_config.json in place (truncate, then write: `bench set-config`,
/// maintenance mode), so a read at that instant finds it empty or cut short. The site's
/// database, made by hand and in no registry row, is no orphan for that: nothing is taken
/// while some site's config cannot be parsed, and the warning names the site.
#[test]
fn an_orphan_scan_takes_nothing_while_a_sites_config_is_half_written() {
    let c = Case::new(&[]).with_registry();
    let p = Planted::new();
    for text in ["", "{\"db_name\": \"_"] {
        let d = p.frappe_database();
        let site = format!("{}.localhost", unique("busy"));
        c.site_folder(&site, text);
        let r = c.ops(&[
            "cleanup",
            "--orphans",
            "--db-pattern",
            &p.pattern(),
            "--yes",
        ]);
        assert!(
            database_exists(&d) && db_user_exists(&d),
            "{site}'s database was taken for an orphan: {}",
            r.json
        );
        assert_eq!(r.json["planned"], json!([]), "{}", r.json);
        assert!(
            r.json["warnings"].to_string().contains(&site),
            "the warning names {site}: {}",
            r.json
        );
        // Matched by --pattern, it is left alone too: not taken for a folder without config.
        let sub = site.trim_end_matches(".localhost");
        let r = c.ops(&["cleanup", "--pattern", sub, "--yes"]);
        assert!(
            c.bench.site_dir(&site).join("site_config.json").exists(),
            "{site} removed: {}",
            r.json
        );
        assert!(
            r.json["skipped"][0]["reason"]
                .to_string()
                .contains("could not be parsed"),
            "{}",
            r.json
        );
        std::fs::remove_dir_all(c.bench.site_dir(&site)).unwrap();
    }
}

/// A site made by hand (bench new-site, no registry row) matched by --pattern goes: its
/// folder's config is the only proof, and its database holds Frappe's tables. Its DB user
/// is the database's name, or (Frappe after 15.14) the config's own `db_user`.
#[test]
fn cleanup_pattern_removes_a_site_made_by_hand() {
    let c = Case::new(&[]);
    let p = Planted::new();
    for own_user in [false, true] {
        let d = p.name();
        let user = match own_user {
            true => p.name(),
            false => d.clone(),
        };
        let mut plant = plant_database(&d, &MARKERS);
        plant.extend(plant_user(&user));
        sql_batch(&plant).unwrap();
        let sub = unique("byhand");
        let site = format!("{sub}.localhost");
        let config = match own_user {
            true => json!({"db_name": d, "db_user": user}),
            false => json!({"db_name": d}),
        };
        c.site_folder(&site, &config.to_string());
        let r = c.ops(&["cleanup", "--pattern", &sub, "--yes"]);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(r.json["dropped"][0]["name"], site.as_str(), "{}", r.json);
        assert!(!database_exists(&d), "{}", r.json);
        assert!(!db_user_exists(&user), "DB user {user} left: {}", r.json);
        assert!(!c.bench.site_dir(&site).exists(), "{}", r.json);
    }
}

/// A site made by hand is matched by --pattern on its folder's word alone (no registry
/// row). Its site_config.json is gone by the end of the countdown: with the proof gone,
/// nothing of it is removed, and the item says why.
#[test]
fn cleanup_pattern_removes_nothing_whose_config_is_gone_by_the_end_of_the_countdown() {
    let c = Case::new(&[]);
    let p = Planted::new();
    let d = p.frappe_database();
    let sub = unique("byhand");
    let site = format!("{sub}.localhost");
    let config = c.site_folder(&site, &json!({"db_name": d}).to_string());
    let w = Watched::counting_down(c.cmd(&["cleanup", "--pattern", &sub]));
    std::fs::remove_file(&config).unwrap();
    let r = w.finish();
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(database_exists(&d) && db_user_exists(&d), "{}", r.json);
    assert!(c.bench.site_dir(&site).exists(), "{}", r.json);
    assert!(
        r.json["failed"][0]["actions"]
            .to_string()
            .contains("no longer names"),
        "{}",
        r.json
    );
}

/// A site made by hand, matched by --pattern; by the end of the countdown its database no
/// longer holds Frappe's tables (another program's data restored into it, say): its
/// config alone no longer proves it is the site's, and nothing of it goes.
#[test]
fn cleanup_pattern_removes_nothing_whose_database_stops_being_frappes_during_the_countdown() {
    let c = Case::new(&[]);
    let p = Planted::new();
    let d = p.frappe_database();
    let sub = unique("byhand");
    let site = format!("{sub}.localhost");
    c.site_folder(&site, &json!({"db_name": d}).to_string());
    let w = Watched::counting_down(c.cmd(&["cleanup", "--pattern", &sub]));
    sql(&format!("DROP TABLE `{d}`.`tabDocType`"));
    let r = w.finish();
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(database_exists(&d) && db_user_exists(&d), "{}", r.json);
    assert!(c.bench.site_dir(&site).exists(), "{}", r.json);
    assert!(
        r.json["failed"]
            .to_string()
            .contains("does not hold Frappe's tables"),
        "{}",
        r.json
    );
}

/// MARIADB_URL names another server than the one the bench's sites use (their
/// common_site_config.json's db_host): none of the databases its sites name is on the
/// server scanned, so its Frappe databases are another deployment's, not orphans.
#[test]
fn an_orphan_scan_of_a_server_the_benchs_sites_do_not_use_takes_nothing() {
    let c = Case::new(&[]).with_registry();
    let p = Planted::new();
    let d = p.frappe_database();
    for k in 0..2 {
        let site = format!("{}.localhost", unique(&format!("there{k}")));
        let elsewhere = format!("_{:016x}", rand::random::<u64>());
        c.site_folder(&site, &json!({"db_name": elsewhere}).to_string());
    }
    let r = c.ops(&[
        "cleanup",
        "--orphans",
        "--db-pattern",
        &p.pattern(),
        "--yes",
    ]);
    assert!(database_exists(&d) && db_user_exists(&d), "{}", r.json);
    assert_eq!(r.json["planned"], json!([]), "{}", r.json);
    assert!(
        r.json["warnings"]
            .to_string()
            .contains("none of the 2 databases this bench's sites name"),
        "{}",
        r.json
    );
}

/// No registry on the server (REGISTRY_DB mistyped, or nothing made here yet): no live
/// tenant of any bench is known, so nothing is anybody's orphan.
#[test]
fn an_orphan_scan_without_a_registry_takes_nothing() {
    let c = Case::new(&[]);
    let p = Planted::new();
    let d = p.frappe_database();
    let r = c.ops(&[
        "cleanup",
        "--orphans",
        "--db-pattern",
        &p.pattern(),
        "--yes",
    ]);
    assert!(database_exists(&d) && db_user_exists(&d), "{}", r.json);
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(
        r.json["error"].to_string().contains("does not exist"),
        "{}",
        r.json
    );
}

/// The plan is read before the countdown; what it drops is checked again after it. A site
/// put back during the countdown (a restore from backup, say) names one of the orphans:
/// that database and its DB user stay, the other orphan still goes.
#[test]
fn an_orphan_a_site_names_by_the_end_of_the_countdown_is_kept() {
    let c = Case::new(&[]).with_registry();
    let p = Planted::new();
    let (restored, orphan) = (p.name(), p.name());
    let mut plant = vec![];
    for d in [&restored, &orphan] {
        plant.extend(plant_database(d, &MARKERS));
        plant.extend(plant_user(d));
    }
    sql_batch(&plant).unwrap();
    let w = Watched::counting_down(c.cmd(&["cleanup", "--orphans", "--db-pattern", &p.pattern()]));
    let site = format!("{}.localhost", unique("back"));
    c.site_folder(&site, &json!({"db_name": restored}).to_string());
    let r = w.finish();
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(
        database_exists(&restored) && db_user_exists(&restored),
        "{site}'s database or DB user was dropped: {}",
        r.json
    );
    assert!(
        !database_exists(&orphan) && !db_user_exists(&orphan),
        "the other orphan was kept: {}",
        r.json
    );
    let why = format!("the site_config.json of {site} names {restored}");
    assert!(
        r.json["failed"].to_string().contains(&why),
        "the failure says why: {}",
        r.json
    );
}

#[test]
fn orphan_cleanup_drops_planted_orphans_and_nothing_else() {
    let c = Case::new(&[]).with_registry();
    let p = Planted::new();
    let orphans: Vec<String> = (0..3).map(|_| p.name()).collect();
    let lone_user = p.name(); // a site's DB user whose database is gone
    let plain = p.name(); // a database that is not Frappe's
    let half = p.name(); // only 2 of the 4 marker tables
    let referenced = p.name(); // a Frappe schema a site of this bench names
    let mut plant = vec![];
    for d in &orphans {
        plant.extend(plant_database(d, &MARKERS));
        plant.extend(plant_user(d));
    }
    plant.extend(plant_user(&lone_user));
    plant.extend(plant_database(&plain, &["notes"]));
    plant.extend(plant_user(&plain));
    plant.extend(plant_database(&half, &["tabDocType", "__Auth"]));
    plant.extend(plant_user(&half));
    plant.extend(plant_database(&referenced, &MARKERS));
    plant.extend(plant_user(&referenced));
    sql_batch(&plant).unwrap();
    let ref_site = format!("{}.localhost", unique("ref"));
    let ref_config = c.bench.site_dir(&ref_site).join("site_config.json");
    std::fs::create_dir_all(c.bench.site_dir(&ref_site)).unwrap();
    std::fs::write(&ref_config, json!({"db_name": referenced}).to_string()).unwrap();

    let kept = [&plain, &half, &referenced];
    let assert_kept = || {
        for d in kept {
            assert!(database_exists(d) && db_user_exists(d), "{d} was touched");
        }
        assert!(ref_config.exists());
    };

    // Unscoped, as a dry run: never a system schema, the registry or a database without
    // Frappe's tables; this test's orphans are among what it would drop.
    let dry = c.ops(&["cleanup", "--orphans", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}\n{}", dry.json, dry.stderr);
    let planned = kinds(&dry.json["planned"]);
    for never in [
        "mysql",
        "information_schema",
        "performance_schema",
        "sys",
        &c.bench.registry,
        &plain,
        &half,
        &referenced,
    ] {
        assert!(
            !planned.contains_key(never),
            "{never} planned: {}",
            dry.json
        );
    }
    for d in &orphans {
        assert_eq!(planned.get(d).map(String::as_str), Some("database"), "{d}");
    }
    assert_eq!(planned.get(&lone_user).map(String::as_str), Some("db-user"));
    for d in &orphans {
        assert!(database_exists(d), "a dry run dropped {d}");
    }
    assert!(db_user_exists(&lone_user), "a dry run dropped {lone_user}");
    assert_kept();

    let r = c.ops(&[
        "cleanup",
        "--orphans",
        "--db-pattern",
        &p.pattern(),
        "--yes",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let mut expected: BTreeMap<String, String> = orphans
        .iter()
        .map(|d| (d.clone(), "database".to_string()))
        .collect();
    expected.insert(lone_user.clone(), "db-user".into());
    assert_eq!(kinds(&r.json["planned"]), expected, "{}", r.json);
    assert_eq!(kinds(&r.json["dropped"]), expected, "{}", r.json);
    // Every site folder was read: no warning that some could not be.
    assert_eq!(
        r.json["warnings"].as_array().map_or(0, Vec::len),
        0,
        "{}",
        r.json
    );
    // Each says what was done to it.
    for item in r.json["dropped"].as_array().unwrap() {
        let name = item["name"].as_str().unwrap();
        let actions: Vec<&str> = item["actions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        let database = format!("drop database {name}");
        let user = format!("drop DB user {name}@%");
        let wanted = match name == lone_user {
            true => vec![user.as_str()],
            false => vec![database.as_str(), user.as_str()],
        };
        assert_eq!(actions, wanted, "{item}");
    }
    assert_eq!(
        (&r.json["failed"], &r.json["skipped"]),
        (&json!([]), &json!([]))
    );
    for d in &orphans {
        assert!(!database_exists(d), "{d} left");
        assert!(!db_user_exists(d), "DB user {d} left");
    }
    assert!(!db_user_exists(&lone_user), "{lone_user} left");
    assert_kept();
    assert_eq!(c.bench.calls_of("drop-site"), 0);
}

#[test]
fn a_row_whose_tenant_is_gone_is_closed_and_a_refused_write_is_a_failure() {
    let mut c = Case::new(&[]);
    let gone = c.provision(&unique("gone"));
    let refused = c.provision(&unique("gone"));
    let kept = c.provision(&unique("keep"));
    // Both removed by hand, behind the tool's back: database, DB user and folder.
    for t in [&gone, &refused] {
        sql_batch(&[
            format!("DROP DATABASE `{}`", t.db),
            format!("DROP USER '{}'@'%'", t.db),
        ])
        .unwrap();
        std::fs::remove_dir_all(c.bench.site_dir(&t.site)).unwrap();
    }
    let cleanup = |t: &Tenant| c.ops(&["cleanup", "--orphans", "--db-pattern", &t.db, "--yes"]);

    let r = cleanup(&gone);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        kinds(&r.json["dropped"]),
        [(gone.site.clone(), "row".to_string())].into()
    );
    let actions = &r.json["dropped"][0]["actions"];
    assert_eq!(actions.as_array().map(Vec::len), Some(1), "{actions}");
    assert!(
        actions[0]["action"].as_str().unwrap().ends_with("dropped"),
        "{actions}"
    );
    assert_eq!(c.registry_status(&gone.site).as_deref(), Some("dropped"));
    // The other one is outside --db-pattern: not even planned.
    assert_eq!(c.registry_status(&refused.site).as_deref(), Some("active"));

    // A registry that refuses the write: the row is not said to be closed.
    sql(&format!(
        "CREATE TRIGGER `{}`.refuse_updates BEFORE UPDATE ON `{}`.tenants FOR EACH ROW \
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'this registry refuses writes'",
        c.bench.registry, c.bench.registry
    ));
    let r = cleanup(&refused);
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["success"], false, "{}", r.json);
    assert_eq!(r.json["dropped"], json!([]), "{}", r.json);
    assert_eq!(
        kinds(&r.json["failed"]),
        [(refused.site.clone(), "row".to_string())].into()
    );
    assert!(
        r.json.to_string().contains("this registry refuses writes"),
        "{}",
        r.json
    );
    assert_eq!(c.registry_status(&refused.site).as_deref(), Some("active"));
    // Nor does --pattern remove a tenant whose row it cannot mark `dropping` first.
    let r = c.ops(&["cleanup", "--pattern", &kept.sub, "--yes"]);
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["dropped"], json!([]), "{}", r.json);
    assert!(
        r.json["failed"][0]["actions"][0]["action"]
            .as_str()
            .is_some_and(|a| a.ends_with("dropping")),
        "{}",
        r.json
    );
    c.assert_intact(&kept);
}

#[test]
fn a_tenant_whose_folder_is_missing_keeps_its_row_and_its_database() {
    let mut c = Case::new(&[]);
    let t = c.provision(&unique("away"));
    // Its folder is not there (a volume not mounted, a folder moved by hand); its
    // database is. Closing its row would make the database an orphan for the next scan.
    let dir = c.bench.site_dir(&t.site);
    let aside = c.bench.path().join(format!("{}.aside", t.site));
    std::fs::rename(&dir, &aside).unwrap();
    let r = c.ops(&["cleanup", "--orphans", "--db-pattern", &t.db, "--yes"]);
    let r2 = c.ops(&["cleanup", "--orphans", "--db-pattern", &t.db, "--yes"]);
    std::fs::rename(&aside, &dir).unwrap();
    assert!(database_exists(&t.db), "{}\n{}", r.json, r2.json);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["dropped"], json!([]), "{}", r.json);
    assert_eq!(r2.json["dropped"], json!([]), "{}", r2.json);
    c.assert_intact(&t);
}

#[test]
fn a_thousand_databases_are_scanned_with_a_constant_number_of_queries() {
    let c = Case::alone().with_registry();
    let p = Planted::new();
    let pattern = p.pattern();
    let scan = || {
        let r = c.ops(&[
            "cleanup",
            "--orphans",
            "--dry-run",
            "--db-pattern",
            &pattern,
        ]);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        r
    };
    let before = scan();
    assert_eq!(before.json["planned"], json!([]));
    let queries = before.json["scan"]["catalogQueries"].as_u64().unwrap();
    assert!((1..=5).contains(&queries), "{}", before.json);
    // Other users of the server may drop their databases meanwhile: the scan must see
    // the 1,000 planted ones and every other one that is there both before and after.
    let all_databases = || -> BTreeSet<String> {
        sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            .into_iter()
            .map(|mut r| r.take::<String, _>(0).unwrap())
            .collect()
    };
    let others_before = all_databases();

    // 50 Frappe schemas, 950 empty databases.
    let names: Vec<String> = (0..1000u64)
        .map(|i| format!("{}{i:010x}", p.prefix))
        .collect();
    let mut plant = vec![];
    for (i, d) in names.iter().enumerate() {
        plant.extend(plant_database(d, if i < 50 { &MARKERS[..] } else { &[] }));
    }
    sql_batch(&plant).unwrap();

    let after = scan();
    assert_eq!(
        after.json["scan"]["catalogQueries"].as_u64(),
        Some(queries),
        "{}",
        after.json["scan"]
    );
    let stayed = all_databases().intersection(&others_before).count() as u64;
    assert!(
        after.json["scan"]["databases"].as_u64().unwrap() >= stayed + 1000,
        "{stayed} others stayed: {}",
        after.json["scan"]
    );
    let planned = kinds(&after.json["planned"]);
    assert_eq!(
        planned.keys().cloned().collect::<BTreeSet<_>>(),
        names[..50].iter().cloned().collect::<BTreeSet<_>>()
    );
    assert!(planned.values().all(|k| k == "database"), "{planned:?}");
}

/// SIGKILLs a provision in flight; checks it left a 'provisioning' row, no process behind
/// and its site's lock free.
fn sigkill_run(c: &Case, mut child: Child, site: &str) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    // bench runs under `timeout` with a parent-death signal: it must not outlive the run.
    assert!(
        wait_until(Duration::from_secs(10), || processes_naming(site)
            .is_empty()),
        "left running: {:?}",
        processes_naming(site)
    );
    assert_eq!(c.registry_status(site).as_deref(), Some("provisioning"));
    // The run's site lock goes with its connection once MariaDB sees the socket close.
    assert!(wait_until(Duration::from_secs(10), || sql_value(
        "SELECT IS_FREE_LOCK(?)",
        vec![site_lock_name(site).into()]
    )
    .as_deref()
        == Some("1")));
}

/// A provision of `sub` stopped in new-site, its folder and database made.
fn provision_paused_in_new_site(c: &Case, sub: &str) -> Child {
    let pause = c.bench.path().join("pause");
    let mut cmd = c.cmd(&[]);
    cmd.env("BENCH_DOUBLE_PAUSE", &pause);
    provision_args(&mut cmd, sub);
    let child = spawn(cmd);
    // The double stops with folder and database made, and says so. Killed any earlier,
    // bench would die of its own broken stderr pipe and the check that nothing outlives
    // the tool would prove nothing.
    crate::common::wait_for("new-site is under way", 20, || {
        pause.with_extension("reached").exists()
    });
    child
}

/// SIGKILLs a provision in flight; checks it left a 'provisioning' row and no process
/// behind, and that `cleanup --orphans` scoped to its database removes everything.
fn kill_then_clean(c: &Case, child: Child, site: &str) {
    let db = c.bench.databases_of(site).pop().unwrap();
    sigkill_run(c, child, site);

    let r = c.ops(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let dropped = items(&r.json["dropped"]);
    assert_eq!(
        dropped.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[site]),
        "{}",
        r.json
    );
    assert_eq!(dropped[site]["kind"], "run");
    assert_eq!(dropped[site]["dbName"], db);
    assert_eq!(
        (&r.json["failed"], &r.json["skipped"]),
        (&json!([]), &json!([]))
    );
    assert!(!c.bench.site_dir(site).exists(), "site folder left");
    assert!(!database_exists(&db), "database left");
    assert!(!db_user_exists(&db), "DB user left");
    assert_eq!(c.registry_status(site).as_deref(), Some("rolled_back"));
}

/// A killed run's database, named by a site put back during the countdown, stays; the
/// row says its resolution failed (not rolled back, which would close it with the
/// database there), and a later cleanup, the copy gone, resolves it.
#[test]
fn a_killed_run_whose_database_a_site_names_by_the_end_of_the_countdown_stays_open() {
    let c = Case::new(&[]);
    let sub = unique("kill");
    let site = format!("{sub}.localhost");
    let child = provision_paused_in_new_site(&c, &sub);
    let db = c.bench.databases_of(&site).pop().unwrap();
    sigkill_run(&c, child, &site);

    let w = Watched::counting_down(c.cmd(&["cleanup", "--orphans", "--db-pattern", &db]));
    let copy = format!("{}.localhost", unique("copy"));
    c.site_folder(&copy, &json!({"db_name": db}).to_string());
    let r = w.finish();
    std::fs::remove_dir_all(c.bench.site_dir(&copy)).unwrap();
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(database_exists(&db), "{}", r.json);
    assert_eq!(r.json["failed"][0]["name"], site.as_str(), "{}", r.json);
    assert_eq!(
        c.registry_status(&site).as_deref(),
        Some("failed"),
        "{}",
        r.json
    );

    let r = c.ops(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(!database_exists(&db), "{}", r.json);
    assert!(!c.bench.site_dir(&site).exists(), "{}", r.json);
    assert_eq!(
        c.registry_status(&site).as_deref(),
        Some("rolled_back"),
        "{}",
        r.json
    );
}

#[test]
fn a_provision_killed_during_new_site_leaves_nothing_cleanup_cannot_remove() {
    let c = Case::new(&[]);
    let sub = unique("kill");
    let site = format!("{sub}.localhost");
    let child = provision_paused_in_new_site(&c, &sub);
    let db = c.bench.databases_of(&site).pop().unwrap();
    assert!(
        database_exists(&db),
        "new-site pauses with its database made"
    );
    kill_then_clean(&c, child, &site);
}

#[test]
fn a_provision_killed_during_a_rest_call_leaves_nothing_cleanup_cannot_remove() {
    let mut c = Case::new(&[]);
    c.frappe = FakeFrappe::start(&c.bench).inject("create-user", Inject::Hang);
    let sub = unique("kill");
    let site = format!("{sub}.localhost");
    let mut cmd = c.cmd(&[]);
    provision_args(&mut cmd, &sub);
    let child = spawn(cmd);
    assert!(
        wait_until(Duration::from_secs(20), || c.frappe.calls("create-user")
            > 0),
        "the run never reached create-user"
    );
    kill_then_clean(&c, child, &site);
}
