//! Operating tenants after sign-up: `suspend` and `resume` (Frappe's maintenance mode and
//! the paused scheduler, restored exactly), and the registry status `suspended` that
//! `list`, `verify` and `cleanup` know. Black-box, against the bench double (its
//! `set-config` as Frappe's), the fake Frappe (a site in maintenance mode answers 503
//! `SessionStopped` before any auth, as Frappe v15 does) and the real MariaDB.

mod common;

use std::path::Path;

use common::*;
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

#[test]
fn suspend_and_resume_racing_end_with_one_winner_and_a_whole_state() {
    let w = World::new(&[]);
    let (sub, site) = tenant(&w);
    let pause = w.bench.path().join("pause-set-config");
    let mut cmd = w.tool();
    cmd.env("BENCH_DOUBLE_PAUSE_SET_CONFIG", &pause)
        .args(["suspend", &sub]);
    let child = spawn(cmd);
    let reached = Path::new(&format!("{}.reached", pause.display())).to_path_buf();
    wait_for("suspend is in its first set-config", 30, || {
        reached.exists()
    });
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
