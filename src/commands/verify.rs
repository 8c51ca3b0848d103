//! `verify`: one tenant checked end to end, a named check per line: its folder and
//! config (through the executor), its database, Frappe schema and DB user, its admin
//! user, role, API key and stored secret, plan and apps (from the site database), HTTP
//! with its Host header, and, given the keys, an authenticated REST call.

use std::time::Duration;

use tokio::time::Instant;

use crate::basics::secret::Secret;
use crate::cli::VerifyArgs;
use crate::context::{install_apps, Context, SaasPlan};
use crate::error::Error;
use crate::lifecycle::apps::wanted_apps;
use crate::output::{round2, Check, Output, VerifyReport};
use crate::outside::bench::{truthy, SiteConfig};
use crate::outside::frappe::Frappe;
use crate::outside::mariadb::registry::{Row, Status};
use crate::outside::mariadb::Db;
use crate::signup::validate_email;

pub struct Options {
    pub site: String,
    pub email: Option<String>,
    pub api_key: Option<(String, Secret)>,
    pub plan: SaasPlan,
    pub install_apps: Vec<String>,
    pub timeout: Duration,
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: &'static str, ok: bool, detail: impl Into<String>) -> bool {
        self.0.push(Check {
            name,
            ok,
            detail: detail.into(),
        });
        ok
    }
}

/// Runs every check; `Err` only when the checks cannot run at all (MariaDB unreachable).
pub async fn verify(ctx: &Context, opts: &Options) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let site = opts.site.as_str();
    let mut dbs = ctx.connect().await?;
    let mut c = Checks(vec![]);

    let facts = ctx.bench.facts(deadline).await.ok();
    let config = folder_check(&mut c, ctx, site, deadline).await;
    let db_name = config.as_ref().and_then(|c| c.db_name.clone());
    // The registry's view, when there is a registry and it knows this bench.
    let registry = match facts.as_ref().and_then(|f| f.bench_id.clone()) {
        Some(bench_id) if ctx.registry.upgrade(dbs.control()).await.unwrap_or(false) => ctx
            .registry
            .row_of_site(dbs.control(), &bench_id, site, db_name.as_deref())
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    let db = dbs.sites();
    let schema_ok = match &db_name {
        Some(d) => database_checks(&mut c, db, d).await,
        None => c.add("database", false, "not checked: no database name"),
    };
    let suspended = registry
        .as_ref()
        .is_some_and(|r| r.status == Status::Suspended);
    if let Some(cfg) = &config {
        suspended_check(&mut c, cfg, suspended);
    }
    let frappe = Frappe::new(&ctx.frappe_url, site);
    http_check(&mut c, &frappe, &ctx.frappe_url, site, suspended).await;
    let email = match (schema_ok, &db_name) {
        (true, Some(d)) => {
            let email = tenant_checks(&mut c, db, d, registry.as_ref(), opts).await;
            let apps = facts.as_ref().map(|f| f.apps.as_slice());
            plan_and_apps(&mut c, db, d, opts, apps).await;
            let organization = registry.as_ref().and_then(|r| r.organization.as_deref());
            setup_checks(&mut c, db, d, organization).await;
            email
        }
        _ => {
            let why = "not checked: the site database is missing or not a Frappe schema";
            c.add("user", false, why);
            None
        }
    };
    if let Some((key, secret)) = &opts.api_key {
        match frappe.whoami_with_token(key, secret).await {
            Ok(who) => c.add(
                "token-auth",
                Some(&who) == email.as_ref(),
                format!("the API key and secret authenticate as {who}"),
            ),
            Err(e) => c.add("token-auth", false, e.to_string()),
        };
    }
    if let Some(row) = &registry {
        registry_check(&mut c, row);
    }
    Ok(VerifyReport {
        success: c.0.iter().all(|k| k.ok),
        site: site.to_string(),
        db_name,
        email,
        checks: c.0,
        registry: registry.as_ref().map(Into::into),
        elapsed: round2(started.elapsed().as_secs_f64()),
    })
}

