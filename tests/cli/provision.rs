//! Black-box tests of `frappe-tenant provision`: the built binary against the bench
//! double, the fake Frappe (recorded fixtures) and the real MariaDB. stdout JSON, stderr
//! and the exit code are asserted separately.

use std::process::Stdio;

use crate::common::*;

use crate::common::SignUp as Case;

impl Case {
    fn provision(&self) -> Run {
        let mut cmd = tool(&self.bench, &self.frappe);
        provision_args(&mut cmd, &self.sub);
        run(cmd)
    }

    fn assert_rolled_back(&self, r: &Run) {
        assert_eq!(r.json["success"], false);
        assert_eq!(r.code, 3, "{}\n{}", r.json, r.stderr);
        assert!(
            r.json["rollback"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["ok"] == true),
            "{}",
            r.json
        );
        assert_site_gone(&self.bench, &self.site);
    }
}

#[test]
fn provisions_a_tenant_and_reports_the_seed_contract() {
    let c = Case::new(&[]);
    let r = c.provision();
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let j = &r.json;
    assert_eq!(j["success"], true);
    assert_eq!(j["site"], c.site);
    assert_eq!(
        j["url"],
        format!(
            "http://{}:{}",
            c.site,
            url::Url::parse(&c.frappe.url).unwrap().port().unwrap()
        )
    );
    assert_eq!(j["email"], "jane@acme.com");
    assert_eq!(j["organizationName"], "Acme Inc");
    assert!(j["apiKey"].as_str().unwrap().len() >= 16);
    assert!(j["apiSecret"].as_str().unwrap().len() >= 32);
    assert!(j["elapsed"].as_f64().unwrap() > 0.0);
    assert_eq!(j["dbName"], c.db());
    // nexus_core absent and SaaS Settings absent are warnings, not failures.
    let warnings = j["warnings"].to_string();
    assert!(
        warnings.contains("nexus_core") && warnings.contains("SaaS Settings"),
        "{warnings}"
    );
    assert!(database_exists(&c.db()) && db_user_exists(&c.db()));
    assert!(c.bench.site_dir(&c.site).join("site_config.json").exists());
    // bench: new-site only, with the root password and the admin password twice on stdin.
    let calls = c.bench.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["stdin_lines"], 3);
    assert_eq!(
        c.frappe.calls("get-logged-user"),
        1,
        "keys must be proven before success"
    );
    c.frappe.assert_no_unexpected();
    for n in 1..=6 {
        assert!(r.stderr.contains(&format!("[{n}/6]")), "{}", r.stderr);
    }
    // The tenant's admin logs in with the password the sign-up chose, on its own site.
    c.frappe
        .assert_can_log_in(&c.site, "jane@acme.com", PASSWORD);
    // The tool made no session: its calls were Administrator's, by a key lent on this site.
    assert!(
        c.frappe
            .sessions()
            .values()
            .all(|s| s.user != "Administrator"),
        "the tool logged in"
    );
    let as_admin: Vec<String> = c
        .frappe
        .token_calls()
        .into_iter()
        .filter(|t| t.user.as_deref() == Some("Administrator"))
        .map(|t| t.site)
        .collect();
    assert!(
        !as_admin.is_empty() && as_admin.iter().all(|s| *s == c.site),
        "{as_admin:?}"
    );
}

#[test]
fn installs_present_apps_and_writes_the_plan_when_the_doctype_exists() {
    let mut c = Case::new(&["nexus_core"]);
    c.frappe = FakeFrappe::start(&c.bench).with_saas_settings();
    let r = c.provision();
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        r.json["warnings"].as_array().unwrap().len(),
        0,
        "{}",
        r.json
    );
    assert_eq!(c.bench.calls_of("install-app"), 1);
    assert_eq!(c.frappe.calls("saas-settings"), 1);
    // What the site holds now: the plan, under the DocType's own field names (Frappe
    // drops any other key without a word).
    let stored: std::collections::BTreeMap<String, Option<String>> = sql(&format!(
        "SELECT field, value FROM `{}`.tabSingles WHERE doctype = 'SaaS Settings' \
         AND field IN ('plan_name', 'max_users', 'max_storage')",
        c.db()
    ))
    .into_iter()
    .map(mysql_async::from_row)
    .collect();
    assert_eq!(
        stored,
        [
            ("max_storage", "1"),
            ("max_users", "5"),
            ("plan_name", "Free")
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect()
    );
    let v = run({
        let mut cmd = tool(&c.bench, &c.frappe);
        cmd.args(["verify", &c.sub]);
        cmd
    });
    assert_eq!(v.code, 0, "{}", v.json);
}

