//! The new admin's first login: the setup wizard done from the sign-up (checked against
//! Frappe's own lists before anything is made, completed ahead of time on standbys and the
//! template, changed at sign-up only where the sign-up differs), and the one-time login
//! link. Black-box, against the bench double, the fake Frappe (answering the wizard and
//! the link as recorded from a real 15.14.1) and the real MariaDB and Redis.

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;

use crate::common::*;
use serde_json::{json, Value};

/// A sign-up sent as JSON on stdin, with `extra` fields (the wizard's choices).
fn sign_up(w: &World, sub: &str, extra: Value, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut req = json!({"subdomain": sub, "email": "jane@acme.com", "fullName": "Jane Roe",
        "password": PASSWORD, "organizationName": "Acme Trading Company"});
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    let mut cmd = w.tool();
    cmd.envs(env.iter().copied())
        .args(["provision", "--request", "-"])
        .args(args)
        .stdin(Stdio::piped());
    let mut child = spawn(cmd);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    finish(child)
}

/// A site database's System Settings, field by value.
fn settings(w: &World, db: &str) -> HashMap<String, String> {
    w.sql(
        &format!("SELECT field, value FROM `{db}`.tabSingles WHERE doctype = 'System Settings'"),
        vec![],
    )
    .into_iter()
    .map(|r| {
        let (f, v): (String, Option<String>) = mysql_async::from_row(r);
        (f, v.unwrap_or_default())
    })
    .collect()
}

fn zone_of(w: &World, db: &str, user: &str) -> String {
    let rows = w.sql(
        &format!("SELECT time_zone FROM `{db}`.tabUser WHERE name = ?"),
        vec![user.into()],
    );
    let (zone,): (Option<String>,) = mysql_async::from_row(rows.into_iter().next().unwrap());
    zone.unwrap_or_default()
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
}

#[test]
fn a_fresh_sign_up_lands_on_the_desk_with_its_country_zone_and_currency() {
    let w = World::new(&[]);
    let sub = unique("t");
    let r = sign_up(
        &w,
        &sub,
        json!({"country": "Germany", "language": "de"}),
        &[],
        &[],
    );
    ok(&r);
    let setup = &r.json["setup"];
    assert_eq!(
        (
            &setup["language"],
            &setup["country"],
            &setup["timezone"],
            &setup["currency"]
        ),
        (
            &json!("Deutsch"),
            &json!("Germany"),
            &json!("Europe/Berlin"),
            &json!("EUR")
        ),
        "{}",
        r.json
    );
    assert_eq!(setup["wizard"], "completed");
    let db = r.json["dbName"].as_str().unwrap();
    let s = settings(&w, db);
    assert_eq!(
        (
            s["setup_complete"].as_str(),
            s["country"].as_str(),
            s["time_zone"].as_str(),
            s["language"].as_str()
        ),
        ("1", "Germany", "Europe/Berlin", "de")
    );
    assert_eq!(s["date_format"], "dd.mm.yyyy");
    assert_eq!(zone_of(&w, db, "Administrator"), "Europe/Berlin");
    assert_eq!(w.frappe.calls("setup-complete"), 1);
    let v = w.verify(&sub);
    assert_eq!(v.code, 0, "{}", v.json);
    let check = v.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "setup-complete")
        .expect("verify checks setup-complete")
        .clone();
    assert_eq!(check["ok"], true, "{check}");
    w.frappe.assert_no_unexpected();
}

#[test]
fn choices_frappe_does_not_list_are_refused_before_anything_is_made() {
    let w = World::new(&[]);
    for (field, extra) in [
        ("country", json!({"country": "Narnia"})),
        ("timezone", json!({"timezone": "Mars/Olympus"})),
        ("language", json!({"language": "Klingon"})),
        ("currency", json!({"currency": "XYZ"})),
        // Frappe lists no time zone for this country: the sign-up must say which.
        ("timezone", json!({"country": "Bouvet Island"})),
    ] {
        let sub = unique("t");
        let r = sign_up(&w, &sub, extra.clone(), &[], &[]);
        assert_eq!(r.code, 2, "{extra}: {}\n{}", r.json, r.stderr);
        assert_eq!(r.json["code"], "INVALID_INPUT", "{}", r.json);
        assert_eq!(r.json["field"], field, "{extra}: {}", r.json);
        assert!(w.bench.calls().is_empty(), "{extra}: bench ran");
        assert!(w.bench.made_databases().is_empty());
        assert!(w.frappe.calls("setup-complete") == 0 && w.frappe.calls("login") == 0);
    }
    // The dry run refuses them the same way and prints what it would give the wizard.
    let sub = unique("t");
    let r = sign_up(&w, &sub, json!({"country": "Narnia"}), &["--dry-run"], &[]);
    assert_eq!(
        (r.code, &r.json["code"]),
        (2, &json!("INVALID_INPUT")),
        "{}",
        r.json
    );
    let r = sign_up(&w, &sub, json!({"country": "India"}), &["--dry-run"], &[]);
    ok(&r);
    assert_eq!(r.json["setup"]["timezone"], "Asia/Kolkata", "{}", r.json);
    assert_eq!(r.json["setup"]["currency"], "INR");
    assert!(r.json["setup"].get("wizard").is_none());
}

