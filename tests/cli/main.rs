//! Every integration test of the tool, in one binary: one link of the crate instead of
//! one per file. Run one file's tests with `cargo test --test cli <module>::`, e.g.
//! `cargo test --test cli provision::`.
//!
//! `common` holds the test doubles (a temporary bench driven by tests/bench-double, the
//! strict fake Frappe, MariaDB servers of their own); the other modules are black-box
//! tests of the built binary, plus `layers` and `docs`, which read the sources.

mod admission;
mod common;

mod db_servers;
mod docs;
mod doubles;
mod e2e;
mod executors;
mod fast_signup;
mod first_login;
mod frappe_rules_differential;
mod identity;
mod layers;
mod lifecycle;
mod multi_bench;
mod ops;
mod provision;
mod schema;
mod soak;
mod typescript_client;
