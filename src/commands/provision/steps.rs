//! The five steps of a provision, one function each (plus the read-only preparation),
//! in the order `run_steps` calls them. Each says on stderr what it is doing and leaves
//! in `State` what it made, for the rollback.

use serde_json::json;
use tokio::time::Instant;

use super::site_password::SitePassword;
use super::{bench_error, db_error, fail, ApiKeys, Config, Made, State, StepError};
use crate::basics::secret::Secret;
use crate::lifecycle::apps::{install_missing_apps, wanted_apps, AppsError};
use crate::lifecycle::claim::{claim, Claim};
use crate::lifecycle::template::{self, TemplateMeta};
use crate::outside::frappe::{ApiError, Frappe, NewUser, SettingsOutcome};
use crate::outside::mariadb::registry::{Claimant, NewRow, SitePath, Status};
use crate::outside::mariadb::Db;
use crate::shared::context::Context;
use crate::shared::input::Tenant;
use crate::shared::report::{progress, Code};

/// What the preparation found out: the bench's id and the apps the site gets.
pub(super) struct Ready {
    bench_id: String,
    wanted: Vec<String>,
}

/// Read-only: the password's strength, the site lock, the bench's facts, that the site
/// and its database do not exist yet, the registry's schema and the bench id.
pub(super) async fn prepare(
    cfg: &mut Config,
    t: &Tenant,
    state: &mut State,
    deadline: Instant,
) -> Result<Ready, StepError> {
    // The password's strength costs ~10 ms of CPU the first time: it runs on its own
    // thread while the read-only preflight waits on MariaDB and the bench. Nothing is
    // written before it has passed, and an input error wins over any preflight error.
    let strength = {
        let t = t.clone();
        tokio::task::spawn_blocking(move || t.check_password_strength())
    };
    let preflight = preflight(cfg, t, state, deadline).await;
    match strength.await {
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
    if cfg.auto.is_some() {
        super::placement::place(cfg, t, state, deadline).await?;
    }
    let ctx = &cfg.ctx;
    let db = state.db.as_mut().expect("connected in preflight");
    ctx.registry
        .ensure(db)
        .await
        .map_err(|e| db_error("preflight", e))?;
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
    Ok(Ready { bench_id, wanted })
}

/// Step 1: the site, from the pool, the template or a fresh new-site. Returns its
/// Administrator password.
pub(super) async fn create_site(
    cfg: &Config,
    t: &Tenant,
    ready: &Ready,
    state: &mut State,
    deadline: Instant,
) -> Result<Secret, StepError> {
    let ctx = &cfg.ctx;
    let (bench_id, wanted) = (&ready.bench_id, &ready.wanted);
    let db = state.db.as_mut().expect("connected in preflight");
    // The site's Administrator password. For pool and template sites the tool writes its
    // hash itself; pbkdf2 takes a few ms of CPU, spent on another thread during the claim
    // or the new-site.
    let admin = SitePassword::new(
        cfg.admin_password
            .clone()
            .unwrap_or_else(|| Secret::random(24)),
    );
    let claimant = Claimant {
        site: &t.site,
        subdomain: &t.subdomain,
        organization: &t.organization_name,
        email: &t.email,
    };
    let claim = if let Some(placed) = state.placed.take() {
        Some(placed)
    } else if cfg.use_pool && cfg.auto.is_none() {
        claim(&[(bench_id.as_str(), ctx)], db, &claimant, deadline)
            .await
            .map_err(|e| db_error("create-site", e))?
    } else {
        None
    };
    let admin_password = match claim {
        Some(claim) => {
            progress(&format!(
                "[1/5] Creating site: {} (standby {} from the pool)...",
                t.site, claim.standby
            ));
            take_standby(ctx, t, claim, admin, state, deadline).await?
        }
        None => {
            let template = if cfg.use_template {
                match template::check(&ctx.bench, &state.facts, wanted, deadline).await {
                    Ok(Ok(meta)) => Some(meta),
                    Ok(Err(why)) => {
                        progress(&format!("  template not used: {why}"));
                        None
                    }
                    Err(e) => {
                        state.warnings.push(format!("template not checked: {e}"));
                        None
                    }
                }
            } else {
                None
            };
            new_site(ctx, t, bench_id, template.as_ref(), admin, state, deadline).await?
        }
    };
    progress("✓ Site created successfully");
    Ok(admin_password)
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
        // The database name is the server's, whichever bench: checked before a claim.
        // Placement itself waits for the password check (`prepare`): it may claim.
        database_is_free(&mut db, t).await?;
        state.db = Some(db);
        return Ok(());
    }
    let ctx = &cfg.ctx;
    let db = state.db.insert(db);
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
    database_is_free(db, t).await
}

