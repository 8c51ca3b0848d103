//! frappe-tenant: turns one sign-up into a working, isolated Frappe tenant, and keeps the
//! bench's tenants, standby pool and template in order.
//!
//! Layers, lowest first; a module imports only from its own layer or those below it
//! (`tests/layers.rs` holds this):
//!
//! - `basics`    — `Secret` (redacted Debug/Display) and the waiting clock
//! - `outside`   — one module per outside system: `bench` (child processes), `frappe`
//!   (REST), `mariadb` (and the registry); none imports another
//! - `progress`  — progress on stderr, for people or as JSON lines
//! - `error`     — the one error type, its codes and the exit codes
//! - `output`    — every stdout type, and its schema name in one table
//! - `signup`    — the sign-up request and its validation
//! - `cli`       — the command line (clap only)
//! - `context`   — the flags (or an inventory bench) made into what reaches the outside
//! - `lifecycle` — what several commands do to one site: removal and its guard, standby
//!   claims, apps, the template's checks
//! - `commands`  — one module per command family; each returns its output or an error
//!
//! `run` prints what a command returns, exactly once, and maps it to the exit code.

pub mod basics;
pub mod cli;
pub mod commands;
pub mod context;
pub mod error;
pub mod lifecycle;
pub mod output;
pub mod outside;
pub mod progress;
pub mod signup;

use clap::CommandFactory;

use crate::cli::{Cli, Command, PlanCommand, PoolCommand, TemplateCommand};
use crate::commands::{
    backup, bench, cleanup, db_server, list, login_link, plan, pool, provision, schema, suspension,
    template, usage, verify,
};
use crate::error::{Code, Error};
use crate::output::{print_json, Failure, Output};
use crate::progress::progress;

/// Runs one command, prints what it returns (its report, or the failure object) exactly
/// once on stdout, and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    progress::set_progress_style(cli.progress);
    let outcome = dispatch(cli.command).await;
    match &outcome {
        Ok(output) => output.print(),
        Err(e) => {
            progress(&format!("✗ {e}"));
            print_json(&Failure::from(e));
        }
    }
    exit_code(&outcome)
}

/// The one map from what a command ended with to the exit code (see `--help`).
fn exit_code(outcome: &Result<Output, Error>) -> u8 {
    match outcome {
        Ok(output) => output.exit_code(),
        Err(e) => e.exit_code(),
    }
}

async fn dispatch(command: Command) -> Result<Output, Error> {
    match command {
        Command::Provision(args) => provision::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::List(args) => list::run(args).await,
        Command::Cleanup(args) => cleanup::run(args).await,
        Command::Template(TemplateCommand::Build(args)) => template::run_build(args).await,
        Command::Template(TemplateCommand::Status(args)) => template::run_status(args).await,
        Command::Pool(PoolCommand::Fill(args)) => pool::run_fill(args).await,
        Command::Pool(PoolCommand::Status(args)) => pool::run_status(args).await,
        Command::Pool(PoolCommand::Drain(args)) => pool::run_drain(args).await,
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::DbServer(cmd) => db_server::run(cmd).await,
        Command::LoginLink(args) => login_link::run(args).await,
        Command::Suspend(args) => suspension::run_suspend(args).await,
        Command::Resume(args) => suspension::run_resume(args).await,
        Command::Plan(PlanCommand::Set(args)) => plan::run_set(args).await,
        Command::Usage(args) => usage::run(args).await,
        Command::Backup(args) => backup::run(args).await,
        Command::Schema(args) => schema::run(args.name.as_deref(), args.write.as_deref()),
        Command::Completions(args) => {
            let mut text = vec![];
            clap_complete::generate(args.shell, &mut Cli::command(), "frappe-tenant", &mut text);
            Ok(Output::Text(String::from_utf8_lossy(&text).into_owned()))
        }
        Command::Man => {
            let mut text = vec![];
            clap_mangen::Man::new(Cli::command())
                .render(&mut text)
                .map_err(|e| Error::config(format!("writing the man page: {e}")))?;
            Ok(Output::Text(String::from_utf8_lossy(&text).into_owned()))
        }
    }
}

/// A command line clap refused: the failure object every output allows, exit 2. It names
/// the kind of mistake only: clap's full message could echo a misplaced password.
pub fn usage_error(what: &str) -> u8 {
    let e = Error::new(Code::InvalidInput, format!("usage: {what} (see --help)"));
    print_json(&Failure::from(&e));
    e.exit_code()
}
