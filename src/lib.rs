//! frappe-tenant: turns one sign-up into a working, isolated Frappe tenant, and keeps the
//! bench's tenants, standby pool and template in order.
//!
//! - `cli`       — command-line flags and their environment fallbacks (clap only)
//! - `context`   — the validated connection settings every command shares
//! - `input`     — the sign-up request and its validation, before any side effect
//! - `secret`    — `Secret`, a string whose Debug/Display is `(redacted)`
//! - `bench`     — runs bench and reads the bench's files (docker compose exec or local)
//! - `frappe`    — a site's REST API (reqwest)
//! - `mariadb`   — MariaDB (mysql_async): locks, catalog scan, registry, tenant state
//! - `provision` — the five steps (pool, template or fresh) and their rollback
//! - `undo`      — removing one site completely; rollback and every cleanup use it
//! - `verify`, `list`, `cleanup` — the ops commands
//! - `template`, `pool` — fast sign-up: the restorable dump and the standby sites
//! - `report`    — the JSON on stdout, tables for terminals, and the exit codes
//! - `waits`     — time spent waiting on outside systems, to tell the tool's own work apart

pub mod bench;
pub mod cleanup;
pub mod cli;
pub mod context;
pub mod frappe;
pub mod input;
pub mod list;
pub mod mariadb;
pub mod password;
pub mod pool;
pub mod provision;
pub mod report;
pub mod secret;
pub mod template;
pub mod undo;
pub mod verify;
pub mod waits;

use std::io::{IsTerminal, Read};
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{
    CleanupArgs, Cli, Command, PlanOpts, PoolCommand, ProvisionArgs, TemplateCommand, VerifyArgs,
};
use crate::context::{Context, Prep};
use crate::input::SignupRequest;
use crate::report::{exit, print_json, Code, Failure, Tabular};

/// Runs one command, prints its JSON on stdout and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Provision(args) => run_provision(args).await,
        Command::Verify(args) => run_verify(args).await,
        Command::List(args) => {
            let ctx = match context(&args.conn, "") {
                Ok(c) => c,
                Err(code) => return code,
            };
            match list::list(&ctx).await {
                Ok(report) => show(&report, args.json),
                Err(e) => untouched(Code::DbUnavailable, e, ""),
            }
        }
        Command::Cleanup(args) => run_cleanup(args).await,
        Command::Template(TemplateCommand::Build(args)) => {
            let ctx = match context(&args.conn, "") {
                Ok(c) => c,
                Err(code) => return code,
            };
            let apps = apps(&args.apps.install_apps);
            let report = template::build(&ctx, &apps, Duration::from_secs(args.timeout)).await;
            print_json(&report);
            report.exit_code()
        }
        Command::Template(TemplateCommand::Status(args)) => {
            let ctx = match context(&args.conn, "") {
                Ok(c) => c,
                Err(code) => return code,
            };
            let report = template::status(
                &ctx,
                &apps(&args.apps.install_apps),
                Duration::from_secs(args.timeout),
            )
            .await;
            print_json(&report);
            report.exit_code()
        }
        Command::Pool(PoolCommand::Fill(args)) => {
            let ctx = match context(&args.conn, "") {
                Ok(c) => c,
                Err(code) => return code,
            };
            let report = pool::fill(
                &ctx,
                args.size,
                &apps(&args.apps.install_apps),
                Duration::from_secs(args.timeout),
                !args.no_template,
            )
            .await;
            print_json(&report);
            report.exit_code()
        }
        Command::Pool(PoolCommand::Status(args)) => {
            let ctx = match context(&args.conn, "") {
                Ok(c) => c,
                Err(code) => return code,
            };
            match pool::status(&ctx).await {
                Ok(report) => show(&report, args.json),
                Err(e) => untouched(Code::DbUnavailable, e, ""),
            }
        }
        Command::Pool(PoolCommand::Drain(args)) => {
            let ctx = match context(&args.conn, "") {
                Ok(c) => c,
                Err(code) => return code,
            };
            let report = pool::drain(&ctx, Duration::from_secs(args.timeout)).await;
            print_json(&report);
            report.exit_code()
        }
    }
}

async fn run_provision(args: ProvisionArgs) -> u8 {
    let site_hint = args.subdomain.clone().unwrap_or_default();
    let prepared = read_request(&args).and_then(|req| Ok((req, provision_config(&args)?)));
    let (request, config) = match prepared {
        Ok(p) => p,
        Err((code, e)) => return untouched(code, format!("{e:#}"), &site_hint),
    };
    match provision::provision(&config, request).await {
        Ok(success) => {
            print_json(&success);
            exit::OK
        }
        Err(failure) => {
            print_json(&failure);
            failure.exit_code()
        }
    }
}

