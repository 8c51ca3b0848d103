//! `provision --dry-run`: the plan a provision would carry out here and now — the same
//! `plan` the run builds — printed instead of carried out. It looks at the site's lock
//! without taking it. Nothing is written: no lock, no registry row (not even the registry's
//! schema), no bench id, no folder, no database. A sign-up the real run would refuse before
//! touching anything is refused the same way, by the same code.

use tokio::time::Instant;

use super::plan::{plan, setup_locale, Route};
use super::Config;
use crate::error::{Code, Error};
use crate::lifecycle::claim::standby_problem;
use crate::output::{round2, Failure, ProvisionPlan};
use crate::signup::{SignupRequest, Tenant};
use frappe_password::PasswordPolicy;

pub async fn dry_run(cfg: &Config, request: SignupRequest) -> Result<ProvisionPlan, Failure> {
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let naive_site = format!("{}.{}", request.subdomain, cfg.ctx.site_domain);
    let refused = |e: Error, site: &str| Failure::from(&e.for_site(site));
    let t = request
        .validate(&cfg.ctx.site_domain)
        .map_err(|e| refused(e.into(), &naive_site))?;
    // As in a real run: Frappe's default policy first, and an input error wins over any
    // other; the bench's own policy once its facts are read (in `plan`).
    let early = t
        .check_password_strength(&PasswordPolicy::default())
        .map_err(Error::from);
    let looked = look(cfg, &t, deadline).await;
    let (plan, mut warnings) = match (early, looked) {
        (Err(e), _) | (Ok(()), Err(e)) => return Err(refused(e, &t.site)),
        (Ok(()), Ok(found)) => found,
    };
    let (standby_site, db_name) = match &plan.route {
        Route::Pool { oldest: Some(row) } => (Some(row.site.clone()), Some(row.db_name.clone())),
        Route::Claimed(c) => (Some(c.standby.clone()), Some(c.row.db_name.clone())),
        _ => (None, None),
    };
    warnings.extend(plan.warnings.iter().cloned());
    Ok(ProvisionPlan {
        success: true,
        dry_run: true,
        site: t.site.clone(),
        db_name,
        path: plan.route.path(),
        standby_site,
        apps: plan.apps.clone(),
        steps: plan.steps(cfg, &t),
        password_policy: plan.policy,
        setup: plan
            .locale
            .as_ref()
            .map(|l| l.report(plan.company.as_ref(), None)),
        warnings,
        elapsed: round2(started.elapsed().as_secs_f64()),
    })
}

/// The plan, read without the site's lock (a run holding it is `SITE_BUSY`), and what a
/// dry run can say beyond it: whether the standby a claim would take is whole.
async fn look(
    cfg: &Config,
    t: &Tenant,
    deadline: Instant,
) -> Result<(super::plan::Plan, Vec<String>), Error> {
    let ctx = &cfg.ctx;
    let locale = setup_locale(cfg, t, deadline).await?;
    let mut db = ctx.control.connect().await?;
    if !db.site_lock_is_free(&t.site).await? {
        return Err(Error::new(
            Code::SiteBusy,
            format!("another run is working on {}", t.site),
        ));
    }
    let plan = plan(cfg, t, &mut db, None, locale, deadline).await?;
    let mut warnings = vec![];
    if let Route::Pool { oldest: Some(row) } = &plan.route {
        if let Some(p) = standby_problem(ctx, &mut db, &row.site, &row.db_name, deadline).await {
            warnings.push(format!(
                "the oldest standby {} is broken ({p}); a claim would step over it",
                row.site
            ));
        }
    }
    Ok((plan, warnings))
}
