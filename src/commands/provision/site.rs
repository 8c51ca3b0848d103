//! Step 1, making the site the plan chose: a standby claimed from the pool and renamed, or
//! `bench new-site`, restored from the template's dump or fresh; with the site's own
//! Administrator password either way. What it makes goes into `Run::made` the moment it
//! exists, before the long part, so a run stopped midway still undoes it.

use tokio::time::Instant;

use super::plan::{without_pool, Plan, Route};
use super::site_password::SitePassword;
use super::{Made, Run};
use crate::basics::secret::Secret;
use crate::error::{Code, Error};
use crate::lifecycle::claim::{claim, Claim};
use crate::lifecycle::removal::lost_lock;
use crate::output::TemplateMeta;
use crate::outside::bench::{run_tag, BenchError};
use crate::outside::mariadb::registry::{Claimant, NewRow, SitePath, Status};
use crate::outside::mariadb::{new_db_name, DbError};
use crate::progress::progress;
use crate::signup::Tenant;
use frappe_password::policy_from_system_settings;

fn at(e: impl Into<Error>) -> Error {
    e.into().at("create-site")
}

/// Step 1: the site, by the plan's route, with an Administrator password of its own
/// that the run forgets (its REST steps authenticate with a key lent for them).
pub(super) async fn create_site(
    run: &mut Run,
    t: &Tenant,
    plan: &Plan,
    bench_id: &str,
    deadline: Instant,
) -> Result<(), Error> {
    run.go_on("create-site")?;
    // The site's Administrator password. For pool and template sites the tool writes its
    // hash itself; pbkdf2 takes a few ms of CPU, spent on another thread meanwhile.
    let admin = SitePassword::new(
        run.cfg
            .admin_password
            .clone()
            .unwrap_or_else(|| Secret::random(24)),
    );
    match &plan.route {
        Route::Claimed(c) => take_standby(run, t, c, plan, admin, deadline).await?,
        Route::Pool { .. } => match claim_one(run, t, bench_id, deadline).await? {
            Some(c) => take_standby(run, t, &c, plan, admin, deadline).await?,
            None => {
                // The pool emptied since the plan was made: what the plan would have
                // chosen without it.
                let mut warnings = vec![];
                let cfg = run.cfg.clone();
                let route =
                    without_pool(&cfg, &plan.facts, &plan.apps, &mut warnings, deadline).await;
                run.warnings.extend(warnings);
                let template = match &route {
                    Route::Template(meta) => Some(meta),
                    _ => None,
                };
                new_site(run, t, plan, bench_id, template, admin, deadline).await?
            }
        },
        Route::Template(meta) => {
            new_site(run, t, plan, bench_id, Some(meta), admin, deadline).await?
        }
        Route::Fresh => new_site(run, t, plan, bench_id, None, admin, deadline).await?,
    };
    progress("✓ Site created successfully");
    Ok(())
}

/// The oldest whole standby of this bench, claimed for the tenant (`None`: the pool is
/// empty now).
async fn claim_one(
    run: &mut Run,
    t: &Tenant,
    bench_id: &str,
    deadline: Instant,
) -> Result<Option<Claim>, Error> {
    let claimant = Claimant {
        site: &t.site,
        subdomain: &t.subdomain,
        organization: &t.organization_name,
        email: &t.email,
    };
    let ctx = run.cfg.ctx.clone();
    let claimed = claim(&[(bench_id, &ctx)], run.db(), &claimant, deadline)
        .await
        .map_err(|e| Error::new(Code::DbUnavailable, e).at("create-site"))?;
    if let Some(c) = &claimed {
        run.made = Some(Made::Claimed {
            row_id: c.row.id,
            standby: c.standby.clone(),
            db_name: c.row.db_name.clone(),
        });
    }
    Ok(claimed)
}

