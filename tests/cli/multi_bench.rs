//! Black-box tests of several benches: the bench inventory (`bench add|list|remove|
//! cordon|uncordon`), sign-ups placed by `provision --bench NAME|auto`, and `--bench` /
//! `--all` on the pool and the other commands. Two or three benches of the bench double,
//! each with its own sites folder and its own fake Frappe, share the real MariaDB and
//! one registry database that no other test uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::Value;

/// One bench of a test's world.
struct Node {
    bench: TestBench,
    frappe: FakeFrappe,
}

/// A test's world: benches sharing one registry; one bench-double log for all of them,
/// so dropping the world forgets every site database any of them made.
struct World {
    nodes: Vec<Node>,
    /// How every bench is reached: `local`, `docker` or `kubectl` (the executor doubles).
    kind: &'static str,
    registry: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(n: usize) -> Self {
        Self::with(n, "local")
    }

    fn with(n: usize, kind: &'static str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nodes = (0..n)
            .map(|_| {
                let bench = TestBench::new(&["nexus_core"]);
                let frappe = FakeFrappe::start(&bench).with_saas_settings();
                Node { bench, frappe }
            })
            .collect();
        World {
            nodes,
            kind,
            registry: format!("ft_test_reg_{:08x}", rand::random::<u32>()),
            log: dir.path().join("bench-calls.jsonl"),
            _dir: dir,
        }
    }

    /// The tool with no bench of its own in the environment beyond the first's defaults:
    /// `--bench` decides where it goes.
    fn tool(&self) -> Command {
        let n = &self.nodes[0];
        let mut cmd = tool(&n.bench, &n.frappe);
        cmd.env("REGISTRY_DB", &self.registry)
            .env("BENCH_DOUBLE_LOG", &self.log);
        if self.kind != "local" {
            let doubles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/executor-double");
            cmd.env("PATH", search_path(&[&doubles]))
                // Each bench's own directory comes from its stored bench path (-w / --chdir).
                .env("EXECUTOR_DOUBLE_WORKDIR", n.bench.path())
                .env("EXECUTOR_DOUBLE_TARGET", "deploy/backend");
        }
        cmd
    }

    /// `bench add <name>` for node `i` through this world's executor.
    fn add(&self, name: &str, i: usize, extra: &[&str]) -> Value {
        if self.kind == "local" {
            return self.add_local(name, i, extra);
        }
        let n = &self.nodes[i];
        let path = n.bench.path().display().to_string();
        let mut args = vec!["bench", "add", name, "--bench-executor", self.kind];
        if self.kind == "docker" {
            args.extend(["--docker-service", "backend"]);
        } else {
            args.extend([
                "--kubectl-target",
                "deploy/backend",
                "--kubectl-namespace",
                "erp",
            ]);
        }
        args.extend(["--bench-path", &path, "--frappe-url", &n.frappe.url]);
        args.extend(extra);
        self.ok(&args)
    }

    /// Makes bench `name`'s executor fail from now on, as a host that went away would.
    fn break_bench(&self, name: &str) {
        let set = match self.kind {
            "local" => "bench_path = '/etc/hostname'",
            "docker" => "docker_service = 'gone'",
            _ => "kubectl_target = 'deploy/gone'",
        };
        sql(&format!(
            "UPDATE `{}`.benches SET {set} WHERE name = '{name}'",
            self.registry
        ));
    }

    /// `n` sign-ups `provision --bench auto` at once; their runs, in order.
    fn burst(&self, prefix: &str, n: usize) -> Vec<Run> {
        let children: Vec<_> = (0..n)
            .map(|k| {
                let mut cmd = self.tool();
                provision_args(&mut cmd, &format!("{prefix}-{k}"));
                cmd.args(["--bench", "auto"]);
                spawn(cmd)
            })
            .collect();
        children.into_iter().map(finish).collect()
    }

