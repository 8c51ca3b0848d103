//! One module per command family, the only code that orchestrates a whole run and prints
//! its report: `provision`, `verify`, `list`, `cleanup`, `template`, `pool`, `bench`. Each exposes
//! `run(args) -> exit code`; none imports another.

pub mod bench;
pub mod cleanup;
pub mod list;
pub mod pool;
pub mod provision;
pub mod schema;
pub mod template;
pub mod verify;
