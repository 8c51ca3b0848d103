//! Operating tenants after sign-up: `suspend` and `resume` (Frappe's maintenance mode and
//! the paused scheduler, restored exactly), and the registry status `suspended` that
//! `list`, `verify` and `cleanup` know. Black-box, against the bench double (its
//! `set-config` as Frappe's), the fake Frappe (a site in maintenance mode answers 503
//! `SessionStopped` before any auth, as Frappe v15 does) and the real MariaDB.

use std::path::{Path, PathBuf};
use std::process::Child;

use crate::common::*;
use serde_json::{json, Value};

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
}

fn refused(r: &Run, exit: i32, code: &str) {
    assert_eq!(
        (r.code, r.json["code"].as_str()),
        (exit, Some(code)),
        "{}\n{}",
        r.json,
        r.stderr
    );
    assert_eq!(r.json["success"], false);
}

fn config(w: &World, site: &str) -> Value {
    let path = w.bench.site_dir(site).join("site_config.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write_config(w: &World, site: &str, c: &Value) {
    let path = w.bench.site_dir(site).join("site_config.json");
    std::fs::write(path, c.to_string()).unwrap();
}

/// A tenant signed up on `w`: its subdomain and site.
fn tenant(w: &World) -> (String, String) {
    let sub = unique("t");
    ok(&w.provision(&sub, &[]));
    let site = format!("{sub}.localhost");
    (sub, site)
}

/// What Frappe answers the tenant's `ping` now.
fn ping(w: &World, site: &str) -> (u16, String) {
    let (status, _, body) = http(&w.frappe.url, "GET", site, "/api/method/ping", &[], "");
    (status, body)
}

fn status_of(w: &World, site: &str) -> String {
    w.rows().into_iter().rfind(|r| r["site"] == site).unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_suspended_tenant_answers_503_and_resume_restores_exactly_what_was_there() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    // What an operator had set before: maintenance off as a string Frappe reads as 0,
    // reads during maintenance allowed, no pause_scheduler key at all.
    let mut before = config(&w, &site);
    before["maintenance_mode"] = json!(0);
    before["allow_reads_during_maintenance"] = json!(1);
    write_config(&w, &site, &before);
    assert_eq!(ping(&w, &site).0, 200);

    let r = w.run(&["suspend", &sub, "--reason", "trial ended"]);
    ok(&r);
    assert_eq!(r.json["status"], "suspended");
    assert_eq!(r.json["reason"], "trial ended");
    let c = config(&w, &site);
    assert_eq!(c["maintenance_mode"], 1);
    assert_eq!(c["pause_scheduler"], 1);
    assert!(c.get("allow_reads_during_maintenance").is_none(), "{c}");
    assert_eq!(status_of(&w, &site), "suspended");
    let (status, body) = ping(&w, &site);
    assert_eq!(status, 503);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["exc_type"],
        "SessionStopped"
    );

    let v = w.verify(&sub);
    ok(&v);
    let check = |name: &str| {
        v.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {}", v.json))
    };
    assert_eq!(check("suspended")["ok"], true);
    assert_eq!(check("http")["ok"], true);
    // A 503 that is not Frappe's maintenance answer (a proxy with no upstream) is no proof
    // the site is suspended: verify says so.
    w.frappe.injecting(
        "ping",
        Inject::Proxy(503, "Service Temporarily Unavailable"),
    );
    let proxied = w.verify(&sub);
    w.frappe.stop_injecting("ping");
    assert_eq!(proxied.json["success"], false, "{}", proxied.json);
    let http = proxied.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "http")
        .cloned()
        .unwrap();
    assert_eq!(http["ok"], false, "{http}");

    let l = w.run(&["list", "--json"]);
    ok(&l);
    let listed = l.json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == site)
        .unwrap()
        .clone();
    assert_eq!(listed["status"], "suspended");

    let r = w.run(&["resume", &sub]);
    ok(&r);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["reason"], "trial ended");
    assert_eq!(
        config(&w, &site),
        before,
        "resume restores exactly what was there"
    );
    assert_eq!(status_of(&w, &site), "active");
    assert_eq!(ping(&w, &site).0, 200);
    ok(&w.verify(&sub));
}

/// The `suspended` check of `verify` on `sub`: (present, ok).
fn suspended_check(w: &World, sub: &str) -> (bool, bool) {
    let v = w.verify(sub);
    let check = v.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "suspended")
        .cloned();
    (check.is_some(), check.is_some_and(|c| c["ok"] == true))
}

