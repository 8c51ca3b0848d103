//! One module per command family, the only code that orchestrates a whole run and prints
//! its report: `provision`, `verify`, `list`, `cleanup`, `template`, `pool`, `bench`,
//! `login-link`, `suspend`/`resume`, `plan`, `usage`, `backup`, `schema`. Each returns its output or the one error type; none imports
//! another.

pub mod backup;
pub mod bench;
pub mod cleanup;
pub mod db_server;
pub mod list;
pub mod login_link;
pub mod plan;
pub mod pool;
pub mod provision;
pub mod schema;
pub mod suspension;
pub mod template;
pub mod usage;
pub mod verify;
