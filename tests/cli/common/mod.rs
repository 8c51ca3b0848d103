//! Test doubles for the outside systems: a temporary bench driven by the bench double
//! (tests/bench-double/bench), a strict fake Frappe that serves the responses recorded in
//! fixtures/frappe-v15/ (`frappe`), and the real MariaDB.
#![allow(dead_code, unused_imports)]

pub mod fernet;
pub mod frappe;
pub mod redis;
pub mod server;
pub mod world;

pub use frappe::{fixture, fixture_json, http, FakeFrappe, Inject, Session, TokenCall};
pub use server::MariaDbServer;
pub use world::World;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// MariaDB root URL for the tests; the bench double and the tool both use it.
pub fn mariadb_url() -> String {
    std::env::var("TEST_MARIADB_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// Runs one SQL query against the real MariaDB. Panics (fails the test) when MariaDB is
/// absent: these tests never pass without it.
pub fn sql(query: &str) -> Vec<mysql_async::Row> {
    sql_with(query, Vec::new())
}

/// `sql` with bound parameters.
pub fn sql_with(query: &str, params: Vec<mysql_async::Value>) -> Vec<mysql_async::Row> {
    sql_at(&mariadb_url(), query, params)
}

/// `sql_with` on the server at `url` (a test's own, see `MariaDbServer`).
pub fn sql_at(url: &str, query: &str, params: Vec<mysql_async::Value>) -> Vec<mysql_async::Row> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use mysql_async::prelude::*;
        let mut conn = mysql_async::Conn::from_url(url).await.unwrap_or_else(|e| {
            panic!("these tests need MariaDB at TEST_MARIADB_URL ({url}): {e}")
        });
        // Concurrent writers (the fake Frappe answers requests in parallel, as Frappe's
        // workers do) can deadlock on InnoDB's gap locks; MariaDB then rolls one back, and
        // it is tried again, as Frappe retries a deadlocked query.
        let mut tries = 0;
        let rows = loop {
            let got = if params.is_empty() {
                conn.query(query).await
            } else {
                conn.exec(query, params.clone()).await
            };
            match got {
                Err(mysql_async::Error::Server(e)) if e.code == 1213 && tries < 5 => tries += 1,
                other => break other.unwrap_or_else(|e| panic!("{query}: {e}")),
            }
        };
        conn.disconnect().await.unwrap();
        rows
    })
}

/// The first column of the first row, as a string (NULL and no row: None).
pub fn sql_value(query: &str, params: Vec<mysql_async::Value>) -> Option<String> {
    sql_value_at(&mariadb_url(), query, params)
}