#[test]
fn verify_says_when_a_suspension_is_only_half_there() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    ok(&w.run(&["suspend", &sub]));
    assert_eq!(suspended_check(&w, &sub), (true, true));
    let whole = config(&w, &site);
    // Each of the three settings undone alone leaves a tenant that is not suspended as the
    // registry says: reads allowed (API keys still read), the scheduler running,
    // maintenance off (the site serves).
    for (key, value) in [
        ("allow_reads_during_maintenance", json!(1)),
        ("pause_scheduler", json!(0)),
        ("maintenance_mode", json!(0)),
    ] {
        let mut c = whole.clone();
        c[key] = value;
        write_config(&w, &site, &c);
        assert_eq!(suspended_check(&w, &sub), (true, false), "{key}");
    }
    // The check says what it found, setting by setting (here: maintenance off, last).
    let v = w.verify(&sub);
    let detail = v.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "suspended")
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        detail.ends_with(
            "maintenance_mode off, allow_reads_during_maintenance off, pause_scheduler on"
        ),
        "{detail}"
    );
    write_config(&w, &site, &whole);
    ok(&w.run(&["resume", &sub]));
    assert_eq!(
        suspended_check(&w, &sub),
        (false, false),
        "active: no check"
    );
    // Active in the registry, yet in maintenance mode: said.
    let mut c = config(&w, &site);
    c["maintenance_mode"] = json!(1);
    write_config(&w, &site, &c);
    assert_eq!(suspended_check(&w, &sub), (true, false));
}

#[test]
fn verify_fails_a_tenant_whose_registry_row_says_it_failed() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    let v = w.verify(&sub);
    ok(&v);
    let registry = |v: &Run| {
        v.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "registry")
            .cloned()
            .unwrap_or_else(|| panic!("no registry check: {}", v.json))
    };
    assert_eq!(registry(&v)["ok"], true);
    // Folder, database, user and keys all whole, but the run that made it is recorded as
    // failed: verify must not call it a working tenant.
    sql_at(
        &w.bench.url,
        &format!(
            "UPDATE `{}`.tenants SET status = 'failed', error = 'step 6 never proved' WHERE site = ?",
            w.registry
        ),
        vec![site.clone().into()],
    );
    let v = w.verify(&sub);
    assert_eq!(v.json["success"], false, "{}", v.json);
    let check = registry(&v);
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("status failed"),
        "{check}"
    );
}

#[test]
fn suspend_and_resume_refuse_what_is_not_a_tenant_of_the_tool() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    // Unknown site.
    refused(&w.run(&["suspend", "no-such-tenant"]), 2, "INVALID_INPUT");
    refused(&w.run(&["resume", "no-such-tenant"]), 2, "INVALID_INPUT");
    // Bad input: not a site name, a reason with markup.
    refused(&w.run(&["suspend", "../etc"]), 2, "INVALID_INPUT");
    refused(
        &w.run(&["suspend", &sub, "--reason", "<script>"]),
        2,
        "INVALID_INPUT",
    );
    // A site the registry does not know: made by hand, not by the tool.
    let hand = "by-hand.localhost";
    std::fs::create_dir_all(w.bench.site_dir(hand)).unwrap();
    std::fs::write(
        w.bench.site_dir(hand).join("site_config.json"),
        json!({"db_name": "_0123456789abcdef"}).to_string(),
    )
    .unwrap();
    let r = w.run(&["suspend", hand]);
    refused(&r, 2, "INVALID_INPUT");
    assert!(
        r.json["error"].as_str().unwrap().contains("no live row"),
        "{}",
        r.json
    );
    assert!(config(&w, hand).get("maintenance_mode").is_none());
    // A folder holding another instance than the registry's row.
    let real = config(&w, &site);
    let mut other = real.clone();
    other["db_name"] = json!("ft_0000000000000000");
    write_config(&w, &site, &other);
    refused(&w.run(&["suspend", &sub]), 2, "INVALID_INPUT");
    assert!(config(&w, &site).get("maintenance_mode").is_none());
    write_config(&w, &site, &real);
    // Resume of an active tenant, suspend of a suspended one: refused, nothing changed.
    refused(&w.run(&["resume", &sub]), 2, "INVALID_INPUT");
    ok(&w.run(&["suspend", &sub]));
    let suspended = config(&w, &site);
    refused(&w.run(&["suspend", &sub]), 2, "INVALID_INPUT");
    assert_eq!(config(&w, &site), suspended);
    assert_eq!(w.bench.calls_of("set-config"), 2);
    w.frappe.assert_no_unexpected();
}

#[test]
fn a_site_another_run_holds_is_busy_and_left_alone() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    {
        // A provision or cleanup of the site holds its lock.
        let _held = HeldLock::take(&w.bench.url, &site_lock_name(&site));
        refused(&w.run(&["suspend", &sub]), 1, "SITE_BUSY");
        refused(&w.run(&["resume", &sub]), 1, "SITE_BUSY");
    }
    assert!(config(&w, &site).get("maintenance_mode").is_none());
    assert_eq!(status_of(&w, &site), "active");
    assert_eq!(w.bench.calls_of("set-config"), 0);
}