#[test]
fn an_existing_site_is_refused_and_left_untouched() {
    let c = Case::new(&[]);
    std::fs::create_dir_all(c.bench.site_dir(&c.site)).unwrap();
    std::fs::write(
        c.bench.site_dir(&c.site).join("site_config.json"),
        "{\"db_name\":\"someone_elses\"}",
    )
    .unwrap();
    let r = c.provision();
    assert_eq!(
        (r.code, r.json["code"].as_str()),
        (1, Some("SITE_EXISTS")),
        "{}",
        r.json
    );
    assert_eq!(r.json["rollback"].as_array().unwrap().len(), 0);
    assert!(c.bench.calls().is_empty(), "bench must not run");
    assert_eq!(
        std::fs::read_to_string(c.bench.site_dir(&c.site).join("site_config.json")).unwrap(),
        "{\"db_name\":\"someone_elses\"}"
    );
}

#[test]
fn invalid_input_touches_nothing() {
    let c = Case::new(&[]);
    for (args, field) in [
        (
            ["provision", "www", "a@acme.com", "A B", PASSWORD, "O"],
            "subdomain",
        ),
        (
            ["provision", "Bad_Sub", "a@acme.com", "A B", PASSWORD, "O"],
            "subdomain",
        ),
        (
            ["provision", "ok-sub", "not-an-email", "A B", PASSWORD, "O"],
            "email",
        ),
        (
            ["provision", "ok-sub", "a@acme.com", "A B", "password", "O"],
            "password",
        ),
        (
            [
                "provision",
                "ok-sub",
                "a@acme.com",
                "A B",
                "Password123",
                "O",
            ],
            "password",
        ),
        (
            [
                "provision",
                "ok-sub",
                "a@acme.com",
                "A\u{1b}B",
                PASSWORD,
                "O",
            ],
            "fullName",
        ),
    ] {
        let mut cmd = tool(&c.bench, &c.frappe);
        cmd.args(args);
        let r = run(cmd);
        assert_eq!(r.code, 2, "{args:?}: {}", r.json);
        assert_eq!(r.json["code"], "INVALID_INPUT");
        // The input to mark, and what is wrong with it in a person's words.
        assert_eq!(r.json["field"], field, "{}", r.json);
        let error = r.json["error"].as_str().unwrap();
        assert!(!error.starts_with("invalid input"), "{}", r.json);
    }
    assert!(c.bench.calls().is_empty());
    assert_eq!(c.frappe.calls("login"), 0);
}

#[test]
fn a_json_request_on_stdin_keeps_the_password_out_of_argv() {
    let c = Case::new(&[]);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.args(["provision", "--request", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let req = serde_json::json!({"subdomain": c.sub, "email": "jane@acme.com", "fullName": "Jane Roe", "password": PASSWORD, "organizationName": "Acme Inc"});
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), &j["success"]),
        (Some(0), &serde_json::json!(true)),
        "{j}"
    );
    // The password came from stdin and went where it belongs: the tenant logs in with it.
    c.frappe
        .assert_can_log_in(&c.site, "jane@acme.com", PASSWORD);
    // No argv carried it: every bench call is logged with its argv (and the tool's own
    // argv is the one above).
    let calls = c.bench.calls();
    assert!(!calls.is_empty(), "bench ran");
    for call in &calls {
        assert!(
            !call["argv"].to_string().contains(PASSWORD),
            "password in bench argv: {call}"
        );
    }
    assert!(!String::from_utf8_lossy(&out.stderr).contains(PASSWORD));
}

#[test]
fn no_secret_reaches_stderr_or_child_argv_even_at_trace_level() {
    let c = Case::new(&[]);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("RUST_LOG", "trace");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let admin =
        std::fs::read_to_string(c.bench.site_dir(&c.site).join(".double_admin_password")).unwrap();
    let admin = admin.trim();
    assert!(
        admin.len() >= 16 && admin != "admin",
        "per-site random Administrator password"
    );
    let api_secret = r.json["apiSecret"].as_str().unwrap();
    let argv = std::fs::read_to_string(&c.bench.log).unwrap();
    // The key lent to Administrator for the REST steps: its secret too.
    let lent: Vec<String> = c
        .frappe
        .token_calls()
        .into_iter()
        .filter(|t| t.call == "create-user")
        .map(|t| t.token.split_once(':').unwrap().1.to_owned())
        .collect();
    assert_eq!(lent.len(), 1, "the user was created with a lent key");
    for secret in [PASSWORD, admin, api_secret]
        .into_iter()
        .chain(lent.iter().map(String::as_str))
    {
        assert!(!r.stderr.contains(secret), "secret in stderr: {secret}");
        assert!(!argv.contains(secret), "secret in bench argv: {secret}");
    }
    assert!(
        r.stderr.contains("DEBUG") || r.stderr.contains("TRACE"),
        "trace logging was on"
    );
}

