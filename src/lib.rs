//! frappe-tenant: turns one sign-up into a working, isolated Frappe tenant, and keeps the
//! bench's tenants, standby pool and template in order.
//!
//! Four layers; a module imports only from its own layer or those below it.
//!
//! - `commands`  — one module per command family (provision, verify, list, cleanup,
//!   template, pool, bench): the only code that orchestrates a run and prints its report
//! - `lifecycle` — site pieces several commands share: removal, standby claim, apps,
//!   the template's description
//! - `shared`    — the command line (clap), the connection context, the sign-up request
//!   and its validation, the common report types and exit codes
//! - `outside`   — one module per outside system: `bench` (child processes), `frappe`
//!   (REST), `mariadb`; none imports another
//! - `basics`    — `Secret` (redacted Debug/Display) and the waiting clock; import nothing
//!
//! Beside `run`, at the top: `schema`, the JSON Schemas of every command's stdout.

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

use crate::commands::{bench, cleanup, list, pool, provision, template, verify};
use clap::CommandFactory;

use crate::cli::{Cli, Command, PoolCommand, TemplateCommand};
use crate::error::{exit, Code};
use crate::output::untouched;

/// Runs one command, prints its JSON on stdout and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    progress::set_progress_style(cli.progress);
    match cli.command {
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
        Command::Schema(args) => {
            match commands::schema::run(args.name.as_deref(), args.write.as_deref()) {
                Ok(()) => exit::OK,
                Err(e) => untouched(Code::ConfigError, e, ""),
            }
        }
        Command::Completions(args) => {
            let mut cmd = Cli::command();
            clap_complete::generate(
                args.shell,
                &mut cmd,
                "frappe-tenant",
                &mut std::io::stdout(),
            );
            exit::OK
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => exit::OK,
                Err(e) => untouched(Code::ConfigError, format!("writing the man page: {e}"), ""),
            }
        }
    }
}
