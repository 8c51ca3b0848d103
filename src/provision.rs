//! `provision`: one sign-up to one working tenant, in the five steps of the seed script.
//! The site comes from the pool when a standby is ready, else from the template when it
//! matches the bench, else from a fresh `bench new-site`; the JSON's `path` says which.
//! Every step that creates something is undone, in reverse, if a later one fails; the
//! whole run has one deadline, and Ctrl-C / SIGTERM roll back like a failure. The
//! registry row says who the tenant is, how far the run got and how it ended.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::bench::{BenchError, BenchFacts};
use crate::context::Context;
use crate::frappe::{ApiError, Frappe, NewUser, SettingsOutcome};
use crate::input::{SignupRequest, Tenant};
use crate::mariadb::registry::{Claimant, NewRow, SitePath, Status};
use crate::mariadb::tenant::frappe_password_hash;
use crate::mariadb::Db;
use crate::pool;
use crate::report::{round2, Code, Failure, ProvisionSuccess, StepTiming, Undo};
use crate::secret::Secret;
use crate::template::{self, wanted_apps, TemplateMeta};
use crate::undo::{progress, remove_site, Steps};

/// The SaaS Settings single written in step 4.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub max_users: u32,
    pub max_storage_gb: f64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub ctx: Context,
    pub admin_password: Option<Secret>,
    pub install_apps: Vec<String>,
    pub timeout: Duration,
    pub plan: Plan,
    pub use_pool: bool,
    pub use_template: bool,
}

/// Why a run stopped, before rollback decides what the exit code becomes.
#[derive(Debug)]
pub(crate) struct StepError {
    code: Code,
    step: Option<&'static str>,
    message: String,
}

fn fail(code: Code, step: &'static str, message: impl ToString) -> StepError {
    StepError {
        code,
        step: Some(step),
        message: message.to_string(),
    }
}

fn bench_error(step: &'static str, e: BenchError) -> StepError {
    let code = if matches!(e, BenchError::TimedOut { .. }) {
        Code::Timeout
    } else {
        Code::BenchFailed
    };
    fail(code, step, e)
}

fn db_error(step: &'static str, e: impl ToString) -> StepError {
    fail(Code::DbUnavailable, step, e)
}

/// How long the undo may take after the provisioning deadline has passed.
const ROLLBACK_GRACE: Duration = Duration::from_secs(90);

/// What this run has made so far: rollback reads it, and only it.
enum Made {
    Nothing,
    /// new-site (fresh or from the template) was started under this run's site lock: a
    /// failed new-site leaves a folder, a database and a DB user, all this run's.
    NewSite,
    /// new-site found the database already there: it is not ours, only the folder is.
    FolderOnly,
    /// A standby was claimed for this tenant (its row is `row_id`) but its folder has
    /// not moved yet.
    Claimed,
    /// The claimed standby's folder now carries the tenant's name.
    Renamed,
}

struct State {
    db: Option<Db>,
    made: Made,
    /// The registry row of this tenant, once there is one.
    row_id: Option<u64>,
    path: Option<SitePath>,
    /// The site's database: the tenant's own name, or the standby's it came from.
    db_name: String,
    standby_site: Option<String>,
    facts: BenchFacts,
    warnings: Vec<String>,
    steps: Vec<StepTiming>,
}

