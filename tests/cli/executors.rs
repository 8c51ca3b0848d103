//! The remote executors end to end: every command of the tool through `docker compose
//! exec` and through `kubectl exec`, played by tests/executor-double (which runs the
//! command in the bench directory with a container's environment) over the bench double,
//! the fake Frappe and the real MariaDB. This is the only way the tool's container code
//! paths (batched `grep -H` reads, `find -printf`, `mv -n -T` renames, `install` + `dd`
//! writes, `gzip`) run in the tests.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::Value;

struct Remote {
    bench: TestBench,
    frappe: FakeFrappe,
    kind: &'static str,
    log: std::path::PathBuf,
    prefix: String,
    made: std::cell::RefCell<Vec<String>>,
    /// The MariaDB root password the tool is given, so the tests can look for it where
    /// no secret may go. Dropped last: the bench's cleanup needs the server.
    root_password: String,
    _server: MariaDbServer,
}

impl Remote {
    fn new(kind: &'static str) -> Self {
        // A server of its own whose root has a password: CI's shared server has none, and
        // a leak of an empty password cannot be seen.
        let mut server = MariaDbServer::start();
        let root_password = server.protect_root();
        let bench = TestBench::on(&server.url(), &["nexus_core"]);
        for (app, version) in [("frappe", "15.14.1"), ("nexus_core", "0.3.0")] {
            let dir = bench.path().join("apps").join(app).join(app);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("__init__.py"),
                format!("__version__ = \"{version}\"\n"),
            )
            .unwrap();
        }
        let frappe = FakeFrappe::start(&bench).with_saas_settings();
        let log = bench.path().join("executor-calls.jsonl");
        Remote {
            bench,
            frappe,
            kind,
            log,
            prefix: unique(kind),
            made: Default::default(),
            root_password,
            _server: server,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let doubles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/executor-double");
        let mut cmd = tool(&self.bench, &self.frappe);
        cmd.env("PATH", search_path(&[&doubles]))
            .env("BENCH_EXECUTOR", self.kind)
            .env("EXECUTOR_DOUBLE_WORKDIR", self.bench.path())
            .env("EXECUTOR_DOUBLE_LOG", &self.log)
            .env("INSTALL_APPS", "nexus_core")
            .env_remove("BENCH_BIN")
            .env_remove("BENCH_PATH");
        if self.kind == "kubectl" {
            // With a workdir, so `env --chdir` is exercised; docker uses the container's.
            cmd.env("KUBECTL_TARGET", "deploy/backend")
                .env("EXECUTOR_DOUBLE_TARGET", "deploy/backend")
                .env("KUBECTL_NAMESPACE", "erp")
                .env("BENCH_PATH", self.bench.path());
        }
        cmd.args(args);
        cmd
    }

    fn ok(&self, args: &[&str]) -> Value {
        let r = run(self.cmd(args));
        assert_eq!(
            r.code, 0,
            "{} {args:?}: {}\n{}",
            self.kind, r.json, r.stderr
        );
        r.json
    }

    fn provision(&self, name: &str, extra: &[&str]) -> Value {
        let sub = format!("{}-{name}", self.prefix);
        let mut args = vec![
            "provision",
            &sub,
            "jane@acme.com",
            "Jane Roe",
            PASSWORD,
            "Acme Inc",
        ];
        args.extend(extra);
        let j = self.ok(&args);
        self.made
            .borrow_mut()
            .push(j["site"].as_str().unwrap().into());
        j
    }

    /// A sign-up of `sub` stopped in new-site in the container, its folder and database
    /// made; writing the returned path lets it go on.
    fn provision_paused_in_new_site(
        &self,
        sub: &str,
        env: &[(&str, &Path)],
    ) -> (std::process::Child, std::path::PathBuf) {
        let pause = self.bench.path().join("pause");
        let mut cmd = self.cmd(&[
            "provision",
            sub,
            "jane@acme.com",
            "Jane Roe",
            PASSWORD,
            "Acme Inc",
        ]);
        cmd.env("BENCH_DOUBLE_PAUSE", &pause);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = spawn(cmd);
        let reached = pause.with_extension("reached");
        wait_for("new-site is under way in the container", 30, || {
            reached.exists()
        });
        (child, pause)
    }