#[test]
fn standbys_are_set_up_ahead_and_a_sign_up_changes_only_what_it_asks_differently() {
    let w = World::new(&[]);
    let standbys = w.fill(2);
    let mut dbs = vec![];
    for (_, db) in &standbys {
        let s = settings(&w, db);
        assert_eq!(
            (
                s["setup_complete"].as_str(),
                s["country"].as_str(),
                s["time_zone"].as_str()
            ),
            ("1", "United States", "America/New_York"),
            "a standby is set up with the defaults"
        );
        dbs.push(db.clone());
    }
    assert_eq!(w.frappe.calls("setup-complete"), 2);

    // The defaults again: nothing to change, no wizard, no write.
    let same = unique("t");
    let r = sign_up(&w, &same, json!({}), &[], &[]);
    ok(&r);
    assert_eq!(
        (r.json["path"].as_str(), r.json["setup"]["wizard"].as_str()),
        (Some("pool"), Some("unchanged"))
    );
    assert_eq!(w.frappe.calls("setup-complete"), 2);
    assert_eq!(w.frappe.calls("system-settings"), 0);

    // Another country: System Settings and Administrator's zone as the wizard sets them.
    let other = unique("t");
    let r = sign_up(
        &w,
        &other,
        json!({"country": "Japan", "currency": "JPY"}),
        &[],
        &[],
    );
    ok(&r);
    assert_eq!(
        (r.json["path"].as_str(), r.json["setup"]["wizard"].as_str()),
        (Some("pool"), Some("updated")),
        "{}",
        r.json
    );
    let db = r.json["dbName"].as_str().unwrap();
    let s = settings(&w, db);
    assert_eq!(
        (
            s["country"].as_str(),
            s["time_zone"].as_str(),
            s["number_format"].as_str(),
            s["setup_complete"].as_str()
        ),
        ("Japan", "Asia/Tokyo", "#,###.##", "1"),
        "Japan's #,### is widened to its float form, as the wizard does"
    );
    assert_eq!(zone_of(&w, db, "Administrator"), "Asia/Tokyo");
    assert_eq!(zone_of(&w, db, "Guest"), "Asia/Tokyo");
    assert_eq!(w.frappe.calls("setup-complete"), 2, "no wizard at sign-up");
    assert_eq!(w.frappe.calls("system-settings"), 1);
    w.frappe.assert_no_unexpected();
}

#[test]
fn sites_restored_from_the_template_start_set_up() {
    let w = World::new(&[]);
    w.set_version("frappe", "15.14.1");
    let r = w.run_env(
        &[
            ("SETUP_COUNTRY", "Germany"),
            ("SETUP_TIMEZONE", "Europe/Berlin"),
            ("SETUP_CURRENCY", "EUR"),
        ],
        &["template", "build"],
    );
    ok(&r);
    assert_eq!(
        w.frappe.calls("setup-complete"),
        1,
        "the reference site is set up"
    );
    // Defaults of the run that asks nothing: the template's own.
    let sub = unique("t");
    let env = [
        ("NO_POOL", "1"),
        ("SETUP_COUNTRY", "Germany"),
        ("SETUP_TIMEZONE", "Europe/Berlin"),
        ("SETUP_CURRENCY", "EUR"),
    ];
    let r = sign_up(&w, &sub, json!({}), &[], &env);
    ok(&r);
    assert_eq!(
        (r.json["path"].as_str(), r.json["setup"]["wizard"].as_str()),
        (Some("template"), Some("unchanged")),
        "{}",
        r.json
    );
    let s = settings(&w, r.json["dbName"].as_str().unwrap());
    assert_eq!(
        (s["setup_complete"].as_str(), s["country"].as_str()),
        ("1", "Germany")
    );
    assert_eq!(w.frappe.calls("setup-complete"), 1);
}

