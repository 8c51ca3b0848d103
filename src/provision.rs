//! `provision`: one sign-up to one working tenant, in the five steps of the seed script.
//! Every step that creates something is undone, in reverse, if a later one fails; the
//! whole run has one deadline, and Ctrl-C / SIGTERM roll back like a failure.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::bench::{Bench, BenchError, CommonConfig, RootCredentials};
use crate::frappe::{ApiError, Frappe, NewUser, SettingsOutcome};
use crate::input::SignupRequest;
use crate::mariadb::{Db, DbTarget};
use crate::report::{Code, Failure, ProvisionSuccess, StepTiming, Undo};
use crate::secret::Secret;

/// The SaaS Settings single written in step 4.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub max_users: u32,
    pub max_storage_gb: f64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bench: Bench,
    pub frappe_url: String,
    pub site_domain: String,
    pub db: DbTarget,
    pub admin_password: Option<Secret>,
    pub install_apps: Vec<String>,
    pub timeout: Duration,
    pub plan: Plan,
}

/// Why a run stopped, before rollback decides what the exit code becomes.
#[derive(Debug)]
struct StepError {
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

/// How long the undo may take after the provisioning deadline has passed.
const ROLLBACK_GRACE: Duration = Duration::from_secs(90);

/// What this run has done so far: rollback reads it, and only it.
struct State {
    db: Option<Db>,
    /// Set just before `new-site` starts: a failed new-site leaves a folder, a database
    /// and a DB user behind, and only a run that started it may remove them.
    site_started: bool,
    /// new-site found the database already there: it is not ours, only the folder is.
    foreign_db: bool,
    /// common_site_config.json as read in preflight: which prompts bench will show.
    common: CommonConfig,
    warnings: Vec<String>,
    steps: Vec<StepTiming>,
}

pub async fn provision(cfg: &Config, request: SignupRequest) -> Result<ProvisionSuccess, Failure> {
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let naive_site = format!("{}.{}", request.subdomain, cfg.site_domain);
    let tenant = match request.validate(&cfg.site_domain) {
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
        site_started: false,
        foreign_db: false,
        common: CommonConfig::default(),
        warnings: vec![],
        steps: vec![],
    };
    let api_secret = Secret::random(40);
    let api_key = Secret::random(20).expose().to_ascii_lowercase();

    let outcome = tokio::select! {
        r = run_steps(cfg, &tenant, &api_key, &api_secret, &mut state, deadline) => r,
        _ = tokio::time::sleep_until(deadline) => Err(StepError {
            code: Code::Timeout, step: None,
            message: format!("provisioning did not finish within {}s", cfg.timeout.as_secs()),
        }),
        sig = shutdown_signal() => Err(StepError { code: Code::Interrupted, step: None, message: format!("interrupted by {sig}") }),
    };
    let elapsed = round2(started.elapsed().as_secs_f64());
    match outcome {
        Ok(()) => {
            progress(&format!("\n✅ Provisioning completed in {elapsed:.2}s"));
            Ok(ProvisionSuccess {
                success: true,
                url: site_url(&cfg.frappe_url, &tenant.site),
                site: tenant.site,
                email: tenant.email,
                api_key,
                api_secret: api_secret.expose().to_owned(),
                organization_name: tenant.organization_name,
                elapsed,
                db_name: tenant.db_name,
                warnings: state.warnings,
                steps: state.steps,
            })
        }
        Err(e) => {
            progress(&format!("✗ {}", e.message));
            let rollback = if state.site_started {
                rollback(cfg, &tenant.site, &tenant.db_name, &mut state).await
            } else {
                vec![]
            };
            Err(Failure {
                success: false,
                error: e.message,
                site: tenant.site,
                code: e.code,
                step: e.step,
                rollback,
                warnings: state.warnings,
                elapsed: round2(started.elapsed().as_secs_f64()),
            })
        }
    }
}

async fn run_steps(
    cfg: &Config,
    t: &crate::input::Tenant,
    api_key: &str,
    api_secret: &Secret,
    state: &mut State,
    deadline: Instant,
) -> Result<(), StepError> {
    // Preflight: nothing is created until the site is known to be free and ours to make.
    let mut db = cfg
        .db
        .connect()
        .await
        .map_err(|e| fail(Code::DbUnavailable, "preflight", e))?;
    if !db
        .try_lock_site(&t.db_name)
        .await
        .map_err(|e| fail(Code::DbUnavailable, "preflight", e))?
    {
        return Err(fail(
            Code::SiteBusy,
            "preflight",
            format!("another provision of {} is running", t.site),
        ));
    }
    state.db = Some(db);
    let db = state.db.as_mut().expect("just set");
    state.common = cfg
        .bench
        .common_config(deadline)
        .await
        .map_err(|e| bench_error("preflight", e))?;
    let common = &state.common;
    if cfg
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
        .map_err(|e| fail(Code::DbUnavailable, "preflight", e))?
    {
        return Err(fail(
            Code::SiteExists,
            "preflight",
            format!("database {} for site {} already exists without a site folder (an interrupted run?); run cleanup first", t.db_name, t.site),
        ));
    }
    let root = RootCredentials {
        user: cfg.db.user.clone(),
        password: cfg.db.password.clone(),
    };
    let admin_password = match (&common.admin_password, &cfg.admin_password) {
        (Some(p), _) => {
            state.warnings.push("common_site_config.json sets admin_password: the site's Administrator has that shared password".into());
            Secret::new(p.clone())
        }
        (None, Some(p)) => p.clone(),
        (None, None) => Secret::random(24),
    };

    let clock = Instant::now();
    progress(&format!("[1/5] Creating site: {}...", t.site));
    state.site_started = true;
    if let Err(e) = cfg
        .bench
        .new_site(
            &t.site,
            &t.db_name,
            &root,
            &admin_password,
            common,
            deadline,
        )
        .await
    {
        // Someone outside this tool (no lock) made the site or its database between our
        // check and new-site. Bench refused before creating anything: nothing there is ours.
        let text = e.to_string();
        if text.contains(&format!("Site {} already exists", t.site)) {
            state.site_started = false;
            return Err(fail(
                Code::SiteExists,
                "create-site",
                format!("site {} already exists", t.site),
            ));
        }
        if text.contains(&format!("Database {} already exists", t.db_name)) {
            state.foreign_db = true;
            return Err(fail(
                Code::SiteExists,
                "create-site",
                format!("database {} already exists", t.db_name),
            ));
        }
        return Err(bench_error("create-site", e));
    }
    progress("✓ Site created successfully");
    state.steps.push(timing("create-site", clock));

    let clock = Instant::now();
    progress(&format!(
        "[2/5] Installing apps: {}...",
        cfg.install_apps.join(", ")
    ));
    install_apps(cfg, &t.site, state, deadline).await?;
    state.steps.push(timing("install-apps", clock));

    let clock = Instant::now();
    progress(&format!("[3/5] Creating admin user: {}...", t.email));
    let frappe = Frappe::new(&cfg.frappe_url, &t.site);
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

async fn install_apps(
    cfg: &Config,
    site: &str,
    state: &mut State,
    deadline: Instant,
) -> Result<(), StepError> {
    if cfg.install_apps.is_empty() {
        return Ok(());
    }
    let available = cfg
        .bench
        .available_apps(deadline)
        .await
        .map_err(|e| bench_error("install-apps", e))?;
    for app in &cfg.install_apps {
        if !available.iter().any(|a| a == app) {
            progress(&format!(
                "⚠ App installation skipped: {app} is not in this bench's apps.txt"
            ));
            state.warnings.push(format!(
                "app {app} is not available on this bench; not installed"
            ));
            continue;
        }
        cfg.bench
            .install_app(site, app, deadline)
            .await
            .map_err(|e| bench_error("install-apps", e))?;
        progress(&format!("✓ {app} installed"));
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

/// Undoes, in reverse, what this run created: bench drop-site first, then MariaDB and the
/// folder for whatever bench could not remove. Never called unless this run started new-site
/// while holding the site lock, so everything at this site's names is ours.
async fn rollback(cfg: &Config, site: &str, db_name: &str, state: &mut State) -> Vec<Undo> {
    progress(&format!("↺ Rolling back {site}..."));
    let deadline = Instant::now() + ROLLBACK_GRACE;
    let mut undone = Vec::new();
    let mut record = |action: String, r: Result<(), String>| {
        progress(&format!(
            "{} {action}{}",
            if r.is_ok() { "  ✓" } else { "  ✗" },
            r.as_ref()
                .err()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
        undone.push(Undo {
            action,
            ok: r.is_ok(),
            detail: r.err(),
        });
    };
    let root = RootCredentials {
        user: cfg.db.user.clone(),
        password: cfg.db.password.clone(),
    };
    if state.foreign_db {
        let r = cfg
            .bench
            .remove_site_dir(site, deadline)
            .await
            .map_err(|e| e.to_string());
        record(format!("remove sites/{site}"), r);
        return undone;
    }
    let has_config = matches!(
        cfg.bench
            .read_sites_file(&format!("{site}/site_config.json"), deadline)
            .await,
        Ok(Some(_))
    );
    if has_config {
        let r = cfg
            .bench
            .drop_site(site, &root, &state.common, deadline)
            .await
            .map_err(|e| e.to_string());
        record(format!("bench drop-site {site}"), r);
    }
    if cfg
        .bench
        .site_dir_exists(site, deadline)
        .await
        .unwrap_or(true)
    {
        let r = cfg
            .bench
            .remove_site_dir(site, deadline)
            .await
            .map_err(|e| e.to_string());
        record(format!("remove sites/{site}"), r);
    }
    // MariaDB: drop what bench did not (the DB user and database of a half-made site).
    let db = match state.db.as_mut() {
        Some(db) => Ok(db),
        None => Err("no MariaDB connection".to_string()),
    };
    match db {
        Err(e) => record(format!("check database {db_name}"), Err(e)),
        Ok(db) => {
            match db.database_exists(db_name).await {
                Ok(false) => {}
                Ok(true) => {
                    let r = db.drop_database(db_name).await.map_err(|e| e.to_string());
                    record(format!("drop database {db_name}"), r);
                }
                Err(e) => record(format!("check database {db_name}"), Err(e.to_string())),
            }
            match db.user_hosts(db_name).await {
                Ok(hosts) => {
                    for host in hosts {
                        let r = db
                            .drop_user(db_name, &host)
                            .await
                            .map_err(|e| e.to_string());
                        record(format!("drop DB user {db_name}@{host}"), r);
                    }
                }
                Err(e) => record(format!("check DB user {db_name}"), Err(e.to_string())),
            }
        }
    }
    undone
}

/// `http://<site>:<port of FRAPPE_URL>`, as the seed reported it.
fn site_url(frappe_url: &str, site: &str) -> String {
    match url::Url::parse(frappe_url) {
        Ok(u) => match u.port() {
            Some(p) => format!("{}://{site}:{p}", u.scheme()),
            None => format!("{}://{site}", u.scheme()),
        },
        Err(_) => format!("http://{site}"),
    }
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

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Progress lines for people, on stderr; stdout carries only the JSON result.
fn progress(line: &str) {
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keeps_the_frappe_port() {
        assert_eq!(
            site_url("http://localhost:8080", "a.localhost"),
            "http://a.localhost:8080"
        );
        assert_eq!(
            site_url("https://erp.internal/", "a.example.com"),
            "https://a.example.com"
        );
    }
}
