//! `list`: every site of the bench with its database and health, and what the registry
//! says of it: one catalog scan, one listing of `sites/`, one registry read, however
//! many sites there are. Registry rows of live sites whose folder is gone are listed too,
//! and with `--all` those of tenants that ended (dropped, rolled back, failed). With
//! `--all-benches`, the same for every bench of the inventory, each site tagged with it.

use std::time::Duration;

use tokio::time::Instant;

use crate::outside::mariadb::registry::{SitePath, Status};
use crate::shared::cli::ListArgs;
use crate::shared::context::Context;
use crate::shared::report::{show, untouched, Code};
use crate::shared::report::{table, yes_no, Tabular};
use serde::Serialize;

/// `ended`: also list registry rows of tenants that ended (dropped, rolled back, failed).
pub async fn list(ctx: &Context, ended: bool) -> Result<ListReport, String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut db = ctx.db.connect().await.map_err(|e| e.to_string())?;
    ctx.registry
        .upgrade(&mut db)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = db.scan_catalog().await.map_err(|e| e.to_string())?;
    let facts = ctx.bench.facts(deadline).await.map_err(|e| e.to_string())?;
    let dirs = ctx
        .bench
        .list_sites(deadline)
        .await
        .map_err(|e| e.to_string())?;
    let rows = match &facts.bench_id {
        Some(id) if catalog.databases.contains(ctx.registry.name()) => ctx
            .registry
            .latest_rows(&mut db, id)
            .await
            .map_err(|e| e.to_string())?,
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
pub async fn run(args: ListArgs) -> u8 {
    if args.all_benches {
        let benches = match Context::inventory(&args.conn, true).await {
            Ok(b) => b,
            Err(code) => return code,
        };
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
        return show(&all, args.json);
    }
    let ctx = match Context::resolve(&args.conn, "").await {
        Ok(c) => c,
        Err(code) => return code,
    };
    match list(&ctx, args.all).await {
        Ok(report) => show(&report, args.json),
        Err(e) => untouched(Code::DbUnavailable, e, ""),
    }
}

/// One site of the bench as `list` shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteHealth {
    pub site: String,
    /// Whether the site folder exists (a registry row can outlive it).
    pub folder: bool,
    /// Whether the folder has a readable site_config.json.
    pub config: bool,
    pub db_name: Option<String>,
    pub database: bool,
    pub frappe_schema: bool,
    pub db_user: bool,
    /// Folder, config, database with Frappe's tables and DB user all present.
    pub healthy: bool,
    pub status: Option<Status>,
    pub path: Option<SitePath>,
    pub email: Option<String>,
    pub organization: Option<String>,
    /// The inventory bench it is on (`--bench NAME`, `--all-benches`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListReport {
    pub success: bool,
    pub sites: Vec<SiteHealth>,
    /// With --all-benches: benches that could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
}

impl Tabular for ListReport {
    fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .sites
            .iter()
            .map(|s| {
                vec![
                    s.site.clone(),
                    s.db_name.clone().unwrap_or("-".into()),
                    yes_no(s.database),
                    yes_no(s.frappe_schema),
                    yes_no(s.db_user),
                    yes_no(s.healthy),
                    s.status
                        .map(|x| x.as_str().to_string())
                        .unwrap_or("-".into()),
                    s.email.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &[
                "SITE", "DATABASE", "DB", "SCHEMA", "DB USER", "HEALTHY", "REGISTRY", "EMAIL",
            ],
            &rows,
        )
    }
}