async fn run_verify(args: VerifyArgs) -> u8 {
    let ctx = match context(&args.conn, &args.site) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let site = match ctx.site_name(&args.site) {
        Ok(s) => s,
        Err(e) => {
            return untouched(
                Code::InvalidInput,
                format!("invalid input: {e}"),
                &args.site,
            )
        }
    };
    let opts = verify::Options {
        site: site.clone(),
        email: args.email,
        api_key: args.api_key.zip(args.api_secret),
        plan: plan(&args.plan),
        install_apps: apps(&args.apps.install_apps),
        timeout: Duration::from_secs(args.timeout),
    };
    match verify::verify(&ctx, &opts).await {
        Ok(report) => {
            for c in &report.checks {
                eprintln!(
                    "{} {:<20} {}",
                    if c.ok { "✓" } else { "✗" },
                    c.name,
                    c.detail
                );
            }
            print_json(&report);
            report.exit_code()
        }
        Err((code, e)) => untouched(code, e, &site),
    }
}

async fn run_cleanup(args: CleanupArgs) -> u8 {
    let ctx = match context(&args.conn, "") {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(p) = &args.pattern {
        if let Err(e) = cleanup::validate_site_pattern(p) {
            return untouched(Code::InvalidInput, e, "");
        }
    }
    if args.db_pattern.is_empty() {
        return untouched(
            Code::InvalidInput,
            "--db-pattern must not be empty".into(),
            "",
        );
    }
    let opts = cleanup::Options {
        pattern: args.pattern,
        orphans: args.orphans,
        db_pattern: args.db_pattern,
        dry_run: args.dry_run,
        yes: args.yes,
        timeout: Duration::from_secs(args.timeout),
    };
    let report = cleanup::cleanup(&ctx, &opts).await;
    print_json(&report);
    report.exit_code()
}

/// A report as JSON, or as a table for a person at a terminal (unless `--json`).
fn show<R: serde::Serialize + Tabular>(report: &R, json: bool) -> u8 {
    if json || !std::io::stdout().is_terminal() {
        print_json(report);
    } else {
        println!("{}", report.table());
    }
    exit::OK
}

/// The connection settings, or the failure JSON printed and its exit code.
fn context(conn: &cli::ConnectOpts, site: &str) -> Result<Context, u8> {
    Context::from_opts(conn).map_err(|(code, e)| untouched(code, format!("{e:#}"), site))
}

/// Prints a failure that changed nothing; returns its exit code.
fn untouched(code: Code, error: String, site: &str) -> u8 {
    eprintln!("✗ {error}");
    let failure = Failure::untouched(code, error, site.to_string());
    print_json(&failure);
    failure.exit_code()
}

fn read_request(args: &ProvisionArgs) -> Prep<SignupRequest> {
    let bad = |e: anyhow::Error| (Code::InvalidInput, e);
    if let Some(path) = &args.request {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the request from stdin")
                .map_err(bad)?;
            s
        } else {
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the request from {}", path.display()))
                .map_err(bad)?
        };
        return serde_json::from_str(&text).context("the request is not valid JSON with fields subdomain, email, fullName, password, organizationName").map_err(bad);
    }
    match (&args.subdomain, &args.email, &args.full_name, &args.password, &args.organization_name) {
        (Some(s), Some(e), Some(f), Some(p), Some(o)) => Ok(SignupRequest {
            subdomain: s.clone(),
            email: e.clone(),
            full_name: f.clone(),
            password: p.clone(),
            organization_name: o.clone(),
        }),
        _ => Err(bad(anyhow::anyhow!(
            "expected <subdomain> <email> <full-name> <password> <organization-name>, or --request FILE"
        ))),
    }
}

fn provision_config(args: &ProvisionArgs) -> Prep<provision::Config> {
    let ctx = Context::from_opts(&args.conn)?;
    let cfg_err = |e: anyhow::Error| (Code::ConfigError, e);
    if args.timeout == 0 {
        return Err(cfg_err(anyhow::anyhow!(
            "PROVISION_TIMEOUT must be at least 1 second"
        )));
    }
    let admin_password = args.admin_password.clone();
    if admin_password
        .as_ref()
        .is_some_and(|p| p.expose() == "admin" || p.expose().len() < 8)
    {
        return Err(cfg_err(anyhow::anyhow!("ADMIN_PASSWORD must be at least 8 characters and not 'admin'; leave it unset for a random one per site")));
    }
    Ok(provision::Config {
        ctx,
        admin_password,
        install_apps: apps(&args.apps.install_apps),
        timeout: Duration::from_secs(args.timeout),
        plan: plan(&args.plan),
        use_pool: !args.no_pool,
        use_template: !args.no_template,
    })
}

fn apps(raw: &[String]) -> Vec<String> {
    raw.iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

fn plan(p: &PlanOpts) -> provision::Plan {
    provision::Plan {
        name: p.plan_name.clone(),
        max_users: p.max_users,
        max_storage_gb: p.max_storage,
    }
}