    fn fill(&self, name: &str, size: u32) -> Vec<String> {
        let r = self.ok(&["pool", "fill", "--bench", name, "--size", &size.to_string()]);
        r["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["site"].as_str().unwrap().to_string())
            .collect()
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.tool();
        cmd.args(args);
        run(cmd)
    }

    fn ok(&self, args: &[&str]) -> Value {
        self.run(args).succeeded(&args)
    }

    /// `bench add <name>` for node `i` through the local executor.
    fn add_local(&self, name: &str, i: usize, extra: &[&str]) -> Value {
        let n = &self.nodes[i];
        let mut args = vec![
            "bench".to_string(),
            "add".into(),
            name.into(),
            "--bench-executor".into(),
            "local".into(),
            "--bench-bin".into(),
            double().display().to_string(),
            "--bench-path".into(),
            n.bench.path().display().to_string(),
            "--frappe-url".into(),
            n.frappe.url.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args)
    }

    fn bench_id(&self, i: usize) -> String {
        std::fs::read_to_string(
            self.nodes[i]
                .bench
                .path()
                .join("sites/.frappe-tenant/bench-id"),
        )
        .unwrap()
        .trim()
        .to_string()
    }

    /// Registry rows of node `i` by status.
    fn count(&self, i: usize, status: &str) -> usize {
        let q = format!(
            "SELECT COUNT(*) FROM `{}`.tenants WHERE bench_id = ? AND status = ?",
            self.registry
        );
        sql_value(&q, vec![self.bench_id(i).into(), status.into()])
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Everything in node `i`'s sites folder but the bench's own files and the tool's
    /// folder: a site folder with or without its site_config.json (a failed new-site can
    /// leave either), or any other leftover.
    fn site_folders(&self, i: usize) -> Vec<String> {
        let sites = self.nodes[i].bench.path().join("sites");
        let mut out: Vec<String> = std::fs::read_dir(sites)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                !["apps.txt", "common_site_config.json", ".frappe-tenant"].contains(&n.as_str())
            })
            .collect();
        out.sort();
        out
    }

    /// The databases any bench of this world made for `site` that still exist.
    fn databases_left(&self, site: &str) -> Vec<String> {
        made_databases(&self.log)
            .into_iter()
            .filter(|(s, db)| s == site && (database_exists(db) || db_user_exists(db)))
            .map(|(_, db)| db)
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for (_, db) in made_databases(&self.log) {
            drop_database_and_user_at(&mariadb_url(), &db);
        }
        sql(&format!("DROP DATABASE IF EXISTS `{}`", self.registry));
    }
}

fn double() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench-double/bench")
}

#[test]
fn the_inventory_adds_lists_cordons_and_removes_benches() {
    let w = World::new(2);
    let a = w.add_local("web1", 0, &["--capacity", "5"]);
    assert_eq!(a["action"], "add");
    assert_eq!(a["bench"]["name"], "web1");
    assert_eq!(a["bench"]["capacity"], 5);
    assert_eq!(a["bench"]["cordoned"], false);
    // Reaching the bench once created its bench id, and the inventory stored it.
    assert_eq!(a["bench"]["benchId"], w.bench_id(0));
    w.add_local("web2", 1, &[]);

    // A name or a bench taken already is refused, and nothing changes.
    let again = w.run(&[
        "bench",
        "add",
        "web1",
        "--bench-executor",
        "local",
        "--bench-path",
        w.nodes[1].bench.path().to_str().unwrap(),
    ]);
    assert_eq!(again.code, 1, "{}", again.json);
    assert!(again.json["error"]
        .as_str()
        .unwrap()
        .contains("already in the inventory"));
    let same_bench = w.run(&[
        "bench",
        "add",
        "other",
        "--bench-executor",
        "local",
        "--bench-path",
        w.nodes[0].bench.path().to_str().unwrap(),
    ]);
    assert_eq!(same_bench.code, 1, "{}", same_bench.json);
    assert_eq!(w.run(&["bench", "add", "auto"]).code, 2);

    let list = w.ok(&["bench", "list"]);
    let benches = list["benches"].as_array().unwrap();
    let names: Vec<&str> = benches
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web1", "web2"]);
    assert_eq!(
        benches[0]["load"],
        serde_json::json!({"tenants": 0, "standby": 0})
    );
    assert_eq!(benches[1]["capacity"], Value::Null);
    // No credentials in the inventory: not in its JSON, not in its table.
    let cols = sql(&format!(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'benches'",
        w.registry
    ));
    assert!(cols.len() > 10);
    for c in cols {
        let name: String = mysql_async::from_row(c);
        assert!(
            !name.contains("mariadb") && !name.contains("password"),
            "{name}"
        );
    }

    assert_eq!(
        w.ok(&["bench", "cordon", "web1"])["bench"]["cordoned"],
        true
    );
    assert_eq!(w.ok(&["bench", "list"])["benches"][0]["cordoned"], true);
    assert_eq!(
        w.ok(&["bench", "uncordon", "web1"])["bench"]["cordoned"],
        false
    );
    assert_eq!(w.run(&["bench", "cordon", "nope"]).code, 1);

    // A bench with a live site (here a standby) cannot leave the inventory.
    w.ok(&["pool", "fill", "--bench", "web1", "--size", "1"]);
    assert_eq!(w.count(0, "standby"), 1);
    assert_eq!(w.count(1, "standby"), 0, "--bench web1 fills web1 only");
    let refused = w.run(&["bench", "remove", "web1"]);
    assert_eq!(refused.code, 1, "{}", refused.json);
    assert!(
        refused.json["error"]
            .as_str()
            .unwrap()
            .contains("1 live site"),
        "{}",
        refused.json
    );
    assert_eq!(w.ok(&["bench", "list"])["benches"][0]["load"]["standby"], 1);
    w.ok(&["pool", "drain", "--bench", "web1"]);
    assert_eq!(w.ok(&["bench", "remove", "web1"])["bench"]["name"], "web1");
    let left = w.ok(&["bench", "list"]);
    assert_eq!(left["benches"].as_array().unwrap().len(), 1);
    assert_eq!(w.run(&["bench", "remove", "web1"]).code, 1);
    assert!(w.site_folders(0).is_empty(), "{:?}", w.site_folders(0));
}

