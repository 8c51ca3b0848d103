//! Black-box tests of admission (`WEB_WORKERS`): sign-ups of one bench beyond its web
//! workers wait their turn before their REST steps, a killed run's turn passes on, and a
//! wait that reaches the deadline ends the run with what it made rolled back.

use std::process::Child;

use crate::common::*;

struct Queue {
    bench: TestBench,
    frappe: FakeFrappe,
}

impl Queue {
    /// One bench with one web worker, its fake Frappe holding every create-user open.
    fn new() -> Self {
        let bench = TestBench::new(&[]);
        let frappe = FakeFrappe::start(&bench).inject("create-user", Inject::Hang);
        Queue { bench, frappe }
    }

    fn sign_up(&self, sub: &str, timeout: &str) -> Child {
        let mut cmd = tool(&self.bench, &self.frappe);
        cmd.env("WEB_WORKERS", "1")
            .env("PROVISION_TIMEOUT", timeout);
        provision_args(&mut cmd, sub);
        spawn(cmd)
    }

    fn tickets(&self) -> usize {
        let q = format!("SELECT COUNT(*) FROM `{}`.admissions", self.bench.registry);
        sql_value(&q, vec![])
            .unwrap_or_default()
            .parse()
            .unwrap_or(0)
    }

    /// `a` holds the one worker (its create-user hangs); returns its process.
    fn first_holds_the_worker(&self, a: &str) -> Child {
        let first = self.sign_up(a, "120");
        let site = format!("{a}.localhost");
        wait_for("the first sign-up's create-user", 60, || {
            self.frappe.calls_on("create-user", Some(&site)) == 1
        });
        assert_eq!(self.tickets(), 1);
        first
    }
}

#[test]
fn a_sign_up_beyond_the_web_workers_waits_and_a_killed_runs_turn_passes_on() {
    let q = Queue::new();
    let (a, b) = (unique("qa"), unique("qb"));
    let first = q.first_holds_the_worker(&a);
    let second = q.sign_up(&b, "120");
    wait_for("the second sign-up's ticket", 60, || q.tickets() == 2);
    // While the first holds the only worker, the second sends Frappe nothing: a window
    // long enough for a sign-up that did not wait to have logged in and sent its user.
    let site_b = format!("{b}.localhost");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(q.frappe.calls_on("login", Some(&site_b)), 0);
    assert_eq!(q.frappe.calls_on("create-user", Some(&site_b)), 0);
    // The first is killed holding its turn: its ticket goes with its connection.
    q.frappe.stop_injecting("create-user");
    signal(first.id(), libc::SIGKILL);
    let r = finish(second);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let queued = r.json["queued"].as_f64().unwrap();
    assert!(queued >= 1.5, "queued {queued}: {}", r.json);
    assert!(r.json["elapsed"].as_f64().unwrap() >= queued);
    assert!(
        r.stderr.contains("Queued: 1 sign-up(s) ahead"),
        "{}",
        r.stderr
    );
    assert_eq!(q.tickets(), 0, "a ticket outlived its run");
    let mut first = first;
    let _ = first.wait();
}

#[test]
fn a_wait_that_reaches_the_deadline_fails_with_what_it_made_rolled_back() {
    let q = Queue::new();
    let (a, b) = (unique("qa"), unique("qb"));
    let first = q.first_holds_the_worker(&a);
    let r = finish(q.sign_up(&b, "6"));
    assert_eq!(r.json["code"], "TIMEOUT", "{}\n{}", r.json, r.stderr);
    assert_ne!(r.code, 0);
    let site_b = format!("{b}.localhost");
    assert_eq!(q.frappe.calls_on("create-user", Some(&site_b)), 0);
    assert_site_gone(&q.bench, &site_b);
    assert_eq!(q.tickets(), 1, "only the first's ticket is left");
    let mut first = first;
    signal(first.id(), libc::SIGKILL);
    let _ = first.wait();
}
