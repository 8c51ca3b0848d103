//! A strict fake of Frappe v15's REST API for the sites of one bench, backed like Frappe by
//! each site's own database in the real MariaDB, answering with the responses recorded in
//! fixtures/frappe-v15/ (how each was recorded: fixtures/frappe-v15/README.md).
//!
//! It refuses what Frappe v15.14.1 refuses, in Frappe's order (frappe/app.py: the site by
//! Host, then auth, then the endpoint):
//! - a Host with no site is werkzeug's 404;
//! - `Authorization: token key:secret` is checked before anything else, a wrong one is 401
//!   on any path (auth.py `validate_auth`);
//! - a `sid` cookie counts only on the site whose login made it, for the user who logged
//!   in; any other sid is a Guest with `session_expired` (sessions.py `get_session_record`),
//!   and a Guest may not create users or write SaaS Settings (403);
//! - a site whose config says `maintenance_mode` (without `allow_reads_during_maintenance`)
//!   answers every request 503 `SessionStopped` before any auth (app.py `init_request`;
//!   fixtures/frappe-v15/maintenance-mode-api.json), as a suspended tenant does;
//! - only then an injected fault, so a test that injects one still fails a tool that lost
//!   its session;
//! - a new user's password must pass the site's password policy, read from its System
//!   Settings (user.py `test_password_strength`), before the duplicate check (validate runs
//!   before `db_insert`): 417 with Frappe's message; a password that passes is stored as a
//!   passlib pbkdf2_sha256 hash, and the user can log in with it;
//! - `SaaS Settings` keeps only its DocType's fields (`plan_name` Data, `max_users` Int,
//!   `max_storage` Float), converted as Frappe converts them; a key the DocType lacks is
//!   dropped without a word, as Frappe drops it (base_document.py `get_valid_dict`).
//!
//! Every request it does not know fails the test that made it, when the fake is dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use super::sql_at;

/// How the fake answers one call, once auth has passed, instead of its realistic default.
#[derive(Clone)]
pub enum Inject {
    /// Answer with a recorded fixture instead (e.g. "create-user-weak-password").
    Fixture(&'static str),
    /// Answer with this status and plain-text body (a proxy error, not Frappe's).
    Status(u16, &'static str),
    /// Never answer while the test lasts (the fake answers 504 once it is dropped).
    Hang,
    /// A proxy in front of Frappe answers this status and text itself: Frappe never sees
    /// the request (no maintenance mode, no auth).
    Proxy(u16, &'static str),
}

/// A logged-in session: the site (Host) and the user its login was for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub site: String,
    pub user: String,
}

#[derive(Default)]
struct FakeState {
    saas_settings_exists: bool,
    inject: HashMap<&'static str, Inject>,
    calls: Vec<(String, String)>,
    unexpected: Vec<String>,
    sessions: HashMap<String, Session>,
    /// Each call authenticated by `Authorization: token key:secret`: the call, the site
    /// (Host), the `key:secret` and the user it authenticated (`None`: refused).
    tokens: Vec<TokenCall>,
}

#[derive(Clone, Debug)]
pub struct TokenCall {
    pub call: String,
    pub site: String,
    pub token: String,
    pub user: Option<String>,
}

/// Released when the fake is dropped, so a hanging answer never outlives its test.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    cond: Condvar,
}

pub struct FakeFrappe {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    stop: Arc<Stop>,
    server: Arc<tiny_http::Server>,
}

/// A recorded response: its status and raw body.
pub fn fixture(name: &str) -> (u16, String) {
    let v = fixture_json(name);
    (
        v["status"].as_u64().unwrap() as u16,
        v["body"].as_str().unwrap().to_owned(),
    )
}

/// A fixture file as recorded (`{method, path, status, contentType, body}` or a table).
pub fn fixture_json(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/frappe-v15")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

impl FakeFrappe {
    pub fn start(bench: &super::TestBench) -> Self {
        Self::serving(bench, None)
    }

    /// A fake that answers as Frappe behind gunicorn's sync workers: `workers` requests at
    /// a time, taken in arrival order, each `service` longer (Frappe's own time on it).
    /// For the burst benchmark, where the web workers are what sign-ups share.
    #[allow(dead_code)]
    pub fn with_workers(bench: &super::TestBench, workers: usize, service: Duration) -> Self {
        Self::serving(bench, Some((workers, service)))
    }

    fn serving(bench: &super::TestBench, workers: Option<(usize, Duration)>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let state = Arc::new(Mutex::new(FakeState::default()));
        let stop = Arc::new(Stop::default());
        let sites = bench.path().join("sites");
        // Like Frappe, it keeps each site's state in that site's database.
        let db_url = bench.url.clone();
        let answer = move |req, st: &Mutex<FakeState>, sp: &Stop, sites: &Path, db_url: &str| {
            let site = Site { sites, url: db_url };
            handle(req, st, sp, &site)
        };
        match workers {
            None => {
                let (srv, st, sp) = (server.clone(), state.clone(), stop.clone());
                thread::spawn(move || {
                    for req in srv.incoming_requests() {
                        let (st, sp, sites, db_url) =
                            (st.clone(), sp.clone(), sites.clone(), db_url.clone());
                        thread::spawn(move || answer(req, &st, &sp, &sites, &db_url));
                    }
                });
            }
            Some((n, service)) => {
                for _ in 0..n {
                    let (srv, st, sp) = (server.clone(), state.clone(), stop.clone());
                    let (sites, db_url) = (sites.clone(), db_url.clone());
                    thread::spawn(move || {
                        while let Ok(req) = srv.recv() {
                            thread::sleep(service);
                            answer(req, &st, &sp, &sites, &db_url);
                        }
                    });
                }
            }
        }
        Self {
            url,
            state,
            stop,
            server,
        }
    }

    pub fn with_saas_settings(self) -> Self {
        self.state.lock().unwrap().saas_settings_exists = true;
        self
    }

    /// The same, on a fake a test already holds (in a `World`).
    pub fn has_saas_settings(&self) {
        self.state.lock().unwrap().saas_settings_exists = true;
    }

    pub fn inject(self, call: &'static str, how: Inject) -> Self {
        self.injecting(call, how);
        self
    }

    /// The same, on a fake a test already holds (in a `World`).
    pub fn injecting(&self, call: &'static str, how: Inject) {
        self.state.lock().unwrap().inject.insert(call, how);
    }

    /// Answers `call` normally again (a request already hanging stays so).
    pub fn stop_injecting(&self, call: &str) {
        self.state.lock().unwrap().inject.remove(call);
    }

    /// How many times `call` was made (any site).
    pub fn calls(&self, call: &str) -> usize {
        self.calls_on(call, None)
    }

    /// How many times `call` was made, on `site` when given.
    pub fn calls_on(&self, call: &str, site: Option<&str>) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(c, h)| c == call && site.map_or(true, |s| s == h))
            .count()
    }