/// A `suspend` of `sub`, stopped at the start of its first `bench set-config`; writing the
/// returned path lets it go on.
fn suspend_paused_in_its_first_set_config(w: &World, sub: &str) -> (Child, PathBuf) {
    let pause = w.bench.path().join("pause-set-config");
    let mut cmd = w.tool();
    cmd.env("BENCH_DOUBLE_PAUSE_SET_CONFIG", &pause)
        .args(["suspend", sub]);
    let child = spawn(cmd);
    let reached = Path::new(&format!("{}.reached", pause.display())).to_path_buf();
    wait_for("suspend is in its first set-config", 30, || {
        reached.exists()
    });
    (child, pause)
}

#[test]
fn suspend_and_resume_racing_end_with_one_winner_and_a_whole_state() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    let (child, pause) = suspend_paused_in_its_first_set_config(&w, &sub);
    // The suspend holds the site: a resume (and a second suspend) now is busy.
    refused(&w.run(&["resume", &sub]), 1, "SITE_BUSY");
    refused(&w.run(&["suspend", &sub]), 1, "SITE_BUSY");
    std::fs::write(&pause, "").unwrap();
    ok(&finish(child));
    assert_eq!(status_of(&w, &site), "suspended");
    assert_eq!(config(&w, &site)["maintenance_mode"], 1);
    ok(&w.run(&["resume", &sub]));
    assert_eq!(status_of(&w, &site), "active");
}

/// The suspend's MariaDB connection, and with it the site's lock, goes during its first
/// set-config and another run takes the lock: the suspend changes nothing more, not even
/// to undo what it did, and says the lock was lost; resume (under the lock) finishes it.
#[test]
fn a_suspend_that_loses_its_lock_changes_nothing_more() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    let (child, pause) = suspend_paused_in_its_first_set_config(&w, &sub);
    let lock = site_lock_name(&site);
    let owner = sql_value_at(
        &w.bench.url,
        "SELECT IS_USED_LOCK(?)",
        vec![lock.clone().into()],
    )
    .expect("the suspend holds the site's lock");
    sql_at(&w.bench.url, &format!("KILL CONNECTION {owner}"), vec![]);
    let other = HeldLock::take(&w.bench.url, &lock);
    let calls = w.bench.calls_of("set-config");
    std::fs::write(&pause, "").unwrap();
    let r = finish(child);
    let calls_after = w.bench.calls_of("set-config");
    drop(other);
    refused(&r, 1, "SITE_BUSY");
    assert!(
        r.json["error"].to_string().contains("lost the lock"),
        "{}",
        r.json
    );
    // Only the set-config in flight when the lock went ran.
    assert_eq!(calls_after, calls.max(1), "{}", r.json);
    assert_eq!(status_of(&w, &site), "suspended");
    ok(&w.run(&["resume", &sub]));
    assert_eq!(status_of(&w, &site), "active");
    assert_eq!(ping(&w, &site).0, 200);
}

#[test]
fn a_suspend_that_fails_midway_is_undone() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    let before = config(&w, &site);
    let r = w.run_env(
        &[("BENCH_DOUBLE_FAIL", "set-config:pause_scheduler")],
        &["suspend", &sub],
    );
    refused(&r, 1, "BENCH_FAILED");
    assert!(
        r.json["error"].as_str().unwrap().contains("undone"),
        "{}",
        r.json
    );
    assert_eq!(config(&w, &site), before, "maintenance mode undone");
    assert_eq!(status_of(&w, &site), "active");
    assert_eq!(ping(&w, &site).0, 200);
}

#[test]
fn a_suspend_whose_undo_fails_too_is_finished_by_resume() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    let before = config(&w, &site);
    // The suspension's last key fails, and so does the undo of its first (the key
    // removed again: it was absent).
    let r = w.run_env(
        &[(
            "BENCH_DOUBLE_FAIL",
            "set-config:pause_scheduler,set-config:maintenance_mode=None",
        )],
        &["suspend", &sub],
    );
    refused(&r, 1, "BENCH_FAILED");
    assert_eq!(status_of(&w, &site), "suspended", "{}", r.json);
    ok(&w.run(&["resume", &sub]));
    assert_eq!(config(&w, &site), before);
    assert_eq!(status_of(&w, &site), "active");
}

