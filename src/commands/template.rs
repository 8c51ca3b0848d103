//! The template: a dump of a freshly made site with the bench's apps, which
//! `new-site --source-sql` restores in about 2 s instead of the 15–40 s a fresh new-site
//! spends installing Frappe's schema. `template build` makes it through bench (new-site,
//! install-app, backup) and keeps it, uncompressed, under `sites/.frappe-tenant/`, with
//! `template.json` saying which apps and versions it holds. A provision restores it only
//! when those are exactly the bench's apps and versions now; otherwise it says why and
//! falls back to a fresh new-site.
//!
//! The dump holds no secret and no tenant data: it is a fresh site, and before the dump
//! the tool removes every password hash and session from it and refuses encrypted values.

use std::time::Duration;

use tokio::time::Instant;

use crate::basics::secret::Secret;
use crate::cli::TemplateArgs;
use crate::context::{install_apps, setup_defaults, Context};
use crate::error::{Code, Error};
use crate::lifecycle::apps::wanted_apps;
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_site, Proof, Target};
use crate::lifecycle::setup::{defaults_locale, set_up_ahead, Locale};
use crate::lifecycle::template::check;
use crate::output::{round2, AppVersion, Output, StepTiming, TemplateMeta, TemplateReport};
use crate::outside::bench::{run_tag, BenchFacts, CommonConfig, TEMPLATE_META, TOOL_DIR};
use crate::outside::frappe::Frappe;
use crate::outside::mariadb::registry::{NewRow, SitePath, Status};
use crate::outside::mariadb::{new_db_name, Conns, Db};
use crate::progress::progress;
use crate::signup::{site_name, SetupChoices, TOOL_SITE_PREFIX};
use frappe_password::policy_from_system_settings;

/// `template status`.
pub async fn status(ctx: &Context, install_apps: &[String], timeout: Duration) -> TemplateReport {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut report = TemplateReport {
        success: true,
        ..Default::default()
    };
    let result = async {
        let facts = ctx.bench.facts(deadline).await?;
        let (wanted, _) = wanted_apps(install_apps, &facts.apps);
        report.template = facts
            .template_json
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        check(&ctx.bench, &facts, &wanted, deadline).await
    }
    .await;
    match result {
        Ok(Ok(_)) => report.usable = true,
        Ok(Err(why)) => report.reason = Some(why),
        Err(e) => {
            report.success = false;
            report.error = Some(e.to_string());
        }
    }
    report.elapsed = round2(started.elapsed().as_secs_f64());
    report
}

