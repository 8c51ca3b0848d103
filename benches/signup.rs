//! Sign-up speed, measured in one run on one machine and printed as ratios:
//! provision from the pool vs from the template vs fresh; the tool's own work as a share
//! of each (wall time of the process minus the time it reports waiting on bench, Frappe
//! and MariaDB); 4 concurrent provisions vs 4 one after another; the orphan scan over
//! 1,000 databases.
//!
//!   cargo bench --bench signup      # against the test doubles; needs MariaDB like the tests
//!   FRAPPE_E2E=1 BENCH_EXECUTOR=local BENCH_PATH=… BENCH_BIN=… FRAPPE_URL=… MARIADB_URL=… \
//!     cargo bench --bench signup    # and against that real bench (run as the bench's user)
//!
//! RUNS (default 5) provisions per path against the doubles, REAL_RUNS (default 3) against
//! the real bench. Everything it makes it removes again, with the tool's own cleanup.
//!
//! With BASELINE_BIN=<an older frappe-tenant>, template and pool sign-ups of that binary and
//! of this one alternate in the same run, and the ratios this/baseline are printed: a
//! change's cost measured on one machine under one load. This one is also measured signing
//! up with another country than the standbys and the template were set up with.

#[path = "../tests/cli/common/mod.rs"]
mod common;
#[path = "support/numbers.rs"]
mod numbers;

use std::process::Command;
use std::time::Instant;

use common::*;
use numbers::env_number;
use serde_json::Value;

fn main() {
    let runs = env_number("RUNS", 5);
    println!("frappe-tenant sign-up benchmark ({runs} runs per path against the doubles)\n");
    let doubles = Target::doubles();
    let baseline = std::env::var("BASELINE_BIN").ok();
    if let Some(old) = &baseline {
        compare(&doubles, old, runs, "test doubles");
    }
    let report = measure(&doubles, runs);
    report.print("test doubles (bench double + fake Frappe + real MariaDB)");
    orphan_scan(&doubles);

    if std::env::var("FRAPPE_E2E").as_deref() == Ok("1") {
        let real_runs = env_number("REAL_RUNS", 3);
        let real = Target::real();
        println!(
            "\nreal bench at {} ({real_runs} runs per path)",
            real.describe()
        );
        if let Some(old) = &baseline {
            compare(&real, old, real_runs, "real Frappe bench");
        }
        measure(&real, real_runs).print("real Frappe bench");
    } else {
        println!("\n(set FRAPPE_E2E=1 and the tool's env to measure a real bench as well)");
    }
}

/// Where provisions go: the doubles (with their own bench and fake Frappe), or the real
/// bench the environment describes.
struct Target {
    doubles: Option<(TestBench, FakeFrappe)>,
    run_id: String,
}

impl Target {
    fn doubles() -> Self {
        let bench = TestBench::new(&[]);
        // template build and the staleness check read each app's __version__.
        let init = bench.path().join("apps/frappe/frappe");
        std::fs::create_dir_all(&init).unwrap();
        std::fs::write(init.join("__init__.py"), "__version__ = \"15.14.1\"\n").unwrap();
        let frappe = FakeFrappe::start(&bench);
        Target {
            doubles: Some((bench, frappe)),
            run_id: unique("b"),
        }
    }

    fn real() -> Self {
        Target {
            doubles: None,
            run_id: unique("b"),
        }
    }

    fn describe(&self) -> String {
        std::env::var("BENCH_PATH").unwrap_or_else(|_| "(docker executor)".into())
    }

    fn cmd(&self) -> Command {
        match &self.doubles {
            Some((bench, frappe)) => {
                let mut c = tool(bench, frappe);
                c.env("PROVISION_TIMEOUT", "300");
                c
            }
            // The real bench: the tool's env comes from ours.
            None => Command::new(env!("CARGO_BIN_EXE_frappe-tenant")),
        }
    }

    /// Runs the tool with `args`; returns its JSON and the process's wall time.
    fn run(&self, args: &[&str]) -> (Value, f64) {
        let mut c = self.cmd();
        c.args(args);
        let started = Instant::now();
        let r = run(c);
        let wall = started.elapsed().as_secs_f64();
        assert!(
            r.code == 0,
            "frappe-tenant {}: exit {}\n{}\n{}",
            args.join(" "),
            r.code,
            r.json,
            r.stderr
        );
        (r.json, wall)
    }

