//! The steps of a provision around the site itself (`site`): the preparation (the site's
//! lock, the placement, the plan), then steps 2 to 5, in the order `run_steps` calls them.
//! Each says on stderr what it is doing and records on the registry row how far it got.

use serde_json::json;
use tokio::time::Instant;

use super::placement::{place, Placed, Placement};
use super::plan::{plan, Plan};
use super::{ApiKeys, Made, Run};
use crate::basics::secret::Secret;
use crate::error::{Code, Error};
use crate::lifecycle::apps::{install_missing_apps, AppsError};
use crate::outside::frappe::{ApiError, Frappe, NewUser, SettingsOutcome};
use crate::outside::mariadb::Db;
use crate::progress::progress;
use crate::signup::Tenant;
use frappe_password::PasswordPolicy;

/// Takes the site's lock, places the sign-up (`--bench auto`), plans it, and readies the
/// registry and the bench's id for the steps that write. The password verdict under
/// Frappe's default policy runs on its own thread meanwhile (its word lists cost ~8 ms of
/// CPU the first time): nothing is written before it passed, and an input error wins over
/// any other. Returns the plan and the bench's id.
pub(super) async fn prepare(
    run: &mut Run,
    t: &Tenant,
    deadline: Instant,
) -> Result<(Plan, String), Error> {
    let strength = {
        let t = t.clone();
        tokio::task::spawn_blocking(move || t.check_password_strength(&PasswordPolicy::default()))
    };
    let locked = lock(run, t).await;
    // Refused under the default policy: decisive before any other error, and before a
    // placement could claim anything; otherwise the bench's own policy decides, in `plan`.
    let refused = match strength.await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            progress(&format!("✗ Invalid input: {e}"));
            Some(Error::invalid(format!("invalid input: {e}")))
        }
        Err(e) => Some(Error::invalid(e.to_string()).at("preflight")),
    };
    let input_wins = |e: Error| match &refused {
        Some(r) if e.code != Code::InvalidInput => Error::new(r.code, r.message.clone()),
        _ => e,
    };
    run.db = Some(locked.map_err(input_wins)?);
    let placement = match run.cfg.auto.is_some() {
        true => match refused {
            Some(e) => return Err(e),
            None => Some(placed(run, t, deadline).await?),
        },
        false => None,
    };
    let cfg = run.cfg.clone();
    let plan = plan(&cfg, t, run.db(), placement, deadline)
        .await
        .map_err(|e| {
            input_wins(if e.step.is_none() {
                e.at("preflight")
            } else {
                e
            })
        })?;
    run.path = Some(plan.route.path());
    run.common = plan.facts.common.clone();
    run.warnings.extend(plan.warnings.iter().cloned());
    let at = |e: Error| e.at("preflight");
    cfg.ctx
        .registry
        .ensure(run.db())
        .await
        .map_err(|e| at(e.into()))?;
    let bench_id = match &plan.bench_id {
        Some(id) => id.clone(),
        None => cfg
            .ctx
            .bench
            .bench_id(true, deadline)
            .await
            .map_err(|e| at(e.into()))?
            .ok_or_else(|| {
                at(Error::new(
                    Code::BenchFailed,
                    "could not create the bench id",
                ))
            })?,
    };
    Ok((plan, bench_id))
}

/// `--bench auto`: the bench placement chose (`run` now works on it), and what it made
/// there already: a claimed standby is the run's to return if anything fails.
async fn placed(run: &mut Run, t: &Tenant, deadline: Instant) -> Result<Placement, Error> {
    let mut warnings = vec![];
    let db = run.db.as_mut().expect("the site is locked first");
    let placed = place(&mut run.cfg, t, db, &mut warnings, deadline).await;
    run.warnings.extend(warnings);
    let placement = placed?;
    run.bench = Some(placement.bench.clone());
    if let Placed::Standby(c) = &placement.placed {
        run.made = Some(Made::Claimed {
            row_id: c.row.id,
            standby: c.standby.clone(),
            db_name: c.row.db_name.clone(),
        });
    }
    Ok(placement)
}

/// The site's lock, on a new connection that keeps it until the run ends.
async fn lock(run: &Run, t: &Tenant) -> Result<Db, Error> {
    let at = |e: Error| e.at("preflight");
    let mut db = run.cfg.ctx.db.connect().await.map_err(|e| at(e.into()))?;
    if !db.try_lock_site(&t.site).await.map_err(|e| at(e.into()))? {
        return Err(at(Error::new(
            Code::SiteBusy,
            format!("another run is working on {}", t.site),
        )));
    }
    Ok(db)
}