pub async fn provision(cfg: &Config, request: SignupRequest) -> Result<ProvisionSuccess, Failure> {
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let naive_site = format!("{}.{}", request.subdomain, cfg.ctx.site_domain);
    let tenant = match request.validate(&cfg.ctx.site_domain) {
        Ok(t) => t,
        Err(e) => {
            progress(&format!("✗ Invalid input: {e}"));
            return Err(Failure::untouched(
                Code::InvalidInput,
                format!("invalid input: {e}"),
                naive_site,
            ));
        }
    };
    let mut state = State {
        db: None,
        made: Made::Nothing,
        row_id: None,
        path: None,
        db_name: tenant.db_name.clone(),
        standby_site: None,
        facts: BenchFacts::default(),
        warnings: vec![],
        steps: vec![],
    };
    let (api_key, api_secret) = new_api_credentials();

    let outcome = tokio::select! {
        r = run_steps(cfg, &tenant, &api_key, &api_secret, &mut state, deadline) => r,
        _ = tokio::time::sleep_until(deadline) => Err(StepError {
            code: Code::Timeout, step: None,
            message: format!("provisioning did not finish within {}s", cfg.timeout.as_secs()),
        }),
        sig = shutdown_signal() => Err(StepError { code: Code::Interrupted, step: None, message: format!("interrupted by {sig}") }),
    };
    let registry = &cfg.ctx.registry;
    match outcome {
        Ok(()) => {
            let path = state.path.unwrap_or(SitePath::Fresh);
            if let (Some(db), Some(id)) = (state.db.as_mut(), state.row_id) {
                if let Err(e) = registry.activate(db, id, path).await {
                    // The tenant works; a stale registry row is worth a warning, not a failure.
                    state
                        .warnings
                        .push(format!("the registry was not updated: {e}"));
                }
            }
            let elapsed = round2(started.elapsed().as_secs_f64());
            progress(&format!("\n✅ Provisioning completed in {elapsed:.2}s"));
            Ok(ProvisionSuccess {
                success: true,
                url: cfg.ctx.site_url(&tenant.site),
                site: tenant.site,
                email: tenant.email,
                api_key,
                api_secret: api_secret.expose().to_owned(),
                organization_name: tenant.organization_name,
                elapsed,
                waited: (crate::waits::waited().as_secs_f64() * 1e4).round() / 1e4,
                db_name: state.db_name,
                path,
                standby_site: state.standby_site,
                warnings: state.warnings,
                steps: state.steps,
            })
        }
        Err(e) => {
            progress(&format!("✗ {}", e.message));
            let rollback = rollback(cfg, &tenant.site, &mut state).await;
            let status = if rollback.iter().all(|u| u.ok) {
                Status::RolledBack
            } else {
                Status::Failed
            };
            // A claim undone before its rename went back to the pool: its row is a standby again.
            let row_is_ours = !matches!(state.made, Made::Claimed);
            if let (Some(db), Some(id), true) = (state.db.as_mut(), state.row_id, row_is_ours) {
                if let Err(err) = registry.finish(db, id, status, Some(&e.message)).await {
                    state
                        .warnings
                        .push(format!("the registry was not updated: {err}"));
                }
            }
            Err(Failure {
                success: false,
                error: e.message,
                site: tenant.site,
                code: e.code,
                step: e.step,
                rollback,
                warnings: state.warnings,
                elapsed: round2(started.elapsed().as_secs_f64()),
                path: state.path,
            })
        }
    }
}

