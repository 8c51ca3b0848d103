//! `plan set <site>`: rewrites the tenant's `SaaS Settings` over its REST API, as the
//! sign-up wrote it. The tool keeps no secret of any tenant, so it authenticates with a
//! key pair it lends the site's Administrator for this one call (`lifecycle::lent_key`),
//! taken back after it, also when it fails.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::PlanSetArgs;
use crate::context::Context;
use crate::error::{Code, Error};
use crate::lifecycle::held::{hold, Held};
use crate::lifecycle::lent_key::lend;
use crate::lifecycle::usage::measure;
use crate::output::{round2, Output, PlanReport, PlanValues, TenantUsage, GB};
use crate::outside::frappe::{Frappe, SettingsOutcome};
use crate::outside::mariadb::registry::Status;
use crate::signup::validate_name;

const DOCTYPE: &str = "SaaS Settings";

pub async fn run_set(args: PlanSetArgs) -> Result<Output, Error> {
    let started = Instant::now();
    let (ctx, site) = Context::resolve_for_site(&args.conn, &args.site).await?;
    let for_site = |e: Error| e.for_site(&site);
    let plan = Plan::validated(&args).map_err(for_site)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut held = hold(&ctx, &site, "plan change", &[Status::Active], deadline)
        .await
        .map_err(for_site)?;
    let db_name = held.row.db_name.clone();
    let previous = held
        .dbs
        .sites()
        .single_values(&db_name, DOCTYPE)
        .await
        .map_err(|e| for_site(e.into()))?
        .ok_or_else(|| {
            for_site(Error::config(format!(
                "{site} has no {DOCTYPE} DocType (the app that defines it is not installed): nothing was changed"
            )))
        })?;
    let usage = against(&ctx, &mut held, &plan, args.force, deadline)
        .await
        .map_err(for_site)?;
    write(&ctx, &mut held, plan.values())
        .await
        .map_err(for_site)?;
    read_back(&mut held, &plan).await.map_err(for_site)?;
    Ok(Output::PlanSet(PlanReport {
        success: true,
        site: site.clone(),
        db_name,
        plan_name: plan.name,
        max_users: plan.max_users,
        max_storage: plan.max_storage,
        previous: PlanValues {
            plan_name: previous.get("plan_name").cloned(),
            max_users: previous.get("max_users").cloned(),
            max_storage: previous.get("max_storage").cloned(),
        },
        forced: args.force && usage.over,
        usage,
        elapsed: round2(started.elapsed().as_secs_f64()),
    }))
}

/// The plan asked for, validated before anything is touched.
struct Plan {
    name: String,
    max_users: u64,
    max_storage: f64,
}

impl Plan {
    fn validated(args: &PlanSetArgs) -> Result<Self, Error> {
        let name = validate_name("planName", &args.plan_name)?;
        if !(args.max_storage.is_finite() && args.max_storage > 0.0) {
            return Err(
                Error::invalid("--max-storage must be a number of GB above 0")
                    .on_field("maxStorage"),
            );
        }
        if args.max_users == 0 {
            return Err(Error::invalid("--max-users must be at least 1").on_field("maxUsers"));
        }
        Ok(Plan {
            name,
            max_users: u64::from(args.max_users),
            max_storage: args.max_storage,
        })
    }

    /// The PUT's body, as the sign-up writes it.
    fn values(&self) -> serde_json::Value {
        json!({"plan_name": self.name, "max_users": self.max_users, "max_storage": self.max_storage})
    }
}

/// The tenant's usage against the new plan; a plan below it is refused unless `force`.
async fn against(
    ctx: &Context,
    held: &mut Held,
    plan: &Plan,
    force: bool,
    deadline: tokio::time::Instant,
) -> Result<TenantUsage, Error> {
    let rows = [held.row.clone()];
    let mut usage = measure(ctx, held.dbs.sites(), &rows, deadline)
        .await?
        .pop()
        .ok_or_else(|| Error::config(format!("{}'s database is not a Frappe schema", held.site)))?;
    usage.max_users = Some(plan.max_users);
    usage.max_storage = Some(plan.max_storage);
    let usage = usage.judge();
    if usage.over && !force {
        return Err(Error::invalid(format!(
            "the plan is below what {} uses now: {} enabled users (plan: {}), {:.3} GB stored \
             (plan: {} GB); nothing was changed (--force sets it anyway)",
            held.site,
            usage.users,
            plan.max_users,
            usage.storage_bytes as f64 / GB,
            plan.max_storage
        )));
    }
    Ok(usage)
}

/// The values as the site's database holds them now must be the plan's.
async fn read_back(held: &mut Held, plan: &Plan) -> Result<(), Error> {
    let stored = held
        .dbs
        .sites()
        .single_values(&held.row.db_name, DOCTYPE)
        .await?
        .unwrap_or_default();
    let num = |k: &str| stored.get(k).and_then(|v| v.parse::<f64>().ok());
    let same = stored.get("plan_name") == Some(&plan.name)
        && num("max_users") == Some(plan.max_users as f64)
        && num("max_storage").is_some_and(|v| (v - plan.max_storage).abs() < 1e-9);
    if same {
        return Ok(());
    }
    Err(Error::new(
        Code::ApiError,
        format!(
            "Frappe answered the write, but {}'s {DOCTYPE} holds {stored:?}",
            held.site
        ),
    ))
}

/// The PUT, authenticated by a key pair lent to Administrator for it, and taken back
/// whatever the PUT did.
async fn write(ctx: &Context, held: &mut Held, values: serde_json::Value) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let db_name = held.row.db_name.clone();
    let key = ctx
        .bench
        .site_encryption_key(&held.site, deadline)
        .await?
        .ok_or_else(|| {
            Error::config(format!(
                "{}'s site_config.json has no encryption_key, so no API secret can be stored for \
                 Frappe to read: nothing was changed",
                held.site
            ))
        })?;
    held.still_held().await?;
    let lent = lend(held.dbs.sites(), &held.site, &db_name, &key).await?;
    let put = Frappe::new(&ctx.frappe_url, &held.site)
        .write_saas_settings(&lent.session, values)
        .await;
    lent.take_back(held.dbs.sites(), &held.site).await?;
    match put {
        Ok(SettingsOutcome::Written) => Ok(()),
        Ok(SettingsOutcome::DocTypeMissing) => Err(Error::config(format!(
            "{} has no {DOCTYPE} DocType: nothing was changed",
            held.site
        ))),
        Err(e) => Err(Error::new(
            Code::ApiError,
            format!("{e}; nothing was changed"),
        )),
    }
}