    /// `cmd`, but running the binary at `bin` (same environment).
    fn cmd_of(&self, bin: &str) -> Command {
        let mine = self.cmd();
        let mut c = Command::new(bin);
        if self.doubles.is_some() {
            c.env_clear();
        }
        for (k, v) in mine.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// One sign-up by the binary at `bin` (`None`: this one): its wall time.
    fn provision_with(&self, bin: Option<&str>, sub: &str, extra: &[&str]) -> f64 {
        let email = format!("{sub}@bench.example.com");
        let mut c = match bin {
            Some(b) => self.cmd_of(b),
            None => self.cmd(),
        };
        c.args(["provision", sub, &email, "Jane Roe", PASSWORD, "Bench Co"])
            .args(extra);
        let started = Instant::now();
        let r = run(c);
        let wall = started.elapsed().as_secs_f64();
        assert_eq!(r.code, 0, "provision {sub}: {}\n{}", r.json, r.stderr);
        wall
    }

    fn provision(&self, sub: &str, extra: &[&str]) -> Provision {
        let email = format!("{sub}@bench.example.com");
        let mut args = vec!["provision", sub, &email, "Jane Roe", PASSWORD, "Bench Co"];
        args.extend(extra);
        let (json, wall) = self.run(&args);
        Provision::new(&json, wall)
    }

    /// Removes every site this run made, with the tool's own cleanup. (Every standby it
    /// made was claimed by one of its sign-ups.)
    fn clean(&self) {
        let pattern = format!("{}-*", self.run_id);
        self.run(&["cleanup", "--pattern", &pattern, "--yes"]);
    }
}

struct Provision {
    wall: f64,
    own: f64,
    path: String,
}

impl Provision {
    fn new(json: &Value, wall: f64) -> Self {
        Provision {
            wall,
            own: wall - json["waited"].as_f64().unwrap_or(0.0),
            path: json["path"].as_str().unwrap_or_default().to_string(),
        }
    }
}

struct Report {
    fresh: Vec<Provision>,
    template: Vec<Provision>,
    pool: Vec<Provision>,
    sequential_four: f64,
    concurrent_four: f64,
    concurrent_paths: Vec<String>,
}

fn measure(t: &Target, runs: usize) -> Report {
    let id = &t.run_id;
    let sub = |path: &str, i: usize| format!("{id}-{path}-{i}");
    let (status, _) = t.run(&["pool", "status", "--json"]);
    assert!(
        status["standby"].as_array().is_some_and(|s| s.is_empty()),
        "the benchmark needs the pool to itself: `frappe-tenant pool drain` first"
    );
    t.run(&["template", "build"]);
    let fresh: Vec<_> = (0..runs)
        .map(|i| t.provision(&sub("f", i), &["--no-pool", "--no-template"]))
        .collect();
    let template: Vec<_> = (0..runs)
        .map(|i| t.provision(&sub("t", i), &["--no-pool"]))
        .collect();
    t.run(&["pool", "fill", "--size", &runs.to_string()]);
    let pool: Vec<_> = (0..runs).map(|i| t.provision(&sub("p", i), &[])).collect();
    for (name, list, want) in [
        ("fresh", &fresh, "fresh"),
        ("template", &template, "template"),
        ("pool", &pool, "pool"),
    ] {
        assert!(
            list.iter().all(|p| p.path == want),
            "{name} runs took other paths: {:?}",
            list.iter().map(|p| &p.path).collect::<Vec<_>>()
        );
    }

    // 4 sign-ups the default way (pool first), one after another, then all at once.
    t.run(&["pool", "fill", "--size", "4"]);
    let started = Instant::now();
    for i in 0..4 {
        t.provision(&sub("s", i), &[]);
    }
    let sequential_four = started.elapsed().as_secs_f64();
    t.run(&["pool", "fill", "--size", "4"]);
    let started = Instant::now();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let s = sub("c", i);
            let email = format!("{s}@bench.example.com");
            let mut c = t.cmd();
            c.args(["provision", &s, &email, "Jane Roe", PASSWORD, "Bench Co"]);
            spawn(c)
        })
        .collect();
    let mut concurrent_paths = vec![];
    for child in children {
        let r = finish(child);
        assert_eq!(
            r.code, 0,
            "a concurrent provision failed: {}\n{}",
            r.json, r.stderr
        );
        concurrent_paths.push(r.json["path"].as_str().unwrap_or_default().to_string());
    }
    let concurrent_four = started.elapsed().as_secs_f64();
    t.clean();
    Report {
        fresh,
        template,
        pool,
        sequential_four,
        concurrent_four,
        concurrent_paths,
    }
}