#[test]
fn skipping_the_wizard_leaves_it_to_the_admin_even_on_a_standby_set_up_ahead() {
    let w = World::new(&[]);
    let fresh = unique("t");
    let r = sign_up(
        &w,
        &fresh,
        json!({}),
        &["--skip-setup-wizard", "--no-pool"],
        &[],
    );
    ok(&r);
    assert!(r.json.get("setup").is_none(), "{}", r.json);
    assert_eq!(
        settings(&w, r.json["dbName"].as_str().unwrap())["setup_complete"],
        "0"
    );
    assert_eq!(w.frappe.calls("setup-complete"), 0);

    w.fill(1);
    let pooled = unique("t");
    let r = sign_up(&w, &pooled, json!({}), &[], &[("SKIP_SETUP_WIZARD", "yes")]);
    ok(&r);
    assert_eq!(r.json["path"], "pool");
    assert_eq!(
        settings(&w, r.json["dbName"].as_str().unwrap())["setup_complete"],
        "0",
        "the standby's completed setup is reopened"
    );
    let v = w.verify(&pooled);
    assert_eq!(
        v.code, 5,
        "verify says the first login opens the wizard: {}",
        v.json
    );
}

#[test]
fn a_failed_wizard_rolls_the_sign_up_back() {
    let w = World::new(&[]);
    w.frappe.injecting(
        "setup-complete",
        Inject::Fixture("setup-complete-bad-country"),
    );
    let sub = unique("t");
    let r = sign_up(&w, &sub, json!({}), &[], &[]);
    assert_eq!(r.code, 3, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        (r.json["code"].as_str(), r.json["step"].as_str()),
        (Some("API_ERROR"), Some("setup-wizard"))
    );
    assert!(
        r.json["error"].as_str().unwrap().contains("417"),
        "{}",
        r.json
    );
    let db = r.json["dbName"].as_str().unwrap();
    assert!(
        !database_exists_at(w.url(), db),
        "the run's database is gone"
    );
    assert_site_gone(&w.bench, &format!("{sub}.localhost"));
}

#[test]
fn with_erpnext_the_wizard_makes_the_company_at_sign_up() {
    let w = World::new(&["erpnext"]);
    let env = [("INSTALL_APPS", "erpnext")];
    // ERPNext's wizard needs the tenant's company: standbys are not set up ahead.
    let r = w.run_env(&env, &["pool", "fill", "--size", "1"]);
    ok(&r);
    let standby_db = r.json["created"][0]["dbName"].as_str().unwrap().to_string();
    assert_eq!(settings(&w, &standby_db)["setup_complete"], "0");
    assert_eq!(w.frappe.calls("setup-complete"), 0);

    let sub = unique("t");
    let r = sign_up(&w, &sub, json!({"country": "India"}), &[], &env);
    ok(&r);
    assert_eq!(r.json["path"], "pool");
    assert_eq!(r.json["setup"]["wizard"], "completed");
    assert_eq!(
        r.json["setup"]["company"],
        json!({"name": "Acme Trading Company", "abbr": "ATC"})
    );
    let rows = w.sql(
        &format!("SELECT abbr, default_currency, country FROM `{standby_db}`.tabCompany WHERE name = 'Acme Trading Company'"),
        vec![],
    );
    let (abbr, currency, country): (String, String, String) =
        mysql_async::from_row(rows.into_iter().next().expect("the company exists"));
    assert_eq!(
        (abbr.as_str(), currency.as_str(), country.as_str()),
        ("ATC", "INR", "India")
    );
    let v = w.run_env(&env, &["verify", &sub]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert!(
        v.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "company" && c["ok"] == true),
        "{}",
        v.json
    );

    // A wizard that answers ok without making the company (ERPNext swallows its errors) fails.
    w.frappe
        .injecting("setup-complete", Inject::Fixture("setup-complete-ok"));
    let sub = unique("t");
    let r = sign_up(&w, &sub, json!({}), &["--no-pool"], &env);
    assert_eq!(r.code, 3, "{}\n{}", r.json, r.stderr);
    assert!(
        r.json["error"].as_str().unwrap().contains("no company"),
        "{}",
        r.json
    );
}

#[test]
fn an_erpnext_company_may_not_be_called_company() {
    let w = World::new(&["erpnext"]);
    let sub = unique("t");
    let env = [("INSTALL_APPS", "erpnext")];
    let r = sign_up(&w, &sub, json!({"organizationName": "company"}), &[], &env);
    assert_eq!(r.json["field"], "organizationName", "{}", r.json);
    assert_eq!(
        (r.code, &r.json["code"]),
        (2, &json!("INVALID_INPUT")),
        "{}",
        r.json
    );
    assert!(w.bench.calls().is_empty());
}