pub fn sql_value_at(url: &str, query: &str, params: Vec<mysql_async::Value>) -> Option<String> {
    let mut rows = sql_at(url, query, params);
    if rows.is_empty() {
        return None;
    }
    let v: mysql_async::Value = rows.remove(0).take(0)?;
    match v {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// A MariaDB value as text: what a leaked secret would look like in any column.
pub fn cell(v: &mysql_async::Value) -> String {
    match v {
        mysql_async::Value::NULL => String::new(),
        mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.as_sql(true),
    }
}

pub fn database_exists(db: &str) -> bool {
    database_exists_at(&mariadb_url(), db)
}

pub fn database_exists_at(url: &str, db: &str) -> bool {
    let q = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?";
    !sql_at(url, q, vec![db.into()]).is_empty()
}

pub fn db_user_exists(user: &str) -> bool {
    db_user_exists_at(&mariadb_url(), user)
}

pub fn db_user_exists_at(url: &str, user: &str) -> bool {
    !sql_at(
        url,
        "SELECT 1 FROM mysql.user WHERE User = ?",
        vec![user.into()],
    )
    .is_empty()
}

/// Waits until `done` holds, checking every 20 ms; fails the test after `secs` seconds.
/// Tests wait on what they can observe (a file, a lock, a row), never a fixed sleep.
pub fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting until {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A local port whose every connection is accepted and closed at once: a server that is
/// down, deterministically. Not a fixed port (something may listen on 9) and not a port
/// bound and released (another process may take it in between); held until dropped.
pub struct ClosedPort {
    pub port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl ClosedPort {
    pub fn new() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
                if s.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
            }
        });
        Self { port, stop }
    }

    /// `mysql://root@127.0.0.1:<port>`.
    pub fn mysql_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ClosedPort {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so its thread ends with the test.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Frappe's lists where a bench has them (apps/frappe/frappe/geo/country_info.json and
/// languages.json, utils/momentjs.py), made from what a real 15.14.1 site answers for
/// them (`get_country_timezone_info`, `load_languages`), in Frappe's own file layout.
pub fn write_frappe_lists(bench: &Path) {
    let app = bench.join("apps/frappe/frappe");
    std::fs::create_dir_all(app.join("geo")).unwrap();
    std::fs::create_dir_all(app.join("utils")).unwrap();
    let info: Value =
        serde_json::from_str(&fixture("setup-country-timezone-info-guest").1).unwrap();
    let info = &info["message"];
    std::fs::write(
        app.join("geo/country_info.json"),
        serde_json::to_string_pretty(&info["country_info"]).unwrap(),
    )
    .unwrap();
    let langs: Value = serde_json::from_str(&fixture("setup-load-languages").1).unwrap();
    let languages: Vec<Value> = langs["message"]["codes_to_names"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(code, name)| serde_json::json!({"code": code, "name": name}))
        .collect();
    std::fs::write(
        app.join("geo/languages.json"),
        serde_json::to_string_pretty(&languages).unwrap(),
    )
    .unwrap();
    let mut py = String::from(
        "# get data for moment.js\ndef get_all_timezones():\n\treturn sorted(list(data[\"zones\"]))\n\n\ndata = {\n\t\"zones\": {\n",
    );
    for zone in info["all_timezones"].as_array().unwrap() {
        py.push_str(&format!("\t\t{zone}: [\"0 - UTC\"],\n"));
    }
    py.push_str("\t},\n\t\"rules\": {},\n\t\"links\": {},\n}\n");
    std::fs::write(app.join("utils/momentjs.py"), py).unwrap();
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A throw-away bench directory for the bench double. When it goes, so does every
/// database and DB user its new-site calls made (read from the double's call log, so a
/// failing test cleans up too).
pub struct TestBench {
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    /// The MariaDB server its sites live on.
    pub url: String,
    /// The registry `tool` gives the tool: this bench's own, so no test leaves rows (or
    /// the database) in the shared server's `frappe_tenant`; dropped with the bench.
    pub registry: String,
}

impl TestBench {
    pub fn new(apps: &[&str]) -> Self {
        Self::on(&mariadb_url(), apps)
    }

    /// A bench whose sites live on the MariaDB server at `url`.
    pub fn on(url: &str, apps: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sites = dir.path().join("sites");
        std::fs::create_dir_all(&sites).unwrap();
        let mut apps_txt = String::from("frappe\n");
        for a in apps {
            apps_txt.push_str(a);
            apps_txt.push('\n');
        }
        std::fs::write(sites.join("apps.txt"), apps_txt).unwrap();
        let parsed = url::Url::parse(url).unwrap();
        // As root, bench refuses to run unless it is told which user to drop to; the
        // tests run as root in CI, so their benches are root's (see `owned_by`).
        let common = serde_json::json!({"db_host": parsed.host_str().unwrap(), "db_port": parsed.port().unwrap_or(3306), "frappe_user": "root", "redis_cache": redis::redis_url()});
        std::fs::write(sites.join("common_site_config.json"), common.to_string()).unwrap();
        write_frappe_lists(dir.path());
        // A real bench has its own interpreter here; the tool runs it in the container
        // to stop its own commands there.
        std::fs::create_dir_all(dir.path().join("env/bin")).unwrap();
        std::os::unix::fs::symlink(python3(), dir.path().join("env/bin/python")).unwrap();
        let log = dir.path().join("bench-calls.jsonl");
        Self {
            dir,
            log,
            url: url.to_string(),
            registry: format!("ft_test_reg_{:08x}", rand::random::<u32>()),
        }
    }

    /// Gives the bench to `user`, as a real bench belongs to its `frappe_user`: every
    /// file chowned to the user and its same-named group, and bench told to drop to it.
    /// Returns the (uid, gid). Needs root.
    pub fn owned_by(&self, user: &str) -> (u32, u32) {
        let (uid, gid) = user_ids(user);
        let common = self.path().join("sites/common_site_config.json");
        let mut conf: Value =
            serde_json::from_str(&std::fs::read_to_string(&common).unwrap()).unwrap();
        conf["frappe_user"] = user.into();
        std::fs::write(&common, conf.to_string()).unwrap();
        fn chown_all(p: &Path, uid: u32, gid: u32) {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
            if p.is_dir() && !p.is_symlink() {
                for e in std::fs::read_dir(p).unwrap() {
                    chown_all(&e.unwrap().path(), uid, gid);
                }
            }
        }
        chown_all(self.path(), uid, gid);
        (uid, gid)
    }

    /// Every database a new-site of this bench was asked to make, with its site.
    pub fn made_databases(&self) -> Vec<(String, String)> {
        made_databases(&self.log)
    }
    /// The databases new-site made for `site`.
    pub fn databases_of(&self, site: &str) -> Vec<String> {
        self.made_databases()
            .into_iter()
            .filter(|(s, _)| s == site)
            .map(|(_, d)| d)
            .collect()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn site_dir(&self, site: &str) -> PathBuf {
        self.path().join("sites").join(site)
    }

    pub fn archived(&self, site: &str) -> bool {
        self.path().join("archived/sites").join(site).exists()
    }

    /// Every bench call the tool made: argv and how many stdin lines bench read.
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn calls_of(&self, command: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c["argv"].as_array().unwrap().iter().any(|a| a == command))
            .count()
    }
}

/// The tool's PATH: `first`, then a folder whose `python3` is the interpreter itself, then
/// ours. The doubles are Python programs (`#!/usr/bin/env python3`) run thousands of times
/// a suite; behind a version manager's shim (pyenv's is a bash script that forks several
/// more) each start cost a fifth of the suite's CPU.
pub fn search_path(first: &[&Path]) -> String {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let interpreter = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(python3(), dir.path().join("python3")).unwrap();
        dir
    });
    let ours = std::env::var("PATH").unwrap_or_default();
    first
        .iter()
        .copied()
        .chain([interpreter.path()])
        .map(|p| p.display().to_string())
        .chain([ours])
        .collect::<Vec<_>>()
        .join(":")
}

fn python3() -> PathBuf {
    ["/usr/local/bin/python3", "/usr/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let out = Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .ok()?;
            Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
        })
        .expect("python3 (the bench double is a Python program)")
}

