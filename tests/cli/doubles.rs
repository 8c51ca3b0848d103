//! The test doubles refuse what the real things refuse: the fake Frappe against what was
//! recorded from a real Frappe v15.14.1 (fixtures/frappe-v15/), the bench double against
//! what bench and Frappe do (tests/bench-double/bench says which was seen, which read).
//! A double that forgives more than the real thing lets a broken tool pass.

use std::process::{Command, Stdio};

use crate::common::*;
use serde_json::{json, Value};

/// Runs the bench double in `bench` as the tool would (no terminal, answers on stdin).
fn bench_double(
    bench: &TestBench,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> (i32, String, String) {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let double = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench-double/bench");
    let mut cmd = Command::new(double);
    cmd.args(args)
        .current_dir(bench.path())
        .env("BENCH_DOUBLE_LOG", &bench.log)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; no terminal, as the tool runs bench.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The MariaDB root password as bench's prompt wants it (a line of stdin).
fn root_password() -> String {
    url::Url::parse(&mariadb_url())
        .unwrap()
        .password()
        .unwrap_or_default()
        .to_string()
}

/// A fresh site made by the bench double's new-site, its Administrator password `admin`.
fn new_site(bench: &TestBench, admin: &str) -> (String, String) {
    let site = format!("{}.localhost", unique("dbl"));
    let db = format!("ft_{:016x}", rand::random::<u64>());
    let (code, out, err) = bench_double(
        bench,
        &[
            "new-site",
            &site,
            "--db-name",
            &db,
            "--db-root-username",
            "root",
            "--no-mariadb-socket",
        ],
        &[],
        &format!("{}\n{admin}\n{admin}\n", root_password()),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    (site, db)
}

fn admin_session(frappe: &FakeFrappe, site: &str, admin: &str) -> String {
    frappe
        .login(site, "Administrator", admin)
        .expect("Administrator logs in with new-site's password")
}

fn create_user(
    frappe: &FakeFrappe,
    site: &str,
    sid: &str,
    email: &str,
    password: &str,
) -> (u16, Value) {
    let body = json!({
        "email": email, "first_name": "Jane", "last_name": "Roe", "enabled": 1,
        "user_type": "System User", "send_welcome_email": 0, "new_password": password,
        "roles": [{"role": "System Manager"}], "api_key": format!("{:020x}", rand::random::<u64>()),
        "api_secret": "s3cret-s3cret-s3cret",
    });
    let (status, _, text) = http(
        &frappe.url,
        "POST",
        site,
        "/api/resource/User",
        &[("Cookie", &format!("sid={sid}"))],
        &body.to_string(),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The human message of a Frappe error body, as Frappe shows it (`_server_messages`).
fn message_of(body: &Value) -> String {
    let msgs: Vec<String> =
        serde_json::from_str(body["_server_messages"].as_str().unwrap_or("[]")).unwrap();
    msgs.iter()
        .map(|m| {
            serde_json::from_str::<Value>(m).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_fake_gives_frappes_verdict_and_message_for_every_recorded_password() {
    // fixtures/frappe-v15/weak-passwords.json: what a real 15.14.1 site answered.
    let table = fixture_json("weak-passwords");
    let rows = table.as_array().unwrap();
    assert!(rows.len() >= 10, "{table}");
    for row in rows {
        let policy = (
            row["policy"]["enable_password_policy"] == 1,
            row["policy"]["minimum_password_score"].as_i64().unwrap(),
        );
        let verdict = frappe::frappe_password_verdict(
            row["password"].as_str().unwrap(),
            row["first_name"].as_str().unwrap(),
            row["last_name"].as_str().unwrap(),
            row["email"].as_str().unwrap(),
            policy,
        );
        match row["status"].as_u64().unwrap() {
            200 => assert_eq!(verdict, Ok(()), "{row}"),
            417 => assert_eq!(
                verdict,
                Err(row["message"].as_str().unwrap().to_string()),
                "{row}"
            ),
            s => panic!("unexpected status {s} in {row}"),
        }
    }
}

#[test]
fn a_weak_password_is_refused_with_frappes_message_under_the_sites_own_policy() {
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench);
    let (site, db) = new_site(&bench, "Adm1n-Passw0rd-77");
    let sid = admin_session(&frappe, &site, "Adm1n-Passw0rd-77");
    let (status, body) = create_user(&frappe, &site, &sid, "weak@acme.com", "alice123");
    assert_eq!(status, 417, "{body}");
    assert_eq!(body["exc_type"], "ValidationError");
    assert_eq!(
        message_of(&body),
        "Common names and surnames are easy to guess."
    );
    // Refused means not made: the duplicate check comes after, and nothing was written.
    let (status, body) = create_user(&frappe, &site, &sid, "weak@acme.com", "alice123");
    assert_eq!(status, 417, "{body}");
    // A password the default policy takes ...
    let (status, body) = create_user(&frappe, &site, &sid, "ok@acme.com", "Lantern-42");
    assert_eq!(status, 200, "{body}");
    frappe.assert_can_log_in(&site, "ok@acme.com", "Lantern-42");
    // ... is refused once the site's System Settings ask for more (as recorded).
    sql(&format!(
        "UPDATE `{db}`.tabSingles SET value = '3' WHERE doctype = 'System Settings' AND field = 'minimum_password_score'"
    ));
    let (status, body) = create_user(&frappe, &site, &sid, "three@acme.com", "Lantern-42");
    assert_eq!(status, 417, "{body}");
    // And a user who exists is Frappe's duplicate, once the password passes.
    let (status, body) = create_user(&frappe, &site, &sid, "ok@acme.com", "Tr1cky-Lantern-42");
    assert_eq!(status, 409, "{body}");
}

#[test]
fn a_session_counts_only_on_the_site_whose_login_made_it() {
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench);
    let (a, _) = new_site(&bench, "Adm1n-Passw0rd-77");
    let (b, _) = new_site(&bench, "Adm1n-Passw0rd-78");
    let sid_a = admin_session(&frappe, &a, "Adm1n-Passw0rd-77");
    // The sid of site a is a Guest on site b, with Frappe's session_expired.
    let (status, body) = create_user(&frappe, &b, &sid_a, "x@acme.com", "Tr1cky-Lantern-42");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["session_expired"], 1, "{body}");
    // A made-up sid likewise, and no cookie at all is a plain Guest.
    let (status, body) = create_user(
        &frappe,
        &a,
        "0123456789abcdef",
        "x@acme.com",
        "Tr1cky-Lantern-42",
    );
    assert_eq!(
        (status, &body["session_expired"]),
        (403, &json!(1)),
        "{body}"
    );
    let (status, _, text) = http(&frappe.url, "POST", &a, "/api/resource/User", &[], "{}");
    assert_eq!(status, 403, "{text}");
    assert!(!text.contains("session_expired"), "{text}");
    // On its own site it works.
    let (status, body) = create_user(&frappe, &a, &sid_a, "x@acme.com", "Tr1cky-Lantern-42");
    assert_eq!(status, 200, "{body}");
    // Every login makes its own session.
    let again = admin_session(&frappe, &a, "Adm1n-Passw0rd-77");
    assert_ne!(again, sid_a);
}

#[test]
fn auth_is_checked_before_an_injected_fault() {
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench)
        .inject("create-user", Inject::Status(502, "Bad Gateway"))
        .inject("get-logged-user", Inject::Status(502, "Bad Gateway"));
    let (site, _) = new_site(&bench, "Adm1n-Passw0rd-77");
    // Without a session, Frappe's 403 comes first; with one, the injected fault.
    let (status, _, text) = http(&frappe.url, "POST", &site, "/api/resource/User", &[], "{}");
    assert_eq!(status, 403, "{text}");
    let sid = admin_session(&frappe, &site, "Adm1n-Passw0rd-77");
    let (status, _) = create_user(&frappe, &site, &sid, "x@acme.com", "Tr1cky-Lantern-42");
    assert_eq!(status, 502);
    // A wrong token is 401 whatever was injected.
    let who = "/api/method/frappe.auth.get_logged_user";
    let (status, _, text) = http(
        &frappe.url,
        "GET",
        &site,
        who,
        &[("Authorization", "token nokey:nosecret")],
        "",
    );
    assert_eq!(status, 401, "{text}");
}

#[test]
fn saas_settings_keep_only_the_doctypes_fields_as_frappe_does() {
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench).with_saas_settings();
    let (site, db) = new_site(&bench, "Adm1n-Passw0rd-77");
    let sid = admin_session(&frappe, &site, "Adm1n-Passw0rd-77");
    let put = |body: Value| {
        let (status, _, text) = http(
            &frappe.url,
            "PUT",
            &site,
            "/api/resource/SaaS%20Settings/SaaS%20Settings",
            &[("Cookie", &format!("sid={sid}"))],
            &body.to_string(),
        );
        (status, serde_json::from_str::<Value>(&text).unwrap())
    };
    let stored = || -> std::collections::BTreeMap<String, Option<String>> {
        sql(&format!(
            "SELECT field, value FROM `{db}`.tabSingles WHERE doctype = 'SaaS Settings'"
        ))
        .into_iter()
        .map(mysql_async::from_row)
        .collect()
    };
    let (status, body) = put(json!({"plan_name": "Free", "max_users": 5, "max_storage": 1.0}));
    assert_eq!(status, 200, "{body}");
    // As recorded (saas-settings-unknown-field): the misspelled key is dropped without an
    // error, the others are written, plan_name keeps its value.
    let (status, body) = put(json!({"plan_nmae": "Pro", "max_users": 7, "max_storage": 2.5}));
    assert_eq!(status, 200, "{body}");
    let recorded: Value = serde_json::from_str(&fixture("saas-settings-unknown-field").1).unwrap();
    for field in ["plan_name", "max_users", "max_storage"] {
        assert_eq!(
            body["data"][field], recorded["data"][field],
            "{field}: {body}"
        );
    }
    assert!(body["data"].get("plan_nmae").is_none(), "{body}");
    let s = stored();
    assert!(!s.contains_key("plan_nmae"), "{s:?}");
    assert_eq!(s["plan_name"].as_deref(), Some("Free"));
    assert_eq!(
        (s["max_users"].as_deref(), s["max_storage"].as_deref()),
        (Some("7"), Some("2.5"))
    );
    // Strings are converted as Frappe converts them (saas-settings-strings), and stored
    // as MariaDB kept them on the real site: 1.0 as "1".
    let (status, body) = put(json!({"plan_name": "Free", "max_users": "5", "max_storage": "1.0"}));
    assert_eq!(status, 200, "{body}");
    let recorded: Value = serde_json::from_str(&fixture("saas-settings-strings").1).unwrap();
    for field in ["plan_name", "max_users", "max_storage"] {
        assert_eq!(
            body["data"][field], recorded["data"][field],
            "{field}: {body}"
        );
    }
    let s = stored();
    assert_eq!(
        (s["max_users"].as_deref(), s["max_storage"].as_deref()),
        (Some("5"), Some("1"))
    );
}

#[test]
#[should_panic(expected = "unexpected requests to fake Frappe")]
fn a_request_the_fake_does_not_know_fails_the_test_that_made_it() {
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench);
    let (status, _, _) = http(
        &frappe.url,
        "GET",
        "x.localhost",
        "/api/resource/Note",
        &[],
        "",
    );
    assert_eq!(status, 599);
    // No explicit check: dropping the fake fails the test.
    drop(frappe);
}

#[test]
fn bench_refuses_to_run_as_root_unless_told_whom_to_drop_to() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bench = TestBench::new(&[]);
    let common = bench.path().join("sites/common_site_config.json");
    let mut conf: Value = serde_json::from_str(&std::fs::read_to_string(&common).unwrap()).unwrap();
    conf.as_object_mut().unwrap().remove("frappe_user");
    std::fs::write(&common, conf.to_string()).unwrap();
    let (code, out, _) = bench_double(
        &bench,
        &["--site", "x.localhost", "install-app", "frappe"],
        &[],
        "",
    );
    // As seen on the real bench (frappe-bench 5.31.1): a warning on stdout, exit 1.
    assert_eq!(
        (code, out.trim()),
        (1, "WARN: You should not run this command as root")
    );
    assert!(!bench.log.exists() || bench.calls().iter().all(|c| c["uid"] == 0));
    // --version is no command: it answers as root.
    let (code, out, _) = bench_double(&bench, &["--version"], &[], "");
    assert_eq!((code, out.trim()), (0, "5.31.1"));
}

#[test]
fn new_site_takes_the_db_host_flags_of_the_version_it_pretends_to_be() {
    let bench = TestBench::new(&[]);
    let answers = format!(
        "{}\nAdm1n-Passw0rd-77\nAdm1n-Passw0rd-77\n",
        root_password()
    );
    let scope = "--mariadb-user-host-login-scope=%";
    // 15.14.1 has no login scope: click's usage error, nothing made (seen on the real bench).
    let (code, _, err) = bench_double(
        &bench,
        &["new-site", "v1.localhost", "--db-name", "ft_dbl_v1", scope],
        &[],
        &answers,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Error: No such option: --mariadb-user-host-login-scope"),
        "{err}"
    );
    assert!(!bench.site_dir("v1.localhost").exists());
    // 15.47.2 takes it, and takes --no-mariadb-socket as scope '%' with a deprecation.
    let later = [("BENCH_DOUBLE_FRAPPE_VERSION", "15.47.2")];
    for (site, flag) in [
        ("v2.localhost", scope),
        ("v3.localhost", "--no-mariadb-socket"),
    ] {
        let db = format!("ft_{:016x}", rand::random::<u64>());
        let (code, out, err) = bench_double(
            &bench,
            &["new-site", site, "--db-name", &db, flag],
            &later,
            &answers,
        );
        assert_eq!(code, 0, "{flag}: {out}\n{err}");
        assert_eq!(
            out.contains("--no-mariadb-socket is DEPRECATED"),
            flag == "--no-mariadb-socket",
            "{out}"
        );
        let hosts: Vec<String> = sql_with(
            "SELECT Host FROM mysql.user WHERE User = ?",
            vec![db.into()],
        )
        .into_iter()
        .map(mysql_async::from_row)
        .collect();
        assert_eq!(hosts, vec!["%".to_string()], "{flag}");
    }
    // Without either flag the site's user is bound to the host the root login came from.
    let db = format!("ft_{:016x}", rand::random::<u64>());
    let (code, out, err) = bench_double(
        &bench,
        &["new-site", "v4.localhost", "--db-name", &db],
        &[],
        &answers,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let hosts: Vec<String> = sql_with(
        "SELECT Host FROM mysql.user WHERE User = ?",
        vec![db.into()],
    )
    .into_iter()
    .map(mysql_async::from_row)
    .collect();
    assert_eq!(hosts.len(), 1);
    assert_ne!(hosts[0], "%");
}

#[test]
fn a_failed_new_site_leaves_what_it_made_when_no_terminal_answers() {
    // 15.14.1 never rolls back; the later code asks a terminal, and a pipe is none.
    for version in ["15.14.1", "15.47.2"] {
        let bench = TestBench::new(&[]);
        let db = format!("ft_{:016x}", rand::random::<u64>());
        let answers = format!(
            "{}\nAdm1n-Passw0rd-77\nAdm1n-Passw0rd-77\ny\n",
            root_password()
        );
        let (code, _, err) = bench_double(
            &bench,
            &[
                "new-site",
                "f.localhost",
                "--db-name",
                &db,
                "--no-mariadb-socket",
            ],
            &[
                ("BENCH_DOUBLE_FRAPPE_VERSION", version),
                ("BENCH_DOUBLE_FAIL", "new-site"),
            ],
            &answers,
        );
        assert_eq!(code, 1, "{version}: {err}");
        assert!(
            bench
                .site_dir("f.localhost")
                .join("site_config.json")
                .exists(),
            "{version}"
        );
        assert!(database_exists(&db), "{version}");
        assert!(db_user_exists(&db), "{version}");
    }
}

#[test]
fn mismatched_administrator_passwords_are_asked_again() {
    // utils/install.py get_admin_password: "Passwords do not match", then both again.
    let bench = TestBench::new(&[]);
    let db = format!("ft_{:016x}", rand::random::<u64>());
    let answers = format!(
        "{}\nOne-Passw0rd-1\nTwo-Passw0rd-2\nAdm1n-Passw0rd-77\nAdm1n-Passw0rd-77\n",
        root_password()
    );
    let (code, out, err) = bench_double(
        &bench,
        &[
            "new-site",
            "m.localhost",
            "--db-name",
            &db,
            "--no-mariadb-socket",
        ],
        &[],
        &answers,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Passwords do not match"), "{out}");
    assert_eq!(bench.calls()[0]["stdin_lines"], 5);
    let frappe = FakeFrappe::start(&bench);
    admin_session(&frappe, "m.localhost", "Adm1n-Passw0rd-77");
}

#[test]
fn the_fake_runs_the_setup_wizard_as_a_real_site_answered_it() {
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench);
    let (site, db) = new_site(&bench, "Adm1n-Pass-77");
    let path = "/api/method/frappe.desk.page.setup_wizard.setup_wizard.setup_complete";
    let wizard = |cookie: Option<&str>, args: Value| {
        let headers: Vec<(&str, String)> = cookie
            .map(|s| ("Cookie", format!("sid={s}")))
            .into_iter()
            .collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = json!({ "args": args }).to_string();
        let (status, _, text) = http(&frappe.url, "POST", &site, path, &headers, &body);
        (status, text)
    };
    let defaults = json!({"language": "English", "country": "United States", "timezone": "America/New_York", "currency": "USD"});
    // Each answer is the one a fresh 15.14.1 site gave (fixtures/frappe-v15/setup-complete-*).
    assert_eq!(
        wizard(None, defaults.clone()),
        fixture("setup-complete-as-guest")
    );
    let sid = admin_session(&frappe, &site, "Adm1n-Pass-77");
    assert_eq!(
        wizard(Some(&sid), json!({})),
        fixture("setup-complete-empty-args")
    );
    let mut narnia = defaults.clone();
    narnia["country"] = json!("Narnia");
    assert_eq!(
        wizard(Some(&sid), narnia),
        fixture("setup-complete-bad-country")
    );
    let setting = |field: &str| {
        sql_value(
            &format!("SELECT value FROM `{db}`.tabSingles WHERE doctype = 'System Settings' AND field = ?"),
            vec![field.into()],
        )
    };
    assert_eq!(
        setting("setup_complete").as_deref(),
        Some("0"),
        "refusals change nothing"
    );
    assert_eq!(
        wizard(Some(&sid), defaults.clone()),
        fixture("setup-complete-ok")
    );
    assert_eq!(setting("setup_complete").as_deref(), Some("1"));
    assert_eq!(setting("country").as_deref(), Some("United States"));
    // As recorded: once set up, the wizard answers ok and changes nothing.
    let mut japan = defaults;
    japan["country"] = json!("Japan");
    assert_eq!(wizard(Some(&sid), japan), fixture("setup-complete-again"));
    assert_eq!(setting("country").as_deref(), Some("United States"));
    // System Settings refuse a country Frappe does not list, as recorded.
    let (status, _, text) = http(
        &frappe.url,
        "PUT",
        &site,
        "/api/resource/System%20Settings/System%20Settings",
        &[("Cookie", &format!("sid={sid}"))],
        &json!({"country": "Narnia"}).to_string(),
    );
    assert_eq!((status, text), fixture("system-settings-bad-country"));
    frappe.assert_no_unexpected();
}