/// From the pool: the claimed standby's folder takes the tenant's name, and the site gets
/// its own Administrator password.
async fn take_standby(
    run: &mut Run,
    t: &Tenant,
    claim: &Claim,
    plan: &Plan,
    admin: SitePassword,
    deadline: Instant,
) -> Result<(), Error> {
    progress(&format!(
        "[1/6] Creating site: {} (standby {} from the pool)...",
        t.site, claim.standby
    ));
    let db_name = claim.row.db_name.clone();
    // A standby's System Settings could have been changed since it was made: its own
    // policy decides, before its folder moves (a refusal returns it to the pool).
    let own = run
        .sites()
        .system_settings(&db_name)
        .await
        .map_err(at)?
        .map(|v| policy_from_system_settings(&v))
        .unwrap_or_default();
    if own != plan.policy {
        t.check_password_strength(&own).map_err(|e| {
            progress(&format!(
                "✗ Invalid input under standby {}'s policy: {e}",
                claim.standby
            ));
            Error::from(e).at("create-site")
        })?;
    }
    // The rename makes the standby the tenant: only under both locks, still held.
    for site in [&claim.standby, &t.site] {
        if !run.db().holds_site_lock(site).await {
            return Err(Error::new(Code::DbUnavailable, lost_lock(site)).at("create-site"));
        }
    }
    let bench = run.cfg.ctx.bench.clone();
    bench
        .rename_site(&claim.standby, &t.site, deadline)
        .await
        .map_err(at)?;
    run.made = Some(Made::Renamed {
        row_id: claim.row.id,
        standby: claim.standby.clone(),
        db_name: db_name.clone(),
    });
    let registry = run.cfg.ctx.registry.clone();
    registry
        .set_step(run.db(), claim.row.id, "renamed")
        .await
        .map_err(at)?;
    admin.write(run.sites(), &db_name).await
}

/// `bench new-site`, from the template's dump when there is one. The database's name is
/// drawn for this attempt and registered before new-site starts.
async fn new_site(
    run: &mut Run,
    t: &Tenant,
    plan: &Plan,
    bench_id: &str,
    template: Option<&TemplateMeta>,
    admin: SitePassword,
    deadline: Instant,
) -> Result<(), Error> {
    let path = if template.is_some() {
        SitePath::Template
    } else {
        SitePath::Fresh
    };
    progress(&format!(
        "[1/6] Creating site: {}{}...",
        t.site,
        if template.is_some() {
            " (from the template)"
        } else {
            ""
        }
    ));
    run.path = Some(path);
    let common = plan.facts.common.clone();
    // Frappe uses common_site_config.json's admin_password when it is set, and only on
    // a fresh site; a template site always gets the tool's own.
    let admin_password = match (&common.admin_password, template) {
        (Some(p), None) => {
            run.warnings.push("common_site_config.json sets admin_password: the site's Administrator has that shared password".into());
            Secret::new(p.clone())
        }
        _ => admin.password.clone(),
    };
    let db_name = new_db_name();
    let row_id = register(run, t, bench_id, &db_name, path).await?;
    run.made = Some(Made::NewSite {
        row_id,
        db_name: db_name.clone(),
        path,
    });
    let ctx = run.cfg.ctx.clone();
    let sql = template.map(|m| m.sql.as_str());
    let made = ctx
        .bench
        .new_site(
            &t.site,
            &db_name,
            &ctx.root(),
            &admin_password,
            &common,
            sql,
            deadline,
        )
        .await;
    if let Err(e) = made {
        return Err(not_made(run, t, row_id, e).await);
    }
    if template.is_some() {
        // The dump has no Administrator password (template build removes it), and
        // new-site sets none for a site whose dump already has frappe installed.
        return admin.write(run.sites(), &db_name).await;
    }
    Ok(())
}

/// A new-site that failed. Someone outside this tool (no lock) may have made the site
/// folder between our check and new-site: bench refused before creating anything, so
/// nothing there is ours; the row is ended, its database was never made.
async fn not_made(run: &mut Run, t: &Tenant, row_id: u64, e: BenchError) -> Error {
    if !e
        .to_string()
        .contains(&format!("Site {} already exists", t.site))
    {
        return at(e);
    }
    run.made = None;
    let registry = run.cfg.ctx.registry.clone();
    let note = Some("the site existed");
    let _ = registry
        .finish(run.db(), row_id, Status::RolledBack, note)
        .await;
    Error::new(Code::SiteExists, format!("site {} already exists", t.site)).at("create-site")
}

/// The tenant's registry row, before anything is made: the registry refuses a second
/// live row for the site.
async fn register(
    run: &mut Run,
    t: &Tenant,
    bench_id: &str,
    db_name: &str,
    path: SitePath,
) -> Result<u64, Error> {
    let registry = run.cfg.ctx.registry.clone();
    let row = NewRow {
        bench_id,
        site: &t.site,
        subdomain: &t.subdomain,
        db_name,
        organization: Some(&t.organization_name),
        email: Some(&t.email),
        status: Status::Provisioning,
        path,
        step: "create-site",
        run_tag: run_tag(),
    };
    registry.insert(run.db(), &row).await.map_err(|e| match e {
        DbError::Duplicate { .. } => Error::new(
            Code::SiteExists,
            format!("site {} is registered by another run already", t.site),
        )
        .at("create-site"),
        e => at(e),
    })
}