impl Drop for TestBench {
    fn drop(&mut self) {
        for (_, db) in self.made_databases() {
            drop_database_and_user_at(&self.url, &db);
        }
        sql_at(
            &self.url,
            &format!("DROP DATABASE IF EXISTS `{}`", self.registry),
            vec![],
        );
    }
}

/// The uid of `user` and the gid of the group named like it (bench's `drop_privileges`
/// takes both by that one name).
pub fn user_ids(user: &str) -> (u32, u32) {
    let name = std::ffi::CString::new(user).unwrap();
    // SAFETY: getpwnam/getgrnam return pointers into static storage, read at once, and
    // the tests look users up from one thread at a time.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        assert!(!pw.is_null(), "no user {user}");
        let gr = libc::getgrnam(name.as_ptr());
        assert!(!gr.is_null(), "no group {user}");
        ((*pw).pw_uid, (*gr).gr_gid)
    }
}

/// Whether the tests run as root (CI does).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Pids of running processes whose environment holds `needle` (`NAME=value`): the test's
/// way to see which processes of a run are still alive, wherever they were started.
pub fn processes_with_env(needle: &str) -> Vec<u32> {
    let needle = needle.as_bytes();
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|v| v == needle) {
            out.push(pid);
        }
    }
    out
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) touches no memory of ours.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// The MariaDB named lock the tool takes for `site` (it never changed: runs of different
/// versions exclude each other).
pub fn site_lock_name(site: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(site.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("frappe-tenant:ft_{hex}")
}

/// Every (site, database) a bench double's new-site was asked to make, from its call log
/// (`BENCH_DOUBLE_LOG`; it logs even when a signal stops it).
pub fn made_databases(log: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|c| c["argv"][0] == "new-site")
        .filter_map(|c| {
            let argv: Vec<String> = c["argv"]
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str().map(String::from))
                .collect();
            let at = argv.iter().position(|a| a == "--db-name")?;
            Some((argv[1].clone(), argv.get(at + 1)?.clone()))
        })
        .collect()
}