impl Report {
    fn print(&self, title: &str) {
        let wall = |v: &[Provision]| median(v.iter().map(|p| p.wall).collect());
        let own = |v: &[Provision]| median(v.iter().map(|p| p.own).collect());
        let (f, t, p) = (wall(&self.fresh), wall(&self.template), wall(&self.pool));
        println!("{title}: one sign-up, median wall time of the whole process");
        for (name, v, w) in [
            ("fresh new-site", &self.fresh, f),
            ("template", &self.template, t),
            ("pool", &self.pool, p),
        ] {
            let o = own(v);
            println!(
                "  {name:<15} {w:>8.3} s   tool's own work {o:.3} s = {:>5.2} % of it",
                100.0 * o / w
            );
        }
        println!("  fresh / template  {:>7.1}x", f / t);
        println!("  fresh / pool      {:>7.1}x", f / p);
        println!(
            "  4 sign-ups (pool first): one after another {:.3} s, all at once {:.3} s ({:.2}x); paths {:?}\n",
            self.sequential_four,
            self.concurrent_four,
            self.sequential_four / self.concurrent_four,
            self.concurrent_paths
        );
    }
}

/// Template and pool sign-ups of the baseline binary and of this one, alternating in one
/// run; this one also with a country its sites were not set up with (the setup wizard's
/// values changed at sign-up).
fn compare(t: &Target, baseline: &str, runs: usize, title: &str) {
    let id = &t.run_id;
    let other = [
        "--country",
        "Germany",
        "--timezone",
        "Europe/Berlin",
        "--currency",
        "EUR",
    ];
    t.run(&["template", "build"]);
    // (path, baseline's times, this one's, this one's with another country)
    type Row<'a> = (&'a str, Vec<f64>, Vec<f64>, Vec<f64>);
    let mut rows: Vec<Row> = vec![];
    for (path, extra) in [("template", &["--no-pool"][..]), ("pool", &[][..])] {
        if path == "pool" {
            t.run(&["pool", "fill", "--size", &(3 * runs).to_string()]);
        }
        let (mut old, mut new, mut differ) = (vec![], vec![], vec![]);
        for i in 0..runs {
            let sub = |who: &str| format!("{id}-cmp{}-{who}{i}", &path[..1]);
            old.push(t.provision_with(Some(baseline), &sub("o"), extra));
            new.push(t.provision_with(None, &sub("n"), extra));
            let mut args = extra.to_vec();
            args.extend(other);
            differ.push(t.provision_with(None, &sub("d"), &args));
        }
        rows.push((path, old, new, differ));
    }
    t.clean();
    println!("{title}: this binary against BASELINE_BIN, alternating, median wall time of {runs}");
    for (path, old, new, differ) in rows {
        let (o, n, d) = (median(old), median(new), median(differ));
        println!(
            "  {path:<9} baseline {o:>7.3} s   this {n:>7.3} s ({:.2}x)   this, another country {d:>7.3} s ({:.2}x)",
            n / o,
            d / o
        );
    }
    println!();
}

/// `cleanup --orphans --dry-run` over 1,000 planted databases (50 of them Frappe-shaped
/// orphans), against an unplanted baseline: time and catalog queries.
fn orphan_scan(t: &Target) {
    let prefix = format!("_{:06x}", rand::random::<u32>() & 0xff_ffff);
    let pattern = format!("{prefix}*");
    let scan = |t: &Target| {
        let (json, wall) = t.run(&[
            "cleanup",
            "--orphans",
            "--dry-run",
            "--db-pattern",
            &pattern,
        ]);
        (json, wall)
    };
    let (base, base_wall) = scan(t);
    let names: Vec<String> = (0..1000).map(|i| format!("{prefix}{i:010x}")).collect();
    let mut ddl = String::new();
    for (i, n) in names.iter().enumerate() {
        ddl.push_str(&format!("CREATE DATABASE `{n}`;"));
        if i % 20 == 0 {
            for table in ["tabDocType", "tabSingles", "tabDefaultValue", "__Auth"] {
                ddl.push_str(&format!(
                    "CREATE TABLE `{n}`.`{table}` (name varchar(140));"
                ));
            }
        }
    }
    sql(&ddl);
    let runs: Vec<(Value, f64)> = (0..3).map(|_| scan(t)).collect();
    let drop: String = names
        .iter()
        .map(|n| format!("DROP DATABASE `{n}`;"))
        .collect();
    sql(&drop);
    let (json, _) = &runs[runs.len() / 2];
    let walls = median(runs.iter().map(|(_, w)| *w).collect());
    let scan_secs = median(
        runs.iter()
            .map(|(j, _)| j["scan"]["seconds"].as_f64().unwrap_or(0.0))
            .collect(),
    );
    println!("orphan scan (cleanup --orphans --dry-run), median of 3:");
    println!(
        "  baseline  {:>5} databases: {} catalog queries, whole run {base_wall:.3} s",
        base["scan"]["databases"], base["scan"]["catalogQueries"]
    );
    println!(
        "  +1,000    {:>5} databases: {} catalog queries, scan {scan_secs:.3} s, whole run {walls:.3} s; {} Frappe-shaped orphans found",
        json["scan"]["databases"],
        json["scan"]["catalogQueries"],
        json["planned"].as_array().map(Vec::len).unwrap_or(0)
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