/// Standbys first (each claimed once, across benches), then fresh sites; a cordoned
/// bench gets nothing even with a standby ready.
fn spread(kind: &'static str) {
    let w = World::with(3, kind);
    for (i, name) in ["web1", "web2", "web3"].iter().enumerate() {
        w.add(name, i, &[]);
    }
    let mut standbys = w.fill("web1", 2);
    standbys.extend(w.fill("web2", 1));
    let cordoned = w.fill("web3", 1);
    w.ok(&["bench", "cordon", "web3"]);

    let prefix = unique("spread");
    let runs = w.burst(&prefix, 5);
    let mut claimed = vec![];
    for r in &runs {
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        let bench = r.json["bench"].as_str().unwrap();
        assert!(bench == "web1" || bench == "web2", "{}", r.json);
        if r.json["path"] == "pool" {
            claimed.push(r.json["standbySite"].as_str().unwrap().to_string());
        }
    }
    claimed.sort();
    standbys.sort();
    assert_eq!(
        claimed, standbys,
        "every standby once, none twice, none of web3's"
    );
    assert_eq!(runs.iter().filter(|r| r.json["path"] == "fresh").count(), 2);
    assert_eq!(w.count(0, "standby") + w.count(1, "standby"), 0);
    assert_eq!(w.count(0, "active") + w.count(1, "active"), 5);
    // The cordoned bench: its standby still waits, no tenant, no new folder.
    assert_eq!(w.count(2, "standby"), 1);
    assert_eq!(w.count(2, "active"), 0);
    assert_eq!(w.site_folders(2), cordoned);
    // Each tenant is where its JSON says.
    for r in &runs {
        let i = if r.json["bench"] == "web1" { 0 } else { 1 };
        let site = r.json["site"].as_str().unwrap();
        assert!(
            w.site_folders(i).contains(&site.to_string()),
            "{site} on {}",
            r.json["bench"]
        );
    }
}

#[test]
fn auto_sign_ups_take_each_standby_once_and_skip_a_cordoned_bench() {
    spread("local");
}

#[test]
fn auto_sign_ups_spread_through_docker() {
    spread("docker");
}

#[test]
fn auto_sign_ups_spread_through_kubectl() {
    spread("kubectl");
}

/// The bench that would be chosen first (it holds the only standby) cannot be reached:
/// skipped with a warning, the sign-up lands on the other, nothing is left on it.
fn failing(kind: &'static str) {
    let w = World::with(2, kind);
    w.add("bad", 0, &[]);
    w.add("good", 1, &[]);
    let standby = w.fill("bad", 1);
    w.break_bench("bad");

    let runs = w.burst(&unique("fail"), 1);
    let r = &runs[0];
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["bench"], "good");
    assert_eq!(r.json["path"], "fresh");
    let warnings = r.json["warnings"].to_string();
    assert!(warnings.contains("bench bad skipped"), "{warnings}");
    assert!(r.stderr.contains("bench bad skipped"), "{}", r.stderr);
    assert_eq!(w.count(0, "standby"), 1, "its standby was not claimed");
    assert_eq!(w.count(0, "claimed") + w.count(0, "active"), 0);
    assert_eq!(w.site_folders(0), standby);
    assert_eq!(w.count(1, "active"), 1);
}

