//! The steps of a provision around the site itself (`site`): the preparation (the site's
//! lock, the placement, the plan), then steps 2 to 5, in the order `run_steps` calls them.
//! Each says on stderr what it is doing and records on the registry row how far it got.

use serde_json::json;
use tokio::time::Instant;

use super::placement::{place, Placed, Placement};
use super::plan::{plan, setup_locale, Plan};
use super::{ApiKeys, Made, Run};
use crate::error::{Code, Error};
use crate::lifecycle::apps::{install_missing_apps, AppsError};
use crate::lifecycle::lent_key::{lend, LentKey};
use crate::lifecycle::login_link;
use crate::lifecycle::setup::Locale;
use crate::lifecycle::setup::{set_up, SiteSetup};
use crate::output::WizardAction;
use crate::outside::frappe::{ApiError, Frappe, NewUser, Session, SettingsOutcome};
use crate::outside::mariadb::Conns;
use crate::progress::progress;
use crate::signup::{InvalidInput, Tenant};
use frappe_password::PasswordPolicy;

/// Takes the site's lock, places the sign-up (`--bench auto`), plans it, and readies the
/// registry and the bench's id for the steps that write. The password verdict under
/// Frappe's default policy runs on its own thread meanwhile (its word lists cost ~8 ms of
/// CPU the first time), and the setup wizard's choices are checked against Frappe's lists
/// on the bench: nothing is written before both passed, and an input error wins over any
/// other. Returns the plan and the bench's id.
pub(super) async fn prepare(
    run: &mut Run,
    t: &Tenant,
    deadline: Instant,
) -> Result<(Plan, String), Error> {
    let strength = {
        let t = t.clone();
        tokio::task::spawn_blocking(move || t.check_password_strength(&PasswordPolicy::default()))
    };
    let (locked, locale) = tokio::join!(lock(run, t), setup_locale(&run.cfg, t, deadline));
    let refused = refusal(strength.await, &locale);
    let input_wins = |e: Error| match &refused {
        Some(r) if e.code != Code::InvalidInput => r.clone(),
        _ => e,
    };
    run.db = Some(locked.map_err(input_wins)?);
    let locale = locale.map_err(|e| input_wins(e.at("preflight")))?;
    let placement = match run.cfg.auto.is_some() {
        true => match refused {
            Some(e) => return Err(e),
            None => Some(placed(run, t, deadline).await?),
        },
        false => None,
    };
    let cfg = run.cfg.clone();
    let sites = cfg.ctx.db_server.as_ref().map(|_| &cfg.ctx.db);
    run.conns()
        .reach(sites)
        .await
        .map_err(|e| Error::from(e).at("preflight"))?;
    let plan = plan(&cfg, t, run.db(), placement, locale, deadline)
        .await
        .map_err(|e| {
            input_wins(if e.step.is_none() {
                e.at("preflight")
            } else {
                e
            })
        })?;
    adopt(run, &plan).await.map_err(|e| e.at("preflight"))?;
    let bench_id = bench_id(run, &plan, deadline)
        .await
        .map_err(|e| e.at("preflight"))?;
    Ok((plan, bench_id))
}

/// The sign-up's input refused (under the default password policy, or by Frappe's lists):
/// decisive before any other error, and before a placement could claim anything;
/// otherwise the bench's own password policy decides, in `plan`.
fn refusal(
    strength: Result<Result<(), InvalidInput>, tokio::task::JoinError>,
    locale: &Result<Option<Locale>, Error>,
) -> Option<Error> {
    let refused = match strength {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            progress(&format!("✗ Invalid input: {e}"));
            Some(Error::from(e))
        }
        Err(e) => Some(Error::invalid(e.to_string()).at("preflight")),
    };
    refused.or_else(|| match locale {
        Err(e) if e.code == Code::InvalidInput => {
            progress(&format!("✗ Invalid input: {}", e.message));
            Some(e.clone())
        }
        _ => None,
    })
}