#[test]
fn cleanup_never_removes_a_suspended_tenant() {
    // A server of its own: --orphans scans the whole server.
    let w = World::alone(&[]);
    let (sub, site) = tenant(&w);
    let db = w.bench.databases_of(&site).pop().unwrap();
    ok(&w.run(&["suspend", &sub]));
    // Adversarial: the suspended tenant looks as orphaned as it can while it is still
    // the registry's: its folder gone from the bench (moved aside), so no site names its
    // database, and its row last touched by a run that is long dead.
    let aside = w.bench.path().join("aside");
    std::fs::rename(w.bench.site_dir(&site), &aside).unwrap();
    let r = w.run(&["cleanup", "--orphans", "--yes"]);
    assert!(r.code == 0 || r.code == 6, "{}\n{}", r.json, r.stderr);
    assert!(database_exists_at(w.url(), &db), "{}", r.json);
    assert!(db_user_exists_at(w.url(), &db), "{}", r.json);
    assert_eq!(status_of(&w, &site), "suspended", "{}", r.json);
    std::fs::rename(&aside, w.bench.site_dir(&site)).unwrap();
    // And by pattern: skipped, with why.
    let r = w.run(&["cleanup", "--pattern", "t-*", "--yes"]);
    assert!(r.code == 0 || r.code == 6, "{}\n{}", r.json, r.stderr);
    let skipped = r.json["skipped"].to_string();
    assert!(skipped.contains("suspended"), "{}", r.json);
    assert!(w.bench.site_dir(&site).exists());
    assert!(database_exists_at(w.url(), &db));
    assert_eq!(status_of(&w, &site), "suspended");
    // Its site cannot be signed up again while it is suspended.
    let again = w.provision(&sub, &[]);
    assert_ne!(again.code, 0, "{}", again.json);
    assert!(database_exists_at(w.url(), &db));
    ok(&w.run(&["resume", &sub]));
    ok(&w.verify(&sub));
}

#[test]
fn a_registry_of_an_earlier_version_learns_suspended() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    // Back to schema 3: status without `suspended`, no suspension column.
    w.sql(
        &format!(
            "DELETE FROM `{}`.schema_migrations WHERE version >= 4",
            w.registry
        ),
        vec![],
    );
    w.sql(
        &format!(
            "ALTER TABLE `{r}`.tenants DROP INDEX one_live_row, DROP COLUMN suspension, \
             MODIFY live_site VARCHAR(255) AS (IF(status IN ('provisioning','active','standby','claimed'), site, NULL)) PERSISTENT, \
             MODIFY status ENUM('provisioning','active','failed','rolled_back','standby','claimed','dropped','dropping') NOT NULL",
            r = w.registry
        ),
        vec![],
    );
    w.sql(
        &format!(
            "ALTER TABLE `{}`.tenants ADD UNIQUE KEY one_live_row (bench_id, live_site)",
            w.registry
        ),
        vec![],
    );
    ok(&w.run(&["suspend", &sub]));
    assert_eq!(status_of(&w, &site), "suspended");
    // A second live row for a suspended site is refused by the registry itself.
    let dup = w.sql(
        &format!(
            "SELECT COUNT(*) FROM `{}`.tenants WHERE site = ? AND live_site IS NOT NULL",
            w.registry
        ),
        vec![site.clone().into()],
    );
    assert_eq!(cell(dup[0].as_ref(0).unwrap()), "1");
}

/// A world whose sites have the `SaaS Settings` DocType (the optional app's), and a
/// tenant signed up on it with the default plan (Free, 5 users, 1 GB).
fn planned() -> (World, String, String) {
    let w = World::new(&[]);
    w.frappe.has_saas_settings();
    let (sub, site) = tenant(&w);
    (w, sub, site)
}

fn plan_of(w: &World, db: &str) -> (String, String, String) {
    let get = |f: &str| {
        sql_value_at(
            w.url(),
            &format!(
                "SELECT value FROM `{db}`.tabSingles WHERE doctype = 'SaaS Settings' AND field = ?"
            ),
            vec![f.into()],
        )
        .unwrap_or_default()
    };
    (get("plan_name"), get("max_users"), get("max_storage"))
}

fn admin_keys(w: &World, db: &str) -> (Option<String>, Option<String>) {
    let key = sql_value_at(
        w.url(),
        &format!("SELECT api_key FROM `{db}`.tabUser WHERE name = 'Administrator'"),
        vec![],
    );
    let secret = sql_value_at(
        w.url(),
        &format!("SELECT password FROM `{db}`.__Auth WHERE doctype = 'User' AND name = 'Administrator' AND fieldname = 'api_secret'"),
        vec![],
    );
    (key, secret)
}

