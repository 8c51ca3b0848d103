//! Placement under a burst, measured in one run and printed as ratios: BURST (default 20)
//! concurrent `provision --bench auto` sign-ups over two benches with a pool of POOL
//! (default 10) standbys each, against the same burst on one bench with the same pool, and
//! over two benches whose sites live on two MariaDB servers (`db-server add`; the second
//! server is the benchmark's own `mariadbd`, the registry stays on the first).
//! For each: p50 and p99 (nearest rank) of the whole sign-up (process wall time), and
//! how many fell back to a fresh new-site because no standby was left.
//!
//!   cargo bench --bench placement   # against the test doubles; needs MariaDB like the tests
//!
//! Each setup has its own benches and its own registry database; everything it makes it
//! removes again.

#[path = "../tests/cli/common/mod.rs"]
mod common;
#[path = "support/numbers.rs"]
mod numbers;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::*;
use numbers::{env_number, rank};

fn main() {
    let burst = env_number("BURST", 20);
    let pool = env_number("POOL", 10);
    println!("frappe-tenant placement benchmark: a burst of {burst} concurrent sign-ups, a pool of {pool} per bench\n");
    let two = Setup::new(2, false).burst(burst, pool);
    let one = Setup::new(1, false).burst(burst, pool);
    let servers = Setup::new(2, true).burst(burst, pool);
    for (name, r) in [
        ("2 benches", &two),
        ("1 bench", &one),
        ("2 benches, 2 servers", &servers),
    ] {
        println!(
            "  {name:<21} p50 {:.3} s   p99 {:.3} s   whole burst {:.3} s   fresh fallbacks {}/{burst}   placed {:?}",
            r.p50, r.p99, r.total, r.fresh, r.benches
        );
    }
    println!(
        "  1 bench / 2 benches: p50 {:.2}x, p99 {:.2}x, whole burst {:.2}x; fresh fallbacks {} vs {}",
        one.p50 / two.p50,
        one.p99 / two.p99,
        one.total / two.total,
        one.fresh,
        two.fresh
    );
    println!(
        "  2 servers / 1 server (2 benches each): p50 {:.2}x, p99 {:.2}x, whole burst {:.2}x; fresh fallbacks {} vs {}",
        servers.p50 / two.p50,
        servers.p99 / two.p99,
        servers.total / two.total,
        servers.fresh,
        two.fresh
    );
}

struct Outcome {
    p50: f64,
    p99: f64,
    total: f64,
    fresh: usize,
    benches: std::collections::BTreeMap<String, usize>,
}

/// `n` benches of the bench double, each with its fake Frappe, in one new registry; with
/// `servers`, the second bench's sites on a MariaDB server of its own.
struct Setup {
    nodes: Vec<(TestBench, FakeFrappe)>,
    /// The second server, if any (after `nodes`: dropped after the benches).
    server: Option<common::server::MariaDbServer>,
    registry: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new(n: usize, servers: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = servers.then(common::server::MariaDbServer::start);
        let nodes = (0..n)
            .map(|i| {
                let b = match (&server, i) {
                    (Some(s), 1) => TestBench::on(&s.url(), &[]),
                    _ => TestBench::new(&[]),
                };
                let f = FakeFrappe::start(&b);
                (b, f)
            })
            .collect();
        let s = Setup {
            nodes,
            server,
            registry: format!("ft_bench_reg_{:08x}", rand::random::<u32>()),
            log: dir.path().join("bench-calls.jsonl"),
            _dir: dir,
        };
        let double = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench-double/bench");
        if s.server.is_some() {
            s.ok(&[
                "db-server",
                "add",
                "db2",
                "--url-from",
                "env:FT_BENCH_DB2_URL",
            ]);
        }
        for (i, (b, f)) in s.nodes.iter().enumerate() {
            let on = match (&s.server, i) {
                (Some(_), 1) => vec!["--db-server", "db2"],
                _ => vec![],
            };
            s.ok(&[
                "bench",
                "add",
                &format!("web{i}"),
                "--bench-executor",
                "local",
                "--bench-bin",
                double.to_str().unwrap(),
                "--bench-path",
                b.path().to_str().unwrap(),
                "--frappe-url",
                &f.url,
            ]
            .into_iter()
            .chain(on)
            .collect::<Vec<_>>());
        }
        s
    }

    fn cmd(&self) -> Command {
        let (b, f) = &self.nodes[0];
        let mut c = tool(b, f);
        c.env("REGISTRY_DB", &self.registry)
            .env("BENCH_DOUBLE_LOG", &self.log)
            .env("PROVISION_TIMEOUT", "300");
        if let Some(server) = &self.server {
            c.env("FT_BENCH_DB2_URL", server.url());
        }
        c
    }

    fn ok(&self, args: &[&str]) {
        let mut c = self.cmd();
        c.args(args);
        let r = run(c);
        assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.json, r.stderr);
    }

    fn burst(&self, n: usize, pool: usize) -> Outcome {
        self.ok(&["pool", "fill", "--all", "--size", &pool.to_string()]);
        let id = unique("pl");
        let started = Instant::now();
        // One thread per sign-up, so each one's wall time ends when it does.
        let children: Vec<_> = (0..n)
            .map(|k| {
                let mut c = self.cmd();
                provision_args(&mut c, &format!("{id}-{k}"));
                c.args(["--bench", "auto"]);
                std::thread::spawn(move || {
                    let t0 = Instant::now();
                    let r = run(c);
                    (t0.elapsed().as_secs_f64(), r)
                })
            })
            .collect();
        let mut walls = vec![];
        let mut fresh = 0;
        let mut benches = std::collections::BTreeMap::new();
        for child in children {
            let (wall, r) = child.join().unwrap();
            walls.push(wall);
            assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
            if r.json["path"] != "pool" {
                fresh += 1;
            }
            *benches
                .entry(r.json["bench"].as_str().unwrap_or_default().to_string())
                .or_insert(0) += 1;
        }
        let total = started.elapsed().as_secs_f64();
        walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Outcome {
            p50: rank(&walls, 0.50),
            p99: rank(&walls, 0.99),
            total,
            fresh,
            benches,
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for (_, db) in made_databases(&self.log) {
            drop_database_and_user_at(&mariadb_url(), &db);
        }
        sql(&format!("DROP DATABASE IF EXISTS `{}`", self.registry));
    }
}