/// `template build`: a reference site through bench, scrubbed, dumped, described, dropped.
pub async fn build(
    ctx: &Context,
    install_apps: &[String],
    timeout: Duration,
    defaults: &SetupChoices,
) -> TemplateReport {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut report = TemplateReport::default();
    let setup = async {
        let locale = defaults_locale(&ctx.bench, defaults, deadline).await?;
        let mut dbs = ctx.connect().await?;
        let (facts, bench_id) = lock_bench(ctx, dbs.control(), deadline).await?;
        let reference = register(ctx, dbs.control(), &bench_id, locale).await?;
        Ok::<_, Error>((dbs, facts, reference))
    }
    .await;
    let (mut dbs, facts, reference) = match setup {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let outcome = match app_versions(ctx, &facts, install_apps, deadline).await {
        Ok(apps) => {
            let made = make(
                ctx,
                dbs.sites(),
                &facts,
                &reference,
                apps,
                started,
                deadline,
                &mut report,
            )
            .await;
            drop_reference(ctx, &mut dbs, &facts.common, &reference, &mut report).await;
            made
        }
        Err(e) => {
            let note = Some("nothing was made");
            let _ = ctx
                .registry
                .finish(dbs.control(), reference.row_id, Status::RolledBack, note)
                .await;
            Err(e)
        }
    };
    match outcome {
        Ok(meta) => {
            progress(&format!("✅ Template {} ready: {}", meta.id, meta.sql));
            report.success = true;
            report.usable = true;
            report.template = Some(meta);
        }
        Err(e) => {
            progress(&format!("✗ {e}"));
            report.error = Some(e.to_string());
        }
    }
    report.elapsed = round2(started.elapsed().as_secs_f64());
    report
}

/// One build at a time per bench (not per server: benches sharing MariaDB build their own
/// templates side by side). Returns the bench's facts and id.
async fn lock_bench(
    ctx: &Context,
    db: &mut Db,
    deadline: Instant,
) -> Result<(BenchFacts, String), Error> {
    let facts = ctx.bench.facts(deadline).await?;
    let bench_id = ctx
        .bench
        .bench_id(true, deadline)
        .await?
        .ok_or_else(|| Error::new(Code::BenchFailed, "could not create the bench id"))?;
    ctx.registry.ensure(db).await?;
    let lock = format!("{TOOL_SITE_PREFIX}template.{bench_id}");
    if !db.try_lock_site(&lock).await? {
        return Err(Error::new(
            Code::SiteBusy,
            "another template build is running on this bench",
        ));
    }
    Ok((facts, bench_id))
}

/// The reference site to build: its names, drawn now.
struct Reference {
    id: String,
    site: String,
    db_name: String,
    /// Registered like every site the tool makes: a build killed midway leaves a row that
    /// `cleanup --orphans` resolves, by the reference site's own database.
    row_id: u64,
    /// The setup wizard's defaults it is set up with.
    locale: Locale,
}

/// Draws the reference site's names, takes its lock (its removal acts only while this
/// run holds it) and registers it.
async fn register(
    ctx: &Context,
    db: &mut Db,
    bench_id: &str,
    locale: Locale,
) -> Result<Reference, Error> {
    let id = Secret::random(10).expose().to_ascii_lowercase();
    let site = site_name(
        &format!("{TOOL_SITE_PREFIX}template-{id}"),
        &ctx.site_domain,
    );
    if !db.try_lock_site(&site).await? {
        return Err(Error::new(
            Code::SiteBusy,
            format!("the name {site} is locked by another run"),
        ));
    }
    let db_name = new_db_name();
    let subdomain = site.split('.').next().unwrap_or_default().to_string();
    let row = NewRow {
        bench_id,
        site: &site,
        subdomain: &subdomain,
        db_name: &db_name,
        organization: None,
        email: None,
        status: Status::Provisioning,
        path: SitePath::Fresh,
        step: "template-build",
        run_tag: run_tag(),
    };
    let row_id = ctx.registry.insert(db, &row).await?;
    Ok(Reference {
        id,
        site,
        db_name,
        row_id,
        locale,
    })
}

/// The apps the template holds, each at its version on the bench now.
async fn app_versions(
    ctx: &Context,
    facts: &BenchFacts,
    install_apps: &[String],
    deadline: Instant,
) -> Result<Vec<AppVersion>, Error> {
    let (wanted, missing) = wanted_apps(install_apps, &facts.apps);
    for app in &missing {
        progress(&format!(
            "⚠ {app} is not in this bench's apps.txt; the template will not have it"
        ));
    }
    let versions = ctx.bench.app_versions(&wanted, deadline).await?;
    wanted
        .iter()
        .zip(versions)
        .map(|(app, v)| {
            v.map(|version| AppVersion {
                app: app.clone(),
                version,
            })
            .ok_or_else(|| {
                Error::config(format!(
                    "cannot read {app}'s __version__ in apps/{app}/{app}/__init__.py"
                ))
            })
        })
        .collect()
}

/// Steps 1 to 3 and the description: the reference site made, scrubbed and dumped, and
/// `template.json` saying what the dump holds.
#[allow(clippy::too_many_arguments)]
async fn make(
    ctx: &Context,
    db: &mut Db,
    facts: &BenchFacts,
    r: &Reference,
    apps: Vec<AppVersion>,
    started: Instant,
    deadline: Instant,
    report: &mut TemplateReport,
) -> Result<TemplateMeta, Error> {
    let clock = Instant::now();
    progress(&format!("[1/4] Creating the reference site {}...", r.site));
    let admin = Secret::random(24);
    ctx.bench
        .new_site(
            &r.site,
            &r.db_name,
            &ctx.root(),
            &admin,
            &facts.common,
            None,
            deadline,
        )
        .await?;
    for app in apps.iter().skip(1) {
        progress(&format!("  installing {}...", app.app));
        ctx.bench.install_app(&r.site, &app.app, deadline).await?;
    }
    set_up_reference(ctx, db, r, &admin, &apps).await?;
    let policy = db
        .system_settings(&r.db_name)
        .await?
        .map(|v| policy_from_system_settings(&v));
    report.steps.push(timing("create-reference-site", clock));

    let clock = Instant::now();
    progress("[2/4] Removing password hashes and sessions...");
    let encrypted = db.scrub_for_template(&r.db_name).await?;
    if encrypted > 0 {
        return Err(Error::config(format!(
            "the reference site holds {encrypted} encrypted value(s); restored sites could not \
             read them under their own encryption keys"
        )));
    }
    report.steps.push(timing("scrub", clock));

    let clock = Instant::now();
    progress("[3/4] Dumping its database...");
    // backup writes relative to sites/ (bench's working directory); the rest of the tool
    // names files relative to the bench directory.
    let gz = format!(
        "{}/build-{}.sql.gz",
        TOOL_DIR.trim_start_matches("sites/"),
        r.id
    );
    ctx.bench.backup_db(&r.site, &gz, deadline).await?;
    let sql = format!("{TOOL_DIR}/template-{}.sql", r.id);
    ctx.bench
        .gunzip(&format!("sites/{gz}"), &sql, deadline)
        .await?;
    report.steps.push(timing("dump", clock));

    let meta = TemplateMeta {
        id: r.id.clone(),
        sql,
        apps,
        created_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        build_seconds: round2(started.elapsed().as_secs_f64()),
        password_policy: policy,
    };
    describe(ctx, facts, &meta, deadline).await?;
    Ok(meta)
}

/// The setup wizard, completed on the reference site with the defaults, so every site
/// restored from the template starts set up (a sign-up changes only what it asks
/// differently).
async fn set_up_reference(
    ctx: &Context,
    db: &mut Db,
    r: &Reference,
    admin: &Secret,
    apps: &[AppVersion],
) -> Result<(), Error> {
    let frappe = Frappe::new(&ctx.frappe_url, &r.site);
    let session = frappe.login("Administrator", admin).await.map_err(|e| {
        Error::new(
            Code::ApiError,
            format!("the reference site does not answer over HTTP: {e}"),
        )
    })?;
    let apps: Vec<String> = apps.iter().map(|a| a.app.clone()).collect();
    if set_up_ahead(db, &frappe, &session, &r.db_name, &r.locale, &apps).await? {
        progress("  ✓ setup wizard completed with the defaults");
    }
    Ok(())
}

/// Writes `template.json`, then removes older dumps but the one it replaced: a sign-up
/// that read the old template.json a moment ago may still be about to restore it.
async fn describe(
    ctx: &Context,
    facts: &BenchFacts,
    meta: &TemplateMeta,
    deadline: Instant,
) -> Result<(), Error> {
    let previous = facts
        .template_json
        .as_deref()
        .and_then(|t| serde_json::from_str::<TemplateMeta>(t).ok());
    let text = serde_json::to_string_pretty(meta).expect("template meta serialises");
    ctx.bench
        .write_private_file(TEMPLATE_META, &Secret::new(text), true, deadline)
        .await?;
    let keep: Vec<String> = [Some(meta), previous.as_ref()]
        .into_iter()
        .flatten()
        .map(|m| m.sql.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    for name in ctx
        .bench
        .list_files(TOOL_DIR, deadline)
        .await
        .unwrap_or_default()
    {
        if name.starts_with("template-") && name.ends_with(".sql") && !keep.contains(&name) {
            let _ = ctx
                .bench
                .remove_file(&format!("{TOOL_DIR}/{name}"), deadline)
                .await;
        }
    }
    Ok(())
}

/// Step 4, whatever happened before: the reference site removed, its row ended, and the
/// build's leftover files gone.
async fn drop_reference(
    ctx: &Context,
    dbs: &mut Conns,
    common: &CommonConfig,
    r: &Reference,
    report: &mut TemplateReport,
) {
    let clock = Instant::now();
    progress(&format!("[4/4] Dropping the reference site {}...", r.site));
    let deadline = Instant::now() + Duration::from_secs(120);
    let target = Target {
        site: &r.site,
        db_name: &r.db_name,
        proof: Proof::MadeByThisRun,
    };
    let mut removal = remove_site(ctx, dbs, common, &target, &Guard::fixed(ctx), deadline).await;
    removal.warn_into(&mut report.warnings);
    report.removed_by = removal.removed_by;
    let status = match removal.complete() {
        true => Status::Dropped,
        false => Status::Failed,
    };
    let note = Some("the template build's reference site");
    if let Err(e) = ctx
        .registry
        .finish(dbs.control(), r.row_id, status, note)
        .await
    {
        report
            .warnings
            .push(format!("the registry was not updated: {e}"));
    }
    report.cleanup = removal.steps;
    for leftover in [
        format!("{TOOL_DIR}/build-{}.sql.gz", r.id),
        format!("{TOOL_DIR}/build-{}.sql", r.id),
    ] {
        let _ = ctx.bench.remove_file(&leftover, deadline).await;
    }
    report.steps.push(timing("drop-reference-site", clock));
}

fn timing(step: &'static str, since: Instant) -> StepTiming {
    StepTiming {
        step,
        seconds: round2(since.elapsed().as_secs_f64()),
    }
}

/// `template build`.
pub async fn run_build(args: TemplateArgs) -> Result<Output, Error> {
    let ctx = Context::resolve(&args.conn).await?;
    let apps = install_apps(&args.apps.install_apps);
    let report = build(
        &ctx,
        &apps,
        Duration::from_secs(args.timeout),
        &setup_defaults(&args.setup),
    )
    .await;
    Ok(Output::Template(report))
}

/// `template status`.
pub async fn run_status(args: TemplateArgs) -> Result<Output, Error> {
    let ctx = Context::resolve(&args.conn).await?;
    let apps = install_apps(&args.apps.install_apps);
    let report = status(&ctx, &apps, Duration::from_secs(args.timeout)).await;
    Ok(Output::Template(report))
}
