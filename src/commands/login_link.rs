//! `login-link <site>`: a one-time link that logs a tenant's admin straight into the desk
//! (what `provision --login-link` adds to a sign-up's result), for ops. Only for a tenant
//! this tool made and still holds: the site's live, active registry row, whose instance
//! its folder holds, and a user of it who is enabled.

use std::time::{Duration, Instant};

use crate::cli::LoginLinkArgs;
use crate::context::Context;
use crate::error::{Code, Error};
use crate::lifecycle::login_link::{cache_of, mint};
use crate::output::{LoginLinkReport, Output};
use crate::outside::mariadb::registry::Status;
use crate::signup::validate_email;

pub async fn run(args: LoginLinkArgs) -> Result<Output, Error> {
    let (ctx, site) = Context::resolve_for_site(&args.conn, &args.site).await?;
    let for_site = |e: Error| e.for_site(&site);
    let email = match &args.email {
        Some(e) => Some(validate_email(e).map_err(|e| for_site(Error::from(e)))?),
        None => None,
    };
    let ttl = Duration::from_secs(60 * u64::from(args.minutes));
    let (db_name, email, common) = tenant(&ctx, &site, email).await.map_err(for_site)?;
    let cache = cache_of(&ctx, &common).map_err(for_site)?;
    let url = mint(&cache, &ctx.site_url(&site), &db_name, &email, ttl)
        .await
        .map_err(for_site)?;
    Ok(Output::LoginLink(LoginLinkReport {
        success: true,
        site,
        email,
        login_url: url,
        expires_in_seconds: ttl.as_secs(),
    }))
}

/// The tenant's database and user, once they prove to be the tool's and usable.
async fn tenant(
    ctx: &Context,
    site: &str,
    email: Option<String>,
) -> Result<(String, String, crate::outside::bench::CommonConfig), Error> {
    let deadline = tokio::time::Instant::from_std(Instant::now() + Duration::from_secs(30));
    let not_ours = |why: String| {
        Error::invalid(format!(
            "no login link for {site}: {why}; links are made only for tenants this tool made"
        ))
    };
    let facts = ctx.bench.facts(deadline).await?;
    let folder_db = ctx
        .bench
        .site_config(site, deadline)
        .await?
        .and_then(|c| c.db_name)
        .ok_or_else(|| not_ours(format!("the bench has no site {site}")))?;
    let mut dbs = ctx.connect().await?;
    let control = dbs.control();
    let row = match (&facts.bench_id, ctx.registry.upgrade(control).await?) {
        (Some(id), true) => ctx.registry.live_row(control, id, site).await?,
        _ => None,
    };
    let row = row.ok_or_else(|| not_ours("the registry has no live row for it".into()))?;
    if row.status != Status::Active || row.db_name != folder_db {
        return Err(not_ours(format!(
            "its registry row is {} for database {}, its folder holds {folder_db}",
            row.status.as_str(),
            row.db_name
        )));
    }
    let email = email.or(row.email.clone()).ok_or_else(|| {
        Error::invalid("the registry names no admin for this tenant: pass --email")
    })?;
    match dbs.sites().tenant_user(&folder_db, &email).await? {
        Some(u) if u.enabled => Ok((folder_db, email, facts.common)),
        Some(_) => Err(Error::new(
            Code::InvalidInput,
            format!("user {email} of {site} is disabled"),
        )),
        None => Err(Error::invalid(format!("{site} has no user {email}"))),
    }
}