/// A leftover database of an interrupted run at this site's name is `SITE_EXISTS`.
async fn database_is_free(db: &mut Db, t: &Tenant) -> Result<(), StepError> {
    if db
        .database_exists(&t.db_name)
        .await
        .map_err(|e| db_error("preflight", e))?
    {
        return Err(fail(
            Code::SiteExists,
            "preflight",
            format!("database {} for site {} already exists without a site folder (an interrupted run?); run cleanup --orphans first", t.db_name, t.site),
        ));
    }
    Ok(())
}

/// Step 1 from the pool: the claimed standby's folder takes the tenant's name, and the
/// site gets its own Administrator password. Returns that password.
async fn take_standby(
    ctx: &Context,
    t: &Tenant,
    claim: Claim,
    admin: SitePassword,
    state: &mut State,
    deadline: Instant,
) -> Result<Secret, StepError> {
    let db = state.db.as_mut().expect("connected in preflight");
    state.row_id = Some(claim.row.id);
    state.path = Some(SitePath::Pool);
    state.db_name = claim.row.db_name.clone();
    state.standby_site = Some(claim.standby.clone());
    state.made = Made::Claimed;
    ctx.bench
        .rename_site(&claim.standby, &t.site, deadline)
        .await
        .map_err(|e| bench_error("create-site", e))?;
    state.made = Made::Renamed;
    ctx.registry
        .set_step(db, claim.row.id, "renamed")
        .await
        .map_err(|e| db_error("create-site", e))?;
    admin.write(db, &state.db_name).await
}

/// Step 1 without the pool: `bench new-site`, from the template's dump when one matches.
/// Returns the site's Administrator password.
async fn new_site(
    ctx: &Context,
    t: &Tenant,
    bench_id: &str,
    template: Option<&TemplateMeta>,
    admin: SitePassword,
    state: &mut State,
    deadline: Instant,
) -> Result<Secret, StepError> {
    let db = state.db.as_mut().expect("connected in preflight");
    let path = if template.is_some() {
        SitePath::Template
    } else {
        SitePath::Fresh
    };
    progress(&format!(
        "[1/5] Creating site: {}{}...",
        t.site,
        if template.is_some() {
            " (from the template)"
        } else {
            ""
        }
    ));
    state.path = Some(path);
    let common = state.facts.common.clone();
    // Frappe uses common_site_config.json's admin_password when it is set, and only on
    // a fresh site; a template site always gets the tool's own.
    let admin_password = match (&common.admin_password, template) {
        (Some(p), None) => {
            state.warnings.push("common_site_config.json sets admin_password: the site's Administrator has that shared password".into());
            Secret::new(p.clone())
        }
        _ => admin.password.clone(),
    };
    state.row_id = Some(
        ctx.registry
            .insert(
                db,
                &NewRow {
                    bench_id,
                    site: &t.site,
                    subdomain: &t.subdomain,
                    db_name: &t.db_name,
                    organization: Some(&t.organization_name),
                    email: Some(&t.email),
                    status: Status::Provisioning,
                    path,
                    step: "create-site",
                },
            )
            .await
            .map_err(|e| db_error("create-site", e))?,
    );
    state.made = Made::NewSite;
    if let Err(e) = ctx
        .bench
        .new_site(
            &t.site,
            &t.db_name,
            &ctx.root(),
            &admin_password,
            &common,
            template.map(|m| m.sql.as_str()),
            deadline,
        )
        .await
    {
        // Someone outside this tool (no lock) made the site or its database between our
        // check and new-site. Bench refused before creating anything: nothing there is ours.
        let text = e.to_string();
        if text.contains(&format!("Site {} already exists", t.site)) {
            state.made = Made::Nothing;
            return Err(fail(
                Code::SiteExists,
                "create-site",
                format!("site {} already exists", t.site),
            ));
        }
        if text.contains(&format!("Database {} already exists", t.db_name)) {
            state.made = Made::FolderOnly;
            return Err(fail(
                Code::SiteExists,
                "create-site",
                format!("database {} already exists", t.db_name),
            ));
        }
        return Err(bench_error("create-site", e));
    }
    if template.is_some() {
        // The dump has no Administrator password (template build removes it), and
        // new-site sets none for a site whose dump already has frappe installed.
        let db = state.db.as_mut().expect("connected in preflight");
        return admin.write(db, &t.db_name).await;
    }
    Ok(admin_password)
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
