//! Black-box tests of several benches: the bench inventory (`bench add|list|remove|
//! cordon|uncordon`), sign-ups placed by `provision --bench NAME|auto`, and `--bench` /
//! `--all` on the pool and the other commands. Two or three benches of the bench double,
//! each with its own sites folder and its own fake Frappe, share the real MariaDB and
//! one registry database that no other test uses.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
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
    registry: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(n: usize) -> Self {
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
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.tool();
        cmd.args(args);
        run(cmd)
    }

    fn ok(&self, args: &[&str]) -> Value {
        let r = self.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.json, r.stderr);
        assert_eq!(r.json["success"], true, "{}", r.json);
        r.json
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

    /// Site folders of node `i` that are not the tool's own.
    fn site_folders(&self, i: usize) -> Vec<String> {
        let sites = self.nodes[i].bench.path().join("sites");
        let mut out: Vec<String> = std::fs::read_dir(sites)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("site_config.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let calls: Vec<Value> = std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        for c in calls.iter().filter(|c| c["argv"][0] == "new-site") {
            if let Some(site) = c["argv"][1].as_str() {
                forget_site(site);
            }
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