    /// Every call authenticated by an API key and secret, in order.
    pub fn token_calls(&self) -> Vec<TokenCall> {
        self.state.lock().unwrap().tokens.clone()
    }

    /// Every session a login made, by its sid.
    pub fn sessions(&self) -> HashMap<String, Session> {
        self.state.lock().unwrap().sessions.clone()
    }

    /// Logs in on `site` as `usr` over HTTP, as a browser would; the session's sid when
    /// Frappe's answer is 200.
    pub fn login(&self, site: &str, usr: &str, pwd: &str) -> Option<String> {
        let body = json!({"usr": usr, "pwd": pwd}).to_string();
        let (status, headers, _) = http(&self.url, "POST", site, "/api/method/login", &[], &body);
        if status != 200 {
            return None;
        }
        headers.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            if !name.eq_ignore_ascii_case("set-cookie") {
                return None;
            }
            let sid = value.trim().strip_prefix("sid=")?;
            Some(sid.split(';').next().unwrap_or_default().to_owned())
        })
    }

    /// Fails the test unless `usr` can log in on `site` with `pwd`: the password Frappe
    /// holds is the one the sign-up asked for.
    pub fn assert_can_log_in(&self, site: &str, usr: &str, pwd: &str) {
        assert!(
            self.login(site, usr, pwd).is_some(),
            "{usr} cannot log in on {site} with the sign-up's password"
        );
        assert!(
            self.login(site, usr, &format!("{pwd}x")).is_none(),
            "{usr} logs in on {site} with a wrong password too"
        );
    }

    /// Fails the test if the tool sent anything the fake does not know. Every test
    /// checks this when its fake is dropped; calling it says where.
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
        *self.stop.stopped.lock().unwrap() = true;
        self.stop.cond.notify_all();
        self.server.unblock();
        let unexpected = std::mem::take(&mut self.state.lock().unwrap().unexpected);
        // A test already failing says why itself; a second panic would abort the process.
        if !unexpected.is_empty() && !thread::panicking() {
            panic!("unexpected requests to fake Frappe: {unexpected:?}");
        }
    }
}

/// The bench's sites and the MariaDB server their databases live on.
struct Site<'a> {
    sites: &'a Path,
    url: &'a str,
}