async fn run_steps(
    cfg: &Config,
    t: &Tenant,
    api_key: &str,
    api_secret: &Secret,
    state: &mut State,
    deadline: Instant,
) -> Result<(), StepError> {
    let ctx = &cfg.ctx;
    // The password verdict costs ~8 ms of CPU the first time (word lists): it runs on its own
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

    let clock = Instant::now();
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
    let claim = if cfg.use_pool {
        pool::claim(ctx, db, &bench_id, &claimant, deadline)
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
                match template::check(&ctx.bench, &state.facts, &wanted, deadline).await {
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
            new_site(ctx, t, &bench_id, template.as_ref(), admin, state, deadline).await?
        }
    };
    progress("✓ Site created successfully");
    state.steps.push(timing("create-site", clock));
    let db = state.db.as_mut().expect("connected in preflight");
    let row_id = state.row_id.expect("a site being made has a registry row");

    let clock = Instant::now();
    progress(&format!(
        "[2/5] Installing apps: {}...",
        cfg.install_apps.join(", ")
    ));
    ctx.registry
        .set_step(db, row_id, "install-apps")
        .await
        .map_err(|e| db_error("install-apps", e))?;
    install_missing_apps(ctx, db, &t.site, &state.db_name, &wanted, deadline).await?;
    state.steps.push(timing("install-apps", clock));

    let clock = Instant::now();
    progress(&format!("[3/5] Creating admin user: {}...", t.email));
    ctx.registry
        .set_step(db, row_id, "user")
        .await
        .map_err(|e| db_error("create-user", e))?;
    let frappe = Frappe::new(&ctx.frappe_url, &t.site);
    let session = frappe
        .login("Administrator", &admin_password)
        .await
        .map_err(|e| login_error(e, &t.site))?;
    progress("[4/5] Initializing subscription settings...");
    let user = NewUser {
        email: &t.email,
        first_name: &t.first_name,
        last_name: &t.last_name,
        password: &t.password,
        api_key,
        api_secret,
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
    state.steps.push(timing("user-and-subscription", clock));

    let clock = Instant::now();
    progress("[5/5] Verifying API keys...");
    ctx.registry
        .set_step(db, row_id, "api-keys")
        .await
        .map_err(|e| db_error("api-keys", e))?;
    let who = frappe
        .whoami_with_token(api_key, api_secret)
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
    state.steps.push(timing("api-keys", clock));
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
    let ctx = &cfg.ctx;
    let mut db = ctx
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
    claim: pool::Claim,
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

/// A site's Administrator password, with its Frappe hash being made on another thread.
struct SitePassword {
    password: Secret,
    hash: tokio::task::JoinHandle<String>,
}

impl SitePassword {
    fn new(password: Secret) -> Self {
        let p = password.clone();
        let hash = tokio::task::spawn_blocking(move || frappe_password_hash(&p, rand::random()));
        SitePassword { password, hash }
    }

    /// Writes the hash into the site's `__Auth`; returns the password it is for.
    async fn write(self, db: &mut Db, db_name: &str) -> Result<Secret, StepError> {
        let hash = self
            .hash
            .await
            .map_err(|e| fail(Code::DbUnavailable, "create-site", e))?;
        db.set_administrator_hash(db_name, &hash)
            .await
            .map_err(|e| db_error("create-site", e))?;
        Ok(self.password)
    }
}

/// Step 2: installs each wanted app the site does not have yet. A fresh site has only
/// frappe; a template or standby site already has them all, and bench never starts.
pub(crate) async fn install_missing_apps(
    ctx: &Context,
    db: &mut Db,
    site: &str,
    db_name: &str,
    wanted: &[String],
    deadline: Instant,
) -> Result<(), StepError> {
    if wanted.len() <= 1 {
        return Ok(());
    }
    let installed = db
        .installed_apps(db_name)
        .await
        .map_err(|e| db_error("install-apps", e))?
        .unwrap_or_default();
    for app in wanted.iter().filter(|a| !installed.contains(a)) {
        ctx.bench
            .install_app(site, app, deadline)
            .await
            .map_err(|e| bench_error("install-apps", e))?;
        progress(&format!("✓ {app} installed"));
    }
    Ok(())
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
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

/// Undoes, in reverse, what this run made. Never touches anything unless this run made
/// it under the site lock, so everything at this site's names is ours.
async fn rollback(cfg: &Config, site: &str, state: &mut State) -> Vec<Undo> {
    let ctx = &cfg.ctx;
    if matches!(state.made, Made::Nothing) {
        return vec![];
    }
    progress(&format!("↺ Rolling back {site}..."));
    let deadline = Instant::now() + ROLLBACK_GRACE;
    let Some(db) = state.db.as_mut() else {
        return vec![Undo {
            action: format!("roll back {site}"),
            ok: false,
            detail: Some("no MariaDB connection".into()),
        }];
    };
    let mut steps = Steps::default();
    match state.made {
        Made::Nothing => {}
        Made::FolderOnly => {
            let r = ctx
                .bench
                .remove_site_dir(site, deadline)
                .await
                .map_err(|e| e.to_string());
            steps.record(format!("remove sites/{site}"), r);
        }
        Made::Claimed => {
            let standby = state.standby_site.clone().unwrap_or_default();
            let row_id = state.row_id.expect("a claim sets the row");
            let r = ctx
                .registry
                .unclaim(db, row_id, Status::Standby, None)
                .await
                .map_err(|e| e.to_string());
            steps.record(format!("return standby {standby} to the pool"), r);
        }
        Made::NewSite | Made::Renamed => {
            steps.0 = remove_site(
                ctx,
                db,
                &state.facts.common,
                site,
                &state.db_name,
                &BTreeSet::new(),
                deadline,
            )
            .await;
        }
    }
    steps.0
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn timing(step: &'static str, since: Instant) -> StepTiming {
    StepTiming {
        step,
        seconds: round2(since.elapsed().as_secs_f64()),
    }
}

/// The tenant's API key and secret. Frappe's own (`generate_keys`) are 15 hex digits
/// each; these are longer and alphanumeric, which Frappe takes as they are: a Data field
/// and a Password field of up to 140 characters, read back from `Authorization: token
/// key:secret` by splitting at the space and the ':' (frappe/auth.py
/// `validate_auth_via_api_keys`), so neither may hold a space or a ':'.
pub fn new_api_credentials() -> (String, Secret) {
    let api_key = Secret::random(20).expose().to_ascii_lowercase();
    (api_key, Secret::random(40))
}