/// Drops a database and the DB users named like it, at whatever host new-site made them.
pub fn drop_database_and_user_at(url: &str, db: &str) {
    sql_at(url, &format!("DROP DATABASE IF EXISTS `{db}`"), vec![]);
    let hosts = sql_at(
        url,
        "SELECT Host FROM mysql.user WHERE User = ?",
        vec![db.into()],
    );
    for host in hosts.into_iter().map(mysql_async::from_row::<String>) {
        sql_at(url, &format!("DROP USER IF EXISTS '{db}'@'{host}'"), vec![]);
    }
}

/// The tool run as a user would run it: env configured for the local executor with the
/// bench double, the fake Frappe and the real MariaDB. Nothing else from our env leaks in.
pub fn tool(bench: &TestBench, frappe: &FakeFrappe) -> Command {
    let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench-double/bench");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frappe-tenant"));
    cmd.env_clear()
        .env("PATH", search_path(&[]))
        .env("BENCH_EXECUTOR", "local")
        .env("BENCH_BIN", double)
        .env("BENCH_PATH", bench.path())
        .env("BENCH_DOUBLE_LOG", &bench.log)
        .env("FRAPPE_URL", &frappe.url)
        .env("MARIADB_URL", &bench.url)
        .env("REGISTRY_DB", &bench.registry)
        .env("PROVISION_TIMEOUT", "60");
    cmd
}

pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Run {
    /// Its JSON, asserted a success (exit 0, `success: true`); `what` names it on failure.
    pub fn succeeded(self, what: &dyn std::fmt::Debug) -> Value {
        assert_eq!(self.code, 0, "{what:?}: {}\n{}", self.json, self.stderr);
        assert_eq!(self.json["success"], true, "{what:?}: {}", self.json);
        self.json
    }
}

pub fn run(cmd: Command) -> Run {
    finish(spawn(cmd))
}

/// Starts the tool with stdout and stderr captured, for tests that act while it runs.
pub fn spawn(mut cmd: Command) -> Child {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    OUTPUTS
        .lock()
        .unwrap()
        .insert(child.id(), output_name(&args));
    child
}

/// Which output schema each running tool answers with, by pid, so `finish` validates
/// every JSON object the tests see against the checked-in `schema/`.
static OUTPUTS: Mutex<std::collections::BTreeMap<u32, &'static str>> =
    Mutex::new(std::collections::BTreeMap::new());

