//! `list`: every site of the bench with its database and health, and what the registry
//! says of it: one catalog scan, one listing of `sites/`, one registry read, however
//! many sites there are. Registry rows of live sites whose folder is gone are listed too,
//! and with `--all` those of tenants that ended (dropped, rolled back, failed). With
//! `--all-benches`, the same for every bench of the inventory, each site tagged with it.

use std::time::Duration;

use tokio::time::Instant;

use crate::cli::ListArgs;
use crate::context::Context;
use crate::error::Error;
use crate::output::{ListReport, Output, SiteHealth};

/// `ended`: also list registry rows of tenants that ended (dropped, rolled back, failed).
pub async fn list(ctx: &Context, ended: bool) -> Result<ListReport, Error> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut dbs = ctx.connect().await?;
    let registry = ctx.registry.upgrade(dbs.control()).await?;
    let catalog = dbs.sites().scan_catalog().await?;
    let facts = ctx.bench.facts(deadline).await?;
    let dirs = ctx.bench.list_sites(deadline).await?;
    let rows = match &facts.bench_id {
        Some(id) if registry => ctx.registry.latest_rows(dbs.control(), id).await?,
        _ => vec![],
    };
    let mut sites: Vec<SiteHealth> = dirs
        .iter()
        .map(|dir| {
            let db_name = dir.config.as_ref().and_then(|c| c.db_name.clone());
            let user = dir
                .config
                .as_ref()
                .and_then(|c| c.db_user().map(String::from));
            let database = db_name
                .as_ref()
                .is_some_and(|d| catalog.databases.contains(d));
            let frappe_schema = db_name.as_ref().is_some_and(|d| catalog.frappe.contains(d));
            let db_user = user.as_ref().is_some_and(|u| catalog.has_user(u));
            let row = rows.iter().find(|r| r.site == dir.name);
            SiteHealth {
                site: dir.name.clone(),
                folder: true,
                config: dir.config.is_some(),
                healthy: dir.config.is_some() && database && frappe_schema && db_user,
                db_name,
                database,
                frappe_schema,
                db_user,
                status: row.map(|r| r.status),
                path: row.and_then(|r| r.path),
                email: row.and_then(|r| r.email.clone()),
                organization: row.and_then(|r| r.organization.clone()),
                bench: ctx.bench_name.clone(),
            }
        })
        .collect();
    for row in rows.iter().filter(|r| ended || r.status.is_live()) {
        if dirs.iter().any(|d| d.name == row.site) {
            continue;
        }
        sites.push(SiteHealth {
            site: row.site.clone(),
            folder: false,
            config: false,
            db_name: Some(row.db_name.clone()),
            database: catalog.databases.contains(&row.db_name),
            frappe_schema: catalog.frappe.contains(&row.db_name),
            db_user: catalog.has_user(&row.db_name),
            healthy: false,
            status: Some(row.status),
            path: row.path,
            email: row.email.clone(),
            organization: row.organization.clone(),
            bench: ctx.bench_name.clone(),
        });
    }
    sites.sort_by(|a, b| a.site.cmp(&b.site));
    Ok(ListReport {
        success: true,
        sites,
        warnings: vec![],
    })
}

/// `list [--json] [--all]`.
pub async fn run(args: ListArgs) -> Result<Output, Error> {
    let json = args.json;
    if args.all_benches {
        let benches = Context::inventory(&args.conn, true).await?;
        let mut all = ListReport {
            success: true,
            sites: vec![],
            warnings: vec![],
        };
        for (name, ctx) in benches {
            match list(&ctx, args.all).await {
                Ok(r) => all.sites.extend(r.sites),
                Err(e) => all.warnings.push(format!("bench {name} skipped: {e}")),
            }
        }
        return Ok(Output::List { report: all, json });
    }
    let ctx = Context::resolve(&args.conn).await?;
    let report = list(&ctx, args.all).await?;
    Ok(Output::List { report, json })
}
