//! The fault soak: seeded random interleavings of everything that makes or removes sites
//! (provision by the pool, the template and a fresh new-site, with and without bench
//! failing; pool fill and drain; `cleanup --pattern` and `--orphans`; a hand-made site's
//! config rewritten in place, as Frappe does) on two benches of
//! the double that share a MariaDB server of the test's own, with SIGKILLs at random
//! points. Each round ends with `cleanup --orphans` on both benches, then checks:
//!
//! - every `active` row's tenant verifies, and every `standby` row's site is whole;
//! - no row is left in `provisioning`, `claimed` or `dropping`;
//! - no tool-made site folder, database or DB user without a live row naming it;
//! - nothing foreign (sites made by hand, databases of other programs) was touched.
//!
//! A failure prints its seed; `SOAK_SEED=<seed>` replays the same choices (the timing
//! of the processes still varies). `SOAK_ROUNDS` and `SOAK_OPS` set the size: CI runs
//! the default, a bigger run is in the README.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const NAMES_PER_ROUND: usize = 5;

struct Soak {
    /// The first owns the MariaDB server: it goes last (see `Drop`).
    benches: Vec<World>,
    rng: StdRng,
    prefix: String,
    /// A database no Frappe site has anything to do with.
    foreign_db: String,
    kills: usize,
    ops: usize,
    /// What the current round ran, for the failure message.
    history: Vec<String>,
}

/// One tool process of a round, and whether it is to be killed, after how long.
struct Op {
    what: String,
    child: Child,
    kill_after: Option<Duration>,
    started: Instant,
}

impl Soak {
    fn new(seed: u64) -> Self {
        let a = World::alone(&[]);
        let b = a.beside(&[]);
        let soak = Soak {
            benches: vec![a, b],
            rng: StdRng::seed_from_u64(seed),
            prefix: format!("sk{}", seed % 10_000),
            foreign_db: "someones_app".into(),
            kills: 0,
            ops: 0,
            history: vec![],
        };
        soak.plant_foreign();
        for (i, w) in soak.benches.iter().enumerate() {
            w.set_version("frappe", "15.14.1");
            let r = w.run(&["template", "build"]);
            assert_eq!(r.code, 0, "template build: {}\n{}", r.json, r.stderr);
            // Both in one inventory: each bench's orphan scan knows the other's sites.
            let double =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench-double/bench");
            let path = w.bench.path().display().to_string();
            let r = w.run(&[
                "bench",
                "add",
                &format!("soak{i}"),
                "--bench-executor",
                "local",
                "--bench-bin",
                &double.display().to_string(),
                "--bench-path",
                &path,
                "--frappe-url",
                &w.frappe.url,
            ]);
            assert_eq!(r.code, 0, "bench add: {}\n{}", r.json, r.stderr);
        }
        soak
    }