/// Step 2: the wanted apps the site lacks (a template or standby site has them all).
pub(super) async fn install_apps(
    run: &mut Run,
    t: &Tenant,
    plan: &Plan,
    deadline: Instant,
) -> Result<(), Error> {
    let at = |e: Error| e.at("install-apps");
    progress(&format!(
        "[2/5] Installing apps: {}...",
        run.cfg.install_apps.join(", ")
    ));
    let made = run.made.clone().expect("step 1 made the site");
    let ctx = run.cfg.ctx.clone();
    ctx.registry
        .set_step(run.db(), made.row_id(), "install-apps")
        .await
        .map_err(|e| at(e.into()))?;
    install_missing_apps(
        &ctx,
        run.db(),
        &t.site,
        made.db_name(),
        &plan.apps,
        deadline,
    )
    .await
    .map_err(|e| match e {
        AppsError::Db(e) => at(e.into()),
        AppsError::Bench(e) => at(e.into()),
    })
}

/// Steps 3 and 4, over REST as Administrator: the tenant's user (names, password,
/// System User, System Manager, API key and secret) in one insert, and the SaaS
/// Settings single, concurrently.
pub(super) async fn create_user_and_settings(
    run: &mut Run,
    t: &Tenant,
    keys: &ApiKeys,
    admin_password: &Secret,
) -> Result<(), Error> {
    progress(&format!("[3/5] Creating admin user: {}...", t.email));
    record_step(run, "user", "create-user").await?;
    let frappe = Frappe::new(&run.cfg.ctx.frappe_url, &t.site);
    let session = frappe
        .login("Administrator", admin_password)
        .await
        .map_err(|e| login_error(e, &t.site))?;
    progress("[4/5] Initializing subscription settings...");
    let user = NewUser {
        email: &t.email,
        first_name: &t.first_name,
        last_name: &t.last_name,
        password: &t.password,
        api_key: &keys.key,
        api_secret: &keys.secret,
    };
    let plan = &run.cfg.plan;
    let plan = json!({"plan_name": plan.name, "max_users": plan.max_users, "max_storage": plan.max_storage_gb});
    // Independent documents: write them concurrently.
    let (created, settings) = tokio::join!(
        frappe.create_user(&session, &user),
        frappe.write_saas_settings(&session, plan)
    );
    created.map_err(|e| api_error("create-user", e))?;
    progress("✓ User created successfully");
    match settings.map_err(|e| api_error("subscription", e))? {
        SettingsOutcome::Written => progress("✓ Subscription settings initialized"),
        SettingsOutcome::DocTypeMissing => {
            progress("⚠ SaaS Settings DocType not found; subscription settings skipped");
            run.warnings.push(
                "SaaS Settings DocType does not exist on this site; plan limits were not written"
                    .into(),
            );
        }
    }
    Ok(())
}

/// Step 5: the keys authenticate, as the tenant's user, before success is reported.
pub(super) async fn prove_keys(run: &mut Run, t: &Tenant, keys: &ApiKeys) -> Result<(), Error> {
    progress("[5/5] Verifying API keys...");
    record_step(run, "api-keys", "api-keys").await?;
    let who = Frappe::new(&run.cfg.ctx.frappe_url, &t.site)
        .whoami_with_token(&keys.key, &keys.secret)
        .await
        .map_err(|e| api_error("api-keys", e))?;
    if who != t.email {
        return Err(Error::new(
            Code::ApiError,
            format!("the API keys authenticate as {who}, not {}", t.email),
        )
        .at("api-keys"));
    }
    progress("✓ API keys generated and verified");
    Ok(())
}

/// The registry row says which step the run reached (`as_step` in a failure's JSON).
async fn record_step(run: &mut Run, step: &str, as_step: &'static str) -> Result<(), Error> {
    let row_id = run.made.as_ref().expect("step 1 made the site").row_id();
    let registry = run.cfg.ctx.registry.clone();
    registry
        .set_step(run.db(), row_id, step)
        .await
        .map_err(|e| Error::from(e).at(as_step))
}

fn api_error(step: &'static str, e: ApiError) -> Error {
    Error::new(Code::ApiError, e.to_string()).at(step)
}

fn login_error(e: ApiError, site: &str) -> Error {
    let hint = match e.status() {
        Some(404) => {
            format!(" (Frappe does not serve {site} at FRAPPE_URL: is Host-header routing set up?)")
        }
        Some(401) => {
            " (FRAPPE_URL probably routes every Host to one default site, not the new one)".into()
        }
        _ => String::new(),
    };
    Error::new(
        Code::AdminLoginFailed,
        format!("Administrator login on the new site failed: {e}{hint}"),
    )
    .at("create-user")
}