#[test]
fn plan_set_rewrites_saas_settings_over_rest_and_leaves_no_key_behind() {
    let (w, sub, site) = planned();
    let db = w.bench.databases_of(&site).pop().unwrap();
    assert_eq!(admin_keys(&w, &db), (None, None));
    let before = w.frappe.calls("saas-settings");
    let r = w.run(&[
        "plan",
        "set",
        &sub,
        "--plan-name",
        "Pro",
        "--max-users",
        "25",
        "--max-storage",
        "10",
    ]);
    ok(&r);
    assert_eq!(r.json["planName"], "Pro");
    assert_eq!(r.json["previous"]["planName"], "Free");
    assert_eq!(r.json["usage"]["users"], 1);
    assert_eq!(r.json["forced"], false);
    // Over REST (the fake's SaaS Settings write, authenticated by a token), not SQL.
    assert_eq!(w.frappe.calls("saas-settings"), before + 1);
    assert_eq!(plan_of(&w, &db), ("Pro".into(), "25".into(), "10".into()));
    // The key lent to Administrator is gone again, and no secret reached argv or stderr.
    assert_eq!(admin_keys(&w, &db), (None, None));
    assert!(!r.stderr.to_lowercase().contains("token "), "{}", r.stderr);
    let v = w.run(&[
        "verify",
        &sub,
        "--plan-name",
        "Pro",
        "--max-users",
        "25",
        "--max-storage",
        "10",
    ]);
    ok(&v);
    let v = w.run(&["verify", &sub]);
    assert_eq!(v.code, 5, "the default plan no longer matches: {}", v.json);
    w.frappe.assert_no_unexpected();
}

#[test]
fn plan_set_puts_back_an_administrator_key_that_was_there_and_cleans_up_on_failure() {
    let (w, sub, site) = planned();
    let db = w.bench.databases_of(&site).pop().unwrap();
    sql_at(
        w.url(),
        &format!("UPDATE `{db}`.tabUser SET api_key = 'adminkey123' WHERE name = 'Administrator'"),
        vec![],
    );
    sql_at(
        w.url(),
        &format!("INSERT INTO `{db}`.__Auth (doctype, name, fieldname, password, encrypted) VALUES ('User', 'Administrator', 'api_secret', 'stored-token', 1)"),
        vec![],
    );
    let was = admin_keys(&w, &db);
    ok(&w.run(&[
        "plan",
        "set",
        &sub,
        "--plan-name",
        "Pro",
        "--max-users",
        "9",
        "--max-storage",
        "2",
    ]));
    assert_eq!(admin_keys(&w, &db), was);
    // Frappe refuses the write: nothing changed, the key is taken back all the same.
    w.frappe
        .injecting("saas-settings", Inject::Status(502, "bad gateway"));
    let r = w.run(&[
        "plan",
        "set",
        &sub,
        "--plan-name",
        "Max",
        "--max-users",
        "99",
        "--max-storage",
        "50",
    ]);
    refused(&r, 1, "API_ERROR");
    assert_eq!(admin_keys(&w, &db), was);
    assert_eq!(plan_of(&w, &db), ("Pro".into(), "9".into(), "2".into()));
}