#[test]
fn each_rest_step_failing_rolls_back_the_site() {
    for (call, how, step) in [
        (
            "create-user",
            Inject::Fixture("create-user-weak-password"),
            "create-user",
        ),
        (
            "create-user",
            Inject::Fixture("create-user-duplicate"),
            "create-user",
        ),
        (
            "saas-settings",
            Inject::Status(502, "Bad Gateway"),
            "subscription",
        ),
        (
            "get-logged-user",
            Inject::Fixture("get-logged-user-token-bad"),
            "api-keys",
        ),
        (
            "create-user",
            Inject::Fixture("get-logged-user-token-bad"),
            "create-user",
        ),
    ] {
        let mut c = Case::new(&[]);
        c.frappe = FakeFrappe::start(&c.bench).inject(call, how);
        let r = c.provision();
        assert_eq!(r.json["step"], step, "{call}: {}", r.json);
        c.assert_rolled_back(&r);
        assert_eq!(c.bench.calls_of("drop-site"), 1);
        assert!(c.bench.archived(&c.site));
    }
}

#[test]
fn a_rest_call_that_hangs_hits_the_deadline_and_rolls_back() {
    let mut c = Case::new(&[]);
    c.frappe = FakeFrappe::start(&c.bench).inject("create-user", Inject::Hang);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("PROVISION_TIMEOUT", "4").env("PROGRESS", "json");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    assert_eq!(r.json["code"], "TIMEOUT", "{}", r.json);
    // It is the REST call that hung: new-site had finished (its call is logged on exit,
    // with both passwords answered), the insert was sent once, as Administrator, and the
    // create-user step began and never ended.
    let events = progress_events(&r.stderr);
    for done in ["create-site", "install-apps"] {
        assert!(events.contains(&("done".into(), done.into())), "{events:?}");
    }
    assert!(
        events.contains(&("start".into(), "create-user".into())),
        "{events:?}"
    );
    assert!(
        !events.contains(&("done".into(), "create-user".into())),
        "{events:?}"
    );
    let new_sites: Vec<serde_json::Value> = c
        .bench
        .calls()
        .into_iter()
        .filter(|call| call["argv"][0] == "new-site")
        .collect();
    assert_eq!(new_sites.len(), 1, "{new_sites:?}");
    assert_eq!(new_sites[0]["stdin_lines"], 3, "{new_sites:?}");
    let as_admin = c
        .frappe
        .token_calls()
        .into_iter()
        .filter(|t| t.call == "create-user" && t.site == c.site)
        .filter(|t| t.user.as_deref() == Some("Administrator"))
        .count();
    assert_eq!(as_admin, 1);
    assert_eq!(c.frappe.calls_on("create-user", Some(&c.site)), 1);
    c.assert_rolled_back(&r);
}

#[test]
fn a_hanging_bench_is_killed_at_the_deadline_and_rolled_back() {
    let c = Case::new(&[]);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("PROVISION_TIMEOUT", "4")
        .env("PROGRESS", "json")
        .env("BENCH_DOUBLE_HANG", "new-site");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    assert_eq!(r.json["code"], "TIMEOUT", "{}", r.json);
    let events = progress_events(&r.stderr);
    assert!(
        events.contains(&("start".into(), "create-site".into())),
        "{events:?}"
    );
    assert!(
        !events.contains(&("done".into(), "create-site".into())),
        "{events:?}"
    );
    // Killed, not left hanging: no process of this bench's double is alive.
    let needle = format!("BENCH_DOUBLE_LOG={}", c.bench.log.display());
    wait_for("the hanging new-site is gone", 15, || {
        processes_with_env(&needle).is_empty()
    });
    c.assert_rolled_back(&r);
}

#[test]
fn a_new_site_failing_midway_is_cleaned_by_bench_or_mariadb() {
    // Neither 15.14.1 nor the later v15 code undoes a failed new-site whose stdin is no
    // terminal: whatever it made is the tool's to remove, on either version.
    for version in ["15.14.1", "15.47.2"] {
        for phase in ["after-db", "before-db"] {
            let c = Case::new(&[]);
            let mut cmd = tool(&c.bench, &c.frappe);
            cmd.env("BENCH_DOUBLE_FAIL", format!("new-site:{phase}"))
                .env("BENCH_DOUBLE_FRAPPE_VERSION", version)
                .env("BENCH_DB_HOST_FLAG", host_flag_for(version));
            provision_args(&mut cmd, &c.sub);
            let r = run(cmd);
            assert_eq!(
                r.json["code"], "BENCH_FAILED",
                "{version} {phase}: {}",
                r.json
            );
            c.assert_rolled_back(&r);
            // Something was left to undo, and the undo says what it removed.
            let undone = r.json["rollback"].to_string();
            assert!(undone.contains(&c.site), "{version} {phase}: {undone}");
        }
    }
}

