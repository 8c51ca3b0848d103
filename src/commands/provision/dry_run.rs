//! `provision --dry-run`: what a provision would do here and now, found by reading only.
//! It validates the request (the password's strength included), looks at the site's
//! lock without taking it, at the folder and database, at the pool without claiming, at
//! the template and the bench's apps, and prints the plan. Nothing is written: no lock,
//! no registry row (not even the registry's schema), no bench id, no folder, no database.
//! A sign-up the real run would refuse before touching anything is refused the same way.

use tokio::time::Instant;

use super::Config;
use crate::error::Code;
use crate::lifecycle::apps::wanted_apps;
use crate::lifecycle::claim::standby_problem;
use crate::lifecycle::template::{self, sign_up_policy};
use crate::output::{round2, Failure, PlannedStep, ProvisionPlan};
use crate::outside::mariadb::registry::SitePath;
use crate::signup::SignupRequest;
use frappe_password::PasswordPolicy;

pub async fn dry_run(cfg: &Config, request: SignupRequest) -> Result<ProvisionPlan, Failure> {
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let ctx = &cfg.ctx;
    let naive_site = format!("{}.{}", request.subdomain, ctx.site_domain);
    let refuse =
        |code: Code, error: String, site: &str| Failure::untouched(code, error, site.to_string());
    let t = match request.validate(&ctx.site_domain) {
        Ok(t) => t,
        Err(e) => {
            return Err(refuse(
                Code::InvalidInput,
                format!("invalid input: {e}"),
                &naive_site,
            ))
        }
    };
    // As in a real run: Frappe's default policy first (an input error wins over any other),
    // the bench's own once its facts are read.
    let early = t.check_password_strength(&PasswordPolicy::default());
    let invalid = |e: crate::signup::InvalidInput, site: &str| {
        refuse(Code::InvalidInput, format!("invalid input: {e}"), site)
    };
    let site = t.site.as_str();
    let unavailable = |e: String| Failure::untouched(Code::DbUnavailable, e, site.to_string());
    let bench_failed = |e: String| Failure::untouched(Code::BenchFailed, e, site.to_string());
    let mut db = match ctx.db.connect().await {
        Ok(db) => db,
        Err(e) => {
            return Err(early
                .err()
                .map_or_else(|| unavailable(e.to_string()), |e| invalid(e, site)))
        }
    };
    if !db
        .site_lock_is_free(site)
        .await
        .map_err(|e| unavailable(e.to_string()))?
    {
        return Err(refuse(
            Code::SiteBusy,
            format!("another run is working on {site}"),
            site,
        ));
    }
    let facts = match ctx.bench.facts(deadline).await {
        Ok(f) => f,
        Err(e) => {
            return Err(early
                .err()
                .map_or_else(|| bench_failed(e.to_string()), |e| invalid(e, site)))
        }
    };
    let password_policy = sign_up_policy(&facts);
    let verdict = if password_policy == PasswordPolicy::default() {
        early
    } else {
        t.check_password_strength(&password_policy)
    };
    if let Err(e) = verdict {
        return Err(invalid(e, site));
    }
    if ctx
        .bench
        .site_dir_exists(site, deadline)
        .await
        .map_err(|e| bench_failed(e.to_string()))?
    {
        return Err(refuse(
            Code::SiteExists,
            format!("site {site} already exists"),
            site,
        ));
    }
    let mut warnings = vec![];
    let (wanted, missing) = wanted_apps(&cfg.install_apps, &facts.apps);
    for app in missing {
        warnings.push(format!(
            "app {app} is not available on this bench; not installed"
        ));
    }
    // The pool, as a claim would find it: only with a registry and a bench id already there.
    let mut standby = None;
    let registry_exists = db
        .database_exists(ctx.registry.name())
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if let (true, Some(bench_id)) = (registry_exists, &facts.bench_id) {
        if let Some(row) = ctx
            .registry
            .live_row(&mut db, bench_id, site)
            .await
            .map_err(|e| unavailable(e.to_string()))?
        {
            return Err(refuse(Code::SiteExists, super::live_row_exists(&row), site));
        }
    }
    if let (true, true, Some(bench_id)) = (cfg.use_pool, registry_exists, &facts.bench_id) {
        match ctx.registry.oldest_standby(&mut db, bench_id).await {
            Ok(Some(row)) => {
                let name = row.site.clone();
                match standby_problem(ctx, &mut db, &name, &row.db_name, deadline).await {
                    None => standby = Some(row),
                    Some(p) => warnings.push(format!(
                        "the oldest standby {name} is broken ({p}); a claim would step over it"
                    )),
                }
            }
            Ok(None) => {}
            // The plan would be wrong without saying so; a real run would fail the same way.
            Err(e) => warnings.push(format!("the pool could not be read: {e}")),
        }
    }
    let template = if standby.is_none() && cfg.use_template {
        match template::check(&ctx.bench, &facts, &wanted, deadline).await {
            Ok(Ok(meta)) => Some(meta),
            Ok(Err(why)) => {
                warnings.push(format!("template not used: {why}"));
                None
            }
            Err(e) => {
                warnings.push(format!("template not checked: {e}"));
                None
            }
        }
    } else {
        None
    };
    let (path, db_name, create, to_install) = match (&standby, &template) {
        (Some(row), _) => (
            SitePath::Pool,
            Some(row.db_name.clone()),
            format!(
                "claim standby {} from the pool and rename it to {site}",
                row.site
            ),
            vec![],
        ),
        (None, Some(meta)) => (
            SitePath::Template,
            None,
            format!("bench new-site {site} --source-sql {}", meta.sql),
            vec![],
        ),
        (None, None) => (
            SitePath::Fresh,
            None,
            format!("bench new-site {site} --db-name ft_<16 random hex digits, drawn by the run>"),
            wanted.iter().skip(1).cloned().collect::<Vec<_>>(),
        ),
    };
    let install = if to_install.is_empty() {
        "nothing: the site has every app".to_string()
    } else {
        to_install
            .iter()
            .map(|a| format!("bench --site {site} install-app {a}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let plan = &cfg.plan;
    let steps = vec![
        PlannedStep {
            n: 1,
            step: "create-site",
            does: create,
        },
        PlannedStep {
            n: 2,
            step: "install-apps",
            does: install,
        },
        PlannedStep {
            n: 3,
            step: "create-user",
            does: format!(
                "POST /api/resource/User {} (System User, System Manager, API key and secret)",
                t.email
            ),
        },
        PlannedStep {
            n: 4,
            step: "subscription",
            does: format!(
                "PUT /api/resource/SaaS Settings/SaaS Settings (plan {}: {} users, {} GB)",
                plan.name, plan.max_users, plan.max_storage_gb
            ),
        },
        PlannedStep {
            n: 5,
            step: "api-keys",
            does: "GET /api/method/frappe.auth.get_logged_user with the new keys".into(),
        },
    ];
    Ok(ProvisionPlan {
        success: true,
        dry_run: true,
        site: site.to_string(),
        db_name,
        path,
        standby_site: standby.map(|r| r.site),
        apps: wanted,
        steps,
        password_policy,
        warnings,
        elapsed: round2(started.elapsed().as_secs_f64()),
    })
}
