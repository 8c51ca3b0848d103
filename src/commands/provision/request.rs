//! How `provision` reads its command line: the sign-up request (positional arguments or
//! JSON on stdin / in a file) and the run's configuration, both checked before anything
//! else happens.

use std::io::Read;
use std::time::Duration;

use anyhow::Context as _;

use super::dry_run::dry_run;
use super::{provision, Candidate, Config};
use crate::cli::{ConnectOpts, ProvisionArgs};
use crate::context::{install_apps, Context, Plan, Prep};
use crate::error::{exit, Code};
use crate::output::{print_json, untouched};
use crate::progress::progress;
use crate::signup::SignupRequest;

/// `provision`: one sign-up.
pub async fn run(args: ProvisionArgs) -> u8 {
    let site_hint = args.subdomain.clone().unwrap_or_default();
    let prepared = match read_request(&args) {
        Ok(req) => provision_config(&args).await.map(|cfg| (req, cfg)),
        Err(e) => Err(e),
    };
    let (request, config) = match prepared {
        Ok(p) => p,
        Err((code, e)) => return untouched(code, format!("{e:#}"), &site_hint),
    };
    if args.dry_run && args.conn.bench.as_deref() == Some("auto") {
        return untouched(
            Code::ConfigError,
            "--dry-run cannot place a sign-up (--bench auto would claim a standby); name a bench with --bench NAME".into(),
            &site_hint,
        );
    }
    if args.dry_run {
        return match dry_run(&config, request).await {
            Ok(plan) => {
                print_json(&plan);
                exit::OK
            }
            Err(failure) => {
                print_json(&failure);
                failure.exit_code()
            }
        };
    }
    // provision writes its one JSON line itself: a success counts only once written.
    match provision(&config, request, &mut std::io::stdout()).await {
        Ok(_) => exit::OK,
        Err(failure) => failure.exit_code(),
    }
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

/// The benches a sign-up may go to: today's flags, one inventory bench (`--bench NAME`,
/// refused when cordoned, placed like `auto` among itself so its capacity holds) or every
/// uncordoned one (`--bench auto`).
/// The third part: benches of the inventory skipped (settings it cannot use), as warnings.
async fn benches(conn: &ConnectOpts) -> Prep<(Context, Option<Vec<Candidate>>, Vec<String>)> {
    let cfg_err = |e: anyhow::Error| (Code::ConfigError, e);
    match conn.bench.as_deref() {
        None => Ok((Context::from_opts(conn)?, None, vec![])),
        Some("auto") => {
            let base = Context::from_opts(conn)?;
            let unavailable = |e: crate::outside::mariadb::DbError| (Code::DbUnavailable, e.into());
            let mut db = base.db.connect().await.map_err(unavailable)?;
            base.registry.ensure(&mut db).await.map_err(unavailable)?;
            let inventory = base.registry.benches(&mut db).await.map_err(unavailable)?;
            let (mut candidates, mut skipped) = (vec![], vec![]);
            for b in inventory.iter().filter(|b| !b.cordoned) {
                match Context::for_bench(conn, b) {
                    Ok(ctx) => candidates.push(Candidate {
                        name: b.name.clone(),
                        bench_id: b.bench_id.clone(),
                        capacity: b.capacity,
                        ctx,
                    }),
                    Err((_, e)) => {
                        let w = format!("bench {} skipped: {e:#}", b.name);
                        progress(&format!("⚠ {w}"));
                        skipped.push(w);
                    }
                }
            }
            let first = candidates.first().map(|c| c.ctx.clone()).ok_or_else(|| {
                cfg_err(anyhow::anyhow!(
                    "--bench auto: the inventory of {} has no uncordoned bench ({} in all; see `bench list`)",
                    conn.registry_db,
                    inventory.len()
                ))
            })?;
            // The tenant's site name (and so its database name) is fixed before placement:
            // every bench it may land on must serve the same domain.
            if let Some(other) = candidates
                .iter()
                .find(|c| c.ctx.site_domain != first.site_domain)
            {
                return Err(cfg_err(anyhow::anyhow!(
                    "--bench auto needs every uncordoned bench on one site domain: {} has {}, {} has {} \
                     (cordon one, or name a bench with --bench NAME)",
                    candidates[0].name,
                    first.site_domain,
                    other.name,
                    other.ctx.site_domain
                )));
            }
            Ok((first, Some(candidates), skipped))
        }
        Some(name) => {
            let (ctx, b) = Context::from_inventory(conn, name).await?;
            if b.cordoned {
                return Err(cfg_err(anyhow::anyhow!(
                    "bench {name} is cordoned: it takes no new sign-ups (`bench uncordon {name}`)"
                )));
            }
            // Placed among itself, so its capacity and an executor that cannot be reached
            // are handled as for `auto`, by the same code.
            let only = Candidate {
                name: b.name.clone(),
                bench_id: b.bench_id.clone(),
                capacity: b.capacity,
                ctx: ctx.clone(),
            };
            Ok((ctx, Some(vec![only]), vec![]))
        }
    }
}

async fn provision_config(args: &ProvisionArgs) -> Prep<Config> {
    let (ctx, auto, warnings) = benches(&args.conn).await?;
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
    Ok(Config {
        ctx,
        admin_password,
        install_apps: install_apps(&args.apps.install_apps),
        timeout: Duration::from_secs(args.timeout),
        plan: Plan::from_opts(&args.plan),
        use_pool: !args.no_pool,
        use_template: !args.no_template,
        auto,
        warnings,
    })
}