/// The (event, step) pairs of `--progress json` on stderr, in order.
fn progress_events(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] != "log")
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["step"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The DB host flag each Frappe version has (README: `BENCH_DB_HOST_FLAG`).
fn host_flag_for(version: &str) -> &'static str {
    if version == "15.14.1" {
        "no-mariadb-socket"
    } else {
        "login-scope"
    }
}

#[test]
fn a_failed_drop_site_is_finished_with_mariadb() {
    let mut c = Case::new(&[]);
    c.frappe = FakeFrappe::start(&c.bench).inject("create-user", Inject::Status(500, "boom"));
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("BENCH_DOUBLE_FAIL", "drop-site");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    // drop-site failed, but the folder, database and DB user are gone: the rollback is
    // complete (exit 3), done by MariaDB, and bench's failure is a warning.
    assert_eq!(r.code, 3, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["removedBy"], "mariadb", "{}", r.json);
    let undo = r.json["rollback"].to_string();
    assert!(undo.contains("drop database"), "{undo}");
    assert!(
        r.json["warnings"].to_string().contains("bench drop-site")
            && r.json["warnings"].to_string().contains("injected failure"),
        "{}",
        r.json
    );
    assert!(!database_exists(&c.db()), "{}", r.json);
    assert!(!db_user_exists(&c.db()), "{}", r.json);
    assert!(!c.bench.site_dir(&c.site).exists());
}

#[test]
fn a_rollback_with_a_non_root_admin_account_is_complete_without_bench() {
    let admin = AdminAccount::create();
    let mut c = Case::new(&[]);
    c.frappe = FakeFrappe::start(&c.bench).inject("create-user", Inject::Status(500, "boom"));
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("MARIADB_URL", admin.url());
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    c.assert_rolled_back(&r);
    assert_eq!(r.json["removedBy"], "mariadb", "{}", r.json);
    assert!(
        r.json["warnings"]
            .to_string()
            .contains(&format!("'{}'", admin.user)),
        "{}",
        r.json
    );
    // new-site ran with the account; drop-site, which cannot use it on v15, never did.
    assert_eq!(c.bench.calls_of("new-site"), 1);
    assert_eq!(c.bench.calls_of("drop-site"), 0, "{:?}", c.bench.calls());
}

