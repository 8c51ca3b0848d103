//! Black-box tests of one inventory across two MariaDB servers (`db-server add`, `bench
//! add --db-server`): server A holds the registry and bench a's sites, server B (root
//! with a password) bench b's. Both servers are the test's own, so `cleanup --orphans`
//! sees every database on them and nothing any other test makes.

use std::process::Command;

use crate::common::server::MariaDbServer;
use crate::common::*;
use serde_json::Value;

const MARKERS: [&str; 4] = ["tabDocType", "tabSingles", "tabDefaultValue", "__Auth"];
const B_URL_VAR: &str = "FT_TEST_DB_SERVER_B_URL";

struct TwoServers {
    a: TestBench,
    a_frappe: FakeFrappe,
    b: TestBench,
    b_frappe: FakeFrappe,
    registry: String,
    b_root_password: String,
    // Dropped last: the benches' cleanup needs them.
    server_b: MariaDbServer,
    server_a: MariaDbServer,
}

impl TwoServers {
    /// The inventory: `db2` (server B) and benches `a` (registry's server) and `b` (db2).
    fn new() -> Self {
        let server_a = MariaDbServer::start();
        let mut server_b = MariaDbServer::start();
        let b_root_password = server_b.protect_root();
        let a = TestBench::on(&server_a.url(), &["nexus_core"]);
        let b = TestBench::on(&server_b.url(), &["nexus_core"]);
        let a_frappe = FakeFrappe::start(&a).with_saas_settings();
        let b_frappe = FakeFrappe::start(&b).with_saas_settings();
        let w = TwoServers {
            registry: a.registry.clone(),
            a,
            a_frappe,
            b,
            b_frappe,
            b_root_password,
            server_b,
            server_a,
        };
        let added = w.ok(&[
            "db-server",
            "add",
            "db2",
            "--url-from",
            &format!("env:{B_URL_VAR}"),
        ]);
        assert_eq!(added["server"]["urlFrom"], format!("env:{B_URL_VAR}"));
        w.add_bench("a", &w.a, &w.a_frappe, &[]);
        w.add_bench("b", &w.b, &w.b_frappe, &["--db-server", "db2"]);
        w
    }

    fn tool(&self) -> Command {
        let mut cmd = tool(&self.a, &self.a_frappe);
        cmd.env("REGISTRY_DB", &self.registry)
            .env(B_URL_VAR, self.server_b.url());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.tool();
        cmd.args(args);
        run(cmd)
    }

    fn ok(&self, args: &[&str]) -> Value {
        let r = self.run(args);
        self.assert_no_secret(&r);
        r.succeeded(&args)
    }

    fn add_bench(&self, name: &str, bench: &TestBench, frappe: &FakeFrappe, extra: &[&str]) {
        let path = bench.path().display().to_string();
        let mut args = vec!["bench", "add", name, "--bench-path", &path];
        args.extend(["--frappe-url", &frappe.url]);
        args.extend(extra);
        let r = self.ok(&args);
        let want = extra.last().map(|s| Value::from(*s)).unwrap_or(Value::Null);
        assert_eq!(r["bench"]["dbServer"], want, "{r}");
    }

    fn sign_up(&self, subdomain: &str, bench: &str) -> Run {
        let mut cmd = self.tool();
        provision_args(&mut cmd, subdomain);
        cmd.args(["--bench", bench]);
        run(cmd)
    }

    /// Server B's root password is nowhere the tool writes: stdout, stderr, the registry,
    /// bench's argv.
    fn assert_no_secret(&self, r: &Run) {
        let p = &self.b_root_password;
        assert!(
            !r.json.to_string().contains(p.as_str()),
            "stdout: {}",
            r.json
        );
        assert!(!r.stderr.contains(p.as_str()), "stderr: {}", r.stderr);
        // BENCH_DOUBLE_LOG is bench a's: every bench call of the tool is in it.
        for call in self.a.calls() {
            assert!(
                !call["argv"].to_string().contains(p.as_str()),
                "argv: {call}"
            );
        }
    }

