//! The five steps of a provision, one function each (plus the read-only preparation),
//! in the order `run_steps` calls them. Each says on stderr what it is doing and leaves
//! in `State` what it made, for the rollback.

use serde_json::json;

use tokio::time::Instant;

use super::{bench_error, db_error, fail, ApiKeys, Config, State, StepError};

use crate::basics::secret::Secret;

use crate::lifecycle::apps::{install_missing_apps, wanted_apps, AppsError};

use crate::lifecycle::template::sign_up_policy;

use crate::outside::frappe::{ApiError, Frappe, NewUser, SettingsOutcome};

use crate::signup::Tenant;

use frappe_password::PasswordPolicy;

use crate::error::Code;
use crate::progress::progress;

/// What the preparation found out: the bench's id and the apps the site gets.
pub(super) struct Ready {
    pub(super) bench_id: String,
    pub(super) wanted: Vec<String>,
    /// The password policy the verdict was made under (see `sign_up_policy`).
    pub(super) policy: PasswordPolicy,
}

/// Read-only: the password's strength, the site lock, the bench's facts, that the site
/// and its database do not exist yet, the registry's schema and the bench id.
pub(super) async fn prepare(
    cfg: &mut Config,
    t: &Tenant,
    state: &mut State,
    deadline: Instant,
) -> Result<Ready, StepError> {
    // The password verdict costs ~8 ms of CPU the first time (word lists): it runs on its own
    // thread, under Frappe's default policy, while the read-only preflight waits on MariaDB
    // and the bench. Nothing is written before it has passed, and an input error wins over
    // any preflight error.
    let strength = {
        let t = t.clone();
        tokio::task::spawn_blocking(move || t.check_password_strength(&PasswordPolicy::default()))
    };
    let preflight = preflight(cfg, t, state, deadline).await;
    // The bench's own policy, once its facts are read; it is nearly always the default.
    let policy = match &preflight {
        Ok(()) => sign_up_policy(&state.facts),
        Err(_) => PasswordPolicy::default(),
    };
    let verdict = match strength.await {
        Ok(v) if policy == PasswordPolicy::default() => Ok(v),
        Ok(_) => Ok(t.check_password_strength(&policy)),
        Err(e) => Err(e),
    };
    match verdict {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            progress(&format!("✗ Invalid input: {e}"));
            return Err(StepError {
                code: Code::InvalidInput,
                step: None,
                message: format!("invalid input: {e}"),
            });
        }
        Err(e) => return Err(fail(Code::InvalidInput, "preflight", e)),
    }
    preflight?;
    let mut policy = policy;
    if cfg.auto.is_some() {
        super::placement::place(cfg, t, state, deadline).await?;
        // Judged under the defaults so far: the chosen bench's own policy decides.
        let placed = sign_up_policy(&state.facts);
        if placed != policy {
            if let Err(e) = t.check_password_strength(&placed) {
                return Err(fail(
                    Code::InvalidInput,
                    "preflight",
                    format!("invalid input: {e}"),
                ));
            }
            policy = placed;
        }
    }
    let ctx = &cfg.ctx;
    let db = state.db.as_mut().expect("connected in preflight");
    ctx.registry
        .ensure(db)
        .await
        .map_err(|e| db_error("preflight", e))?;
    // One live row per site and bench: a killed run's row must be resolved first. (A
    // standby placement claimed is this run's own row; the registry let the claim name
    // the site only because no other row was live for it.)
    if let (Some(id), None) = (&state.facts.bench_id, &state.placed) {
        if let Some(row) = ctx
            .registry
            .live_row(db, id, &t.site)
            .await
            .map_err(|e| db_error("preflight", e))?
        {
            return Err(fail(
                Code::SiteExists,
                "preflight",
                super::live_row_exists(&row),
            ));
        }
    }
    let bench_id = match state.facts.bench_id.clone() {
        Some(id) => id,
        None => ctx
            .bench
            .bench_id(true, deadline)
            .await
            .map_err(|e| bench_error("preflight", e))?
            .ok_or_else(|| {
                fail(
                    Code::BenchFailed,
                    "preflight",
                    "could not create the bench id",
                )
            })?,
    };
    let (wanted, missing) = wanted_apps(&cfg.install_apps, &state.facts.apps);
    for app in missing {
        progress(&format!(
            "⚠ App installation skipped: {app} is not in this bench's apps.txt"
        ));
        state.warnings.push(format!(
            "app {app} is not available on this bench; not installed"
        ));
    }
    Ok(Ready {
        bench_id,
        wanted,
        policy,
    })
}

/// Step 2: the wanted apps the site lacks (a template or standby site has them all).
pub(super) async fn install_apps(
    cfg: &Config,
    t: &Tenant,
    ready: &Ready,
    state: &mut State,
    deadline: Instant,
) -> Result<(), StepError> {
    let (ctx, wanted) = (&cfg.ctx, &ready.wanted);
    let db = state.db.as_mut().expect("connected in preflight");
    let row_id = state.row_id.expect("a site being made has a registry row");
    progress(&format!(
        "[2/5] Installing apps: {}...",
        cfg.install_apps.join(", ")
    ));
    ctx.registry
        .set_step(db, row_id, "install-apps")
        .await
        .map_err(|e| db_error("install-apps", e))?;
    install_missing_apps(ctx, db, &t.site, &state.db_name, wanted, deadline)
        .await
        .map_err(|e| match e {
            AppsError::Db(e) => db_error("install-apps", e),
            AppsError::Bench(e) => bench_error("install-apps", e),
        })?;
    Ok(())
}

