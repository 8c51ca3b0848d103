//! A burst of pool sign-ups on one bench, with and without admission (`WEB_WORKERS`),
//! measured in one run and printed against the ideal: BURST (default 20) sign-ups at once
//! after a pool of as many standbys was filled. For each: p50 and p99 (nearest rank) of the
//! whole sign-up (process wall time), the burst's wall time, and the ideal wall (BURST x one
//! sign-up alone / web workers).
//!
//!   cargo bench --bench burst       # the doubles: a fake Frappe with WORKERS (default 2)
//!                                   # sync workers taking SERVICE_MS (default 40) a request
//!   FRAPPE_E2E=1 WEB_WORKERS_REAL=2 BENCH_EXECUTOR=local BENCH_PATH=… BENCH_BIN=… \
//!     FRAPPE_URL=… MARIADB_URL=… cargo bench --bench burst   # and that real bench
//!
//! Everything it makes it removes again (`cleanup --pattern` of its sign-ups, `pool drain`).

#[path = "../tests/cli/common/mod.rs"]
mod common;
#[path = "support/numbers.rs"]
mod numbers;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use numbers::{env_number, rank};

fn main() {
    let burst = env_number("BURST", 20);
    let workers = env_number("WORKERS", 2);
    let service = Duration::from_millis(env_number("SERVICE_MS", 40) as u64);
    println!(
        "frappe-tenant burst benchmark: {burst} pool sign-ups at once on one bench\n\n\
         test doubles: a fake Frappe with {workers} sync workers, {} ms a request",
        service.as_millis()
    );
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::with_workers(&bench, workers, service);
    let target = Target {
        doubles: Some((bench, frappe)),
    };
    target.compare(burst, workers);

    if std::env::var("FRAPPE_E2E").as_deref() == Ok("1") {
        let workers = env_number("WEB_WORKERS_REAL", 2);
        println!("\nreal bench ({workers} web workers)");
        Target { doubles: None }.compare(burst, workers);
    }
}

struct Target {
    doubles: Option<(TestBench, FakeFrappe)>,
}

struct Outcome {
    p50: f64,
    p99: f64,
    wall: f64,
}

impl Target {
    fn cmd(&self) -> Command {
        let mut c = match &self.doubles {
            Some((bench, frappe)) => tool(bench, frappe),
            None => Command::new(env!("CARGO_BIN_EXE_frappe-tenant")),
        };
        c.env("PROVISION_TIMEOUT", "600").env_remove("WEB_WORKERS");
        c
    }

    fn ok(&self, args: &[&str]) {
        let mut c = self.cmd();
        c.args(args);
        let r = run(c);
        assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.json, r.stderr);
    }

    fn fill(&self, n: usize) {
        self.ok(&[
            "pool",
            "fill",
            "--size",
            &n.to_string(),
            "--timeout",
            "1800",
        ]);
    }

    fn sign_up(&self, sub: &str, workers: Option<usize>) -> std::thread::JoinHandle<f64> {
        let mut c = self.cmd();
        if let Some(w) = workers {
            c.env("WEB_WORKERS", w.to_string());
        }
        provision_args(&mut c, sub);
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let r = run(c);
            assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
            assert_eq!(r.json["path"], "pool", "a fresh fallback: {}", r.json);
            t0.elapsed().as_secs_f64()
        })
    }

    fn burst(&self, prefix: &str, n: usize, workers: Option<usize>) -> Outcome {
        self.fill(n);
        let started = Instant::now();
        let runs: Vec<_> = (0..n)
            .map(|k| self.sign_up(&format!("{prefix}-{k}"), workers))
            .collect();
        let mut walls: Vec<f64> = runs.into_iter().map(|h| h.join().unwrap()).collect();
        let wall = started.elapsed().as_secs_f64();
        walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Outcome {
            p50: rank(&walls, 0.50),
            p99: rank(&walls, 0.99),
            wall,
        }
    }

    fn compare(&self, n: usize, workers: usize) {
        let id = unique("burst");
        // One sign-up alone (median of 3): the ideal's unit.
        self.fill(3);
        let mut alone: Vec<f64> = (0..3)
            .map(|k| {
                self.sign_up(&format!("{id}-alone-{k}"), None)
                    .join()
                    .unwrap()
            })
            .collect();
        alone.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let one = alone[1];
        let ideal = n as f64 * one / workers as f64;
        let without = self.burst(&format!("{id}-free"), n, None);
        let with = self.burst(&format!("{id}-adm"), n, Some(workers));
        println!("  one sign-up alone: {one:.3} s; ideal burst wall ({n} x one / {workers}): {ideal:.3} s");
        for (name, o) in [("without admission", &without), ("with admission", &with)] {
            println!(
                "  {name:<18} p50 {:.3} s   p99 {:.3} s   wall {:.3} s   p50/wall {:.2}   wall/ideal {:.2}",
                o.p50,
                o.p99,
                o.wall,
                o.p50 / o.wall,
                o.wall / ideal
            );
        }
        println!(
            "  with / without: p50 {:.2}x, p99 {:.2}x, wall {:.2}x",
            with.p50 / without.p50,
            with.p99 / without.p99,
            with.wall / without.wall
        );
        let pattern = format!("{id}-*");
        self.ok(&["cleanup", "--pattern", &pattern, "--yes"]);
        self.ok(&["pool", "drain"]);
    }
}