    fn registry_rows(&self, bench: &str) -> Vec<(String, String, String)> {
        let q = format!(
            "SELECT t.site, t.db_name, t.status FROM `{r}`.tenants t JOIN `{r}`.benches b \
             ON b.bench_id = t.bench_id WHERE b.name = ? ORDER BY t.id",
            r = self.registry
        );
        sql_at(&self.server_a.url(), &q, vec![bench.into()])
            .iter()
            .map(|row| (cell(&row[0]), cell(&row[1]), cell(&row[2])))
            .collect()
    }
}

fn databases(url: &str) -> Vec<String> {
    sql_at(url, "SHOW DATABASES", vec![])
        .iter()
        .map(|r| cell(&r[0]))
        .collect()
}

fn plant_orphan(url: &str, name: &str) {
    sql_at(url, &format!("CREATE DATABASE `{name}`"), vec![]);
    for t in MARKERS {
        sql_at(
            url,
            &format!("CREATE TABLE `{name}`.`{t}` (name varchar(140)) ENGINE=MyISAM"),
            vec![],
        );
    }
}

#[test]
fn sign_ups_land_on_each_benchs_own_server_and_the_registry_stays_on_its_own() {
    let w = TwoServers::new();
    let (sa, sb) = (unique("srva"), unique("srvb"));
    for (sub, bench) in [(&sa, "a"), (&sb, "b")] {
        let r = w.sign_up(sub, bench);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        w.assert_no_secret(&r);
    }
    let (a_rows, b_rows) = (w.registry_rows("a"), w.registry_rows("b"));
    assert_eq!(a_rows.len(), 1, "{a_rows:?}");
    assert_eq!(b_rows.len(), 1, "{b_rows:?}");
    let (db_a, db_b) = (&a_rows[0].1, &b_rows[0].1);
    let (on_a, on_b) = (databases(&w.server_a.url()), databases(&w.server_b.url()));
    assert!(
        on_a.contains(db_a) && !on_b.contains(db_a),
        "{db_a}: {on_a:?} / {on_b:?}"
    );
    assert!(
        on_b.contains(db_b) && !on_a.contains(db_b),
        "{db_b}: {on_a:?} / {on_b:?}"
    );
    assert!(
        !on_b.contains(&w.registry),
        "the registry was made on bench b's server"
    );
    // Every command on bench b reads its server: verify, list, usage.
    let site_b = format!("{sb}.localhost");
    let v = w.ok(&["verify", &site_b, "--bench", "b"]);
    assert_eq!(v["dbName"], db_b.as_str(), "{v}");
    let l = w.ok(&["list", "--json", "--bench", "b"]);
    let listed = l["sites"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|s| s["site"] == site_b.as_str() && s["healthy"] == true),
        "{l}"
    );
    let servers = w.ok(&["db-server", "list"]);
    assert_eq!(servers["servers"][0]["benches"], serde_json::json!(["b"]));
    assert_eq!(servers["servers"][0]["tenants"], 1, "{servers}");
    // A server some bench uses is not removed from the inventory.
    let refused = w.run(&["db-server", "remove", "db2"]);
    assert_ne!(refused.code, 0, "{}", refused.json);
    assert!(refused.json["error"]
        .as_str()
        .unwrap()
        .contains("bench(es) b"));
}