/// The schema name of a command line: the command, and the subcommand of template and
/// pool. Anything unparsable answers with the failure object, which every schema allows.
fn output_name(args: &[String]) -> &'static str {
    if args.first().map(String::as_str) == Some("provision")
        && args.iter().any(|a| a == "--dry-run")
    {
        return "provision-dry-run";
    }
    let mut words = args.iter().filter(|a| !a.starts_with('-'));
    let name = match (
        words.next().map(String::as_str),
        words.next().map(String::as_str),
    ) {
        (Some("template"), Some("build")) => "template-build",
        (Some("template"), Some("status")) => "template-status",
        (Some("pool"), Some("fill")) => "pool-fill",
        (Some("pool"), Some("status")) => "pool-status",
        (Some("pool"), Some("drain")) => "pool-drain",
        (Some("bench"), Some("list")) => "bench-list",
        (Some("db-server"), Some("list")) => "db-server-list",
        (Some("db-server"), _) => "db-server",
        (Some("bench"), _) => "bench",
        (Some("verify"), _) => "verify",
        (Some("list"), _) => "list",
        (Some("cleanup"), _) => "cleanup",
        (Some("login-link"), _) => "login-link",
        (Some("suspend"), _) => "suspend",
        (Some("resume"), _) => "resume",
        (Some("plan"), _) => "plan-set",
        (Some("usage"), _) => "usage",
        (Some("backup"), _) => "backup",
        _ => "provision",
    };
    frappe_tenant::output::schema_names()
        .iter()
        .find(|n| **n == name)
        .expect("a known output")
}

/// Fails the test when `json` does not match the checked-in schema of output `name`.
pub fn assert_matches_schema(name: &str, json: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schema/{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "stdout does not match schema/{name}.schema.json: {errors:?}\n{json}"
    );
}

/// Waits for the tool and checks that stdout is exactly one JSON line.
pub fn finish(child: Child) -> Run {
    let output = OUTPUTS.lock().unwrap().remove(&child.id());
    let out: Output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be exactly one JSON line, got: {stdout:?}"
    );
    let json: Value = serde_json::from_str(lines[0]).unwrap();
    assert_matches_schema(output.expect("started by spawn"), &json);
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

pub const PASSWORD: &str = "Tr1cky-Lantern-42";

pub fn provision_args(cmd: &mut Command, subdomain: &str) {
    provision_args_with(cmd, subdomain, PASSWORD);
}

/// `provision_args` with another password (weak ones, for the verdict's tests).
pub fn provision_args_with(cmd: &mut Command, subdomain: &str, password: &str) {
    cmd.args([
        "provision",
        subdomain,
        "jane@acme.com",
        "Jane Roe",
        password,
        "Acme Inc",
    ]);
}

/// Nothing of `site` is left: no folder in the bench, and no database or DB user of any
/// new-site this bench ran for it.
pub fn assert_site_gone(bench: &TestBench, site: &str) {
    assert!(
        !bench.site_dir(site).exists(),
        "site folder of {site} left behind"
    );
    for db in bench.databases_of(site) {
        assert!(
            !database_exists_at(&bench.url, &db),
            "database {db} of {site} left behind"
        );
        assert!(
            !db_user_exists_at(&bench.url, &db),
            "DB user {db} of {site} left behind"
        );
    }
}

/// A MariaDB admin account not named root (as managed MariaDB services have), with all
/// privileges and a password; dropped when the test ends, pass or fail.
pub struct AdminAccount {
    pub user: String,
    password: String,
}

impl AdminAccount {
    pub fn create() -> Self {
        let user = format!("ftadm_{:08x}", rand::random::<u32>());
        let password = format!("Pw{:016x}", rand::random::<u64>());
        sql(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"
        ));
        sql(&format!(
            "GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%' WITH GRANT OPTION"
        ));
        Self { user, password }
    }

    /// MARIADB_URL for the tool: the test server, logged in as this account.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&mariadb_url()).unwrap();
        url.set_username(&self.user).unwrap();
        url.set_password(Some(&self.password)).unwrap();
        url.to_string()
    }
}

impl Drop for AdminAccount {
    fn drop(&mut self) {
        sql(&format!("DROP USER IF EXISTS '{}'@'%'", self.user));
        sql(&format!("DROP DATABASE IF EXISTS `{}`", self.user));
    }
}

/// One bench, its fake Frappe, and the one site a test signs up; what the bench made is
/// dropped when the test ends, pass or fail (see `TestBench`).
pub struct SignUp {
    pub bench: TestBench,
    pub frappe: FakeFrappe,
    pub sub: String,
    pub site: String,
}