    /// What the tool must never touch: a database of another program, and on each bench
    /// a site made by hand (its folder, its database with Frappe's tables, its user).
    fn plant_foreign(&self) {
        let w = &self.benches[0];
        w.sql(&format!("CREATE DATABASE `{}`", self.foreign_db), vec![]);
        w.sql(
            &format!("CREATE TABLE `{}`.invoices (id INT)", self.foreign_db),
            vec![],
        );
        for (i, w) in self.benches.iter().enumerate() {
            let db = format!("hand_db_{i}");
            w.sql(&format!("CREATE DATABASE `{db}`"), vec![]);
            for t in ["tabDocType", "tabSingles", "tabDefaultValue", "__Auth"] {
                w.sql(&format!("CREATE TABLE `{db}`.`{t}` (x INT)"), vec![]);
            }
            w.sql(&format!("CREATE USER '{db}'@'%' IDENTIFIED BY 'x'"), vec![]);
            let dir = w.bench.site_dir(&format!("hand-{i}.localhost"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("site_config.json"), foreign_config(&db)).unwrap();
        }
    }

    /// Starts one random operation on a random bench.
    fn start(&mut self, round: usize) -> Op {
        let bench = self.rng.random_range(0..2);
        let name = format!(
            "{}-{round}-{}",
            self.prefix,
            self.rng.random_range(0..NAMES_PER_ROUND)
        );
        let w = &self.benches[bench];
        let mut cmd = w.tool();
        let what = match self.rng.random_range(0..11) {
            10 => return self.rewrite_hand_config(bench),
            0..=4 => {
                provision_args(&mut cmd, &name);
                match self.rng.random_range(0..3) {
                    0 => {}
                    1 => {
                        cmd.env("NO_POOL", "true");
                    }
                    _ => {
                        cmd.env("NO_POOL", "true").env("NO_TEMPLATE", "true");
                    }
                }
                if self.rng.random_bool(0.2) {
                    let fault = ["new-site", "new-site:before-db", "drop-site"]
                        [self.rng.random_range(0..3)];
                    cmd.env("BENCH_DOUBLE_FAIL", fault);
                }
                format!("provision {name}")
            }
            5 | 6 => {
                let size = self.rng.random_range(1..4).to_string();
                cmd.args(["pool", "fill", "--size", &size]);
                format!("pool fill --size {size}")
            }
            7 => {
                cmd.args(["pool", "drain"]);
                "pool drain".into()
            }
            8 => {
                let pattern = format!("{}-{round}-*", self.prefix);
                cmd.args(["cleanup", "--pattern", &pattern, "--yes"]);
                format!("cleanup --pattern {pattern}")
            }
            _ => {
                cmd.args(["cleanup", "--orphans", "--yes"]);
                // Now and then from a shell whose REGISTRY_DB is mistyped.
                match self.rng.random_bool(0.2) {
                    true => {
                        cmd.env("REGISTRY_DB", "frappe_tenant_typo");
                        "cleanup --orphans (REGISTRY_DB mistyped)".into()
                    }
                    false => "cleanup --orphans".into(),
                }
            }
        };
        let kill_after = self
            .rng
            .random_bool(0.35)
            .then(|| Duration::from_millis(self.rng.random_range(0..1500)));
        self.ops += 1;
        Op {
            what: format!("bench {bench}: {what}"),
            child: cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
            kill_after,
            started: Instant::now(),
        }
    }

    /// Frappe rewriting the hand-made site's config in place (`bench set-config`: truncate,
    /// then write), slowed down: for a moment the file is empty. Never killed, so the
    /// config is whole again before the round's last cleanup.
    fn rewrite_hand_config(&mut self, bench: usize) -> Op {
        let w = &self.benches[bench];
        let path = w.bench.site_dir(&format!("hand-{bench}.localhost"));
        let pause = format!("{:.3}", self.rng.random_range(0.05..0.5));
        let child = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, time\n\
                 p = sys.argv[1] + '/site_config.json'\n\
                 t = open(p).read()\n\
                 open(p, 'w').close()\n\
                 time.sleep(float(sys.argv[2]))\n\
                 open(p, 'w').write(t)\n",
            ])
            .arg(&path)
            .arg(&pause)
            .spawn()
            .unwrap();
        self.ops += 1;
        Op {
            what: format!("bench {bench}: hand-{bench}'s config rewritten in place ({pause} s)"),
            child,
            kill_after: None,
            started: Instant::now(),
        }
    }

    fn round(&mut self, round: usize, ops: usize) {
        self.history.clear();
        let mut running: Vec<Op> = vec![];
        let mut started = 0;
        while started < ops || !running.is_empty() {
            // Up to three at once, started at random moments.
            if started < ops && running.len() < 3 && self.rng.random_bool(0.5) {
                running.push(self.start(round));
                started += 1;
            }
            running.retain_mut(|op| {
                if let Some(after) = op.kill_after {
                    if op.started.elapsed() >= after {
                        signal(op.child.id(), libc::SIGKILL);
                        let _ = op.child.wait();
                        self.kills += 1;
                        self.history
                            .push(format!("{} (killed after {after:?})", op.what));
                        return false;
                    }
                }
                match op.child.try_wait() {
                    Ok(Some(status)) => {
                        self.history.push(format!("{} ({status})", op.what));
                        false
                    }
                    _ => true,
                }
            });
            std::thread::sleep(Duration::from_millis(50));
        }
        // A killed run's bench dies with it (parent-death signal), though not at once.
        for w in &self.benches {
            let needle = format!("BENCH_DOUBLE_LOG={}", w.bench.log.display());
            wait_for("no bench of a killed run is left", 15, || {
                processes_with_env(&needle).is_empty()
            });
        }
        for w in &self.benches {
            let r = w.run(&["cleanup", "--orphans", "--yes"]);
            assert_eq!(
                r.code, 0,
                "round {round}: cleanup --orphans: {}\n{}",
                r.json, r.stderr
            );
        }
    }

    /// Every invariant, with what breaks it.
    fn violations(&self) -> Vec<String> {
        let mut bad = vec![];
        let w0 = &self.benches[0];
        let rows: Vec<Value> = w0
            .sql(
                "SELECT JSON_OBJECT('id', id, 'bench_id', bench_id, 'site', site, 'subdomain', \
                 subdomain, 'db_name', db_name, 'status', status) FROM frappe_tenant.tenants",
                vec![],
            )
            .into_iter()
            .map(|r| serde_json::from_str(&cell(r.as_ref(0).unwrap())).unwrap())
            .collect();
        let live: Vec<&Value> = rows
            .iter()
            .filter(|r| r["status"] == "active" || r["status"] == "standby")
            .collect();
        for r in &rows {
            if ["provisioning", "claimed", "dropping"].contains(&r["status"].as_str().unwrap()) {
                bad.push(format!("row left {}: {r}", r["status"]));
            }
        }
        let names = |q: &str| -> Vec<String> {
            w0.sql(q, vec![])
                .into_iter()
                .map(|r| cell(r.as_ref(0).unwrap()))
                .collect()
        };
        let databases = names("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA");
        let users = names("SELECT User FROM mysql.user");
        for w in &self.benches {
            let bench_id = w.bench_id();
            let mine: Vec<&&Value> = live.iter().filter(|r| r["bench_id"] == bench_id).collect();
            // Every live row's site is whole; every active tenant verifies.
            for r in &mine {
                let (site, db) = (r["site"].as_str().unwrap(), r["db_name"].as_str().unwrap());
                match config_db(w, site) {
                    Some(d) if d == db => {}
                    other => bad.push(format!("{r}: its folder holds {other:?}")),
                }
                if !databases.iter().any(|d| d == db) || !users.iter().any(|u| u == db) {
                    bad.push(format!("{r}: its database or DB user is gone"));
                }
                if r["status"] == "active" {
                    let v = w.verify(r["subdomain"].as_str().unwrap());
                    if v.code != 0 {
                        bad.push(format!("{r}: verify says {}", v.json));
                    }
                }
            }
            // Every tool-made folder is a live row's instance.
            for entry in std::fs::read_dir(w.bench.path().join("sites")).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if !entry.file_type().unwrap().is_dir()
                    || name.starts_with('.')
                    || name.starts_with("hand-")
                {
                    continue;
                }
                let held = config_db(w, &name);
                if !mine.iter().any(|r| {
                    r["site"] == name.as_str()
                        && Some(r["db_name"].as_str().unwrap()) == held.as_deref()
                }) {
                    bad.push(format!(
                        "bench {bench_id}: folder {name} ({held:?}) without a live row"
                    ));
                }
            }
        }
        // Every tool-made database and DB user is a live row's.
        for name in databases.iter().chain(users.iter()) {
            if name.starts_with("ft_") && !live.iter().any(|r| r["db_name"] == name.as_str()) {
                bad.push(format!("{name} without a live row"));
            }
        }
        // Nothing foreign was touched.
        if !databases.contains(&self.foreign_db)
            || names(&format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}'",
                self.foreign_db
            )) != ["1"]
        {
            bad.push(format!("{} was touched", self.foreign_db));
        }
        for (i, w) in self.benches.iter().enumerate() {
            let db = format!("hand_db_{i}");
            let config = w
                .bench
                .site_dir(&format!("hand-{i}.localhost"))
                .join("site_config.json");
            if std::fs::read_to_string(&config).ok().as_deref()
                != Some(foreign_config(&db).as_str())
            {
                bad.push(format!("the hand-made site hand-{i} was touched"));
            }
            if !databases.contains(&db) || !users.contains(&db) {
                bad.push(format!("the hand-made site's {db} was touched"));
            }
        }
        bad
    }
}