impl Site<'_> {
    /// Frappe routes by Host to sites/<host>; no site_config.json there is werkzeug's 404.
    fn db_of(&self, host: &str) -> Option<String> {
        if host.is_empty() || host.contains('/') || host.starts_with('.') {
            return None;
        }
        std::fs::read_to_string(self.sites.join(host).join("site_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|c| c["db_name"].as_str().map(|d| format!("`{d}`")))
    }

    /// `maintenance_mode` truthy and no `allow_reads_during_maintenance` in the site's
    /// config, as `frappe.local.conf` reads them (Python truthiness). Read-only maintenance
    /// (reads allowed) is not modelled: a request to such a site fails the test.
    fn in_maintenance(&self, host: &str) -> bool {
        let conf: Value = std::fs::read_to_string(self.sites.join(host).join("site_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let truthy = |v: &Value| match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        };
        let on = truthy(&conf["maintenance_mode"]);
        assert!(
            !(on && truthy(&conf["allow_reads_during_maintenance"])),
            "the fake Frappe does not model read-only maintenance ({host})"
        );
        on
    }

    /// The site (by its quoted database name) whose config names `db`.
    fn config_path(&self, db: &str) -> Option<std::path::PathBuf> {
        let want = db.trim_matches('`');
        std::fs::read_dir(self.sites).ok()?.flatten().find_map(|e| {
            let p = e.path().join("site_config.json");
            let c: Value = serde_json::from_str(&std::fs::read_to_string(&p).ok()?).ok()?;
            (c["db_name"].as_str() == Some(want)).then_some(p)
        })
    }

    /// The site's `encryption_key`, as `frappe.local.conf` reads it.
    fn encryption_key(&self, db: &str) -> Option<String> {
        let p = self.config_path(db)?;
        let c: Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        c["encryption_key"].as_str().map(String::from)
    }

    /// `get_encryption_key`: the site's key, made and written into its config when absent.
    fn encryption_key_or_new(&self, db: &str) -> String {
        if let Some(k) = self.encryption_key(db) {
            return k;
        }
        let p = self
            .config_path(db)
            .expect("the site of a database the fake serves");
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let key = super::fernet::generate_key();
        c["encryption_key"] = json!(key);
        std::fs::write(&p, serde_json::to_string_pretty(&c).unwrap()).unwrap();
        key
    }

    fn sql(&self, q: &str, p: Vec<mysql_async::Value>) -> Vec<mysql_async::Row> {
        sql_at(self.url, q, p)
    }

    fn value(&self, q: &str, p: Vec<mysql_async::Value>) -> Option<String> {
        super::sql_value_at(self.url, q, p)
    }
}

/// Who a request is, after Frappe's auth (auth.py `validate_auth`, sessions.py).
enum Who {
    User(String),
    Guest { session_expired: bool },
    BadToken,
}

fn handle(mut req: tiny_http::Request, state: &Mutex<FakeState>, stop: &Stop, site: &Site) {
    let header = |name: &'static str| {
        req.headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.to_string())
    };
    // Frappe's site is the Host up to its first ':' (utils.get_site_name).
    let host = header("Host")
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let cookie = header("Cookie").unwrap_or_default();
    let auth = header("Authorization").unwrap_or_default();
    let accept = header("Accept").unwrap_or_default();
    let mut body = String::new();
    let _ = req.as_reader().read_to_string(&mut body);
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let call = match (req.method().as_str(), req.url()) {
        ("POST", "/api/method/login") => "login",
        ("GET", "/api/method/ping") => "ping",
        ("POST", "/api/resource/User") => "create-user",
        ("PUT", "/api/resource/SaaS%20Settings/SaaS%20Settings") => "saas-settings",
        ("GET", "/api/method/frappe.auth.get_logged_user") => "get-logged-user",
        ("POST", "/api/method/frappe.desk.page.setup_wizard.setup_wizard.setup_complete") => {
            "setup-complete"
        }
        ("PUT", "/api/resource/System%20Settings/System%20Settings") => "system-settings",
        ("PUT", "/api/resource/User/Administrator" | "/api/resource/User/Guest") => "update-user",
        ("GET", u) if u.starts_with("/api/method/frappe.www.login.login_via_key?key=") => {
            "login-via-key"
        }
        (m, u) => {
            state
                .lock()
                .unwrap()
                .unexpected
                .push(format!("{m} {u} (Host {host})"));
            return respond(req, 599, "unexpected request".into(), &[]);
        }
    };
    let inject = {
        let mut st = state.lock().unwrap();
        st.calls.push((call.into(), host.clone()));
        st.inject.get(call).cloned()
    };
    if let Some(Inject::Proxy(status, text)) = inject {
        return respond(req, status, text.into(), &[]);
    }
    let Some(db) = site.db_of(&host) else {
        let (s, b) = fixture("unknown-site");
        return respond(req, s, b.replace("no-such-site.localhost", &host), &[]);
    };
    // A site in maintenance mode stops every request before auth (app.py init_request).
    if site.in_maintenance(&host) {
        // The traceback is in the answer while System Settings' allow_error_traceback is
        // on (its default, 1, on every fresh site), as recorded; without it only exc_type.
        let traceback = site.value(
            &format!("SELECT value FROM {db}.tabSingles WHERE doctype = 'System Settings' AND field = 'allow_error_traceback'"),
            vec![],
        );
        let (s, b) = match (
            accept.starts_with("text"),
            traceback.as_deref() == Some("1"),
        ) {
            (true, _) => (503, MAINTENANCE_PAGE.to_string()),
            (false, true) => fixture("maintenance-mode-api"),
            (false, false) => fixture("maintenance-mode-api-no-traceback"),
        };
        return respond(req, s, b, &[]);
    }

    // Auth first: a token, else the sid cookie of a session of this site.
    let sid = cookie
        .split(';')
        .map(str::trim)
        .find_map(|c| c.strip_prefix("sid="))
        .map(String::from);
    let who = if let Some(token) = auth.strip_prefix("token ") {
        let user = token_user(site, &db, token);
        state.lock().unwrap().tokens.push(TokenCall {
            call: call.into(),
            site: host.clone(),
            token: token.into(),
            user: user.clone(),
        });
        match user {
            Some(user) => Who::User(user),
            None => Who::BadToken,
        }
    } else if let Some(sid) = sid.filter(|s| s != "Guest") {
        let st = state.lock().unwrap();
        match st.sessions.get(&sid) {
            Some(s) if s.site == host => Who::User(s.user.clone()),
            _ => Who::Guest {
                session_expired: true,
            },
        }
    } else {
        Who::Guest {
            session_expired: false,
        }
    };
    if matches!(who, Who::BadToken) {
        let (s, b) = fixture("get-logged-user-token-bad");
        return respond(req, s, b, &[]);
    }
    if let Who::Guest { session_expired } = who {
        let refused = match call {
            "create-user" => Some("create-user"),
            "saas-settings" => Some("saas-settings"),
            "get-logged-user" => Some("get-logged-user"),
            "setup-complete" => Some("setup-complete"),
            "system-settings" => Some("system-settings"),
            "update-user" => Some("user-update"),
            _ => None,
        };
        if let Some(what) = refused {
            let name = match (what, session_expired) {
                ("get-logged-user", _) => "get-logged-user-as-guest".to_string(),
                // Recorded without a session only: Frappe answers a stale sid as Guest.
                ("setup-complete" | "system-settings" | "user-update", _) => {
                    format!("{what}-as-guest")
                }
                (w, true) => format!("{w}-session-expired"),
                (w, false) => format!("{w}-as-guest"),
            };
            let (s, b) = fixture(&name);
            return respond(req, s, b, &[]);
        }
    }

    match inject {
        Some(Inject::Fixture(name)) => {
            let (s, b) = fixture(name);
            return respond(req, s, b, &[]);
        }
        Some(Inject::Status(s, b)) => return respond(req, s, b.into(), &[]),
        Some(Inject::Hang) => {
            // No fixed sleep: hang until the test ends (the fake is dropped).
            let mut stopped = stop.stopped.lock().unwrap();
            while !*stopped {
                stopped = stop.cond.wait(stopped).unwrap();
            }
            drop(stopped);
            return respond(req, 504, "too late".into(), &[]);
        }
        // Answered above, before Frappe.
        Some(Inject::Proxy(..)) | None => {}
    }

    let user = match &who {
        Who::User(u) => Some(u.clone()),
        _ => None,
    };
    let (status, text) = match call {
        "ping" => match who {
            Who::Guest {
                session_expired: true,
            } => fixture("ping-session-expired"),
            _ => fixture("ping-ok"),
        },
        "login" => return login(req, state, site, &db, &host, &body),
        "login-via-key" => return login_via_key(req, state, site, &db, &host),
        "setup-complete" => setup_complete(site, &db, &body),
        "system-settings" => update_system_settings(site, &db, &body),
        "update-user" => update_standard_user(site, &db, req.url(), &body),
        "create-user" => create_user(site, &db, &body),
        "saas-settings" => {
            if state.lock().unwrap().saas_settings_exists {
                write_saas_settings(site, &db, &body, user.as_deref().unwrap_or_default())
            } else {
                fixture("saas-settings-missing")
            }
        }
        _ => {
            let (st, b) = fixture("get-logged-user-token-ok");
            (
                st,
                b.replace("{{email}}", user.as_deref().unwrap_or_default()),
            )
        }
    };
    respond(req, status, text, &[])
}

/// What a browser (`Accept: text/…`) gets from a site in maintenance mode:
/// `handle_session_stopped`'s page (utils/response.py), its title and message; not
/// recorded (a bench without built assets renders no page), the tool never asks for it.
const MAINTENANCE_PAGE: &str = "<!DOCTYPE html><html><head><title>Updating</title></head><body>\
    <h1>Updating</h1><p>The system is being updated. Please refresh again after a few moments.</p>\
    </body></html>";

/// Frappe's lists as recorded from 15.14.1 (`get_country_timezone_info`): countries with
/// their formats, and every time zone.
fn country_info() -> Value {
    let (_, body) = fixture("setup-country-timezone-info-guest");
    serde_json::from_str::<Value>(&body).unwrap()["message"].clone()
}

/// Language name → code, as recorded (`load_languages`).
fn language_code(name: &str) -> Option<String> {
    let (_, body) = fixture("setup-load-languages");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["message"]["codes_to_names"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, n)| n.as_str() == Some(name))
        .map(|(code, _)| code.clone())
}