#[test]
fn four_concurrent_provisions_on_one_bench_all_succeed() {
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench);
    let subs: Vec<String> = (0..4).map(|_| unique("c")).collect();
    let children: Vec<_> = subs
        .iter()
        .map(|s| {
            let mut cmd = tool(&bench, &frappe);
            cmd.args([
                "provision",
                s,
                &format!("{s}@acme.com"),
                "Jane Roe",
                PASSWORD,
                "Acme",
            ]);
            spawn(cmd)
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    for r in &runs {
        assert_eq!(r.code, 0, "{}", r.json);
    }
    // Four tenants, each whole and each its own: its site, its database (named in its
    // folder's config), its user who logs in there and nowhere else, its keys.
    let mut dbs = std::collections::BTreeSet::new();
    for (sub, r) in subs.iter().zip(&runs) {
        let site = format!("{sub}.localhost");
        let email = format!("{sub}@acme.com");
        assert_eq!(r.json["site"], site, "{}", r.json);
        assert_eq!(r.json["email"], email.as_str(), "{}", r.json);
        let db = r.json["dbName"].as_str().unwrap().to_string();
        assert_eq!(bench.databases_of(&site), vec![db.clone()]);
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(bench.site_dir(&site).join("site_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["db_name"], db.as_str());
        let users = sql(&format!(
            "SELECT name FROM `{db}`.tabUser WHERE name NOT IN ('Administrator', 'Guest')"
        ));
        let users: Vec<String> = users.into_iter().map(mysql_async::from_row).collect();
        assert_eq!(users, vec![email.clone()], "{site}");
        frappe.assert_can_log_in(&site, &email, PASSWORD);
        for other in subs.iter().filter(|o| *o != sub) {
            assert!(
                frappe
                    .login(&format!("{other}.localhost"), &email, PASSWORD)
                    .is_none(),
                "{email} logs in on {other}"
            );
        }
        let (status, _, body) = http(
            &frappe.url,
            "GET",
            &site,
            "/api/method/frappe.auth.get_logged_user",
            &[(
                "Authorization",
                &format!(
                    "token {}:{}",
                    r.json["apiKey"].as_str().unwrap(),
                    r.json["apiSecret"].as_str().unwrap()
                ),
            )],
            "",
        );
        assert_eq!(status, 200, "{site}: {body}");
        assert!(body.contains(&email), "{site}: {body}");
        dbs.insert(db);
    }
    assert_eq!(dbs.len(), 4, "{dbs:?}");
    // Keys are per tenant too: none shared, none reused.
    for field in ["apiKey", "apiSecret"] {
        let distinct: std::collections::BTreeSet<&str> = runs
            .iter()
            .map(|r| r.json[field].as_str().unwrap())
            .collect();
        assert_eq!(distinct.len(), 4, "{field}s shared");
    }
    assert_eq!(
        frappe.calls("get-logged-user"),
        4 + 4,
        "the tool proved each key once"
    );
}

/// A provision of `c`'s site, paused inside new-site (its folder and database made) until
/// the returned file is written.
fn paused_in_new_site(c: &Case) -> (std::process::Child, std::path::PathBuf) {
    let pause = c.bench.path().join("pause");
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("BENCH_DOUBLE_PAUSE", &pause);
    provision_args(&mut cmd, &c.sub);
    let child = spawn(cmd);
    wait_for("new-site is under way", 30, || {
        pause.with_extension("reached").exists()
    });
    (child, pause)
}

#[test]
fn two_provisions_of_one_subdomain_end_with_one_winner_and_an_untouched_loser() {
    let c = Case::new(&[]);
    // The first run is inside new-site, holding the site's lock, folder and database made.
    let (first, pause) = paused_in_new_site(&c);
    // The second comes now, and is turned away without touching anything.
    let mut second = tool(&c.bench, &c.frappe);
    provision_args(&mut second, &c.sub);
    let loser = finish(spawn(second)).json;
    std::fs::write(&pause, "").unwrap();
    let winner = finish(first).json;
    assert_eq!(winner["success"], true, "{winner}");
    assert_eq!(loser["success"], false, "{loser}");
    assert!(
        ["SITE_BUSY", "SITE_EXISTS"].contains(&loser["code"].as_str().unwrap()),
        "{loser}"
    );
    assert_eq!(loser["rollback"].as_array().unwrap().len(), 0, "{loser}");
    assert_eq!(c.bench.calls_of("new-site"), 1);
    assert!(database_exists(&c.db()), "the winner's database survives");
    c.frappe
        .assert_can_log_in(&c.site, "jane@acme.com", PASSWORD);
}

#[test]
fn both_spellings_of_the_db_host_flag_reach_new_site() {
    for (setting, flag, version) in [
        ("no-mariadb-socket", "--no-mariadb-socket", "15.14.1"),
        ("no-mariadb-socket", "--no-mariadb-socket", "15.47.2"),
        (
            "login-scope",
            "--mariadb-user-host-login-scope=%",
            "15.47.2",
        ),
    ] {
        let c = Case::new(&[]);
        let mut cmd = tool(&c.bench, &c.frappe);
        cmd.env("BENCH_DB_HOST_FLAG", setting)
            .env("BENCH_DOUBLE_FRAPPE_VERSION", version);
        provision_args(&mut cmd, &c.sub);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{setting} on {version}: {}", r.json);
        let argv = c.bench.calls()[0]["argv"].clone();
        assert!(argv.as_array().unwrap().iter().any(|a| a == flag), "{argv}");
        // Either way the site's DB user must be reachable from every container.
        let hosts = sql(&format!(
            "SELECT Host FROM mysql.user WHERE User = '{}'",
            c.db()
        ));
        let hosts: Vec<String> = hosts.into_iter().map(mysql_async::from_row).collect();
        assert_eq!(hosts, vec!["%".to_string()]);
    }
}

#[test]
fn the_login_scope_flag_on_a_15_14_bench_fails_before_new_site_makes_anything() {
    // 15.14.1 has no --mariadb-user-host-login-scope: click refuses it (exit 2) before
    // new-site runs, as the real bench does.
    let c = Case::new(&[]);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("BENCH_DB_HOST_FLAG", "login-scope")
        .env("BENCH_DOUBLE_FRAPPE_VERSION", "15.14.1");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    assert_eq!(r.json["code"], "BENCH_FAILED", "{}", r.json);
    assert!(
        r.json["error"]
            .as_str()
            .unwrap()
            .contains("No such option: --mariadb-user-host-login-scope"),
        "{}",
        r.json
    );
    assert!(!c.bench.site_dir(&c.site).exists());
    assert!(!database_exists(&c.db()));
    assert_eq!(c.frappe.calls("login"), 0);
}

#[test]
fn sigterm_rolls_back_like_a_failure() {
    let c = Case::new(&[]);
    // Once new-site has made the folder and the database, stop the tool.
    let (child, _) = paused_in_new_site(&c);
    assert!(
        database_exists(&c.db()),
        "new-site pauses with its database made"
    );
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let r = finish(child);
    assert_eq!(r.json["code"], "INTERRUPTED", "{}", r.json);
    c.assert_rolled_back(&r);
}

#[test]
fn a_site_made_behind_our_back_during_new_site_is_not_rolled_back() {
    let c = Case::new(&[]);
    let pause = c.bench.path().join("pause");
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("BENCH_DOUBLE_PAUSE_START", &pause);
    provision_args(&mut cmd, &c.sub);
    let child = spawn(cmd);
    // Someone runs bench by hand (no tool lock) while our new-site is starting: after
    // the tool saw no folder, before new-site looks for one.
    wait_for("new-site is starting", 30, || {
        pause.with_extension("reached").exists()
    });
    std::fs::create_dir_all(c.bench.site_dir(&c.site)).unwrap();
    std::fs::write(
        c.bench.site_dir(&c.site).join("site_config.json"),
        "{\"db_name\":\"theirs\"}",
    )
    .unwrap();
    std::fs::write(&pause, "").unwrap();
    let r = finish(child);
    let j = &r.json;
    assert_eq!(
        (r.code, j["code"].as_str()),
        (1, Some("SITE_EXISTS")),
        "{j}"
    );
    assert_eq!(j["rollback"].as_array().unwrap().len(), 0, "{j}");
    assert_eq!(
        std::fs::read_to_string(c.bench.site_dir(&c.site).join("site_config.json")).unwrap(),
        "{\"db_name\":\"theirs\"}"
    );
    assert_eq!(c.bench.calls_of("drop-site"), 0);
}

/// `provision --request -` with `text` on stdin.
fn provision_request(c: &Case, text: &str) -> Run {
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.args(["provision", "--request", "-"])
        .stdin(Stdio::piped());
    let mut child = spawn(cmd);
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    finish(child)
}

#[test]
fn a_malformed_json_request_names_its_field_not_the_parsers_words() {
    let c = Case::new(&[]);
    let full = serde_json::json!({"subdomain": c.sub, "email": "jane@acme.com", "fullName": "Jane Roe", "password": PASSWORD, "organizationName": "Acme Inc"});
    let with = |key: &str, value: serde_json::Value| {
        let mut r = full.clone();
        if value.is_null() {
            r.as_object_mut().unwrap().remove(key);
        } else {
            r[key] = value;
        }
        r.to_string()
    };
    for (text, field, error) in [
        (
            with("organizationName", serde_json::Value::Null),
            Some("organizationName"),
            "Organization name: is required".to_string(),
        ),
        (
            with("email", 42.into()),
            Some("email"),
            "Email: must be a string".into(),
        ),
        (
            with("password", 12345678.into()),
            Some("password"),
            "Password: must be a string".into(),
        ),
        (
            with("confirmPassword", PASSWORD.into()),
            Some("confirmPassword"),
            "confirmPassword: is not a field of a sign-up (expected one of `subdomain`, \
             `email`, `fullName`, `password`, `organizationName`, `language`, `country`, \
             `timezone`, `currency`)"
                .into(),
        ),
        (
            "{\"subdomain\": ".into(),
            None,
            "the request is empty or cut short: expected one JSON object".into(),
        ),
        (
            "subdomain=acme".into(),
            None,
            "the request is not valid JSON (line 1, column 1)".into(),
        ),
    ] {
        let r = provision_request(&c, &text);
        assert_eq!(
            (r.code, r.json["code"].as_str()),
            (2, Some("INVALID_INPUT")),
            "{}",
            r.json
        );
        assert_eq!(r.json["field"].as_str(), field, "{}", r.json);
        assert_eq!(r.json["error"], error.as_str(), "{}", r.json);
        assert!(!r.json.to_string().contains(PASSWORD), "{}", r.json);
        assert!(!r.stderr.contains(PASSWORD), "{}", r.stderr);
    }
    assert!(c.bench.calls().is_empty(), "bench must not run");
}

#[test]
fn the_tenants_url_is_its_public_address_when_a_template_names_it() {
    let c = Case::new(&[]);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("TENANT_PUBLIC_URL", "https://{subdomain}.erp.example.com");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        r.json["url"],
        format!("https://{}.erp.example.com", c.sub),
        "{}",
        r.json
    );
    // The site keeps its name under SITE_DOMAIN: only the address it is reached at differs.
    assert_eq!(r.json["site"], c.site);
}

#[test]
fn a_public_url_template_that_names_no_tenant_is_refused_before_anything_runs() {
    let c = Case::new(&[]);
    for template in ["https://erp.example.com", "https://{tenant}.example.com"] {
        let mut cmd = tool(&c.bench, &c.frappe);
        provision_args(&mut cmd, &c.sub);
        cmd.args(["--public-url", template]);
        let r = run(cmd);
        assert_eq!(
            (r.code, r.json["code"].as_str()),
            (1, Some("CONFIG_ERROR")),
            "{}",
            r.json
        );
        assert!(
            r.json["error"]
                .as_str()
                .unwrap()
                .contains("TENANT_PUBLIC_URL"),
            "{}",
            r.json
        );
    }
    assert!(c.bench.calls().is_empty(), "bench must not run");
    assert!(!c.bench.site_dir(&c.site).exists());
}

#[test]
fn a_usage_error_still_answers_with_one_json_object() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_frappe-tenant"))
        .args(["provision", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["success"].as_bool(), j["code"].as_str()),
        (Some(false), Some("INVALID_INPUT"))
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

#[test]
fn a_weak_password_is_refused_as_input_even_when_mariadb_is_down() {
    // The strength check runs while the read-only preflight waits on MariaDB; its
    // verdict must still win over whatever the preflight ran into.
    let c = Case::new(&[]);
    let down = ClosedPort::new();
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("MARIADB_URL", down.mysql_url());
    provision_args_with(&mut cmd, &c.sub, "Password123");
    let r = run(cmd);
    assert_eq!(
        (r.code, r.json["code"].as_str()),
        (2, Some("INVALID_INPUT")),
        "{}",
        r.json
    );
    assert!(
        r.json["error"].as_str().unwrap().contains("password"),
        "{}",
        r.json
    );
    assert!(c.bench.calls().is_empty());
}

#[test]
fn progress_json_gives_a_progress_bar_one_json_line_per_event() {
    let c = Case::new(&[]);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("PROGRESS", "json");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let events: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let steps: Vec<(String, u64, String)> = events
        .iter()
        .filter(|e| e["event"] != "log")
        .map(|e| {
            assert_eq!(e["of"], 6, "{e}");
            (
                e["event"].as_str().unwrap().to_string(),
                e["n"].as_u64().unwrap(),
                e["step"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String)> = [
        ("start", 1, "create-site"),
        ("done", 1, "create-site"),
        ("start", 2, "install-apps"),
        ("done", 2, "install-apps"),
        ("start", 3, "create-user"),
        ("start", 4, "subscription"),
        ("done", 3, "create-user"),
        ("done", 4, "subscription"),
        ("start", 5, "setup-wizard"),
        ("done", 5, "setup-wizard"),
        ("start", 6, "api-keys"),
        ("done", 6, "api-keys"),
    ]
    .iter()
    .map(|(e, n, s)| (e.to_string(), *n, s.to_string()))
    .collect();
    assert_eq!(steps, want);
    assert!(events
        .iter()
        .filter(|e| e["event"] == "done")
        .all(|e| e["seconds"].as_f64().is_some()));
}

#[test]
fn as_root_the_tools_own_files_belong_to_the_benchs_owner() {
    // Bench drops to its own user; a root-owned sites/.frappe-tenant would make its
    // backup into that folder fail (seen on a real bench).
    if !is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root"
        );
        eprintln!("skipped: needs root to own files as another user");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let c = Case::new(&[]);
    let sites = c.bench.path().join("sites");
    let nobody = 65534;
    std::os::unix::fs::chown(&sites, Some(nobody), Some(nobody)).unwrap();
    let r = c.provision();
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    for p in [".frappe-tenant", ".frappe-tenant/bench-id"] {
        let m = std::fs::metadata(sites.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (nobody, nobody), "{p}");
    }
}

#[test]
fn bench_gets_no_terminal_so_its_prompts_read_the_tools_stdin() {
    // The tool run as from a shell, with a controlling terminal. Bench must not inherit
    // it: Python's getpass asks /dev/tty when it can open one, and only otherwise reads
    // the answers the tool writes on bench's stdin. The tool starts bench in a session
    // of its own; had it not, the prompt would appear on this terminal and wait there.
    let c = Case::new(&[]);
    let pty = Pty::open();
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("PROVISION_TIMEOUT", "20");
    provision_args(&mut cmd, &c.sub);
    pty.make_controlling_terminal_of(&mut cmd);
    let r = run(cmd);
    let on_terminal = pty.read_all();
    assert!(
        !on_terminal.contains("password"),
        "bench asked the terminal: {on_terminal:?}"
    );
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let calls = c.bench.calls();
    assert!(calls.iter().all(|call| call["tty"] == false), "{calls:?}");
    assert_eq!(calls[0]["stdin_lines"], 3, "{calls:?}");
}

/// A pseudo-terminal: the master end for the test to read, the slave end for a child to
/// take as its controlling terminal.
struct Pty {
    master: std::os::fd::OwnedFd,
    slave: std::ffi::CString,
}

impl Pty {
    fn open() -> Self {
        use std::os::fd::FromRawFd;
        // SAFETY: plain libc calls on a descriptor we own; ptsname's static buffer is
        // copied at once.
        unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK);
            assert!(fd >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(fd), 0);
            assert_eq!(libc::unlockpt(fd), 0);
            let name = std::ffi::CStr::from_ptr(libc::ptsname(fd)).to_owned();
            Pty {
                master: std::os::fd::OwnedFd::from_raw_fd(fd),
                slave: name,
            }
        }
    }

    /// The child starts a session and takes the slave as its controlling terminal.
    fn make_controlling_terminal_of(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let slave = self.slave.clone();
        // SAFETY: setsid, open, ioctl and close are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                let fd = libc::open(slave.as_ptr(), libc::O_RDWR);
                if fd < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            });
        }
    }

    /// Everything written to the terminal so far.
    fn read_all(&self) -> String {
        use std::os::fd::AsRawFd;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reading into our own buffer from our own descriptor.
            let n =
                unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A user with a group of the same name, as bench's privilege drop needs.
fn a_bench_user() -> &'static str {
    ["www-data", "daemon", "bin"]
        .into_iter()
        .find(|u| {
            let name = std::ffi::CString::new(*u).unwrap();
            // SAFETY: lookups whose results are only tested for null.
            unsafe {
                !libc::getpwnam(name.as_ptr()).is_null() && !libc::getgrnam(name.as_ptr()).is_null()
            }
        })
        .expect("a user with a same-named group (www-data, daemon or bin)")
}

#[test]
fn a_bench_that_drops_to_its_own_user_can_use_the_tools_files() {
    // The real arrangement: the tool runs as root, bench refuses root and drops to the
    // bench's `frappe_user`, who owns the bench. The template's dump is written by
    // bench (backup) into the tool's folder and read back by bench (--source-sql).
    if !is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root"
        );
        eprintln!("skipped: needs root to drop to another user");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let w = World::new(&[]);
    w.set_version("frappe", "15.14.1");
    let user = a_bench_user();
    let (uid, gid) = w.bench.owned_by(user);
    let built = w.build_template();
    let r = w.provision(&unique("own"), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["path"], "template", "{} (template: {built})", r.json);
    let site = r.json["site"].as_str().unwrap();
    // Bench did its work as that user, every time.
    let calls = w.bench.calls();
    assert!(calls.len() >= 3, "{calls:?}");
    assert!(calls.iter().all(|c| c["uid"] == uid), "{calls:?}");
    // What bench made is the user's, and so is the tool's own folder and template.
    let sites = w.bench.path().join("sites");
    for p in [
        sites.join(site),
        sites.join(site).join("site_config.json"),
        w.template_dir(),
        w.template_dir().join("template.json"),
    ] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", p.display());
    }
    w.frappe.assert_can_log_in(site, "jane@acme.com", PASSWORD);
}

#[test]
fn a_signal_during_a_registry_write_still_rolls_back_completely() {
    // A signal must not cut the run's MariaDB connection mid-query: that connection holds
    // the site's lock, and a rollback without it removes nothing (exit 4).
    let c = Case::new(&[]);
    let (child, pause) = paused_in_new_site(&c);
    let held = HeldRow::take(&c.bench.url, &c.bench.registry, &c.site);
    std::fs::write(&pause, "").unwrap();
    let waiting = format!("UPDATE `{}`%", c.bench.registry);
    wait_for("the run's next registry write waits on the row", 30, || {
        sql_value(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE ?",
            vec![waiting.as_str().into()],
        )
        .as_deref()
            != Some("0")
    });
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(held);
    let r = finish(child);
    assert_eq!(r.json["code"], "INTERRUPTED", "{}\n{}", r.json, r.stderr);
    c.assert_rolled_back(&r);
}