#[test]
fn a_standby_of_the_other_servers_bench_is_claimed_there() {
    let w = TwoServers::new();
    let made = w.ok(&["pool", "fill", "--bench", "b", "--size", "1"]);
    let standby_db = made["created"][0]["dbName"].as_str().unwrap().to_string();
    assert!(databases(&w.server_b.url()).contains(&standby_db));
    let sub = unique("claimb");
    let mut cmd = w.tool();
    provision_args(&mut cmd, &sub);
    cmd.args(["--bench", "auto"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["path"], "pool", "{}", r.json);
    assert_eq!(r.json["bench"], "b", "{}", r.json);
    w.assert_no_secret(&r);
    let site = format!("{sub}.localhost");
    let v = w.ok(&["verify", &site, "--bench", "b"]);
    assert_eq!(v["dbName"], standby_db.as_str(), "{v}");
    assert!(!databases(&w.server_a.url()).contains(&standby_db));
}

#[test]
fn orphans_are_dropped_on_each_server_and_nothing_else() {
    let w = TwoServers::new();
    let (ta, tb) = (unique("keepa"), unique("keepb"));
    assert_eq!(w.sign_up(&ta, "a").code, 0);
    assert_eq!(w.sign_up(&tb, "b").code, 0);
    let tenant_a = w.registry_rows("a")[0].1.clone();
    let tenant_b = w.registry_rows("b")[0].1.clone();
    let (orphan_a, orphan_b) = (unique("_orpha"), unique("_orphb"));
    plant_orphan(&w.server_a.url(), &orphan_a);
    plant_orphan(&w.server_b.url(), &orphan_b);
    // Named like server A's orphan, on B: only B's own scan may judge it.
    plant_orphan(&w.server_b.url(), &orphan_a);

    let r = w.ok(&["cleanup", "--orphans", "--yes", "--bench", "a"]);
    let dropped: Vec<String> = r["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dropped, vec![orphan_a.clone()], "{r}");
    let (on_a, on_b) = (databases(&w.server_a.url()), databases(&w.server_b.url()));
    assert!(
        !on_a.contains(&orphan_a) && on_a.contains(&tenant_a),
        "{on_a:?}"
    );
    for d in [&orphan_a, &orphan_b, &tenant_b] {
        assert!(
            on_b.contains(d),
            "cleanup of bench a touched {d} on server B"
        );
    }

    // Another deployment of the tool keeps its registry, and a tenant, on server B.
    let (other_registry, theirs) = (unique("other_reg"), unique("_theirs"));
    let b = w.server_b.url();
    sql_at(&b, &format!("CREATE DATABASE `{other_registry}`"), vec![]);
    sql_at(
        &b,
        &format!(
            "CREATE TABLE `{other_registry}`.tenants (bench_id VARCHAR(64), \
             db_name VARCHAR(64), standby_site VARCHAR(255))"
        ),
        vec![],
    );
    sql_at(
        &b,
        &format!("INSERT INTO `{other_registry}`.tenants VALUES ('x', ?, NULL)"),
        vec![theirs.clone().into()],
    );
    plant_orphan(&b, &theirs);

    let r = w.ok(&["cleanup", "--orphans", "--yes", "--bench", "b"]);
    let on_b = databases(&w.server_b.url());
    assert!(
        !on_b.contains(&orphan_b) && !on_b.contains(&orphan_a),
        "{r}"
    );
    assert!(
        on_b.contains(&theirs),
        "another registry's tenant on server B was dropped: {r}"
    );
    assert!(
        on_b.contains(&tenant_b),
        "bench b's tenant was dropped: {r}"
    );
    assert!(databases(&w.server_a.url()).contains(&tenant_a));
    assert!(!on_b.contains(&w.registry));
}

#[test]
fn a_server_that_does_not_answer_has_its_benches_skipped_and_nothing_left_on_it() {
    let w = TwoServers::new();
    let closed = ClosedPort::new();
    let before = databases(&w.server_b.url());
    let sub = unique("down");
    let mut cmd = w.tool();
    cmd.env(B_URL_VAR, closed.mysql_url());
    provision_args(&mut cmd, &sub);
    cmd.args(["--bench", "auto"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["bench"], "a", "{}", r.json);
    let warned = r.json["warnings"].to_string();
    assert!(warned.contains("bench b skipped"), "{warned}");
    assert_eq!(databases(&w.server_b.url()), before);
    assert!(w.registry_rows("b").is_empty());
    assert!(!w.b.site_dir(&format!("{sub}.localhost")).exists());
    // Named, bench b is refused before anything is made.
    let mut cmd = w.tool();
    cmd.env(B_URL_VAR, closed.mysql_url());
    let named = unique("downb");
    provision_args(&mut cmd, &named);
    cmd.args(["--bench", "b"]);
    let new_sites = w.a.calls_of("new-site");
    let r = run(cmd);
    assert_ne!(r.code, 0, "{}", r.json);
    // One log for the tool's every bench call (BENCH_DOUBLE_LOG is bench a's).
    assert_eq!(w.a.calls_of("new-site"), new_sites, "new-site ran");
    assert!(w.registry_rows("b").is_empty());
    assert!(!w.b.site_dir(&format!("{named}.localhost")).exists());
}

#[test]
fn a_server_reference_is_checked_and_never_holds_the_url() {
    let w = TwoServers::new();
    // The registry's own server under another name is refused.
    let mut cmd = w.tool();
    cmd.env("FT_TEST_SAME_AS_REGISTRY", w.server_a.url());
    cmd.args([
        "db-server",
        "add",
        "again",
        "--url-from",
        "env:FT_TEST_SAME_AS_REGISTRY",
    ]);
    let r = run(cmd);
    assert_ne!(r.code, 0, "{}", r.json);
    assert!(
        r.json["error"]
            .as_str()
            .unwrap()
            .contains("registry's own server"),
        "{}",
        r.json
    );
    // A URL instead of a reference, and a file others may read, are refused.
    let r = w.run(&["db-server", "add", "x", "--url-from", &w.server_b.url()]);
    assert_eq!(r.code, 2, "{}", r.json);
    assert!(
        !r.stderr.contains(&w.b_root_password) && !r.json.to_string().contains(&w.b_root_password)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db3.url");
    std::fs::write(&file, w.server_b.url()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let from = format!("file:{}", file.display());
    let r = w.run(&["db-server", "add", "db3", "--url-from", &from]);
    assert_ne!(r.code, 0, "{}", r.json);
    assert!(
        r.json["error"].as_str().unwrap().contains("chmod 600"),
        "{}",
        r.json
    );
    // Server B again under a second name: refused, it would split what is counted for it.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = w.run(&["db-server", "add", "db3", "--url-from", &from]);
    assert_ne!(r.code, 0, "{}", r.json);
    assert!(
        r.json["error"].as_str().unwrap().contains("db2 again"),
        "{}",
        r.json
    );
    // Nothing in the registry holds the password.
    let stored = sql_at(
        &w.server_a.url(),
        &format!("SELECT url_from FROM `{}`.db_servers", w.registry),
        vec![],
    );
    assert_eq!(stored.len(), 1);
    assert_eq!(cell(&stored[0][0]), format!("env:{B_URL_VAR}"));
}

#[test]
fn placement_keeps_a_database_server_within_its_capacity() {
    let w = TwoServers::new();
    sql_at(
        &w.server_a.url(),
        &format!(
            "UPDATE `{}`.db_servers SET capacity = 1 WHERE name = 'db2'",
            w.registry
        ),
        vec![],
    );
    let mut placed = vec![];
    for k in 0..4 {
        let mut cmd = w.tool();
        provision_args(&mut cmd, &unique(&format!("cap{k}")));
        cmd.args(["--bench", "auto"]);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        placed.push(r.json["bench"].as_str().unwrap().to_string());
        if placed.iter().filter(|b| *b == "b").count() == 1 && placed.last().unwrap() == "a" {
            assert!(
                r.stderr
                    .contains("database server db2 is at capacity (1/1)"),
                "{}",
                r.stderr
            );
        }
    }
    // Least loaded first: bench b takes one, then db2 is full and a takes the rest.
    assert_eq!(placed.iter().filter(|b| *b == "b").count(), 1, "{placed:?}");
    assert_eq!(w.registry_rows("b").len(), 1);
    assert_eq!(w.registry_rows("a").len(), 3);
    let servers = w.ok(&["db-server", "list"]);
    assert_eq!(servers["servers"][0]["tenants"], 1, "{servers}");
}
