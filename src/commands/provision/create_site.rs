//! Step 1, making the site: a standby claimed from the pool and renamed, or `bench
//! new-site`, restored from the template's dump when it fits, else fresh; with the site's
//! own Administrator password either way.

use tokio::time::Instant;

use super::site_password::SitePassword;
use super::steps::Ready;
use super::{bench_error, db_error, fail, Config, Made, State, StepError};
use crate::basics::secret::Secret;
use crate::context::Context;
use crate::error::Code;
use crate::lifecycle::claim::{claim, Claim};
use crate::lifecycle::removal::lost_lock;
use crate::lifecycle::template;
use crate::output::TemplateMeta;
use crate::outside::bench::run_tag;
use crate::outside::mariadb::new_db_name;
use crate::outside::mariadb::registry::{Claimant, NewRow, SitePath, Status};
use crate::outside::mariadb::DbError;
use crate::progress::progress;
use crate::signup::Tenant;
use frappe_password::{policy_from_system_settings, PasswordPolicy};

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
            take_standby(ctx, t, claim, &ready.policy, admin, state, deadline).await?
        }
        None => {
            let template = if let Some(checked) = state.template.take() {
                if checked.is_none() {
                    progress("  template not used: none fits on any bench placement could use");
                }
                checked
            } else if cfg.use_template {
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

/// Step 1 from the pool: the claimed standby's folder takes the tenant's name, and the
/// site gets its own Administrator password. Returns that password.
async fn take_standby(
    ctx: &Context,
    t: &Tenant,
    claim: Claim,
    policy: &PasswordPolicy,
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
    // A standby's System Settings could have been changed since it was made: its own
    // policy decides, before its folder moves (a refusal returns it to the pool).
    let own = db
        .system_settings(&state.db_name)
        .await
        .map_err(|e| db_error("create-site", e))?
        .map(|v| policy_from_system_settings(&v))
        .unwrap_or_default();
    if own != *policy {
        if let Err(e) = t.check_password_strength(&own) {
            return Err(fail(
                Code::InvalidInput,
                "create-site",
                format!("invalid input: {e} (standby {})", claim.standby),
            ));
        }
    }
    // The rename makes the standby the tenant: only under both locks, still held.
    for site in [&claim.standby, &t.site] {
        if !db.holds_site_lock(site).await {
            return Err(fail(Code::DbUnavailable, "create-site", lost_lock(site)));
        }
    }
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
    // The site's identity: a database name drawn for this attempt alone, registered
    // before anything is made (the registry refuses a second live row for the site).
    state.db_name = new_db_name();
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
                    db_name: &state.db_name,
                    organization: Some(&t.organization_name),
                    email: Some(&t.email),
                    status: Status::Provisioning,
                    path,
                    step: "create-site",
                    run_tag: run_tag(),
                },
            )
            .await
            .map_err(|e| match e {
                DbError::Duplicate { .. } => fail(
                    Code::SiteExists,
                    "create-site",
                    format!("site {} is registered by another run already", t.site),
                ),
                e => db_error("create-site", e),
            })?,
    );
    state.made = Made::NewSite;
    if let Err(e) = ctx
        .bench
        .new_site(
            &t.site,
            &state.db_name,
            &ctx.root(),
            &admin_password,
            &common,
            template.map(|m| m.sql.as_str()),
            deadline,
        )
        .await
    {
        // Someone outside this tool (no lock) made the site folder between our check and
        // new-site. Bench refused before creating anything: nothing there is ours.
        if e.to_string()
            .contains(&format!("Site {} already exists", t.site))
        {
            state.made = Made::Nothing;
            return Err(fail(
                Code::SiteExists,
                "create-site",
                format!("site {} already exists", t.site),
            ));
        }
        return Err(bench_error("create-site", e));
    }
    if template.is_some() {
        // The dump has no Administrator password (template build removes it), and
        // new-site sets none for a site whose dump already has frappe installed.
        let db = state.db.as_mut().expect("connected in preflight");
        return admin.write(db, &state.db_name).await;
    }
    Ok(admin_password)
}