    /// A sign-up of `<prefix>-<tag>` SIGKILLed while new-site runs in the container (its
    /// folder, config and database made), once MariaDB has freed its site lock: the site
    /// and its database.
    fn killed_in_new_site(&self, tag: &str) -> (String, String) {
        let site = format!("{}-{tag}.localhost", self.prefix);
        let sub = site.trim_end_matches(".localhost");
        let (mut child, _) = self.provision_paused_in_new_site(sub, &[]);
        let db = self.bench.databases_of(&site).pop().unwrap();
        signal(child.id(), libc::SIGKILL);
        child.wait().unwrap();
        wait_for("the killed run's site lock to be freed", 10, || {
            sql_value_at(
                &self.bench.url,
                "SELECT IS_FREE_LOCK(?)",
                vec![site_lock_name(&site).into()],
            )
            .as_deref()
                == Some("1")
        });
        (site, db)
    }

    /// Every argv the tool gave the docker or kubectl client.
    fn client_calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| {
                assert_eq!(v["client"], self.kind, "{v}");
                serde_json::from_value(v["argv"].clone()).unwrap()
            })
            .collect()
    }
}

fn every_command_goes_through(kind: &'static str) {
    let r = Remote::new(kind);
    let built = r.ok(&["template", "build"]);
    assert!(
        r.bench
            .path()
            .join("sites/.frappe-tenant/template.json")
            .exists(),
        "{built}"
    );
    assert_eq!(r.ok(&["template", "status"])["usable"], true);
    let filled = r.ok(&["pool", "fill", "--size", "1"]);
    assert_eq!(filled["created"][0]["path"], "template", "{filled}");

    let pool = r.provision("p", &[]);
    assert_eq!(pool["path"], "pool", "{pool}");
    let standby = pool["standbySite"].as_str().unwrap();
    assert!(
        !r.bench.site_dir(standby).exists(),
        "the standby folder was renamed"
    );
    let template = r.provision("t", &["--no-pool"]);
    assert_eq!(template["path"], "template", "{template}");
    let fresh = r.provision("f", &["--no-pool", "--no-template"]);
    assert_eq!(fresh["path"], "fresh", "{fresh}");
    assert_eq!(fresh["warnings"].as_array().unwrap().len(), 0, "{fresh}");

    for j in [&pool, &template, &fresh] {
        let site = j["site"].as_str().unwrap();
        let mut cmd = r.cmd(&["verify", site, "--api-key", j["apiKey"].as_str().unwrap()]);
        cmd.env("TENANT_API_SECRET", j["apiSecret"].as_str().unwrap());
        let v = run(cmd);
        assert_eq!(v.code, 0, "{kind} verify {site}: {}", v.json);
    }
    let listed = r.ok(&["list", "--json"]);
    let healthy: Vec<&str> = listed["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["healthy"] == true)
        .map(|s| s["site"].as_str().unwrap())
        .collect();
    for j in [&pool, &template, &fresh] {
        assert!(healthy.contains(&j["site"].as_str().unwrap()), "{listed}");
    }

    let pattern = format!("{}-*", r.prefix);
    let cleaned = r.ok(&["cleanup", "--pattern", &pattern, "--yes"]);
    assert_eq!(cleaned["dropped"].as_array().unwrap().len(), 3, "{cleaned}");
    for j in [&pool, &template, &fresh] {
        assert!(!r.bench.site_dir(j["site"].as_str().unwrap()).exists());
        assert!(!database_exists_at(
            &r.bench.url,
            j["dbName"].as_str().unwrap()
        ));
    }
    assert_eq!(
        r.ok(&["pool", "status", "--json"])["standby"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Everything went through the client, and no secret ever rode in its argv.
    let calls = r.client_calls();
    for expected in ["grep", "find", "mv", "install", "dd", "gzip", "bench"] {
        assert!(
            calls.iter().any(|argv| argv.iter().any(|a| a == expected)),
            "{kind}: no {expected} among {} client calls",
            calls.len()
        );
    }
    let argv_text = std::fs::read_to_string(&r.log).unwrap();
    for j in [&pool, &template, &fresh] {
        let secret = j["apiSecret"].as_str().unwrap();
        assert!(!argv_text.contains(secret), "API secret in {kind} argv");
    }
    assert!(
        !argv_text.contains(PASSWORD),
        "tenant password in {kind} argv"
    );
    let fresh_dir = r
        .bench
        .path()
        .join("archived/sites")
        .join(fresh["site"].as_str().unwrap());
    let admin = std::fs::read_to_string(fresh_dir.join(".double_admin_password")).unwrap();
    assert!(
        !argv_text.contains(admin.trim()),
        "Administrator password in {kind} argv"
    );
    // The root password never rode in an argv, not the client's, not bench's in the
    // container; and it was needed: new-site and drop-site asked for it on stdin.
    let bench_argv = std::fs::read_to_string(&r.bench.log).unwrap();
    for (what, text) in [("client", &argv_text), ("bench", &bench_argv)] {
        assert!(
            !text.contains(&r.root_password),
            "MariaDB root password in {kind} {what} argv"
        );
    }
    let bench_calls = r.bench.calls();
    for command in ["new-site", "drop-site"] {
        let asked = bench_calls
            .iter()
            .filter(|c| c["argv"].to_string().contains(command))
            .map(|c| c["stdin_lines"].as_u64().unwrap())
            .collect::<Vec<_>>();
        assert!(
            !asked.is_empty() && asked.iter().all(|n| *n >= 1),
            "{kind}: {command} asked {asked:?}"
        );
    }
}

#[test]
fn the_docker_executor_runs_every_command_in_the_container() {
    every_command_goes_through("docker");
}

#[test]
fn the_kubectl_executor_runs_every_command_in_the_pod() {
    every_command_goes_through("kubectl");
}

#[test]
fn kubectl_without_a_target_is_a_configuration_error() {
    let r = Remote::new("kubectl");
    let mut cmd = r.cmd(&[
        "provision",
        "acme",
        "jane@acme.com",
        "Jane Roe",
        PASSWORD,
        "Acme",
    ]);
    cmd.env_remove("KUBECTL_TARGET");
    let out = run(cmd);
    assert_eq!(
        (out.code, out.json["code"].as_str()),
        (1, Some("CONFIG_ERROR")),
        "{}",
        out.json
    );
    assert!(out.json["error"]
        .as_str()
        .unwrap()
        .contains("KUBECTL_TARGET"));
    assert!(r.client_calls().is_empty() && r.bench.calls().is_empty());
}

/// SIGINT during a new-site in the container: the run stops bench there before its
/// rollback starts, and leaves no process of its own running. Killing the docker or
/// kubectl client alone would not do it: the command in the container outlives it.
fn an_interrupted_run_stops_bench_in_the_container(kind: &'static str) {
    let r = Remote::new(kind);
    let ps = r.bench.path().join("ps.jsonl");
    let sub = format!("{}-int", r.prefix);
    let (child, pause) = r.provision_paused_in_new_site(&sub, &[("EXECUTOR_DOUBLE_PS", &ps)]);
    let interrupted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    signal(child.id(), libc::SIGINT);
    let out = finish(child);
    // Whatever the run did, the paused new-site must not be what ends the test.
    std::fs::write(&pause, "").unwrap();
    assert_eq!(
        out.json["code"], "INTERRUPTED",
        "{}\n{}",
        out.json, out.stderr
    );

    let events: Vec<Value> = std::fs::read_to_string(&ps)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ended = |pid: &Value| {
        events
            .iter()
            .find(|e| e["event"] == "exit" && &e["pid"] == pid)
            .map(|e| e["t"].as_f64().unwrap())
    };
    let new_site = events
        .iter()
        .find(|e| {
            e["event"] == "start"
                && e["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "new-site")
        })
        .expect("new-site ran in the container");
    let new_site_end = ended(&new_site["pid"])
        .unwrap_or_else(|| panic!("{kind}: new-site still runs in the container: {}", out.json));
    // The rollback is every command the run started after the signal, but the one that
    // stops its processes.
    for e in events.iter().filter(|e| e["event"] == "start") {
        let argv = e["argv"].to_string();
        let t = e["t"].as_f64().unwrap();
        if t > interrupted_at && !argv.contains("env/bin/python") {
            assert!(
                new_site_end < t,
                "{kind}: `{argv}` started while new-site still ran in the container"
            );
        }
        assert!(ended(&e["pid"]).is_some(), "{kind}: `{argv}` still runs");
    }
    // The rollback finished the job: nothing of the site is left.
    assert_eq!(out.code, 3, "{}\n{}", out.json, out.stderr);
    assert_site_gone(&r.bench, &format!("{sub}.localhost"));
}

#[test]
fn sigint_during_new_site_stops_bench_in_the_docker_container() {
    an_interrupted_run_stops_bench_in_the_container("docker");
}

#[test]
fn sigint_during_new_site_stops_bench_in_the_kubectl_pod() {
    an_interrupted_run_stops_bench_in_the_container("kubectl");
}

/// A run SIGKILLed during new-site leaves bench running in the container. While the
/// container refuses an exec (paused), cleanup cannot stop it: it removes nothing of the
/// run's site, under which bench still writes, and says why; once the container answers,
/// the next cleanup stops bench and removes everything.
#[test]
fn a_killed_runs_bench_that_cannot_be_stopped_keeps_cleanup_off_its_site() {
    let r = Remote::new("docker");
    let (site, db) = r.killed_in_new_site("kill");
    let cleanup = |paused: bool| {
        let mut cmd = r.cmd(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
        if paused {
            // `python -I`: the stopper, and nothing else a cleanup runs in the container.
            cmd.env("EXECUTOR_DOUBLE_PAUSED", "-I");
        }
        run(cmd)
    };

    let out = cleanup(true);
    assert_ne!(out.code, 0, "{}\n{}", out.json, out.stderr);
    assert_eq!(out.json["dropped"], serde_json::json!([]), "{}", out.json);
    let failed = &out.json["failed"][0];
    assert_eq!(
        (&failed["name"], &failed["kind"]),
        (&Value::from(site.as_str()), &Value::from("run")),
        "{}",
        out.json
    );
    let actions = failed["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{failed}");
    assert!(
        actions[0]["action"]
            .as_str()
            .unwrap()
            .starts_with("stop what run"),
        "{failed}"
    );
    assert_eq!(actions[0]["ok"], false, "{failed}");
    assert!(
        actions[0]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("nothing of {site} was removed")),
        "{failed}"
    );
    assert!(r.bench.site_dir(&site).exists(), "{}", out.json);
    assert!(database_exists_at(&r.bench.url, &db), "{}", out.json);

    let out = cleanup(false);
    assert_eq!(out.code, 0, "{}\n{}", out.json, out.stderr);
    assert_eq!(
        out.json["dropped"][0]["name"],
        site.as_str(),
        "{}",
        out.json
    );
    assert_site_gone(&r.bench, &site);
}

/// bench drop-site fails for a killed run's site, and the container then refuses the exec
/// that asks whether the site's folder is there (paused, restarting): that is no absent
/// folder. The folder goes with the rest of the run's site, not left naming a dropped database.
#[test]
fn a_killed_runs_folder_the_container_will_not_show_is_still_removed() {
    let r = Remote::new("docker");
    let (site, db) = r.killed_in_new_site("hide");
    let mut cmd = r.cmd(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
    // `bench drop-site`, and `find sites/<site> -maxdepth 0 -printf x`.
    cmd.env("EXECUTOR_DOUBLE_PAUSED", "drop-site,x");
    let out = run(cmd);
    assert!(
        !r.bench.site_dir(&site).exists(),
        "the folder was left: {}\n{}",
        out.json,
        out.stderr
    );
    assert!(!database_exists_at(&r.bench.url, &db), "{}", out.json);
}

/// The container refuses an exec (paused, restarting) just as the orphan scan lists the
/// bench's sites: that is no empty bench. A site made there by hand, in no registry row,
/// keeps its database; the cleanup fails and says why.
#[test]
fn an_orphan_scan_whose_site_listing_the_container_refuses_takes_nothing() {
    let r = Remote::new("docker");
    // A tenant first: an orphan scan needs the registry its sign-up makes.
    r.provision("first", &[]);
    let db = format!("_{:016x}", rand::random::<u64>());
    let mut plant = vec![format!("CREATE DATABASE `{db}`")];
    for t in ["tabDocType", "tabDefaultValue", "tabSingles", "__Auth"] {
        plant.push(format!("CREATE TABLE `{db}`.`{t}` (name varchar(140))"));
    }
    for q in &plant {
        sql_at(&r.bench.url, q, vec![]);
    }
    let site = format!("{}-hand.localhost", r.prefix);
    std::fs::create_dir_all(r.bench.site_dir(&site)).unwrap();
    std::fs::write(
        r.bench.site_dir(&site).join("site_config.json"),
        serde_json::json!({"db_name": db}).to_string(),
    )
    .unwrap();
    let mut cmd = r.cmd(&["cleanup", "--orphans", "--db-pattern", &db, "--yes"]);
    cmd.env("EXECUTOR_DOUBLE_PAUSED", "sites");
    let out = run(cmd);
    let kept = database_exists_at(&r.bench.url, &db);
    sql_at(
        &r.bench.url,
        &format!("DROP DATABASE IF EXISTS `{db}`"),
        vec![],
    );
    assert!(kept, "{site}'s database was dropped: {}", out.json);
    assert_ne!(out.code, 0, "{}\n{}", out.json, out.stderr);
    assert!(
        out.json["error"].to_string().contains("paused"),
        "the error says why: {}",
        out.json
    );
}
