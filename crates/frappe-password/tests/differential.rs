//! The tool's password verdict against Python zxcvbn 4.4.28 called as Frappe v15.14.1
//! calls it, on a seeded corpus of tens of thousands of kinds of password made by
//! tests/gen.py. Every score, every guess count and every accept/refuse
//! verdict at minimum scores 1 to 4 must agree.
//!
//!   FRAPPE_TENANT_DIFFERENTIAL=1 cargo test -p frappe-password --test differential -- --nocapture
//!
//! SEED (default 9) and COUNT (default 12000) pick the corpus; a failure prints the seed
//! and the first disagreements. The corpus is cached under target/differential/, keyed by
//! seed, count and gen.py's contents.

mod python;

use std::process::Command;
use std::time::Instant;

use frappe_password::{frappe_strength, PasswordPolicy};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn verdicts_scores_and_guesses_equal_python_zxcvbn_as_frappe_calls_it() {
    let Some(py) = python::python("password_differential") else {
        return;
    };
    let seed = env_or("SEED", 9);
    let count = env_or("COUNT", 12_000);
    let gen = python::crate_dir().join("tests/gen.py");
    let digest = Sha256::digest(std::fs::read(&gen).unwrap());
    let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let dir = python::repo().join("target/differential");
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join(format!("passwords-{seed}-{count}-{tag}.jsonl"));
    if !corpus.exists() {
        let partial = corpus.with_extension("partial");
        let started = Instant::now();
        let st = Command::new(&py)
            .arg(&gen)
            .arg(seed.to_string())
            .arg(&partial)
            .arg(count.to_string())
            .status()
            .unwrap();
        assert!(st.success(), "gen.py failed (seed {seed})");
        std::fs::rename(&partial, &corpus).unwrap();
        eprintln!("corpus made by Python in {:?}", started.elapsed());
    }
    let entries: Vec<Value> = std::fs::read_to_string(&corpus)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        entries.len() as u64 >= count.min(10_000),
        "corpus too small"
    );

    // Spread over the cores: a debug build scores a long password in milliseconds.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = entries.len().div_ceil(threads);
    let results: Vec<(usize, u8, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, e)| {
                            let str_of = |k: &str| e[k].as_str().unwrap();
                            let s = frappe_strength(
                                str_of("password"),
                                str_of("first"),
                                str_of("last"),
                                str_of("email"),
                            );
                            (c * chunk + i, s.score, s.guesses())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let mut score_diff = Vec::new();
    let mut guesses_diff = 0;
    let mut verdict_diff = [0usize; 5];
    let mut per_score = [0usize; 5];
    for (idx, score, guesses) in &results {
        let e = &entries[*idx];
        let py_score = e["score"].as_u64().unwrap() as u8;
        per_score[py_score as usize] += 1;
        if *score != py_score {
            score_diff.push(*idx);
        }
        if *guesses != e["guesses"].as_str().unwrap() {
            guesses_diff += 1;
            if *score == py_score && guesses_diff <= 5 {
                eprintln!(
                    "guesses differ (same score): {} python {} rust {guesses}",
                    e["password"], e["guesses"]
                );
            }
        }
        for m in 1..=4u8 {
            let policy = PasswordPolicy {
                enabled: true,
                minimum_score: m,
            };
            if policy.verdict(*score) != e["accepted"][m.to_string()].as_bool().unwrap() {
                verdict_diff[m as usize] += 1;
            }
        }
    }
    // A corpus that scores all alike would agree trivially: every score must be there.
    assert!(
        per_score.iter().all(|n| *n > 0),
        "the corpus misses a score level: {per_score:?}"
    );
    println!(
        "password differential, seed {seed}: {} passwords (Python scores 0..4: {per_score:?}); \
         score disagreements {}, guess-count disagreements {guesses_diff}, verdict \
         disagreements at minimum 1/2/3/4: {}/{}/{}/{}",
        entries.len(),
        score_diff.len(),
        verdict_diff[1],
        verdict_diff[2],
        verdict_diff[3],
        verdict_diff[4]
    );
    let first: Vec<String> = score_diff
        .iter()
        .take(10)
        .map(|&i| {
            let e = &entries[i];
            let r = results.iter().find(|r| r.0 == i).unwrap();
            format!(
                "  {} (first {}, last {}, email {}): python {} ({}), rust {} ({})",
                e["password"],
                e["first"],
                e["last"],
                e["email"],
                e["score"],
                e["guesses"],
                r.1,
                r.2
            )
        })
        .collect();
    assert!(
        verdict_diff.iter().all(|&n| n == 0) && score_diff.is_empty() && guesses_diff == 0,
        "seed {seed}: the tool disagrees with Python zxcvbn 4.4.28; first score disagreements:\n{}",
        first.join("\n")
    );
}
