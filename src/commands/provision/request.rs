//! How `provision` reads its command line: the sign-up request (positional arguments or
//! JSON on stdin / in a file) and the run's configuration, both checked before anything
//! else happens.

use std::io::Read;
use std::time::Duration;

use super::dry_run::dry_run;
use super::{provision, Candidate, Config};
use crate::cli::{ConnectOpts, ProvisionArgs};
use crate::context::{install_apps, setup_defaults, Context, SaasPlan, UrlTemplate};
use crate::error::{exit, Error};
use crate::output::Output;
use crate::progress::progress;
use crate::signup::SignupRequest;

/// `provision`: one sign-up.
pub async fn run(args: ProvisionArgs) -> Result<Output, Error> {
    let site_hint = args.subdomain.clone().unwrap_or_default();
    let for_site = |e: Error| e.for_site(&site_hint);
    let request = read_request(&args).map_err(for_site)?;
    if args.dry_run && args.conn.bench.as_deref() == Some("auto") {
        return Err(for_site(Error::config(
            "--dry-run cannot place a sign-up (--bench auto would claim a standby); name a bench with --bench NAME",
        )));
    }
    let config = provision_config(&args).await.map_err(for_site)?;
    if args.dry_run {
        return Ok(match dry_run(&config, request).await {
            Ok(plan) => Output::Plan(plan),
            Err(failure) => Output::ProvisionFailed(failure),
        });
    }
    // provision writes its one JSON line itself: a success counts only once written.
    let code = match provision(&config, request, &mut std::io::stdout()).await {
        Ok(_) => exit::OK,
        Err(failure) => failure.exit_code(),
    };
    Ok(Output::Written(code))
}

fn read_request(args: &ProvisionArgs) -> Result<SignupRequest, Error> {
    if let Some(path) = &args.request {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::invalid(format!("reading the request from stdin: {e}")))?;
            s
        } else {
            std::fs::read_to_string(path).map_err(|e| {
                Error::invalid(format!("reading the request from {}: {e}", path.display()))
            })?
        };
        return SignupRequest::from_json(&text);
    }
    match (&args.subdomain, &args.email, &args.full_name, &args.password, &args.organization_name) {
        (Some(s), Some(e), Some(f), Some(p), Some(o)) => Ok(SignupRequest {
            subdomain: s.clone(),
            email: e.clone(),
            full_name: f.clone(),
            password: p.clone(),
            organization_name: o.clone(),
            language: None,
            country: None,
            timezone: None,
            currency: None,
        }),
        _ => Err(Error::invalid(
            "expected <subdomain> <email> <full-name> <password> <organization-name>, or --request FILE",
        )),
    }
}

/// The benches a sign-up may go to: today's flags, one inventory bench (`--bench NAME`,
/// refused when cordoned, placed like `auto` among itself so its capacity holds) or every
/// uncordoned one (`--bench auto`).
/// The third part: benches of the inventory skipped (settings it cannot use), as warnings.
async fn benches(
    conn: &ConnectOpts,
) -> Result<(Context, Option<Vec<Candidate>>, Vec<String>), Error> {
    match conn.bench.as_deref() {
        None => Ok((Context::from_opts(conn)?, None, vec![])),
        Some("auto") => {
            let base = Context::from_opts(conn)?;
            let mut db = base.control.connect().await?;
            base.registry.ensure(&mut db).await?;
            let inventory = base.registry.benches(&mut db).await?;
            let (mut candidates, mut skipped) = (vec![], vec![]);
            for b in inventory.iter().filter(|b| !b.cordoned) {
                match Context::for_bench(conn, b) {
                    Ok(ctx) => candidates.push(Candidate {
                        name: b.name.clone(),
                        bench_id: b.bench_id.clone(),
                        capacity: b.capacity,
                        server_capacity: b.db_server.as_ref().and_then(|s| s.capacity),
                        ctx,
                    }),
                    Err(e) => {
                        let w = format!("bench {} skipped: {e}", b.name);
                        progress(&format!("⚠ {w}"));
                        skipped.push(w);
                    }
                }
            }
            let first = candidates.first().map(|c| c.ctx.clone()).ok_or_else(|| {
                Error::config(format!("--bench auto: the inventory of {} has no uncordoned bench ({} in all; see `bench list`)",
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
                return Err(Error::config(format!("--bench auto needs every uncordoned bench on one site domain: {} has {}, {} has {} \
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
                return Err(Error::config(format!(
                    "bench {name} is cordoned: it takes no new sign-ups (`bench uncordon {name}`)"
                )));
            }
            // Placed among itself, so its capacity and an executor that cannot be reached
            // are handled as for `auto`, by the same code.
            let only = Candidate {
                name: b.name.clone(),
                bench_id: b.bench_id.clone(),
                capacity: b.capacity,
                server_capacity: b.db_server.as_ref().and_then(|s| s.capacity),
                ctx: ctx.clone(),
            };
            Ok((ctx, Some(vec![only]), vec![]))
        }
    }
}

async fn provision_config(args: &ProvisionArgs) -> Result<Config, Error> {
    // The flags first: nothing is read before they are known to be usable.
    if args.timeout == 0 {
        return Err(Error::config("PROVISION_TIMEOUT must be at least 1 second"));
    }
    let admin_password = args.admin_password.clone();
    if admin_password
        .as_ref()
        .is_some_and(|p| p.expose() == "admin" || p.expose().len() < 8)
    {
        return Err(Error::config(
            "ADMIN_PASSWORD must be at least 8 characters and not 'admin'; leave it unset for a random one per site",
        ));
    }
    let public_url = args
        .public_url
        .as_deref()
        .map(UrlTemplate::parse)
        .transpose()?;
    let (ctx, auto, warnings) = benches(&args.conn).await?;
    Ok(Config {
        ctx,
        admin_password,
        install_apps: install_apps(&args.apps.install_apps),
        timeout: Duration::from_secs(args.timeout),
        plan: SaasPlan::from_opts(&args.plan),
        setup: (!args.skip_setup_wizard).then(|| setup_defaults(&args.setup)),
        login_link: args
            .login_link
            .then(|| Duration::from_secs(60 * u64::from(args.login_link_minutes))),
        use_pool: !args.no_pool,
        use_template: !args.no_template,
        auto,
        warnings,
        public_url,
    })
}