/// http: the site answers ping with its Host header, or, suspended, Frappe's 503
/// SessionStopped (maintenance mode) and nothing else.
async fn http_check(c: &mut Checks, frappe: &Frappe, url: &str, site: &str, suspended: bool) {
    match (frappe.ping().await, suspended) {
        (Ok(()), false) => c.add(
            "http",
            true,
            format!("{url} answers ping with Host: {site}"),
        ),
        (Ok(()), true) => c.add(
            "http",
            false,
            "suspended, yet Frappe answers ping: the site still serves",
        ),
        (Err(e), true) if e.exc_type() == Some("SessionStopped") => c.add(
            "http",
            true,
            format!("suspended: Frappe answers 503 SessionStopped with Host: {site}"),
        ),
        (Err(e), _) => c.add("http", false, e.to_string()),
    };
}

/// suspended: a tenant the registry says is suspended is in maintenance mode without
/// reads and its scheduler paused; one it says is active is not in maintenance mode.
/// Only when either side says suspended.
fn suspended_check(c: &mut Checks, cfg: &SiteConfig, registry_suspended: bool) {
    let maintenance = truthy(cfg.maintenance_mode.as_ref());
    let reads = truthy(cfg.allow_reads_during_maintenance.as_ref());
    let paused = truthy(cfg.pause_scheduler.as_ref());
    if !registry_suspended && !maintenance {
        return;
    }
    let state = format!(
        "maintenance_mode {}, allow_reads_during_maintenance {}, pause_scheduler {}",
        yes(maintenance),
        yes(reads),
        yes(paused)
    );
    match registry_suspended {
        true => c.add(
            "suspended",
            maintenance && !reads && paused,
            format!("registry says suspended; site_config.json: {state}"),
        ),
        false => c.add(
            "suspended",
            false,
            format!(
                "registry does not say suspended, but the site is in maintenance mode ({state})"
            ),
        ),
    };
}

