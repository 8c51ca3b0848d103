//! One test's world: a bench, a fake Frappe serving its sites, and a registry database
//! nobody else uses, on the shared test server or on a server of its own.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::*;

/// One test's world: a bench, a fake Frappe serving its sites, and a registry database
/// nobody else uses. Dropping it removes every site database and DB user the bench
/// double created (read from its call log, so a failing test cleans up too) and the
/// registry database.
pub struct World {
    pub bench: TestBench,
    pub frappe: FakeFrappe,
    pub registry: String,
    /// The server of its own, when it has one (`World::alone`); dropped last.
    server: Option<MariaDbServer>,
}

impl World {
    pub fn new(apps: &[&str]) -> Self {
        Self::sharing_registry(apps, &format!("ft_test_reg_{:08x}", rand::random::<u32>()))
    }

    /// A world on a MariaDB server of its own: for tests whose tool scans or drops
    /// across the whole server (`cleanup --orphans` without `--db-pattern`).
    pub fn alone(apps: &[&str]) -> Self {
        let server = MariaDbServer::start();
        let bench = TestBench::on(&server.url(), apps);
        let frappe = FakeFrappe::start(&bench);
        Self {
            bench,
            frappe,
            registry: "frappe_tenant".into(),
            server: Some(server),
        }
    }

    /// A second bench on the same registry (and server): its rows carry another bench id.
    pub fn sharing_registry(apps: &[&str], registry: &str) -> Self {
        let bench = TestBench::new(apps);
        let frappe = FakeFrappe::start(&bench);
        Self {
            bench,
            frappe,
            registry: registry.to_string(),
            server: None,
        }
    }

    /// Another bench on this world's server and registry.
    pub fn beside(&self, apps: &[&str]) -> Self {
        let bench = TestBench::on(&self.bench.url, apps);
        let frappe = FakeFrappe::start(&bench);
        Self {
            bench,
            frappe,
            registry: self.registry.clone(),
            server: None,
        }
    }

    /// The MariaDB server this world's sites and registry live on.
    pub fn url(&self) -> &str {
        &self.bench.url
    }

    /// `sql_at` on this world's server.
    pub fn sql(&self, query: &str, params: Vec<mysql_async::Value>) -> Vec<mysql_async::Row> {
        sql_at(self.url(), query, params)
    }

    /// Writes `apps/<app>/<app>/__init__.py` with `__version__`, as a real bench has it:
    /// the template records these versions and is restored only while they hold.
    pub fn set_version(&self, app: &str, version: &str) {
        let dir = self.bench.path().join("apps").join(app).join(app);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("__init__.py"),
            format!("# {app}\n__version__ = \"{version}\"\n"),
        )
        .unwrap();
    }

    pub fn tool(&self) -> Command {
        let mut cmd = tool(&self.bench, &self.frappe);
        cmd.env("REGISTRY_DB", &self.registry)
            .env("MARIADB_URL", &self.bench.url);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.tool();
        cmd.args(args);
        run(cmd)
    }

    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.tool();
        cmd.envs(env.iter().copied()).args(args);
        run(cmd)
    }

    pub fn provision(&self, sub: &str, env: &[(&str, &str)]) -> Run {
        let mut cmd = self.tool();
        cmd.envs(env.iter().copied());
        provision_args(&mut cmd, sub);
        run(cmd)
    }

    pub fn verify(&self, sub: &str) -> Run {
        self.run(&["verify", sub])
    }

    /// `pool fill --size n`, asserted successful; the standbys it made, oldest first.
    pub fn fill(&self, n: u32) -> Vec<(String, String)> {
        let r = self.run(&["pool", "fill", "--size", &n.to_string()]);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(r.json["success"], true, "{}", r.json);
        r.json["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["site"].as_str().unwrap().to_string(),
                    m["dbName"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn pool_status(&self) -> Value {
        let r = self.run(&["pool", "status", "--json"]);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(r.json["success"], true, "{}", r.json);
        r.json
    }

    pub fn standby_sites(&self) -> Vec<String> {
        self.pool_status()["standby"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["site"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn bench_id(&self) -> String {
        std::fs::read_to_string(self.bench.path().join("sites/.frappe-tenant/bench-id"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// This bench's registry rows, oldest first, read straight from MariaDB.
    pub fn rows(&self) -> Vec<Value> {
        let query = format!(
            "SELECT JSON_OBJECT('id', id, 'site', site, 'subdomain', subdomain, 'db_name', db_name, \
             'organization', organization, 'email', email, 'status', status, 'path', path, \
             'step', step, 'error', error, 'standby_site', standby_site) \
             FROM `{}`.tenants WHERE bench_id = ? ORDER BY id",
            self.registry
        );
        sql_at(self.url(), &query, vec![self.bench_id().into()])
            .into_iter()
            .map(|r| serde_json::from_str(&cell(r.as_ref(0).unwrap())).unwrap())
            .collect()
    }

    /// The one registry row whose column `key` is `value`.
    pub fn row(&self, key: &str, value: &str) -> Value {
        let rows: Vec<Value> = self
            .rows()
            .into_iter()
            .filter(|r| r[key] == value)
            .collect();
        assert_eq!(rows.len(), 1, "rows with {key}={value}: {rows:?}");
        rows.into_iter().next().unwrap()
    }

    pub fn template_dir(&self) -> PathBuf {
        self.bench.path().join("sites/.frappe-tenant")
    }

    /// The bench double's `new-site` calls, in order.
    pub fn new_site_calls(&self) -> Vec<Value> {
        self.bench
            .calls()
            .into_iter()
            .filter(|c| c["argv"][0] == "new-site")
            .collect()
    }

    pub fn new_site_call_for(&self, site: &str) -> Value {
        let calls: Vec<Value> = self
            .new_site_calls()
            .into_iter()
            .filter(|c| c["argv"][1] == site)
            .collect();
        assert_eq!(calls.len(), 1, "new-site calls for {site}: {calls:?}");
        calls.into_iter().next().unwrap()
    }

    /// Builds the template with frappe 15.14.1, asserted successful; returns its JSON.
    pub fn build_template(&self) -> Value {
        self.set_version("frappe", "15.14.1");
        let r = self.run(&["template", "build"]);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(r.json["success"], true, "{}", r.json);
        r.json
    }

    pub fn template_status(&self, env: &[(&str, &str)]) -> Value {
        let r = self.run_env(env, &["template", "status"]);
        // Status reports a stale or missing template; only an unreadable bench fails it.
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(r.json["success"], true, "{}", r.json);
        r.json
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // The bench drops what its new-site calls made (see `TestBench`).
        if self.server.is_none() {
            sql(&format!("DROP DATABASE IF EXISTS `{}`", self.registry));
        }
    }
}