/// What the run keeps of its plan; with `--login-link`, Frappe's cache, found answering.
async fn adopt(run: &mut Run, plan: &Plan) -> Result<(), Error> {
    run.path = Some(plan.route.path());
    run.common = plan.facts.common.clone();
    run.warnings.extend(plan.warnings.iter().cloned());
    if run.cfg.login_link.is_some() {
        let cache = login_link::cache_of(&run.cfg.ctx, &plan.facts.common)?;
        login_link::reachable(&cache).await?;
        run.login_cache = Some(cache);
    }
    Ok(())
}

/// The registry, migrated, and the bench's id (made on the bench's first sign-up).
async fn bench_id(run: &mut Run, plan: &Plan, deadline: Instant) -> Result<String, Error> {
    let ctx = run.cfg.ctx.clone();
    ctx.registry.ensure(run.db()).await?;
    if let Some(id) = &plan.bench_id {
        return Ok(id.clone());
    }
    ctx.bench
        .bench_id(true, deadline)
        .await?
        .ok_or_else(|| Error::new(Code::BenchFailed, "could not create the bench id"))
}

/// `--bench auto`: the bench placement chose (`run` now works on it), and what it made
/// there already: a claimed standby is the run's to return if anything fails.
async fn placed(run: &mut Run, t: &Tenant, deadline: Instant) -> Result<Placement, Error> {
    let mut warnings = vec![];
    let db = run.db.as_mut().expect("the site is locked first").control();
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

/// The site's lock, on a new connection to the registry's server that keeps it until the
/// run ends.
async fn lock(run: &Run, t: &Tenant) -> Result<Conns, Error> {
    let at = |e: Error| e.at("preflight");
    let mut db = Conns::open(&run.cfg.ctx.control, None)
        .await
        .map_err(|e| at(e.into()))?;
    if !db
        .control()
        .try_lock_site(&t.site)
        .await
        .map_err(|e| at(e.into()))?
    {
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
    run.go_on("install-apps")?;
    let at = |e: Error| e.at("install-apps");
    progress(&format!(
        "[2/6] Installing apps: {}...",
        run.cfg.install_apps.join(", ")
    ));
    let made = run.made().clone();
    let ctx = run.cfg.ctx.clone();
    ctx.registry
        .set_step(run.db(), made.row_id(), "install-apps")
        .await
        .map_err(|e| at(e.into()))?;
    install_missing_apps(
        &ctx,
        run.sites(),
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

/// Before step 3: an API key lent to the site's Administrator for steps 3 to 5, so they
/// need no login round trip. The site is this run's (made or claimed under its lock): when
/// its config has no `encryption_key` yet, the run makes it, as Frappe would on first use.
pub(super) async fn lend_admin_key(
    run: &mut Run,
    t: &Tenant,
    deadline: Instant,
) -> Result<LentKey, Error> {
    let at = |e: Error| e.at("create-user");
    let db_name = run.made().db_name().to_string();
    let key = run
        .cfg
        .ctx
        .bench
        .site_encryption_key_or_new(&t.site, &db_name, deadline)
        .await
        .map_err(|e| at(e.into()))?;
    lend(run.sites(), &t.site, &db_name, &key).await.map_err(at)
}

/// After step 5, whatever 3 to 5 did: the lent key is taken back.
pub(super) async fn take_back_admin_key(
    run: &mut Run,
    t: &Tenant,
    lent: LentKey,
) -> Result<(), Error> {
    lent.take_back(run.sites(), &t.site)
        .await
        .map_err(|e| e.at("setup-wizard"))
}

/// Steps 3 and 4, over REST as Administrator, concurrently: the tenant's user (names,
/// password, System User, System Manager, API key and secret) in one insert, and the SaaS
/// Settings single.
pub(super) async fn create_user_and_settings(
    run: &mut Run,
    t: &Tenant,
    keys: &ApiKeys,
    admin: &Session,
) -> Result<(), Error> {
    progress(&format!("[3/6] Creating admin user: {}...", t.email));
    record_step(run, "user", "create-user").await?;
    let frappe = Frappe::new(&run.cfg.ctx.frappe_url, &t.site);
    progress("[4/6] Initializing subscription settings...");
    let user = NewUser {
        email: &t.email,
        first_name: &t.first_name,
        last_name: &t.last_name,
        password: &t.password,
        api_key: &keys.key,
        api_secret: &keys.secret,
    };
    let saas = &run.cfg.plan;
    let saas = json!({"plan_name": saas.name, "max_users": saas.max_users, "max_storage": saas.max_storage_gb});
    let (created, settings) = tokio::join!(
        frappe.create_user(admin, &user),
        frappe.write_saas_settings(admin, saas),
    );
    created.map_err(|e| first_call_error("create-user", e, &t.site))?;
    progress("✓ User created successfully");
    settings_written(
        run,
        settings.map_err(|e| first_call_error("subscription", e, &t.site))?,
    );
    Ok(())
}

/// Step 5, after 3 and 4, not beside them: the wizard and a System Settings save take
/// locks a user's insert also takes (`tabHas Role`, `tabDefaultValue`), and on a real
/// v15 bench the two at once ended in QueryDeadlockError, failing the sign-up.
pub(super) async fn set_up_site(
    run: &mut Run,
    t: &Tenant,
    plan: &Plan,
    session: &Session,
) -> Result<(), Error> {
    match &plan.locale {
        Some(l) => progress(&format!(
            "[5/6] Setup wizard: {}, {}, {}, {}...",
            l.language.name, l.country, l.timezone, l.currency
        )),
        None => progress("[5/6] Setup wizard left to the tenant's admin..."),
    }
    record_step(run, "setup-wizard", "setup-wizard").await?;
    let frappe = Frappe::new(&run.cfg.ctx.frappe_url, &t.site);
    let db_name = run.made().db_name().to_string();
    let setup = SiteSetup {
        frappe: &frappe,
        session,
        db_name: &db_name,
        locale: plan.locale.as_ref(),
        company: plan.company.clone(),
    };
    run.setup = set_up(run.sites(), setup).await?;
    if let Some(s) = &run.setup {
        progress(&format!("✓ Setup wizard: {}", wizard_said(s.wizard)));
    }
    Ok(())
}

fn settings_written(run: &mut Run, outcome: SettingsOutcome) {
    match outcome {
        SettingsOutcome::Written => progress("✓ Subscription settings initialized"),
        SettingsOutcome::DocTypeMissing => {
            progress("⚠ SaaS Settings DocType not found; subscription settings skipped");
            run.warnings.push(
                "SaaS Settings DocType does not exist on this site; plan limits were not written"
                    .into(),
            );
        }
    }
}

fn wizard_said(action: Option<WizardAction>) -> &'static str {
    match action {
        Some(WizardAction::Completed) => "completed",
        Some(WizardAction::Updated) => "the site's settings now say these",
        Some(WizardAction::Unchanged) => "the site was set up so already",
        None => "left to the tenant's admin",
    }
}

/// Step 6: the keys authenticate, as the tenant's user, before success is reported.
pub(super) async fn prove_keys(run: &mut Run, t: &Tenant, keys: &ApiKeys) -> Result<(), Error> {
    progress("[6/6] Verifying API keys...");
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
    run.go_on(as_step)?;
    let row_id = run.made().row_id();
    let registry = run.cfg.ctx.registry.clone();
    registry
        .set_step(run.db(), row_id, step)
        .await
        .map_err(|e| Error::from(e).at(as_step))
}

fn api_error(step: &'static str, e: ApiError) -> Error {
    Error::new(Code::ApiError, e.to_string()).at(step)
}

/// The site's first REST calls: a 404 or 401 there is most often the proxy's routing.
fn first_call_error(step: &'static str, e: ApiError, site: &str) -> Error {
    let hint = match e.status() {
        Some(404) if e.exc_type().is_none() => {
            format!(" (Frappe does not serve {site} at FRAPPE_URL: is Host-header routing set up?)")
        }
        Some(401) => {
            " (FRAPPE_URL probably routes every Host to one default site, not the new one)".into()
        }
        _ => String::new(),
    };
    Error::new(Code::ApiError, format!("{e}{hint}")).at(step)
}