#[test]
fn a_plan_below_usage_is_refused_unless_forced() {
    let (w, sub, site) = planned();
    let db = w.bench.databases_of(&site).pop().unwrap();
    // A second enabled System User: two in use.
    sql_at(
        w.url(),
        &format!("INSERT INTO `{db}`.tabUser (name, email, enabled, user_type) VALUES ('bob@acme.com', 'bob@acme.com', 1, 'System User')"),
        vec![],
    );
    let r = w.run(&[
        "plan",
        "set",
        &sub,
        "--plan-name",
        "Solo",
        "--max-users",
        "1",
        "--max-storage",
        "1",
    ]);
    refused(&r, 2, "INVALID_INPUT");
    assert!(
        r.json["error"].as_str().unwrap().contains("--force"),
        "{}",
        r.json
    );
    assert_eq!(plan_of(&w, &db).0, "Free");
    // Storage: files count, through the executor.
    let files = w.bench.site_dir(&site).join("private/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("big.bin"), vec![0u8; 3_000_000]).unwrap();
    let r = w.run(&[
        "plan",
        "set",
        &sub,
        "--plan-name",
        "Tiny",
        "--max-users",
        "5",
        "--max-storage",
        "0.001",
    ]);
    refused(&r, 2, "INVALID_INPUT");
    let r = w.run(&[
        "plan",
        "set",
        &sub,
        "--plan-name",
        "Solo",
        "--max-users",
        "1",
        "--max-storage",
        "1",
        "--force",
    ]);
    ok(&r);
    assert_eq!(r.json["forced"], true);
    assert_eq!(r.json["usage"]["over"], true);
    assert_eq!(plan_of(&w, &db), ("Solo".into(), "1".into(), "1".into()));
}

#[test]
fn plan_set_refuses_bad_input_a_suspended_a_busy_and_an_unknown_tenant() {
    let (w, sub, site) = planned();
    let db = w.bench.databases_of(&site).pop().unwrap();
    let set = |extra: &[&str]| {
        let mut args = vec!["plan", "set", sub.as_str()];
        args.extend_from_slice(extra);
        w.run(&args)
    };
    refused(
        &set(&[
            "--plan-name",
            "<b>",
            "--max-users",
            "5",
            "--max-storage",
            "1",
        ]),
        2,
        "INVALID_INPUT",
    );
    refused(
        &set(&[
            "--plan-name",
            "Pro",
            "--max-users",
            "0",
            "--max-storage",
            "1",
        ]),
        2,
        "INVALID_INPUT",
    );
    refused(
        &set(&[
            "--plan-name",
            "Pro",
            "--max-users",
            "5",
            "--max-storage",
            "-1",
        ]),
        2,
        "INVALID_INPUT",
    );
    refused(
        &set(&[
            "--plan-name",
            "Pro",
            "--max-users",
            "5",
            "--max-storage",
            "NaN",
        ]),
        2,
        "INVALID_INPUT",
    );
    refused(
        &w.run(&[
            "plan",
            "set",
            "no-such-tenant",
            "--plan-name",
            "Pro",
            "--max-users",
            "5",
            "--max-storage",
            "1",
        ]),
        2,
        "INVALID_INPUT",
    );
    ok(&w.run(&["suspend", &sub]));
    let r = set(&[
        "--plan-name",
        "Pro",
        "--max-users",
        "5",
        "--max-storage",
        "1",
    ]);
    refused(&r, 2, "INVALID_INPUT");
    assert!(
        r.json["error"].as_str().unwrap().contains("suspended"),
        "{}",
        r.json
    );
    ok(&w.run(&["resume", &sub]));
    {
        let _held = HeldLock::take(&w.bench.url, &site_lock_name(&site));
        refused(
            &set(&[
                "--plan-name",
                "Pro",
                "--max-users",
                "5",
                "--max-storage",
                "1",
            ]),
            1,
            "SITE_BUSY",
        );
    }
    assert_eq!(plan_of(&w, &db).0, "Free");
    assert_eq!(admin_keys(&w, &db), (None, None));
}

#[test]
fn plan_set_needs_the_saas_settings_doctype() {
    let w = World::new(&[]);
    let (sub, _) = tenant(&w);
    let r = w.run(&[
        "plan",
        "set",
        &sub,
        "--plan-name",
        "Pro",
        "--max-users",
        "5",
        "--max-storage",
        "1",
    ]);
    refused(&r, 1, "CONFIG_ERROR");
    assert!(
        r.json["error"].as_str().unwrap().contains("SaaS Settings"),
        "{}",
        r.json
    );
}

#[test]
fn the_tools_fernet_is_what_frappes_cryptography_decrypts() {
    // Frappe decrypts with Python's `cryptography` Fernet: the same library here.
    let key = fernet::generate_key();
    let token = frappe_tenant::basics::fernet::encrypt(
        &frappe_tenant::basics::secret::Secret::new(key.clone()),
        b"s3cret-api-secret",
    )
    .unwrap();
    assert_eq!(
        fernet::decrypt(&key, token.expose()).as_deref(),
        Some("s3cret-api-secret")
    );
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; from cryptography.fernet import Fernet; \
             print(Fernet(sys.stdin.readline().strip().encode()).decrypt(sys.stdin.readline().strip().encode()).decode())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{key}\n{}\n", token.expose()).as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3 with the cryptography package (Frappe's Fernet)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "s3cret-api-secret"
    );
}