fn set_single(site: &Site, db: &str, doctype: &str, field: &str, value: &str) {
    site.sql(
        &format!("DELETE FROM {db}.tabSingles WHERE doctype = ? AND field = ?"),
        vec![doctype.into(), field.into()],
    );
    site.sql(
        &format!("INSERT INTO {db}.tabSingles (doctype, field, value) VALUES (?, ?, ?)"),
        vec![doctype.into(), field.into(), value.into()],
    );
}

/// POST setup_wizard.setup_complete (setup_wizard.py): done at once when setup is complete;
/// else the global settings stage, which refuses what System Settings' save refuses (a
/// missing zone or country: MandatoryError; a country Frappe does not list:
/// LinkValidationError), writes System Settings, the standard users' zone and the desk's
/// home page; with ERPNext on the site, its company (install_company, whose failures
/// make_records swallows). An unknown language silently becomes `en`, as in Frappe.
fn setup_complete(site: &Site, db: &str, body: &Value) -> (u16, String) {
    let complete = site.value(
        &format!("SELECT value FROM {db}.tabSingles WHERE doctype = 'System Settings' AND field = 'setup_complete'"),
        vec![],
    );
    if complete.as_deref() == Some("1") {
        return fixture("setup-complete-again");
    }
    let args = match &body["args"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        v => v.clone(),
    };
    let arg = |k: &str| {
        args[k]
            .as_str()
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    let (country, zone) = (arg("country"), arg("timezone"));
    let info = country_info();
    if country.is_empty() || zone.is_empty() {
        return fixture("setup-complete-empty-args");
    }
    let Some(c) = info["country_info"].get(&country) else {
        let (s, b) = fixture("setup-complete-bad-country");
        return (s, b.replace("Narnia", &country));
    };
    let number_format = match c["number_format"].as_str().unwrap_or("#,###.##") {
        "#.###" => "#.###,##",
        "#,###" => "#,###.##",
        other => other,
    };
    let language = language_code(&arg("language")).unwrap_or_else(|| "en".into());
    for (field, value) in [
        ("country", country.as_str()),
        ("language", &language),
        ("time_zone", &zone),
        (
            "date_format",
            c["date_format"].as_str().unwrap_or("dd-mm-yyyy"),
        ),
        (
            "time_format",
            c["time_format"].as_str().unwrap_or("HH:mm:ss"),
        ),
        ("number_format", number_format),
        ("float_precision", "3"),
        ("enable_scheduler", "1"),
        ("enable_onboarding", "1"),
        ("setup_complete", "1"),
    ] {
        set_single(site, db, "System Settings", field, value);
    }
    site.sql(
        &format!("UPDATE {db}.tabUser SET time_zone = ? WHERE name IN ('Administrator', 'Guest')"),
        vec![zone.into()],
    );
    site.sql(
        &format!("UPDATE {db}.tabDefaultValue SET defvalue = 'workspace' WHERE defkey = 'desktop:home_page'"),
        vec![],
    );
    let erpnext = site.value(
        &format!("SELECT COUNT(*) FROM {db}.tabDocType WHERE name = 'Company'"),
        vec![],
    );
    if erpnext.as_deref() == Some("1") && !arg("company_name").is_empty() {
        site.sql(
            &format!("INSERT IGNORE INTO {db}.tabCompany (name, abbr, default_currency, country) VALUES (?, ?, ?, ?)"),
            vec![arg("company_name").into(), arg("company_abbr").into(), arg("currency").into(), country.into()],
        );
    }
    fixture("setup-complete-ok")
}

/// PUT System Settings: the fields it has (a key it lacks is dropped without a word, as
/// `get_valid_dict` drops it); a country Frappe does not list is LinkValidationError.
fn update_system_settings(site: &Site, db: &str, body: &Value) -> (u16, String) {
    const FIELDS: [&str; 8] = [
        "country",
        "language",
        "time_zone",
        "date_format",
        "time_format",
        "number_format",
        "setup_complete",
        "enable_onboarding",
    ];
    if let Some(country) = body["country"].as_str() {
        if country_info()["country_info"].get(country).is_none() {
            let (s, b) = fixture("system-settings-bad-country");
            return (s, b.replace("Narnia", country));
        }
    }
    for field in FIELDS {
        let value = match &body[field] {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        set_single(site, db, "System Settings", field, &value);
    }
    fixture("system-settings-update")
}

/// PUT User/Administrator or User/Guest: its time zone (the only field the tool writes).
fn update_standard_user(site: &Site, db: &str, url: &str, body: &Value) -> (u16, String) {
    let (user, recorded) = match url.ends_with("/Guest") {
        true => ("Guest", "user-update-time-zone-guest"),
        false => ("Administrator", "user-update-time-zone"),
    };
    if let Some(zone) = body["time_zone"].as_str() {
        site.sql(
            &format!("UPDATE {db}.tabUser SET time_zone = ? WHERE name = ?"),
            vec![zone.into(), user.into()],
        );
    }
    // Saving the document saves its Password fields (BaseDocument._save_passwords): one
    // the document holds empty is removed from __Auth. `api_secret` holds the mask of a
    // stored secret (`*` per character), so only a secret without its mask goes.
    let mask = site.value(
        &format!("SELECT IFNULL(api_secret, '') FROM {db}.tabUser WHERE name = ?"),
        vec![user.into()],
    );
    if mask.as_deref().unwrap_or_default().is_empty() {
        site.sql(
            &format!("DELETE FROM {db}.__Auth WHERE doctype = 'User' AND name = ? AND fieldname = 'api_secret'"),
            vec![user.into()],
        );
    }
    fixture(recorded)
}

/// What a save leaves in a Password field's column: `*` for each character of the value.
fn mask(v: &Value) -> String {
    "*".repeat(v.as_str().unwrap_or_default().chars().count())
}

/// GET login_via_key (www/login.py): the key read from the site's Redis cache and deleted
/// there (single use), its user logged in: a new session, 302 to the desk. A key Redis
/// does not have (used, expired, never made) is the 403 page.
fn login_via_key(
    req: tiny_http::Request,
    state: &Mutex<FakeState>,
    site: &Site,
    db: &str,
    host: &str,
) {
    let key = req
        .url()
        .split_once("key=")
        .map(|(_, k)| k)
        .unwrap_or_default();
    let name = format!("{}|one_time_login_key:{key}", db.trim_matches('`'));
    let user = super::redis::get(&name).and_then(|v| super::redis::unpickle_str(&v));
    super::redis::del(&name);
    let enabled = user.as_ref().and_then(|u| {
        site.value(
            &format!("SELECT enabled FROM {db}.tabUser WHERE name = ?"),
            vec![u.as_str().into()],
        )
    });
    let (Some(user), Some("1")) = (user, enabled.as_deref()) else {
        let (s, b) = fixture("login-link-second-use");
        return respond(req, s, b, &[]);
    };
    let sid: String = (0..28)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    state.lock().unwrap().sessions.insert(
        sid.clone(),
        Session {
            site: host.to_owned(),
            user,
        },
    );
    let (s, b) = fixture("login-link-first-use");
    let cookie = format!("sid={sid}; Max-Age=612000; HttpOnly; Path=/; SameSite=Lax");
    let location = format!("http://{host}/app");
    let b = b.replace("http://rec2-b.localhost:8000/app", &location);
    respond(req, s, b, &[("Set-Cookie", cookie), ("Location", location)]);
}

/// The user an API key and secret authenticate (auth.py `validate_api_key_secret`).
fn token_user(site: &Site, db: &str, token: &str) -> Option<String> {
    let (key, secret) = token.split_once(':')?;
    let user = site.value(
        &format!("SELECT name FROM {db}.tabUser WHERE api_key = ? AND enabled = 1"),
        vec![key.into()],
    )?;
    let stored = site.value(
        &format!("SELECT password FROM {db}.__Auth WHERE doctype = 'User' AND name = ? AND fieldname = 'api_secret' AND encrypted = 1"),
        vec![user.clone().into()],
    )?;
    let key = site.encryption_key(db)?;
    (super::fernet::decrypt(&key, &stored).as_deref() == Some(secret)).then_some(user)
}

/// POST /api/method/login: the user's passlib hash in `__Auth`, an enabled user; a new
/// session of this site for that user, its sid in the cookie.
fn login(
    req: tiny_http::Request,
    state: &Mutex<FakeState>,
    site: &Site,
    db: &str,
    host: &str,
    body: &Value,
) {
    let usr = body["usr"].as_str().unwrap_or_default();
    let pwd = body["pwd"].as_str().unwrap_or_default();
    let enabled = site.value(
        &format!("SELECT enabled FROM {db}.tabUser WHERE name = ?"),
        vec![usr.into()],
    );
    let stored = site.value(
        &format!("SELECT password FROM {db}.__Auth WHERE doctype = 'User' AND name = ? AND fieldname = 'password' AND encrypted = 0"),
        vec![usr.into()],
    );
    let ok = enabled.as_deref() == Some("1") && stored.is_some_and(|h| passlib_verify(pwd, &h));
    if !ok {
        let (s, b) = if usr == "Administrator" {
            fixture("login-wrong-password")
        } else {
            fixture("login-wrong-password-user")
        };
        return respond(req, s, b, &[]);
    }
    let sid: String = (0..28)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    state.lock().unwrap().sessions.insert(
        sid.clone(),
        Session {
            site: host.to_owned(),
            user: usr.to_owned(),
        },
    );
    // sessions.py `start`: the user's last_login is `frappe.utils.now()`, as text.
    site.sql(
        &format!("UPDATE {db}.tabUser SET last_login = DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f') WHERE name = ?"),
        vec![usr.into()],
    );
    let (s, b) = if usr == "Administrator" {
        fixture("login-ok")
    } else {
        let full_name = site
            .value(
                &format!("SELECT TRIM(CONCAT_WS(' ', NULLIF(first_name, ''), NULLIF(last_name, ''))) FROM {db}.tabUser WHERE name = ?"),
                vec![usr.into()],
            )
            .unwrap_or_default();
        let (s, b) = fixture("login-ok-user");
        (s, b.replace("{{fullName}}", &full_name))
    };
    let cookie = format!(
        "sid={sid}; Expires=Thu, 01 Jan 2099 00:00:00 GMT; Max-Age=259200; HttpOnly; Path=/; SameSite=Lax"
    );
    respond(req, s, b, &[("Set-Cookie", cookie)]);
}

/// The site's password policy as `test_password_strength` reads it: no System Settings
/// rows at all is a fresh doc with the DocType's defaults (on, 2), else
/// `enable_password_policy or 0` and `cint(minimum_password_score) or 0`.
fn site_policy(site: &Site, db: &str) -> (bool, i64) {
    let rows = site.sql(
        &format!("SELECT field, value FROM {db}.tabSingles WHERE doctype = 'System Settings'"),
        vec![],
    );
    if rows.is_empty() {
        return (true, 2);
    }
    let values: HashMap<String, String> = rows
        .into_iter()
        .map(|r| {
            let (f, v): (String, Option<String>) = mysql_async::from_row(r);
            (f, v.unwrap_or_default())
        })
        .collect();
    let get = |k: &str| values.get(k).map_or(0, |v| cint(&Value::String(v.clone())));
    (
        get("enable_password_policy") != 0,
        get("minimum_password_score"),
    )
}

/// Frappe's message for a refused password: `" ".join([warning] + suggestions)`
/// (user.py `handle_password_test_fail`), with `get_feedback`'s warning and suggestions.
/// The score and the feedback come from the tool's port of zxcvbn 4.4.28, which
/// crates/frappe-password/tests/differential.rs holds against the Python package.
pub fn frappe_password_verdict(
    password: &str,
    first: &str,
    last: &str,
    email: &str,
    policy: (bool, i64),
) -> Result<(), String> {
    use frappe_password::{frappe_strength, PasswordPolicy};
    let (enabled, minimum) = policy;
    if !enabled {
        return Ok(());
    }
    let score = frappe_strength(password, first, last, email).score as i64;
    if score > 0 && score >= minimum {
        return Ok(());
    }
    let refusal = PasswordPolicy {
        enabled: true,
        minimum_score: minimum.clamp(0, 255) as u8,
    }
    .check(password, first, last, email)
    .expect_err("a refused score");
    // The port joins warning and suggestions leaving out an empty warning; Frappe joins
    // them as they are, so a message without a warning starts with a space.
    const WARNINGS: [&str; 11] = [
        "This is a top-10 common password.",
        "This is a top-100 common password.",
        "This is a very common password.",
        "This is similar to a commonly used password.",
        "Names and surnames by themselves are easy to guess.",
        "Common names and surnames are easy to guess.",
        "Straight rows of keys are easy to guess",
        "Short keyboard patterns are easy to guess",
        "Repeats like \"abcabcabc\" are only slightly harder to guess than \"abc\"",
        "Recent years are easy to guess.",
        "Dates are often easy to guess.",
    ];
    let feedback = refusal.feedback;
    if feedback.is_empty() || WARNINGS.iter().any(|w| feedback.starts_with(w)) {
        Err(feedback)
    } else {
        Err(format!(" {feedback}"))
    }
}

/// POST /api/resource/User: `User.validate` (the password policy) before `db_insert`
/// (the duplicate); then the user, its roles, its password hash and its API secret.
fn create_user(site: &Site, db: &str, body: &Value) -> (u16, String) {
    let text = |v: &Value| mysql_async::Value::from(v.as_str().unwrap_or_default());
    let email = body["email"].as_str().unwrap_or_default().to_owned();
    let key = body["api_key"].as_str().unwrap_or_default().to_owned();
    let first = body["first_name"].as_str().unwrap_or_default();
    let last = body["last_name"].as_str().unwrap_or_default();
    let new_password = body["new_password"].as_str().unwrap_or_default();
    if !new_password.is_empty() {
        let policy = site_policy(site, db);
        if let Err(message) = frappe_password_verdict(new_password, first, last, &email, policy) {
            return (417, weak_password_body(&message));
        }
    }
    let exists = site.value(
        &format!("SELECT COUNT(*) FROM {db}.tabUser WHERE name = ?"),
        vec![email.clone().into()],
    );
    if exists.as_deref() != Some("0") {
        let (s, b) = fixture("create-user-duplicate");
        return (s, b.replace("{{email}}", &email));
    }
    site.sql(
        &format!("INSERT INTO {db}.tabUser (name, creation, email, first_name, last_name, enabled, user_type, api_key, api_secret) VALUES (?, NOW(6), ?, ?, ?, ?, ?, ?, ?)"),
        vec![email.clone().into(), email.clone().into(), text(&body["first_name"]), text(&body["last_name"]), cint(&body["enabled"]).into(), text(&body["user_type"]), key.clone().into(), mask(&body["api_secret"]).into()],
    );
    for (i, r) in body["roles"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        site.sql(
            &format!("INSERT INTO {db}.`tabHas Role` (name, parent, parentfield, parenttype, role) VALUES (?, ?, 'roles', 'User', ?)"),
            vec![format!("{email}-{i}").into(), email.clone().into(), text(&r["role"])],
        );
    }
    if !new_password.is_empty() {
        // User.on_update -> update_password: passlib's hash, not encrypted.
        site.sql(
            &format!("INSERT INTO {db}.__Auth (doctype, name, fieldname, password, encrypted) VALUES ('User', ?, 'password', ?, 0)"),
            vec![email.clone().into(), passlib_hash(new_password).into()],
        );
    }
    // Frappe encrypts Password fields with the site's key, made on first use
    // (password.py `get_encryption_key` writes it into site_config.json).
    let encryption_key = site.encryption_key_or_new(db);
    let secret = body["api_secret"].as_str().unwrap_or_default();
    site.sql(
        &format!("INSERT INTO {db}.__Auth (doctype, name, fieldname, password, encrypted) VALUES ('User', ?, 'api_secret', ?, 1)"),
        vec![email.clone().into(), super::fernet::encrypt(&encryption_key, secret).into()],
    );
    let (s, b) = fixture("create-user-ok");
    (
        s,
        b.replace("{{email}}", &email).replace("{{apiKey}}", &key),
    )
}

/// The recorded 417 with its message replaced by `message`, wherever Frappe puts it:
/// `exception`, the traceback's last line and `_server_messages`.
fn weak_password_body(message: &str) -> String {
    let (_, recorded) = fixture("create-user-weak-password");
    let mut v: Value = serde_json::from_str(&recorded).unwrap();
    let was = "Common names and surnames are easy to guess.";
    v["exception"] = json!(format!("frappe.exceptions.ValidationError: {message}"));
    let exc: Vec<String> = serde_json::from_str(v["exc"].as_str().unwrap()).unwrap();
    let exc: Vec<String> = exc.into_iter().map(|t| t.replace(was, message)).collect();
    v["exc"] = json!(serde_json::to_string(&exc).unwrap());
    let msgs: Vec<String> = serde_json::from_str(v["_server_messages"].as_str().unwrap()).unwrap();
    let msgs: Vec<String> = msgs
        .into_iter()
        .map(|m| {
            let mut o: Value = serde_json::from_str(&m).unwrap();
            o["message"] = json!(message);
            o.to_string()
        })
        .collect();
    v["_server_messages"] = json!(serde_json::to_string(&msgs).unwrap());
    v.to_string()
}

/// The fields of the `SaaS Settings` DocType the fake pretends exists, with their types.
const SAAS_SETTINGS_FIELDS: [(&str, &str); 3] = [
    ("plan_name", "Data"),
    ("max_users", "Int"),
    ("max_storage", "Float"),
];

/// PUT /api/resource/SaaS Settings/SaaS Settings (api/v1.py `update_doc`): the stored
/// document, updated with the body (`doc.update`), saved with only the DocType's fields
/// (`get_valid_dict`, which converts Int with `cint` and Float with `flt`) by
/// `update_single`: every row of the Single deleted, then every valid column written.
/// A key the DocType lacks is dropped; Frappe says nothing about it.
fn write_saas_settings(site: &Site, db: &str, body: &Value, user: &str) -> (u16, String) {
    site.sql(
        &format!("INSERT IGNORE INTO {db}.tabDocType (name, issingle) VALUES ('SaaS Settings', 1)"),
        vec![],
    );
    let stored: HashMap<String, Option<String>> = site
        .sql(
            &format!("SELECT field, value FROM {db}.tabSingles WHERE doctype = 'SaaS Settings'"),
            vec![],
        )
        .into_iter()
        .map(mysql_async::from_row)
        .collect();
    let mut doc: Vec<(&str, Value)> = vec![];
    for (field, kind) in SAAS_SETTINGS_FIELDS {
        let given = body.get(field);
        let value = match given {
            Some(v) => v.clone(),
            None => stored
                .get(field)
                .cloned()
                .flatten()
                .map_or(Value::Null, Value::String),
        };
        let value = match kind {
            "Int" => json!(cint(&value)),
            "Float" => json!(flt(&value)),
            _ => match value {
                Value::Null => Value::Null,
                Value::String(s) => Value::String(s),
                other => Value::String(other.to_string()),
            },
        };
        doc.push((field, value));
    }
    let modified = site
        .value("SELECT DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f')", vec![])
        .unwrap_or_default();
    let mut rows: Vec<(String, Option<String>)> = vec![
        ("name".into(), Some("SaaS Settings".into())),
        ("owner".into(), Some("Administrator".into())),
        ("creation".into(), None),
        ("modified".into(), Some(modified.clone())),
        ("modified_by".into(), Some(user.to_owned())),
        ("docstatus".into(), Some("0".into())),
        ("idx".into(), Some("0".into())),
    ];
    for (field, value) in &doc {
        let text = match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            // MariaDB keeps what pymysql sends: 1.0 as "1", 2.5 as "2.5" (seen).
            Value::Number(n) if n.is_f64() => Some(format!("{}", n.as_f64().unwrap())),
            other => Some(other.to_string()),
        };
        rows.push((field.to_string(), text));
    }
    site.sql(
        &format!("DELETE FROM {db}.tabSingles WHERE doctype = 'SaaS Settings'"),
        vec![],
    );
    for (field, value) in rows {
        site.sql(
            &format!("INSERT INTO {db}.tabSingles (doctype, field, value) VALUES ('SaaS Settings', ?, ?)"),
            vec![field.into(), value.into()],
        );
    }
    // The answer is the saved document (nulls left out), as recorded.
    let (s, recorded) = fixture("saas-settings-ok");
    let mut v: Value = serde_json::from_str(&recorded).unwrap();
    v["data"]["modified"] = json!(modified);
    v["data"]["modified_by"] = json!(user);
    for (field, value) in doc {
        match value {
            Value::Null => {
                v["data"].as_object_mut().unwrap().remove(field);
            }
            value => v["data"][field] = value,
        }
    }
    (s, v.to_string())
}

/// Frappe's `cint`: ints as they are, floats truncated, strings through `int(float(s))`,
/// anything else (or unparsable) 0.
fn cint(v: &Value) -> i64 {
    match v {
        Value::Bool(b) => *b as i64,
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().map_or(0, |f| f.trunc() as i64)),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or(0, |f| f.trunc() as i64),
        _ => 0,
    }
}

