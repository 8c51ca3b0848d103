//! `usage --all` over many tenants, measured as ratios: SITES (default 1,000) tenants
//! against SMALL (default 10) on the same bench double and MariaDB, and against asking
//! `usage <site>` once per tenant. For each: the MariaDB statements the usage took (its
//! JSON's `queries`) and the wall time of the whole process (median of RUNS, default 3).
//!
//!   cargo bench --bench usage        # against the test doubles; needs MariaDB like the tests
//!
//! One tenant is signed up by the tool (it makes the registry and the bench's id); the
//! others are planted straight into MariaDB, the bench's `sites/` and the registry, shaped
//! like it (their own database with `tabUser` and `tabSingles`, a user, a plan, files).
//! Everything it plants it removes again.

#[path = "../tests/cli/common/mod.rs"]
mod common;
#[path = "support/numbers.rs"]
mod numbers;

use std::time::Instant;

use common::*;
use mysql_async::prelude::*;
use numbers::env_number;

fn main() {
    let big = env_number("SITES", 1000);
    let small = env_number("SMALL", 10);
    let runs = env_number("RUNS", 3);
    println!("frappe-tenant usage benchmark: usage --all over {small} and {big} tenants, median of {runs}\n");
    let w = World::new(&[]);
    let first = unique("ub");
    let r = w.provision(&first, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    // Dropped before `w`: the planted databases go first.
    let mut planted = Planted::default();
    planted.plant(&w, small - 1);
    let (q_small, t_small) = measure(&w, &["usage", "--all", "--json"], small, runs);
    planted.plant(&w, big - small);
    let (q_big, t_big) = measure(&w, &["usage", "--all", "--json"], big, runs);
    let one = format!("{first}.localhost");
    let (q_one, t_one) = measure(&w, &["usage", &one, "--json"], 1, runs);
    println!("  usage --all, {small:>5} tenants: {q_small} statements, {t_small:.3} s");
    println!("  usage --all, {big:>5} tenants: {q_big} statements, {t_big:.3} s");
    println!("  usage <site>, 1 tenant:    {q_one} statements, {t_one:.3} s");
    println!(
        "  {big} / {small} tenants: statements {:.2}x, time {:.2}x (tenants {}x)",
        q_big as f64 / q_small as f64,
        t_big / t_small,
        big / small
    );
    println!(
        "  {big} × usage <site> / usage --all over {big}: statements {:.0}x, time {:.1}x",
        (q_one * big as u64) as f64 / q_big as f64,
        t_one * big as f64 / t_big
    );
}

/// The median wall time of `runs` runs, and the statements the last one reported.
fn measure(w: &World, args: &[&str], tenants: usize, runs: usize) -> (u64, f64) {
    let mut times = vec![];
    let mut queries = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let r = w.run(args);
        times.push(t0.elapsed().as_secs_f64());
        assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
        assert_eq!(
            r.json["tenants"].as_array().unwrap().len(),
            tenants,
            "{}",
            r.json["warnings"]
        );
        queries = r.json["queries"].as_u64().unwrap();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (queries, times[times.len() / 2])
}

/// Tenants planted beside the one the tool made.
#[derive(Default)]
struct Planted {
    dbs: Vec<String>,
    url: String,
}

impl Drop for Planted {
    fn drop(&mut self) {
        for db in &self.dbs {
            sql_at(
                &self.url,
                &format!("DROP DATABASE IF EXISTS `{db}`"),
                vec![],
            );
        }
    }
}

impl Planted {
    fn plant(&mut self, w: &World, n: usize) {
        self.url = w.url().to_string();
        let bench_id = w.bench_id();
        let registry = w.registry.clone();
        let template = w.rows()[0]["db_name"].as_str().unwrap().to_string();
        let names: Vec<(String, String)> = (0..n)
            .map(|_| (unique("ub"), frappe_tenant::outside::mariadb::new_db_name()))
            .collect();
        for (sub, db) in &names {
            let dir = w.bench.site_dir(&format!("{sub}.localhost"));
            std::fs::create_dir_all(dir.join("public/files")).unwrap();
            std::fs::write(
                dir.join("site_config.json"),
                format!("{{\"db_name\":\"{db}\"}}"),
            )
            .unwrap();
            std::fs::write(dir.join("public/files/logo.png"), vec![0u8; 4096]).unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = mysql_async::Conn::from_url(w.url()).await.unwrap();
            for (sub, db) in &names {
                c.query_drop(format!(
                    "CREATE DATABASE `{db}`; \
                     CREATE TABLE `{db}`.tabUser LIKE `{template}`.tabUser; \
                     CREATE TABLE `{db}`.tabSingles LIKE `{template}`.tabSingles; \
                     INSERT INTO `{db}`.tabUser (name, email, enabled, user_type) VALUES \
                       ('Administrator', 'admin@example.com', 1, 'System User'), \
                       ('jane@acme.com', 'jane@acme.com', 1, 'System User'); \
                     INSERT INTO `{db}`.tabSingles (doctype, field, value) VALUES \
                       ('SaaS Settings', 'plan_name', 'Free'), ('SaaS Settings', 'max_users', '5'), \
                       ('SaaS Settings', 'max_storage', '1'); \
                     INSERT INTO `{registry}`.tenants (bench_id, site, subdomain, db_name, status, path, step, \
                       db_unique, created_at, updated_at) VALUES ('{bench_id}', '{sub}.localhost', '{sub}', '{db}', \
                       'active', 'fresh', 'done', 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
                ))
                .await
                .unwrap();
            }
            c.disconnect().await.unwrap();
        });
        self.dbs.extend(names.into_iter().map(|(_, db)| db));
    }
}