#[test]
fn usage_counts_users_database_and_files_against_the_plan() {
    let (w, sub, site) = planned();
    let db = w.bench.databases_of(&site).pop().unwrap();
    w.frappe.login(&site, "jane@acme.com", PASSWORD).unwrap();
    let files = w.bench.site_dir(&site).join("public/files");
    std::fs::create_dir_all(files.join("sub")).unwrap();
    std::fs::write(files.join("a.png"), vec![1u8; 1000]).unwrap();
    std::fs::write(files.join("sub/b.pdf"), vec![1u8; 500]).unwrap();
    // A link counts for nothing, whatever it points to.
    std::os::unix::fs::symlink("/etc", files.join("etc")).unwrap();
    let r = w.run(&["usage", &sub]);
    ok(&r);
    let t = &r.json["tenants"][0];
    assert_eq!(t["site"], site.as_str());
    assert_eq!(t["dbName"], db.as_str());
    assert_eq!(t["users"], 1);
    assert_eq!(t["maxUsers"], 5);
    assert_eq!(t["planName"], "Free");
    assert_eq!(t["publicFilesBytes"], 1500);
    assert_eq!(t["privateFilesBytes"], 0);
    assert!(t["databaseBytes"].as_u64().unwrap() > 0);
    assert_eq!(t["over"], false);
    assert!(t["lastLogin"].as_str().is_some(), "{t}");
    // Over the plan's users.
    for i in 0..5 {
        sql_at(
            w.url(),
            &format!("INSERT INTO `{db}`.tabUser (name, email, enabled, user_type) VALUES (?, ?, 1, 'System User')"),
            vec![format!("u{i}@acme.com").into(), format!("u{i}@acme.com").into()],
        );
    }
    // Disabled users and website users do not count.
    sql_at(
        w.url(),
        &format!("INSERT INTO `{db}`.tabUser (name, email, enabled, user_type) VALUES ('off@acme.com', 'off@acme.com', 0, 'System User'), ('web@acme.com', 'web@acme.com', 1, 'Website User')"),
        vec![],
    );
    let r = w.run(&["usage", &sub, "--json"]);
    let t = &r.json["tenants"][0];
    assert_eq!(
        (
            t["users"].clone(),
            t["usersOver"].clone(),
            t["over"].clone()
        ),
        (json!(6), json!(true), json!(true))
    );
    refused(&w.run(&["usage", "no-such-tenant"]), 2, "INVALID_INPUT");
}

#[test]
fn usage_all_takes_the_same_statements_for_one_tenant_as_for_several() {
    let w = World::new(&[]);
    let (_, first) = tenant(&w);
    let r = w.run(&["usage", "--all"]);
    ok(&r);
    assert_eq!(r.json["tenants"].as_array().unwrap().len(), 1);
    let one = r.json["queries"].as_u64().unwrap();
    // It counts what it runs: at least one statement for one tenant.
    assert!(one >= 1, "{}", r.json);
    let (sub2, _) = tenant(&w);
    let (_, third) = tenant(&w);
    ok(&w.run(&["suspend", &sub2]));
    let r = w.run(&["usage", "--all"]);
    ok(&r);
    let sites: Vec<&str> = r.json["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["site"].as_str().unwrap())
        .collect();
    assert_eq!(sites.len(), 3, "{}", r.json);
    assert!(sites.contains(&first.as_str()) && sites.contains(&third.as_str()));
    assert_eq!(r.json["queries"].as_u64().unwrap(), one, "{}", r.json);
    assert!(r.json["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["status"] == "suspended"));
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn backup_lists_frappes_files_with_their_hashes_and_copies_them_off() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    let files = w.bench.site_dir(&site).join("private/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("contract.pdf"), b"%PDF-1.4 contract").unwrap();
    let r = w.run(&["backup", &sub]);
    ok(&r);
    let kinds: Vec<&str> = r.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2, "{}", r.json);
    assert!(
        kinds.contains(&"database") && kinds.contains(&"config"),
        "{}",
        r.json
    );
    for f in r.json["files"].as_array().unwrap() {
        let path = w.bench.path().join(f["path"].as_str().unwrap());
        assert_eq!(
            f["size"].as_u64().unwrap(),
            std::fs::metadata(&path).unwrap().len()
        );
        assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(&path));
        assert!(f.get("copiedTo").is_none());
    }
    let out = tempfile::tempdir().unwrap();
    // A second later Frappe names a new backup; wait for the next second so they differ.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = w.run(&[
        "backup",
        &sub,
        "--with-files",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    ok(&r);
    let got = r.json["files"].as_array().unwrap();
    assert_eq!(got.len(), 4, "{}", r.json);
    for f in got {
        let copy = Path::new(f["copiedTo"].as_str().unwrap());
        assert!(copy.starts_with(out.path()));
        assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(copy));
        assert_private(copy);
    }
    assert_eq!(w.bench.calls_of("backup"), 2);
}

/// A backup's copy holds the site's config (its database password, its encryption key) and
/// its customers' data: only the tool's own account may read it, whatever the umask.
fn assert_private(copy: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is mode {mode:o}", copy.display());
}

#[test]
fn backup_refuses_before_it_starts() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    refused(&w.run(&["backup", "no-such-tenant"]), 2, "INVALID_INPUT");
    refused(
        &w.run(&["backup", &sub, "--out", "/no/such/dir"]),
        2,
        "INVALID_INPUT",
    );
    {
        let _held = HeldLock::take(&w.bench.url, &site_lock_name(&site));
        refused(&w.run(&["backup", &sub]), 1, "SITE_BUSY");
    }
    // A suspended tenant is backed up all the same.
    ok(&w.run(&["suspend", &sub]));
    ok(&w.run(&["backup", &sub]));
    let r = w.run_env(&[("BENCH_DOUBLE_FAIL", "backup")], &["backup", &sub]);
    refused(&r, 1, "BENCH_FAILED");
    assert_eq!(w.bench.calls_of("backup"), 2);
}

