//! The cost of the password verdict (`PasswordPolicy::check`, the port of Python zxcvbn
//! 4.4.28), in the optimised build provision ships in:
//!
//!   cargo bench -p frappe-password --bench password
//!   CORPUS=target/differential/passwords-9-12000-….jsonl cargo bench --bench password
//!
//! Cold: the first call in a fresh process, word lists and keyboard graphs built
//! included (COLD_RUNS processes, default 15). Warm: every password of the corpus the
//! differential test made (newest target/differential/passwords-*.jsonl, or CORPUS),
//! timed one by one: median, 99th percentile and the slowest.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use frappe_password::PasswordPolicy;

fn check(p: &str, first: &str, last: &str, email: &str) -> bool {
    PasswordPolicy::default()
        .check(p, first, last, email)
        .is_ok()
}

fn corpus() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CORPUS") {
        return Some(p.into());
    }
    // The workspace's target/, where the differential test caches its corpus.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/differential");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

fn ms(ns: u128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn main() {
    if std::env::var_os("PASSWORD_BENCH_COLD").is_some() {
        let t = Instant::now();
        check("Tr1cky-Lantern-42", "John", "Doe", "john@acme.com");
        println!("{}", t.elapsed().as_nanos());
        return;
    }
    let runs: usize = std::env::var("COLD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let me = std::env::current_exe().unwrap();
    let mut cold: Vec<u128> = (0..runs)
        .map(|_| {
            let out = Command::new(&me)
                .env("PASSWORD_BENCH_COLD", "1")
                .output()
                .unwrap();
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    cold.sort();
    println!(
        "cold (first call in a process, dictionaries built): median {}, max {} over {runs} processes",
        ms(cold[runs / 2]),
        ms(cold[runs - 1])
    );

    let entries: Vec<(String, String, String, String)> = match corpus() {
        Some(path) => {
            println!("corpus: {}", path.display());
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    let s = |k: &str| v[k].as_str().unwrap().to_owned();
                    (s("password"), s("first"), s("last"), s("email"))
                })
                .collect()
        }
        None => {
            println!("no corpus (run the password differential test first); a built-in sample");
            [
                "Tr1cky-Lantern-42",
                "Password123",
                "Tributary2021",
                "qwertyuiop[]",
                "aaaaaaaaaaaa",
            ]
            .iter()
            .map(|p| {
                (
                    p.to_string(),
                    "John".into(),
                    "Doe".into(),
                    "john@acme.com".into(),
                )
            })
            .collect()
        }
    };
    check("warm-up", "", "", "");
    let mut warm: Vec<(u128, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, (p, f, l, e))| {
            let t = Instant::now();
            std::hint::black_box(check(p, f, l, e));
            (t.elapsed().as_nanos(), i)
        })
        .collect();
    warm.sort();
    let n = warm.len();
    let (slowest, at) = warm[n - 1];
    println!(
        "warm, {n} passwords: median {}, p99 {}, max {} ({} characters: {:?}…)",
        ms(warm[n / 2].0),
        ms(warm[n * 99 / 100].0),
        ms(slowest),
        entries[at].0.chars().count(),
        entries[at].0.chars().take(40).collect::<String>()
    );
}