/// Follows a login link as a browser would: the session it starts (sid), if any.
fn follow(frappe: &FakeFrappe, url: &str) -> (u16, Option<String>) {
    let u = url::Url::parse(url).unwrap();
    let path = format!("{}?{}", u.path(), u.query().unwrap_or_default());
    let (status, head, _) = http(&frappe.url, "GET", u.host_str().unwrap(), &path, &[], "");
    let sid = head
        .lines()
        .filter_map(|l| l.strip_prefix("Set-Cookie: sid="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .next();
    (status, sid)
}

#[test]
fn a_login_link_logs_the_new_admin_in_once() {
    let w = World::new(&[]);
    let sub = unique("t");
    let mut cmd = w.tool();
    provision_args(&mut cmd, &sub);
    cmd.args(["--login-link", "--login-link-minutes", "2"]);
    let r = run(cmd);
    ok(&r);
    let url = r.json["loginUrl"].as_str().expect("loginUrl").to_string();
    let site = format!("{sub}.localhost");
    assert!(url.starts_with(&format!("http://{site}:")), "{url}");
    let key = url.split_once("key=").unwrap().1.to_string();
    assert!(
        key.len() == 56 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key}"
    );
    assert!(!r.stderr.contains(&key), "the key is in no log");
    let db = r.json["dbName"].as_str().unwrap();
    let ttl = redis::ttl(&format!("{db}|one_time_login_key:{key}"));
    assert!(
        (1..=120).contains(&ttl),
        "it lives the minutes asked: {ttl}"
    );

    let (status, sid) = follow(&w.frappe, &url);
    assert_eq!(status, 302);
    let sid = sid.expect("a session");
    assert_eq!(
        w.frappe.sessions()[&sid],
        Session {
            site: site.clone(),
            user: "jane@acme.com".into()
        },
        "the session is the new admin's"
    );
    let (again, sid) = follow(&w.frappe, &url);
    assert_eq!((again, sid), (403, None), "single use");
}

#[test]
fn ops_get_a_login_link_only_for_a_tenant_the_tool_made() {
    let w = World::new(&[]);
    let sub = unique("t");
    ok(&w.provision(&sub, &[]));
    let r = w.run(&["login-link", &sub]);
    ok(&r);
    assert_eq!(r.json["email"], "jane@acme.com");
    assert_eq!(r.json["expiresInSeconds"], 300);
    let (status, sid) = follow(&w.frappe, r.json["loginUrl"].as_str().unwrap());
    assert_eq!((status, sid.is_some()), (302, true));

    let r = w.run(&["login-link", &sub, "--email", "nobody@acme.com"]);
    assert_eq!(
        (r.code, &r.json["code"]),
        (2, &json!("INVALID_INPUT")),
        "{}",
        r.json
    );
    let r = w.run(&["login-link", "no-such-tenant"]);
    assert_eq!(r.code, 2, "{}", r.json);
    // A folder holding another instance than the registry's is not the tenant it made.
    let site = format!("{sub}.localhost");
    let config = w.bench.site_dir(&site).join("site_config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    c["db_name"] = json!("ft_0000000000000000");
    std::fs::write(&config, c.to_string()).unwrap();
    let r = w.run(&["login-link", &sub]);
    assert_eq!(r.code, 2, "{}", r.json);
    assert!(
        r.json["error"]
            .as_str()
            .unwrap()
            .contains("tenants this tool made"),
        "{}",
        r.json
    );
    assert!(redis::keys("ft_0000000000000000|*").is_empty());
}

#[test]
fn a_login_link_the_cache_cannot_take_stops_the_sign_up_before_anything_is_made() {
    let w = World::new(&[]);
    let closed = ClosedPort::new();
    let sub = unique("t");
    let mut cmd = w.tool();
    cmd.env(
        "REDIS_CACHE_URL",
        closed.http_url().replace("http://", "redis://"),
    );
    provision_args(&mut cmd, &sub);
    cmd.arg("--login-link");
    let r = run(cmd);
    assert_eq!(
        (r.code, &r.json["code"]),
        (1, &json!("CONFIG_ERROR")),
        "{}\n{}",
        r.json,
        r.stderr
    );
    assert!(w.bench.calls().is_empty(), "nothing was made");
}

#[test]
fn defaults_frappe_does_not_list_make_no_standby_and_no_template() {
    let w = World::new(&[]);
    let env = [("SETUP_COUNTRY", "Narnia")];
    for args in [
        &["pool", "fill", "--size", "1"][..],
        &["template", "build"][..],
    ] {
        let r = w.run_env(&env, args);
        assert_ne!(r.code, 0, "{args:?}: {}", r.json);
        let said = r.json["error"].as_str().unwrap_or_default();
        assert!(
            said.contains("Narnia") && said.contains("country"),
            "{args:?}: {}",
            r.json
        );
    }
    assert!(w.bench.calls().is_empty(), "nothing was made");
}