/// Steps 3 and 4, over REST as Administrator: the tenant's user (names, password,
/// System User, System Manager, API key and secret) in one insert, and the SaaS
/// Settings single, concurrently.
pub(super) async fn create_user_and_settings(
    cfg: &Config,
    t: &Tenant,
    keys: &ApiKeys,
    frappe: &Frappe,
    admin_password: &Secret,
    state: &mut State,
) -> Result<(), StepError> {
    let ctx = &cfg.ctx;
    let db = state.db.as_mut().expect("connected in preflight");
    let row_id = state.row_id.expect("a site being made has a registry row");
    progress(&format!("[3/5] Creating admin user: {}...", t.email));
    ctx.registry
        .set_step(db, row_id, "user")
        .await
        .map_err(|e| db_error("create-user", e))?;
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
    let plan = json!({"plan_name": cfg.plan.name, "max_users": cfg.plan.max_users, "max_storage": cfg.plan.max_storage_gb});
    // Independent documents: write them concurrently.
    let (created, settings) = tokio::join!(
        frappe.create_user(&session, &user),
        frappe.write_saas_settings(&session, plan)
    );
    created.map_err(|e| fail(Code::ApiError, "create-user", e))?;
    progress("✓ User created successfully");
    match settings.map_err(|e| fail(Code::ApiError, "subscription", e))? {
        SettingsOutcome::Written => progress("✓ Subscription settings initialized"),
        SettingsOutcome::DocTypeMissing => {
            progress("⚠ SaaS Settings DocType not found; subscription settings skipped");
            state.warnings.push(
                "SaaS Settings DocType does not exist on this site; plan limits were not written"
                    .into(),
            );
        }
    }
    Ok(())
}

/// Step 5: the keys authenticate, as the tenant's user, before success is reported.
pub(super) async fn prove_keys(
    cfg: &Config,
    t: &Tenant,
    keys: &ApiKeys,
    frappe: &Frappe,
    state: &mut State,
) -> Result<(), StepError> {
    let ctx = &cfg.ctx;
    let db = state.db.as_mut().expect("connected in preflight");
    let row_id = state.row_id.expect("a site being made has a registry row");
    progress("[5/5] Verifying API keys...");
    ctx.registry
        .set_step(db, row_id, "api-keys")
        .await
        .map_err(|e| db_error("api-keys", e))?;
    let who = frappe
        .whoami_with_token(&keys.key, &keys.secret)
        .await
        .map_err(|e| fail(Code::ApiError, "api-keys", e))?;
    if who != t.email {
        return Err(fail(
            Code::ApiError,
            "api-keys",
            format!("the API keys authenticate as {who}, not {}", t.email),
        ));
    }
    progress("✓ API keys generated and verified");
    Ok(())
}

/// Read-only: nothing is created until the site is known to be free and ours to make.
/// Takes the site lock and reads the bench's facts.
async fn preflight(
    cfg: &Config,
    t: &Tenant,
    state: &mut State,
    deadline: Instant,
) -> Result<(), StepError> {
    let mut db = cfg
        .ctx
        .db
        .connect()
        .await
        .map_err(|e| db_error("preflight", e))?;
    if !db
        .try_lock_site(&t.site)
        .await
        .map_err(|e| db_error("preflight", e))?
    {
        return Err(fail(
            Code::SiteBusy,
            "preflight",
            format!("another run is working on {}", t.site),
        ));
    }
    if cfg.auto.is_some() {
        // Placement itself waits for the password check (`prepare`): it may claim.
        state.db = Some(db);
        return Ok(());
    }
    let ctx = &cfg.ctx;
    state.db = Some(db);
    state.facts = ctx
        .bench
        .facts(deadline)
        .await
        .map_err(|e| bench_error("preflight", e))?;
    if ctx
        .bench
        .site_dir_exists(&t.site, deadline)
        .await
        .map_err(|e| bench_error("preflight", e))?
    {
        return Err(fail(
            Code::SiteExists,
            "preflight",
            format!("site {} already exists", t.site),
        ));
    }
    Ok(())
}

fn login_error(e: ApiError, site: &str) -> StepError {
    let hint = match e.status() {
        Some(404) => {
            format!(" (Frappe does not serve {site} at FRAPPE_URL: is Host-header routing set up?)")
        }
        Some(401) => {
            " (FRAPPE_URL probably routes every Host to one default site, not the new one)".into()
        }
        _ => String::new(),
    };
    fail(
        Code::AdminLoginFailed,
        "create-user",
        format!("Administrator login on the new site failed: {e}{hint}"),
    )
}