#[test]
fn a_bench_whose_executor_fails_is_skipped_with_a_warning() {
    failing("local");
}

#[test]
fn a_failing_docker_bench_is_skipped() {
    failing("docker");
}

#[test]
fn a_failing_kubectl_bench_is_skipped() {
    failing("kubectl");
}

#[test]
fn a_bench_at_capacity_gets_no_sign_up_even_with_a_standby() {
    let w = World::new(2);
    w.add("full", 0, &["--capacity", "1"]);
    w.add("roomy", 1, &[]);
    w.fill("full", 2);
    let mut cmd = w.tool();
    provision_args(&mut cmd, &unique("first"));
    cmd.args(["--bench", "full"]);
    let first = run(cmd);
    assert_eq!(first.code, 0, "{}\n{}", first.json, first.stderr);
    assert_eq!(
        (first.json["bench"].as_str(), first.json["path"].as_str()),
        (Some("full"), Some("pool"))
    );

    let runs = w.burst(&unique("cap"), 2);
    for r in &runs {
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(r.json["bench"], "roomy", "{}", r.json);
    }
    assert_eq!(w.count(0, "standby"), 1, "the full bench keeps its standby");
    assert_eq!(w.count(0, "active"), 1);
    assert_eq!(w.count(1, "active"), 2);

    // Nothing can take a sign-up: refused before anything is made.
    w.ok(&["bench", "cordon", "roomy"]);
    let none = w.burst(&unique("none"), 1);
    assert_eq!(none[0].code, 1, "{}", none[0].json);
    assert_eq!(none[0].json["code"], "CONFIG_ERROR");
    assert!(
        none[0].json["error"]
            .as_str()
            .unwrap()
            .contains("full: at capacity"),
        "{}",
        none[0].json
    );
    assert_eq!(w.count(0, "standby"), 1);
}

#[test]
fn without_standbys_sign_ups_go_to_the_least_loaded_bench() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    let prefix = unique("least");
    let benches: Vec<String> = (0..4)
        .map(|k| {
            let r = &w.burst(&format!("{prefix}{k}"), 1)[0];
            assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
            r.json["bench"].as_str().unwrap().to_string()
        })
        .collect();
    // Ties go to the first bench by name.
    assert_eq!(benches, ["web1", "web2", "web1", "web2"]);
}

#[test]
fn provision_on_a_named_bench_and_never_on_a_cordoned_one() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    let sub = unique("named");
    let mut cmd = w.tool();
    provision_args(&mut cmd, &sub);
    cmd.args(["--bench", "web2"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["bench"], "web2");
    assert!(w.nodes[1]
        .bench
        .site_dir(r.json["site"].as_str().unwrap())
        .exists());
    assert!(w.site_folders(0).is_empty());
    // verify and list reach the same bench by name.
    let v = w.run(&["verify", &sub, "--bench", "web2"]);
    assert_eq!(v.code, 0, "{}\n{}", v.json, v.stderr);
    let l = w.ok(&["list", "--bench", "web2"]);
    assert!(l.to_string().contains(&sub), "{l}");
    assert!(!w
        .ok(&["list", "--bench", "web1"])
        .to_string()
        .contains(&sub));

    w.ok(&["bench", "cordon", "web1"]);
    let mut cmd = w.tool();
    provision_args(&mut cmd, &unique("cordoned"));
    cmd.env("BENCH", "web1");
    let refused = run(cmd);
    assert_eq!(refused.code, 1, "{}", refused.json);
    assert!(refused.json["error"].as_str().unwrap().contains("cordoned"));
    assert!(w.site_folders(0).is_empty());
    // A same-named sign-up elsewhere is the same DNS name: refused.
    let mut cmd = w.tool();
    provision_args(&mut cmd, &sub);
    cmd.args(["--bench", "auto"]);
    w.ok(&["bench", "uncordon", "web1"]);
    let dup = run(cmd);
    assert_eq!(dup.json["code"], "SITE_EXISTS", "{}", dup.json);
}

