//! How much of a provision is the tool's own work, against the test doubles:
//! `cargo bench --bench provision_overhead` (needs MariaDB like the tests; `RUNS=N`).
//! Prints medians and the tool's share; everything outside the bench child (`create-site`)
//! is counted as the tool's own work, including the fake Frappe's loopback answers.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let bench = TestBench::new(&[]);
    let frappe = FakeFrappe::start(&bench);
    let (mut totals, mut bench_child, mut own) = (vec![], vec![], vec![]);
    for i in 0..runs {
        let sub = unique("bench");
        let mut cmd = tool(&bench, &frappe);
        cmd.args([
            "provision",
            &sub,
            &format!("u{i}@acme.com"),
            "Jane Roe",
            PASSWORD,
            "Bench",
        ]);
        let started = std::time::Instant::now();
        let r = run(cmd);
        let wall = started.elapsed().as_secs_f64();
        forget_site(&format!("{sub}.localhost"));
        assert_eq!(r.code, 0, "{}", r.json);
        let create = r.json["steps"][0]["seconds"].as_f64().unwrap();
        totals.push(wall);
        bench_child.push(create);
        own.push(wall - create);
    }
    let (t, b, o) = (median(totals), median(bench_child), median(own));
    println!("provision against the doubles, {runs} runs (medians):");
    println!("  whole process wall   {t:.3} s");
    println!("  bench new-site child {b:.3} s");
    println!(
        "  the tool's own work  {o:.3} s  ({:.1}% of this run)",
        100.0 * o / t
    );
    println!(
        "  against a real new-site of 30.54 s, the tool's own work is {:.2}%",
        100.0 * o / (30.54 + o)
    );
}