impl SignUp {
    pub fn new(apps: &[&str]) -> Self {
        let bench = TestBench::new(apps);
        let frappe = FakeFrappe::start(&bench);
        let sub = unique("t");
        let site = format!("{sub}.localhost");
        Self {
            bench,
            frappe,
            sub,
            site,
        }
    }

    /// The database new-site made for the site: the run's, whatever its name.
    pub fn db(&self) -> String {
        let dbs = self.bench.databases_of(&self.site);
        assert_eq!(
            dbs.len(),
            1,
            "new-site ran {} times for {}",
            dbs.len(),
            self.site
        );
        dbs.into_iter().next().unwrap()
    }
}

/// A connection of the test's own that keeps what its statement took (a named lock, rows
/// `FOR UPDATE` in an open transaction), as another run of the tool would, until dropped;
/// closing it gives all of that back.
struct Holding {
    release: Option<std::sync::mpsc::Sender<()>>,
    done: Option<thread::JoinHandle<()>>,
}

impl Holding {
    /// Runs `query` with `params` on the server at `url`, in a transaction when `tx`, and
    /// returns the first column of its rows.
    fn start(
        url: &str,
        tx: bool,
        query: String,
        params: Vec<mysql_async::Value>,
    ) -> (Self, Vec<Option<i64>>) {
        let url = url.to_string();
        let (got_tx, got_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let done = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use mysql_async::prelude::*;
                let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
                if tx {
                    conn.query_drop("START TRANSACTION").await.unwrap();
                }
                let rows: Vec<Option<i64>> = conn.exec(query, params).await.unwrap();
                got_tx.send(rows).unwrap();
                let _ = release_rx.recv();
                let _ = conn.disconnect().await;
            });
        });
        let rows = got_rx.recv().unwrap();
        let held = Self {
            release: Some(release),
            done: Some(done),
        };
        (held, rows)
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(d) = self.done.take() {
            let _ = d.join();
        }
    }
}

/// A MariaDB named lock held by a connection of the test's own, as another run of the
/// tool would hold it, until dropped.
pub struct HeldLock(Holding);

impl HeldLock {
    /// Takes `name` on the server at `url` (waiting up to 10 s for it), or fails the test.
    pub fn take(url: &str, name: &str) -> Self {
        let query = "SELECT GET_LOCK(?, 10)".to_string();
        let (held, got) = Holding::start(url, false, query, vec![name.into()]);
        assert_eq!(got, [Some(1)], "could not take the lock {name}");
        Self(held)
    }
}

/// A registry row held `FOR UPDATE` by a transaction of the test's own, so the tool's next
/// write of it waits (as behind a slow or busy server) until dropped.
pub struct HeldRow(Holding);

impl HeldRow {
    pub fn take(url: &str, registry: &str, site: &str) -> Self {
        let query = format!("SELECT id FROM `{registry}`.tenants WHERE site = ? FOR UPDATE");
        let (held, rows) = Holding::start(url, true, query, vec![site.into()]);
        assert_eq!(rows.len(), 1, "the run's row is held");
        Self(held)
    }
}

/// A tool run whose stderr is read line by line as it comes, so a test can act at a
/// given point of the run (the start of cleanup's countdown).
pub struct Watched {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Watched {
    /// A cleanup started without `--yes`, once it has printed its plan and is counting down
    /// to its removals (what a test changes from here, the cleanup must notice).
    pub fn counting_down(cmd: std::process::Command) -> Self {
        let mut w = Self::start(cmd);
        assert!(
            w.wait_for("press Ctrl-C to abort", Duration::from_secs(30)),
            "no countdown: {:?}",
            w.seen
        );
        w
    }

    pub fn start(cmd: std::process::Command) -> Self {
        let mut child = spawn(cmd);
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in
                std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: vec![],
        }
    }

    pub fn wait_for(&mut self, needle: &str, within: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + within;
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return false,
            }
        }
        true
    }

    pub fn finish(mut self) -> Run {
        let mut r = finish(self.child);
        self.seen.extend(self.lines.iter());
        r.stderr = self.seen.join("\n");
        r
    }
}
