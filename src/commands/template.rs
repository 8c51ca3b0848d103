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
use crate::context::{install_apps, Context};
use crate::error::Error;
use crate::lifecycle::apps::wanted_apps;
use crate::lifecycle::guard::Guard;
use crate::lifecycle::removal::{remove_site, Proof, Target};
use crate::lifecycle::template::check;
use crate::output::{round2, AppVersion, Output, StepTiming, TemplateMeta, TemplateReport};
use crate::outside::bench::run_tag;
use crate::outside::bench::{TEMPLATE_META, TOOL_DIR};
use crate::outside::mariadb::new_db_name;
use crate::outside::mariadb::registry::{NewRow, SitePath, Status};
use crate::progress::progress;
use crate::signup::{site_name, TOOL_SITE_PREFIX};
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
pub async fn build(ctx: &Context, install_apps: &[String], timeout: Duration) -> TemplateReport {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut report = TemplateReport::default();
    let mut db = match ctx.db.connect().await {
        Ok(db) => db,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    // One build at a time per bench (not per server: benches sharing MariaDB build
    // their own templates side by side).
    let locked = async {
        let facts = ctx.bench.facts(deadline).await.map_err(|e| e.to_string())?;
        let bench_id = ctx
            .bench
            .bench_id(true, deadline)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("could not create the bench id")?;
        let lock = format!("{TOOL_SITE_PREFIX}template.{bench_id}");
        ctx.registry
            .ensure(&mut db)
            .await
            .map_err(|e| e.to_string())?;
        match db.try_lock_site(&lock).await {
            Ok(true) => Ok((facts, bench_id)),
            Ok(false) => Err("another template build is running on this bench".to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
    .await;
    let (facts, bench_id) = match locked {
        Ok(f) => f,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let id = Secret::random(10).expose().to_ascii_lowercase();
    let site = site_name(
        &format!("{TOOL_SITE_PREFIX}template-{id}"),
        &ctx.site_domain,
    );
    let db_name = new_db_name();
    let mut common = Default::default();
    let mut site_started = false;
    // The reference site's own lock, as every site the tool makes has: its removal below
    // acts only while this run holds it.
    match db.try_lock_site(&site).await {
        Ok(true) => {}
        Ok(false) => {
            report.error = Some(format!("the name {site} is locked by another run"));
            return report;
        }
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    }
    // Registered like every site the tool makes: a build killed midway leaves a row that
    // `cleanup --orphans` resolves, by the reference site's own database.
    let subdomain = site.split('.').next().unwrap_or_default().to_string();
    let row = NewRow {
        bench_id: &bench_id,
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
    let row_id = match ctx.registry.insert(&mut db, &row).await {
        Ok(id) => id,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let outcome: Result<TemplateMeta, String> = async {
        common = facts.common.clone();
        let (wanted, missing) = wanted_apps(install_apps, &facts.apps);
        for app in &missing {
            progress(&format!("⚠ {app} is not in this bench's apps.txt; the template will not have it"));
        }
        let versions = ctx
            .bench
            .app_versions(&wanted, deadline)
            .await
            .map_err(|e| e.to_string())?;
        let apps = wanted
            .iter()
            .zip(versions)
            .map(|(app, v)| {
                v.map(|version| AppVersion {
                    app: app.clone(),
                    version,
                })
                .ok_or_else(|| format!("cannot read {app}'s __version__ in apps/{app}/{app}/__init__.py"))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let clock = Instant::now();
        progress(&format!("[1/4] Creating the reference site {site}..."));
        site_started = true;
        let admin = Secret::random(24);
        ctx.bench
            .new_site(&site, &db_name, &ctx.root(), &admin, &facts.common, None, deadline)
            .await
            .map_err(|e| e.to_string())?;
        for app in wanted.iter().skip(1) {
            progress(&format!("  installing {app}..."));
            ctx.bench
                .install_app(&site, app, deadline)
                .await
                .map_err(|e| e.to_string())?;
        }
        let policy = db
            .system_settings(&db_name)
            .await
            .map_err(|e| e.to_string())?
            .map(|v| policy_from_system_settings(&v));
        report.steps.push(timing("create-reference-site", clock));

        let clock = Instant::now();
        progress("[2/4] Removing password hashes and sessions...");
        let encrypted = db.scrub_for_template(&db_name).await.map_err(|e| e.to_string())?;
        if encrypted > 0 {
            return Err(format!(
                "the reference site holds {encrypted} encrypted value(s); restored sites could not read them under their own encryption keys"
            ));
        }
        report.steps.push(timing("scrub", clock));

        let clock = Instant::now();
        progress("[3/4] Dumping its database...");
        // backup writes relative to sites/ (bench's working directory); the rest of the
        // tool names files relative to the bench directory.
        let gz = format!("{}/build-{id}.sql.gz", TOOL_DIR.trim_start_matches("sites/"));
        ctx.bench
            .backup_db(&site, &gz, deadline)
            .await
            .map_err(|e| e.to_string())?;
        let sql = format!("{TOOL_DIR}/template-{id}.sql");
        ctx.bench
            .gunzip(&format!("sites/{gz}"), &sql, deadline)
            .await
            .map_err(|e| e.to_string())?;
        report.steps.push(timing("dump", clock));

        let meta = TemplateMeta {
            id: id.clone(),
            sql,
            apps,
            created_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            build_seconds: round2(started.elapsed().as_secs_f64()),
            password_policy: policy,
        };
        let previous = facts
            .template_json
            .as_deref()
            .and_then(|t| serde_json::from_str::<TemplateMeta>(t).ok());
        let text = serde_json::to_string_pretty(&meta).expect("template meta serialises");
        ctx.bench
            .write_private_file(TEMPLATE_META, &Secret::new(text), true, deadline)
            .await
            .map_err(|e| e.to_string())?;
        // Older dumps go, except the one just replaced: a sign-up that read the old
        // template.json a moment ago may still be about to restore it.
        let keep: Vec<String> = [Some(&meta), previous.as_ref()]
            .into_iter()
            .flatten()
            .map(|m| m.sql.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        for name in ctx.bench.list_files(TOOL_DIR, deadline).await.unwrap_or_default() {
            if name.starts_with("template-") && name.ends_with(".sql") && !keep.contains(&name) {
                let _ = ctx.bench.remove_file(&format!("{TOOL_DIR}/{name}"), deadline).await;
            }
        }
        Ok(meta)
    }
    .await;

    if site_started {
        let clock = Instant::now();
        progress(&format!("[4/4] Dropping the reference site {site}..."));
        let undo_deadline = Instant::now() + Duration::from_secs(120);
        let target = Target {
            site: &site,
            db_name: &db_name,
            proof: Proof::MadeByThisRun,
        };
        let guard = Guard::fixed(ctx);
        let mut removal = remove_site(ctx, &mut db, &common, &target, &guard, undo_deadline).await;
        removal.warn_into(&mut report.warnings);
        report.removed_by = removal.removed_by;
        let status = if removal.complete() {
            Status::Dropped
        } else {
            Status::Failed
        };
        let note = "the template build's reference site";
        if let Err(e) = ctx
            .registry
            .finish(&mut db, row_id, status, Some(note))
            .await
        {
            report
                .warnings
                .push(format!("the registry was not updated: {e}"));
        }
        report.cleanup = removal.steps;
        for leftover in [
            format!("{TOOL_DIR}/build-{id}.sql.gz"),
            format!("{TOOL_DIR}/build-{id}.sql"),
        ] {
            let _ = ctx.bench.remove_file(&leftover, undo_deadline).await;
        }
        report.steps.push(timing("drop-reference-site", clock));
    } else {
        let _ = ctx
            .registry
            .finish(
                &mut db,
                row_id,
                Status::RolledBack,
                Some("nothing was made"),
            )
            .await;
    }
    match outcome {
        Ok(meta) => {
            progress(&format!("✅ Template {} ready: {}", meta.id, meta.sql));
            report.success = true;
            report.usable = true;
            report.template = Some(meta);
        }
        Err(e) => {
            progress(&format!("✗ {e}"));
            report.error = Some(e);
        }
    }
    report.elapsed = round2(started.elapsed().as_secs_f64());
    report
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
    let report = build(&ctx, &apps, Duration::from_secs(args.timeout)).await;
    Ok(Output::Template(report))
}

/// `template status`.
pub async fn run_status(args: TemplateArgs) -> Result<Output, Error> {
    let ctx = Context::resolve(&args.conn).await?;
    let apps = install_apps(&args.apps.install_apps);
    let report = status(&ctx, &apps, Duration::from_secs(args.timeout)).await;
    Ok(Output::Template(report))
}
