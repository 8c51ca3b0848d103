//! Black-box tests of `frappe-tenant provision`: the built binary against the bench
//! double, the fake Frappe (recorded fixtures) and the real MariaDB. stdout JSON, stderr
//! and the exit code are asserted separately.

mod common;

use std::process::Stdio;

use common::*;

use common::SignUp as Case;

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
    for n in 1..=5 {
        assert!(r.stderr.contains(&format!("[{n}/5]")), "{}", r.stderr);
    }
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
        assert!(
            r.json["error"].as_str().unwrap().contains(field),
            "{}",
            r.json
        );
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
    for secret in [PASSWORD, admin, api_secret, "fake-sid-1234"] {
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
            "login",
            Inject::Fixture("login-wrong-password"),
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
    cmd.env("PROVISION_TIMEOUT", "4");
    provision_args(&mut cmd, &c.sub);
    let r = run(cmd);
    assert_eq!(r.json["code"], "TIMEOUT", "{}", r.json);
    c.assert_rolled_back(&r);
}

#[test]
fn a_hanging_bench_is_killed_at_the_deadline_and_rolled_back() {
    let c = Case::new(&[]);
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("PROVISION_TIMEOUT", "4")
        .env("BENCH_DOUBLE_HANG", "new-site");
    provision_args(&mut cmd, &c.sub);
    let started = std::time::Instant::now();
    let r = run(cmd);
    assert!(started.elapsed().as_secs() < 30);
    assert_eq!(r.json["code"], "TIMEOUT", "{}", r.json);
    c.assert_rolled_back(&r);
}

#[test]
fn a_new_site_failing_midway_is_cleaned_by_bench_or_mariadb() {
    for phase in ["after-db", "before-db"] {
        let c = Case::new(&[]);
        let mut cmd = tool(&c.bench, &c.frappe);
        cmd.env("BENCH_DOUBLE_FAIL", format!("new-site:{phase}"));
        provision_args(&mut cmd, &c.sub);
        let r = run(cmd);
        assert_eq!(r.json["code"], "BENCH_FAILED", "{}", r.json);
        c.assert_rolled_back(&r);
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
    for child in children {
        let r = finish(child);
        assert_eq!(r.code, 0, "{}", r.json);
    }
}

#[test]
fn two_provisions_of_one_subdomain_end_with_one_winner_and_an_untouched_loser() {
    let c = Case::new(&[]);
    let start = || {
        let mut cmd = tool(&c.bench, &c.frappe);
        cmd.env("BENCH_DOUBLE_DELAY", "1.5");
        provision_args(&mut cmd, &c.sub);
        spawn(cmd)
    };
    let (a, b) = (start(), start());
    let json: Vec<serde_json::Value> = [finish(a), finish(b)].into_iter().map(|r| r.json).collect();
    let winners = json.iter().filter(|j| j["success"] == true).count();
    assert_eq!(winners, 1, "{json:?}");
    let loser = json.iter().find(|j| j["success"] == false).unwrap();
    assert!(
        ["SITE_BUSY", "SITE_EXISTS"].contains(&loser["code"].as_str().unwrap()),
        "{loser}"
    );
    assert_eq!(loser["rollback"].as_array().unwrap().len(), 0, "{loser}");
    assert_eq!(c.bench.calls_of("new-site"), 1);
    assert!(database_exists(&c.db()), "the winner's database survives");
}

#[test]
fn both_spellings_of_the_db_host_flag_reach_new_site() {
    for (setting, flag) in [
        ("no-mariadb-socket", "--no-mariadb-socket"),
        ("login-scope", "--mariadb-user-host-login-scope=%"),
    ] {
        let c = Case::new(&[]);
        let mut cmd = tool(&c.bench, &c.frappe);
        cmd.env("BENCH_DB_HOST_FLAG", setting);
        provision_args(&mut cmd, &c.sub);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{}", r.json);
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
fn sigterm_rolls_back_like_a_failure() {
    let c = Case::new(&[]);
    let pause = c.bench.path().join("pause");
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("BENCH_DOUBLE_PAUSE", &pause);
    provision_args(&mut cmd, &c.sub);
    let child = spawn(cmd);
    // Once new-site has made the folder and the database, stop the tool.
    wait_for("new-site is under way", 30, || {
        pause.with_extension("reached").exists()
    });
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
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("BENCH_DOUBLE_DELAY", "2");
    provision_args(&mut cmd, &c.sub);
    let child = spawn(cmd);
    // Someone runs bench by hand (no tool lock) while our new-site is starting.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    std::fs::create_dir_all(c.bench.site_dir(&c.site)).unwrap();
    std::fs::write(
        c.bench.site_dir(&c.site).join("site_config.json"),
        "{\"db_name\":\"theirs\"}",
    )
    .unwrap();
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
    let mut cmd = tool(&c.bench, &c.frappe);
    cmd.env("MARIADB_URL", "mysql://root@127.0.0.1:9");
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
            assert_eq!(e["of"], 5, "{e}");
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
        ("start", 5, "api-keys"),
        ("done", 5, "api-keys"),
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

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}