impl Drop for Soak {
    fn drop(&mut self) {
        while let Some(w) = self.benches.pop() {
            drop(w);
        }
    }
}

fn foreign_config(db: &str) -> String {
    serde_json::json!({"db_name": db, "db_password": "x", "db_type": "mariadb"}).to_string()
}

/// The database a site folder's config names, if it has a readable one.
fn config_db(w: &World, site: &str) -> Option<String> {
    let text = std::fs::read_to_string(w.bench.site_dir(site).join("site_config.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["db_name"].as_str().map(String::from)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn fault_soak_keeps_every_invariant() {
    let seed = env_number("SOAK_SEED", rand::random::<u32>() as u64);
    let rounds = env_number("SOAK_ROUNDS", 8) as usize;
    let ops = env_number("SOAK_OPS", 10) as usize;
    eprintln!("fault soak: SOAK_SEED={seed} SOAK_ROUNDS={rounds} SOAK_OPS={ops}");
    let clock = Instant::now();
    let mut soak = Soak::new(seed);
    for round in 0..rounds {
        soak.round(round, ops);
        let bad = soak.violations();
        assert!(
            bad.is_empty(),
            "SOAK_SEED={seed}: round {round} broke {} invariant(s):\n{}\nafter:\n{}",
            bad.len(),
            bad.join("\n"),
            soak.history.join("\n")
        );
    }
    eprintln!(
        "fault soak: seed {seed}, {rounds} rounds, {} operations, {} killed, 0 violations, {:.1} s",
        soak.ops,
        soak.kills,
        clock.elapsed().as_secs_f64()
    );
}
