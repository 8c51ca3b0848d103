//! Test doubles for the outside systems: a temporary bench driven by the bench double
//! (tests/bench-double/bench), a strict fake Frappe that serves the responses recorded in
//! fixtures/frappe-v15/, and the real MariaDB.
#![allow(dead_code, unused_imports)]

pub mod server;
pub mod world;

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
        let rows = if params.is_empty() {
            conn.query(query).await
        } else {
            conn.exec(query, params).await
        }
        .unwrap_or_else(|e| panic!("{query}: {e}"));
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
        let common = serde_json::json!({"db_host": parsed.host_str().unwrap(), "db_port": parsed.port().unwrap_or(3306)});
        std::fs::write(sites.join("common_site_config.json"), common.to_string()).unwrap();
        // A real bench has its own interpreter here; the tool runs it in the container
        // to stop its own commands there.
        std::fs::create_dir_all(dir.path().join("env/bin")).unwrap();
        std::os::unix::fs::symlink(python3(), dir.path().join("env/bin/python")).unwrap();
        let log = dir.path().join("bench-calls.jsonl");
        Self {
            dir,
            log,
            url: url.to_string(),
        }
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

/// How the fake answers one call, besides its realistic default.
#[derive(Clone)]
pub enum Inject {
    /// Answer with a recorded fixture instead (e.g. "create-user-weak-password").
    Fixture(&'static str),
    /// Answer with this status and plain-text body (a proxy error, not Frappe's).
    Status(u16, &'static str),
    /// Never answer within the test's deadline.
    Hang,
}

#[derive(Default)]
struct FakeState {
    saas_settings_exists: bool,
    inject: HashMap<&'static str, Inject>,
    calls: Vec<(String, String)>,
    unexpected: Vec<String>,
}

/// A strict fake of Frappe's REST API for sites of one bench, backed like Frappe by each
/// site's own database in the real MariaDB: responses are the recorded fixtures; login
/// checks the Administrator's passlib hash in `__Auth`; a user insert writes `tabUser`,
/// `tabHas Role` and the api_secret in `__Auth`; token auth reads them back; SaaS Settings
/// go to `tabSingles`. Any request it does not know fails the test.
pub struct FakeFrappe {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    server: Arc<tiny_http::Server>,
}

pub fn fixture(name: &str) -> (u16, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/frappe-v15")
        .join(format!("{name}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (
        v["status"].as_u64().unwrap() as u16,
        v["body"].as_str().unwrap().to_owned(),
    )
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
    }
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

/// Drops a database and the DB users named like it (as Frappe v15 makes them).
pub fn drop_database_and_user_at(url: &str, db: &str) {
    sql_at(url, &format!("DROP DATABASE IF EXISTS `{db}`"), vec![]);
    for host in ["%", "localhost"] {
        sql_at(url, &format!("DROP USER IF EXISTS '{db}'@'{host}'"), vec![]);
    }
}

impl FakeFrappe {
    pub fn start(bench: &TestBench) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let state = Arc::new(Mutex::new(FakeState::default()));
        let sites = bench.path().join("sites");
        let (srv, st) = (server.clone(), state.clone());
        // Like Frappe, it keeps each site's state in that site's database.
        let db_url = bench.url.clone();
        thread::spawn(move || {
            for req in srv.incoming_requests() {
                let (st, sites, db_url) = (st.clone(), sites.clone(), db_url.clone());
                thread::spawn(move || handle(req, &st, &sites, &db_url));
            }
        });
        Self { url, state, server }
    }

    pub fn with_saas_settings(self) -> Self {
        self.state.lock().unwrap().saas_settings_exists = true;
        self
    }

    pub fn inject(self, call: &'static str, how: Inject) -> Self {
        self.state.lock().unwrap().inject.insert(call, how);
        self
    }

    pub fn calls(&self, call: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(c, _)| c == call)
            .count()
    }

    /// Fails the test if the tool sent anything the fake does not know.
    pub fn assert_no_unexpected(&self) {
        let st = self.state.lock().unwrap();
        assert!(
            st.unexpected.is_empty(),
            "unexpected requests to fake Frappe: {:?}",
            st.unexpected
        );
    }
}

impl Drop for FakeFrappe {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn handle(mut req: tiny_http::Request, state: &Mutex<FakeState>, sites: &Path, url: &str) {
    let sql_value = |q: &str, p: Vec<mysql_async::Value>| sql_value_at(url, q, p);
    let sql_with = |q: &str, p: Vec<mysql_async::Value>| sql_at(url, q, p);
    let sql = |q: &str| sql_at(url, q, vec![]);
    let header = |name: &'static str| {
        req.headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.to_string())
    };
    let host = header("Host").unwrap_or_default();
    let cookie = header("Cookie").unwrap_or_default();
    let auth = header("Authorization").unwrap_or_default();
    let mut body = String::new();
    let _ = req.as_reader().read_to_string(&mut body);
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let call = match (req.method().as_str(), req.url()) {
        ("POST", "/api/method/login") => "login",
        ("GET", "/api/method/ping") => "ping",
        ("POST", "/api/resource/User") => "create-user",
        ("PUT", "/api/resource/SaaS%20Settings/SaaS%20Settings") => "saas-settings",
        ("GET", "/api/method/frappe.auth.get_logged_user") => "get-logged-user",
        (m, u) => {
            state.lock().unwrap().unexpected.push(format!("{m} {u}"));
            return respond(req, 599, "unexpected request".into());
        }
    };
    let inject = {
        let mut st = state.lock().unwrap();
        st.calls.push((call.into(), host.clone()));
        st.inject.get(call).cloned()
    };
    // Frappe routes by Host to sites/<host>; no site_config.json there is werkzeug's 404.
    let db = std::fs::read_to_string(sites.join(&host).join("site_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|c| c["db_name"].as_str().map(|d| format!("`{d}`")));
    let Some(db) = db else {
        let (s, b) = fixture("unknown-site");
        return respond(req, s, b.replace("no-such-site.localhost", &host));
    };
    match inject {
        Some(Inject::Fixture(name)) => {
            let (s, b) = fixture(name);
            return respond(req, s, b);
        }
        Some(Inject::Status(s, b)) => return respond(req, s, b.into()),
        Some(Inject::Hang) => {
            thread::sleep(Duration::from_secs(60));
            return respond(req, 504, "too late".into());
        }
        None => {}
    }
    let logged_in = cookie.contains("sid=fake-sid-");
    let text = |v: &Value| mysql_async::Value::from(v.as_str().unwrap_or_default());
    let (status, text) = match call {
        "ping" => fixture("ping-ok"),
        "login" => {
            let stored = sql_value(
                &format!("SELECT password FROM {db}.__Auth WHERE doctype = 'User' AND name = 'Administrator' AND fieldname = 'password' AND encrypted = 0"),
                vec![],
            );
            if body["usr"] == "Administrator"
                && stored
                    .is_some_and(|h| passlib_verify(body["pwd"].as_str().unwrap_or_default(), &h))
            {
                let (s, b) = fixture("login-ok");
                let resp = tiny_http::Response::from_string(b)
                    .with_status_code(s)
                    .with_header(tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap())
                    .with_header(tiny_http::Header::from_bytes("Set-Cookie", "sid=fake-sid-1234; Expires=Thu, 01 Jan 2099 00:00:00 GMT; HttpOnly; Path=/; SameSite=Lax").unwrap());
                let _ = req.respond(resp);
                return;
            }
            fixture("login-wrong-password")
        }
        _ if !logged_in && call != "get-logged-user" => fixture("list-users-as-guest"),
        "create-user" => {
            let email = body["email"].as_str().unwrap_or_default().to_owned();
            let key = body["api_key"].as_str().unwrap_or_default().to_owned();
            let exists = sql_value(
                &format!("SELECT COUNT(*) FROM {db}.tabUser WHERE name = ?"),
                vec![email.clone().into()],
            );
            if exists.as_deref() != Some("0") {
                let (s, b) = fixture("create-user-duplicate");
                (s, b.replace("{{email}}", &email))
            } else {
                sql_with(
                    &format!("INSERT INTO {db}.tabUser (name, creation, email, first_name, last_name, enabled, user_type, api_key) VALUES (?, NOW(6), ?, ?, ?, ?, ?, ?)"),
                    vec![email.clone().into(), email.clone().into(), text(&body["first_name"]), text(&body["last_name"]), body["enabled"].as_i64().unwrap_or(0).into(), text(&body["user_type"]), key.clone().into()],
                );
                for (i, r) in body["roles"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    sql_with(
                        &format!("INSERT INTO {db}.`tabHas Role` (name, parent, parentfield, parenttype, role) VALUES (?, ?, 'roles', 'User', ?)"),
                        vec![format!("{email}-{i}").into(), email.clone().into(), text(&r["role"])],
                    );
                }
                // Frappe encrypts Password fields with the site's key; the fake's "encryption" is a prefix.
                sql_with(
                    &format!("INSERT INTO {db}.__Auth (doctype, name, fieldname, password, encrypted) VALUES ('User', ?, 'api_secret', ?, 1)"),
                    vec![email.clone().into(), format!("fake-encrypted:{}", body["api_secret"].as_str().unwrap_or_default()).into()],
                );
                let (s, b) = fixture("create-user-ok");
                (
                    s,
                    b.replace("{{email}}", &email).replace("{{apiKey}}", &key),
                )
            }
        }
        "saas-settings" => {
            if state.lock().unwrap().saas_settings_exists {
                sql(&format!("INSERT IGNORE INTO {db}.tabDocType (name, issingle) VALUES ('SaaS Settings', 1)"));
                for (field, value) in body.as_object().cloned().unwrap_or_default() {
                    sql_with(&format!("DELETE FROM {db}.tabSingles WHERE doctype = 'SaaS Settings' AND field = ?"), vec![field.clone().into()]);
                    let value = match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    sql_with(
                        &format!("INSERT INTO {db}.tabSingles (doctype, field, value) VALUES ('SaaS Settings', ?, ?)"),
                        vec![field.into(), value.into()],
                    );
                }
                fixture("saas-settings-ok")
            } else {
                fixture("saas-settings-missing")
            }
        }
        _ => {
            let (key, secret) = auth
                .strip_prefix("token ")
                .and_then(|t| t.split_once(':'))
                .unwrap_or_default();
            let user = sql_value(
                &format!("SELECT name FROM {db}.tabUser WHERE api_key = ?"),
                vec![key.into()],
            );
            let stored = user.as_ref().and_then(|u| {
                sql_value(
                    &format!("SELECT password FROM {db}.__Auth WHERE doctype = 'User' AND name = ? AND fieldname = 'api_secret' AND encrypted = 1"),
                    vec![u.clone().into()],
                )
            });
            match (user, stored) {
                (Some(email), Some(s)) if s == format!("fake-encrypted:{secret}") => {
                    let (st, b) = fixture("get-logged-user-token-ok");
                    (st, b.replace("{{email}}", &email))
                }
                _ => fixture("get-logged-user-token-bad"),
            }
        }
    };
    respond(req, status, text)
}

/// passlib's pbkdf2_sha256 verify, with the tool's own hash function (itself checked
/// against passlib in a unit test).
fn passlib_verify(password: &str, stored: &str) -> bool {
    use base64::Engine;
    let parts: Vec<&str> = stored.split('$').collect();
    let [_, "pbkdf2-sha256", "29000", salt, _] = parts.as_slice() else {
        return false;
    };
    let Ok(salt) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(salt.replace('.', "+"))
    else {
        return false;
    };
    let Ok(salt) = <[u8; 16]>::try_from(salt.as_slice()) else {
        return false;
    };
    frappe_tenant::outside::mariadb::tenant::frappe_password_hash(
        &frappe_tenant::basics::secret::Secret::new(password),
        salt,
    ) == stored
}

fn respond(req: tiny_http::Request, status: u16, body: String) {
    let ct = if body.starts_with('{') {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    let resp = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(tiny_http::Header::from_bytes("Content-Type", ct).unwrap());
    let _ = req.respond(resp);
}

/// The tool run as a user would run it: env configured for the local executor with the
/// bench double, the fake Frappe and the real MariaDB. Nothing else from our env leaks in.
pub fn tool(bench: &TestBench, frappe: &FakeFrappe) -> Command {
    let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench-double/bench");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frappe-tenant"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BENCH_EXECUTOR", "local")
        .env("BENCH_BIN", double)
        .env("BENCH_PATH", bench.path())
        .env("BENCH_DOUBLE_LOG", &bench.log)
        .env("FRAPPE_URL", &frappe.url)
        .env("MARIADB_URL", mariadb_url())
        .env("PROVISION_TIMEOUT", "60");
    cmd
}

pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
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
        (Some("bench"), _) => "bench",
        (Some("verify"), _) => "verify",
        (Some("list"), _) => "list",
        (Some("cleanup"), _) => "cleanup",
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

/// A MariaDB named lock held by a connection of the test's own, as another run of the
/// tool would hold it, until dropped.
pub struct HeldLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    done: Option<thread::JoinHandle<()>>,
}

impl HeldLock {
    /// Takes `name` on the server at `url` (waiting up to 10 s for it), or fails the test.
    pub fn take(url: &str, name: &str) -> Self {
        let (url, lock) = (url.to_string(), name.to_string());
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
                let got: Option<Option<i64>> = conn
                    .exec_first("SELECT GET_LOCK(?, 10)", (&lock,))
                    .await
                    .unwrap();
                got_tx.send(got.flatten() == Some(1)).unwrap();
                let _ = release_rx.recv();
                let _ = conn.disconnect().await;
            });
        });
        assert!(got_rx.recv().unwrap(), "could not take the lock {name}");
        Self {
            release: Some(release),
            done: Some(done),
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(d) = self.done.take() {
            let _ = d.join();
        }
    }
}