/// Frappe's `flt`: a number, a string that parses as one, else 0.0.
fn flt(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => *b as i64 as f64,
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

/// passlib's pbkdf2_sha256 hash as Frappe stores a user's password: 29000 rounds, a
/// 16-byte salt, "ab64" (`.` for `+`, no padding). Written here, not taken from the
/// tool, so a tool that hashes wrongly cannot agree with itself; only the PBKDF2
/// primitive is shared (the password crate's, built optimised even in debug builds).
pub fn passlib_hash(password: &str) -> String {
    passlib_hash_with(password, rand::random::<[u8; 16]>())
}

fn passlib_hash_with(password: &str, salt: [u8; 16]) -> String {
    use base64::Engine;
    let checksum = frappe_password::passlib::pbkdf2_sha256(password.as_bytes(), &salt, 29000);
    let ab64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(b)
            .replace('+', ".")
    };
    format!("$pbkdf2-sha256$29000${}${}", ab64(&salt), ab64(&checksum))
}

/// passlib's pbkdf2_sha256 verify.
pub fn passlib_verify(password: &str, stored: &str) -> bool {
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
    passlib_hash_with(password, salt) == stored
}

fn respond(req: tiny_http::Request, status: u16, body: String, headers: &[(&str, String)]) {
    let ct = if body.starts_with('{') {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    let mut resp = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(tiny_http::Header::from_bytes("Content-Type", ct).unwrap());
    for (name, value) in headers {
        resp = resp.with_header(tiny_http::Header::from_bytes(*name, value.as_bytes()).unwrap());
    }
    let _ = req.respond(resp);
}

/// One HTTP/1.1 request to `base` with `Host: host`: status, raw headers, body. The tests'
/// own client, so they log in without the tool's code.
pub fn http(
    base: &str,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), rest.to_owned())
}
