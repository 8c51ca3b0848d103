//! Black-box tests of fast sign-up: `template build`/`status`, the standby pool (`pool
//! fill`/`status`/`drain` and claims by `provision`) and the tenant registry. The built
//! binary runs against the bench double, the fake Frappe (backed by each site's database)
//! and the real MariaDB. stdout JSON, stderr and the exit code are asserted separately.
//!
//! Every test has its own bench (so its own bench id) and its own registry database
//! (REGISTRY_DB), so tests running in parallel never claim each other's standbys, and
//! the shared `frappe_tenant` registry of the real bench is never touched.

use std::path::PathBuf;

use crate::common::*;

type Fast = World;
use serde_json::Value;

fn argv(call: &Value) -> Vec<String> {
    call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_for(what, 30, done);
}

fn site_of(sub: &str) -> String {
    format!("{sub}.localhost")
}

// ------------------------------------------------------------------ template

#[test]
fn a_template_round_trip_restores_a_scrubbed_dump_for_a_new_tenant() {
    // INSTALL_APPS' default, nexus_core, is on this bench: the template holds it too.
    let f = Fast::new(&["nexus_core"]);
    f.set_version("nexus_core", "1.2.0");
    let j = f.build_template();
    let t = &j["template"];
    let id = t["id"].as_str().unwrap().to_string();
    assert!(
        id.len() == 10
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{j}"
    );
    assert_eq!(j["usable"], true, "{j}");
    assert_eq!(
        t["sql"],
        format!("sites/.frappe-tenant/template-{id}.sql"),
        "{j}"
    );
    assert_eq!(
        t["apps"],
        serde_json::json!([
            {"app": "frappe", "version": "15.14.1"},
            {"app": "nexus_core", "version": "1.2.0"}
        ]),
        "{j}"
    );
    assert!(
        j["cleanup"]
            .as_array()
            .is_some_and(|c| !c.is_empty() && c.iter().all(|u| u["ok"] == true)),
        "the reference site must be dropped, every step ok: {j}"
    );

    // On disk: template.json describes this build; the dump is there, uncompressed; the
    // build's intermediate files are gone.
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(f.template_dir().join("template.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["id"], id.as_str());
    assert_eq!(meta["apps"], t["apps"]);
    // Read from the reference site's System Settings, as a fresh site of this bench has them.
    assert_eq!(
        meta["passwordPolicy"],
        serde_json::json!({"enabled": true, "minimumScore": 2})
    );
    let dump = std::fs::read_to_string(f.bench.path().join(t["sql"].as_str().unwrap())).unwrap();
    for leftover in [format!("build-{id}.sql.gz"), format!("build-{id}.sql")] {
        assert!(
            !f.template_dir().join(&leftover).exists(),
            "{leftover} left"
        );
    }

    // The reference site is gone from the bench and from MariaDB.
    let reference = format!("ft-template-{id}.localhost");
    let reference_db = f.bench.databases_of(&reference).pop().unwrap();
    assert_eq!(
        (
            f.bench.calls_of("new-site"),
            f.bench.calls_of("install-app"),
            f.bench.calls_of("backup")
        ),
        (1, 1, 1)
    );
    assert!(
        !f.bench.site_dir(&reference).exists(),
        "reference folder left"
    );
    assert!(
        f.bench.archived(&reference),
        "dropped through bench drop-site"
    );
    assert!(!database_exists(&reference_db), "reference database left");
    assert!(!db_user_exists(&reference_db), "reference DB user left");

    // The dump is a real one (Frappe's tables and data), yet carries no password hash:
    // every site restored from it would otherwise share the reference's Administrator.
    assert!(
        dump.contains("tabDefaultValue") && dump.contains("INSERT INTO `tabUser`"),
        "not a dump of the reference site: {} bytes",
        dump.len()
    );
    assert!(!dump.contains("pbkdf2"), "a password hash is in the dump");
    for line in dump
        .lines()
        .filter(|l| l.starts_with("INSERT INTO `__Auth`"))
    {
        assert!(
            !line.contains("'password'"),
            "a password row of __Auth is in the dump: {line}"
        );
    }

    // A tenant restored from it: new-site gets --source-sql and asks only the root
    // password; the tool writes the Administrator password itself (the fake's login
    // checks it against __Auth).
    let sub = unique("tpl");
    let site = site_of(&sub);
    let r = f.provision(&sub, &[("NO_POOL", "true")]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["success"], true);
    assert_eq!(r.json["path"], "template", "{}", r.json);
    assert_eq!(r.json["dbName"], f.bench.databases_of(&site).pop().unwrap());
    assert!(r.json.get("standbySite").is_none(), "{}", r.json);
    assert!(r.stderr.contains("(from the template)"), "{}", r.stderr);
    let call = f.new_site_call_for(&site);
    let args = argv(&call);
    let at = args.iter().position(|a| a == "--source-sql");
    assert_eq!(
        at.map(|i| args[i + 1].as_str()),
        t["sql"].as_str(),
        "{args:?}"
    );
    assert_eq!(
        call["stdin_lines"], 1,
        "only the root password is asked: {call}"
    );
    // The dump already has nexus_core: no install-app for the tenant.
    assert_eq!(f.bench.calls_of("install-app"), 1);
    assert!(
        r.json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| !w.as_str().unwrap().contains("nexus_core")),
        "{}",
        r.json
    );
    assert_eq!(f.row("site", &site)["path"], "template");
    f.frappe.assert_no_unexpected();

    let v = f.verify(&sub);
    assert_eq!(v.code, 0, "{}\n{}", v.json, v.stderr);
    assert_eq!(v.json["success"], true);
}

/// A build keeps the dump it made and the one before (a sign-up may be restoring from it
/// right now); older dumps are removed, or the bench's disk fills one build at a time.
#[test]
fn template_builds_keep_the_current_and_the_previous_dump_only() {
    let f = Fast::new(&["nexus_core"]);
    f.set_version("nexus_core", "1.2.0");
    let ids: Vec<String> = (0..3)
        .map(|_| {
            f.build_template()["template"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut dumps: Vec<String> = std::fs::read_dir(f.template_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql") || n.ends_with(".gz"))
        .collect();
    dumps.sort();
    let mut want = vec![
        format!("template-{}.sql", ids[1]),
        format!("template-{}.sql", ids[2]),
    ];
    want.sort();
    assert_eq!(dumps, want, "builds {ids:?}");
}

#[test]
fn a_template_build_without_version_files_fails_before_touching_anything() {
    // TestBench has no apps/ folder: the template could not say which versions it holds.
    let f = Fast::new(&[]);
    let r = f.run(&["template", "build"]);
    assert_eq!(r.code, 1, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["success"], false);
    assert_eq!(r.json["usable"], false);
    let error = r.json["error"].as_str().unwrap();
    assert!(
        error.contains("cannot read frappe's __version__"),
        "{error}"
    );
    assert!(
        r.stderr.contains("cannot read frappe's __version__"),
        "{}",
        r.stderr
    );
    assert!(f.bench.calls().is_empty(), "no reference site may be made");
    assert!(!f.template_dir().join("template.json").exists());
}

#[test]
fn a_stale_template_is_reported_and_provision_falls_back_to_a_fresh_site() {
    let f = Fast::new(&["nexus_core"]);
    f.set_version("nexus_core", "1.2.0");
    // The template holds frappe only (INSTALL_APPS=frappe): tenants that also get
    // nexus_core cannot use it.
    let frappe_only = [("INSTALL_APPS", "frappe")];
    f.set_version("frappe", "15.14.1");
    let r = f.run_env(&frappe_only, &["template", "build"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let sql_path = r.json["template"]["sql"].as_str().unwrap().to_string();

    // A fresh-path provision: new-site without --source-sql, asked the root password
    // and the Administrator password twice, and it succeeds.
    let fresh = |env: &[(&str, &str)], why: &str| {
        let sub = unique("stale");
        let site = site_of(&sub);
        let mut env = env.to_vec();
        env.push(("NO_POOL", "true"));
        let r = f.provision(&sub, &env);
        assert_eq!(r.code, 0, "{why}: {}\n{}", r.json, r.stderr);
        assert_eq!(r.json["path"], "fresh", "{why}: {}", r.json);
        assert!(
            r.stderr.contains("template not used"),
            "{why}: {}",
            r.stderr
        );
        let call = f.new_site_call_for(&site);
        assert!(
            !argv(&call).contains(&"--source-sql".to_string()),
            "{why}: {call}"
        );
        assert_eq!(call["stdin_lines"], 3, "{why}: {call}");
        assert_eq!(f.row("site", &site)["status"], "active", "{why}");
    };

    // Sanity: as built, the template is usable, so each change below is the cause.
    assert_eq!(f.template_status(&frappe_only)["usable"], true);

    // 1. frappe was upgraded on the bench.
    f.set_version("frappe", "15.15.0");
    let s = f.template_status(&frappe_only);
    assert_eq!(s["usable"], false, "{s}");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.contains("frappe") && reason.contains("15.15.0") && reason.contains("15.14.1"),
        "{reason}"
    );
    assert_eq!(s["template"]["apps"][0]["version"], "15.14.1", "{s}");
    fresh(&frappe_only, "frappe upgraded");
    f.set_version("frappe", "15.14.1");
    assert_eq!(f.template_status(&frappe_only)["usable"], true);

    // 2. INSTALL_APPS gains nexus_core, which apps.txt has and the template lacks.
    let with_nexus = [("INSTALL_APPS", "frappe,nexus_core")];
    let s = f.template_status(&with_nexus);
    assert_eq!(s["usable"], false, "{s}");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.contains("apps") && reason.contains("nexus_core"),
        "{reason}"
    );
    fresh(&with_nexus, "an app was added");
    assert_eq!(f.template_status(&frappe_only)["usable"], true);

    // 3. The dump was deleted.
    std::fs::remove_file(f.bench.path().join(&sql_path)).unwrap();
    let s = f.template_status(&frappe_only);
    assert_eq!(s["usable"], false, "{s}");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.contains("missing") && reason.contains(&sql_path),
        "{reason}"
    );
    fresh(&frappe_only, "the dump is gone");

    // Without any template.json at all.
    std::fs::remove_file(f.template_dir().join("template.json")).unwrap();
    let s = f.template_status(&frappe_only);
    assert_eq!(s["usable"], false, "{s}");
    assert!(s["template"].is_null(), "{s}");
    assert!(s["reason"].as_str().unwrap().contains("no template"), "{s}");
}

// ------------------------------------------------------------------ pool

#[test]
fn a_filled_pool_hands_its_oldest_standby_to_a_sign_up() {
    let f = Fast::new(&[]);
    let made = f.fill(2);
    assert_eq!(made.len(), 2);
    let rows = f.rows();
    assert_eq!(
        rows.iter().filter(|r| r["status"] == "standby").count(),
        2,
        "{rows:?}"
    );
    let status = f.pool_status();
    let standby = status["standby"].as_array().unwrap();
    assert_eq!(standby.len(), 2, "{status}");
    assert!(standby.iter().all(|s| s["healthy"] == true), "{status}");
    assert_eq!(status["claimed"].as_array().unwrap().len(), 0, "{status}");
    let (oldest, oldest_db) = made[0].clone();
    assert_eq!(
        standby[0]["site"],
        oldest.as_str(),
        "oldest first: {status}"
    );

    // Each standby is born with its encryption_key; the sign-up reads it, never rewrites it.
    let key_of = |site: &str| -> String {
        let p = f.bench.site_dir(site).join("site_config.json");
        let c: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        c["encryption_key"].as_str().unwrap_or_default().to_owned()
    };
    let oldest_key = key_of(&oldest);
    assert_eq!(oldest_key.len(), 44, "{oldest_key:?}");
    assert_ne!(oldest_key, key_of(&made[1].0), "one key per standby");

    let sub = unique("pool");
    let site = site_of(&sub);
    let r = f.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let j = &r.json;
    assert_eq!(j["path"], "pool", "{j}");
    assert_eq!(key_of(&site), oldest_key);
    assert_eq!(j["standbySite"], oldest.as_str(), "the oldest standby: {j}");
    assert_eq!(
        j["dbName"],
        oldest_db.as_str(),
        "the standby keeps its database: {j}"
    );
    assert!(
        r.stderr
            .contains(&format!("(standby {oldest} from the pool)")),
        "{}",
        r.stderr
    );
    // No new-site for the sign-up: only the two standbys were ever made.
    assert_eq!(f.bench.calls_of("new-site"), 2);
    assert!(f.bench.site_dir(&site).join("site_config.json").exists());
    assert!(
        !f.bench.site_dir(&oldest).exists(),
        "the standby folder moved"
    );
    assert!(database_exists(&oldest_db) && db_user_exists(&oldest_db));

    let row = f.row("site", &site);
    assert_eq!(row["status"], "active", "{row}");
    assert_eq!(row["email"], "jane@acme.com", "{row}");
    assert_eq!(row["organization"], "Acme Inc", "{row}");
    assert_eq!(row["standby_site"], oldest.as_str(), "{row}");
    assert_eq!(row["db_name"], oldest_db.as_str(), "{row}");

    let v = f.verify(&sub);
    assert_eq!(v.code, 0, "{}\n{}", v.json, v.stderr);
    assert_eq!(v.json["dbName"], oldest_db.as_str());
    assert_eq!(f.standby_sites(), vec![made[1].0.clone()]);
    f.frappe.assert_no_unexpected();
    // The registry tells how the tenant was made as the JSON did: its `path` column has
    // 'pool' for exactly this (nothing else could ever write it).
    assert_eq!(f.row("site", &site)["path"], "pool", "{}", j);
}

#[test]
fn concurrent_claims_never_share_a_standby() {
    let f = Fast::new(&[]);
    let made = f.fill(3);
    let subs: Vec<String> = (0..4).map(|_| unique("cc")).collect();
    let children: Vec<_> = subs
        .iter()
        .map(|s| {
            let mut cmd = f.tool();
            provision_args(&mut cmd, s);
            spawn(cmd)
        })
        .collect();
    let results: Vec<Run> = children.into_iter().map(finish).collect();
    for r in &results {
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    }
    let mut claimed: Vec<String> = results
        .iter()
        .filter(|r| r.json["path"] == "pool")
        .map(|r| r.json["standbySite"].as_str().unwrap().to_string())
        .collect();
    claimed.sort();
    let mut standbys: Vec<String> = made.iter().map(|(s, _)| s.clone()).collect();
    standbys.sort();
    assert_eq!(claimed, standbys, "each standby exactly once");
    let others: Vec<&Run> = results
        .iter()
        .filter(|r| r.json["path"] != "pool")
        .collect();
    assert_eq!(others.len(), 1);
    assert!(
        ["template", "fresh"].contains(&others[0].json["path"].as_str().unwrap()),
        "{}",
        others[0].json
    );
    // Four tenants on four distinct databases.
    let mut dbs: Vec<&str> = results
        .iter()
        .map(|r| r.json["dbName"].as_str().unwrap())
        .collect();
    dbs.sort();
    dbs.dedup();
    assert_eq!(dbs.len(), 4, "{dbs:?}");
    assert!(f.standby_sites().is_empty(), "no standby left");
    for s in &subs {
        assert!(f.bench.site_dir(&site_of(s)).exists());
    }
}

#[test]
fn a_claim_failing_after_the_rename_drops_the_site_and_never_returns_it() {
    let mut f = Fast::new(&[]);
    let made = f.fill(1);
    let (standby, standby_db) = made[0].clone();
    f.frappe = FakeFrappe::start(&f.bench)
        .inject("create-user", Inject::Fixture("create-user-weak-password"));
    let sub = unique("fail");
    let site = site_of(&sub);
    let r = f.provision(&sub, &[]);
    let j = &r.json;
    assert_eq!(r.code, 3, "{j}\n{}", r.stderr);
    assert_eq!(j["success"], false);
    assert_eq!(j["code"], "API_ERROR", "{j}");
    assert_eq!(j["step"], "create-user", "{j}");
    assert_eq!(j["path"], "pool", "{j}");
    let rollback = j["rollback"].as_array().unwrap();
    assert!(rollback.iter().all(|u| u["ok"] == true), "{j}");
    assert!(
        rollback
            .iter()
            .any(|u| u["action"] == format!("bench drop-site {site}")),
        "{j}"
    );
    // Gone under both names, database and DB user too: never half-renamed, never
    // handed back to the pool with a tenant's half-made user in it.
    assert!(!f.bench.site_dir(&site).exists(), "tenant folder left");
    assert!(!f.bench.site_dir(&standby).exists(), "standby folder back");
    assert!(f.bench.archived(&site));
    assert!(!database_exists(&standby_db), "standby database left");
    assert!(!db_user_exists(&standby_db), "standby DB user left");
    let row = f.row("db_name", &standby_db);
    assert_eq!(row["status"], "rolled_back", "{row}");
    assert_eq!(row["site"], site.as_str(), "{row}");
    assert_eq!(row["standby_site"], standby.as_str(), "{row}");
    let status = f.pool_status();
    assert_eq!(status["standby"].as_array().unwrap().len(), 0, "{status}");
    assert_eq!(status["claimed"].as_array().unwrap().len(), 0, "{status}");
}

#[test]
fn a_broken_standby_is_marked_failed_and_the_next_one_is_used() {
    let f = Fast::new(&[]);
    let made = f.fill(2);
    let (broken, broken_db) = made[0].clone();
    let (next, next_db) = made[1].clone();
    // The oldest standby loses its folder behind the tool's back: the claim finds it
    // broken before any rename.
    std::fs::remove_dir_all(f.bench.site_dir(&broken)).unwrap();

    let sub = unique("next");
    let site = site_of(&sub);
    let r = f.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["path"], "pool", "{}", r.json);
    assert_eq!(r.json["standbySite"], next.as_str(), "{}", r.json);
    assert_eq!(r.json["dbName"], next_db.as_str(), "{}", r.json);
    assert!(
        r.stderr.contains(&format!("standby {broken} is broken")),
        "{}",
        r.stderr
    );
    let row = f.row("db_name", &broken_db);
    assert_eq!(row["status"], "failed", "{row}");
    assert!(
        row["error"].as_str().unwrap().contains("standby broken"),
        "{row}"
    );
    assert_eq!(f.row("db_name", &next_db)["status"], "active");
    // The broken standby is not handed out again, nor shown as ready.
    assert!(f.standby_sites().is_empty());
    assert!(f.bench.site_dir(&site).exists());
    let v = f.verify(&sub);
    assert_eq!(v.code, 0, "{}\n{}", v.json, v.stderr);
}

#[test]
fn a_broken_standby_marked_failed_is_removed_by_cleanup_orphans_alone() {
    let f = Fast::new(&[]);
    let made = f.fill(2);
    let (broken, broken_db) = made[0].clone();
    std::fs::remove_dir_all(f.bench.site_dir(&broken)).unwrap();
    let sub = unique("orph");
    let site = site_of(&sub);
    let r = f.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(database_exists(&broken_db), "only its folder was removed");

    assert_eq!(f.row("db_name", &broken_db)["status"], "failed");

    // pool.rs: a standby found broken is marked failed and cleanup --orphans removes it.
    let c = f.run(&["cleanup", "--orphans", "--db-pattern", &broken_db, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_eq!(c.json["success"], true, "{}", c.json);
    assert_eq!(c.json["failed"].as_array().unwrap().len(), 0, "{}", c.json);
    assert!(!database_exists(&broken_db), "{}", c.json);
    assert!(!db_user_exists(&broken_db), "{}", c.json);
    // The tenant is untouched.
    assert!(f.bench.site_dir(&site).join("site_config.json").exists());
    let v = f.verify(&sub);
    assert_eq!(v.code, 0, "{}\n{}", v.json, v.stderr);
    // The failed row describes the standby, not the tenant who never got it: it names
    // the standby and carries none of the tenant's details.
    let row = f.row("db_name", &broken_db);
    assert_eq!(row["site"], broken.as_str(), "{row}");
    assert!(
        row["email"].is_null() && row["organization"].is_null(),
        "{row}"
    );
}

#[test]
fn a_claim_killed_after_the_rename_is_resolved_by_cleanup_orphans() {
    let mut f = Fast::new(&[]);
    let made = f.fill(1);
    let (standby, standby_db) = made[0].clone();
    f.frappe = FakeFrappe::start(&f.bench).inject("create-user", Inject::Hang);
    let sub = unique("kill");
    let site = site_of(&sub);
    let mut cmd = f.tool();
    provision_args(&mut cmd, &sub);
    let mut child = spawn(cmd);
    // create-user is sent after the rename and the new Administrator password.
    wait_until("create-user is sent", || f.frappe.calls("create-user") >= 1);
    child.kill().unwrap(); // SIGKILL: no rollback can run
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), None, "killed by a signal");
    assert!(out.stdout.is_empty(), "a killed run prints no JSON");

    let row = f.row("db_name", &standby_db);
    assert_eq!(row["status"], "claimed", "{row}");
    assert_eq!(row["site"], site.as_str(), "{row}");
    assert_eq!(row["standby_site"], standby.as_str(), "{row}");
    assert_eq!(row["step"], "user", "where it stopped: {row}");
    assert!(f.bench.site_dir(&site).exists() && !f.bench.site_dir(&standby).exists());
    let status = f.pool_status();
    assert_eq!(status["claimed"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["standby"].as_array().unwrap().len(), 0, "{status}");

    // The dead run's MariaDB session (and its site lock) ends when the server notices
    // the closed socket; a cleanup before that would rightly skip the site as busy.
    let lock = site_lock_name(&site);
    wait_until("the killed run's site lock is free", || {
        sql_value("SELECT IS_FREE_LOCK(?)", vec![lock.clone().into()]).as_deref() == Some("1")
    });
    let c = f.run(&["cleanup", "--orphans", "--db-pattern", &standby_db, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_eq!(c.json["success"], true, "{}", c.json);
    let dropped = c.json["dropped"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "{}", c.json);
    assert_eq!(dropped[0]["kind"], "run", "{}", c.json);
    assert_eq!(dropped[0]["name"], site.as_str(), "{}", c.json);
    assert!(!f.bench.site_dir(&site).exists(), "tenant folder left");
    assert!(!f.bench.site_dir(&standby).exists(), "standby folder back");
    assert!(!database_exists(&standby_db), "database left");
    assert!(!db_user_exists(&standby_db), "DB user left");
    let row = f.row("db_name", &standby_db);
    assert_eq!(row["status"], "rolled_back", "{row}");
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("resolved by cleanup --orphans"),
        "{row}"
    );
    assert!(f.pool_status()["claimed"].as_array().unwrap().is_empty());
}

/// What a run killed between its claim and its rename leaves: the claim's own UPDATE (the
/// standby's row names the tenant `sub`), the standby whole under its own name.
fn claimed_by_a_killed_run(f: &Fast, sub: &str, standby_db: &str) {
    let claim = format!(
        "UPDATE `{}`.tenants SET status = 'claimed', step = 'claim', standby_site = site, \
         site = ?, subdomain = ?, organization = 'Acme', email = 'a@example.com' \
         WHERE db_name = ?",
        f.registry
    );
    sql_at(
        f.url(),
        &claim,
        vec![site_of(sub).into(), sub.into(), standby_db.into()],
    );
}

#[test]
fn a_claim_killed_before_the_rename_puts_its_standby_back() {
    let f = Fast::new(&[]);
    let made = f.fill(1);
    let (standby, standby_db) = made[0].clone();
    let sub = unique("kill");
    let site = site_of(&sub);
    // What a run killed between its claim and its rename leaves: the claim's own UPDATE
    // (the row names the tenant, the standby whole under its own name), no tenant folder.
    claimed_by_a_killed_run(&f, &sub, &standby_db);
    assert!(f.pool_status()["standby"].as_array().unwrap().is_empty());

    let c = f.run(&["cleanup", "--orphans", "--db-pattern", &standby_db, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    // The standby is the pool's again, whole: nothing of it dropped.
    assert_eq!(f.standby_sites(), vec![standby.clone()], "{}", c.json);
    assert!(f.bench.site_dir(&standby).join("site_config.json").exists());
    assert!(!f.bench.site_dir(&site).exists());
    assert!(database_exists(&standby_db), "{}", c.json);
    assert!(db_user_exists(&standby_db), "{}", c.json);
    let row = f.row("db_name", &standby_db);
    assert_eq!(row["site"], standby.as_str(), "{row}");
    assert!(
        row["email"].is_null() && row["organization"].is_null(),
        "{row}"
    );
    // And it serves the next sign-up.
    let r = f.provision(&unique("next"), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["path"], "pool", "{}", r.json);
}

/// A copy of a standby's site, put by hand beside it, names the standby's database: the
/// drain leaves that database (and the copy) alone, and says why.
#[test]
fn a_drain_keeps_a_standbys_database_another_site_names() {
    let f = Fast::new(&[]);
    let made = f.fill(1);
    let (standby, standby_db) = made[0].clone();
    let copy = site_of(&unique("copy"));
    std::fs::create_dir_all(f.bench.site_dir(&copy)).unwrap();
    std::fs::write(
        f.bench.site_dir(&copy).join("site_config.json"),
        serde_json::json!({"db_name": standby_db}).to_string(),
    )
    .unwrap();
    let r = f.run(&["pool", "drain"]);
    std::fs::remove_dir_all(f.bench.site_dir(&copy)).unwrap();
    assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(database_exists(&standby_db), "{}", r.json);
    assert!(f.bench.site_dir(&standby).exists(), "{}", r.json);
    assert!(
        r.json["failed"].to_string().contains(&copy),
        "the failure names the site that keeps it: {}",
        r.json
    );
}

/// The killed claim's row is closed by someone else (an operator, by hand) during the
/// cleanup's countdown: putting the standby back then changes no row, and that is a
/// failure the item says, not a standby reported back in the pool.
#[test]
fn putting_back_a_standby_whose_row_changed_meanwhile_is_a_failure() {
    let f = Fast::new(&[]);
    let made = f.fill(1);
    let (standby, standby_db) = made[0].clone();
    let sub = unique("kill");
    claimed_by_a_killed_run(&f, &sub, &standby_db);

    let mut cmd = f.tool();
    cmd.args(["cleanup", "--orphans", "--db-pattern", &standby_db]);
    let w = Watched::counting_down(cmd);
    let close = format!(
        "UPDATE `{}`.tenants SET status = 'failed' WHERE db_name = ?",
        f.registry
    );
    sql_at(f.url(), &close, vec![standby_db.clone().into()]);
    let c = w.finish();
    assert_ne!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert_eq!(
        c.json["failed"][0]["name"],
        site_of(&sub).as_str(),
        "{}",
        c.json
    );
    assert!(
        c.json["failed"][0]["actions"]
            .to_string()
            .contains("no longer as this step needs it"),
        "{}",
        c.json
    );
    // Nothing of the standby was removed, and the row is as it was left.
    assert!(f.bench.site_dir(&standby).join("site_config.json").exists());
    assert!(database_exists(&standby_db), "{}", c.json);
    assert_eq!(f.row("db_name", &standby_db)["status"], "failed");
}

#[test]
fn a_claimed_standby_whose_folder_is_gone_is_undone_not_put_back() {
    let f = Fast::new(&[]);
    let made = f.fill(1);
    let (standby, standby_db) = made[0].clone();
    let sub = unique("kill");
    // A claim killed, and the standby's folder gone since (removed by hand): there is
    // nothing whole to give back to the pool.
    claimed_by_a_killed_run(&f, &sub, &standby_db);
    std::fs::remove_dir_all(f.bench.site_dir(&standby)).unwrap();

    let c = f.run(&["cleanup", "--orphans", "--db-pattern", &standby_db, "--yes"]);
    assert_eq!(c.code, 0, "{}\n{}", c.json, c.stderr);
    assert!(f.standby_sites().is_empty(), "{}", c.json);
    assert!(!database_exists(&standby_db), "{}", c.json);
    assert_eq!(
        f.row("db_name", &standby_db)["status"],
        "rolled_back",
        "{}",
        c.json
    );
}

#[test]
fn pool_drain_drops_every_standby_of_this_bench_and_no_tenant() {
    let f = Fast::new(&[]);
    let made = f.fill(3);
    // An active tenant made from a standby (it keeps the standby's database), one made
    // fresh, and another bench's standby on the same registry: none may be drained.
    let pooled = unique("keep");
    let r = f.provision(&pooled, &[]);
    assert_eq!(
        (r.code, &r.json["path"]),
        (0, &Value::from("pool")),
        "{}",
        r.json
    );
    let pooled_db = r.json["dbName"].as_str().unwrap().to_string();
    let fresh = unique("keep");
    let r = f.provision(&fresh, &[("NO_POOL", "true")]);
    assert_eq!(
        (r.code, &r.json["path"]),
        (0, &Value::from("fresh")),
        "{}",
        r.json
    );
    let other = Fast::sharing_registry(&[], &f.registry);
    let other_made = other.fill(1);

    let left: Vec<(String, String)> = made
        .iter()
        .filter(|(_, d)| *d != pooled_db)
        .cloned()
        .collect();
    assert_eq!(left.len(), 2);
    let r = f.run(&["pool", "drain"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let j = &r.json;
    assert_eq!(
        (j["success"].as_bool(), j["dryRun"].as_bool()),
        (Some(true), Some(false)),
        "{j}"
    );
    let mut dropped: Vec<&str> = j["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    dropped.sort();
    let mut want: Vec<&str> = left.iter().map(|(s, _)| s.as_str()).collect();
    want.sort();
    assert_eq!(dropped, want, "{j}");
    assert!(j["failed"].as_array().unwrap().is_empty(), "{j}");
    for (standby, db) in &left {
        assert!(!f.bench.site_dir(standby).exists(), "{standby} folder left");
        assert!(f.bench.archived(standby), "{standby} not dropped by bench");
        assert!(!database_exists(db), "{db} left");
        assert!(!db_user_exists(db), "{db} user left");
        assert_eq!(f.row("db_name", db)["status"], "dropped");
    }
    assert!(f.pool_status()["standby"].as_array().unwrap().is_empty());

    for (sub, db) in [
        (&pooled, pooled_db.clone()),
        (
            &fresh,
            f.bench.databases_of(&site_of(&fresh)).pop().unwrap(),
        ),
    ] {
        assert!(
            f.bench.site_dir(&site_of(sub)).exists(),
            "{sub} was drained"
        );
        assert!(database_exists(&db) && db_user_exists(&db), "{sub}");
        assert_eq!(f.row("db_name", &db)["status"], "active");
        let v = f.verify(sub);
        assert_eq!(v.code, 0, "{}\n{}", v.json, v.stderr);
    }
    // The other bench's standby is still ready.
    assert_eq!(other.standby_sites(), vec![other_made[0].0.clone()]);
    assert!(database_exists(&other_made[0].1));
}

// ------------------------------------------------------ a MariaDB admin not named root

/// The site folder, database and DB user of `site` are all gone.
fn nothing_left(f: &Fast, site: &str, db: &str) {
    assert!(!f.bench.site_dir(site).exists(), "{site} folder left");
    assert!(!database_exists(db), "{db} left");
    assert!(!db_user_exists(db), "{db} user left");
}

/// Provisions a tenant with `env`, then removes it with `cleanup --pattern`; returns the
/// cleanup's run (asserted exit 0), the site and its database.
fn provision_and_clean_up(f: &Fast, env: &[(&str, &str)]) -> (Run, String, String) {
    let sub = unique("adm");
    let r = f.provision(&sub, env);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let r = f.run_env(env, &["cleanup", "--pattern", &sub, "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let db = f.bench.databases_of(&site_of(&sub)).pop().unwrap();
    (r, site_of(&sub), db)
}

#[test]
fn with_a_non_root_admin_account_cleanup_succeeds_and_the_registry_says_dropped() {
    let admin = AdminAccount::create();
    let f = Fast::new(&[]);
    let url = admin.url();
    let env = [("MARIADB_URL", url.as_str())];
    let (r, site, db) = provision_and_clean_up(&f, &env);
    let j = &r.json;
    assert_eq!(j["success"], true, "{j}");
    assert_eq!(j["dropped"][0]["name"], site.as_str(), "{j}");
    assert_eq!(j["dropped"][0]["removedBy"], "mariadb", "{j}");
    assert!(j["failed"].as_array().unwrap().is_empty(), "{j}");
    let warnings = j["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{j}");
    assert!(warnings[0].as_str().unwrap().contains(&admin.user), "{j}");
    assert_eq!(f.bench.calls_of("drop-site"), 0);
    nothing_left(&f, &site, &db);
    assert_eq!(f.row("db_name", &db)["status"], "dropped");

    let r = f.run_env(&env, &["list", "--json"]);
    assert!(
        !r.json["sites"].to_string().contains(&site),
        "an ended tenant is listed only with --all: {}",
        r.json
    );
    let r = f.run_env(&env, &["list", "--json", "--all"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let listed: Vec<&Value> = r.json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["site"] == site.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{}", r.json);
    assert_eq!(
        (
            &listed[0]["status"],
            &listed[0]["folder"],
            &listed[0]["database"]
        ),
        (
            &Value::from("dropped"),
            &Value::from(false),
            &Value::from(false)
        ),
        "{}",
        r.json
    );
}

#[test]
fn with_a_non_root_admin_account_pool_drain_drops_and_marks_every_standby() {
    let admin = AdminAccount::create();
    let f = Fast::new(&[]);
    let url = admin.url();
    let env = [("MARIADB_URL", url.as_str())];
    let r = f.run_env(&env, &["pool", "fill", "--size", "2"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let made: Vec<(String, String)> = r.json["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["site"].as_str().unwrap().into(),
                m["dbName"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(made.len(), 2, "{}", r.json);

    let r = f.run_env(&env, &["pool", "drain"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let j = &r.json;
    assert_eq!(j["dropped"].as_array().unwrap().len(), 2, "{j}");
    assert!(j["failed"].as_array().unwrap().is_empty(), "{j}");
    assert_eq!(j["warnings"].as_array().unwrap().len(), 1, "{j}");
    for item in j["dropped"].as_array().unwrap() {
        assert_eq!(item["removedBy"], "mariadb", "{j}");
    }
    for (site, db) in &made {
        nothing_left(&f, site, db);
        assert_eq!(f.row("db_name", db)["status"], "dropped");
    }
}

#[test]
fn bench_drop_site_runs_when_a_database_is_named_like_the_admin_account() {
    // The workaround Frappe v15's drop-site allows: with such a database it connects.
    let admin = AdminAccount::create();
    sql(&format!("CREATE DATABASE `{}`", admin.user));
    let f = Fast::new(&[]);
    let url = admin.url();
    let env = [("MARIADB_URL", url.as_str())];
    let (r, site, db) = provision_and_clean_up(&f, &env);
    assert_eq!(r.json["dropped"][0]["removedBy"], "bench", "{}", r.json);
    assert!(
        r.json["warnings"].as_array().unwrap().is_empty(),
        "{}",
        r.json
    );
    assert_eq!(f.bench.calls_of("drop-site"), 1);
    assert!(f.bench.archived(&site), "bench did not archive {site}");
    nothing_left(&f, &site, &db);
    assert_eq!(f.row("db_name", &db)["status"], "dropped");
}

#[test]
fn cleanup_orphans_marks_dropped_an_active_row_whose_site_is_gone() {
    // What a removal outside the tool (or an older version of it) leaves: a row that
    // says active for a tenant with no folder, no database and no DB user.
    let f = Fast::new(&[]);
    let sub = unique("gone");
    let r = f.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let (site, db) = (
        site_of(&sub),
        r.json["dbName"].as_str().unwrap().to_string(),
    );
    std::fs::remove_dir_all(f.bench.site_dir(&site)).unwrap();
    drop_database_and_user_at(f.url(), &db);
    assert_eq!(f.row("db_name", &db)["status"], "active");

    let r = f.run(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["dropped"][0]["kind"], "row", "{}", r.json);
    assert_eq!(f.row("db_name", &db)["status"], "dropped");
}

// ------------------------------------------------------------------ provision --dry-run

/// Everything a dry run could change: every file under the bench (path, size, mtime),
/// the server's databases and accounts, and this test's registry rows.
fn snapshot(f: &Fast) -> (Vec<String>, Vec<String>, Vec<String>, Vec<Value>) {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            out.push(format!(
                "{} {} {:?}",
                e.path().display(),
                m.len(),
                m.modified().ok()
            ));
            if m.is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    let mut files = vec![];
    walk(f.bench.path(), &mut files);
    files.retain(|l| !l.contains("bench-calls.jsonl"));
    files.sort();
    let column = |q: &str| -> Vec<String> {
        let mut v: Vec<String> = f
            .sql(q, vec![])
            .iter()
            .map(|r| cell(r.as_ref(0).unwrap()))
            .collect();
        v.sort();
        v
    };
    let dbs = column("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA");
    let users = column("SELECT CONCAT(User, '@', Host) FROM mysql.user");
    let rows = if dbs.contains(&f.registry) {
        f.rows()
    } else {
        vec![]
    };
    (files, dbs, users, rows)
}

/// `provision --dry-run` for `sub`, asserted to change nothing and run no bench command.
fn dry_run(f: &Fast, sub: &str) -> Run {
    let before = snapshot(f);
    let calls = f.bench.calls().len();
    let mut cmd = f.tool();
    provision_args(&mut cmd, sub);
    cmd.arg("--dry-run");
    let r = run(cmd);
    assert_eq!(
        f.bench.calls().len(),
        calls,
        "a dry run ran bench: {:?}",
        f.bench.calls()
    );
    let after = snapshot(f);
    // The test's server is its own: every database and account counts.
    assert_eq!(before.0, after.0, "the bench's files changed");
    assert_eq!(before.1, after.1, "databases changed");
    assert_eq!(before.2, after.2, "DB accounts changed");
    assert_eq!(before.3, after.3, "registry rows changed");
    r
}

#[test]
fn a_dry_run_plans_each_path_and_changes_nothing() {
    let f = Fast::alone(&[]);
    // A bench the tool never saw: no registry, no bench id, no template.
    let sub = unique("plan");
    let r = dry_run(&f, &sub);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        (&r.json["dryRun"], &r.json["path"], &r.json["site"]),
        (
            &Value::from(true),
            &Value::from("fresh"),
            &Value::from(site_of(&sub))
        ),
        "{}",
        r.json
    );
    assert_eq!(r.json["steps"].as_array().unwrap().len(), 6, "{}", r.json);
    assert!(
        !database_exists_at(f.url(), &f.registry),
        "a dry run created the registry"
    );

    f.build_template();
    let r = dry_run(&f, &sub);
    assert_eq!(
        (r.code, &r.json["path"]),
        (0, &Value::from("template")),
        "{}",
        r.json
    );

    let made = f.fill(1);
    let r = dry_run(&f, &sub);
    assert_eq!(
        (r.code, &r.json["path"]),
        (0, &Value::from("pool")),
        "{}",
        r.json
    );
    assert_eq!(r.json["standbySite"], made[0].0.as_str(), "{}", r.json);
    assert_eq!(r.json["dbName"], made[0].1.as_str(), "{}", r.json);
    // The standby is still there for a real sign-up, which takes the planned path.
    assert_eq!(f.standby_sites(), vec![made[0].0.clone()]);
    let real = f.provision(&sub, &[]);
    assert_eq!(
        (real.code, &real.json["path"]),
        (0, &Value::from("pool")),
        "{}",
        real.json
    );

    // What the real run refuses before touching anything, the dry run refuses alike.
    let r = dry_run(&f, &sub);
    assert_eq!(
        (r.code, &r.json["code"]),
        (1, &Value::from("SITE_EXISTS")),
        "{}",
        r.json
    );
    let mut weak = f.tool();
    provision_args_with(&mut weak, &unique("weak"), "password1");
    weak.arg("--dry-run");
    let r = run(weak);
    assert_eq!(
        (r.code, &r.json["code"]),
        (2, &Value::from("INVALID_INPUT")),
        "{}",
        r.json
    );
}

// ------------------------------------------------------------------ password policy

/// A password the seed rule allows whose zxcvbn score (for the test user) is 2 or 3:
/// a fresh site accepts it, a site asking for 4 refuses it.
fn medium_password() -> &'static str {
    let p = "Lantern2019x";
    let s = frappe_password::frappe_strength(p, "Jane", "Roe", "jane@acme.com");
    assert!((2..=3).contains(&s.score), "{p} scores {}", s.score);
    p
}

fn provision_with_password(f: &Fast, sub: &str, password: &str) -> Run {
    let mut cmd = f.tool();
    provision_args_with(&mut cmd, sub, password);
    run(cmd)
}

fn set_template_policy(f: &Fast, policy: Value) {
    let path = f.template_dir().join("template.json");
    let mut meta: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    meta["passwordPolicy"] = policy;
    std::fs::write(&path, meta.to_string()).unwrap();
}

/// Changes one System Settings value in the template's dump, as if its reference site
/// had been built with it.
fn set_template_dump_setting(f: &Fast, field: &str, from: &str, to: &str) {
    let dump = std::fs::read_dir(f.template_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sql"))
        .expect("the template's dump");
    let text = std::fs::read_to_string(&dump).unwrap();
    let (was, now) = (
        format!("'System Settings','{field}','{from}'"),
        format!("'System Settings','{field}','{to}'"),
    );
    assert!(text.contains(&was), "{field}={from} not in the dump");
    std::fs::write(&dump, text.replace(&was, &now)).unwrap();
}

#[test]
fn the_benchs_recorded_password_policy_decides_before_anything_is_made() {
    let f = Fast::new(&[]);
    f.build_template();
    let calls = f.new_site_calls().len();
    // A policy asking for 4 refuses what a fresh site's default (2) accepts.
    set_template_policy(&f, serde_json::json!({"enabled": true, "minimumScore": 4}));
    let r = provision_with_password(&f, &unique("pol"), medium_password());
    assert_eq!(
        (r.code, &r.json["code"]),
        (2, &Value::from("INVALID_INPUT")),
        "{}",
        r.json
    );
    assert!(
        r.json["error"].as_str().unwrap().contains("at least 4"),
        "{}",
        r.json
    );
    assert_eq!(
        f.new_site_calls().len(),
        calls,
        "a refused sign-up ran new-site"
    );
    // No policy at all accepts a password the default refuses. The template's sites
    // must really have none (the fake Frappe holds each site to its own System
    // Settings), as a template built from a reference site without one would.
    set_template_policy(&f, serde_json::json!({"enabled": false, "minimumScore": 0}));
    set_template_dump_setting(&f, "enable_password_policy", "1", "0");
    let weak = "Password123";
    let r = provision_with_password(&f, &unique("pol"), weak);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    // The dry run judges the same way and says under which policy.
    let mut cmd = f.tool();
    provision_args(&mut cmd, &unique("pol"));
    cmd.arg("--dry-run");
    let r = run(cmd);
    assert_eq!(
        r.json["passwordPolicy"],
        serde_json::json!({"enabled": false, "minimumScore": 0})
    );
}

#[test]
fn a_standby_whose_policy_was_tightened_refuses_and_goes_back_to_the_pool() {
    let f = Fast::new(&[]);
    let made = f.fill(1);
    let (standby, db) = &made[0];
    sql(&format!(
        "UPDATE `{db}`.tabSingles SET value = '4' WHERE doctype = 'System Settings' AND field = 'minimum_password_score'"
    ));
    let r = provision_with_password(&f, &unique("pol"), medium_password());
    assert_eq!(r.json["code"], "INVALID_INPUT", "{}", r.json);
    assert_eq!(r.json["field"], "password", "{}", r.json);
    // The person is told about their password; the operator which standby's policy it was.
    assert!(
        r.stderr
            .contains(&format!("under standby {standby}'s policy")),
        "{}",
        r.stderr
    );
    // Refused input, exit 2: the claim was undone before the standby's folder moved, so
    // nothing is changed.
    assert_eq!(r.code, 2, "{}", r.json);
    assert_eq!(
        r.json["rollback"][0]["action"],
        format!("return standby {standby} to the pool").as_str()
    );
    assert_eq!(f.standby_sites(), vec![standby.clone()]);
    assert!(f.bench.site_dir(standby).exists());
}

// ------------------------------------------------------------------ registry

#[test]
fn the_registry_never_holds_a_secret() {
    let mut f = Fast::new(&[]);
    let ok_sub = unique("sec");
    let ok = f.provision(&ok_sub, &[]);
    assert_eq!(ok.code, 0, "{}\n{}", ok.json, ok.stderr);
    assert_eq!(ok.json["path"], "fresh");
    let api_secret = ok.json["apiSecret"].as_str().unwrap().to_string();
    let read_admin = |dir: PathBuf| {
        let p = std::fs::read_to_string(dir.join(".double_admin_password")).unwrap();
        assert!(
            p.trim().len() >= 16,
            "a real per-site Administrator password"
        );
        p.trim().to_string()
    };
    let ok_admin = read_admin(f.bench.site_dir(&site_of(&ok_sub)));

    f.frappe = FakeFrappe::start(&f.bench)
        .inject("create-user", Inject::Fixture("create-user-weak-password"));
    let bad_sub = unique("sec");
    let bad_site = site_of(&bad_sub);
    let bad = f.provision(&bad_sub, &[]);
    assert_eq!(bad.code, 3, "{}\n{}", bad.json, bad.stderr);
    // bench drop-site archived the folder, the Administrator password file with it.
    let bad_admin = read_admin(f.bench.path().join("archived/sites").join(&bad_site));

    let rows = f.rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let failed = f.row("site", &bad_site);
    assert_eq!(failed["status"], "rolled_back", "{failed}");
    assert_eq!(failed["step"], "user", "{failed}");
    assert_eq!(failed["error"], bad.json["error"], "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("easy to guess"),
        "{failed}"
    );

    // Every column of every row, as text.
    let all = sql(&format!("SELECT * FROM `{}`.tenants", f.registry));
    assert_eq!(all.len(), 2);
    let mut text = String::new();
    let columns = sql_value(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'tenants'",
        vec![f.registry.clone().into()],
    );
    for row in &all {
        assert_eq!(Some(row.len().to_string()), columns, "every column is read");
        for i in 0..row.len() {
            text.push_str(&cell(row.as_ref(i).unwrap()));
            text.push('\n');
        }
    }
    assert!(
        text.contains("jane@acme.com"),
        "the scan reads the rows: {text}"
    );
    for (what, secret) in [
        ("the user's password", PASSWORD),
        ("the API secret", api_secret.as_str()),
        ("the Administrator password", ok_admin.as_str()),
        (
            "the failed site's Administrator password",
            bad_admin.as_str(),
        ),
    ] {
        assert!(!text.contains(secret), "{what} is in the registry");
    }

    // A sign-up refused before anything is made leaves no row.
    let taken = unique("sec");
    let dir = f.bench.site_dir(&site_of(&taken));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("site_config.json"),
        "{\"db_name\":\"someone_elses\"}",
    )
    .unwrap();
    let r = f.provision(&taken, &[]);
    assert_eq!(
        (r.code, r.json["code"].as_str()),
        (1, Some("SITE_EXISTS")),
        "{}",
        r.json
    );
    assert_eq!(f.rows().len(), 2, "{:?}", f.rows());
}

#[test]
fn the_first_runs_create_and_migrate_the_registry_exactly_once() {
    let f = Fast::new(&[]);
    assert!(!database_exists(&f.registry));
    let versions = || {
        sql(&format!(
            "SELECT version FROM `{}`.schema_migrations ORDER BY version",
            f.registry
        ))
        .into_iter()
        .map(mysql_async::from_row::<i64>)
        .collect::<Vec<_>>()
    };

    let sub = unique("mig");
    let r = f.provision(&sub, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(database_exists(&f.registry));
    assert_eq!(versions(), every_version());
    assert_eq!(f.row("site", &site_of(&sub))["status"], "active");

    // Two first runs at once against another new registry: the migration lock lets
    // exactly one migrate, and neither fails on the other's half-made tables.
    let g = Fast::new(&[]);
    let subs = [unique("mig"), unique("mig")];
    let children: Vec<_> = subs
        .iter()
        .map(|s| {
            let mut cmd = g.tool();
            provision_args(&mut cmd, s);
            spawn(cmd)
        })
        .collect();
    for r in children.into_iter().map(finish) {
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    }
    let versions: Vec<i64> = sql(&format!(
        "SELECT version FROM `{}`.schema_migrations",
        g.registry
    ))
    .into_iter()
    .map(mysql_async::from_row::<i64>)
    .collect();
    assert_eq!(versions, every_version());
    let rows = g.rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "active"), "{rows:?}");
}

#[test]
fn one_template_build_at_a_time_per_bench_but_benches_build_side_by_side() {
    let a = Fast::new(&[]);
    let b = Fast::sharing_registry(&[], &a.registry);
    for f in [&a, &b] {
        f.set_version("frappe", "15.14.1");
    }
    let pause = a.bench.path().join("pause");
    let start = |f: &Fast, pause: Option<&std::path::Path>| {
        let mut cmd = f.tool();
        if let Some(p) = pause {
            cmd.env("BENCH_DOUBLE_PAUSE", p);
        }
        cmd.args(["template", "build"]);
        spawn(cmd)
    };
    // Bench a's first build holds its lock while its new-site is under way ...
    let first = start(&a, Some(&pause));
    wait_for("the first build's new-site is under way", 30, || {
        pause.with_extension("reached").exists()
    });
    // ... so a second build of bench a is refused and touches nothing ...
    let second = finish(start(&a, None));
    // ... while bench b, on the same MariaDB server and site domain, builds its own.
    let other = finish(start(&b, None));
    std::fs::write(&pause, "").unwrap();
    let first = finish(first);
    assert_eq!(first.code, 0, "{}\n{}", first.json, first.stderr);
    assert_eq!(other.code, 0, "{}\n{}", other.json, other.stderr);
    assert_eq!(second.code, 1, "{}", second.json);
    assert!(
        second.json["error"]
            .as_str()
            .unwrap()
            .contains("another template build is running on this bench"),
        "{}",
        second.json
    );
    assert_eq!(
        a.new_site_calls().len(),
        1,
        "the refused build ran no new-site"
    );
}

#[test]
fn a_template_build_failing_in_new_site_is_rolled_back_and_says_so() {
    let f = Fast::new(&[]);
    f.set_version("frappe", "15.14.1");
    let r = f.run_env(&[("BENCH_DOUBLE_FAIL", "new-site")], &["template", "build"]);
    // Not 1 ("nothing changed"): new-site made a folder, a database and a user, and
    // the build removed them.
    assert_eq!(r.code, 3, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["success"], false);
    let cleanup = r.json["cleanup"].as_array().unwrap();
    assert!(
        !cleanup.is_empty() && cleanup.iter().all(|u| u["ok"] == true),
        "{}",
        r.json
    );
    let site = f.new_site_calls()[0]["argv"][1]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !f.bench.site_dir(&site).exists(),
        "reference site folder left"
    );
    assert!(
        !database_exists(&f.bench.databases_of(&site).pop().unwrap()),
        "reference database left"
    );
    assert!(!f.template_dir().join("template.json").exists());
}

/// Every registry migration, 1 to the latest.
fn every_version() -> Vec<i64> {
    (1..=frappe_tenant::outside::mariadb::registry::SCHEMA_VERSION as i64).collect()
}

#[test]
fn boolean_environment_variables_take_what_people_type() {
    let f = Fast::new(&[]);
    f.fill(1);
    let plan_with = |value: &str| {
        let mut cmd = f.tool();
        cmd.env("NO_POOL", value);
        provision_args(&mut cmd, &unique("env"));
        cmd.arg("--dry-run");
        run(cmd)
    };
    for on in ["1", "true", "TRUE", "yes", "Yes", "on", "ON"] {
        let r = plan_with(on);
        assert_eq!(r.code, 0, "NO_POOL={on}: {}", r.json);
        assert_eq!(r.json["path"], "fresh", "NO_POOL={on}: {}", r.json);
    }
    for off in ["0", "false", "False", "no", "off", "OFF"] {
        let r = plan_with(off);
        assert_eq!(r.code, 0, "NO_POOL={off}: {}", r.json);
        assert_eq!(r.json["path"], "pool", "NO_POOL={off}: {}", r.json);
    }
    let r = plan_with("maybe");
    assert_eq!(
        (r.code, &r.json["code"]),
        (2, &Value::from("INVALID_INPUT")),
        "{}",
        r.json
    );
}

// ------------------------------------------------------------------ as Administrator

/// Every route's REST steps run as Administrator through an API key lent for the run:
/// no login round trip, and afterwards the key is gone from the site (Frappe refuses it,
/// the database holds no key or secret for Administrator) and its secret is in no log.
#[test]
fn every_route_calls_frappe_through_a_key_lent_for_the_run_and_taken_back() {
    let f = Fast::new(&[]);
    f.build_template();
    let fresh = unique("lent-fresh");
    let template = unique("lent-tpl");
    let pool = unique("lent-pool");
    let mut runs = vec![];
    let r = f.provision(&fresh, &[("NO_TEMPLATE", "1"), ("NO_POOL", "1")]);
    runs.push((fresh, "fresh", r));
    let r = f.provision(&template, &[("NO_POOL", "1")]);
    runs.push((template, "template", r));
    f.fill(1);
    let r = f.provision(&pool, &[]);
    runs.push((pool, "pool", r));
    for (sub, path, r) in &runs {
        let site = site_of(sub);
        assert_eq!(r.code, 0, "{path}: {}\n{}", r.json, r.stderr);
        assert_eq!(r.json["path"], *path, "{}", r.json);
        assert_eq!(
            f.frappe.calls_on("login", Some(&site)),
            0,
            "{path}: a login"
        );
        let tenant = format!(
            "{}:{}",
            r.json["apiKey"].as_str().unwrap(),
            r.json["apiSecret"].as_str().unwrap()
        );
        let lent: Vec<TokenCall> = f
            .frappe
            .token_calls()
            .into_iter()
            .filter(|t| t.site == site && t.token != tenant)
            .collect();
        let calls: Vec<&str> = lent.iter().map(|t| t.call.as_str()).collect();
        // The template and the standbys were set up ahead: only a fresh site runs the wizard.
        let wizard = (*path == "fresh").then_some("setup-complete");
        for call in ["create-user", "saas-settings"].into_iter().chain(wizard) {
            assert!(
                calls.contains(&call),
                "{path}: {call} not as Administrator: {lent:?}"
            );
        }
        assert!(
            lent.iter()
                .all(|t| t.user.as_deref() == Some("Administrator") && t.token == lent[0].token),
            "{path}: one key, Administrator's: {lent:?}"
        );
        // Taken back: Frappe refuses it now, and the site's database holds nothing of it.
        let header = format!("token {}", lent[0].token);
        let (status, _, _) = http(
            &f.frappe.url,
            "GET",
            &site,
            "/api/method/frappe.auth.get_logged_user",
            &[("Authorization", header.as_str())],
            "",
        );
        assert_eq!(status, 401, "{path}: the lent key still works");
        let db = r.json["dbName"].as_str().unwrap();
        let kept = f.sql(
            &format!(
                "SELECT (SELECT COUNT(*) FROM `{db}`.tabUser WHERE name = 'Administrator' \
                 AND IFNULL(api_key, '') <> '') + (SELECT COUNT(*) FROM `{db}`.__Auth \
                 WHERE doctype = 'User' AND name = 'Administrator' AND fieldname = 'api_secret')"
            ),
            vec![],
        );
        let kept: i64 = mysql_async::from_row(kept[0].clone());
        assert_eq!(kept, 0, "{path}: Administrator keeps a key or secret");
        let secret = lent[0].token.split_once(':').unwrap().1;
        assert!(
            !r.stderr.contains(secret),
            "{path}: the lent secret in stderr"
        );
        assert!(
            !std::fs::read_to_string(&f.bench.log)
                .unwrap()
                .contains(secret),
            "{path}: the lent secret in a child's argv"
        );
    }
    f.frappe.assert_no_unexpected();
}