#[test]
fn pool_fill_all_fills_every_uncordoned_bench_and_status_all_shows_them() {
    let w = World::new(3);
    for (i, name) in ["web1", "web2", "web3"].iter().enumerate() {
        w.add(name, i, &[]);
    }
    w.ok(&["bench", "cordon", "web3"]);
    let r = w.ok(&["pool", "fill", "--all", "--size", "2"]);
    let benches = r["benches"].as_array().unwrap();
    let names: Vec<&str> = benches
        .iter()
        .map(|b| b["bench"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web1", "web2"], "a cordoned bench is not refilled");
    assert!(benches.iter().all(|b| b["standby"] == 2), "{r}");
    assert_eq!(
        (
            w.count(0, "standby"),
            w.count(1, "standby"),
            w.count(2, "standby")
        ),
        (2, 2, 0)
    );
    // At the target: nothing more.
    let again = w.ok(&["pool", "fill", "--all", "--size", "2"]);
    assert!(
        again["benches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["created"].as_array().unwrap().is_empty()),
        "{again}"
    );

    let status = w.ok(&["pool", "status", "--all", "--json"]);
    let on: Vec<&str> = status["standby"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["bench"].as_str().unwrap())
        .collect();
    assert_eq!(on, ["web1", "web1", "web2", "web2"], "{status}");
    let one = w.ok(&["pool", "status", "--bench", "web2", "--json"]);
    assert_eq!(one["standby"].as_array().unwrap().len(), 2);
}

#[test]
fn fills_from_several_hosts_at_once_never_overfill_a_bench() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    let children: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = w.tool();
            // As cron on a sign-up host would run it: BENCH=auto does not get in the way.
            cmd.env("BENCH", "auto");
            cmd.args(["pool", "fill", "--all", "--size", "2"]);
            spawn(cmd)
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    let mut made = [0, 0];
    for r in &runs {
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        for b in r.json["benches"].as_array().unwrap() {
            let i = if b["bench"] == "web1" { 0 } else { 1 };
            made[i] += b["created"].as_array().unwrap().len();
        }
    }
    assert_eq!(
        made,
        [2, 2],
        "{runs:?}",
        runs = runs.iter().map(|r| &r.json).collect::<Vec<_>>()
    );
    assert_eq!((w.count(0, "standby"), w.count(1, "standby")), (2, 2));
}

#[test]
fn cleanup_on_a_named_bench_drops_only_that_benchs_sites() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    let prefix = unique("clean");
    for (k, bench) in ["web1", "web2"].iter().enumerate() {
        let mut cmd = w.tool();
        provision_args(&mut cmd, &format!("{prefix}-{k}"));
        cmd.args(["--bench", bench]);
        let r = run(cmd);
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    }
    // list --all-benches: both, each with its bench.
    let all = w.ok(&["list", "--all-benches", "--json"]);
    let mut on: Vec<(String, String)> = all["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["site"].as_str().unwrap().to_string(),
                s["bench"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    on.sort();
    assert_eq!(
        on,
        [
            (format!("{prefix}-0.localhost"), "web1".to_string()),
            (format!("{prefix}-1.localhost"), "web2".to_string())
        ],
        "{all}"
    );
    let pattern = format!("{prefix}-*");
    let r = w.ok(&["cleanup", "--pattern", &pattern, "--yes", "--bench", "web2"]);
    assert_eq!(r["dropped"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(w.site_folders(1), Vec::<String>::new());
    assert_eq!(w.site_folders(0).len(), 1);
    assert_eq!((w.count(0, "active"), w.count(1, "active")), (1, 0));
    // Orphans seen from web1: web2's live rows and web1's own sites are kept.
    let o = w.ok(&["cleanup", "--orphans", "--dry-run", "--bench", "web1"]);
    assert!(!o.to_string().contains(&format!("{prefix}-0")), "{o}");
}

/// REGISTRY_DB mistyped (or another shell's): the registry the tool finds is empty, so
/// it knows no live row and no other bench. web1's orphan scan must not take web2's
/// tenant for an orphan: a bench that was added to a registry is not scanned without it.
#[test]
fn an_orphan_scan_without_its_registry_takes_nothing() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    let mut cmd = w.tool();
    provision_args(&mut cmd, &unique("two"));
    cmd.args(["--bench", "web2"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let db = r.json["dbName"].as_str().unwrap().to_string();

    // A registry that does not exist, then one that exists but is another's.
    let other = format!("{}_other", w.registry);
    for (registry, why) in [
        (format!("{}_typo", w.registry), "does not exist"),
        (other.clone(), "has never seen it"),
    ] {
        if registry == other {
            sql(&format!("CREATE DATABASE `{other}`"));
        }
        let mut cmd = w.tool();
        cmd.env("REGISTRY_DB", &registry).args([
            "cleanup",
            "--orphans",
            "--db-pattern",
            &db,
            "--yes",
        ]);
        let r = run(cmd);
        let kept = database_exists(&db);
        sql(&format!("DROP DATABASE IF EXISTS `{registry}`"));
        assert!(kept, "web2's tenant's database was dropped: {}", r.json);
        assert_ne!(r.code, 0, "{}\n{}", r.json, r.stderr);
        let error = r.json["error"].to_string();
        assert!(
            error.contains("check REGISTRY_DB") && error.contains(why),
            "{}",
            r.json
        );
    }
}

#[test]
fn an_orphan_scan_keeps_a_database_another_bench_names_or_may_name() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    // A site made on web2 by hand (bench new-site, not the tool): its folder's config
    // names its database, which holds Frappe's tables; no registry row knows it.
    let db = format!("_{:016x}", rand::random::<u64>());
    let mut make = vec![format!("CREATE DATABASE `{db}`")];
    for t in ["tabDocType", "tabSingles", "tabDefaultValue", "__Auth"] {
        make.push(format!("CREATE TABLE `{db}`.`{t}` (name varchar(140))"));
    }
    for q in &make {
        sql(q);
    }
    let site = format!("{}.localhost", unique("byhand"));
    let dir = w.nodes[1].bench.site_dir(&site);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("site_config.json"),
        format!(r#"{{"db_name": "{db}"}}"#),
    )
    .unwrap();

    // Seen from web1 it is no orphan: web2's sites are read and its site names it.
    let orphans = [
        "cleanup",
        "--orphans",
        "--db-pattern",
        &db,
        "--yes",
        "--bench",
        "web1",
    ];
    let o = w.ok(&orphans);
    let kept = database_exists(&db);

    // web2's sites cannot be read (its host went away): on their server nothing is
    // certain to be an orphan, so nothing is taken, and the run says why.
    std::fs::remove_dir_all(&dir).unwrap();
    w.break_bench("web2");
    let r = w.run(&orphans);
    let kept_unread = database_exists(&db);
    sql(&format!("DROP DATABASE IF EXISTS `{db}`"));
    assert!(kept, "web2's site's database was dropped: {o}");
    assert_eq!(o["dropped"], serde_json::json!([]), "{o}");
    assert!(
        kept_unread,
        "dropped while web2 could not be read: {}",
        r.json
    );
    assert_eq!(r.json["dropped"], serde_json::json!([]), "{}", r.json);
    assert!(
        r.json["warnings"]
            .to_string()
            .contains("no database or DB user was taken"),
        "{}",
        r.json
    );
}

#[test]
fn an_invalid_sign_up_claims_nothing_on_any_bench() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    w.fill("web1", 1);
    let mut cmd = w.tool();
    // Passes the shape rules, fails zxcvbn: found only after the site lock is taken.
    provision_args_with(&mut cmd, &unique("weak"), "Password123");
    cmd.args(["--bench", "auto"]);
    let r = run(cmd);
    assert_eq!(
        (r.code, r.json["code"].as_str()),
        (2, Some("INVALID_INPUT")),
        "{}",
        r.json
    );
    assert_eq!(
        r.json["rollback"],
        serde_json::json!([]),
        "nothing was made to undo: {}",
        r.json
    );
    assert_eq!(w.count(0, "standby"), 1);
    assert_eq!(w.count(0, "claimed") + w.count(1, "claimed"), 0);
}

#[test]
fn a_failed_auto_sign_up_says_which_bench_it_was_on_and_rolls_back_there() {
    let w = World::new(1);
    w.add("web1", 0, &[]);
    // Frappe of that bench is gone: the site is made, then login fails and it is undone.
    let gone = ClosedPort::new();
    sql(&format!(
        "UPDATE `{}`.benches SET frappe_url = '{}' WHERE name = 'web1'",
        w.registry,
        gone.http_url()
    ));
    let r = &w.burst(&unique("gone"), 1)[0];
    assert_eq!(r.code, 3, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["bench"], "web1", "{}", r.json);
    assert_eq!(r.json["step"], "create-user", "{}", r.json);
    assert!(w.site_folders(0).is_empty(), "{:?}", w.site_folders(0));
    let site = r.json["site"].as_str().unwrap();
    assert_eq!(
        made_databases(&w.log)
            .iter()
            .filter(|(s, _)| s == site)
            .count(),
        1,
        "new-site ran for {site}"
    );
    assert!(
        w.databases_left(site).is_empty(),
        "{:?}",
        w.databases_left(site)
    );
}

#[test]
fn a_failed_auto_sign_up_whose_drop_site_fails_is_still_rolled_back_there() {
    let w = World::new(1);
    w.add("web1", 0, &[]);
    let gone = ClosedPort::new();
    sql(&format!(
        "UPDATE `{}`.benches SET frappe_url = '{}' WHERE name = 'web1'",
        w.registry,
        gone.http_url()
    ));
    // Bench cannot drop the site either: the tool removes the folder and MariaDB's
    // share itself, and every bit of it must go (a folder emptied of its
    // site_config.json is still a folder left).
    let mut cmd = w.tool();
    provision_args(&mut cmd, &unique("gone"));
    cmd.args(["--bench", "auto"])
        .env("BENCH_DOUBLE_FAIL", "drop-site");
    let r = run(cmd);
    assert_eq!(r.code, 3, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["removedBy"], "mariadb", "{}", r.json);
    assert!(w.site_folders(0).is_empty(), "{:?}", w.site_folders(0));
    let site = r.json["site"].as_str().unwrap();
    assert!(
        w.databases_left(site).is_empty(),
        "{:?}",
        w.databases_left(site)
    );
}

#[test]
fn auto_placement_refuses_benches_on_different_site_domains() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &["--site-domain", "example.com"]);
    let r = &w.burst(&unique("dom"), 1)[0];
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
            .contains("one site domain"),
        "{}",
        r.json
    );
    // Cordoning the odd one out lets sign-ups through again.
    w.ok(&["bench", "cordon", "web2"]);
    let ok = &w.burst(&unique("dom"), 1)[0];
    assert_eq!(ok.code, 0, "{}\n{}", ok.json, ok.stderr);
    assert_eq!(ok.json["bench"], "web1");
}

#[test]
fn pool_fill_makes_nothing_on_a_bench_that_is_not_the_inventorys() {
    let w = World::new(1);
    w.add("web1", 0, &[]);
    // Something else now answers at web1's address: its bench id is not the one added.
    let id_file = w.nodes[0]
        .bench
        .path()
        .join("sites/.frappe-tenant/bench-id");
    std::fs::write(&id_file, "someotherbench00\n").unwrap();
    let r = w.run(&["pool", "fill", "--bench", "web1", "--size", "1"]);
    assert_ne!(r.code, 0, "{}", r.json);
    assert!(
        r.json.to_string().contains("not the inventory's"),
        "{}",
        r.json
    );
    assert!(w.site_folders(0).is_empty(), "a standby was made");
}

#[test]
fn a_bench_with_unusable_settings_is_a_warning_in_the_sign_ups_json() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    sql(&format!(
        "UPDATE `{}`.benches SET executor = 'bogus' WHERE name = 'web2'",
        w.registry
    ));
    let r = w.burst(&unique("warn"), 1).remove(0);
    assert_eq!(
        (r.code, &r.json["bench"]),
        (0, &Value::from("web1")),
        "{}",
        r.json
    );
    assert!(
        r.json["warnings"]
            .to_string()
            .contains("bench web2 skipped"),
        "{}",
        r.json
    );
}

#[test]
fn without_standbys_a_bench_with_a_matching_template_wins() {
    let w = World::new(2);
    w.add("web1", 0, &[]);
    w.add("web2", 1, &[]);
    // Only web2 has a template (its apps' versions are known, as on a real bench).
    for (app, version) in [("frappe", "15.14.1"), ("nexus_core", "1.0.0")] {
        let dir = w.nodes[1].bench.path().join("apps").join(app).join(app);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("__init__.py"),
            format!("__version__ = \"{version}\"\n"),
        )
        .unwrap();
    }
    w.ok(&["template", "build", "--bench", "web2"]);
    let r = w.burst(&unique("tpl"), 1).remove(0);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(
        (&r.json["bench"], &r.json["path"]),
        (&Value::from("web2"), &Value::from("template")),
        "{}",
        r.json
    );
}
