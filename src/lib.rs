//! frappe-tenant: turns one sign-up into a working, isolated Frappe tenant.
//!
//! - `cli`       — command-line flags and their environment fallbacks (clap only)
//! - `input`     — the sign-up request and its validation, before any side effect
//! - `secret`    — `Secret`, a string whose Debug/Display is `(redacted)`
//! - `bench`     — runs bench (docker compose exec or local), the only child process
//! - `frappe`    — the new site's REST API (reqwest)
//! - `mariadb`   — MariaDB: site lock, existence checks, undo (mysql_async)
//! - `provision` — the five steps and their rollback
//! - `report`    — the JSON on stdout and the exit codes

pub mod bench;
pub mod cli;
pub mod frappe;
pub mod input;
pub mod mariadb;
pub mod provision;
pub mod report;
pub mod secret;

use std::io::Read;

use anyhow::Context;

use crate::bench::{Bench, Executor};
use crate::cli::{Cli, Command, ConnectOpts, ExecutorKind, ProvisionArgs};
use crate::input::SignupRequest;
use crate::report::{exit, print_json, Code, Failure};

/// Runs one command, prints its JSON on stdout and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Provision(args) => run_provision(args).await,
    }
}

async fn run_provision(args: ProvisionArgs) -> u8 {
    let site_hint = args.subdomain.clone().unwrap_or_default();
    let prepared = read_request(&args).and_then(|req| Ok((req, provision_config(&args)?)));
    let (request, config) = match prepared {
        Ok(p) => p,
        Err((code, e)) => {
            eprintln!("✗ {e:#}");
            let failure = Failure::untouched(code, format!("{e:#}"), site_hint);
            print_json(&failure);
            return failure.exit_code();
        }
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

type Prep<T> = Result<T, (Code, anyhow::Error)>;

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
    let c = &args.conn;
    input::validate_site_domain(&c.site_domain).map_err(|e| (Code::InvalidInput, e.into()))?;
    let cfg_err = |e: anyhow::Error| (Code::ConfigError, e);
    url::Url::parse(&c.frappe_url)
        .with_context(|| format!("FRAPPE_URL {:?} is not a URL", c.frappe_url))
        .map_err(cfg_err)?;
    let db = mariadb::DbTarget::parse(&c.mariadb_url).map_err(|e| cfg_err(e.into()))?;
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
        bench: bench_for(c),
        frappe_url: c.frappe_url.clone(),
        site_domain: c.site_domain.clone(),
        db,
        admin_password,
        install_apps: args
            .install_apps
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect(),
        timeout: std::time::Duration::from_secs(args.timeout),
        plan: provision::Plan {
            name: args.plan_name.clone(),
            max_users: args.max_users,
            max_storage_gb: args.max_storage,
        },
    })
}

fn bench_for(c: &ConnectOpts) -> Bench {
    let executor = match c.bench_executor {
        ExecutorKind::Docker => Executor::Docker {
            service: c.docker_service.clone(),
            workdir: c.bench_path.as_ref().map(|p| p.display().to_string()),
        },
        ExecutorKind::Local => Executor::Local {
            bin: c.bench_bin.clone(),
            path: c.bench_path.clone().unwrap_or_else(|| ".".into()),
        },
    };
    Bench {
        executor,
        db_host_flag: c.db_host_flag,
    }
}