fn yes(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// site-folder; returns its config.
async fn folder_check(
    c: &mut Checks,
    ctx: &Context,
    site: &str,
    deadline: Instant,
) -> Option<SiteConfig> {
    match ctx.bench.site_config(site, deadline).await {
        Ok(Some(cfg)) => {
            let detail = match &cfg.db_name {
                Some(d) => format!("sites/{site}/site_config.json names database {d}"),
                None => format!("sites/{site}/site_config.json has no db_name"),
            };
            c.add("site-folder", cfg.db_name.is_some(), detail);
            Some(cfg)
        }
        Ok(None) => {
            let folder = ctx
                .bench
                .site_dir_exists(site, deadline)
                .await
                .unwrap_or(false);
            let detail = match folder {
                true => format!("sites/{site} has no site_config.json"),
                false => format!("no folder sites/{site}"),
            };
            c.add("site-folder", false, detail);
            None
        }
        Err(e) => {
            c.add("site-folder", false, e.to_string());
            None
        }
    }
}

/// user and its checks, for the user `--email` names, else the registry's, else the
/// site's first System Manager; returns that user's email when there is one.
async fn tenant_checks(
    c: &mut Checks,
    db: &mut Db,
    d: &str,
    registry: Option<&Row>,
    opts: &Options,
) -> Option<String> {
    let chosen = match (&opts.email, registry.and_then(|r| r.email.clone())) {
        (Some(e), _) => match validate_email(e) {
            Ok(e) => Ok((e, "given with --email")),
            Err(err) => Err(err.to_string()),
        },
        (None, Some(e)) => Ok((e, "the registry's")),
        (None, None) => match db.first_system_manager(d).await {
            Ok(Some(e)) => Ok((e, "the first System Manager other than Administrator")),
            Ok(None) => Err("no System Manager other than Administrator".to_string()),
            Err(err) => Err(err.to_string()),
        },
    };
    match chosen {
        Ok((e, how)) => {
            user_checks(c, db, d, &e, how, opts).await;
            Some(e)
        }
        Err(why) => {
            c.add("user", false, why);
            None
        }
    }
}

/// registry: the row that speaks for the site says active (or suspended, which the
/// `suspended` check looks at).
fn registry_check(c: &mut Checks, row: &Row) {
    let error = row
        .error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    c.add(
        "registry",
        matches!(row.status, Status::Active | Status::Suspended),
        format!(
            "status {} (step {}){error}",
            row.status.as_str(),
            row.step.as_deref().unwrap_or("-"),
        ),
    );
}

/// database, frappe-schema, db-user. Returns whether the schema is there to read.
async fn database_checks(c: &mut Checks, db: &mut Db, d: &str) -> bool {
    let exists = match db.database_exists(d).await {
        Ok(x) => c.add(
            "database",
            x,
            if x {
                format!("{d} exists")
            } else {
                format!("{d} does not exist")
            },
        ),
        Err(e) => c.add("database", false, e.to_string()),
    };
    let schema = if exists {
        match db.marker_tables(d).await {
            Ok(4) => c.add(
                "frappe-schema",
                true,
                "tabDocType, tabSingles, tabDefaultValue and __Auth exist",
            ),
            Ok(n) => c.add(
                "frappe-schema",
                false,
                format!("only {n} of Frappe's 4 marker tables exist"),
            ),
            Err(e) => c.add("frappe-schema", false, e.to_string()),
        }
    } else {
        c.add("frappe-schema", false, "not checked: no database")
    };
    match db.user_hosts(d).await {
        Ok(h) if !h.is_empty() => c.add("db-user", true, format!("{d}@{}", h.join(", "))),
        Ok(_) => c.add("db-user", false, format!("no DB user {d}")),
        Err(e) => c.add("db-user", false, e.to_string()),
    };
    schema
}

async fn user_checks(c: &mut Checks, db: &mut Db, d: &str, email: &str, how: &str, opts: &Options) {
    let user = match db.tenant_user(d, email).await {
        Ok(Some(u)) => {
            c.add("user", true, format!("{email} ({how}) exists"));
            u
        }
        Ok(None) => {
            c.add("user", false, format!("{email} ({how}) does not exist"));
            return;
        }
        Err(e) => {
            c.add("user", false, e.to_string());
            return;
        }
    };
    c.add(
        "user-enabled",
        user.enabled,
        if user.enabled { "enabled" } else { "disabled" },
    );
    c.add(
        "system-user",
        user.user_type == "System User",
        format!("user_type is {:?}", user.user_type),
    );
    c.add(
        "system-manager-role",
        user.system_manager,
        if user.system_manager {
            "has System Manager"
        } else {
            "lacks System Manager"
        },
    );
    match (&user.api_key, &opts.api_key) {
        (None, _) => c.add("api-key", false, "no api_key"),
        (Some(k), Some((given, _))) if k != given => c.add(
            "api-key",
            false,
            "the site's api_key differs from --api-key",
        ),
        (Some(_), _) => c.add("api-key", true, "api_key is set"),
    };
    match user.api_secret_encrypted {
        Some(true) => c.add(
            "api-secret",
            true,
            "an encrypted api_secret is stored in __Auth",
        ),
        Some(false) => c.add(
            "api-secret",
            false,
            "the api_secret in __Auth is not encrypted",
        ),
        None => c.add("api-secret", false, "no api_secret in __Auth"),
    };
}

/// setup-complete: the first login lands on the desk, not the setup wizard; with ERPNext,
/// company: the wizard made the tenant's company.
async fn setup_checks(c: &mut Checks, db: &mut Db, d: &str, organization: Option<&str>) {
    match db.setup_state(d).await {
        Ok(s) if s.complete => c.add(
            "setup-complete",
            true,
            format!(
                "System Settings: setup complete (country {}, time zone {}, language {})",
                s.country.as_deref().unwrap_or("-"),
                s.time_zone.as_deref().unwrap_or("-"),
                s.language.as_deref().unwrap_or("-")
            ),
        ),
        Ok(_) => c.add(
            "setup-complete",
            false,
            "System Settings: setup not complete, so the first login opens the setup wizard",
        ),
        Err(e) => c.add("setup-complete", false, e.to_string()),
    };
    let Some(org) = organization else { return };
    match db.company_exists(d, org).await {
        Ok(None) => {}
        Ok(Some(true)) => {
            c.add("company", true, format!("ERPNext company {org:?} exists"));
        }
        Ok(Some(false)) => {
            c.add("company", false, format!("ERPNext has no company {org:?}"));
        }
        Err(e) => {
            c.add("company", false, e.to_string());
        }
    }
}

async fn plan_and_apps(
    c: &mut Checks,
    db: &mut Db,
    d: &str,
    opts: &Options,
    available: Option<&[String]>,
) {
    match db.single_values(d, "SaaS Settings").await {
        Ok(None) => {
            c.add(
                "saas-settings",
                true,
                "the SaaS Settings DocType does not exist on this site: nothing to check",
            );
        }
        Ok(Some(v)) => {
            let get = |k: &str| v.get(k).cloned().unwrap_or_default();
            let num = |k: &str| get(k).parse::<f64>().ok();
            let ok = get("plan_name") == opts.plan.name
                && num("max_users") == Some(opts.plan.max_users as f64)
                && num("max_storage").is_some_and(|s| (s - opts.plan.max_storage_gb).abs() < 1e-9);
            c.add(
                "saas-settings",
                ok,
                format!(
                    "plan_name={:?} max_users={} max_storage={} (expected {:?}, {}, {})",
                    get("plan_name"),
                    get("max_users"),
                    get("max_storage"),
                    opts.plan.name,
                    opts.plan.max_users,
                    opts.plan.max_storage_gb
                ),
            );
        }
        Err(e) => {
            c.add("saas-settings", false, e.to_string());
        }
    }
    let (wanted, _) = wanted_apps(&opts.install_apps, available.unwrap_or(&opts.install_apps));
    match db.installed_apps(d).await {
        Ok(Some(installed)) => {
            let missing: Vec<&String> = wanted.iter().filter(|a| !installed.contains(a)).collect();
            c.add(
                "installed-apps",
                missing.is_empty(),
                if missing.is_empty() {
                    format!("installed: {}", installed.join(", "))
                } else {
                    format!("missing {missing:?}; installed: {}", installed.join(", "))
                },
            );
        }
        Ok(None) => {
            c.add("installed-apps", false, "no installed_apps default");
        }
        Err(e) => {
            c.add("installed-apps", false, e.to_string());
        }
    }
}

/// `verify <site>`.
pub async fn run(args: VerifyArgs) -> Result<Output, Error> {
    let ctx = Context::resolve(&args.conn)
        .await
        .map_err(|e| e.for_site(&args.site))?;
    let site = ctx
        .site_name(&args.site)
        .map_err(|e| Error::from(e).for_site(&args.site))?;
    let opts = Options {
        site: site.clone(),
        email: args.email,
        api_key: args.api_key.zip(args.api_secret),
        plan: SaasPlan::from_opts(&args.plan),
        install_apps: install_apps(&args.apps.install_apps),
        timeout: Duration::from_secs(args.timeout),
    };
    let report = verify(&ctx, &opts).await.map_err(|e| e.for_site(&site))?;
    for c in &report.checks {
        crate::progress::progress(&format!(
            "{} {:<20} {}",
            if c.ok { "✓" } else { "✗" },
            c.name,
            c.detail
        ));
    }
    Ok(Output::Verify(report))
}