#[test]
fn a_suspended_tenant_keeps_its_place_on_its_bench() {
    let w = World::new(&[]);
    let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench-double/bench");
    let bench_path = w.bench.path().display().to_string();
    ok(&w.run(&[
        "bench",
        "add",
        "only",
        "--bench-executor",
        "local",
        "--bench-bin",
        double.to_str().unwrap(),
        "--bench-path",
        &bench_path,
        "--frappe-url",
        &w.frappe.url,
        "--capacity",
        "1",
    ]));
    let sub = unique("t");
    let mut cmd = w.tool();
    provision_args(&mut cmd, &sub);
    cmd.args(["--bench", "only"]);
    ok(&run(cmd));
    ok(&w.run(&["suspend", &sub, "--bench", "only"]));
    // Placement counts it: the bench is full, so a sign-up finds no place.
    let mut cmd = w.tool();
    provision_args(&mut cmd, &unique("t"));
    cmd.args(["--bench", "auto"]);
    let r = run(cmd);
    refused(&r, 1, "CONFIG_ERROR");
    assert!(
        r.json["error"].as_str().unwrap().contains("at capacity"),
        "{}",
        r.json
    );
    // And the inventory keeps a bench that still holds it.
    let r = w.run(&["bench", "remove", "only"]);
    assert_ne!(r.code, 0, "{}", r.json);
    ok(&w.run(&["resume", &sub, "--bench", "only"]));
}

/// The tool reaching the bench through `docker compose exec`, played by
/// tests/executor-double over the bench double: the container paths of these commands
/// (`bench set-config`, `du`, `sha256sum` and `stat`, the chunked copy of a backup).
fn in_container(w: &World, args: &[&str]) -> Run {
    let doubles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/executor-double");
    let mut cmd = w.tool();
    cmd.env("PATH", search_path(&[&doubles]))
        .env("BENCH_EXECUTOR", "docker")
        .env("EXECUTOR_DOUBLE_WORKDIR", w.bench.path())
        .env_remove("BENCH_BIN")
        .env_remove("BENCH_PATH")
        .args(args);
    run(cmd)
}

#[test]
fn through_a_container_suspend_usage_and_backup_work_the_same() {
    let w = World::new(&[]);
    w.frappe.has_saas_settings();
    let sub = unique("t");
    let site = format!("{sub}.localhost");
    ok(&in_container(
        &w,
        &[
            "provision",
            &sub,
            "jane@acme.com",
            "Jane Roe",
            PASSWORD,
            "Acme Inc",
        ],
    ));
    let before = config(&w, &site);
    ok(&in_container(&w, &["suspend", &sub]));
    assert_eq!(config(&w, &site)["maintenance_mode"], 1);
    assert_eq!(ping(&w, &site).0, 503);
    ok(&in_container(&w, &["resume", &sub]));
    assert_eq!(config(&w, &site), before);

    let files = w.bench.site_dir(&site).join("public/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("a.bin"), vec![7u8; 2048]).unwrap();
    let r = in_container(&w, &["usage", &sub]);
    ok(&r);
    assert_eq!(r.json["tenants"][0]["publicFilesBytes"], 2048, "{}", r.json);
    assert_eq!(r.json["tenants"][0]["privateFilesBytes"], 0, "{}", r.json);
    ok(&in_container(
        &w,
        &[
            "plan",
            "set",
            &sub,
            "--plan-name",
            "Pro",
            "--max-users",
            "9",
            "--max-storage",
            "3",
        ],
    ));

    // A backup bigger than one chunk of the copy (8 MiB), to cross a chunk boundary.
    let private = w.bench.site_dir(&site).join("private/files");
    std::fs::create_dir_all(&private).unwrap();
    let big: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(private.join("big.bin"), big).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = in_container(
        &w,
        &[
            "backup",
            &sub,
            "--with-files",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    ok(&r);
    let got = r.json["files"].as_array().unwrap();
    assert_eq!(got.len(), 4, "{}", r.json);
    for f in got {
        let on_bench = w.bench.path().join(f["path"].as_str().unwrap());
        let copy = Path::new(f["copiedTo"].as_str().unwrap());
        assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(&on_bench));
        assert_eq!(sha256_hex(copy), sha256_hex(&on_bench));
        assert_eq!(
            f["size"].as_u64().unwrap(),
            std::fs::metadata(copy).unwrap().len()
        );
        assert_private(copy);
    }
    assert!(
        got.iter().any(|f| f["size"].as_u64().unwrap() > 9_000_000),
        "{}",
        r.json
    );
}
